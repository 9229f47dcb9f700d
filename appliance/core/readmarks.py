"""Read state: how far the visitor and the agents have read each conversation.

Per conversation two high-water marks (a seq), not a write per message. Marks live in
memory and advance only forwards; the store is written for advances only, coalesced:
every conversation that advanced within `_FLUSH_DELAY` is written in one transaction.
A crash loses at most that much read state, never a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Literal

from appliance.core.actors import Actor, Visitor
from appliance.core.chats import Chats
from appliance.core.db import Database
from appliance.core.errors import InvalidInput
from appliance.core.store import readmarks as store

_LOGGER = logging.getLogger(__name__)

_FLUSH_DELAY = 0.5  # s between an advance and its write, to coalesce a burst of them
_CACHE_MAX = 5000  # conversations whose marks are kept in memory

Reader = Literal["visitor", "agent"]


class SeqBeyondLast(InvalidInput):
    """A read mark past the conversation's last message."""

    code = "seq_beyond_last"


class ReadMarks:
    """The read marks of every conversation, advanced by the people in it."""

    def __init__(self, db: Database, chats: Chats, *, flush_delay: float = _FLUSH_DELAY) -> None:
        self._db = db
        self._chats = chats
        self._flush_delay = flush_delay
        self._marks: dict[str, list[int]] = {}  # conversation id -> [visitor_seq, agent_seq]
        self._dirty: set[str] = set()
        self._flusher: asyncio.Task[None] | None = None

    async def get(self, conv_id: str) -> tuple[int, int]:
        """Return how far the visitor and the agents have read (0: nothing yet)."""
        marks = await self._load(conv_id)
        return marks[0], marks[1]

    async def _load(self, conv_id: str) -> list[int]:
        marks = self._marks.get(conv_id)
        if marks is None:
            stored = await self._db.read(lambda conn: store.get(conn, conv_id))
            marks = self._marks.setdefault(conv_id, list(stored))
            self._trim()
        return marks

    def _trim(self) -> None:
        """Forget the oldest marks already written, past the cache's size."""
        if len(self._marks) <= _CACHE_MAX:
            return
        for conv_id in list(self._marks):
            if len(self._marks) <= _CACHE_MAX // 2:
                break
            if conv_id not in self._dirty:
                del self._marks[conv_id]

    async def mark(self, conv_id: str, actor: Actor, seq: int) -> tuple[Reader, int] | None:
        """Record that the actor has read up to `seq`; return the new mark when it advanced.

        A visitor marks only their own conversation; a console user counts as the
        agents' side only as its agent or an invited colleague (a supervisor looking on
        reads without the visitor being told). A seq past the last message is refused.
        """
        reader: Reader = "visitor" if isinstance(actor, Visitor) else "agent"
        side = 0 if reader == "visitor" else 1
        if seq <= (await self._load(conv_id))[side]:
            return None  # nothing new: no read of the conversation, no write
        conv = await self._chats.get_for(conv_id, actor)
        if seq > conv.last_seq:
            raise SeqBeyondLast(f"seq {seq} is beyond the last message ({conv.last_seq})")
        if not isinstance(actor, Visitor) and not (
            conv.agent_id == actor.id or conv.has_guest(actor.id)
        ):
            return None
        marks = await self._load(conv_id)
        if seq <= marks[side]:
            return None
        marks[side] = seq
        self._dirty.add(conv_id)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())
        return reader, seq

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._flush_delay)
        await self.flush()

    async def flush(self) -> None:
        """Write every mark that advanced since the last write, in one transaction."""
        if not self._dirty:
            return
        rows = [(c, self._marks[c][0], self._marks[c][1]) for c in self._dirty if c in self._marks]
        self._dirty.clear()
        try:
            await self._db.write(lambda conn: store.advance(conn, rows))
        except Exception:
            # Read state is a courtesy: a failed write (disk full) is logged, not raised.
            _LOGGER.exception("could not store %d read marks", len(rows))

    async def close(self) -> None:
        """Write what is pending and stop."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()
