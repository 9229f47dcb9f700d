"""Store of the users, sessions tables."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from appliance.core.actors import Staff
from appliance.core.store.conversations import AGENT_LOAD


def mark_assigned(conn: sqlite3.Connection, user_id: int, now: int) -> None:
    """Record when an agent was last given a chat (the router's idle order)."""
    conn.execute("UPDATE users SET last_assigned_at = ? WHERE id = ?", (now, user_id))


def agent_for_chat(conn: sqlite3.Connection, user_id: int) -> sqlite3.Row | None:
    """Return a user with their open chats: id, display_name, status, disabled,
    max_chats, load."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT u.id, u.display_name, u.status, u.disabled, u.max_chats,"
        f" {AGENT_LOAD} AS load FROM users u WHERE u.id = ?",
        (user_id,),
    ).fetchone()
    return row


def team_now(conn: sqlite3.Connection, midnight: int) -> list[sqlite3.Row]:
    """Return every enabled user, online first: id, display_name, role, status, max_chats,
    tier, load, missed (chats let ring out since midnight), groups (a JSON array)."""
    return conn.execute(
        "SELECT u.id, u.display_name, u.role, u.status, u.max_chats, u.tier,"
        f" {AGENT_LOAD} AS load, coalesce(mc.missed, 0) AS missed,"
        " coalesce(gm.groups, '[]') AS groups"
        " FROM users u"
        " LEFT JOIN (SELECT user_id, count(*) AS missed FROM missed_chats WHERE at >= ?"
        "   GROUP BY user_id) mc ON mc.user_id = u.id"
        " LEFT JOIN (SELECT user_id, json_group_array(group_id) AS groups FROM group_members"
        "   GROUP BY user_id) gm ON gm.user_id = u.id"
        " WHERE u.disabled = 0 ORDER BY u.status = 'offline', u.display_name",
        (midnight,),
    ).fetchall()


def free_agent(conn: sqlite3.Connection, user_id: int) -> tuple[int, str] | None:
    """Return (id, name) of a user who is online, enabled and under their chat limit."""
    row = conn.execute(
        "SELECT u.id, u.display_name FROM users u WHERE u.id = ? AND u.status = 'online'"
        f" AND u.disabled = 0 AND u.max_chats > {AGENT_LOAD}",
        (user_id,),
    ).fetchone()
    return (row[0], row[1]) if row else None


def display_name(conn: sqlite3.Connection, user_id: int | None) -> str:
    """Return a user's display name ("" for none)."""
    if user_id is None:
        return ""
    row = conn.execute("SELECT display_name FROM users WHERE id = ?", (user_id,)).fetchone()
    return str(row[0]) if row else ""


def groups_with_room(conn: sqlite3.Connection) -> set[int]:
    """Return the groups with an online agent under their limit."""
    rows = conn.execute(
        "SELECT DISTINCT gm.group_id FROM users u JOIN group_members gm ON gm.user_id = u.id"
        f" WHERE u.status = 'online' AND u.disabled = 0 AND u.max_chats > {AGENT_LOAD}"
    ).fetchall()
    return {r[0] for r in rows}


Role = Literal["admin", "supervisor", "agent"]


Presence = Literal["online", "away", "offline"]


Tier = Literal["normal", "expert"]


@dataclass(frozen=True, slots=True)
class User:
    """A console user as the rest of the box sees it (no password hash)."""

    id: int
    username: str
    display_name: str
    role: Role
    status: Presence
    max_chats: int
    disabled: bool

    @property
    def staff(self) -> Staff:
        """Return the user as the actor of a use case."""
        return Staff(self.id, self.display_name, self.role)


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in console session; expires_at in UTC milliseconds."""

    user: User
    csrf_token: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class AgentScope:
    """An enabled user with what routing needs of them: tier, skills, regions, groups."""

    id: int
    username: str
    display_name: str
    role: Role
    status: Presence
    max_chats: int
    tier: Tier
    skills: list[str]
    regions: list[str]
    groups: list[int]
    dispatcher: bool = False  # 调度员: may assign tickets to others


_COLUMNS = "id, username, display_name, role, status, max_chats, disabled"


_COLUMNS_U = ", ".join("u." + c for c in _COLUMNS.split(", "))


# A user's (u) group ids as a JSON array; whether u is in a group of a list ({} the marks).
_GROUPS = "(SELECT json_group_array(group_id) FROM group_members m WHERE m.user_id = u.id)"


_MEMBER_OF = "(SELECT 1 FROM group_members m WHERE m.user_id = u.id AND m.group_id IN ({}))"


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


def insert_user(
    conn: sqlite3.Connection,
    username: str,
    display_name: str,
    password_hash: str,
    role: str,
    max_chats: int,
    now: int,
) -> int:
    """Store a user; return their id. Raise sqlite3.IntegrityError when the name is taken."""
    cursor = conn.execute(
        "INSERT INTO users (username, display_name, password_hash, role,"
        " max_chats, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (username, display_name, password_hash, role, max_chats, now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def user(conn: sqlite3.Connection, user_id: int) -> User | None:
    """Return a user by id."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
    return _user(row) if row else None


def display_names(conn: sqlite3.Connection, user_ids: list[int]) -> dict[int, str]:
    """The display names of these users, disabled ones included (a history names them)."""
    if not user_ids:
        return {}
    marks = ", ".join("?" * len(user_ids))
    rows = conn.execute(f"SELECT id, display_name FROM users WHERE id IN ({marks})", user_ids)
    return {int(r[0]): str(r[1]) for r in rows}


def users_by_name(conn: sqlite3.Connection) -> list[User]:
    """Return every user, by name."""
    return [_user(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM users ORDER BY username")]


def has_admin(conn: sqlite3.Connection) -> bool:
    """Tell whether an enabled admin exists."""
    row = conn.execute("SELECT 1 FROM users WHERE role = 'admin' AND disabled = 0 LIMIT 1")
    return row.fetchone() is not None


def user_id_named(conn: sqlite3.Connection, username: str) -> int | None:
    """Return the id of the user with this name (case-blind), or None."""
    row = conn.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()
    return None if row is None else int(row[0])


def set_disabled(conn: sqlite3.Connection, username: str, disabled: bool) -> int | None:
    """Disable (or enable) a user and set them offline; a disabled user's sessions end.
    Return their id, or None when no user has the name."""
    row = conn.execute(
        "UPDATE users SET disabled = ?, status = 'offline' WHERE username = ? RETURNING id",
        (int(disabled), username),
    ).fetchone()
    if row is None:
        return None
    if disabled:
        conn.execute("DELETE FROM sessions WHERE user_id = ?", (row[0],))
    return int(row[0])


# Whether a user (u) has two-factor login on; whether their role must (read, not owned).
_TWO_FACTOR_ON = "(SELECT 1 FROM user_totp t WHERE t.user_id = u.id AND t.secret IS NOT NULL)"
_TWO_FACTOR_REQUIRED = "(SELECT 1 FROM two_factor_roles r WHERE r.role = u.role)"


@dataclass(frozen=True, slots=True)
class LoginFacts:
    """What a login needs to know of a user besides their password."""

    user: User
    password_hash: str
    must_change_password: bool
    two_factor: bool  # a confirmed authenticator secret
    two_factor_required: bool  # their role must log in with a code


def login_facts(conn: sqlite3.Connection, username: str) -> LoginFacts | None:
    """Return a user by name (case-blind) with their password hash and two-factor state."""
    row = conn.execute(
        f"SELECT {_COLUMNS_U}, u.password_hash, u.must_change_password,"
        f" EXISTS {_TWO_FACTOR_ON} AS two_factor, EXISTS {_TWO_FACTOR_REQUIRED} AS required"
        " FROM users u WHERE u.username = ?",
        (username,),
    ).fetchone()
    if row is None:
        return None
    return LoginFacts(
        _user(row),
        row["password_hash"],
        bool(row["must_change_password"]),
        bool(row["two_factor"]),
        bool(row["required"]),
    )


@dataclass(frozen=True, slots=True)
class UserListing:
    """A user as the admin's list shows them."""

    user: User
    dispatcher: bool
    two_factor: bool
    must_change_password: bool
    last_login_at: int | None
    sessions: int  # live console sessions
    created_at: int


def admin_listing(conn: sqlite3.Connection, now: int) -> list[UserListing]:
    """Return every user with what the admin's list shows, by name."""
    rows = conn.execute(
        f"SELECT {_COLUMNS_U}, u.dispatcher, u.must_change_password, u.last_login_at,"
        f" u.created_at, EXISTS {_TWO_FACTOR_ON} AS two_factor,"
        " (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > ?)"
        "   AS sessions"
        " FROM users u ORDER BY u.username",
        (now,),
    )
    return [
        UserListing(
            _user(r),
            bool(r["dispatcher"]),
            bool(r["two_factor"]),
            bool(r["must_change_password"]),
            r["last_login_at"],
            r["sessions"],
            r["created_at"],
        )
        for r in rows
    ]


def other_enabled_admins(conn: sqlite3.Connection, user_id: int) -> int:
    """Return how many enabled admins there are besides this user."""
    row = conn.execute(
        "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id != ?",
        (user_id,),
    ).fetchone()
    return int(row[0])


def set_role(conn: sqlite3.Connection, user_id: int, role: str) -> bool:
    """Change a user's role; False when no user has the id."""
    row = conn.execute(
        "UPDATE users SET role = ? WHERE id = ? RETURNING id", (role, user_id)
    ).fetchone()
    return row is not None


def set_password(
    conn: sqlite3.Connection, user_id: int, password_hash: str, must_change: bool
) -> bool:
    """Store a new password hash; False when no user has the id."""
    row = conn.execute(
        "UPDATE users SET password_hash = ?, must_change_password = ? WHERE id = ? RETURNING id",
        (password_hash, int(must_change), user_id),
    ).fetchone()
    return row is not None


def password_hash(conn: sqlite3.Connection, user_id: int) -> str | None:
    """Return a user's password hash."""
    row = conn.execute("SELECT password_hash FROM users WHERE id = ?", (user_id,)).fetchone()
    return None if row is None else str(row[0])


def mark_login(conn: sqlite3.Connection, user_id: int, now: int) -> None:
    """Record when a user last logged in."""
    conn.execute("UPDATE users SET last_login_at = ? WHERE id = ?", (now, user_id))


def delete_user_sessions(conn: sqlite3.Connection, user_id: int, keep: str = "") -> int:
    """End every session of a user but the one whose token hashes to `keep`; return how
    many ended."""
    return conn.execute(
        "DELETE FROM sessions WHERE user_id = ? AND token_hash != ?", (user_id, keep)
    ).rowcount


def set_status(conn: sqlite3.Connection, user_id: int, status: str) -> None:
    """Set a user's presence."""
    conn.execute("UPDATE users SET status = ? WHERE id = ?", (status, user_id))


def set_away_if_online(conn: sqlite3.Connection, user_id: int) -> bool:
    """Set an online user away; tell whether they were online."""
    row = conn.execute(
        "UPDATE users SET status = 'away' WHERE id = ? AND status = 'online' RETURNING id",
        (user_id,),
    ).fetchone()
    return row is not None


def online_ids(conn: sqlite3.Connection) -> list[int]:
    """Return the ids of users whose status is online."""
    return [r[0] for r in conn.execute("SELECT id FROM users WHERE status = 'online'")]


def user_ids(conn: sqlite3.Connection) -> set[int]:
    """Return every user's id."""
    return {r[0] for r in conn.execute("SELECT id FROM users")}


def exists(conn: sqlite3.Connection, user_id: int) -> bool:
    """Tell whether a user of this id exists."""
    return conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is not None


def regions_of(conn: sqlite3.Connection, user_id: int) -> list[str]:
    """Return the regions a user serves (empty: every region, or no such user)."""
    row = conn.execute("SELECT regions FROM users WHERE id = ?", (user_id,)).fetchone()
    return list(json.loads(row[0])) if row is not None and row[0] else []


def agents_with_scope(conn: sqlite3.Connection) -> list[AgentScope]:
    """Return every enabled user with their routing scope, by display name."""
    rows = conn.execute(
        "SELECT u.id, u.username, u.display_name, u.role, u.status, u.max_chats, u.tier,"
        f" u.skills, u.regions, u.dispatcher, {_GROUPS} AS groups"
        " FROM users u WHERE u.disabled = 0 ORDER BY u.display_name, u.id"
    )
    return [
        AgentScope(
            id=r["id"],
            username=r["username"],
            display_name=r["display_name"],
            role=r["role"],
            status=r["status"],
            max_chats=r["max_chats"],
            tier=r["tier"],
            skills=json.loads(r["skills"]),
            regions=json.loads(r["regions"]),
            groups=sorted(json.loads(r["groups"])),
            dispatcher=bool(r["dispatcher"]),
        )
        for r in rows
    ]


_SCOPE_FIELDS = ("skills", "regions", "tier", "max_chats", "dispatcher")


def is_dispatcher(conn: sqlite3.Connection, user_id: int) -> bool:
    """Tell whether a user may assign tickets to others (调度员)."""
    row = conn.execute("SELECT dispatcher FROM users WHERE id = ?", (user_id,)).fetchone()
    return row is not None and bool(row[0])


def set_scope(conn: sqlite3.Connection, user_id: int, values: dict[str, Any]) -> None:
    """Change some of a user's routing fields (skills and regions as JSON text)."""
    if not values:
        return
    assert set(values) <= set(_SCOPE_FIELDS), "only routing fields"
    sets = ", ".join(f"{k} = ?" for k in values)
    conn.execute(f"UPDATE users SET {sets} WHERE id = ?", (*values.values(), user_id))


def online_agents(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Return the enabled online users as rows of (id, display_name, max_chats, tier,
    skills, regions, last_assigned_at): the router's agents."""
    return conn.execute(
        "SELECT id, display_name, max_chats, tier, skills, regions, last_assigned_at"
        " FROM users WHERE status = 'online' AND disabled = 0"
    ).fetchall()


def can_take(conn: sqlite3.Connection, user_id: int, group_ids: tuple[int, ...]) -> bool:
    """Tell whether a user is online, enabled, below their limit and in one of the groups."""
    member = _MEMBER_OF.format(", ".join("?" * len(group_ids)))
    row = conn.execute(
        "SELECT u.status = 'online' AND u.disabled = 0"
        f" AND {AGENT_LOAD} < u.max_chats AND EXISTS {member}"
        " FROM users u WHERE u.id = ?",
        (*group_ids, user_id),
    ).fetchone()
    return bool(row and row[0])


def taker(conn: sqlite3.Connection, user_id: int, group_id: int | None) -> sqlite3.Row | None:
    """Return what decides whether a user may take a chat of a group by hand: display_name,
    max_chats, disabled, regions, skills, tier, load and member (of the group)."""
    member = _MEMBER_OF.format("?")
    row: sqlite3.Row | None = conn.execute(
        "SELECT u.display_name, u.max_chats, u.disabled, u.regions, u.skills, u.tier,"
        f" {AGENT_LOAD} AS load, EXISTS {member} AS member"
        " FROM users u WHERE u.id = ?",
        (group_id, user_id),
    ).fetchone()
    return row


def insert_session(
    conn: sqlite3.Connection, token_hash: str, user_id: int, csrf: str, now: int, expires: int
) -> None:
    """Store a session, forgetting those expired by now."""
    conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (token_hash, user_id, csrf, now, expires),
    )


def live_session(conn: sqlite3.Connection, token_hash: str, now: int) -> Session | None:
    """Return the unexpired session of an enabled user for a token's hash."""
    row = conn.execute(
        f"SELECT s.csrf_token, s.expires_at, {_COLUMNS_U}"
        " FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
        (token_hash, now),
    ).fetchone()
    return None if row is None else Session(_user(row), row["csrf_token"], row["expires_at"])


def delete_session(conn: sqlite3.Connection, token_hash: str) -> None:
    """Forget a session."""
    conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
