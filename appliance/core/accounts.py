"""Users, roles, passwords, console sessions and presence."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.events import AgentStatusChanged, EventBus
from appliance.core.ratelimit import Backoff, RateLimited, RateLimiter

ROLES = ("admin", "supervisor", "agent")
OVERSEERS = ("admin", "supervisor")  # see every queue and conversation
STATUSES = ("online", "away", "offline")
_USERNAME_MAX = 64
_PASSWORD_MIN = 8
_PASSWORD_MAX = 1024  # argon2 would take longer ones, but nobody types them


class AccountError(ValueError):
    """A user-facing problem with account data (clear message, no secrets)."""


@dataclass(frozen=True, slots=True)
class User:
    """A console user as the rest of the box sees it (no password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    status: str
    max_chats: int
    disabled: bool

    def public(self) -> dict[str, Any]:
        """Return the JSON form used by the API."""
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "status": self.status,
            "max_chats": self.max_chats,
        }


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in console session."""

    user: User
    csrf_token: str
    expires_at: int


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        status=row["status"],
        max_chats=row["max_chats"],
        disabled=bool(row["disabled"]),
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_USER_COLUMNS = "id, username, display_name, role, status, max_chats, disabled"
_USER_COLUMNS_U = ", ".join("u." + c for c in _USER_COLUMNS.split(", "))


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
    ) -> User:
        """Create a user; raise AccountError on bad input or a taken name."""
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
            cursor = conn.execute(
                "INSERT INTO users (username, display_name, password_hash, role,"
                " max_chats, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (username, name, password_hash, role, limit, now_ms()),
            )
            assert cursor.lastrowid is not None
            # New users serve the default group until a supervisor says otherwise.
            conn.execute(
                "INSERT INTO group_members (group_id, user_id)"
                " SELECT id, ? FROM groups WHERE is_default = 1",
                (cursor.lastrowid,),
            )
            return cursor.lastrowid

        try:
            user_id = await self._db.write(insert)
        except sqlite3.IntegrityError as err:
            raise AccountError(f"user name {username!r} is taken") from err
        user = await self.get_user(user_id)
        assert user is not None
        return user

    async def get_user(self, user_id: int) -> User | None:
        """Return a user by id."""
        row = await self._db.fetchone(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return _user(row) if row else None

    async def list_users(self) -> list[User]:
        """Return every user, by name."""
        rows = await self._db.fetchall(f"SELECT {_USER_COLUMNS} FROM users ORDER BY username")
        return [_user(row) for row in rows]

    async def has_admin(self) -> bool:
        """Tell whether an enabled admin exists (first-boot setup is done)."""
        row = await self._db.fetchone(
            "SELECT 1 FROM users WHERE role = 'admin' AND disabled = 0 LIMIT 1"
        )
        return row is not None

    async def set_disabled(self, username: str, disabled: bool = True) -> User:
        """Disable (or enable) a user; a disabled user's sessions end at once."""

        def update(conn: sqlite3.Connection) -> int | None:
            cursor = conn.execute(
                "UPDATE users SET disabled = ?, status = 'offline' WHERE username = ? RETURNING id",
                (int(disabled), username),
            )
            row = cursor.fetchone()
            if row is None:
                return None
            if disabled:
                conn.execute("DELETE FROM sessions WHERE user_id = ?", (row[0],))
            return int(row[0])

        user_id = await self._db.write(update)
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
        row = await self._db.fetchone(
            f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE username = ?",
            (username.strip(),),
        )
        if row is not None:
            stored = row["password_hash"]
        else:
            # Verify against a real hash anyway, so timing does not tell which user
            # names exist. Hashing blocks for tens of ms: never on the loop.
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(self._hasher.hash, secrets.token_hex(8))
            stored = self._dummy_hash
        ok = await asyncio.to_thread(self._verify, stored, password[:_PASSWORD_MAX])
        if not ok or row is None or row["disabled"]:
            self._by_addr.hit(address)
            self._by_user.fail(user_key)
            return None
        self._by_user.reset(user_key)
        return _user(row)

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
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            conn.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (_token_hash(token), user.id, csrf, now, expires),
            )

        await self._db.write(insert)
        return token, Session(user, csrf, expires)

    async def get_session(self, token: str) -> Session | None:
        """Return the live session for a cookie token, or None."""
        if not token or len(token) > 128:
            return None
        row = await self._db.fetchone(
            f"SELECT s.csrf_token, s.expires_at, {_USER_COLUMNS_U}"
            " FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
            (_token_hash(token), now_ms()),
        )
        if row is None:
            return None
        return Session(_user(row), row["csrf_token"], row["expires_at"])

    async def end_session(self, token: str) -> None:
        """Log out: forget the session."""

        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))

        await self._db.write(delete)

    async def set_status(self, user_id: int, status: str) -> str:
        """Set an agent's presence; return it."""
        if status not in STATUSES:
            raise AccountError(f"status must be one of {', '.join(STATUSES)}")

        def update(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE users SET status = ? WHERE id = ?", (status, user_id))

        await self._db.write(
            update, on_commit=lambda _: self._bus.emit(AgentStatusChanged(user_id, status))
        )
        return status

    async def online_user_ids(self) -> list[int]:
        """Return the ids of users whose status is online."""
        rows = await self._db.fetchall("SELECT id FROM users WHERE status = 'online'")
        return [row[0] for row in rows]
