"""Erlang C against known values; the forecast on exact and on noisy synthetic weeks."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.core.erlang import agents_needed, erlang_b, erlang_c, service_level
from appliance.core.forecast import SLOTS_PER_DAY, WEEK_SLOTS, accuracy, fit, forecast

ZONE = ZoneInfo("Asia/Shanghai")


def _erlang_c_by_sums(n: int, a: float) -> float:
    """Erlang C from its textbook formula with factorials (independent of the recurrence)."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


def test_erlang_b_and_c_match_known_values() -> None:
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 2.0) == pytest.approx(0.4)  # (2^2/2!) / (1 + 2 + 2)
    assert erlang_b(10, 10.0) == pytest.approx(0.2146, abs=1e-4)  # the Erlang B table
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2 at one Erlang
    assert erlang_c(11, 10.0) == pytest.approx(0.6821, abs=1e-4)
    for n, a in ((5, 3.2), (13, 10.0), (40, 31.5)):
        assert erlang_c(n, a) == pytest.approx(_erlang_c_by_sums(n, a), rel=1e-9)
    assert erlang_c(10, 10.0) == 1.0  # no more servers than traffic: everyone waits


def test_agents_needed_for_the_classic_80_in_20_example() -> None:
    # 100 contacts in half an hour, 180 s each: 10 Erlangs; 80 % within 20 s.
    # The Erlang C table: 12 agents 0.4494 wait, 13 0.2853, 14 0.1741; 13 answer
    # 79.6 % within 20 s, just short: 14 agents, 88.8 %.
    assert [round(erlang_c(n, 10.0), 4) for n in (12, 13, 14)] == [0.4494, 0.2853, 0.1741]
    plan = agents_needed(100 / 1800, 180, 20, 0.8)
    assert plan.agents == 14
    assert service_level(13, 10.0, 180, 20) == pytest.approx(0.7956, abs=1e-4)
    assert plan.service_level == pytest.approx(0.8884, abs=1e-4)
    assert plan.occupancy == pytest.approx(10 / 14)
    assert plan.asa_s == pytest.approx(erlang_c(14, 10.0) * 180 / 4)
    # Three chats at once: 14 chat slots take 5 agents (15 slots).
    chats = agents_needed(100 / 1800, 180, 20, 0.8, concurrency=3)
    assert chats.agents == math.ceil(14 / 3)
    assert chats.occupancy == pytest.approx(10 / 15)
    assert agents_needed(0.0, 180, 20, 0.8).agents == 0


def _profile() -> list[float]:
    """A working-week shape: busy 9-18 on weekdays, a little on weekends."""
    shape = []
    for i in range(WEEK_SLOTS):
        dow, slot = divmod(i, SLOTS_PER_DAY)
        hour = slot / 2
        busy = 9 <= hour < 18
        shape.append((3.0 if busy else 0.2) * (0.4 if dow >= 5 else 1.0))
    return shape


def test_an_exact_trend_and_profile_are_forecast_exactly() -> None:
    shape = _profile()
    weeks = [[v * (1 + 0.05 * w) for v in shape] for w in range(8)]
    model = fit(weeks)
    assert model.week(9) == pytest.approx([v * 1.45 for v in shape])
    acc = accuracy(weeks)
    assert acc.weeks == 2
    assert acc.wape == pytest.approx(0.0, abs=1e-9)
    assert acc.naive_wape is not None and acc.naive_wape > 0.03  # last week is behind


def test_noisy_weeks_are_forecast_better_than_last_week() -> None:
    rng = random.Random(7)
    shape = _profile()
    weeks = [
        [float(sum(rng.random() < v * (1 + 0.03 * w) / 4 for _ in range(4))) for v in shape]
        for w in range(10)
    ]
    acc = accuracy(weeks)
    assert acc.wape is not None and acc.naive_wape is not None and acc.mape is not None
    assert acc.wape < acc.naive_wape


def test_forecast_places_slots_in_the_local_week() -> None:
    today = date(2026, 3, 4)  # a Wednesday
    monday = today - timedelta(days=2)
    slots = []
    for w in range(1, 9):  # eight whole weeks before this one: Mondays 09:00 only
        start = datetime.combine(monday - timedelta(weeks=w), datetime.min.time(), tzinfo=ZONE)
        at = int((start + timedelta(hours=9)).timestamp() * 1000)
        slots.append((at, 4))
    found = forecast(slots, today, ZONE)
    assert len(found.slots) == 14 * 48
    assert found.slots[0][0] == datetime(2026, 3, 4, 0, 0, tzinfo=ZONE)
    busy = [(s, v) for s, v in found.slots if v > 0]
    # Today (Wednesday) to Tuesday in two weeks: the Mondays 9 and 16 March, 09:00.
    assert [s.astimezone(UTC).isoformat() for s, _ in busy] == [
        datetime(2026, 3, d, 9, 0, tzinfo=ZONE).astimezone(UTC).isoformat() for d in (9, 16)
    ]
    assert [v for _, v in busy] == pytest.approx([4.0, 4.0])
    assert found.accuracy.wape == pytest.approx(0.0)
