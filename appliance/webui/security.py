"""Middlewares: JSON errors, console sessions, CSRF, CORS for visitors, security headers."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from appliance.core.accounts import AccountError, Session
from appliance.core.errors import ChatError
from appliance.core.ratelimit import RateLimited
from appliance.webui.inputs import read_form
from appliance.webui.keys import BOX, SESSION

_LOGGER = logging.getLogger(__name__)

SESSION_COOKIE = "callbox_session"
CSRF_COOKIE = "callbox_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# s a browser may keep a preflight: Chromium keeps at most 2 hours, Firefox 24. What a
# page view sends needs none (simple requests); later calls (a chat) pay one per URL
# per this time, not one each.
_CORS_MAX_AGE = "7200"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def is_visitor_path(path: str) -> bool:
    """Tell whether a path belongs to the public, cross-origin visitor surface."""
    return path == "/widget.js" or path.startswith("/api/visitor/")


def is_portal_path(path: str) -> bool:
    """Tell whether a path is the customer portal's (its pages and its stylesheet):
    reached through the relay too, but same-origin, with the portal's own session and
    CSRF token (portal_views.py), never the console's."""
    if path == "/portal" or path.startswith("/portal/"):
        return True
    parts = path.split("/")  # /static/<build>/portal.css
    return len(parts) == 4 and parts[1] == "static" and parts[3] == "portal.css"


def _is_public(path: str) -> bool:
    return (
        is_visitor_path(path)
        or is_portal_path(path)
        or path.startswith("/static/")
        or path == "/api/openapi.json"
    )


def json_error(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """Return the API's error body with a status."""
    body = {"error": {"code": code, "message": message, **extra}}
    return web.json_response(body, status=status, headers=headers)


def rate_limited(err: RateLimited) -> web.Response:
    """Return 429 with Retry-After."""
    return json_error(
        429,
        "rate_limited",
        "too many requests",
        headers={"Retry-After": str(err.retry_after)},
        retry_after=err.retry_after,
    )


_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
}


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn rule violations into clear API errors; keep HTML pages' own errors."""
    try:
        return await handler(request)
    except ChatError as err:
        retry = getattr(err, "retry_after", None)
        if retry is None:
            return json_error(err.status, err.code, err.message)
        return json_error(
            err.status,
            err.code,
            err.message,
            headers={"Retry-After": str(retry)},
            retry_after=retry,
        )
    except AccountError as err:
        return json_error(422, "invalid", str(err))
    except RateLimited as err:
        return rate_limited(err)
    except web.HTTPException as err:
        if (
            request.path.startswith("/api/")
            and err.status >= 400
            and err.content_type != "application/json"
        ):
            code = _STATUS_CODES.get(err.status, "error")
            return json_error(err.status, code, err.reason, headers=_kept_headers(err))
        raise


def _kept_headers(err: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in err.headers.items() if k in ("Allow", "Retry-After")}


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the console session (or None) to every non-public request."""
    session: Session | None = None
    if not _is_public(request.path):
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            session = await request.app[BOX].accounts.get_session(token)
    request[SESSION] = session
    return await handler(request)


async def _supplied_csrf(request: web.Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # Parsed only once we know whose token to expect; a malformed form is then a
        # clear 400 (read_form), never a 500 before the request was even identified.
        return (await read_form(request)).get(CSRF_FIELD, "")
    return ""


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse state-changing console requests without the session's CSRF token."""
    if request.method in _SAFE_METHODS or is_visitor_path(request.path):
        return await handler(request)
    if is_portal_path(request.path):
        return await handler(request)  # the portal checks its own (portal_views.py)
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return json_error(403, "csrf", "cross-origin request refused")
    session: Session | None = request.get(SESSION)
    # A route that needs a session never gets here without one (policy.authorize runs
    # first and answers 401): only the anonymous forms use the double-submit cookie.
    expected = session.csrf_token if session else request.cookies.get(CSRF_COOKIE, "")
    if not expected:
        return json_error(403, "csrf", "missing or wrong CSRF token")
    supplied = await _supplied_csrf(request)
    if not hmac.compare_digest(expected.encode(), supplied.encode()):
        return json_error(403, "csrf", "missing or wrong CSRF token")
    return await handler(request)


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer visitor preflights, then add CORS or console security headers."""
    visitor = is_visitor_path(request.path)
    if visitor and request.method == "OPTIONS":
        response: web.StreamResponse = web.Response(status=204)
    else:
        response = await handler(request)
    if response.prepared:  # WebSockets and streamed files set their own
        return response
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if visitor:
        # Bearer tokens, never cookies: any site may embed the widget.
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = _CORS_MAX_AGE
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        # The widget leaves the browser's cache mode at its default (a fetch with
        # cache "no-store" also skipped Chromium's preflight cache): the answers say it.
        response.headers.setdefault("Cache-Control", "no-store")
    else:
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", _CONSOLE_CSP)
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def csrf_cookie_token(request: web.Request, response: web.StreamResponse) -> str:
    """Return the anonymous double-submit CSRF token, setting its cookie if new."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 64:
        token = secrets.token_urlsafe(24)
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=request.secure,
            path="/",
        )
    return token


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """Set the console session cookie: HttpOnly, SameSite=Lax, Secure under TLS."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=request.secure,
        path="/",
    )


def current_session(request: web.Request, *, roles: tuple[str, ...] = ()) -> Session:
    """Return the request's session or raise 401/403 (pages redirect to the login)."""
    session: Session | None = request.get(SESSION)
    if session is None:
        if request.path.startswith("/api/"):
            raise web.HTTPUnauthorized(reason="log in first")
        raise web.HTTPFound(f"/login?next={request.rel_url.path}")
    if roles and session.user.role not in roles:
        raise web.HTTPForbidden(reason="your role may not do this")
    return session
