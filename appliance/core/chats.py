"""Conversations and their messages: per-conversation sequence, idempotent send."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from appliance.core.clock import local_iso, now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, Forbidden, InvalidInput, MessageTooLarge, NotFound
from appliance.core.events import ConversationChanged, EventBus, MessageCreated
from appliance.core.routing_config import Target, resolve
from appliance.core.store import visitors as visitor_store
from appliance.core.visitors import new_id

_CLIENT_ID_MAX = 64
_NAME_MAX = 64
_URL_MAX = 2048
_PAGE_MAX = 200  # messages per read
_TOPIC_MAX = 32
_REGION_MAX = 32
# An agent's open chats, as a scalar subquery over `users u`.
AGENT_LOAD = (
    "(SELECT count(*) FROM conversations c WHERE c.agent_id = u.id AND c.status = 'active')"
)


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation as read from the store."""

    id: str
    visitor_id: str
    status: str
    agent_id: int | None
    agent_name: str | None
    last_seq: int
    visitor_name: str
    page_url: str
    lang: str
    visitor_ip: str
    created_at: int
    assigned_at: int | None
    closed_at: int | None
    group_id: int | None = None
    group_name: str | None = None
    topic: str = ""
    region: str = ""
    tier: str = "new"
    expert: int = 0
    transfer_pending: int = 0
    transfer_group_id: int | None = None
    skill: str = ""
    queued_at: int | None = None
    answered_at: int | None = None
    participants: str = "[]"  # JSON [{"id", "display_name"}] of invited colleagues

    def visible_to(self, user_id: int, groups: frozenset[int] | None) -> bool:
        """Tell whether a console user may see it; groups None means an overseer."""
        return console_may_see(self.public(console=True), user_id, groups)

    def public(self, *, console: bool = False) -> dict[str, Any]:
        """Return the API form; the console form adds what agents may see."""
        data: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "agent": (
                {"id": self.agent_id, "display_name": self.agent_name}
                if self.agent_id is not None
                else None
            ),
            "created_at": local_iso(self.created_at),
            "closed_at": local_iso(self.closed_at),
            "last_seq": self.last_seq,
        }
        if console:
            data["visitor"] = {"id": self.visitor_id, "name": self.visitor_name}
            data["page_url"] = self.page_url
            data["lang"] = self.lang
            data["group"] = (
                {"id": self.group_id, "name": self.group_name} if self.group_id else None
            )
            data["topic"] = self.topic
            data["region"] = self.region
            data["tier"] = self.tier
            data["expert"] = bool(self.expert)
            data["transfer_pending"] = bool(self.transfer_pending)
            data["transfer_group_id"] = self.transfer_group_id
            data["queued_at"] = local_iso(self.queued_at)
            data["answered_at"] = local_iso(self.answered_at)
            data["participants"] = json.loads(self.participants)
        return data


def console_may_see(conv: dict[str, Any], user_id: int, groups: frozenset[int] | None) -> bool:
    """Tell whether a console user may see a conversation, from its console form.

    Overseers (groups None) see all; others their own chats, conferences they are in,
    and what waits in their groups' queues (a warm transfer waits in its target group).
    """
    if groups is None or (conv["agent"] and conv["agent"]["id"] == user_id):
        return True
    if any(p["id"] == user_id for p in conv["participants"]):
        return True
    if conv["status"] == "waiting":
        return conv["group"] is not None and conv["group"]["id"] in groups
    return bool(conv["transfer_pending"]) and conv["transfer_group_id"] in groups


_CONV_SELECT = (
    "SELECT c.id, c.visitor_id, c.status, c.agent_id, u.display_name AS agent_name,"
    " c.last_seq, c.visitor_name, c.page_url, c.lang, c.visitor_ip, c.created_at,"
    " c.assigned_at, c.closed_at, c.group_id, g.name AS group_name, c.topic, c.region,"
    " coalesce(v.tier, 'new') AS tier, c.expert, c.transfer_pending, c.transfer_group_id, c.skill,"
    " c.queued_at,"
    " c.answered_at,"
    " (SELECT json_group_array(json_object('id', pu.id, 'display_name', pu.display_name))"
    "    FROM participants p JOIN users pu ON pu.id = p.user_id"
    "   WHERE p.conversation_id = c.id) AS participants"
    " FROM conversations c LEFT JOIN users u ON u.id = c.agent_id"
    " LEFT JOIN groups g ON g.id = c.group_id LEFT JOIN visitors v ON v.id = c.visitor_id"
)
_MSG_COLUMNS = (
    "id, conversation_id, seq, client_msg_id, sender_type, sender_id, sender_name,"
    " body, event, created_at, visibility"
)


