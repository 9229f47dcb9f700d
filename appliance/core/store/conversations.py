"""Store of the conversations, messages, participants, missed_chats tables."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.core import visitor_records
from appliance.core.conversation import Conversation, Message, Person

# An agent's open chats, as a scalar subquery over `users u`.
AGENT_LOAD = (
    "(SELECT count(*) FROM conversations c WHERE c.agent_id = u.id AND c.status = 'active')"
)


_SELECT = (
    "SELECT c.id, c.visitor_id, c.status, c.agent_id, u.display_name AS agent_name,"
    " c.last_seq, c.visitor_name, c.page_url, c.lang, c.visitor_ip, c.created_at,"
    " c.assigned_at, c.closed_at, c.group_id, g.name AS group_name, c.topic, c.region,"
    " coalesce(v.tier, 'new') AS tier, c.expert, c.transfer_pending, c.transfer_group_id, c.skill,"
    " c.queued_at,"
    " c.answered_at,"
    " (SELECT json_group_array(json_array(pu.id, pu.display_name))"
    "    FROM participants p JOIN users pu ON pu.id = p.user_id"
    "   WHERE p.conversation_id = c.id) AS participants,"
    " cr.score AS rating"
    " FROM conversations c LEFT JOIN users u ON u.id = c.agent_id"
    " LEFT JOIN groups g ON g.id = c.group_id LEFT JOIN visitors v ON v.id = c.visitor_id"
    " LEFT JOIN chat_ratings cr ON cr.conversation_id = c.id"
)


_MESSAGE_COLUMNS = (
    "id, conversation_id, seq, client_msg_id, sender_type, sender_id, sender_name,"
    " body, event, created_at, visibility"
)
_ELEVEN = f"({', '.join('?' * 11)})"  # one row of _MESSAGE_COLUMNS


# A message id is its time (ms, hex) then random bytes: rows of `messages` (WITHOUT
# ROWID, keyed by id) are then appended at the end of the table instead of into random
# pages. Random ids cost a commit one dirty page per message; measured 93 -> 61 us a
# message stored with time-ordered ids (64 a commit, 60,000 messages; issue 18).
_MESSAGE_ID_BYTES = 9


def _conversation(row: sqlite3.Row) -> Conversation:
    data = dict(zip(row.keys(), row, strict=True))
    data["expert"] = bool(data["expert"])
    data["transfer_pending"] = bool(data["transfer_pending"])
    data["participants"] = tuple(Person(i, n) for i, n in json.loads(data["participants"]))
    return Conversation(**data)


def _message(row: sqlite3.Row) -> Message:
    return Message(*row)


def _conversations(conn: sqlite3.Connection, where: str, params: Any = ()) -> list[Conversation]:
    return [_conversation(row) for row in conn.execute(f"{_SELECT} WHERE {where}", params)]


def get(conn: sqlite3.Connection, conv_id: str) -> Conversation | None:
    """Return a conversation by id."""
    found = _conversations(conn, "c.id = ?", (conv_id,))
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Head:
    """What a message being posted needs of its conversation (heads: one indexed row
    read; the full conversation, with its joins, costs 5x as much on the writer)."""

    visitor_id: str
    visitor_name: str
    status: str
    agent_id: int | None
    answered_at: int | None
    last_seq: int  # the seq of its last message: the next one is this + 1
    seen: bool  # a message is stored under the client's id already (a resend)


def heads(conn: sqlite3.Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Head]:
    """Return the Head of several (conversation, client message id) pairs in one
    statement and one row (issue 18: each row stepped waits for the GIL again while the
    event loop is busy); pairs whose conversation does not exist are left out."""
    if not keys:
        return {}
    rows = ", ".join(["(?, ?)"] * len(keys))
    row = conn.execute(
        f"WITH k (conv, cmid) AS (VALUES {rows})"
        " SELECT json_group_array(json_array(k.conv, k.cmid, c.visitor_id, c.visitor_name,"
        " c.status, c.agent_id, c.answered_at, c.last_seq, m.id IS NOT NULL))"
        " FROM k JOIN conversations c ON c.id = k.conv"
        " LEFT JOIN messages m ON m.conversation_id = k.conv AND m.client_msg_id = k.cmid",
        [value for key in keys for value in key],
    ).fetchone()
    found = {}
    for conv, cmid, visitor_id, name, status, agent_id, answered_at, last_seq, seen in json.loads(
        row[0]
    ):
        found[(conv, cmid)] = Head(
            visitor_id, name, status, agent_id, answered_at, last_seq, bool(seen)
        )
    return found


def open_of_visitor(conn: sqlite3.Connection, visitor_id: str) -> Conversation | None:
    """Return the visitor's latest conversation that is not closed."""
    found = _conversations(
        conn,
        "c.visitor_id = ? AND c.status != 'closed' ORDER BY c.created_at DESC LIMIT 1",
        (visitor_id,),
    )
    return found[0] if found else None


