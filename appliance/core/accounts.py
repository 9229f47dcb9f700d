"""Users, roles, passwords, console sessions and presence."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import sqlite3

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.core import audit
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, InvalidInput
from appliance.core.events import AccountChanged, AgentStatusChanged, EventBus
from appliance.core.store import accounts as store
from appliance.core.store import routing as routing_store
from appliance.core.store.accounts import LoginFacts, Presence, Role
from appliance.core.store.accounts import Session as Session
from appliance.core.store.accounts import User as User

ROLES: tuple[Role, ...] = ("admin", "supervisor", "agent")
OVERSEERS = ("admin", "supervisor")  # see every queue and conversation
STATUSES: tuple[Presence, ...] = ("online", "away", "offline")
_USERNAME_MAX = 64
_PASSWORD_MIN = 8
_PASSWORD_MAX = 1024  # argon2 would take longer ones, but nobody types them


class AccountError(ValueError):
    """A user-facing problem with account data (clear message, no secrets)."""


class WrongPassword(InvalidInput):
    """The current password, asked again before a change, was wrong."""

    code = "wrong_password"


class LastAdmin(Conflict):
    """The change would leave the box without an enabled admin."""

    code = "last_admin"


def guard_last_admin(conn: sqlite3.Connection, target: User) -> None:
    """Refuse to take the last enabled admin away (called inside the write that would)."""
    if (
        target.role == "admin"
        and not target.disabled
        and store.other_enabled_admins(conn, target.id) == 0
    ):
        raise LastAdmin("the box needs at least one enabled admin")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Account rules: who may log in, with what role and password."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        session_ttl: float = 12 * 3600,
        max_chats_default: int = 5,
    ) -> None:
        self._db = db
        self._bus = bus
        self._session_ttl_ms = int(session_ttl * 1000)
        self._max_chats_default = max_chats_default
        self._hasher = PasswordHasher()
        self._dummy_hash: str | None = None

    async def create_user(
        self,
        username: str,
        password: str,
        role: str,
        display_name: str | None = None,
        max_chats: int | None = None,
        *,
        must_change_password: bool = False,
        by: audit.Actor | None = None,
    ) -> User:
        """Create a user; raise AccountError on bad input or a taken name.

        `by`: the administrator who does it, recorded in the audit log with the user.
        """
        username = username.strip()
        if not username or len(username) > _USERNAME_MAX or not username.isprintable():
            raise AccountError(f"user name must be 1-{_USERNAME_MAX} printable characters")
        if any(c.isspace() for c in username):
            raise AccountError("user name must not contain spaces")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if not _PASSWORD_MIN <= len(password) <= _PASSWORD_MAX:
            raise AccountError(f"password must be at least {_PASSWORD_MIN} characters")
        name = (display_name or username).strip()[:_USERNAME_MAX]
        limit = self._max_chats_default if max_chats is None else max_chats
        if limit < 0:
            raise AccountError("max chats must not be negative")
        password_hash = await asyncio.to_thread(self._hasher.hash, password)

        def insert(conn: sqlite3.Connection) -> int:
            user_id = store.insert_user(conn, username, name, password_hash, role, limit, now_ms())
            if must_change_password:
                store.set_password(conn, user_id, password_hash, True)
            # New users serve the default group until a supervisor says otherwise.
            routing_store.join_default_group(conn, user_id)
            if by is not None:
                audit.record(conn, by, "user.create", username, {"id": user_id, "role": role})
            return user_id

        try:
            user_id = await self._db.write(insert)
        except sqlite3.IntegrityError as err:
            raise AccountError(f"user name {username!r} is taken") from err
        user = await self.get_user(user_id)
        assert user is not None
        return user

    async def get_user(self, user_id: int) -> User | None:
        """Return a user by id."""
        return await self._db.read(lambda conn: store.user(conn, user_id))

    async def list_users(self) -> list[User]:
        """Return every user, by name."""
        return await self._db.read(store.users_by_name)

    async def has_admin(self) -> bool:
        """Tell whether an enabled admin exists (first-boot setup is done)."""
        return await self._db.read(store.has_admin)

    async def set_disabled(
        self, username: str, disabled: bool = True, *, by: audit.Actor | None = None
    ) -> User:
        """Disable (or enable) a user; a disabled user's sessions and consoles end at
        once. The last enabled admin cannot be disabled."""
        name = username.strip()

        def change(conn: sqlite3.Connection) -> int | None:
            user_id = store.user_id_named(conn, name)
            current = store.user(conn, user_id) if user_id is not None else None
            if current is None:
                return None
            if disabled:
                guard_last_admin(conn, current)
            store.set_disabled(conn, current.username, disabled)
            if by is not None:
                action = "user.disable" if disabled else "user.enable"
                audit.record(conn, by, action, current.username, {"id": current.id})
            return current.id

        user_id = await self._db.write(change)
        if user_id is None:
            raise AccountError(f"no user named {username!r}")
        user = await self.get_user(user_id)
        assert user is not None
        self._bus.emit(AgentStatusChanged(user.id, user.status))
        if disabled:
            self._bus.emit(AccountChanged(user.id, signed_out=True))
        return user

    async def check_password(self, username: str, password: str) -> tuple[LoginFacts | None, bool]:
        """Return the named user's login facts (None: no such user) and whether the
        password is theirs and they are enabled. Not throttled: core.login is."""
        name = username.strip()[:_USERNAME_MAX]
        found = await self._db.read(lambda conn: store.login_facts(conn, name))
        if found is not None:
            stored = found.password_hash
        else:
            # Verify against a real hash anyway, so timing does not tell which user
            # names exist. Hashing blocks for tens of ms: never on the loop.
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(self._hasher.hash, secrets.token_hex(8))
            stored = self._dummy_hash
        ok = await asyncio.to_thread(self._verify, stored, password[:_PASSWORD_MAX])
        return found, ok and found is not None and not found.user.disabled

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def hash_password(self, password: str) -> str:
        """Check a new password's length and return its argon2 hash (off the loop)."""
        if not _PASSWORD_MIN <= len(password) <= _PASSWORD_MAX:
            raise AccountError(f"password must be at least {_PASSWORD_MIN} characters")
        return await asyncio.to_thread(self._hasher.hash, password)

    async def is_password(self, user_id: int, password: str) -> bool:
        """Tell whether a password is a user's current one."""
        stored = await self._db.read(lambda conn: store.password_hash(conn, user_id))
        if stored is None:
            return False
        return await asyncio.to_thread(self._verify, stored, password[:_PASSWORD_MAX])

    async def set_password(self, user_id: int, password: str, *, must_change: bool = False) -> None:
        """Give a user a new password (`must_change`: a temporary one, replaced at the
        next login)."""
        password_hash = await self.hash_password(password)
        await self._db.write(
            lambda conn: store.set_password(conn, user_id, password_hash, must_change)
        )

    async def change_own_password(
        self, user_id: int, current: str, new: str, *, keep_token: str = ""
    ) -> int:
        """Change a user's own password after checking the current one; end their other
        sessions (all but `keep_token`'s) and return how many ended."""
        if not await self.is_password(user_id, current):
            raise WrongPassword("the current password is wrong")
        if current == new:
            raise AccountError("choose a password other than the current one")
        password_hash = await self.hash_password(new)
        keep = _token_hash(keep_token) if keep_token else ""

        def change(conn: sqlite3.Connection) -> int:
            store.set_password(conn, user_id, password_hash, False)
            return store.delete_user_sessions(conn, user_id, keep=keep)

        return await self._db.write(change)

    async def create_session(self, user: User) -> tuple[str, Session]:
        """Start a console session; return its secret token (the cookie) and the session."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = now_ms()
        expires = now + self._session_ttl_ms

        def insert(conn: sqlite3.Connection) -> None:
            store.insert_session(conn, _token_hash(token), user.id, csrf, now, expires)
            store.mark_login(conn, user.id, now)

        await self._db.write(insert)
        return token, Session(user, csrf, expires)

    async def get_session(self, token: str) -> Session | None:
        """Return the live session for a cookie token, or None."""
        if not token or len(token) > 128:
            return None
        digest, now = _token_hash(token), now_ms()
        return await self._db.read(lambda conn: store.live_session(conn, digest, now))

    async def end_session(self, token: str) -> None:
        """Log out: forget the session."""
        digest = _token_hash(token)
        await self._db.write(lambda conn: store.delete_session(conn, digest))

    async def set_status(self, user_id: int, status: str) -> str:
        """Set an agent's presence; return it."""
        presence = next((p for p in STATUSES if p == status), None)
        if presence is None:
            raise AccountError(f"status must be one of {', '.join(STATUSES)}")
        await self._db.write(
            lambda conn: store.set_status(conn, user_id, presence),
            on_commit=lambda _: self._bus.emit(AgentStatusChanged(user_id, presence)),
        )
        return presence

    async def online_user_ids(self) -> list[int]:
        """Return the ids of users whose status is online."""
        return await self._db.read(store.online_ids)
