"""Paced garbage collection for the running box (issue 18).

CPython 3.11 starts a young collection when allocations minus deallocations pass the
first threshold, and the deallocation of any object counts, old or young. A box with
thousands of open sockets frees old objects about as fast as it makes new ones: every
chat line ends one pending read of its socket and starts another (a coroutine, a
future, its iterator, aiohttp's reader state: ~20 objects that then live until that
visitor's next line). So the count barely rises while the young generation fills with
those live objects, and when a collection finally comes it walks all of them: at 5,000
visitors 60,000-110,000 objects, 20-70 ms with the event loop stopped, about every
20 s, whatever the first threshold (5,000 and 10,000 gave the same pauses). Each such
pause delays every chat line in flight, and one or two of them set the p99 of a 30 s
window (bench/README.md).

The pacer collects the two young generations itself, every PACE_EVERY seconds, so
what they hold is what a quarter of a second made: 1-9 ms at 5,000 visitors. Objects
that live on reach the old generation at the next pace and are not walked again until
a full collection. Full collections follow CPython's own rule in spirit (the memory in
use grew by a quarter since the last one: the count of allocated blocks, which costs
nothing to read, where counting the old generation's objects would walk all 640,000
of them), and never closer than FULL_APART: a full collection walks every object
(0.5-0.7 s at 5,000 visitors, plus the time the lines that queued meanwhile take to
drain), so it stays rare. A full collection that is due waits for a quiet moment, when
the box used less than QUIET_SHARE of a core over the last QUIET_WINDOW (a call center
has its quiet hours, and a box with few lines in flight barely notices the stop); it
runs while busy only once memory grew by FULL_FORCE_GROWTH more since it fell due, or
it has waited FULL_WAIT_MAX. With the young generations
paced, little garbage reaches the old one: at 5,000 busy visitors, the cycles a full
collection found after 150 s were 270 objects, while it walked ~640,000 live ones
(bench/README.md; no visitor left in that run: sockets that close leave cycles that
die old, which FULL_FORCE_GROWTH bounds). While the pacer runs, CPython's automatic
collections stay on for the young generations (a burst of allocations still gets one)
but never start a full one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)

PACE_EVERY = 0.25  # s between collections of the two young generations
FULL_GROWTH = 0.25  # the blocks in use grown by this share since the last full one...
FULL_FLOOR = 200_000  # ... and by at least this many (a small box never churns)
FULL_APART = 600.0  # s at least between two full collections the pacer starts
QUIET_SHARE = 0.2  # of a core: the process used less over QUIET_WINDOW, the box is quiet
QUIET_WINDOW = 30.0  # s
FULL_FORCE_GROWTH = 0.5  # grown by this share more while it waited: it runs even busy
FULL_WAIT_MAX = 3600.0  # s a due full collection waits for a quiet moment at most
# The automatic collector's thresholds while the pacer runs: young collections as
# cli.GC_THRESHOLDS has them, a full one never (the pacer decides those).
_NO_AUTO_FULL = 2**30


class GcPacer:
    """Collect the young generations on a timer and the old one when it has grown."""

    def __init__(
        self,
        *,
        collect: Callable[[int], int] = gc.collect,
        in_use: Callable[[], int] = sys.getallocatedblocks,
        clock: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = time.process_time,
    ) -> None:
        self._collect = collect
        self._in_use = in_use
        self._clock = clock
        self._cpu = cpu
        self._window = (0.0, 0.0)  # clock and cpu when the current quiet window began
        self._share = 1.0  # the share of a core the last whole window used (busy at first)
        self._due_since: float | None = None  # when a full collection fell due
        self._due_blocks = 0  # the blocks in use then
        self._task: asyncio.Task[None] | None = None
        self._thresholds: tuple[int, int, int] | None = None
        self._base = 0  # the blocks in use after the last full collection
        self._full_at = 0.0  # when the last full collection ran (clock)
        self.young = 0  # collections of the young generations the pacer ran
        self.full = 0  # full collections the pacer ran
        self.waited = 0  # paces a due full collection waited for a quiet moment

    def start(self) -> None:
        """Take over the collector's pacing (on the running loop)."""
        if self._task is not None:
            return
        self._thresholds = first, second, _ = gc.get_threshold()
        gc.set_threshold(first, second, _NO_AUTO_FULL)
        self._base, self._full_at = self._in_use(), self._clock()
        self._window = (self._full_at, self._cpu())
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gc-pacer")

    async def stop(self) -> None:
        """Give the pacing back to CPython's own collector."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(PACE_EVERY)
            self.step()

    def step(self) -> None:
        """One pace: the young generations, and the old one when it is due."""
        now, blocks = self._clock(), self._in_use()
        self._measure(now)
        grown = blocks > self._base + max(self._base * FULL_GROWTH, FULL_FLOOR)
        if now - self._full_at >= FULL_APART and grown:
            if self._due_since is None:
                self._due_since, self._due_blocks = now, blocks
            if (
                self._share < QUIET_SHARE
                or now - self._due_since >= FULL_WAIT_MAX
                or blocks > self._due_blocks * (1 + FULL_FORCE_GROWTH)
            ):
                self._collect_full(now, now - self._due_since)
                return
            self.waited += 1
        else:  # (memory shrank back meanwhile: no longer due, nor waiting)
            self._due_since = None
        self._collect(1)
        self.young += 1

    def _measure(self, now: float) -> None:
        """Close the quiet window once it is QUIET_WINDOW long: the share of a core the
        process (all its threads) used in it."""
        began, cpu_then = self._window
        if now - began < QUIET_WINDOW:
            return
        cpu = self._cpu()
        self._share = (cpu - cpu_then) / (now - began)
        self._window = (now, cpu)

    def _collect_full(self, now: float, waited: float) -> None:
        began = time.perf_counter()
        found = self._collect(2)
        took = (time.perf_counter() - began) * 1e3
        self.full += 1
        self._full_at, self._due_since = now, None
        self._base = self._in_use()
        _LOGGER.info(
            "full garbage collection: %d objects freed, %.0f ms, %d memory blocks in use,"
            " %.0f s after it fell due (the box used %.0f %% of a core)",
            found,
            took,
            self._base,
            waited,
            self._share * 100,
        )
