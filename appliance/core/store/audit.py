"""Store of the admin_audit table: the append-only record of administrators' actions."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    """One recorded action; `at` in UTC ms, `detail` as stored JSON text."""

    id: int
    at: int
    user_id: int | None
    user_name: str
    address: str
    action: str
    target: str
    detail: str


@dataclass(frozen=True, slots=True)
class Filter:
    """Which entries to read: every field empty or None means "any"."""

    action: str = ""  # an exact code, or a family ending in "." ("user.")
    user: str = ""  # the user's name as recorded (case-insensitive)
    since: int | None = None  # UTC ms, inclusive
    until: int | None = None  # UTC ms, exclusive
    before: int | None = None  # ids below this one (the next page, newest first)


_COLUMNS = "id, at, user_id, user_name, address, action, target, detail"


def insert(
    conn: sqlite3.Connection,
    at: int,
    user_id: int | None,
    user_name: str,
    address: str,
    action: str,
    target: str,
    detail: str,
) -> int:
    """Append one entry; return its id."""
    cursor = conn.execute(
        "INSERT INTO admin_audit (at, user_id, user_name, address, action, target, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (at, user_id, user_name, address, action, target, detail),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _where(where: Filter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if where.action.endswith("."):
        # Codes hold only a-z, 0-9, _ and dots (core/audit.py), so GLOB needs no escaping.
        clauses.append("action GLOB ?")
        params.append(where.action + "*")
    elif where.action:
        clauses.append("action = ?")
        params.append(where.action)
    if where.user:
        clauses.append("user_name = ? COLLATE NOCASE")
        params.append(where.user)
    if where.since is not None:
        clauses.append("at >= ?")
        params.append(where.since)
    if where.until is not None:
        clauses.append("at < ?")
        params.append(where.until)
    if where.before is not None:
        clauses.append("id < ?")
        params.append(where.before)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def newest_first(conn: sqlite3.Connection, where: Filter, limit: int) -> list[Entry]:
    """Return up to `limit` entries that match, the newest first."""
    clause, params = _where(where)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM admin_audit{clause} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    )
    return [Entry(*row) for row in rows]


def actions(conn: sqlite3.Connection) -> list[str]:
    """Return every action code recorded so far, in order."""
    return [row[0] for row in conn.execute("SELECT DISTINCT action FROM admin_audit ORDER BY 1")]


def user_names(conn: sqlite3.Connection) -> list[str]:
    """Return every user name recorded so far, in order."""
    rows = conn.execute(
        "SELECT DISTINCT user_name FROM admin_audit WHERE user_name != '' ORDER BY 1"
    )
    return [row[0] for row in rows]
