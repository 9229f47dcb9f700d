"""The login's steps after the password (core/login.py): a code, a new password,
enrolment and the recovery codes; each a server-rendered form, no script needed."""

from __future__ import annotations

import logging
from typing import Any

import segno
from aiohttp import web

from appliance.core.accounts import AccountError
from appliance.core.errors import ChatError
from appliance.core.login import LoginRefused, Step
from appliance.core.ratelimit import RateLimited
from appliance.core.two_factor import Enrolment
from appliance.webui.contract import Contract, Handler, Operation
from appliance.webui.inputs import read_form
from appliance.webui.keys import BOX
from appliance.webui.pages import page_text, render
from appliance.webui.security import set_session_cookie
from appliance.webui.wire import users as wire

_LOGGER = logging.getLogger(__name__)
_QR_SCALE = 5  # px per QR module: about 200 px for an otpauth address
_TICKET_MAX = 64  # characters of a ticket looked at
_CODE_MAX = 64  # characters of a typed code looked at


def qr_data_uri(text: str) -> str:
    """Return a QR code of `text` as an SVG data: URL (the page's CSP allows data: images)."""
    return str(segno.make(text, error="m").svg_data_uri(scale=_QR_SCALE))


def enrolment_out(enrolment: Enrolment) -> wire.Enrolment:
    """Return what a user scans or types to enrol, with the QR code."""
    return wire.Enrolment(enrolment.secret, enrolment.uri, qr_data_uri(enrolment.uri))


def grouped(secret: str) -> str:
    """Return a secret in groups of four, as it is easier to type."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


async def answer(request: web.Request, step: Step, next_path: object) -> web.Response:
    """Start the session when the login is done, else show the next step's page."""
    from appliance.webui.auth_views import safe_next  # the login module imports this one

    if step.stage == "done":
        assert step.user is not None
        token, _ = await request.app[BOX].accounts.create_session(step.user)
        response = web.HTTPFound(safe_next(next_path))
        set_session_cookie(request, response, token)
        raise response
    return show(request, step, next_path)


def show(
    request: web.Request, step: Step, next_path: object, error: str = "", status: int = 200
) -> web.Response:
    """Render a step's page."""
    context: dict[str, Any] = {
        "stage": step.stage,
        "ticket": step.ticket,
        "next": next_path if isinstance(next_path, str) else "",
        "error": error,
        "codes": step.codes,
    }
    if step.enrolment is not None:
        context["secret"] = grouped(step.enrolment.secret)
        context["qr"] = qr_data_uri(step.enrolment.uri)
    return render(request, "login_step.html", context, status=status)


def _start_over(request: web.Request, message_key: str, status: int = 401) -> web.Response:
    t = page_text(request)
    return render(request, "login.html", {"error": t(message_key)}, status=status)


def _throttled(
    request: web.Request, step: Step, next_path: object, err: RateLimited
) -> web.Response:
    t = page_text(request)
    response = show(request, step, next_path, t("login_throttled", seconds=err.retry_after), 429)
    response.headers["Retry-After"] = str(err.retry_after)
    return response


async def _fields(request: web.Request) -> tuple[dict[str, str], str]:
    form = await read_form(request)
    return {k: str(v) for k, v in form.items()}, str(form.get("ticket", ""))[:_TICKET_MAX]


async def code(request: web.Request) -> web.Response:
    """Check the code after the password."""
    form, ticket = await _fields(request)
    flow, next_path = request.app[BOX].login, form.get("next")
    try:
        step = await flow.code(ticket, form.get("code", "")[:_CODE_MAX], request.remote or "")
    except RateLimited as err:
        return _throttled(request, Step("code", ticket), next_path, err)
    except LoginRefused as err:
        _LOGGER.info("failed console login (code step) from %s", request.remote)
        if not err.again:
            return _start_over(request, "login_failed_again")
        t = page_text(request)
        return show(request, Step("code", ticket), next_path, t("login_code_failed"), 401)
    return await answer(request, step, next_path)


async def new_password(request: web.Request) -> web.Response:
    """Replace the temporary password an admin gave."""
    form, ticket = await _fields(request)
    flow, next_path = request.app[BOX].login, form.get("next")
    try:
        step = await flow.new_password(
            ticket, form.get("password", "")[:1024], form.get("password2", "")[:1024]
        )
    except LoginRefused:
        return _start_over(request, "login_expired")
    except AccountError as err:
        return show(request, Step("password", ticket), next_path, str(err), 422)
    return await answer(request, step, next_path)


async def enrol(request: web.Request) -> web.Response:
    """Confirm enrolment with a first code; the recovery codes come next."""
    form, ticket = await _fields(request)
    flow, next_path = request.app[BOX].login, form.get("next")
    if flow.stage(ticket) == "codes":  # sent again (a reload): the codes were shown once
        return show(request, Step("codes", ticket), next_path)
    try:
        step = await flow.confirm(ticket, form.get("code", "")[:_CODE_MAX], request.remote or "")
    except LoginRefused:
        return _start_over(request, "login_expired")
    except RateLimited as err:
        return _throttled(request, await flow.show(ticket), next_path, err)
    except ChatError:  # a wrong code, or enrolment started again elsewhere
        t = page_text(request)
        again = await flow.show(ticket)
        return show(request, again, next_path, t("login_code_wrong"), 422)
    return await answer(request, step, next_path)


async def finish(request: web.Request) -> web.Response:
    """Leave the recovery codes' page."""
    form, ticket = await _fields(request)
    try:
        step = await request.app[BOX].login.finish(ticket)
    except LoginRefused:
        return _start_over(request, "login_expired")
    return await answer(request, step, form.get("next"))


_FORM = ("application/x-www-form-urlencoded",)
# A step answers with a redirect (done), its page (the next step, or itself again
# saying what went wrong), or the login form when the ticket is gone.
_PAGES = {200: "text/html", 401: "text/html", 422: "text/html", 429: "text/html"}


def _step(path: str, handler: Handler, summary: str, form: type) -> Operation:
    return Operation(
        "POST",
        path,
        handler,
        summary,
        "pages",
        status=302,
        body=form,
        upload=_FORM,
        also=_PAGES,
        errors=(403,),
    )


CONTRACT = Contract(
    [
        _step("/login/code", code, "Log in: the code after the password", wire.CodeForm),
        _step(
            "/login/password",
            new_password,
            "Log in: replace a temporary password",
            wire.NewPasswordForm,
        ),
        _step("/login/enrol", enrol, "Log in: confirm two-factor enrolment", wire.CodeForm),
        _step("/login/finish", finish, "Log in: after the recovery codes", wire.TicketForm),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the login steps' routes."""
    CONTRACT.install(app)
