"""Store of the read_marks table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

# A conversation's marks: (visitor_seq, agent_seq).
Marks = tuple[int, int]


def get(conn: sqlite3.Connection, conv_id: str) -> Marks:
    """Return how far the visitor and the agents have read a conversation (0: nothing)."""
    row = conn.execute(
        "SELECT visitor_seq, agent_seq FROM read_marks WHERE conversation_id = ?", (conv_id,)
    ).fetchone()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def advance(conn: sqlite3.Connection, rows: Iterable[tuple[str, int, int]]) -> None:
    """Store marks (conversation id, visitor_seq, agent_seq); a mark never moves back."""
    conn.executemany(
        "INSERT INTO read_marks (conversation_id, visitor_seq, agent_seq) VALUES (?, ?, ?)"
        " ON CONFLICT (conversation_id) DO UPDATE SET"
        " visitor_seq = max(visitor_seq, excluded.visitor_seq),"
        " agent_seq = max(agent_seq, excluded.agent_seq)",
        list(rows),
    )
