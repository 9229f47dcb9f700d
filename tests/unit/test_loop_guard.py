"""The suite's event-loop guard (tests/conftest.py) catches a callback that holds the
loop, whether by computing or by a blocking call, and does not count the time the
loop's thread only waited for a CPU that other processes held."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import _HELD_LIMIT, _SLOW_CALLBACK, no_slow_callbacks

_HOLD = _SLOW_CALLBACK + 0.15  # s: clearly over the limit


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds  # CPU time of this thread
    while time.thread_time() < end:
        pass


@pytest.fixture(autouse=True)
async def loop_not_blocked() -> None:
    """These tests hold the loop on purpose; each checks its own guard."""


async def _blocked_by(work: object, hold: float = _HOLD) -> list[str]:
    with pytest.raises(AssertionError, match="event loop blocked") as caught:
        async with no_slow_callbacks():
            asyncio.get_running_loop().call_soon(work)  # type: ignore[arg-type]
            await asyncio.sleep(hold + 0.1)
    return str(caught.value).splitlines()


async def test_a_computing_callback_is_caught() -> None:
    lines = await _blocked_by(lambda: _spin(_HOLD))
    assert "computed 0.4" in lines[0]


async def test_a_long_blocking_call_on_the_loop_is_caught() -> None:
    hold = _HELD_LIMIT + 0.2
    lines = await _blocked_by(lambda: time.sleep(hold), hold)
    assert "computed 0.0" in lines[0] and "held the loop 2.2" in lines[0]


async def test_a_short_callback_passes() -> None:
    async with no_slow_callbacks():
        asyncio.get_running_loop().call_soon(lambda: _spin(0.05))
        await asyncio.sleep(0.1)


async def test_time_spent_waiting_for_a_cpu_does_not_count() -> None:
    """Pinned with busy processes to the loop's one CPU, a short callback takes long by
    the wall clock (it mostly waits its turn), yet holds the loop only briefly."""
    cpu = sorted(os.sched_getaffinity(0))[0]
    hog = f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True:\n    pass\n"
    hogs = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range(4)]
    mask = os.sched_getaffinity(0)
    try:
        time.sleep(0.2)  # the hogs are pinned and running
        os.sched_setaffinity(0, {cpu})
        took: list[float] = []

        def slow_by_the_clock() -> None:
            start = time.perf_counter()
            _spin(0.1)  # a fifth of one CPU: 0.5 s by the clock
            took.append(time.perf_counter() - start)

        async with no_slow_callbacks():
            asyncio.get_running_loop().call_soon(slow_by_the_clock)
            while not took:
                await asyncio.sleep(0.05)
    finally:
        os.sched_setaffinity(0, mask)
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert took[0] > _SLOW_CALLBACK  # the wall clock alone would have failed it