def last_agent_of(conn: sqlite3.Connection, visitor_id: str) -> int | None:
    """Return the agent of the visitor's latest chat that had one."""
    row = conn.execute(
        "SELECT agent_id FROM conversations WHERE visitor_id = ? AND agent_id IS NOT NULL"
        " ORDER BY created_at DESC LIMIT 1",
        (visitor_id,),
    ).fetchone()
    return None if row is None else int(row[0])


def insert(
    conn: sqlite3.Connection,
    conv_id: str,
    visitor_id: str,
    now: int,
    *,
    name: str,
    page_url: str,
    lang: str,
    ip: str,
    group_id: int | None,
    topic: str,
    region: str,
    skill: str,
    preferred_agent_id: int | None,
) -> None:
    """Queue a new conversation."""
    conn.execute(
        "INSERT INTO conversations (id, visitor_id, status, visitor_name, page_url,"
        " lang, visitor_ip, created_at, queued_at, group_id, topic, region, skill,"
        " preferred_agent_id)"
        " VALUES (?, ?, 'waiting', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            conv_id,
            visitor_id,
            name,
            page_url,
            lang,
            ip,
            now,
            now,
            group_id,
            topic,
            region,
            skill,
            preferred_agent_id,
        ),
    )


def list_waiting(conn: sqlite3.Connection, groups: set[int] | None) -> list[Conversation]:
    """Return the queue and pending transfers (of some groups only), oldest first."""
    where = "(c.status = 'waiting' OR c.transfer_pending = 1)"
    params: list[Any] = []
    if groups is not None:
        marks = ", ".join("?" * len(groups))
        where += (
            " AND CASE WHEN c.transfer_pending = 1 THEN c.transfer_group_id"
            f" ELSE c.group_id END IN ({marks})"
        )
        params.extend(sorted(groups))
    return _conversations(conn, where + " ORDER BY c.queued_at LIMIT 500", params)


def list_active(conn: sqlite3.Connection, agent_id: int) -> list[Conversation]:
    """Return an agent's open conversations and those they were invited into."""
    return _conversations(
        conn,
        "c.status = 'active' AND (c.agent_id = ? OR c.id IN"
        " (SELECT conversation_id FROM participants WHERE user_id = ?)) ORDER BY c.created_at",
        (agent_id, agent_id),
    )


def list_live(conn: sqlite3.Connection, limit: int) -> list[Conversation]:
    """Return every active conversation, oldest first."""
    return _conversations(conn, "c.status = 'active' ORDER BY c.created_at LIMIT ?", (limit,))


def list_closed(
    conn: sqlite3.Connection, before: int, agent_id: int | None, limit: int
) -> list[Conversation]:
    """Return conversations closed before a time, newest first, optionally one agent's."""
    where = "c.status = 'closed' AND c.closed_at < ?"
    params: list[Any] = [before]
    if agent_id is not None:
        where += " AND c.agent_id = ?"
        params.append(agent_id)
    return _conversations(conn, where + " ORDER BY c.closed_at DESC LIMIT ?", [*params, limit])


def unreviewed_closed(
    conn: sqlite3.Connection, agent_id: int, since: int, until: int, limit: int
) -> list[Conversation]:
    """Return up to `limit` random closed chats of an agent offered in [since, until)
    that no quality review has scored yet (the quality review's sample)."""
    reviewed = "(SELECT 1 FROM qa_reviews r WHERE r.conversation_id = c.id)"
    where = (
        "c.status = 'closed' AND c.agent_id = ? AND c.created_at >= ? AND c.created_at < ?"
        f" AND NOT EXISTS {reviewed} ORDER BY random() LIMIT ?"
    )
    return _conversations(conn, where, (agent_id, since, until, limit))


def is_participant(conn: sqlite3.Connection, conv_id: str, user_id: int) -> bool:
    """Tell whether a colleague was invited into a conversation."""
    row = conn.execute(
        "SELECT 1 FROM participants WHERE conversation_id = ? AND user_id = ?", (conv_id, user_id)
    ).fetchone()
    return row is not None


def add_participant(conn: sqlite3.Connection, conv_id: str, user_id: int, now: int) -> None:
    """Invite a colleague into a conversation."""
    conn.execute(
        "INSERT INTO participants (conversation_id, user_id, joined_at) VALUES (?, ?, ?)",
        (conv_id, user_id, now),
    )


def remove_participant(conn: sqlite3.Connection, conv_id: str, user_id: int) -> None:
    """Take a colleague out of a conversation's guests."""
    conn.execute(
        "DELETE FROM participants WHERE conversation_id = ? AND user_id = ?", (conv_id, user_id)
    )


