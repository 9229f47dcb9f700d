"""Contacts per half hour for the next two weeks, from the weeks before (pure).

The method (docs/reports.md): a week's volume follows a straight line fitted by least
squares over the last `weeks` whole weeks; it is spread over the week's 336 half hours
by the profile of those weeks (each half hour's share of their pooled volume, per day
of week). Its error is measured by fitting on the weeks before each of the last
`held_out` weeks and forecasting that week: WAPE (absolute errors over the volume) and
MAPE (mean relative error over half hours that had contacts), beside the error of the
naive forecast "the same as the week before".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

SLOT_MS = 30 * 60 * 1000
SLOTS_PER_DAY = 48
WEEK_SLOTS = 7 * SLOTS_PER_DAY
WEEKS = 8  # history used
HELD_OUT = 2  # weeks held out to measure the error
HORIZON_DAYS = 14

Week = list[float]  # 336 counts, Monday 00:00 first


@dataclass(frozen=True, slots=True)
class Model:
    """A fitted week: volume = intercept + slope * week index; profile sums to 1."""

    intercept: float
    slope: float
    profile: tuple[float, ...]

    def week(self, index: int) -> Week:
        """Return the expected counts of the week with this index (0 = the first fitted)."""
        volume = max(0.0, self.intercept + self.slope * index)
        return [volume * share for share in self.profile]


@dataclass(frozen=True, slots=True)
class Accuracy:
    """Error of the method on held-out weeks, and of the naive forecast beside it."""

    weeks: int
    wape: float | None  # 0..1
    mape: float | None
    naive_wape: float | None


def fit(weeks: list[Week]) -> Model:
    """Fit the trend and the profile to whole weeks, oldest first."""
    totals = [sum(w) for w in weeks]
    pooled = sum(totals)
    if pooled > 0:
        profile = tuple(sum(w[i] for w in weeks) / pooled for i in range(WEEK_SLOTS))
    else:
        profile = tuple(1 / WEEK_SLOTS for _ in range(WEEK_SLOTS))
    n = len(totals)
    if n == 0:
        return Model(0.0, 0.0, profile)
    mean_x = (n - 1) / 2
    mean_y = pooled / n
    var = sum((i - mean_x) ** 2 for i in range(n))
    slope = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(totals)) / var if var else 0.0
    return Model(mean_y - slope * mean_x, slope, profile)


def _errors(actual: Iterable[float], expected: Iterable[float]) -> tuple[float, float, float, int]:
    """Return (sum |a-f|, sum a, sum |a-f|/a over a>0, count of a>0)."""
    abs_err = volume = rel = 0.0
    counted = 0
    for a, f in zip(actual, expected, strict=True):
        abs_err += abs(a - f)
        volume += a
        if a > 0:
            rel += abs(a - f) / a
            counted += 1
    return abs_err, volume, rel, counted


def accuracy(weeks: list[Week], held_out: int = HELD_OUT) -> Accuracy:
    """Measure the method on the last `held_out` weeks, each fitted on the weeks before."""
    abs_err = volume = rel = naive = 0.0
    counted = tested = 0
    for j in range(max(2, len(weeks) - held_out), len(weeks)):
        model = fit(weeks[:j])
        e = _errors(weeks[j], model.week(j))
        abs_err, volume, rel, counted = abs_err + e[0], volume + e[1], rel + e[2], counted + e[3]
        naive += _errors(weeks[j], weeks[j - 1])[0]
        tested += 1
    if tested == 0 or volume <= 0:
        return Accuracy(tested, None, None, None)
    return Accuracy(tested, abs_err / volume, rel / counted if counted else None, naive / volume)


def monday_of(day: date) -> date:
    """Return the Monday of a day's ISO week."""
    return day - timedelta(days=day.weekday())


def weeks_from_slots(
    slots: Iterable[tuple[int, int]], first_monday: date, count: int, zone: tzinfo
) -> list[Week]:
    """Arrange (UTC slot start ms, contacts) into `count` local weeks from a Monday."""
    weeks: list[Week] = [[0.0] * WEEK_SLOTS for _ in range(count)]
    for start, contacts in slots:
        local = datetime.fromtimestamp(start / 1000, tz=UTC).astimezone(zone)
        index = (local.date() - first_monday).days // 7
        if 0 <= index < count:
            slot = local.weekday() * SLOTS_PER_DAY + local.hour * 2 + local.minute // 30
            weeks[index][slot] += contacts
    return weeks


@dataclass(frozen=True, slots=True)
class Forecast:
    """Expected contacts per local half hour from `first_day`, and the method's error."""

    first_day: date
    history_from: date
    weeks: int
    model: Model
    accuracy: Accuracy
    slots: list[tuple[datetime, float]]  # local start, expected contacts


def forecast(
    slots: Iterable[tuple[int, int]],
    today: date,
    zone: tzinfo,
    weeks: int = WEEKS,
    horizon_days: int = HORIZON_DAYS,
) -> Forecast:
    """Forecast the half hours of `horizon_days` from today from the whole weeks before."""
    this_monday = monday_of(today)
    first = this_monday - timedelta(weeks=weeks)
    history = weeks_from_slots(slots, first, weeks, zone)
    model = fit(history)
    found: list[tuple[datetime, float]] = []
    expected: Mapping[int, Week] = {}
    for d in range(horizon_days):
        day = today + timedelta(days=d)
        index = (monday_of(day) - first).days // 7
        if index not in expected:
            expected = {**expected, index: model.week(index)}
        base = datetime.combine(day, time.min, tzinfo=zone)
        for s in range(SLOTS_PER_DAY):
            start = base + timedelta(minutes=30 * s)
            found.append((start, expected[index][day.weekday() * SLOTS_PER_DAY + s]))
    return Forecast(today, first, weeks, model, accuracy(history), found)
