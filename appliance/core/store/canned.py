"""Store of the canned_answers table: personal and shared prepared texts."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Answer:
    """A canned answer; `shared` when it is the team's, not one user's."""

    id: int
    shortcut: str
    title: str
    body: str
    shared: bool


_COLUMNS = "id, owner_id, shortcut, title, body"


def _answer(row: sqlite3.Row) -> Answer:
    return Answer(row["id"], row["shortcut"], row["title"], row["body"], row["owner_id"] is None)


def visible_to(conn: sqlite3.Connection, user_id: int) -> list[Answer]:
    """Return a user's own answers and the shared ones, by shortcut (own first)."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM canned_answers"
        " WHERE owner_id = ? OR owner_id IS NULL ORDER BY shortcut, owner_id IS NULL",
        (user_id,),
    )
    return [_answer(r) for r in rows]


def count(conn: sqlite3.Connection, owner_id: int | None) -> int:
    """Return how many answers an owner has (None: the shared ones)."""
    row = conn.execute("SELECT count(*) FROM canned_answers WHERE owner_id IS ?", (owner_id,))
    return int(row.fetchone()[0])


def insert(
    conn: sqlite3.Connection, owner_id: int | None, shortcut: str, title: str, body: str, now: int
) -> Answer:
    """Store an answer; raise sqlite3.IntegrityError when the owner has the shortcut."""
    row = conn.execute(
        "INSERT INTO canned_answers (owner_id, shortcut, title, body, created_at)"
        f" VALUES (?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
        (owner_id, shortcut, title, body, now),
    ).fetchone()
    return _answer(row)


def owner(conn: sqlite3.Connection, answer_id: int) -> tuple[bool, int | None]:
    """Return whether an answer exists and its owner (None: shared)."""
    row = conn.execute("SELECT owner_id FROM canned_answers WHERE id = ?", (answer_id,)).fetchone()
    return (False, None) if row is None else (True, row[0])


def delete(conn: sqlite3.Connection, answer_id: int) -> None:
    """Delete an answer."""
    conn.execute("DELETE FROM canned_answers WHERE id = ?", (answer_id,))
