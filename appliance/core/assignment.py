"""Simple, honest assignment: the online agent with the fewest open chats under a limit.

Full routing (groups, skills, business value) replaces this later; the contract stays:
every waiting conversation is given to at most one agent, never past their limit, and
the queue drains, oldest first, as soon as someone is free.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

from appliance.core.chats import Chats, Conflict, Conversation, NotFound, read_conversation
from appliance.core.db import Database
from appliance.core.events import AgentStatusChanged, ConversationChanged, Event, EventBus

_LOGGER = logging.getLogger(__name__)

# Agents with room for one more chat, least loaded first, then longest since their
# last assignment (so equal loads take turns).
_PICK_AGENT = """
SELECT u.id, u.display_name, u.max_chats,
       (SELECT count(*) FROM conversations c
         WHERE c.agent_id = u.id AND c.status = 'active') AS load
  FROM users u
 WHERE u.status = 'online' AND u.disabled = 0 AND u.max_chats > 0
   AND load < u.max_chats
 ORDER BY load, u.last_assigned_at, u.id
 LIMIT 1
"""

_Assigned = tuple[Conversation, Conversation, dict[str, Any]]


class LimitReached(Conflict):
    code = "limit_reached"


class NotWaiting(Conflict):
    code = "not_waiting"


class Dispatcher:
    """Drain the waiting queue whenever something may have made room."""

    def __init__(self, db: Database, chats: Chats, bus: EventBus) -> None:
        self._db = db
        self._chats = chats
        self._lock = asyncio.Lock()
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe = bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, AgentStatusChanged):
            if event.status == "online":
                self.kick()
        elif isinstance(event, ConversationChanged):
            status = event.conversation["status"]
            opened = event.previous_status is None and status == "waiting"
            freed = event.previous_status == "active" and status == "closed"
            if opened or freed:
                self.kick()

    def kick(self) -> None:
        """Schedule a dispatch pass; passes requested while one runs fold into one."""
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="callbox-dispatch"
            )

    async def _run(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self.dispatch()
            except Exception:
                _LOGGER.exception("dispatch pass failed")

    async def wait_idle(self) -> None:
        """Wait until no dispatch pass is pending (for tests and shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Stop listening and finish the running pass."""
        self._unsubscribe()
        self._dirty = False
        await self.wait_idle()

    async def dispatch(self) -> int:
        """Assign waiting conversations, oldest first, while agents have room."""
        assigned = 0
        async with self._lock:
            while True:
                result = await self._db.write(self._assign_next, on_commit=self._announce)
                if result is None:
                    return assigned
                assigned += 1

    def _announce(self, result: _Assigned | None) -> None:
        if result is not None:
            self._chats.announce_assigned(*result)

    def _assign_next(self, conn: sqlite3.Connection) -> _Assigned | None:
        row = conn.execute(
            "SELECT id FROM conversations WHERE status = 'waiting' ORDER BY created_at, id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        agent = conn.execute(_PICK_AGENT).fetchone()
        if agent is None:
            return None
        before = read_conversation(conn, row[0])
        assert before is not None
        after, message = self._chats.assign_in(conn, before, agent["id"], agent["display_name"])
        return before, after, message

    async def accept(self, conv_id: str, agent_id: int) -> Conversation:
        """Let an agent take a waiting conversation themselves, within their limit."""

        def job(conn: sqlite3.Connection) -> _Assigned:
            before = read_conversation(conn, conv_id)
            if before is None:
                raise NotFound("no such conversation")
            if before.status != "waiting":
                raise NotWaiting("conversation is not waiting")
            agent = conn.execute(
                "SELECT u.display_name, u.max_chats, u.disabled,"
                " (SELECT count(*) FROM conversations c"
                "   WHERE c.agent_id = u.id AND c.status = 'active') AS load"
                " FROM users u WHERE u.id = ?",
                (agent_id,),
            ).fetchone()
            if agent is None or agent["disabled"]:
                raise NotFound("no such agent")
            if agent["load"] >= agent["max_chats"]:
                raise LimitReached("you are at your chat limit")
            after, message = self._chats.assign_in(conn, before, agent_id, agent["display_name"])
            return before, after, message

        async with self._lock:
            _, after, _ = await self._db.write(job, on_commit=self._announce)
        return after
