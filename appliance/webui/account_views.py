"""A console user's own settings: two-factor login and their password.

The user comes from the session, never from the request. Every code and the current
password typed here count against the same throttle as the login (core/throttle.py):
a stolen session cookie must not let anyone guess their way past the second factor.
"""

from __future__ import annotations

from aiohttp import web

from appliance.core.accounts import Session
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.keys import BOX
from appliance.webui.login_steps import enrolment_out
from appliance.webui.pages import render
from appliance.webui.security import SESSION_COOKIE, current_session
from appliance.webui.wire import users as wire

_TAG = "account"


async def account_page(request: web.Request) -> web.Response:
    """Show the user's two-factor login and password settings (account.js drives them)."""
    return render(request, "account.html")


async def _status(request: web.Request, session: Session) -> wire.TwoFactorStatus:
    box = request.app[BOX]
    user = session.user
    return wire.TwoFactorStatus(
        on=await box.two_factor.is_on(user.id),
        required=user.role in await box.two_factor.required_roles(),
        recovery_codes_left=await box.two_factor.recovery_left(user.id),
    )


async def get_two_factor(request: web.Request) -> web.Response:
    """Return whether the user logs in with a code, and how many recovery codes are left."""
    return reply(await _status(request, current_session(request)))


async def start_two_factor(request: web.Request) -> web.Response:
    """Make a new secret for the user's authenticator app (on only once confirmed)."""
    session = current_session(request)
    enrolment = await request.app[BOX].two_factor.start(session.user)
    return reply(enrolment_out(enrolment))


async def _counted(request: web.Request, session: Session) -> None:
    """Count a typed code or password like a login attempt (RateLimited: 429)."""
    await request.app[BOX].login.throttle.attempt(session.user.username, request.remote or "")


def _worked(request: web.Request, session: Session) -> None:
    request.app[BOX].login.throttle.succeeded(session.user.username, request.remote or "")


async def confirm_two_factor(request: web.Request) -> web.Response:
    """Switch two-factor login on with a first code; answer the recovery codes, once."""
    session = current_session(request)
    body = await read_body(request, wire.CodeInput)
    await _counted(request, session)
    codes = await request.app[BOX].two_factor.confirm(session.user.id, body.code)
    _worked(request, session)
    return reply(wire.RecoveryCodes(codes))


async def new_recovery_codes(request: web.Request) -> web.Response:
    """Replace the recovery codes, after a code from the authenticator."""
    session = current_session(request)
    body = await read_body(request, wire.CodeInput)
    await _counted(request, session)
    codes = await request.app[BOX].two_factor.new_recovery_codes(session.user.id, body.code)
    _worked(request, session)
    return reply(wire.RecoveryCodes(codes))


async def turn_off_two_factor(request: web.Request) -> web.Response:
    """Switch the user's two-factor login off, after a code (unless their role needs it)."""
    session = current_session(request)
    body = await read_body(request, wire.CodeInput)
    await _counted(request, session)
    await request.app[BOX].two_factor.turn_off(session.user, body.code)
    _worked(request, session)
    return reply(await _status(request, session))


async def change_password(request: web.Request) -> web.Response:
    """Change the user's own password; their other sessions end."""
    session = current_session(request)
    body = await read_body(request, wire.PasswordChange)
    await _counted(request, session)
    ended = await request.app[BOX].accounts.change_own_password(
        session.user.id,
        body.current,
        body.new,
        keep_token=request.cookies.get(SESSION_COOKIE, ""),
    )
    _worked(request, session)
    return reply(wire.PasswordChanged(ended))


_MINE = "The signed-in user's own account."
_THROTTLED = (
    " The code counts as a login attempt: 429 with Retry-After after too many from one "
    "address, and a growing delay (at most a few seconds) after failures under the name."
)

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/console/account",
            account_page,
            "The user's own settings: two-factor login and password",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            "/api/console/account/two-factor",
            get_two_factor,
            "Whether the user logs in with a code",
            _TAG,
            wire.TwoFactorStatus,
            errors=(401,),
            description=f"{_MINE} `required`: their role must use it (an admin's choice).",
        ),
        Operation(
            "POST",
            "/api/console/account/two-factor/setup",
            start_two_factor,
            "Start enrolment: a new secret and its QR code",
            _TAG,
            wire.Enrolment,
            errors=(401,),
            description=f"{_MINE} Nothing changes until the secret is confirmed with a "
            "code; a user who already uses two-factor login keeps the old secret until "
            "then (a new phone).",
        ),
        Operation(
            "POST",
            "/api/console/account/two-factor/confirm",
            confirm_two_factor,
            "Switch two-factor login on with a first code",
            _TAG,
            wire.RecoveryCodes,
            body=wire.CodeInput,
            errors=(401, 409, 413, 422, 429),
            description=f"{_MINE} Answers ten recovery codes, this once (only their "
            "hashes are kept). 422 `wrong_code`; 409 `not_enrolling` when no set-up was "
            f"started or another one replaced it.{_THROTTLED}",
        ),
        Operation(
            "POST",
            "/api/console/account/two-factor/recovery-codes",
            new_recovery_codes,
            "Replace the recovery codes",
            _TAG,
            wire.RecoveryCodes,
            body=wire.CodeInput,
            errors=(401, 409, 413, 422, 429),
            description=f"{_MINE} After a code from the authenticator app; the old "
            f"codes stop working.{_THROTTLED}",
        ),
        Operation(
            "POST",
            "/api/console/account/two-factor/off",
            turn_off_two_factor,
            "Switch two-factor login off",
            _TAG,
            wire.TwoFactorStatus,
            body=wire.CodeInput,
            errors=(401, 409, 413, 422, 429),
            description=f"{_MINE} After a code (or a recovery code). 409 "
            f"`two_factor_required` when the user's role must use it.{_THROTTLED}",
        ),
        Operation(
            "PUT",
            "/api/console/account/password",
            change_password,
            "Change the user's own password",
            _TAG,
            wire.PasswordChanged,
            body=wire.PasswordChange,
            errors=(401, 413, 422, 429),
            description=f"{_MINE} 422 `wrong_password` when `current` is wrong; the new "
            "one needs 8-1024 characters. The user's other sessions end; this one stays."
            f"{_THROTTLED}",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the account routes."""
    CONTRACT.install(app)
