"""What an admin does to users: add, change role, reset the password, disable, enable,
end sessions, reset two-factor login.

Two guards hold for every action, checked inside the write that makes the change (the
one writer serialises them, so two admins demoting each other cannot both succeed):
the last enabled admin stays an enabled admin, and an admin does not lock themselves
out (their own role, access and password are changed elsewhere: by another admin, on
the box with `appliance user ...`, or in their own account settings).

A reset password is a temporary one the box makes up, shown once to the admin, that
works for one login and must be replaced there before the console opens: the admin
never chooses (or learns) the password the user goes on to use, the temporary one
is strong, and nothing has to be mailed from a box that may have no mail set up.
"""

from __future__ import annotations

import secrets
import sqlite3

from appliance.core import audit
from appliance.core.accounts import ROLES, AccountError, Accounts, User, guard_last_admin
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, NotFound
from appliance.core.events import AccountChanged, EventBus
from appliance.core.store import accounts as store
from appliance.core.store import two_factor as two_factor_store
from appliance.core.store.accounts import UserListing

# Letters and digits nobody misreads (no 0/o, 1/l/i), in four groups of four:
# 16 × log2(31) ≈ 79 bits, typed once.
_TEMP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_TEMP_GROUPS = 4
_TEMP_GROUP = 4


class OwnAccount(Conflict):
    """An admin may not do this to their own account (it could lock them out)."""

    code = "own_account"


def temporary_password() -> str:
    """Return a new temporary password, easy to read out and type."""
    groups = (
        "".join(secrets.choice(_TEMP_ALPHABET) for _ in range(_TEMP_GROUP))
        for _ in range(_TEMP_GROUPS)
    )
    return "-".join(groups)


def _own(by: audit.Actor | None, user_id: int) -> bool:
    return by is not None and by.user_id == user_id


class UserAdmin:
    """The admin's actions on users. `by` is who acts (recorded in the audit log):
    an admin from the admin page, or `appliance` on the box; None records nothing."""

    def __init__(self, db: Database, bus: EventBus, accounts: Accounts) -> None:
        self._db = db
        self._bus = bus
        self._accounts = accounts

    async def listing(self) -> list[UserListing]:
        """Return every user with role, access, two-factor state and last login."""
        now = now_ms()
        return await self._db.read(lambda conn: store.admin_listing(conn, now))

    async def user(self, user_id: int) -> User:
        """Return a user by id; raise NotFound."""
        user = await self._accounts.get_user(user_id)
        if user is None:
            raise NotFound("no such user")
        return user

    async def named(self, username: str) -> User:
        """Return a user by name (case-blind); raise AccountError (the CLI's words)."""
        name = username.strip()
        user_id = await self._db.read(lambda conn: store.user_id_named(conn, name))
        user = await self._accounts.get_user(user_id) if user_id is not None else None
        if user is None:
            raise AccountError(f"no user named {username!r}")
        return user

    async def add(
        self,
        username: str,
        role: str,
        display_name: str | None = None,
        *,
        by: audit.Actor | None = None,
    ) -> tuple[User, str]:
        """Create a user with a temporary password; return them and the password (once)."""
        password = temporary_password()
        user = await self._accounts.create_user(
            username, password, role, display_name, must_change_password=True, by=by
        )
        return user, password

    async def set_role(self, user_id: int, role: str, *, by: audit.Actor | None = None) -> User:
        """Change a user's role; their open consoles reconnect with it."""
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        target = await self.user(user_id)
        if _own(by, user_id) and role != target.role:
            raise OwnAccount("another admin must change your role")

        def change(conn: sqlite3.Connection) -> None:
            current = store.user(conn, user_id)
            if current is None:
                raise NotFound("no such user")
            if role != "admin":
                guard_last_admin(conn, current)
            store.set_role(conn, user_id, role)
            if by is not None and role != current.role:
                detail = {"id": user_id, "from": current.role, "to": role}
                audit.record(conn, by, "user.role", current.username, detail)

        await self._db.write(change)
        self._bus.emit(AccountChanged(user_id, signed_out=False))
        return await self.user(user_id)

    async def reset_password(self, user_id: int, *, by: audit.Actor | None = None) -> str:
        """Give a user a temporary password (returned once) and end their sessions."""
        target = await self.user(user_id)
        if _own(by, user_id):
            raise OwnAccount("change your own password in your account settings")
        password = temporary_password()
        password_hash = await self._accounts.hash_password(password)

        def reset(conn: sqlite3.Connection) -> None:
            if not store.set_password(conn, user_id, password_hash, True):
                raise NotFound("no such user")
            ended = store.delete_user_sessions(conn, user_id)
            if by is not None:
                detail = {"id": user_id, "temporary": True, "sessions_ended": ended}
                audit.record(conn, by, "user.passwd", target.username, detail)

        await self._db.write(reset)
        self._bus.emit(AccountChanged(user_id, signed_out=True))
        return password

    async def set_password(
        self,
        user_id: int,
        password: str,
        *,
        temporary: bool = False,
        by: audit.Actor | None = None,
    ) -> None:
        """Set a user's password on the box itself (`appliance user passwd`); their
        sessions end. `temporary`: they must choose a new one at their next login."""
        target = await self.user(user_id)
        password_hash = await self._accounts.hash_password(password)

        def change(conn: sqlite3.Connection) -> None:
            if not store.set_password(conn, user_id, password_hash, temporary):
                raise NotFound("no such user")
            ended = store.delete_user_sessions(conn, user_id)
            if by is not None:
                detail = {"id": user_id, "temporary": temporary, "sessions_ended": ended}
                audit.record(conn, by, "user.passwd", target.username, detail)

        await self._db.write(change)
        self._bus.emit(AccountChanged(user_id, signed_out=True))

    async def set_disabled(
        self, user_id: int, disabled: bool, *, by: audit.Actor | None = None
    ) -> User:
        """Disable a user (their sessions end at once) or enable them again."""
        target = await self.user(user_id)
        if _own(by, user_id) and disabled:
            raise OwnAccount("another admin must disable your account")
        return await self._accounts.set_disabled(target.username, disabled, by=by)

    async def end_sessions(self, user_id: int, *, by: audit.Actor | None = None) -> int:
        """Log a user out everywhere; return how many sessions ended."""
        target = await self.user(user_id)

        def end(conn: sqlite3.Connection) -> int:
            ended = store.delete_user_sessions(conn, user_id)
            if by is not None:
                detail = {"id": user_id, "ended": ended}
                audit.record(conn, by, "user.sessions_end", target.username, detail)
            return ended

        ended = await self._db.write(end)
        self._bus.emit(AccountChanged(user_id, signed_out=True))
        return ended

    async def reset_two_factor(self, user_id: int, *, by: audit.Actor | None = None) -> bool:
        """Switch a user's two-factor login off (a lost phone); tell whether it was on.

        If their role must use it, they enrol again at their next login.
        """
        target = await self.user(user_id)

        def reset(conn: sqlite3.Connection) -> bool:
            was_on = two_factor_store.clear(conn, user_id)
            if by is not None:
                detail = {"id": user_id, "was_on": was_on}
                audit.record(conn, by, "user.totp_reset", target.username, detail)
            return was_on

        return await self._db.write(reset)
