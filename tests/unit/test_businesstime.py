"""Business-time arithmetic against a minute-by-minute reference.

The reference walks real minutes one by one and asks `hours.is_open` about each
minute's local wall time: nothing shared with the code under test but the calendar's
definition. Hypothesis draws schedules (overlapping spans, closed days, always open),
holidays, starts, lengths and pauses, across nights, weekends and holidays, in the
box's zone (no daylight saving) and in one with it (Europe/Berlin, whose changes fall
on 2026-03-29 and 2026-10-25 inside the drawn range).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.businesstime import Calendar, NeverOpen, Timer, minutes
from appliance.core.hours import DAYS, is_open

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
MIN = 60_000
BASE = datetime(2026, 3, 20, tzinfo=UTC)  # ten days before Berlin springs forward
BASE_MIN = int(BASE.timestamp()) // 60
RANGE_MIN = 250 * 24 * 60  # starts drawn over 250 days: both Berlin changes inside


def _boundary(zone: ZoneInfo) -> st.SearchStrategy[int]:
    # Berlin's changes happen inside 02:00-03:00; a span edge there has a documented
    # rule of its own (Calendar._instant), so the wall-time reference is not asked.
    minute = st.integers(0, 24 * 60)
    return minute.filter(lambda m: not 120 <= m < 180) if zone is BERLIN else minute


def _schedules(zone: ZoneInfo) -> st.SearchStrategy[dict[str, list[tuple[int, int]]] | None]:
    span = st.tuples(_boundary(zone), _boundary(zone)).filter(lambda s: s[0] < s[1])
    quarter = st.tuples(st.integers(0, 96), st.integers(1, 8)).map(
        lambda q: (q[0] * 15, min(24 * 60, q[0] * 15 + q[1] * 15))
    )
    if zone is BERLIN:
        quarter = quarter.filter(lambda s: not (120 <= s[0] < 180 or 120 <= s[1] < 180))
    spans = st.lists(st.one_of(span, quarter).filter(lambda s: s[0] < s[1]), max_size=3)
    week = st.fixed_dictionaries({}, optional=dict.fromkeys(DAYS, spans))
    return st.one_of(st.none(), week)


def _holidays() -> st.SearchStrategy[frozenset[date]]:
    day = st.integers(0, 260).map(lambda n: (BASE + timedelta(days=n)).date())
    return st.frozensets(day, max_size=40)


def _calendars() -> st.SearchStrategy[tuple[Calendar, ZoneInfo]]:
    return st.sampled_from([SHANGHAI, BERLIN]).flatmap(
        lambda zone: st.builds(
            lambda schedule, holidays: (Calendar(schedule, holidays, zone), zone),
            _schedules(zone),
            _holidays(),
        )
    )


def _open_minute(calendar: Calendar, zone: ZoneInfo, minute: int) -> bool:
    local = datetime.fromtimestamp(minute * 60, tz=UTC).astimezone(zone)
    return is_open(calendar.schedule, calendar.holidays, local)


def _ref_elapsed(calendar: Calendar, zone: ZoneInfo, start: int, end: int) -> int:
    return sum(_open_minute(calendar, zone, m) for m in range(start, end)) * MIN


def _ref_add(calendar: Calendar, zone: ZoneInfo, start: int, count: int, limit: int) -> int | None:
    """The end of the count-th open minute from `start`, None if not within `limit`."""
    if count == 0:
        return start * MIN
    for m in range(start, start + limit):
        if _open_minute(calendar, zone, m):
            count -= 1
            if count == 0:
                return (m + 1) * MIN
    return None


starts = st.integers(0, RANGE_MIN).map(lambda n: BASE_MIN + n)


@settings(max_examples=150, deadline=None)
@given(_calendars(), starts, st.integers(0, 6 * 24 * 60))
def test_elapsed_counts_the_open_minutes(cal: tuple[Calendar, ZoneInfo], start: int, length: int):
    calendar, zone = cal
    end = start + length
    assert calendar.elapsed(start * MIN, end * MIN) == _ref_elapsed(calendar, zone, start, end)


@settings(max_examples=150, deadline=None)
@given(_calendars(), starts, st.integers(0, 3 * 24 * 60))
def test_add_finds_the_minute_the_amount_is_used(
    cal: tuple[Calendar, ZoneInfo], start: int, amount: int
) -> None:
    calendar, zone = cal
    limit = 14 * 24 * 60
    expected = _ref_add(calendar, zone, start, amount, limit)
    try:
        got = calendar.add(start * MIN, minutes(amount))
    except NeverOpen:
        assert expected is None
        return
    if expected is None:  # open again only past the reference's window
        assert got > (start + limit) * MIN
    else:
        assert got == expected
        # and the two functions agree with each other
        assert calendar.elapsed(start * MIN, got) == minutes(amount)


@settings(max_examples=100, deadline=None)
@given(
    _calendars(),
    starts,
    st.integers(1, 2 * 24 * 60),
    st.lists(st.integers(1, 2 * 24 * 60), min_size=1, max_size=6),
    st.lists(st.integers(1, 3 * 24 * 60), min_size=0, max_size=3),
)
def test_a_timer_counts_only_while_it_runs_and_keeps_time_across_a_new_target(
    cal: tuple[Calendar, ZoneInfo],
    start: int,
    target: int,
    gaps: list[int],
    retargets: list[int],
) -> None:
    # Runs and pauses alternate (open, pending on the customer, open again...); the
    # target changes part way (a new policy): time used is kept, only what runs counts.
    calendar, zone = cal
    timer = Timer(minutes(target)).start(start * MIN)
    now, running, used = start, True, 0
    for n, gap in enumerate(gaps):
        if running:
            used += _ref_elapsed(calendar, zone, now, now + gap)
        now += gap
        assert timer.used_at(calendar, now * MIN) == used
        if n < len(retargets):
            timer = timer.retarget(minutes(retargets[n]))
        timer = timer.pause(calendar, now * MIN) if running else timer.start(now * MIN)
        running = not running
        assert timer.used_at(calendar, now * MIN) == used
    if running:
        left = max(0, timer.target - used) // MIN
        expected = _ref_add(calendar, zone, now, left, 14 * 24 * 60)
        if expected is not None:
            assert timer.deadline(calendar) == expected
    else:
        assert timer.deadline(calendar) is None


def test_worked_example_across_a_weekend_and_a_holiday() -> None:
    # Mon-Fri 09:00-12:00 and 13:00-18:00 in Shanghai; 2026-10-01..07 is the National
    # Day holiday. A 4-hour target set on Wednesday 2026-09-30 at 16:00 local runs 2 h
    # that day, then the holiday week and the weekend pass, and 2 h more on Thursday
    # 2026-10-08: due at 11:00.
    week = {day: [(9 * 60, 12 * 60), (13 * 60, 18 * 60)] for day in DAYS[:5]}
    holidays = frozenset(date(2026, 10, d) for d in range(1, 8))
    calendar = Calendar(week, holidays, SHANGHAI)
    start = int(datetime(2026, 9, 30, 16, tzinfo=SHANGHAI).timestamp() * 1000)
    due = calendar.add(start, minutes(240))
    assert datetime.fromtimestamp(due / 1000, tz=SHANGHAI) == datetime(
        2026, 10, 8, 11, tzinfo=SHANGHAI
    )
    assert calendar.elapsed(start, due) == minutes(240)
    # Exactly what is left of the day: due as that day's span closes, not the next one.
    assert calendar.add(start, minutes(120)) == start + minutes(120)
    assert calendar.add(start, minutes(121)) == int(
        datetime(2026, 10, 8, 9, 1, tzinfo=SHANGHAI).timestamp() * 1000
    )
    # A morning's span used exactly: due at 12:00, not when the afternoon opens.
    morning = int(datetime(2026, 10, 8, 9, tzinfo=SHANGHAI).timestamp() * 1000)
    assert calendar.add(morning, minutes(180)) == morning + minutes(180)
    # Starting in closed time (lunch): nothing counts until 13:00.
    lunch = morning + minutes(200)
    assert calendar.add(lunch, minutes(1)) == morning + minutes(4 * 60 + 1)
    assert calendar.elapsed(lunch, morning + minutes(4 * 60)) == 0
    # Paused for the customer on the 8th at 10:00 (one hour left), resumed at 14:00.
    timer = Timer(minutes(240)).start(start)
    paused_at = int(datetime(2026, 10, 8, 10, tzinfo=SHANGHAI).timestamp() * 1000)
    timer = timer.pause(calendar, paused_at)
    assert timer.used == minutes(180) and timer.deadline(calendar) is None
    resumed = int(datetime(2026, 10, 8, 14, tzinfo=SHANGHAI).timestamp() * 1000)
    timer = timer.start(resumed)
    assert timer.deadline(calendar) == resumed + minutes(60)
    assert timer.share_due(calendar, 0.5) == resumed  # half was used before the pause


def test_a_calendar_that_never_opens_has_no_deadline() -> None:
    closed = Calendar({}, frozenset(), SHANGHAI)
    with pytest.raises(NeverOpen):
        closed.add(0, minutes(1))
    assert closed.add(0, 0) == 0
    assert closed.elapsed(0, minutes(10_000)) == 0


def test_daylight_saving_days_in_a_zone_that_has_them() -> None:
    # Always open: the day the clocks go forward has 23 hours, the day they go back 25.
    calendar = Calendar(None, frozenset(), BERLIN)
    spring = int(datetime(2026, 3, 29, tzinfo=BERLIN).timestamp() * 1000)
    autumn = int(datetime(2026, 10, 25, tzinfo=BERLIN).timestamp() * 1000)
    assert calendar.elapsed(spring, spring + minutes(24 * 60)) == minutes(24 * 60)
    assert [b - a for a, b in calendar.open_spans(date(2026, 3, 29))] == [minutes(23 * 60)]
    assert [b - a for a, b in calendar.open_spans(date(2026, 10, 25))] == [minutes(25 * 60)]
    assert calendar.add(autumn, minutes(25 * 60)) == autumn + minutes(25 * 60)
    # Open 01:00-04:00 on the autumn day: 01:00-02:59 twice over, then 03:00-03:59.
    night = Calendar({"sun": [(60, 240)]}, frozenset(), BERLIN)
    assert [b - a for a, b in night.open_spans(date(2026, 10, 25))] == [minutes(4 * 60)]
    # A span inside the skipped hour (02:00-03:00 on 29 March) never happens.
    gap = Calendar({"sun": [(130, 170)]}, frozenset(), BERLIN)
    assert gap.open_spans(date(2026, 3, 29)) == []
    assert len(gap.open_spans(date(2026, 4, 5))) == 1
