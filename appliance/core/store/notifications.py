"""Store of the notifications table: what the box told each console user, and what
they have read."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

KEEP = 200  # notifications kept per user; older ones go as new ones arrive

# The ticket's number and subject are the ticket's own (a JOIN), so a list shows the
# subject as it is now.
_COLUMNS = (
    "n.id, n.user_id, n.at, n.kind, n.ticket_id, n.seq, n.data, n.read_at,"
    " coalesce(t.number, '') AS number, coalesce(t.subject, '') AS subject"
)
_FROM = "FROM notifications n LEFT JOIN tickets t ON t.id = n.ticket_id"


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification of one user; times in UTC ms, `data` as the kind has it."""

    id: int
    user_id: int
    at: int
    kind: str
    ticket_id: int | None
    seq: int | None
    data: Mapping[str, Any]
    read_at: int | None
    ticket_number: str = ""
    ticket_subject: str = ""


def _notice(row: sqlite3.Row) -> Notice:
    return Notice(
        id=row["id"],
        user_id=row["user_id"],
        at=row["at"],
        kind=row["kind"],
        ticket_id=row["ticket_id"],
        seq=row["seq"],
        data=json.loads(row["data"]),
        read_at=row["read_at"],
        ticket_number=row["number"],
        ticket_subject=row["subject"],
    )


def add(
    conn: sqlite3.Connection,
    user_ids: Collection[int],
    *,
    at: int,
    kind: str,
    ticket_id: int | None,
    seq: int | None,
    data: Mapping[str, Any],
) -> int:
    """Give each user the same notification, keep each one's newest KEEP; return the
    last id given (0 when nobody was given one)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    last = 0
    for user_id in user_ids:
        cursor = conn.execute(
            "INSERT INTO notifications (user_id, at, kind, ticket_id, seq, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, at, kind, ticket_id, seq, text),
        )
        last = max(last, int(cursor.lastrowid or 0))
        conn.execute(
            "DELETE FROM notifications WHERE user_id = ? AND id < ("
            "SELECT id FROM notifications WHERE user_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (user_id, user_id, KEEP - 1),
        )
    return last


def page(conn: sqlite3.Connection, user_id: int, before: int | None, limit: int) -> list[Notice]:
    """Return a user's notifications, newest first, older than id `before` if given."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE n.user_id = ? AND n.id < ? ORDER BY n.id DESC LIMIT ?",
        (user_id, before if before is not None else 2**63 - 1, limit),
    )
    return [_notice(r) for r in rows]


def unread(conn: sqlite3.Connection, user_id: int) -> int:
    """Return how many of a user's notifications are unread."""
    row = conn.execute(
        "SELECT count(*) FROM notifications WHERE user_id = ? AND read_at IS NULL", (user_id,)
    ).fetchone()
    return int(row[0])


def mark_read(
    conn: sqlite3.Connection,
    user_id: int,
    at: int,
    *,
    up_to: int | None = None,
    ids: Collection[int] = (),
) -> int:
    """Mark a user's unread notifications read: those up to id `up_to`, or those named;
    return how many changed."""
    if up_to is not None:
        cursor = conn.execute(
            "UPDATE notifications SET read_at = ?"
            " WHERE user_id = ? AND id <= ? AND read_at IS NULL",
            (at, user_id, up_to),
        )
        return cursor.rowcount
    changed = 0
    for notice_id in ids:
        cursor = conn.execute(
            "UPDATE notifications SET read_at = ? WHERE user_id = ? AND id = ? AND read_at IS NULL",
            (at, user_id, notice_id),
        )
        changed += cursor.rowcount
    return changed


def after(conn: sqlite3.Connection, last_id: int, limit: int) -> list[Notice]:
    """Return every user's notifications with an id above `last_id`, oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE n.id > ? ORDER BY n.id LIMIT ?", (last_id, limit)
    )
    return [_notice(r) for r in rows]


def newest_id(conn: sqlite3.Connection) -> int:
    """Return the highest id given so far (0 for none)."""
    row = conn.execute("SELECT max(id) FROM notifications").fetchone()
    return int(row[0] or 0)
