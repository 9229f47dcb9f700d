"""Overflow work: messages and call-back requests left when no agent can take the chat."""

from __future__ import annotations

import sqlite3
from typing import Any

from appliance.core.actors import Staff, Visitor
from appliance.core.chats import Chats, Closed, read_conversation
from appliance.core.clock import now_ms
from appliance.core.contact import normal_email, normal_phone
from appliance.core.db import Database
from appliance.core.errors import (
    Conflict,
    ContactInvalid,
    InvalidInput,
    MessageEmpty,
    NotFound,
    PhoneRequired,
)
from appliance.core.events import EventBus, WorkItemChanged
from appliance.core.store import visitors as visitor_store
from appliance.core.store import workitems as store
from appliance.core.store.workitems import WorkItem as WorkItem
from appliance.core.visitors import new_id

KINDS = ("message", "callback")
_NAME_MAX = 64
_TIME_MAX = 64  # "tomorrow after 14:00" is free text
_BODY_MAX = 4000


def _text(data: dict[str, Any], field: str, limit: int) -> str:
    value = data.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters")
    return value


def validate(data: dict[str, Any]) -> dict[str, str]:
    """Check what a visitor left; a call back needs a phone number, a message some text."""
    kind = data.get("kind")
    if kind not in KINDS:
        raise InvalidInput("kind must be message or callback")
    item = {
        "kind": str(kind),
        "name": _text(data, "name", _NAME_MAX),
        "contact": _text(data, "contact", 254),
        "preferred_time": _text(data, "preferred_time", _TIME_MAX),
        "body": _text(data, "body", _BODY_MAX),
    }
    contact = item["contact"]
    if kind == "callback":
        phone = normal_phone(contact)
        if phone is None:
            raise PhoneRequired("a call back needs a phone number")
        item["contact"] = phone
    else:
        if not item["body"]:
            raise MessageEmpty("the message is empty")
        if contact:
            known = normal_email(contact) if "@" in contact else normal_phone(contact)
            if known is None:
                raise ContactInvalid("contact must be a phone number or an e-mail address")
            item["contact"] = known
    return item


class WorkItems:
    """Store, list and close what visitors leave for the team."""

    def __init__(self, db: Database, chats: Chats, bus: EventBus) -> None:
        self._db = db
        self._chats = chats
        self._bus = bus

    async def create(
        self, visitor: Visitor, data: dict[str, Any], conversation_id: Any = None
    ) -> WorkItem:
        """Store a left message or call-back request; end the waiting chat it replaces,
        which must be the visitor's own."""
        fields = validate(data)
        if conversation_id is not None and not isinstance(conversation_id, str):
            raise InvalidInput("conversation_id must be a string")
        now = now_ms()
        visitor_id = visitor.id

        def job(conn: sqlite3.Connection) -> tuple[WorkItem, Closed | None]:
            group_id = None
            closed = None
            visitor_store.upsert(conn, visitor_id, now)
            if conversation_id is not None:
                conv = read_conversation(conn, conversation_id)
                if conv is None or conv.visitor_id != visitor_id:
                    raise NotFound("no such conversation")
                group_id = conv.group_id
                if conv.status == "waiting":
                    closed = self._chats.close_in(conn, conv.id, "overflow")
            item = store.insert(
                conn, new_id("w_"), fields, visitor_id, conversation_id, group_id, now
            )
            return item, closed

        def announce(result: tuple[WorkItem, Closed | None]) -> None:
            if result[1] is not None:
                self._chats.announce_closed(result[1])
            self._bus.emit(WorkItemChanged(result[0]))

        item, _ = await self._db.write(job, on_commit=announce)
        return item

    async def list(self, status: str = "open", limit: int = 100) -> list[WorkItem]:
        """Return work items by status, oldest open first or newest closed first."""
        if status not in ("open", "closed"):
            raise InvalidInput("status must be open or closed")
        count = max(1, min(limit, 500))
        return await self._db.read(lambda conn: store.by_status(conn, status, count))

    async def close(self, item_id: str, staff: Staff) -> WorkItem:
        """Mark a work item done."""

        def job(conn: sqlite3.Connection) -> WorkItem:
            item = store.close(conn, item_id, staff.id, now_ms())
            if item is None:
                if store.exists(conn, item_id):
                    raise Conflict("already closed")
                raise NotFound("no such work item")
            return item

        return await self._db.write(
            job, on_commit=lambda item: self._bus.emit(WorkItemChanged(item))
        )
