"""Users and roles on the admin API: list, add, change role, reset the password,
disable, enable, end sessions, reset two-factor login, and the roles that must log in
with a code. Admins only, from the LAN only (policy.py: everything under /api/admin/).
The rules and their guards are core/user_admin.py's.
"""

from __future__ import annotations

from aiohttp import web

from appliance.core.errors import NotFound
from appliance.webui.audit_views import admin_actor
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.keys import BOX
from appliance.webui.team_views import int_path
from appliance.webui.wire import users as wire
from appliance.webui.wire.chat import Id

_TAG = "admin"
_ADMINS = "Admins only (else 403), from the LAN only."
_GUARDS = (
    " 409 `last_admin` when it would leave no enabled admin; 409 `own_account` when an "
    "admin does it to themselves (another admin, or `appliance user` on the box, must)."
)


async def _one(request: web.Request, user_id: int) -> wire.AdminUser:
    for listing in await request.app[BOX].user_admin.listing():
        if listing.user.id == user_id:
            return wire.admin_user_out(listing)
    raise NotFound("no such user")


async def list_users(request: web.Request) -> web.Response:
    """Return every user, and the roles that must log in with a code."""
    box = request.app[BOX]
    users = [wire.admin_user_out(u) for u in await box.user_admin.listing()]
    return reply(wire.AdminUsers(users, await box.two_factor.required_roles()))


async def add_user(request: web.Request) -> web.Response:
    """Add a user with a temporary password, answered this once."""
    new = await read_body(request, wire.NewUser)
    user, password = await request.app[BOX].user_admin.add(
        new.username, new.role, new.display_name or None, by=admin_actor(request)
    )
    return reply(wire.WithPassword(await _one(request, user.id), password), 201)


async def change_role(request: web.Request) -> web.Response:
    """Change a user's role."""
    user_id = int_path(request, "user_id")
    change = await read_body(request, wire.RoleChange)
    await request.app[BOX].user_admin.set_role(user_id, change.role, by=admin_actor(request))
    return reply(wire.OneAdminUser(await _one(request, user_id)))


async def reset_password(request: web.Request) -> web.Response:
    """Give a user a temporary password (answered this once); their sessions end."""
    user_id = int_path(request, "user_id")
    password = await request.app[BOX].user_admin.reset_password(user_id, by=admin_actor(request))
    return reply(wire.WithPassword(await _one(request, user_id), password))


async def disable_user(request: web.Request) -> web.Response:
    """Disable a user; their sessions end at once."""
    user_id = int_path(request, "user_id")
    await request.app[BOX].user_admin.set_disabled(user_id, True, by=admin_actor(request))
    return reply(wire.OneAdminUser(await _one(request, user_id)))


async def enable_user(request: web.Request) -> web.Response:
    """Enable a disabled user."""
    user_id = int_path(request, "user_id")
    await request.app[BOX].user_admin.set_disabled(user_id, False, by=admin_actor(request))
    return reply(wire.OneAdminUser(await _one(request, user_id)))


async def end_sessions(request: web.Request) -> web.Response:
    """Log a user out everywhere."""
    user_id = int_path(request, "user_id")
    ended = await request.app[BOX].user_admin.end_sessions(user_id, by=admin_actor(request))
    return reply(wire.SessionsEnded(await _one(request, user_id), ended))


async def reset_two_factor(request: web.Request) -> web.Response:
    """Switch a user's two-factor login off (a lost phone)."""
    user_id = int_path(request, "user_id")
    was_on = await request.app[BOX].user_admin.reset_two_factor(user_id, by=admin_actor(request))
    return reply(wire.TwoFactorReset(await _one(request, user_id), was_on))


async def get_two_factor_roles(request: web.Request) -> web.Response:
    """Return the roles that must log in with a code."""
    return reply(wire.TwoFactorRoles(await request.app[BOX].two_factor.required_roles()))


