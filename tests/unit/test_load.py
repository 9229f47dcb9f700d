"""The load gauge (core/load.py): when the box counts as busy or saturated, and what it
refuses then."""

from __future__ import annotations

import asyncio

import pytest

from appliance.core.load import Busy, LoadGauge, LoadLimits


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.late = 0.0  # added to the time a probe wakes at

    def __call__(self) -> float:
        self.now += self.late
        return self.now


async def test_a_late_loop_makes_the_box_busy_and_it_recovers() -> None:
    clock = _Clock()
    gauge = LoadGauge(lambda: 0.0, LoadLimits(loop_lag=0.5), clock=clock)
    assert gauge.reason() is None
    gauge.admit_conversation()  # nothing raised
    clock.late = 0.7  # each reading of the clock is 0.7 s on: a probe wakes 0.6 s late
    gauge.start()
    for _ in range(50):
        await asyncio.sleep(0.02)
        if gauge.reason() == "loop":
            break
    assert gauge.reason() == "loop"
    assert gauge.loop_lag >= 0.5
    with pytest.raises(Busy) as refused:
        gauge.admit_conversation()
    assert refused.value.code == "busy" and refused.value.status == 503
    assert refused.value.retry_after == 5
    gauge.admit_line()  # 0.6 s late: below the 2 s at which lines wait too
    clock.late = 0.0
    for _ in range(200):
        await asyncio.sleep(0.02)
        if gauge.reason() is None:
            break
    assert gauge.reason() is None  # the worst of the last second has passed
    await gauge.stop()
    assert gauge.shed == {"conversation": 1}


async def test_a_loop_far_behind_refuses_new_lines_too() -> None:
    clock = _Clock()
    gauge = LoadGauge(lambda: 0.0, LoadLimits(loop_lag=0.5, loop_saturated=2.0), clock=clock)
    clock.late = 2.1  # a probe wakes 4.1 s late
    gauge.start()
    for _ in range(50):
        await asyncio.sleep(0.02)
        if gauge.loop_lag >= 2.0:
            break
    with pytest.raises(Busy):
        gauge.admit_line()
    await gauge.stop()
    assert gauge.shed == {"line": 1}


def test_the_writers_wait_makes_the_box_busy_then_saturated() -> None:
    wait = [0.0]
    gauge = LoadGauge(lambda: wait[0], LoadLimits(writer_wait=1.0, writer_saturated=3.0))
    wait[0] = 0.99
    assert gauge.reason() is None
    wait[0] = 1.0
    assert gauge.reason() == "writer"
    gauge.admit_line()
    with pytest.raises(Busy):
        gauge.admit_conversation()
    wait[0] = 3.0
    with pytest.raises(Busy):
        gauge.admit_line()
    assert gauge.shed == {"conversation": 1, "line": 1}
