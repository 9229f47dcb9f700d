"""The garbage collector's pacer (core/gcpace.py): young collections on its timer, a
full one only when memory grew and not too soon, CPython's thresholds given back."""

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
    """A collector, memory gauge and clock the test moves by hand."""

    def __init__(self) -> None:
        self.collected: list[int] = []
        self.blocks = 1_000_000
        self.now = 0.0

    def collect(self, generation: int) -> int:
        self.collected.append(generation)
        return 0


async def test_a_full_collection_only_when_memory_grew_and_not_too_soon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gcpace, "PACE_EVERY", 3600.0)  # steps by hand only
    fake = _Fake()
    pacer = GcPacer(collect=fake.collect, in_use=lambda: fake.blocks, clock=lambda: fake.now)
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
    pacer = GcPacer(in_use=lambda: fake.blocks, clock=lambda: fake.now)
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
