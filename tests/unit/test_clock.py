"""local_iso keeps the text of the last second: it must render exactly as datetime does,
in every zone and across its offset changes, and see a zone set while it runs."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from appliance.core.clock import local_iso

ZONES = ("Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC")


def _reference(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone().isoformat(timespec="milliseconds")


@pytest.fixture
def zone() -> Iterator[None]:
    before = os.environ.get("TZ")
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.parametrize("name", ZONES)
def test_local_iso_renders_as_datetime_does(zone: None, name: str) -> None:
    os.environ["TZ"] = name
    time.tzset()
    rng = random.Random(name)
    times = [rng.randrange(0, 4_000_000_000_000) for _ in range(2000)]
    # Every 7 minutes and 13 s over 2024-2025: each change of offset (DST) falls inside.
    times += list(range(1_704_067_200_000, 1_767_225_600_000, 433_013))
    # Within one second, then the next: the kept text must not leak into another second.
    times += [1_796_594_960_999, 1_796_594_960_000, 1_796_594_961_000, 1_796_594_960_500]
    wrong = [(ms, local_iso(ms), _reference(ms)) for ms in times if local_iso(ms) != _reference(ms)]
    assert wrong == []


def test_local_iso_sees_a_zone_set_while_it_runs(zone: None) -> None:
    ms = 1_796_594_960_123  # 2026-12-06 22:09:20.123 UTC
    os.environ["TZ"] = "UTC"
    time.tzset()
    assert local_iso(ms) == "2026-12-06T22:09:20.123+00:00"
    os.environ["TZ"] = "Asia/Shanghai"
    time.tzset()
    assert local_iso(ms) == "2026-12-07T06:09:20.123+08:00"
    assert local_iso(None) is None
