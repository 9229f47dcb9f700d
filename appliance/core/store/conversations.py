"""Store of the conversations, messages, participants, missed_chats tables."""

from __future__ import annotations

import sqlite3


def move_out_of_group(conn: sqlite3.Connection, group_id: int, home: int) -> None:
    """Before a group is deleted: its open conversations and pending transfers go to the
    home group; its closed ones keep no group."""
    conn.execute(
        "UPDATE conversations SET group_id = ? WHERE group_id = ? AND status != 'closed'",
        (home, group_id),
    )
    conn.execute("UPDATE conversations SET group_id = NULL WHERE group_id = ?", (group_id,))
    conn.execute(
        "UPDATE conversations SET transfer_group_id = ? WHERE transfer_group_id = ?",
        (home, group_id),
    )


def agent_loads(conn: sqlite3.Connection) -> dict[int, int]:
    """Return each agent's number of active conversations (agents with none left out)."""
    rows = conn.execute(
        "SELECT agent_id, count(*) FROM conversations"
        " WHERE status = 'active' AND agent_id IS NOT NULL GROUP BY agent_id"
    )
    return {r[0]: r[1] for r in rows}


def queue_rows(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Return the conversations the router places: waiting, or with a transfer pending.
    Each row: id, the group it queues in, queued_at, topic, region, skill, expert,
    preferred_agent_id, transfer_pending, agent_id, and the visitor's tier."""
    return conn.execute(
        "SELECT c.id, CASE WHEN c.transfer_pending = 1"
        " THEN coalesce(c.transfer_group_id, c.group_id) ELSE c.group_id END,"
        " c.queued_at, c.topic, c.region, c.skill, c.expert,"
        " c.preferred_agent_id, c.transfer_pending, c.agent_id, coalesce(v.tier, 'new')"
        " FROM conversations c LEFT JOIN visitors v ON v.id = c.visitor_id"
        " WHERE c.status = 'waiting' OR c.transfer_pending = 1"
    ).fetchall()


def unanswered(conn: sqlite3.Connection, now: int) -> list[tuple[str, int, str]]:
    """Return (conversation id, agent id, agent name) of the active chats whose agent let
    the answer timeout of the chat's group pass without a reply."""
    rows = conn.execute(
        "SELECT c.id, c.agent_id, u.display_name FROM conversations c"
        " JOIN groups g ON g.id = c.group_id JOIN users u ON u.id = c.agent_id"
        " WHERE c.status = 'active' AND c.answered_at IS NULL AND c.transfer_pending = 0"
        " AND c.assigned_at < :now - g.answer_timeout * 1000"
        # The clock runs from when the visitor has said something: an agent is not
        # rung out for a silent visitor, only for one left without an answer.
        " AND (SELECT min(m.created_at) FROM messages m WHERE m.conversation_id = c.id"
        "      AND m.sender_type = 'visitor') < :now - g.answer_timeout * 1000",
        {"now": now},
    )
    return [(r[0], r[1], r[2]) for r in rows]


def requeue_missed(conn: sqlite3.Connection, conv_id: str, agent_id: int, now: int) -> None:
    """Record that an agent let a chat ring out and put the chat back in its queue."""
    conn.execute(
        "INSERT INTO missed_chats (conversation_id, user_id, at) VALUES (?, ?, ?)",
        (conv_id, agent_id, now),
    )
    conn.execute(
        "UPDATE conversations SET status = 'waiting', agent_id = NULL,"
        " assigned_at = NULL WHERE id = ?",
        (conv_id,),
    )


def missed_since(conn: sqlite3.Connection, since: int) -> list[tuple[str, int]]:
    """Return (conversation id, user id) of the chats let ring out since a time (ms)."""
    rows = conn.execute("SELECT conversation_id, user_id FROM missed_chats WHERE at > ?", (since,))
    return [(r[0], r[1]) for r in rows]


def handle_time(conn: sqlite3.Connection, group_id: int, sample: int) -> tuple[float | None, int]:
    """Return the mean handling time (ms, assigned to closed) of a group's last `sample`
    closed chats, and how many there were."""
    row = conn.execute(
        "SELECT avg(closed_at - assigned_at), count(*) FROM (SELECT closed_at,"
        " assigned_at FROM conversations WHERE group_id = ? AND status = 'closed'"
        " AND assigned_at IS NOT NULL ORDER BY closed_at DESC LIMIT ?)",
        (group_id, sample),
    ).fetchone()
    return row[0], row[1]
