"""Store of the work_items table: messages and call-back requests visitors left before
tickets existed. Nothing new is written here; each row is carried into a ticket once
(core/tickets.py `carry_over`) and notes which."""

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


def uncarried(conn: sqlite3.Connection, limit: int) -> list[WorkItem]:
    """The oldest work items not yet carried into a ticket."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM work_items WHERE ticket_id IS NULL"
        " ORDER BY created_at, id LIMIT ?",
        (limit,),
    )
    return [WorkItem(*r) for r in rows]


def count_uncarried(conn: sqlite3.Connection) -> int:
    """How many work items wait to be carried into tickets."""
    return int(
        conn.execute("SELECT count(*) FROM work_items WHERE ticket_id IS NULL").fetchone()[0]
    )


def carried(conn: sqlite3.Connection, item_id: str, ticket_id: int) -> None:
    """Note the ticket a work item became."""
    conn.execute("UPDATE work_items SET ticket_id = ? WHERE id = ?", (ticket_id, item_id))


def forget_group(conn: sqlite3.Connection, group_id: int) -> None:
    """Detach work items from a group about to be deleted."""
    conn.execute("UPDATE work_items SET group_id = NULL WHERE group_id = ?", (group_id,))
