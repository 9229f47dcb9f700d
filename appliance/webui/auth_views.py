"""Log in, log out, first-boot setup and the page language."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web
from yarl import URL

from appliance.core import audit
from appliance.core.accounts import AccountError
from appliance.core.ratelimit import RateLimited
from appliance.webui import login_steps, setup_views
from appliance.webui.contract import Contract, Handler, Operation
from appliance.webui.i18n import LANG_COOKIE, LANGS
from appliance.webui.inputs import read_form
from appliance.webui.keys import BOX, SESSION, SETUP_TOKEN
from appliance.webui.pages import page_text, render
from appliance.webui.security import SESSION_COOKIE, set_session_cookie
from appliance.webui.wire import account

_LOGGER = logging.getLogger(__name__)


_NEXT_MAX = 2048  # characters of a redirect target
_HOME = "/console"


def safe_next(value: object) -> str:
    """Return `value` if it is a path on this box, else the console's home.

    A browser drops tabs and newlines inside a URL and reads a backslash as a slash,
    so "/", a tab, "/evil.example" and "/", a backslash, "evil.example" both mean
    "//evil.example", another origin. Whatever contains them, or parses as anything
    but a path that starts with exactly one slash, is refused rather than cleaned.
    """
    if not isinstance(value, str) or not value or len(value) > _NEXT_MAX:
        return _HOME
    if any(ch <= " " or ch in "\\\x7f" for ch in value):
        return _HOME
    try:
        url = URL(value)
    except ValueError:
        return _HOME
    path = url.raw_path
    if url.scheme or url.raw_authority or not path.startswith("/") or path.startswith("//"):
        return _HOME
    if not value.startswith("/") or value.startswith("//"):
        return _HOME
    return value


async def index(request: web.Request) -> web.Response:
    """Send people to the console, the login or the first-boot setup."""
    if request.get(SESSION) is not None:
        raise web.HTTPFound("/console")
    raise web.HTTPFound("/login")


async def login_page(request: web.Request) -> web.Response:
    """Show the login form."""
    if request.get(SESSION) is not None:
        raise web.HTTPFound(safe_next(request.query.get("next")))
    has_admin = await request.app[BOX].accounts.has_admin()
    return render(request, "login.html", {"no_admin": not has_admin})


async def login(request: web.Request) -> web.Response:
    """Check the password and start a session."""
    form = await read_form(request)
    username = str(form.get("username", ""))[:128]
    password = str(form.get("password", ""))[:1024]
    t = page_text(request)
    try:
        step = await request.app[BOX].login.password(username, password, request.remote or "")
    except RateLimited as err:
        response = render(
            request,
            "login.html",
            {"error": t("login_throttled", seconds=err.retry_after), "username": username},
            status=429,
        )
        response.headers["Retry-After"] = str(err.retry_after)
        return response
    if step is None:
        _LOGGER.info("failed console login from %s", request.remote)
        return render(
            request, "login.html", {"error": t("login_failed"), "username": username}, status=401
        )
    # A code, a new password or enrolment may come before the session (login_steps).
    return await login_steps.answer(request, step, form.get("next"))


async def logout(request: web.Request) -> web.Response:
    """End the session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await request.app[BOX].accounts.end_session(token)
    response = web.HTTPFound("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def _setup_token_ok(request: web.Request, supplied: object) -> bool:
    expected = request.app[SETUP_TOKEN][0]
    return (
        expected is not None
        and isinstance(supplied, str)
        and hmac.compare_digest(expected.encode(), supplied.encode())
    )


async def setup_page(request: web.Request) -> web.Response:
    """Show the first-boot steps: the administrator through the printed one-time link;
    then, for an administrator, the box's identity, the relay and the certificate."""
    token = request.query.get("token", "")
    session = request.get(SESSION)
    if await request.app[BOX].accounts.has_admin():
        if session is not None and session.user.role == "admin":
            context = await setup_views.steps_context(request)
            return render(request, "setup.html", {**context, "admin_done": True})
    elif _setup_token_ok(request, token):
        return render(request, "setup.html", {"token": token})
    t = page_text(request)
    return render(request, "setup.html", {"invalid": t("setup_invalid")}, status=404)


async def setup(request: web.Request) -> web.Response:
    """Create the first administrator and log them in."""
    form = await read_form(request)
    token = form.get("token")
    accounts = request.app[BOX].accounts
    t = page_text(request)
    if not _setup_token_ok(request, token) or await accounts.has_admin():
        return render(request, "setup.html", {"invalid": t("setup_invalid")}, status=404)
    password = str(form.get("password", ""))
    context = {
        "token": token,
        "username": str(form.get("username", ""))[:64],
        "display_name": str(form.get("display_name", ""))[:64],
    }
    if password != str(form.get("password2", "")):
        return render(
            request, "setup.html", {**context, "error": t("password_mismatch")}, status=422
        )
    try:
        user = await accounts.create_user(
            str(form.get("username", "")),
            password,
            "admin",
            display_name=str(form.get("display_name", "")) or None,
            # Nobody is logged in yet: the holder of the one-time link, from this address.
            by=audit.Actor(None, "", request.remote or ""),
        )
    except AccountError as err:
        return render(request, "setup.html", {**context, "error": str(err)}, status=422)
    request.app[SETUP_TOKEN][0] = None
    _LOGGER.info("first administrator %s created through the setup link", user.username)
    session_token, _ = await accounts.create_session(user)
    response = web.HTTPFound("/setup")  # on to the next steps
    set_session_cookie(request, response, session_token)
    raise response


async def set_lang(request: web.Request) -> web.Response:
    """Remember the page language in a cookie and go back."""
    form = await read_form(request)
    lang = form.get("lang")
    response = web.HTTPFound(safe_next(form.get("next")))
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, str(lang), samesite="Lax", path="/", max_age=31536000)
    raise response


_FORM = ("application/x-www-form-urlencoded",)
# A form answers with a redirect, or with its page again saying what went wrong.
_PAGE_AGAIN = {401: "text/html", 422: "text/html", 429: "text/html"}
# The login may answer with its next step's page (a code, a new password, enrolment).
_LOGIN_PAGES = {200: "text/html", **_PAGE_AGAIN}


def _form(
    path: str, handler: Handler, summary: str, form: type, pages: dict[int, Any] = _PAGE_AGAIN
) -> Operation:
    return Operation(
        "POST",
        path,
        handler,
        summary,
        "pages",
        status=302,
        body=form,
        upload=_FORM,
        also=pages,
        errors=(403,),
    )


CONTRACT = Contract(
    [
        Operation("GET", "/", index, "Redirect to the console or the login", "pages", status=302),
        Operation(
            "GET",
            "/login",
            login_page,
            "Login form",
            "pages",
            media="text/html",
            query=account.LoginQuery,
        ),
        _form("/login", login, "Log in", account.LoginForm, _LOGIN_PAGES),
        _form("/logout", logout, "Log out", account.LogoutForm),
        Operation(
            "GET",
            "/setup",
            setup_page,
            "First-boot steps (one-time link; then for an administrator)",
            "pages",
            media="text/html",
            query=account.SetupQuery,
            also={404: "text/html"},
        ),
        _form("/setup", setup, "Create the first administrator", account.SetupForm),
        _form("/lang", set_lang, "Choose the page language", account.LangForm),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the account routes."""
    CONTRACT.install(app)
