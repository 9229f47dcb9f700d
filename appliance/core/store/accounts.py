"""Store of the users, sessions tables."""

from __future__ import annotations

import sqlite3

# -- agents an invitation may go to ---------------------------------------------------

# An agent's open chats (as chats.AGENT_LOAD counts them), over `users u`.
_LOAD = "(SELECT count(*) FROM conversations c WHERE c.agent_id = u.id AND c.status = 'active')"


def free_agent(conn: sqlite3.Connection, user_id: int) -> tuple[int, str] | None:
    """Return (id, name) of a user who is online, enabled and under their chat limit."""
    row = conn.execute(
        "SELECT u.id, u.display_name FROM users u WHERE u.id = ? AND u.status = 'online'"
        f" AND u.disabled = 0 AND u.max_chats > {_LOAD}",
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
        f" WHERE u.status = 'online' AND u.disabled = 0 AND u.max_chats > {_LOAD}"
    ).fetchall()
    return {r[0] for r in rows}
