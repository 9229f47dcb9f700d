"""How soon a visitor who writes now is likely to be answered, from the live queue.

The widget says it under the company name ("usually replies within 2 minutes"). The
figures are the ones the wallboard and the router already keep: who is online with
room for a chat (board.agent_board) and the waits the dispatcher worked out for the
visitors already in line (routing.places). The estimate is cached for a short while:
every page view asks for it, and it need not be fresher than a routing pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping

from appliance.core.board import AgentNow, agent_board
from appliance.core.db import Database
from appliance.core.routing import Place

_CACHE_FOR = 30.0  # s an estimate is reused
SOON = 60  # s: what "an agent is free" is said as (within a minute)
LONGEST = 4 * 3600  # s: past this the box says nothing rather than a number nobody trusts


def estimate(agents: Iterable[AgentNow], places: Mapping[str, Place]) -> int | None:
    """Return the seconds a new chat would likely wait; None when nobody can take it."""
    online = [a for a in agents if a.status == "online" and a.max_chats > 0]
    if not online:
        return None
    etas = [p.eta for p in places.values() if p.eta is not None]
    if not etas:
        free = any(a.load < a.max_chats for a in online)
        # Everyone busy but nobody waiting: about one chat's turn, said as a few minutes.
        return SOON if free else 3 * SOON
    # The last one in line waits max(etas) for n places ahead: one more place each.
    wait = math.ceil(max(etas) * (len(etas) + 1) / len(etas))
    wait = max(SOON, wait)
    return wait if wait <= LONGEST else None


class ReplyTime:
    """The current estimate, recomputed at most every _CACHE_FOR seconds."""

    def __init__(self, db: Database, places: Callable[[], Mapping[str, Place]]) -> None:
        self._db = db
        self._places = places
        self._value: int | None = None
        self._at = -math.inf

    async def seconds(self) -> int | None:
        """Return the estimate in seconds, or None when nobody is online to answer."""
        now = time.monotonic()
        if now - self._at >= _CACHE_FOR:
            self._at = now  # concurrent callers use the old value meanwhile
            self._value = estimate(await agent_board(self._db), self._places())
        return self._value
