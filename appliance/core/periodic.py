"""A pass the box runs on its event loop every so many seconds until it closes.

A pass that raises is logged and the next one runs as planned: one bad pass (a full
disk, a row the code did not expect) must not end the loop for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

_LOGGER = logging.getLogger(__name__)


class Periodic:
    """Run `step` now and then every `every` seconds, from `start` until `close`."""

    def __init__(self, what: str, every: float, step: Callable[[], Awaitable[Any]]) -> None:
        self._what = what  # for the log: "report rollup pass"
        self._every = every
        self._step = step
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except Exception:
                _LOGGER.exception("%s failed", self._what)
            await asyncio.sleep(self._every)

    def start(self) -> None:
        """Start the passes (the first one at once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop the passes; a pass under way is cancelled where it awaits."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
