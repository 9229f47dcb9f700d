"""Recurring service tasks (定期巡检 and the like): when a schedule is due.

A schedule is an RFC 5545 recurrence rule (`FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9`) read by
python-dateutil, starting at a local wall time in the box's zone: "09:00 on the first
Monday" stays 09:00 across a daylight-saving change. Groundwork for issue 12: the
service desk's scheduler asks `due()` each minute and opens a ticket from the
schedule's template when it answers.

Downtime: the box may be off across several occurrences. `due()` answers only the
latest occurrence that passed since the last run, so the missed ones are caught up
once, not once per missed slot (a monthly inspection missed for a quarter is one
ticket, not three).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from dateutil.rrule import rrule, rrulestr

from appliance.core.errors import InvalidInput

RULE_MAX = 256  # characters of a rule
# A ticket opened every hour or faster is a mistake, not a maintenance plan.
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
# The parts a schedule may use. dateutil searches a rule no date satisfies up to the
# year 9999 (10 s for FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30), so the parts that can make
# one are left out (BYSETPOS, BYYEARDAY, BYWEEKNO) or checked here (month days).
_PARTS = {
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "BYHOUR",
    "BYMINUTE",
    "WKST",
}
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _numbers(text: str, name: str, low: int, high: int) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError as err:
        raise InvalidInput(f"{name} must be numbers") from err
    if not values or any(not low <= abs(v) <= high for v in values):
        raise InvalidInput(f"{name} must be between {low} and {high}")
    return values


def _check_parts(parts: dict[str, str]) -> None:
    unknown = set(parts) - _PARTS
    if unknown:
        raise InvalidInput(f"rule may not use {', '.join(sorted(unknown))}")
    if parts.get("FREQ") not in FREQUENCIES:
        raise InvalidInput(f"FREQ must be one of {', '.join(FREQUENCIES)}")
    if "INTERVAL" in parts:
        _numbers(parts["INTERVAL"], "INTERVAL", 1, 1000)
    if "COUNT" in parts:
        _numbers(parts["COUNT"], "COUNT", 1, 10_000)
    months = _numbers(parts["BYMONTH"], "BYMONTH", 1, 12) if "BYMONTH" in parts else range(1, 13)
    if "BYMONTHDAY" in parts:
        days = _numbers(parts["BYMONTHDAY"], "BYMONTHDAY", 1, 31)
        if not any(abs(d) <= _MONTH_DAYS[m - 1] for m in months for d in days):
            raise InvalidInput("no month of the rule has that day")
    for day in parts.get("BYDAY", "").split(","):
        ordinal = day.strip()[:-2]
        if ordinal not in ("", "+", "-") and not 1 <= abs(int(ordinal or 0)) <= 5:
            raise InvalidInput("a weekday's number within the month is 1 to 5 (or -1 to -5)")


def _local(ms: int, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(zone)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A checked rule, the first wall time it counts from, and the zone it is read in."""

    rule: str
    start: int  # UTC ms
    zone: tzinfo

    def _rrule(self) -> rrule:
        # DTSTART as a wall time in the zone: every occurrence keeps its wall time.
        start = _local(self.start, self.zone)
        parsed = rrulestr(self.rule, dtstart=start)
        assert isinstance(parsed, rrule)
        return parsed

    def due(self, last_run: int | None, now: int) -> int | None:
        """The occurrence to run now: the latest one at or before `now` that is later
        than `last_run` (never run: not before the start). None when none is."""
        latest = self._rrule().before(_local(now, self.zone), inc=True)
        if latest is None:
            return None
        at = _ms(latest)
        if last_run is not None and at <= last_run:
            return None
        return at

    def next_after(self, moment: int) -> int | None:
        """The first occurrence after `moment` (to show "next run"), None if it ended."""
        following = self._rrule().after(_local(moment, self.zone), inc=False)
        return _ms(following) if following is not None else None

    def upcoming(self, moment: int, count: int) -> list[int]:
        """The first `count` occurrences after `moment` (fewer if the rule ends)."""
        return [_ms(o) for o in self._rrule().xafter(_local(moment, self.zone), count=count)]


def parse(rule: object, start: int, zone: tzinfo) -> Schedule:
    """Check a rule typed by a supervisor; a clear InvalidInput says what is wrong."""
    if not isinstance(rule, str) or not rule.strip():
        raise InvalidInput("rule must be a recurrence rule such as FREQ=WEEKLY;BYDAY=MO")
    text = rule.strip().removeprefix("RRULE:")
    if len(text) > RULE_MAX:
        raise InvalidInput(f"rule is longer than {RULE_MAX} characters")
    if any(ch in text for ch in "\r\n\x00"):
        raise InvalidInput("rule must be one line")
    schedule = Schedule(text, start, zone)
    try:
        _check_parts(dict(p.partition("=")[::2] for p in text.upper().split(";") if p))
        first = schedule._rrule().after(_local(start, zone), inc=True)
    except (ValueError, TypeError, OverflowError) as err:
        raise InvalidInput(f"rule cannot be read: {str(err)[:80]}") from err
    if first is None:
        raise InvalidInput("rule has no occurrence after its start")
    return schedule
