"""The box's periodic passes: a pass that raises is logged and the next one runs; close
stops them, and start twice runs one loop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from appliance.core.periodic import Periodic


async def test_a_failing_pass_is_logged_and_the_next_runs(caplog: pytest.LogCaptureFixture):
    runs: list[int] = []
    third = asyncio.Event()

    async def step() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("disk full")
        if len(runs) == 3:
            third.set()

    passes = Periodic("test pass", 0.01, step)
    with caplog.at_level(logging.ERROR, logger="appliance.core.periodic"):
        passes.start()
        passes.start()  # a second start changes nothing
        await asyncio.wait_for(third.wait(), 5)
        await passes.close()
    seen = len(runs)
    await asyncio.sleep(0.05)
    assert len(runs) == seen  # closed: no more passes
    assert [r.getMessage() for r in caplog.records] == ["test pass failed"]
    await passes.close()  # closing twice is harmless