def append_message(
    conn: sqlite3.Connection,
    conv_id: str,
    now: int,
    *,
    sender_type: str,
    sender_id: str = "",
    sender_name: str = "",
    body: str = "",
    event: str | None = None,
    client_msg_id: str | None = None,
    visibility: str = "public",
) -> Message:
    """Give the next sequence number to a new message and store it (chat lines go
    through heads, new_message, insert_messages and set_last_seqs instead)."""
    row = conn.execute(
        "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq",
        (conv_id,),
    ).fetchone()
    assert row is not None, "conversation vanished inside its transaction"
    seq = int(row[0])
    message = new_message(
        conv_id,
        now,
        seq,
        sender_type=sender_type,
        sender_id=sender_id,
        sender_name=sender_name,
        body=body,
        event=event,
        client_msg_id=client_msg_id,
        visibility=visibility,
    )
    insert_messages(conn, [message])
    return message


def new_message(
    conv_id: str,
    now: int,
    seq: int,
    *,
    sender_type: str,
    sender_id: str = "",
    sender_name: str = "",
    body: str = "",
    event: str | None = None,
    client_msg_id: str | None = None,
    visibility: str = "public",
) -> Message:
    """Make a message with a new id (time-ordered: rows are appended), not stored yet."""
    return Message(
        id=f"m_{now:011x}{secrets.token_urlsafe(_MESSAGE_ID_BYTES)}",
        conversation_id=conv_id,
        seq=seq,
        client_msg_id=client_msg_id,
        sender_type=sender_type,
        sender_id=sender_id,
        sender_name=sender_name,
        body=body,
        event=event,
        created_at=now,
        visibility=visibility,
    )


def insert_messages(conn: sqlite3.Connection, messages: Sequence[Message]) -> None:
    """Store messages made by new_message, in one statement (their conversations'
    last_seq is the caller's to set)."""
    if not messages:
        return
    rows = ", ".join([_ELEVEN] * len(messages))
    conn.execute(
        f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES {rows}",
        [
            value
            for m in messages
            for value in (
                m.id,
                m.conversation_id,
                m.seq,
                m.client_msg_id,
                m.sender_type,
                m.sender_id,
                m.sender_name,
                m.body,
                m.event,
                m.created_at,
                m.visibility,
            )
        ],
    )


def set_last_seqs(conn: sqlite3.Connection, last: Mapping[str, int]) -> None:
    """Set the last seq of several conversations, in one statement."""
    if not last:
        return
    rows = ", ".join(["(?, ?)"] * len(last))
    conn.execute(
        f"WITH v (id, seq) AS (VALUES {rows})"
        " UPDATE conversations SET last_seq = v.seq FROM v WHERE conversations.id = v.id",
        [value for item in last.items() for value in item],
    )


def messages_after(
    conn: sqlite3.Connection, conv_id: str, after_seq: int, limit: int, *, staff: bool
) -> list[Message]:
    """Return messages with seq > after_seq, ascending; staff-only ones only for staff."""
    hidden = "" if staff else " AND visibility = 'public'"
    rows = conn.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq > ?{hidden}"
        " ORDER BY seq LIMIT ?",
        (conv_id, after_seq, limit),
    )
    return [_message(row) for row in rows]


def message_by_client_id(
    conn: sqlite3.Connection, conv_id: str, client_msg_id: str
) -> Message | None:
    """Return the message stored under a client's id in a conversation, if any."""
    row = conn.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND client_msg_id = ?",
        (conv_id, client_msg_id),
    ).fetchone()
    return None if row is None else _message(row)


def set_answered(conn: sqlite3.Connection, conv_id: str, now: int) -> None:
    """Record the agent's first answer."""
    conn.execute("UPDATE conversations SET answered_at = ? WHERE id = ?", (now, conv_id))


def close(conn: sqlite3.Connection, conv_id: str, now: int, by: str) -> None:
    """Close a conversation, ending any pending transfer."""
    conn.execute(
        "UPDATE conversations SET status = 'closed', closed_at = ?, closed_by = ?,"
        " transfer_pending = 0, transfer_group_id = NULL WHERE id = ?",
        (now, by, conv_id),
    )


def assign(
    conn: sqlite3.Connection, conv_id: str, agent_id: int, now: int, *, answered: bool
) -> None:
    """Make an agent the owner of a conversation (a guest who takes it is a guest no more)."""
    conn.execute(
        "UPDATE conversations SET status = 'active', agent_id = ?, assigned_at = ?,"
        " first_assigned_at = coalesce(first_assigned_at, ?), answered_at = ?,"
        " group_id = coalesce(transfer_group_id, group_id), transfer_group_id = NULL,"
        " transfer_pending = 0 WHERE id = ?",
        (agent_id, now, now, now if answered else None, conv_id),
    )
    remove_participant(conn, conv_id, agent_id)


