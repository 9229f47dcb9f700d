"""Recurring tasks: when a schedule is due, caught up once after downtime."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.errors import InvalidInput
from appliance.core.recurrence import Schedule, parse

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def _ms(*args: int, zone: ZoneInfo = SHANGHAI) -> int:
    return int(datetime(*args, tzinfo=zone).timestamp() * 1000)  # type: ignore[misc]


def _wall(ms: int, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=zone)


def test_a_monthly_inspection_missed_for_a_quarter_runs_once() -> None:
    # 09:00 on the first Monday of each month, from 2026-01-01.
    plan = parse("FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0", _ms(2026, 1, 1), SHANGHAI)
    assert plan.due(None, _ms(2026, 1, 5, 8, 59)) is None  # not yet
    first = plan.due(None, _ms(2026, 1, 5, 9, 0))
    assert first is not None and _wall(first) == datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI)
    assert plan.due(first, _ms(2026, 1, 20)) is None  # ran; nothing until February
    # The box was off from mid-January to mid-April: February, March and April's
    # occurrences passed. One run, the latest (6 April), not three.
    caught_up = plan.due(first, _ms(2026, 4, 15))
    assert caught_up is not None and _wall(caught_up) == datetime(2026, 4, 6, 9, 0, tzinfo=SHANGHAI)
    assert plan.due(caught_up, _ms(2026, 4, 30)) is None
    nxt = plan.next_after(caught_up)
    assert nxt is not None and _wall(nxt) == datetime(2026, 5, 4, 9, 0, tzinfo=SHANGHAI)


def test_wall_time_holds_across_a_clock_change() -> None:
    plan = parse("FREQ=DAILY;BYHOUR=9;BYMINUTE=0", _ms(2026, 3, 27, zone=BERLIN), BERLIN)
    at = _ms(2026, 3, 27, 9, zone=BERLIN)
    walls = []
    for _ in range(4):
        nxt = plan.next_after(at)
        assert nxt is not None
        walls.append(_wall(nxt, BERLIN))
        at = nxt
    assert [w.hour for w in walls] == [9, 9, 9, 9]  # 28th, 29th (the change), 30th, 31st
    assert walls[2] - walls[1] == timedelta(days=1)


def test_a_rule_that_ends() -> None:
    plan = parse("FREQ=WEEKLY;COUNT=2;BYDAY=FR;BYHOUR=17", _ms(2026, 12, 1), SHANGHAI)
    last = plan.due(None, _ms(2027, 6, 1))
    assert last is not None and _wall(last) == datetime(2026, 12, 11, 17, 0, tzinfo=SHANGHAI)
    assert plan.next_after(last) is None


def test_the_next_runs_listed_before_saving_are_those_the_scheduler_serves() -> None:
    # Mondays and Thursdays at 14:30, from a Wednesday: the list a supervisor sees.
    plan = parse("FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=14;BYMINUTE=30", _ms(2026, 12, 2), SHANGHAI)
    runs = plan.upcoming(_ms(2026, 12, 2), 4)
    assert [_wall(r) for r in runs] == [
        datetime(2026, 12, d, 14, 30, tzinfo=SHANGHAI) for d in (3, 7, 10, 14)
    ]
    at = _ms(2026, 12, 2)
    for run in runs:  # each is the next one after the one before
        assert plan.next_after(at) == run
        at = run
    # A rule that ends lists what is left of it.
    ending = parse("FREQ=WEEKLY;COUNT=2;BYDAY=FR;BYHOUR=17", _ms(2026, 12, 1), SHANGHAI)
    assert len(ending.upcoming(_ms(2026, 12, 1), 5)) == 2
    assert ending.upcoming(_ms(2027, 1, 1), 5) == []


@pytest.mark.parametrize(
    "rule",
    [
        "",
        "nonsense",
        "FREQ=MINUTELY",  # a ticket a minute
        "FREQ=HOURLY",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;COUNT=x",
        "FREQ=DAILY;DTSTART=20260101T000000",
        "FREQ=DAILY\nFREQ=WEEKLY",
        "FREQ=DAILY;" + "BYHOUR=1;" * 40,
        # Rules that may never happen: dateutil would search for them to the year 9999
        # (10 s of CPU for the first), so they must be refused before any search.
        "FREQ=DAILY;BYSETPOS=10",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;BYMONTH=4,6;BYMONTHDAY=31",
        "FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=-30",
        "FREQ=MONTHLY;BYDAY=6MO",
    ],
)
def test_a_rule_that_cannot_be_used_is_refused_by_reading_it(
    rule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_search(_: Schedule) -> None:
        raise AssertionError("searched dates for a rule that should have been refused")

    monkeypatch.setattr(Schedule, "_rrule", no_search)
    with pytest.raises(InvalidInput):
        parse(rule, _ms(2026, 1, 1), SHANGHAI)


@pytest.mark.parametrize("rule", ["FREQ=DAILY;BYHOUR=25", "FREQ=DAILY;UNTIL=20200101T000000"])
def test_a_rule_dateutil_refuses_or_that_ended_before_its_start(rule: str) -> None:
    with pytest.raises(InvalidInput):
        parse(rule, _ms(2026, 1, 1), SHANGHAI)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(
        [
            "FREQ=DAILY;BYHOUR=8;BYMINUTE=30",
            "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=14",
            "FREQ=MONTHLY;BYMONTHDAY=1,15;BYHOUR=9",
            "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=18",
            "FREQ=DAILY;INTERVAL=3;BYHOUR=0",
        ]
    ),
    st.lists(st.integers(1, 20 * 24 * 60), min_size=1, max_size=30),
)
def test_a_scheduler_ticking_with_gaps_runs_each_slot_at_most_once(
    rule: str, gaps: list[int]
) -> None:
    # A scheduler that asks every so often (gaps are downtime): runs never repeat,
    # always move forward, and after each tick the last run is the latest slot passed.
    start = _ms(2026, 1, 1)
    plan: Schedule = parse(rule, start, SHANGHAI)
    now, last = start, None
    runs = []
    for gap in gaps:
        now += gap * 60_000
        due = plan.due(last, now)
        if due is not None:
            assert last is None or due > last
            assert due <= now
            runs.append(due)
            last = due
        # Nothing passed since the last run is left unrun.
        nxt = plan.next_after(last) if last is not None else plan.next_after(start - 1)
        assert nxt is None or nxt > now
    assert len(runs) == len(set(runs))
