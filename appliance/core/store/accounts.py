"""Store of the users, sessions tables."""

from __future__ import annotations

import sqlite3

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
