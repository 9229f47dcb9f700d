"""The garbage collector's pacer (core/gcpace.py): young collections on its timer, a
full one only when memory grew and not too soon, at a quiet moment unless it waited too
long or memory kept growing, CPython's thresholds given back."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from appliance.core import gcpace
from appliance.core.gcpace import GcPacer


class _Node:
    """An object that can sit in a reference cycle and be watched through a weakref."""

    def __init__(self) -> None:
        self.other: object = None


def _cycle() -> tuple[_Node, weakref.ref[_Node]]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return a, weakref.ref(a)


@pytest.fixture
def no_auto_gc() -> Iterator[None]:
    """Only explicit collections run (CPython's own would hide what the pacer does)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_the_pacer_collects_young_cycles_on_its_own_timer(
    no_auto_gc: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gcpace, "PACE_EVERY", 0.01)
    pacer = GcPacer()
    node, ref = _cycle()
    del node
    assert ref() is not None  # a cycle: nothing but a collection frees it
    pacer.start()
    try:
        for _ in range(200):
            if ref() is None:
                break
            await asyncio.sleep(0.01)
    finally:
        await pacer.stop()
    assert ref() is None
    assert pacer.young >= 1
    assert pacer.full == 0


async def test_while_it_runs_cpython_never_starts_a_full_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gcpace, "PACE_EVERY", 3600.0)
    before = gc.get_threshold()
    pacer = GcPacer()
    pacer.start()
    try:
        first, second, third = gc.get_threshold()
        assert (first, second) == before[:2]  # young collections as configured
        assert third == gcpace._NO_AUTO_FULL
        pacer.start()  # a second start changes nothing
    finally:
        await pacer.stop()
    assert gc.get_threshold() == before
    await pacer.stop()  # a second stop neither
    assert gc.get_threshold() == before


class _Fake:
    """A collector, memory gauge, clock and CPU clock the test moves by hand."""

    def __init__(self) -> None:
        self.collected: list[int] = []
        self.blocks = 1_000_000
        self.now = 0.0
        self.cpu = 0.0  # s of CPU the process used (stays put: a quiet box)

    def collect(self, generation: int) -> int:
        self.collected.append(generation)
        return 0

    def pacer(self) -> GcPacer:
        return GcPacer(
            collect=self.collect,
            in_use=lambda: self.blocks,
            clock=lambda: self.now,
            cpu=lambda: self.cpu,
        )

    def run(self, pacer: GcPacer, seconds: float, share: float) -> None:
        """Let seconds pass, a pace every 10 s, with the process using share of a core."""
        for _ in range(int(seconds // 10)):
            self.now += 10
            self.cpu += 10 * share
            pacer.step()


async def test_a_full_collection_only_when_memory_grew_and_not_too_soon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gcpace, "PACE_EVERY", 3600.0)  # steps by hand only
    fake = _Fake()
    pacer = fake.pacer()
    pacer.start()
    try:
        pacer.step()
        assert fake.collected == [1]
        fake.blocks = 2_000_000  # grown, but the last full collection (the start) is recent
        fake.now = gcpace.FULL_APART - 1
        pacer.step()
        assert fake.collected == [1, 1]
        fake.now = gcpace.FULL_APART
        pacer.step()
        assert fake.collected == [1, 1, 2]
        assert (pacer.full, pacer.young) == (1, 2)
        fake.blocks = 2_400_000  # +20 % of the new base: not yet
        fake.now += gcpace.FULL_APART
        pacer.step()
        assert fake.collected[-1] == 1
        fake.blocks = 2_600_000  # +30 %
        pacer.step()
        assert fake.collected[-1] == 2
        fake.blocks = 2_600_000 + gcpace.FULL_FLOOR - 1  # a small growth never counts
        fake.now += 10 * gcpace.FULL_APART
        pacer.step()
        assert fake.collected[-1] == 1
    finally:
        await pacer.stop()


async def test_a_due_full_collection_waits_for_a_quiet_moment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full collection stops the loop for half a second at 5,000 visitors: while the
    box is busy it waits; it runs once the box used under QUIET_SHARE of a core for a
    whole QUIET_WINDOW."""
    monkeypatch.setattr(gcpace, "PACE_EVERY", 3600.0)
    fake = _Fake()
    pacer = fake.pacer()
    pacer.start()
    try:
        fake.blocks = 2_000_000  # grown (visitors came in)
        fake.run(pacer, gcpace.FULL_APART + 600, share=0.6)  # due since 600 s: busy
        assert 2 not in fake.collected
        assert pacer.waited > 0 and pacer.full == 0
        fake.run(pacer, gcpace.QUIET_WINDOW / 2, share=0.05)  # not a whole window yet
        assert 2 not in fake.collected
        fake.run(pacer, gcpace.QUIET_WINDOW * 2, share=0.05)
        assert fake.collected.count(2) == 1
        fake.run(pacer, gcpace.FULL_APART * 3, share=0.05)  # quiet, but no growth since
        assert fake.collected.count(2) == 1
    finally:
        await pacer.stop()


async def test_a_busy_box_collects_in_full_once_memory_kept_growing_or_it_waited_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cycles that die old (closed sockets) pile up while a busy box waits: growth by
    FULL_FORCE_GROWTH more since it fell due, or FULL_WAIT_MAX, runs it even busy."""
    monkeypatch.setattr(gcpace, "PACE_EVERY", 3600.0)
    fake = _Fake()
    pacer = fake.pacer()
    pacer.start()
    try:
        fake.blocks = 2_000_000
        fake.run(pacer, gcpace.FULL_APART + 60, share=0.9)
        assert 2 not in fake.collected  # due, waiting
        fake.blocks = int(2_000_000 * (1 + gcpace.FULL_FORCE_GROWTH)) - 1
        fake.run(pacer, 60, share=0.9)
        assert 2 not in fake.collected
        fake.blocks += 2
        fake.run(pacer, 10, share=0.9)
        assert fake.collected.count(2) == 1
        fake.blocks = 5_000_000  # due again, busy all along: waits FULL_WAIT_MAX at most
        fake.run(pacer, gcpace.FULL_APART + 600, share=0.9)
        fake.blocks = 3_000_000  # shrank back: no longer due, and its wait starts over
        fake.run(pacer, 60, share=0.9)
        fake.blocks = 5_000_000
        fake.run(pacer, 10, share=0.9)
        waited_from = fake.now
        fake.run(pacer, gcpace.FULL_WAIT_MAX - 20, share=0.9)
        assert fake.collected.count(2) == 1
        fake.run(pacer, 30, share=0.9)
        assert fake.collected.count(2) == 2
        assert fake.now - waited_from >= gcpace.FULL_WAIT_MAX
    finally:
        await pacer.stop()


async def test_an_old_cycle_waits_for_the_full_collection(
    no_auto_gc: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle that lived on into the old generation is not walked by the paced young
    collections; the full one, once memory grew, frees it."""
    monkeypatch.setattr(gcpace, "PACE_EVERY", 3600.0)
    node, ref = _cycle()
    gc.collect(1)
    gc.collect(1)  # survived twice: in the old generation now
    assert any(obj is node for obj in gc.get_objects(generation=2))
    del node
    fake = _Fake()
    pacer = GcPacer(in_use=lambda: fake.blocks, clock=lambda: fake.now, cpu=lambda: fake.cpu)
    pacer.start()
    try:
        for _ in range(3):
            pacer.step()
        assert ref() is not None
        fake.blocks, fake.now = 5_000_000, gcpace.FULL_APART
        pacer.step()
        assert ref() is None
        assert pacer.full == 1
    finally:
        await pacer.stop()
