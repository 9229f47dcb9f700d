"""Store of the conversations, messages, participants, missed_chats tables."""

from __future__ import annotations

import sqlite3

from appliance.core import visitor_records

# -- a visitor's chats, as visitor insight shows them ---------------------------------

_PAST_CHAT = (
    "SELECT c.id, c.visitor_id, c.status, c.created_at, c.closed_at, c.agent_id,"
    " u.display_name FROM conversations c LEFT JOIN users u ON u.id = c.agent_id"
)


def chats_of_visitor(
    conn: sqlite3.Connection, visitor_id: str, limit: int
) -> list[visitor_records.PastChat]:
    """Return a visitor's latest conversations, newest first."""
    rows = conn.execute(
        _PAST_CHAT + " WHERE c.visitor_id = ? ORDER BY c.created_at DESC LIMIT ?",
        (visitor_id, limit),
    )
    return [visitor_records.PastChat(*r) for r in rows]


def chats_of_customer(
    conn: sqlite3.Connection, customer_id: int, limit: int
) -> list[visitor_records.PastChat]:
    """Return the latest conversations of every visitor (device) of a customer."""
    rows = conn.execute(
        "SELECT c.id, c.visitor_id, c.status, c.created_at, c.closed_at, c.agent_id,"
        " u.display_name FROM conversations c LEFT JOIN users u ON u.id = c.agent_id"
        " WHERE c.visitor_id IN (SELECT id FROM visitors WHERE customer_id = ?)"
        " ORDER BY c.created_at DESC LIMIT ?",
        (customer_id, limit),
    )
    return [visitor_records.PastChat(*r) for r in rows]


def open_chat_of(conn: sqlite3.Connection, visitor_id: str) -> str | None:
    """Return the id of a visitor's open (not closed) conversation, the latest."""
    row = conn.execute(
        "SELECT id FROM conversations WHERE visitor_id = ? AND status != 'closed'"
        " ORDER BY created_at DESC LIMIT 1",
        (visitor_id,),
    ).fetchone()
    return str(row[0]) if row is not None else None


def served_by(conn: sqlite3.Connection, visitor_id: str, user_id: int) -> bool:
    """Tell whether a user has (had) a chat with the visitor, as agent or invited."""
    row = conn.execute(
        "SELECT 1 FROM conversations c WHERE c.visitor_id = ? AND (c.agent_id = ? OR"
        " EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = c.id"
        " AND p.user_id = ?)) LIMIT 1",
        (visitor_id, user_id, user_id),
    ).fetchone()
    return row is not None
