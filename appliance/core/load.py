"""How busy the box is, and what it stops admitting when it cannot keep up (issue 18).

Two readings tell that the box is falling behind, both cheap to take:

- the event loop's lag: a timer due every `_TICK` s wakes late when the loop thread
  has more work than it can do (frames to read and write, fan-out, HTTP);
- the writer's wait: how long the oldest write job has been queued for the single
  writer thread (db.py), which grows when commits cannot keep up.

When either passes its limit the box is *busy*: it stops admitting new conversations
(a visitor already chatting is served; a new one is told to wait, with a clear state in
the widget). When the writer's wait or the loop's lag passes a higher limit the box
is *saturated*: new chat lines are refused with `busy` and a retry time as well, so
the write queue and the work behind the loop stay bounded instead of growing for ever
(refusing a line costs a fraction of storing and fanning it out). A refused line was
never acknowledged: the widget and the console keep it and send it again, so nothing is
lost and nothing is dropped without a word. Every refusal is counted for /metrics.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.core.errors import ChatError

_TICK = 0.1  # s between loop-lag probes
_WINDOW = 10  # probes kept: the lag is the worst of the last second


class Busy(ChatError):
    """The box is too busy to take this now; `retry_after` says when to try again."""

    code, status = "busy", 503

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class LoadLimits:
    """When the box counts as busy (refuses new conversations) and saturated (new
    lines too); seconds. Settings `overload_*` set them (settings.py)."""

    loop_lag: float = 0.5
    writer_wait: float = 1.0
    writer_saturated: float = 3.0
    loop_saturated: float = 2.0
    retry_after: int = 5


class LoadGauge:
    """Readings of the loop's lag and the writer's wait, and the admission decisions."""

    def __init__(
        self,
        writer_wait: Callable[[], float],
        limits: LoadLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._writer_wait = writer_wait
        self.limits = limits or LoadLimits()
        self._clock = clock
        self._lags: collections.deque[float] = collections.deque([0.0], maxlen=_WINDOW)
        self._task: asyncio.Task[None] | None = None
        self.shed: collections.Counter[str] = collections.Counter()  # refusals, by what

    @property
    def loop_lag(self) -> float:
        """Return the event loop's worst lateness over the last second (s)."""
        return max(self._lags)

    @property
    def writer_wait(self) -> float:
        """Return how long the oldest queued write has waited for the writer (s)."""
        return self._writer_wait()

    def start(self) -> None:
        """Start probing the loop's lag."""
        self._task = asyncio.get_running_loop().create_task(self._probe())

    async def stop(self) -> None:
        """Stop probing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _probe(self) -> None:
        while True:
            due = self._clock() + _TICK
            await asyncio.sleep(_TICK)
            self._lags.append(max(0.0, self._clock() - due))

    def reason(self) -> str | None:
        """Return why the box is busy ("loop" or "writer"), or None when it is not."""
        if self.loop_lag >= self.limits.loop_lag:
            return "loop"
        if self.writer_wait >= self.limits.writer_wait:
            return "writer"
        return None

    def _refuse(self, what: str) -> Busy:
        self.shed[what] += 1
        return Busy("the box is busy; try again shortly", self.limits.retry_after)

    def admit_conversation(self) -> None:
        """Raise Busy when the box should not take a new conversation now."""
        if self.reason() is not None:
            raise self._refuse("conversation")

    def admit_line(self) -> None:
        """Raise Busy when the writer or the loop is so far behind that a new line must
        wait."""
        limits = self.limits
        if self.writer_wait >= limits.writer_saturated or self.loop_lag >= limits.loop_saturated:
            raise self._refuse("line")
