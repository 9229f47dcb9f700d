"""Business hours: schedules and holidays as supervisors type them, and is_open."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from appliance.core.hours import (
    DAYS,
    HoursError,
    hours_json,
    is_open,
    parse_holidays,
    parse_hours,
)

_SHANGHAI = timezone(timedelta(hours=8))
_MONDAY = date(2026, 11, 23)  # a Monday; the week runs to Sunday 29 November
_OFFICE = {"mon": [["09:00", "18:00"]]}


def _at(day: date, hhmm: str, tz: timezone | None = None) -> datetime:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


# -- parse_hours ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", {}])
def test_no_schedule_means_always_open(raw: Any) -> None:
    assert parse_hours(raw) is None
    assert is_open(parse_hours(raw), frozenset(), _at(_MONDAY, "03:00"))


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (_OFFICE, {"mon": [(540, 1080)]}),
        ('{"mon": [["09:00", "18:00"]]}', {"mon": [(540, 1080)]}),  # JSON text, as stored
        ({"sun": [("00:00", "24:00")]}, {"sun": [(0, 1440)]}),  # tuples too; to midnight
        (  # spans come back sorted
            {"fri": [["14:00", "18:00"], ["09:00", "12:00"]]},
            {"fri": [(540, 720), (840, 1080)]},
        ),
        ({"sat": []}, {"sat": []}),  # listed without spans: closed that day
        ({d: [["08:00", "20:00"]] for d in DAYS}, {d: [(480, 1200)] for d in DAYS}),
        ({"mon": [["09:00", "12:00"]] * 8}, {"mon": [(540, 720)] * 8}),  # at most 8 spans
    ],
)
def test_schedules_parse_to_minutes_of_the_day(raw: Any, parsed: Any) -> None:
    assert parse_hours(raw) == parsed


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "hours must be a JSON object"),
        ([["09:00", "18:00"]], "hours must map day names to lists of [open, close] times"),
        ('[["09:00", "18:00"]]', "hours must map day names to lists of [open, close] times"),
        (42, "hours must map day names"),
        ({"monday": []}, "unknown day 'monday'; use mon, tue, wed, thu, fri, sat, sun"),
        ({"Mon": []}, "unknown day 'Mon'"),  # names are case-sensitive
        ({"mon": "09:00-18:00"}, "mon: a list of at most 8 [open, close] pairs"),
        ({"mon": [["09:00", "10:00"]] * 9}, "mon: a list of at most 8 [open, close] pairs"),
        ({"tue": ["09:00", "18:00"]}, "tue: each span is [open, close]"),
        ({"tue": [["09:00", "12:00", "18:00"]]}, "tue: each span is [open, close]"),
        ({"wed": [["9:00", "18:00"]]}, "time '9:00' must be HH:MM"),
        ({"wed": [["09:00", "18.00"]]}, "time '18.00' must be HH:MM"),
        ({"wed": [["09:00", "25:00"]]}, "time '25:00' must be HH:MM"),
        ({"wed": [["09:60", "18:00"]]}, "time '09:60' must be HH:MM"),
        ({"wed": [[900, 1800]]}, "time '900' must be HH:MM"),
        ({"wed": [["09:00", "18:00:00"]]}, "time '18:00:00' must be HH:MM"),
        ({"wed": [["09:00", "x" * 40]]}, "time 'xxxxxxxxxxxxxxxx' must be HH:MM"),  # cut
        ({"thu": [["20:00", "24:30"]]}, "24:00 is the latest time"),
        ({"thu": [["24:00", "24:00"]]}, "thu: 24:00 is not before 24:00"),
        ({"fri": [["18:00", "09:00"]]}, "fri: 18:00 is not before 09:00"),  # no overnight
        ({"fri": [["09:00", "09:00"]]}, "fri: 09:00 is not before 09:00"),
    ],
)
def test_unusable_schedules_say_what_is_wrong(raw: Any, message: str) -> None:
    with pytest.raises(HoursError) as caught:
        parse_hours(raw)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


def test_schedules_round_trip_through_their_stored_form() -> None:
    raw = {"mon": [["13:30", "24:00"], ["00:00", "02:15"]], "sun": []}
    stored = hours_json(parse_hours(raw))
    assert stored == {"mon": [["00:00", "02:15"], ["13:30", "24:00"]], "sun": []}
    assert parse_hours(stored) == parse_hours(raw)
    assert hours_json(None) is None


# -- parse_holidays ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (None, frozenset()),
        ("", frozenset()),
        ([], frozenset()),
        ("[]", frozenset()),
        (["2026-10-01", "2026-10-01"], frozenset({date(2026, 10, 1)})),
        ('["2026-10-01", "2028-02-29"]', frozenset({date(2026, 10, 1), date(2028, 2, 29)})),
        ([date(2026, 10, 1)], frozenset({date(2026, 10, 1)})),
        (["2026-01-01"] * 366, frozenset({date(2026, 1, 1)})),  # at most 366 entries
    ],
)
def test_holidays_parse_to_dates(raw: Any, parsed: frozenset[date]) -> None:
    assert parse_holidays(raw) == parsed


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "holidays must be a JSON list"),
        ({"2026-10-01": True}, "holidays must be a list of at most 366 dates"),
        ('{"day": "2026-10-01"}', "holidays must be a list of at most 366 dates"),
        (["2026-01-01"] * 367, "holidays must be a list of at most 366 dates"),
        (["2026-13-01"], "holiday '2026-13-01' must be YYYY-MM-DD"),
        (["2027-02-29"], "holiday '2027-02-29' must be YYYY-MM-DD"),  # not a leap year
        (["1 Oct 2026"], "holiday '1 Oct 2026' must be YYYY-MM-DD"),
        ([None], "holiday 'None' must be YYYY-MM-DD"),
        (["2026-10-01T00:00:00+08:00"], "holiday '2026-10-01T00:00' must be YYYY-MM-DD"),
    ],
)
def test_unusable_holidays_say_which(raw: Any, message: str) -> None:
    with pytest.raises(HoursError, match="^" + message.replace("[", r"\[")):
        parse_holidays(raw)


# -- is_open -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "hhmm", "expected"),
    [
        (0, "08:59", False),
        (0, "09:00", True),  # opening minute included
        (0, "12:30", True),
        (0, "17:59", True),
        (0, "18:00", False),  # closing minute excluded
        (1, "12:30", False),  # Tuesday is not in the schedule: closed
        (4, "11:59", True),
        (4, "12:00", False),  # Friday's lunch break
        (4, "13:59", False),
        (4, "14:00", True),
        (5, "23:59", True),  # Saturday to 24:00 ...
        (6, "00:00", False),  # ... does not run into Sunday
        (6, "12:00", False),
    ],
)
def test_is_open_follows_each_weekdays_spans(day: int, hhmm: str, expected: bool) -> None:
    schedule = parse_hours(
        {
            "mon": [["09:00", "18:00"]],
            "fri": [["09:00", "12:00"], ["14:00", "18:00"]],
            "sat": [["20:00", "24:00"]],
        }
    )
    when = _at(_MONDAY + timedelta(days=day), hhmm)
    assert is_open(schedule, frozenset(), when) is expected


@pytest.mark.parametrize(("offset", "name"), list(enumerate(DAYS)))
def test_weekday_names_map_to_pythons_weekdays(offset: int, name: str) -> None:
    schedule = parse_hours({name: [["00:00", "24:00"]]})
    for day in range(7):
        when = _at(_MONDAY + timedelta(days=day), "12:00")
        assert is_open(schedule, frozenset(), when) is (day == offset), (name, when)


def test_holidays_close_a_day_even_without_a_schedule() -> None:
    holidays = parse_holidays(["2026-11-23"])
    assert not is_open(None, holidays, _at(_MONDAY, "12:00"))
    assert not is_open(parse_hours(_OFFICE), holidays, _at(_MONDAY, "12:00"))
    assert is_open(None, holidays, _at(_MONDAY + timedelta(days=1), "00:00"))
    assert is_open(None, holidays, _at(_MONDAY - timedelta(days=1), "23:59"))


@pytest.mark.parametrize("tz", [None, _SHANGHAI, UTC, timezone(timedelta(hours=-5))])
def test_is_open_reads_the_wall_clock_of_the_time_it_is_given(tz: timezone | None) -> None:
    # Naive or aware alike, the time is taken as box-local: the caller converts.
    schedule = parse_hours(_OFFICE)
    assert is_open(schedule, frozenset(), _at(_MONDAY, "09:30", tz))
    assert not is_open(schedule, frozenset(), _at(_MONDAY, "08:30", tz))
    holiday = frozenset({_MONDAY})
    assert not is_open(schedule, holiday, _at(_MONDAY, "09:30", tz))


def test_an_aware_time_must_be_converted_to_box_local_first() -> None:
    schedule = parse_hours(_OFFICE)
    instant = _at(_MONDAY, "09:30", _SHANGHAI)  # 01:30 UTC
    assert is_open(schedule, frozenset(), instant)
    assert not is_open(schedule, frozenset(), instant.astimezone(UTC))
    # A Monday-morning holiday in Shanghai is still Sunday evening in New York.
    new_york = instant.astimezone(timezone(timedelta(hours=-5)))
    assert new_york.date() == _MONDAY - timedelta(days=1)
    assert is_open(None, frozenset({_MONDAY}), new_york)