async def put_two_factor_roles(request: web.Request) -> web.Response:
    """Choose the roles that must log in with a code."""
    body = await read_body(request, wire.TwoFactorRoles)
    roles = await request.app[BOX].two_factor.set_required_roles(
        body.roles, by=admin_actor(request)
    )
    return reply(wire.TwoFactorRoles(roles))


_USER = "/api/admin/users/{user_id}"
_ID = {"user_id": Id}

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/admin/users",
            list_users,
            "Every user with role, access, two-factor login and last login",
            _TAG,
            wire.AdminUsers,
            errors=(401, 403),
            description=_ADMINS,
        ),
        Operation(
            "POST",
            "/api/admin/users",
            add_user,
            "Add a user with a temporary password",
            _TAG,
            wire.WithPassword,
            status=201,
            body=wire.NewUser,
            errors=(401, 403, 413, 422),
            description=f"{_ADMINS} The box makes up the password and answers it this "
            "once; the user replaces it at their first login. 422 when the name is taken "
            "or malformed, or the role unknown.",
        ),
        Operation(
            "PUT",
            _USER + "/role",
            change_role,
            "Change a user's role",
            _TAG,
            wire.OneAdminUser,
            body=wire.RoleChange,
            path_types=_ID,
            errors=(401, 403, 404, 409, 413, 422),
            description=f"{_ADMINS} The user's open consoles reconnect with the new role."
            + _GUARDS,
        ),
        Operation(
            "POST",
            _USER + "/password",
            reset_password,
            "Reset a user's password to a temporary one",
            _TAG,
            wire.WithPassword,
            path_types=_ID,
            errors=(401, 403, 404, 409),
            description=f"{_ADMINS} Answers the temporary password this once; it works "
            "for one login, where the user must choose a new one before the console "
            "opens. The user's sessions end. Two-factor login still applies." + _GUARDS,
        ),
        Operation(
            "POST",
            _USER + "/disable",
            disable_user,
            "Disable a user",
            _TAG,
            wire.OneAdminUser,
            path_types=_ID,
            errors=(401, 403, 404, 409),
            description=f"{_ADMINS} The user's sessions and consoles end at once; they "
            "can no longer log in." + _GUARDS,
        ),
        Operation(
            "POST",
            _USER + "/enable",
            enable_user,
            "Enable a disabled user",
            _TAG,
            wire.OneAdminUser,
            path_types=_ID,
            errors=(401, 403, 404),
            description=_ADMINS,
        ),
        Operation(
            "DELETE",
            _USER + "/sessions",
            end_sessions,
            "Log a user out everywhere",
            _TAG,
            wire.SessionsEnded,
            path_types=_ID,
            errors=(401, 403, 404),
            description=f"{_ADMINS} Every console session of the user ends, and their "
            "open consoles go to the login page.",
        ),
        Operation(
            "DELETE",
            _USER + "/two-factor",
            reset_two_factor,
            "Switch a user's two-factor login off (a lost phone)",
            _TAG,
            wire.TwoFactorReset,
            path_types=_ID,
            errors=(401, 403, 404),
            description=f"{_ADMINS} Their secret and recovery codes are forgotten. If "
            "their role must use two-factor login, they enrol again at their next login.",
        ),
        Operation(
            "GET",
            "/api/admin/two-factor",
            get_two_factor_roles,
            "The roles that must log in with a code",
            _TAG,
            wire.TwoFactorRoles,
            errors=(401, 403),
            description=_ADMINS,
        ),
        Operation(
            "PUT",
            "/api/admin/two-factor",
            put_two_factor_roles,
            "Choose the roles that must log in with a code",
            _TAG,
            wire.TwoFactorRoles,
            body=wire.TwoFactorRoles,
            errors=(401, 403, 413, 422),
            description=f"{_ADMINS} Users of these roles who have not enrolled do so at "
            "their next login, before the console opens; sessions open now go on.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the users and roles routes."""
    CONTRACT.install(app)
