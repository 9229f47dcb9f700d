"""Agents working as one: transfer, conference, internal notes, whispers, take-over.

Every action is one write that records what happened as a message of the conversation:
public events ("transferred", "joined", "left") tell the visitor who is with them;
notes and whispers are staff-only messages the visitor's side never receives.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from appliance.core.actors import Staff
from appliance.core.chats import Chats, append_message
from appliance.core.clock import now_ms
from appliance.core.conversation import Conversation, Message
from appliance.core.db import Database
from appliance.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LimitReached,
    NotAvailable,
    NotFound,
)
from appliance.core.events import EventBus, MessageCreated
from appliance.core.store import accounts as account_store
from appliance.core.store import conversations as store
from appliance.core.store import routing as routing_store

_NOTE_MAX = 2000  # characters of a transfer note

_Result = tuple[Conversation, Conversation, list[Message]]


def _note(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput("note must be a string")
    if len(value) > _NOTE_MAX:
        raise InvalidInput(f"note is longer than {_NOTE_MAX} characters")
    return value.strip()


def _active(conn: sqlite3.Connection, conv_id: str) -> Conversation:
    conv = store.get(conn, conv_id)
    if conv is None:
        raise NotFound("no such conversation")
    if conv.status != "active":
        raise Conflict("conversation is not active")
    return conv


def _owner_or_overseer(conv: Conversation, actor: Staff) -> None:
    if conv.agent_id != actor.id and not actor.overseer:
        raise Forbidden("only the agent handling the conversation may do this")


def _available_agent(conn: sqlite3.Connection, user_id: Any, *, count_limit: bool) -> sqlite3.Row:
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise InvalidInput("agent_id must be a user id")
    row = account_store.agent_for_chat(conn, user_id)
    if row is None or row["disabled"]:
        raise NotFound("no such agent")
    if row["status"] != "online":
        raise NotAvailable(f"{row['display_name']} is not online")
    if count_limit and row["load"] >= row["max_chats"]:
        raise LimitReached(f"{row['display_name']} is at their chat limit")
    return row


class Teamwork:
    """The team's actions on a live conversation."""

    def __init__(self, db: Database, chats: Chats, bus: EventBus) -> None:
        self._db = db
        self._chats = chats
        self._bus = bus

    def _announce(self, result: _Result) -> None:
        before, after, messages = result
        # Messages first: whoever loses the conversation with this change (the agent who
        # handed it over) still receives the record of the hand-over before they leave it.
        for message in messages:
            self._bus.emit(MessageCreated(after.id, after.visitor_id, message))
        if (before.status, before.agent_id, before.transfer_pending, before.participants) != (
            after.status,
            after.agent_id,
            after.transfer_pending,
            after.participants,
        ):
            self._chats.announce_changed(after, before)

    async def _run(self, job: Any) -> Conversation:
        result: _Result = await self._db.write(job, on_commit=self._announce)
        return result[1]

    async def transfer(
        self,
        conv_id: str,
        actor: Staff,
        *,
        agent_id: Any = None,
        group_id: Any = None,
        expert: bool = False,
        note: Any = None,
    ) -> Conversation:
        """Hand a conversation to a colleague, a group or an expert, with a note.

        To a named agent it moves at once (they must be online and under their limit).
        To a group or an expert it is a warm transfer: the current agent stays with the
        visitor until the router finds the colleague, who then joins.
        """
        text = _note(note)
        targets = sum(
            x is not None and x is not False for x in (agent_id, group_id, expert or None)
        )
        if targets != 1:
            raise InvalidInput("transfer to exactly one of agent_id, group_id or expert")

        def job(conn: sqlite3.Connection) -> _Result:
            before = _active(conn, conv_id)
            _owner_or_overseer(before, actor)
            messages = []
            if text:
                messages.append(self._staff(conn, conv_id, actor, text, "note"))
            if agent_id is not None:
                if agent_id == before.agent_id:
                    raise InvalidInput("the conversation is already theirs")
                target = _available_agent(conn, agent_id, count_limit=True)
                after, message = self._chats.assign_in(
                    conn, before, target["id"], target["display_name"], event="transferred"
                )
                messages.append(message)
                return before, after, messages
            if group_id is not None:
                if isinstance(group_id, bool) or not isinstance(group_id, int):
                    raise InvalidInput("group_id must be a group id")
                if not routing_store.group_exists(conn, group_id):
                    raise NotFound("no such group")
                target_group: int | None = group_id
            else:
                target_group = before.group_id
            store.request_transfer(
                conn, conv_id, target_group, bool(expert) or before.expert, now_ms()
            )
            messages.append(
                append_message(
                    conn,
                    conv_id,
                    sender_type="system",
                    sender_id=str(actor.id),
                    sender_name=actor.name,
                    event="transfer_requested",
                )
            )
            moved = store.get(conn, conv_id)
            assert moved is not None
            return before, moved, messages

        return await self._run(job)

    async def cancel_transfer(self, conv_id: str, actor: Staff) -> Conversation:
        """Withdraw a pending transfer; the conversation stays with its agent."""

        def job(conn: sqlite3.Connection) -> _Result:
            before = _active(conn, conv_id)
            _owner_or_overseer(before, actor)
            if not before.transfer_pending:
                raise Conflict("no transfer is pending")
            # An expert request ends with it: the chat was not an expert's before.
            store.cancel_transfer(conn, conv_id)
            message = self._staff(conn, conv_id, actor, "", "transfer_cancelled")
            after = store.get(conn, conv_id)
            assert after is not None
            return before, after, [message]

        return await self._run(job)

    async def invite(self, conv_id: str, actor: Staff, user_id: Any) -> Conversation:
        """Bring a colleague into the conversation beside its agent (a conference)."""

        def job(conn: sqlite3.Connection) -> _Result:
            before = _active(conn, conv_id)
            if before.agent_id != actor.id and not before.has_guest(actor.id):
                _owner_or_overseer(before, actor)
            target = _available_agent(conn, user_id, count_limit=False)
            if target["id"] == before.agent_id or before.has_guest(target["id"]):
                raise Conflict(f"{target['display_name']} is already in the conversation")
            store.add_participant(conn, conv_id, target["id"], now_ms())
            message = append_message(
                conn,
                conv_id,
                sender_type="system",
                sender_id=str(target["id"]),
                sender_name=target["display_name"],
                event="joined",
            )
            after = store.get(conn, conv_id)
            assert after is not None
            return before, after, [message]

        return await self._run(job)

    async def leave(self, conv_id: str, actor: Staff) -> Conversation:
        """Leave a conference one was invited into."""

        def job(conn: sqlite3.Connection) -> _Result:
            before = _active(conn, conv_id)
            if not before.has_guest(actor.id):
                raise Conflict("you are not a guest of this conversation")
            store.remove_participant(conn, conv_id, actor.id)
            message = append_message(
                conn,
                conv_id,
                sender_type="system",
                sender_id=str(actor.id),
                sender_name=actor.name,
                event="left",
            )
            after = store.get(conn, conv_id)
            assert after is not None
            return before, after, [message]

        return await self._run(job)

    async def take_over(self, conv_id: str, actor: Staff) -> Conversation:
        """Let a supervisor take a live conversation from its agent."""
        if not actor.overseer:
            raise Forbidden("only supervisors take conversations over")

        def job(conn: sqlite3.Connection) -> _Result:
            before = store.get(conn, conv_id)
            if before is None:
                raise NotFound("no such conversation")
            if before.status == "closed":
                raise Conflict("conversation is closed")
            if before.agent_id == actor.id:
                raise Conflict("the conversation is already yours")
            after, message = self._chats.assign_in(
                conn, before, actor.id, actor.name, event="transferred", answered=True
            )
            return before, after, [message]

        return await self._run(job)

    def _staff(
        self, conn: sqlite3.Connection, conv_id: str, actor: Staff, body: str, event: str
    ) -> Message:
        return append_message(
            conn,
            conv_id,
            sender_type="agent",
            sender_id=str(actor.id),
            sender_name=actor.name,
            body=body,
            event=event,
            visibility="staff",
        )

    async def note(
        self, conv_id: str, actor: Staff, body: Any, *, whisper: bool = False
    ) -> Message:
        """Add an internal note (any agent who sees it) or a supervisor's whisper."""
        text = self._chats.check_body(body)
        if whisper and not actor.overseer:
            raise Forbidden("only supervisors whisper")

        def job(conn: sqlite3.Connection) -> _Result:
            conv = store.get(conn, conv_id)
            if conv is None:
                raise NotFound("no such conversation")
            allowed = actor.overseer or conv.agent_id == actor.id or conv.has_guest(actor.id)
            if not allowed:
                raise Forbidden("conversation is not assigned to you")
            message = self._staff(conn, conv_id, actor, text, "whisper" if whisper else "note")
            return conv, conv, [message]

        result: _Result = await self._db.write(job, on_commit=self._announce)
        return result[2][0]
