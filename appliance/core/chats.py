"""Conversations and their messages: per-conversation sequence, idempotent send."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from appliance.core.clock import local_iso, now_ms
from appliance.core.db import Database
from appliance.core.events import ConversationChanged, EventBus, MessageCreated
from appliance.core.visitors import new_id

_CLIENT_ID_MAX = 64
_NAME_MAX = 64
_URL_MAX = 2048
_PAGE_MAX = 200  # messages per read


class ChatError(Exception):
    """A request the chat rules refuse; `code` and `status` are part of the API."""

    code = "bad_request"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ChatError):
    code, status = "not_found", 404


class Forbidden(ChatError):
    code, status = "forbidden", 403


class Conflict(ChatError):
    code, status = "conflict", 409


class MessageTooLarge(ChatError):
    code, status = "message_too_large", 413


class InvalidInput(ChatError):
    code, status = "invalid", 422


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
        return data


_CONV_SELECT = (
    "SELECT c.id, c.visitor_id, c.status, c.agent_id, u.display_name AS agent_name,"
    " c.last_seq, c.visitor_name, c.page_url, c.lang, c.visitor_ip, c.created_at,"
    " c.assigned_at, c.closed_at FROM conversations c LEFT JOIN users u ON u.id = c.agent_id"
)
_MSG_COLUMNS = (
    "id, conversation_id, seq, client_msg_id, sender_type, sender_id, sender_name,"
    " body, event, created_at"
)


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
    }
    conn.execute(
        f"INSERT INTO messages ({_MSG_COLUMNS}) VALUES ({', '.join('?' * 10)})",
        tuple(message[key] for key in _MSG_COLUMNS.split(", ")),
    )
    return message_json(message)


class Chats:
    """The conversation rules shared by the widget and the console."""

    def __init__(self, db: Database, bus: EventBus, *, max_message_bytes: int = 4096) -> None:
        self._db = db
        self._bus = bus
        self.max_message_bytes = max_message_bytes

    def _changed(self, conv: Conversation, previous: Conversation | None) -> None:
        self._bus.emit(
            ConversationChanged(
                conversation=conv.public(console=True),
                visitor_id=conv.visitor_id,
                previous_status=previous.status if previous else None,
                previous_agent_id=previous.agent_id if previous else None,
            )
        )

    async def open(
        self,
        visitor_id: str,
        *,
        name: Any = None,
        page_url: Any = None,
        lang: Any = None,
        ip: str = "",
    ) -> tuple[Conversation, bool]:
        """Return the visitor's open conversation, or start one; tell which."""
        visitor_name = _clean_text(name, _NAME_MAX, "name")
        url = _clean_text(page_url, _URL_MAX, "page_url")
        language = _clean_text(lang, 16, "lang")
        now = now_ms()

        def job(conn: sqlite3.Connection) -> tuple[Conversation, bool]:
            row = conn.execute(
                "SELECT id FROM conversations WHERE visitor_id = ? AND status != 'closed'"
                " ORDER BY created_at DESC LIMIT 1",
                (visitor_id,),
            ).fetchone()
            if row is not None:
                existing = read_conversation(conn, row[0])
                assert existing is not None
                return existing, False
            # The visitor row may predate a restore; the token alone proves the id.
            conn.execute(
                "INSERT INTO visitors (id, created_at, last_seen_at) VALUES (?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at",
                (visitor_id, now, now),
            )
            conv_id = new_id("c_")
            conn.execute(
                "INSERT INTO conversations (id, visitor_id, status, visitor_name, page_url,"
                " lang, visitor_ip, created_at) VALUES (?, ?, 'waiting', ?, ?, ?, ?, ?)",
                (conv_id, visitor_id, visitor_name, url, language, ip, now),
            )
            created = read_conversation(conn, conv_id)
            assert created is not None
            return created, True

        def announce(result: tuple[Conversation, bool]) -> None:
            if result[1]:
                self._changed(result[0], None)

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

    async def list_waiting(self) -> list[Conversation]:
        """Return the queue, oldest first."""
        rows = await self._db.fetchall(
            _CONV_SELECT + " WHERE c.status = 'waiting' ORDER BY c.created_at LIMIT 500"
        )
        return [_conversation(row) for row in rows]

    async def list_active(self, agent_id: int) -> list[Conversation]:
        """Return an agent's open conversations, oldest first."""
        rows = await self._db.fetchall(
            _CONV_SELECT + " WHERE c.agent_id = ? AND c.status = 'active' ORDER BY c.created_at",
            (agent_id,),
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
        self, conv_id: str, after_seq: int = 0, limit: int = _PAGE_MAX
    ) -> list[dict[str, Any]]:
        """Return messages with seq > after_seq, ascending, at most `limit`."""
        rows = await self._db.fetchall(
            f"SELECT {_MSG_COLUMNS} FROM messages WHERE conversation_id = ? AND seq > ?"
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
        if not isinstance(client_msg_id, str) or not 0 < len(client_msg_id) <= _CLIENT_ID_MAX:
            raise InvalidInput(f"client_msg_id must be 1-{_CLIENT_ID_MAX} characters")
        text = self.check_body(body)

        def job(conn: sqlite3.Connection) -> tuple[dict[str, Any], bool, str]:
            seen = conn.execute(
                f"SELECT {_MSG_COLUMNS} FROM messages"
                " WHERE conversation_id = ? AND client_msg_id = ?",
                (conv_id, client_msg_id),
            ).fetchone()
            conv = conn.execute(
                "SELECT status, visitor_id, agent_id FROM conversations WHERE id = ?",
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
            if sender_type == "agent" and str(conv["agent_id"]) != sender_id:
                raise Forbidden("conversation is not assigned to you")
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

    async def close(self, conv_id: str, *, by: str) -> Conversation:
        """Close a conversation (idempotent) and record who closed it."""

        def job(
            conn: sqlite3.Connection,
        ) -> tuple[Conversation, Conversation, dict[str, Any] | None]:
            before = read_conversation(conn, conv_id)
            if before is None:
                raise NotFound("no such conversation")
            if before.status == "closed":
                return before, before, None
            conn.execute(
                "UPDATE conversations SET status = 'closed', closed_at = ?, closed_by = ?"
                " WHERE id = ?",
                (now_ms(), by, conv_id),
            )
            message = append_message(conn, conv_id, sender_type="system", event="closed")
            after = read_conversation(conn, conv_id)
            assert after is not None
            return before, after, message

        def announce(
            result: tuple[Conversation, Conversation, dict[str, Any] | None],
        ) -> None:
            before, after, message = result
            if message is not None:
                self._changed(after, before)
                self._bus.emit(MessageCreated(conv_id, after.visitor_id, message))

        _, after, _ = await self._db.write(job, on_commit=announce)
        return after

    def assign_in(
        self, conn: sqlite3.Connection, conv: Conversation, agent_id: int, agent_name: str
    ) -> tuple[Conversation, dict[str, Any]]:
        """Give a waiting conversation to an agent (inside a write); return it and the event."""
        now = now_ms()
        conn.execute(
            "UPDATE conversations SET status = 'active', agent_id = ?, assigned_at = ?"
            " WHERE id = ?",
            (agent_id, now, conv.id),
        )
        conn.execute("UPDATE users SET last_assigned_at = ? WHERE id = ?", (now, agent_id))
        message = append_message(
            conn,
            conv.id,
            sender_type="system",
            sender_id=str(agent_id),
            sender_name=agent_name,
            event="assigned",
        )
        after = read_conversation(conn, conv.id)
        assert after is not None
        return after, message

    def announce_assigned(
        self, before: Conversation, after: Conversation, message: dict[str, Any]
    ) -> None:
        """Emit the events of an assignment, after its commit."""
        self._changed(after, before)
        self._bus.emit(MessageCreated(after.id, after.visitor_id, message))
