"""Store of the work_items table: messages and call-back requests visitors leave."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal

Kind = Literal["message", "callback"]
Status = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A left message or call-back request; times in UTC milliseconds."""

    id: str
    kind: Kind
    visitor_id: str
    conversation_id: str | None
    group_id: int | None
    name: str
    contact: str
    preferred_time: str
    body: str
    status: Status
    created_at: int
    closed_at: int | None
    closed_by: int | None


_COLUMNS = (
    "id, kind, visitor_id, conversation_id, group_id, name, contact, preferred_time, body,"
    " status, created_at, closed_at, closed_by"
)


def _item(row: sqlite3.Row) -> WorkItem:
    return WorkItem(*row)


def insert(
    conn: sqlite3.Connection,
    item_id: str,
    fields: dict[str, str],
    visitor_id: str,
    conversation_id: str | None,
    group_id: int | None,
    now: int,
) -> WorkItem:
    """Store a new open work item (fields: kind, name, contact, preferred_time, body)."""
    row = conn.execute(
        "INSERT INTO work_items (id, kind, visitor_id, conversation_id, group_id, name,"
        " contact, preferred_time, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        f" RETURNING {_COLUMNS}",
        (
            item_id,
            fields["kind"],
            visitor_id,
            conversation_id,
            group_id,
            fields["name"],
            fields["contact"],
            fields["preferred_time"],
            fields["body"],
            now,
        ),
    ).fetchone()
    return _item(row)


def by_status(conn: sqlite3.Connection, status: str, limit: int) -> list[WorkItem]:
    """Return work items of a status: open ones oldest first, closed ones newest first."""
    direction = "ASC" if status == "open" else "DESC"
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM work_items WHERE status = ?"
        f" ORDER BY created_at {direction} LIMIT ?",
        (status, limit),
    )
    return [_item(r) for r in rows]


def close(conn: sqlite3.Connection, item_id: str, user_id: int, now: int) -> WorkItem | None:
    """Close an open work item; return it, or None when it is not open (or not there)."""
    row = conn.execute(
        "UPDATE work_items SET status = 'closed', closed_at = ?, closed_by = ?"
        f" WHERE id = ? AND status = 'open' RETURNING {_COLUMNS}",
        (now, user_id, item_id),
    ).fetchone()
    return None if row is None else _item(row)


def exists(conn: sqlite3.Connection, item_id: str) -> bool:
    """Tell whether a work item of this id exists."""
    return conn.execute("SELECT 1 FROM work_items WHERE id = ?", (item_id,)).fetchone() is not None


def forget_group(conn: sqlite3.Connection, group_id: int) -> None:
    """Detach work items from a group about to be deleted."""
    conn.execute("UPDATE work_items SET group_id = NULL WHERE group_id = ?", (group_id,))
