"""Conversations and their messages: per-conversation sequence, idempotent send.

Who acts is a typed actor (core.actors): a visitor reads, writes and closes only their
own conversations, an agent writes only into one they own or were invited into. These
rules live here, so no handler or socket can skip them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

from appliance.core import emoji
from appliance.core.actors import Actor, Staff, Visitor
from appliance.core.chat_lines import NOT_FOUND as _NOT_FOUND
from appliance.core.chat_lines import Post, as_new, post_lines, sender_of, with_file
from appliance.core.clock import now_ms
from appliance.core.conversation import Conversation, Message, console_may_see
from appliance.core.db import Database
from appliance.core.errors import (
    ChatError,
    InvalidInput,
    MessageTooLarge,
    NotFound,
)
from appliance.core.events import ConversationChanged, EventBus, MessageCreated
from appliance.core.routing_config import Target, resolve
from appliance.core.store import accounts as account_store
from appliance.core.store import conversations as store
from appliance.core.store import files as file_store
from appliance.core.store import visitors as visitor_store
from appliance.core.visitors import new_id

__all__ = [
    "Chats",
    "Closed",
    "Conversation",
    "Message",
    "append_message",
    "console_may_see",
    "is_participant",
    "read_conversation",
]

_CLIENT_ID_MAX = 64
_NAME_MAX = 64
_URL_MAX = 2048
_PAGE_MAX = 200  # messages per read
_TOPIC_MAX = 32
_REGION_MAX = 32
_CLOSED_PAGE_MAX = 200

read_conversation = store.get  # a conversation, inside a write
is_participant = store.is_participant  # whether a colleague was invited in, inside a write

Closed = tuple[Conversation, Conversation, Message | None]  # before, after, event


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
) -> Message:
    """Give the next sequence number to a new message and store it (inside a write)."""
    return store.append_message(
        conn,
        conv_id,
        now_ms(),
        sender_type=sender_type,
        sender_id=sender_id,
        sender_name=sender_name,
        body=body,
        event=event,
        client_msg_id=client_msg_id,
        visibility=visibility,
    )


def _with_files(conn: sqlite3.Connection, conv_id: str, page: list[Message]) -> list[Message]:
    """Give the messages of a page the files they carry (one range read)."""
    if not page:
        return page
    found = file_store.in_range(conn, conv_id, page[0].seq, page[-1].seq)
    if not found:
        return page
    return [replace(m, file=found[m.seq]) if m.seq in found else m for m in page]


def _clean_text(value: Any, limit: int, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string")
    text: str = value.strip()
    if len(text) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters")
    return text


def _own(conv: Conversation | None, actor: Actor) -> Conversation:
    """Return the conversation if the actor may see it: a visitor their own, a console
    user what their scope shows (`Conversation.visible_to`). Anything else is simply not
    found, as a conversation that does not exist."""
    if conv is None:
        raise NotFound(_NOT_FOUND)
    if isinstance(actor, Visitor):
        if conv.visitor_id != actor.id:
            raise NotFound(_NOT_FOUND)
    elif not conv.visible_to(actor.id, actor.queues):
        raise NotFound(_NOT_FOUND)
    return conv


class Chats:
    """The conversation rules shared by the widget and the console."""

    # What the lines of one batch are stored with (db.write many=): one call for all,
    # run by the writer's helper process when there is one (core/db_helper.py).
    # post_in always runs post_lines itself, whatever replaces this one.
    post_many = staticmethod(post_lines)

    def __init__(self, db: Database, bus: EventBus, *, max_message_bytes: int = 4096) -> None:
        self._db = db
        self._bus = bus
        self.max_message_bytes = max_message_bytes
        db.send_away(self.post_many, after_loss=as_new)

    def announce_changed(self, conv: Conversation, previous: Conversation | None) -> None:
        """Emit that a conversation was opened or changed, after its commit."""
        self._bus.emit(
            ConversationChanged(
                conversation=conv,
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
        existing = store.open_of_visitor(conn, visitor_id)
        if existing is not None:
            return existing, False
        visitor_store.upsert(conn, visitor_id, now)
        conv_id = new_id("c_")
        target = resolve(conn, topic, page_url, region)
        if group_id is not None:
            target = Target(group_id, "", "")
        # The agent of the visitor's last chat, for groups that send them back.
        preferred = preferred_agent_id or store.last_agent_of(conn, visitor_id)
        store.insert(
            conn,
            conv_id,
            visitor_id,
            now,
            name=name,
            page_url=page_url,
            lang=lang,
            ip=ip,
            group_id=target.group_id,
            topic=target.topic,
            region=region,
            skill=target.skill,
            preferred_agent_id=preferred,
        )
        created = store.get(conn, conv_id)
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
        return await self._db.read(lambda conn: store.get(conn, conv_id))

    async def get_for(self, conv_id: str, actor: Actor) -> Conversation:
        """Return a conversation the actor may see: a visitor only their own, a console
        user what their scope shows; any other id is simply not found."""
        return _own(await self.get(conv_id), actor)

    async def get_for_visitor(self, conv_id: str, visitor_id: str) -> Conversation:
        """Return the visitor's own conversation; any other id is simply not found."""
        return await self.get_for(conv_id, Visitor(visitor_id))

    async def list_open_for_visitor(self, visitor_id: str) -> Conversation | None:
        """Return the visitor's conversation that is not closed, if any."""
        return await self._db.read(lambda conn: store.open_of_visitor(conn, visitor_id))

    async def list_waiting(self, groups: set[int] | None = None) -> list[Conversation]:
        """Return the queue and pending transfers (of some groups only, if given), oldest first."""
        return await self._db.read(lambda conn: store.list_waiting(conn, groups))

    async def list_active(self, agent_id: int) -> list[Conversation]:
        """Return an agent's open conversations and those they were invited into."""
        return await self._db.read(lambda conn: store.list_active(conn, agent_id))

    async def list_live(self, limit: int = 500) -> list[Conversation]:
        """Return every active conversation, oldest first (for supervisors)."""
        return await self._db.read(lambda conn: store.list_live(conn, limit))

    async def list_closed(
        self, *, before: int | None = None, agent_id: int | None = None, limit: int = 50
    ) -> list[Conversation]:
        """Return closed conversations, newest first, optionally one agent's."""
        stamp = before if before is not None else now_ms() + 1
        count = max(1, min(limit, _CLOSED_PAGE_MAX))
        return await self._db.read(lambda conn: store.list_closed(conn, stamp, agent_id, count))

    async def messages_after(
        self, conv_id: str, after_seq: int = 0, limit: int = _PAGE_MAX, *, staff: bool = False
    ) -> list[Message]:
        """Return messages with seq > after_seq, ascending; notes and whispers only to staff."""
        first, count = max(0, after_seq), max(1, min(limit, 1000))
        return await self._db.read(
            lambda conn: _with_files(
                conn, conv_id, store.messages_after(conn, conv_id, first, count, staff=staff)
            )
        )

    async def history(
        self, conv_id: str, actor: Actor, after_seq: int = 0, limit: int = _PAGE_MAX
    ) -> list[Message]:
        """Return what the actor may read of a conversation after a seq: a visitor the
        public messages of their own, a console user all of one their scope shows."""
        first, count = max(0, after_seq), max(1, min(limit, 1000))
        staff = isinstance(actor, Staff)

        def read(conn: sqlite3.Connection) -> list[Message]:
            _own(store.get(conn, conv_id), actor)
            page = store.messages_after(conn, conv_id, first, count, staff=staff)
            return _with_files(conn, conv_id, page)

        return await self._db.read(read)

    def check_body(self, body: Any) -> str:
        """Validate a message body: a non-empty string within the byte limit."""
        if not isinstance(body, str):
            raise InvalidInput("body must be a string")
        if len(body.encode("utf-8", "surrogatepass")) > self.max_message_bytes:
            raise MessageTooLarge(f"message is longer than {self.max_message_bytes} bytes")
        if not body.strip():
            raise InvalidInput("message is empty")
        return body

    def post_in(
        self,
        conn: sqlite3.Connection,
        conv_id: str,
        actor: Actor,
        client_msg_id: str,
        text: str,
    ) -> tuple[Message, bool, str]:
        """Store a checked message once per client_msg_id (inside a write): the message,
        whether it was a repeat, and the conversation's visitor.

        A visitor posts only into their own conversation (another's is not found); a
        console user only into one they own or were invited into.
        """
        result = post_lines(conn, [Post(conv_id, actor, client_msg_id, text)])[0]
        if isinstance(result, ChatError):
            raise result
        return result

    def announce_posted(
        self, conv_id: str, result: tuple[Message, bool, str], origin: object | None = None
    ) -> None:
        """Emit a new message after its commit (a repeat is not news)."""
        message, repeat, visitor_id = result
        if not repeat:
            self._bus.emit(MessageCreated(conv_id, visitor_id, message, origin))

    async def post(
        self,
        conv_id: str,
        actor: Actor,
        *,
        client_msg_id: Any,
        body: Any,
        origin: object | None = None,
    ) -> tuple[Message, bool]:
        """Store a message once per client_msg_id; return it and whether it was a repeat.

        Emoji shortcodes (`:smile:`) become their emoji as the message is stored.
        `origin` (the sender's socket) travels with the MessageCreated event.
        """
        client_msg_id, text = self.check_post(client_msg_id, body)
        text = emoji.convert(text)
        message, repeat, _ = await self._db.write(
            lambda conn: self.post_in(conn, conv_id, actor, client_msg_id, text),
            on_commit=lambda result: self.announce_posted(conv_id, result, origin),
            savepoint=False,  # post_in raises only before it writes
            many=(self.post_many, Post(conv_id, actor, client_msg_id, text)),
        )
        return message, repeat

    def check_post(self, client_msg_id: Any, body: Any) -> tuple[str, str]:
        """Return a message's client id and body text once they pass the rules."""
        if not isinstance(client_msg_id, str) or not 0 < len(client_msg_id) <= _CLIENT_ID_MAX:
            raise InvalidInput(f"client_msg_id must be 1-{_CLIENT_ID_MAX} characters")
        return client_msg_id, self.check_body(body)

    async def sent(self, conv_id: str, actor: Actor, client_msg_id: str) -> Message | None:
        """Return the message this actor already stored under client_msg_id, if any."""
        sender_type, sender_id = sender_of(actor)

        def read(conn: sqlite3.Connection) -> Message | None:
            found = store.message_by_client_id(conn, conv_id, client_msg_id)
            return None if found is None else with_file(conn, found)

        seen = await self._db.read(read)
        if seen is None or (seen.sender_type, seen.sender_id) != (sender_type, sender_id):
            return None
        return seen

    def close_in(
        self, conn: sqlite3.Connection, conv_id: str, by: str, actor: Actor | None = None
    ) -> Closed:
        """Close a conversation (inside a write; idempotent): before, after, its event.

        A visitor closes only their own; a console user who does not oversee the team
        no waiting one (it is not theirs to end).
        """
        before = store.get(conn, conv_id)
        if actor is not None:
            before = _own(before, actor)
        if before is None:
            raise NotFound(_NOT_FOUND)
        if isinstance(actor, Staff) and before.status == "waiting" and not actor.overseer:
            raise NotFound(_NOT_FOUND)
        if before.status == "closed":
            return before, before, None
        store.close(conn, conv_id, now_ms(), by)
        message = append_message(conn, conv_id, sender_type="system", event="closed")
        after = store.get(conn, conv_id)
        assert after is not None
        return before, after, message

    def announce_closed(self, result: Closed) -> None:
        """Emit the events of a close, after its commit."""
        before, after, message = result
        if message is not None:
            self.announce_changed(after, before)
            self._bus.emit(MessageCreated(after.id, after.visitor_id, message))

    async def close(
        self, conv_id: str, actor: Actor | None = None, *, by: str = ""
    ) -> Conversation:
        """Close a conversation (idempotent) and record who closed it: the actor, or
        `by` for the box's own reasons."""
        if isinstance(actor, Visitor):
            by = "visitor"
        elif isinstance(actor, Staff):
            by = f"agent:{actor.id}"
        result: Closed = await self._db.write(
            lambda conn: self.close_in(conn, conv_id, by, actor), on_commit=self.announce_closed
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
    ) -> tuple[Conversation, Message]:
        """Give a waiting conversation to an agent (inside a write); return it and the event."""
        now = now_ms()
        store.assign(conn, conv.id, agent_id, now, answered=answered)
        account_store.mark_assigned(conn, agent_id, now)
        message = append_message(
            conn,
            conv.id,
            sender_type="system",
            sender_id=str(agent_id),
            sender_name=agent_name,
            event=event,
        )
        after = store.get(conn, conv.id)
        assert after is not None
        return after, message

    def announce_assigned(
        self, before: Conversation, after: Conversation, message: Message
    ) -> None:
        """Emit the events of an assignment, after its commit (the message first, so an
        agent handing over still hears of it before they are unsubscribed)."""
        self._bus.emit(MessageCreated(after.id, after.visitor_id, message))
        self.announce_changed(after, before)
