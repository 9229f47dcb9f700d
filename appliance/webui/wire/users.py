"""Shapes of users and roles on the admin API, of a user's own two-factor settings, and
of the login steps' forms."""

from __future__ import annotations

from typing import Annotated

import msgspec

from appliance.core.store.accounts import UserListing
from appliance.webui.wire import Time, wire_time
from appliance.webui.wire.chat import Role

Username = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[^\s]+$",
        description="1-64 printable characters without spaces (case-blind, unique)",
    ),
]
DisplayName = Annotated[str, msgspec.Meta(max_length=64, description="empty: the user name")]
Code = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=32,
        description="six digits from the authenticator app, or a recovery code",
    ),
]
Password = Annotated[str, msgspec.Meta(max_length=1024)]
TemporaryPassword = Annotated[
    str,
    msgspec.Meta(description="shown this once: give it to the user, who replaces it at login"),
]


class AdminUser(msgspec.Struct):
    """A user as the admin's list shows them."""

    id: int
    username: str
    display_name: str
    role: Role
    disabled: bool
    dispatcher: Annotated[bool, msgspec.Meta(description="may assign tickets to others")]
    two_factor: Annotated[bool, msgspec.Meta(description="logs in with a code")]
    must_change_password: Annotated[
        bool, msgspec.Meta(description="holds a temporary password, replaced at next login")
    ]
    last_login_at: Time | None
    sessions: Annotated[int, msgspec.Meta(description="console sessions open now")]
    created_at: Time


class AdminUsers(msgspec.Struct):
    """Every user, and the roles that must log in with a code."""

    users: list[AdminUser]
    two_factor_roles: list[Role]


class OneAdminUser(msgspec.Struct):
    user: AdminUser


class NewUser(msgspec.Struct, forbid_unknown_fields=True):
    """A user to add; the box makes up a temporary password."""

    username: Username
    role: Role = "agent"
    display_name: DisplayName = ""


class WithPassword(msgspec.Struct):
    """A user and their temporary password (after adding them or a reset)."""

    user: AdminUser
    temporary_password: TemporaryPassword


class RoleChange(msgspec.Struct, forbid_unknown_fields=True):
    role: Role


class SessionsEnded(msgspec.Struct):
    user: AdminUser
    ended: Annotated[int, msgspec.Meta(description="how many sessions ended")]


class TwoFactorReset(msgspec.Struct):
    user: AdminUser
    was_on: bool


class TwoFactorRoles(msgspec.Struct, forbid_unknown_fields=True):
    """The roles whose users must log in with a code (they enrol at their next login)."""

    roles: Annotated[list[Role], msgspec.Meta(max_length=3)]


def admin_user_out(listing: UserListing) -> AdminUser:
    """Return the wire form of a user in the admin's list."""
    user = listing.user
    return AdminUser(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        disabled=user.disabled,
        dispatcher=listing.dispatcher,
        two_factor=listing.two_factor,
        must_change_password=listing.must_change_password,
        last_login_at=wire_time(listing.last_login_at),
        sessions=listing.sessions,
        created_at=wire_time(listing.created_at),
    )


# ---- the user's own settings ---------------------------------------------------------


class TwoFactorStatus(msgspec.Struct):
    """The user's own two-factor login."""

    on: bool
    required: Annotated[bool, msgspec.Meta(description="their role must use it")]
    recovery_codes_left: int


class Enrolment(msgspec.Struct):
    """A new secret to scan; two-factor login switches on once a code confirms it."""

    secret: Annotated[str, msgspec.Meta(description="base32, for typing into the app")]
    uri: Annotated[str, msgspec.Meta(description="the otpauth:// address in the QR code")]
    qr: Annotated[str, msgspec.Meta(description="the QR code as an SVG data: URL")]


class CodeInput(msgspec.Struct, forbid_unknown_fields=True):
    code: Code


class RecoveryCodes(msgspec.Struct):
    """New recovery codes: shown this once, each good for one login."""

    recovery_codes: list[str]


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current: Password
    new: Password


class PasswordChanged(msgspec.Struct):
    other_sessions_ended: int


# ---- the login steps (forms) ---------------------------------------------------------

_CSRF = msgspec.Meta(description="the page's CSRF token")
_TICKET = msgspec.Meta(description="the login in progress, from the previous step's page")
_NEXT = msgspec.Meta(description="a path on this box to go to afterwards")


class CodeForm(msgspec.Struct):
    ticket: Annotated[str, _TICKET] = ""
    code: str = ""
    next: Annotated[str, _NEXT] = ""
    csrf_token: Annotated[str, _CSRF] = ""


class NewPasswordForm(msgspec.Struct):
    ticket: Annotated[str, _TICKET] = ""
    password: str = ""
    password2: Annotated[str, msgspec.Meta(description="the password again")] = ""
    next: Annotated[str, _NEXT] = ""
    csrf_token: Annotated[str, _CSRF] = ""


class TicketForm(msgspec.Struct):
    ticket: Annotated[str, _TICKET] = ""
    next: Annotated[str, _NEXT] = ""
    csrf_token: Annotated[str, _CSRF] = ""
