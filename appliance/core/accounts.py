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
from appliance.core.events import AgentStatusChanged, EventBus
from appliance.core.ratelimit import Backoff, RateLimited, RateLimiter
from appliance.core.store import accounts as store
from appliance.core.store import routing as routing_store
from appliance.core.store.accounts import Presence
from appliance.core.store.accounts import Session as Session
from appliance.core.store.accounts import User as User

ROLES = ("admin", "supervisor", "agent")
OVERSEERS = ("admin", "supervisor")  # see every queue and conversation
STATUSES: tuple[Presence, ...] = ("online", "away", "offline")
_USERNAME_MAX = 64
_PASSWORD_MIN = 8
_PASSWORD_MAX = 1024  # argon2 would take longer ones, but nobody types them


class AccountError(ValueError):
    """A user-facing problem with account data (clear message, no secrets)."""


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Account rules: who may log in, with what role, and how often they may try."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        session_ttl: float = 12 * 3600,
        login_attempts: int = 5,
        login_window: float = 300,
        login_backoff: float = 0.5,
        max_chats_default: int = 5,
    ) -> None:
        self._db = db
        self._bus = bus
        self._session_ttl_ms = int(session_ttl * 1000)
        self._max_chats_default = max_chats_default
        # An address that keeps failing is refused (429) for a while; a user name that
        # keeps failing is only slowed down, from every address alike, so nobody can
        # lock its owner out by failing on purpose. A correct password resets both.
        rate = login_attempts / login_window
        self._by_addr = RateLimiter(rate, login_attempts)
        self._by_user = Backoff(login_attempts, login_window, base=login_backoff)
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
        """Disable (or enable) a user; a disabled user's sessions end at once."""

        def change(conn: sqlite3.Connection) -> int | None:
            user_id = store.set_disabled(conn, username, disabled)
            if user_id is not None and by is not None:
                action = "user.disable" if disabled else "user.enable"
                audit.record(conn, by, action, username, {"id": user_id})
            return user_id

        user_id = await self._db.write(change)
        if user_id is None:
            raise AccountError(f"no user named {username!r}")
        user = await self.get_user(user_id)
        assert user is not None
        self._bus.emit(AgentStatusChanged(user.id, user.status))
        return user

    async def authenticate(self, username: str, password: str, address: str) -> User | None:
        """Check a password; raise RateLimited after too many failures."""
        user_key = username.strip().lower()[:_USERNAME_MAX]
        wait = self._by_addr.retry_after(address)
        if wait > 0:
            raise RateLimited(wait)
        # The same delay for names that exist and names that do not: it depends only on
        # the failures typed under the name.
        delay = self._by_user.delay(user_key)
        if delay > 0:
            await asyncio.sleep(delay)
        name = username.strip()
        found = await self._db.read(lambda conn: store.user_with_hash(conn, name))
        if found is not None:
            stored = found[1]
        else:
            # Verify against a real hash anyway, so timing does not tell which user
            # names exist. Hashing blocks for tens of ms: never on the loop.
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(self._hasher.hash, secrets.token_hex(8))
            stored = self._dummy_hash
        ok = await asyncio.to_thread(self._verify, stored, password[:_PASSWORD_MAX])
        if not ok or found is None or found[0].disabled:
            self._by_addr.hit(address)
            self._by_user.fail(user_key)
            return None
        self._by_user.reset(user_key)
        return found[0]

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def create_session(self, user: User) -> tuple[str, Session]:
        """Start a console session; return its secret token (the cookie) and the session."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = now_ms()
        expires = now + self._session_ttl_ms

        def insert(conn: sqlite3.Connection) -> None:
            store.insert_session(conn, _token_hash(token), user.id, csrf, now, expires)

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