def request_transfer(
    conn: sqlite3.Connection, conv_id: str, group_id: int | None, expert: bool, now: int
) -> None:
    """Queue a warm transfer in a group; the current agent keeps the chat meanwhile."""
    conn.execute(
        "UPDATE conversations SET transfer_pending = 1, transfer_group_id = ?,"
        " expert = ?, queued_at = ? WHERE id = ?",
        (group_id, int(expert), now, conv_id),
    )


def cancel_transfer(conn: sqlite3.Connection, conv_id: str) -> None:
    """Withdraw a warm transfer; an expert request ends with it."""
    conn.execute(
        "UPDATE conversations SET transfer_pending = 0, transfer_group_id = NULL,"
        " expert = 0 WHERE id = ?",
        (conv_id,),
    )


def queue_figures(conn: sqlite3.Connection, since: int, now: int) -> dict[int, dict[str, int]]:
    """Return per group: waiting, oldest queued_at, pending transfers, and of the chats
    created since `since` those offered and those given to an agent within target."""
    figures: dict[int, dict[str, int]] = {}
    rows = conn.execute(
        "SELECT c.group_id, total(c.status = 'waiting') AS waiting,"
        " min(CASE WHEN c.status = 'waiting' THEN c.queued_at END) AS oldest,"
        " total(c.created_at > :since"
        "       AND c.first_assigned_at - c.created_at <= g.target_wait * 1000) AS in_time,"
        # Chats still waiting inside their target are not yet late or on time.
        " total(c.created_at > :since AND NOT (c.first_assigned_at IS NULL"
        "       AND c.status = 'waiting' AND :now - c.created_at <= g.target_wait * 1000))"
        "   AS offered"
        " FROM conversations c JOIN groups g ON g.id = c.group_id"
        " WHERE c.status = 'waiting' OR c.created_at > :since GROUP BY c.group_id",
        {"since": since, "now": now},
    )
    for row in rows:
        figures[row["group_id"]] = {
            "waiting": int(row["waiting"]),
            "oldest": row["oldest"] or 0,
            "in_time": int(row["in_time"]),
            "offered": int(row["offered"]),
            "transfers": 0,
        }
    for group_id, count in conn.execute(
        "SELECT transfer_group_id, count(*) FROM conversations"
        " WHERE transfer_pending = 1 AND transfer_group_id IS NOT NULL"
        " GROUP BY transfer_group_id"
    ):
        empty = {"waiting": 0, "oldest": 0, "in_time": 0, "offered": 0, "transfers": 0}
        figures.setdefault(group_id, empty)["transfers"] = count
    return figures


_PAST_CHAT = (
    "SELECT c.id, c.visitor_id, c.status, c.created_at, c.closed_at, c.agent_id,"
    " u.display_name, cr.score FROM conversations c LEFT JOIN users u ON u.id = c.agent_id"
    " LEFT JOIN chat_ratings cr ON cr.conversation_id = c.id"
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
        " u.display_name, cr.score FROM conversations c LEFT JOIN users u ON u.id = c.agent_id"
        " LEFT JOIN chat_ratings cr ON cr.conversation_id = c.id"
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


def count_waiting(conn: sqlite3.Connection) -> int:
    """Return how many conversations wait in a queue now (for /metrics)."""
    row = conn.execute("SELECT count(*) FROM conversations WHERE status = 'waiting'").fetchone()
    return int(row[0])


# -- for the search index (core/search.py) --------------------------------------------

_TEXT = "event IS NULL AND body != '' AND sender_type != 'system'"


def texts_after(
    conn: sqlite3.Connection, conv_id: str, seq: int, limit: int
) -> list[tuple[str, int, str, int]]:
    """Return messages with text after a (conversation, seq) key, in key order:
    (conversation_id, seq, body, created_at)."""
    rows = conn.execute(
        "SELECT conversation_id, seq, body, created_at FROM messages"
        f" WHERE (conversation_id, seq) > (?, ?) AND {_TEXT}"
        " ORDER BY conversation_id, seq LIMIT ?",
        (conv_id, seq, limit),
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def text_of(conn: sqlite3.Connection, conv_id: str, seq: int) -> tuple[str, int] | None:
    """Return a message's text and time, if it has text."""
    row = conn.execute(
        f"SELECT body, created_at FROM messages WHERE conversation_id = ? AND seq = ? AND {_TEXT}",
        (conv_id, seq),
    ).fetchone()
    return None if row is None else (row[0], row[1])
