"""Business time: how much of a calendar's opening hours lies between two instants, and
when a given amount of it will have passed. The SLA clocks of the service desk count
in it.

A calendar is a weekly schedule of opening spans in local wall time (`core/hours.py`:
None means always open) plus holidays, in one time zone (the box's). A business
millisecond is a real millisecond whose local wall time falls in an opening span of a
day that is not a holiday; so across a daylight-saving change an hour that does not
exist counts nothing and an hour that happens twice counts twice, as a clock on the
wall would have it (China's zone, Asia/Shanghai, has no such change; see
`Calendar._instant` for a span that starts or ends inside one). Instants are UTC
milliseconds, like everything the store keeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from appliance.core.hours import DAYS

_DAY_MINUTES = 24 * 60
_MINUTE_MS = 60_000
# How far ahead a deadline is looked for: a calendar open one hour a year still finds
# one; a calendar with no opening time at all (every day a holiday) has none.
_HORIZON_DAYS = 3 * 366

Spans = dict[str, list[tuple[int, int]]]


class NeverOpen(ValueError):
    """The calendar has no opening time within the horizon: no deadline can be set."""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and join overlapping or touching spans (the hours editor allows overlaps)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


@dataclass(frozen=True)
class Calendar:
    """Opening hours (local wall-time minutes per weekday; None: always open), holidays
    (local dates, closed all day) and the zone they are read in."""

    schedule: Spans | None
    holidays: frozenset[date]
    zone: tzinfo
    _days: dict[str, list[tuple[int, int]]] = field(init=False, repr=False, compare=False)
    # Each local day's spans, worked out once per calendar: a minute's SLA pass builds
    # its calendars afresh and asks of the same few days for every clock.
    _spans: dict[date, list[tuple[int, int]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        days = {day: [(0, _DAY_MINUTES)] for day in DAYS}
        if self.schedule is not None:
            days = {day: _merged(self.schedule.get(day, [])) for day in DAYS}
        object.__setattr__(self, "_days", days)
        object.__setattr__(self, "_spans", {})

    @property
    def always(self) -> bool:
        """Open around the clock with no holiday: every real millisecond counts, so
        business time is wall time (the days' spans meet end to end, whatever a
        daylight-saving change does to their length)."""
        return self.schedule is None and not self.holidays

    def local_date(self, ms: int) -> date:
        """The local date an instant falls on."""
        return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(self.zone).date()

    def _instant(self, day: date, minute: int, *, end: bool) -> int:
        """UTC ms of a local wall time (minute 1440 is the next day's midnight).

        A wall time that happens twice (the hour a clock goes back) is its first
        occurrence as a span's start and its second as a span's end, so a span across
        that hour holds both; one that does not exist (the hour a clock skips) is the
        instant the clock skipped forward."""
        local = datetime.combine(day, time()) + timedelta(minutes=minute)
        first = _ms(local.replace(tzinfo=self.zone, fold=0))
        second = _ms(local.replace(tzinfo=self.zone, fold=1))
        if first == second:
            return first
        if first < second:  # repeated
            return second if end else first
        probe = local  # skipped: the first wall minute after the gap is the jump
        while True:
            probe += timedelta(minutes=1)
            after = _ms(probe.replace(tzinfo=self.zone))
            if after == _ms(probe.replace(tzinfo=self.zone, fold=1)):
                return after

    def open_spans(self, day: date) -> list[tuple[int, int]]:
        """The day's opening spans as [start, end) UTC ms, in order, none if a holiday."""
        known = self._spans.get(day)
        if known is not None:
            return known
        spans = self._open_spans(day)
        self._spans[day] = spans
        return spans

    def _open_spans(self, day: date) -> list[tuple[int, int]]:
        if day in self.holidays:
            return []
        spans = []
        for start, end in self._days[DAYS[day.weekday()]]:
            a, b = self._instant(day, start, end=False), self._instant(day, end, end=True)
            if a < b:  # a span wholly inside a skipped hour never happens
                spans.append((a, b))
        return spans

    def _spans_from(self, ms: int, days: int) -> Iterator[tuple[int, int]]:
        """Opening spans that end after `ms`, clipped to start no earlier, in order."""
        day = self.local_date(ms) - timedelta(days=1)  # a span may cross a zone change
        last_end = ms
        for _ in range(days + 2):
            for start, end in self.open_spans(day):
                start = max(start, last_end)
                if end > start:
                    yield start, end
                    last_end = end
            day += timedelta(days=1)

    def elapsed(self, start: int, end: int) -> int:
        """Business milliseconds in [start, end); 0 when end is not after start."""
        if end <= start:
            return 0
        if self.always:
            return end - start
        days = (self.local_date(end) - self.local_date(start)).days + 1
        total = 0
        for a, b in self._spans_from(start, days):
            if a >= end:
                break
            total += min(b, end) - a
        return total

    def add(self, start: int, amount: int) -> int:
        """The first instant by which `amount` business ms have passed since `start`.

        Raises NeverOpen when the calendar has no opening time within three years."""
        if amount <= 0:
            return start
        if self.always:
            return start + amount
        left = amount
        for a, b in self._spans_from(start, _HORIZON_DAYS):
            if b - a >= left:
                return a + left
            left -= b - a
        raise NeverOpen("the calendar has no opening time in the next three years")


ALWAYS_OPEN_UTC = Calendar(None, frozenset(), UTC)


@dataclass(frozen=True, slots=True)
class Timer:
    """One SLA target's clock: business time used so far, and since when it runs.

    Pausing (a ticket pending on the customer) banks what ran; a new target (the policy
    changed) keeps what was used. All instants are UTC ms."""

    target: int  # business ms allowed
    used: int = 0  # business ms used while stopped; more accrues from `running_since`
    running_since: int | None = None

    def start(self, at: int) -> Timer:
        """Run from `at` (no change if it already runs)."""
        if self.running_since is not None:
            return self
        return Timer(self.target, self.used, at)

    def pause(self, calendar: Calendar, at: int) -> Timer:
        """Stop at `at`, banking the business time since it started."""
        if self.running_since is None:
            return self
        return Timer(self.target, self.used + calendar.elapsed(self.running_since, at), None)

    def retarget(self, target: int) -> Timer:
        """The same clock against a new target (time used is kept)."""
        return Timer(target, self.used, self.running_since)

    def used_at(self, calendar: Calendar, at: int) -> int:
        """Business time used by `at`."""
        if self.running_since is None:
            return self.used
        return self.used + calendar.elapsed(self.running_since, at)

    def deadline(self, calendar: Calendar) -> int | None:
        """When the target is reached if it keeps running; None while paused."""
        if self.running_since is None:
            return None
        return calendar.add(self.running_since, max(0, self.target - self.used))

    def share_due(self, calendar: Calendar, share: float) -> int | None:
        """When `share` of the target (e.g. 0.8 for a warning) is used; None if paused."""
        if self.running_since is None:
            return None
        return calendar.add(self.running_since, max(0, round(self.target * share) - self.used))


def minutes(n: int) -> int:
    """Milliseconds in n minutes (targets are set in minutes)."""
    return n * _MINUTE_MS