Closed = tuple[Conversation, Conversation, dict[str, Any] | None]  # before, after, event


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(**{key: row[key] for key in row.keys()})  # noqa: SIM118


def message_json(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    """Return the API form of a message row."""
    return {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "seq": row["seq"],
        "client_msg_id": row["client_msg_id"],
        "sender_type": row["sender_type"],
        "sender_name": row["sender_name"],
        "body": row["body"],
        "event": row["event"],
        "created_at": local_iso(row["created_at"]),
        "visibility": row["visibility"],
    }


def _clean_text(value: Any, limit: int, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string")
    text: str = value.strip()
    if len(text) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters")
    return text


def read_conversation(conn: sqlite3.Connection, conv_id: str) -> Conversation | None:
    """Read a conversation inside a write transaction."""
    row = conn.execute(_CONV_SELECT + " WHERE c.id = ?", (conv_id,)).fetchone()
    return _conversation(row) if row else None


def is_participant(conn: sqlite3.Connection, conv_id: str, user_id: int) -> bool:
    """Tell whether a colleague was invited into a conversation (inside a write)."""
    row = conn.execute(
        "SELECT 1 FROM participants WHERE conversation_id = ? AND user_id = ?", (conv_id, user_id)
    ).fetchone()
    return row is not None


def append_message(
    conn: sqlite3.Connection,
    conv_id: str,
    *,
    sender_type: str,
    sender_id: str = "",
    sender_name: str = "",
    body: str = "",
    event: str | None = None,
    client_msg_id: str | None = None,
    visibility: str = "public",
) -> dict[str, Any]:
    """Give the next sequence number to a new message and store it (inside a write)."""
    row = conn.execute(
        "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq",
        (conv_id,),
    ).fetchone()
    assert row is not None, "conversation vanished inside its transaction"
    message = {
        "id": new_id("m_"),
        "conversation_id": conv_id,
        "seq": row[0],
        "client_msg_id": client_msg_id,
        "sender_type": sender_type,
        "sender_id": sender_id,
        "sender_name": sender_name,
        "body": body,
        "event": event,
        "created_at": now_ms(),
        "visibility": visibility,
    }
    conn.execute(
        f"INSERT INTO messages ({_MSG_COLUMNS}) VALUES ({', '.join('?' * 11)})",
        tuple(message[key] for key in _MSG_COLUMNS.split(", ")),
    )
    return message_json(message)


class Chats:
    """The conversation rules shared by the widget and the console."""

    def __init__(self, db: Database, bus: EventBus, *, max_message_bytes: int = 4096) -> None:
        self._db = db
        self._bus = bus
        self.max_message_bytes = max_message_bytes

    def announce_changed(self, conv: Conversation, previous: Conversation | None) -> None:
        """Emit that a conversation was opened or changed, after its commit."""
        self._bus.emit(
            ConversationChanged(
                conversation=conv.public(console=True),
                visitor_id=conv.visitor_id,
                previous_status=previous.status if previous else None,
                previous_agent_id=previous.agent_id if previous else None,
                previous_transfer_pending=bool(previous and previous.transfer_pending),
            )
        )

    def open_in(
        self,
        conn: sqlite3.Connection,
        visitor_id: str,
        *,
        name: str = "",
        page_url: str = "",
        lang: str = "",
        ip: str = "",
        topic: str = "",
        region: str = "",
        group_id: int | None = None,
        preferred_agent_id: int | None = None,
    ) -> tuple[Conversation, bool]:
        """Return the visitor's open conversation or queue a new one (inside a write).

        A group given here (an invitation's) wins over the routing rules; so does a
        preferred agent over the visitor's previous one.
        """
        now = now_ms()
        row = conn.execute(
            "SELECT id FROM conversations WHERE visitor_id = ? AND status != 'closed'"
            " ORDER BY created_at DESC LIMIT 1",
            (visitor_id,),
        ).fetchone()
        if row is not None:
            existing = read_conversation(conn, row[0])
            assert existing is not None
            return existing, False
        visitor_store.upsert(conn, visitor_id, now)
        conv_id = new_id("c_")
        target = resolve(conn, topic, page_url, region)
        if group_id is not None:
            target = Target(group_id, "", "")
        # The agent of the visitor's last chat, for groups that send them back.
        previous = conn.execute(
            "SELECT agent_id FROM conversations WHERE visitor_id = ? AND agent_id IS NOT NULL"
            " ORDER BY created_at DESC LIMIT 1",
            (visitor_id,),
        ).fetchone()
        preferred = preferred_agent_id or (previous[0] if previous else None)
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
                target.group_id,
                target.topic,
                region,
                target.skill,
                preferred,
            ),
        )
        created = read_conversation(conn, conv_id)
        assert created is not None
        return created, True

    async def open(
        self,
        visitor_id: str,
        *,
        name: Any = None,
        page_url: Any = None,
        lang: Any = None,
        ip: str = "",
        topic: Any = None,
        region: Any = None,
    ) -> tuple[Conversation, bool]:
        """Return the visitor's open conversation, or start one in its queue; tell which."""
        visitor_name = _clean_text(name, _NAME_MAX, "name")
        url = _clean_text(page_url, _URL_MAX, "page_url")
        language = _clean_text(lang, 16, "lang")
        topic_key = _clean_text(topic, _TOPIC_MAX, "topic")
        region_name = _clean_text(region, _REGION_MAX, "region")

        def job(conn: sqlite3.Connection) -> tuple[Conversation, bool]:
            return self.open_in(
                conn,
                visitor_id,
                name=visitor_name,
                page_url=url,
                lang=language,
                ip=ip,
                topic=topic_key,
                region=region_name,
            )

        def announce(result: tuple[Conversation, bool]) -> None:
            if result[1]:
                self.announce_changed(result[0], None)

        return await self._db.write(job, on_commit=announce)

    async def get(self, conv_id: str) -> Conversation | None:
        """Return a conversation by id."""
        if not isinstance(conv_id, str) or len(conv_id) > 64:
            return None
        row = await self._db.fetchone(_CONV_SELECT + " WHERE c.id = ?", (conv_id,))
        return _conversation(row) if row else None

    async def get_for_visitor(self, conv_id: str, visitor_id: str) -> Conversation:
        """Return the visitor's own conversation; any other id is simply not found."""
        conv = await self.get(conv_id)
        if conv is None or conv.visitor_id != visitor_id:
            raise NotFound("no such conversation")
        return conv

    async def list_open_for_visitor(self, visitor_id: str) -> Conversation | None:
        """Return the visitor's conversation that is not closed, if any."""
        row = await self._db.fetchone(
            _CONV_SELECT + " WHERE c.visitor_id = ? AND c.status != 'closed'"
            " ORDER BY c.created_at DESC LIMIT 1",
            (visitor_id,),
        )
        return _conversation(row) if row else None

    async def list_waiting(self, groups: set[int] | None = None) -> list[Conversation]:
        """Return the queue and pending transfers (of some groups only, if given), oldest first."""
        sql = _CONV_SELECT + " WHERE (c.status = 'waiting' OR c.transfer_pending = 1)"
        params: list[Any] = []
        if groups is not None:
            marks = ", ".join("?" * len(groups))
            sql += (
                f" AND CASE WHEN c.transfer_pending = 1 THEN c.transfer_group_id"
                f" ELSE c.group_id END IN ({marks})"
            )
            params.extend(sorted(groups))
        rows = await self._db.fetchall(sql + " ORDER BY c.queued_at LIMIT 500", params)
        return [_conversation(row) for row in rows]

    async def list_active(self, agent_id: int) -> list[Conversation]:
        """Return an agent's open conversations and those they were invited into."""
        rows = await self._db.fetchall(
            _CONV_SELECT + " WHERE c.status = 'active' AND (c.agent_id = ? OR c.id IN"
            " (SELECT conversation_id FROM participants WHERE user_id = ?))"
            " ORDER BY c.created_at",
            (agent_id, agent_id),
        )
        return [_conversation(row) for row in rows]

    async def list_live(self, limit: int = 500) -> list[Conversation]:
        """Return every active conversation, oldest first (for supervisors)."""
        rows = await self._db.fetchall(
            _CONV_SELECT + " WHERE c.status = 'active' ORDER BY c.created_at LIMIT ?", (limit,)
        )
        return [_conversation(row) for row in rows]

    async def list_closed(
        self, *, before: int | None = None, agent_id: int | None = None, limit: int = 50
    ) -> list[Conversation]:
        """Return closed conversations, newest first, optionally one agent's."""
        sql = _CONV_SELECT + " WHERE c.status = 'closed' AND c.closed_at < ?"
        params: list[Any] = [before if before is not None else now_ms() + 1]
        if agent_id is not None:
            sql += " AND c.agent_id = ?"
            params.append(agent_id)
        sql += " ORDER BY c.closed_at DESC LIMIT ?"
        params.append(max(1, min(limit, 200)))
        rows = await self._db.fetchall(sql, params)
        return [_conversation(row) for row in rows]

    async def messages_after(
        self, conv_id: str, after_seq: int = 0, limit: int = _PAGE_MAX, *, staff: bool = False
    ) -> list[dict[str, Any]]:
        """Return messages with seq > after_seq, ascending; notes and whispers only to staff."""
        hidden = "" if staff else " AND visibility = 'public'"
        rows = await self._db.fetchall(
            f"SELECT {_MSG_COLUMNS} FROM messages WHERE conversation_id = ? AND seq > ?{hidden}"
            " ORDER BY seq LIMIT ?",
            (conv_id, max(0, after_seq), max(1, min(limit, 1000))),
        )
        return [message_json(row) for row in rows]

    def check_body(self, body: Any) -> str:
        """Validate a message body: a non-empty string within the byte limit."""
        if not isinstance(body, str):
            raise InvalidInput("body must be a string")
        if len(body.encode("utf-8", "surrogatepass")) > self.max_message_bytes:
            raise MessageTooLarge(f"message is longer than {self.max_message_bytes} bytes")
        if not body.strip():
            raise InvalidInput("message is empty")
        return body

    async def post(
        self,
        conv_id: str,
        *,
        sender_type: str,
        sender_id: str,
        sender_name: str,
        client_msg_id: Any,
        body: Any,
    ) -> tuple[dict[str, Any], bool]:
        """Store a message once per client_msg_id; return it and whether it was a repeat."""
        client_msg_id, text = self.check_post(client_msg_id, body)

        def job(conn: sqlite3.Connection) -> tuple[dict[str, Any], bool, str]:
            seen = conn.execute(
                f"SELECT {_MSG_COLUMNS} FROM messages"
                " WHERE conversation_id = ? AND client_msg_id = ?",
                (conv_id, client_msg_id),
            ).fetchone()
            conv = conn.execute(
                "SELECT status, visitor_id, agent_id, answered_at FROM conversations WHERE id = ?",
                (conv_id,),
            ).fetchone()
            if conv is None:
                raise NotFound("no such conversation")
            if seen is not None:
                if seen["sender_type"] != sender_type or seen["sender_id"] != sender_id:
                    raise Conflict("client_msg_id already used")
                return message_json(seen), True, conv["visitor_id"]
            if conv["status"] == "closed":
                raise Conflict("conversation is closed")
            if sender_type == "agent":
                owner = str(conv["agent_id"]) == sender_id
                if not owner and not is_participant(conn, conv_id, int(sender_id)):
                    raise Forbidden("conversation is not assigned to you")
                if owner and conv["answered_at"] is None:
                    conn.execute(
                        "UPDATE conversations SET answered_at = ? WHERE id = ?",
                        (now_ms(), conv_id),
                    )
            message = append_message(
                conn,
                conv_id,
                sender_type=sender_type,
                sender_id=sender_id,
                sender_name=sender_name,
                body=text,
                client_msg_id=client_msg_id,
            )
            return message, False, conv["visitor_id"]

        def announce(result: tuple[dict[str, Any], bool, str]) -> None:
            message, repeat, visitor_id = result
            if not repeat:
                self._bus.emit(MessageCreated(conv_id, visitor_id, message))

        message, repeat, _ = await self._db.write(job, on_commit=announce)
        return message, repeat

    def check_post(self, client_msg_id: Any, body: Any) -> tuple[str, str]:
        """Return a message's client id and body text once they pass the rules."""
        if not isinstance(client_msg_id, str) or not 0 < len(client_msg_id) <= _CLIENT_ID_MAX:
            raise InvalidInput(f"client_msg_id must be 1-{_CLIENT_ID_MAX} characters")
        return client_msg_id, self.check_body(body)

    async def sent(
        self, conv_id: str, sender_type: str, sender_id: str, client_msg_id: str
    ) -> dict[str, Any] | None:
        """Return the message this sender already stored under client_msg_id, if any."""
        row = await self._db.fetchone(
            f"SELECT {_MSG_COLUMNS} FROM messages WHERE conversation_id = ?"
            " AND client_msg_id = ? AND sender_type = ? AND sender_id = ?",
            (conv_id, client_msg_id, sender_type, sender_id),
        )
        return message_json(row) if row is not None else None

    def close_in(self, conn: sqlite3.Connection, conv_id: str, by: str) -> Closed:
        """Close a conversation (inside a write; idempotent): before, after, its event."""
        before = read_conversation(conn, conv_id)
        if before is None:
            raise NotFound("no such conversation")
        if before.status == "closed":
            return before, before, None
        conn.execute(
            "UPDATE conversations SET status = 'closed', closed_at = ?, closed_by = ?,"
            " transfer_pending = 0, transfer_group_id = NULL WHERE id = ?",
            (now_ms(), by, conv_id),
        )
        message = append_message(conn, conv_id, sender_type="system", event="closed")
        after = read_conversation(conn, conv_id)
        assert after is not None
        return before, after, message

    def announce_closed(self, result: Closed) -> None:
        """Emit the events of a close, after its commit."""
        before, after, message = result
        if message is not None:
            self.announce_changed(after, before)
            self._bus.emit(MessageCreated(after.id, after.visitor_id, message))

    async def close(self, conv_id: str, *, by: str) -> Conversation:
        """Close a conversation (idempotent) and record who closed it."""
        result: Closed = await self._db.write(
            lambda conn: self.close_in(conn, conv_id, by), on_commit=self.announce_closed
        )
        return result[1]

    def assign_in(
        self,
        conn: sqlite3.Connection,
        conv: Conversation,
        agent_id: int,
        agent_name: str,
        *,
        event: str = "assigned",
        answered: bool = False,
    ) -> tuple[Conversation, dict[str, Any]]:
        """Give a waiting conversation to an agent (inside a write); return it and the event."""
        now = now_ms()
        conn.execute(
            "UPDATE conversations SET status = 'active', agent_id = ?, assigned_at = ?,"
            " first_assigned_at = coalesce(first_assigned_at, ?), answered_at = ?,"
            " group_id = coalesce(transfer_group_id, group_id), transfer_group_id = NULL,"
            " transfer_pending = 0 WHERE id = ?",
            (agent_id, now, now, now if answered else None, conv.id),
        )
        conn.execute(
            "DELETE FROM participants WHERE conversation_id = ? AND user_id = ?",
            (conv.id, agent_id),
        )
        conn.execute("UPDATE users SET last_assigned_at = ? WHERE id = ?", (now, agent_id))
        message = append_message(
            conn,
            conv.id,
            sender_type="system",
            sender_id=str(agent_id),
            sender_name=agent_name,
            event=event,
        )
        after = read_conversation(conn, conv.id)
        assert after is not None
        return after, message

    def announce_assigned(
        self, before: Conversation, after: Conversation, message: dict[str, Any]
    ) -> None:
        """Emit the events of an assignment, after its commit (the message first, so an
        agent handing over still hears of it before they are unsubscribed)."""
        self._bus.emit(MessageCreated(after.id, after.visitor_id, message))
        self.announce_changed(after, before)
