"""Figures from rollup sums: pure functions (definitions in docs/reports.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from appliance.core.report_rollup import LOAD_METRICS, WAIT_EDGES, WAIT_METRICS

# Every figure a report gives, in the order the console shows them, with its unit:
# n a count, s seconds, pct a share 0..100, score 1..5, h hours, x a mean count.
FIGURES: tuple[tuple[str, str], ...] = (
    ("offered", "n"),
    ("answered", "n"),
    ("missed", "n"),
    ("abandoned", "n"),
    ("abandon_wait", "s"),
    ("first_response", "s"),
    ("handling", "s"),
    ("queue_wait_p50", "s"),
    ("queue_wait_p90", "s"),
    ("transfers", "n"),
    ("rating_count", "n"),
    ("rating_mean", "score"),
    ("rating_good", "pct"),
    ("tickets_created", "n"),
    ("tickets_resolved", "n"),
    ("tickets_reopened", "n"),
    ("backlog", "n"),
    ("fcr", "pct"),
    ("sla_first_response", "pct"),
    ("sla_next_response", "pct"),
    ("sla_resolution", "pct"),
    ("online_hours", "h"),
    ("away_hours", "h"),
    ("occupancy", "pct"),
    ("concurrent_avg", "x"),
    ("concurrent_peak", "n"),
    ("kb_sessions", "n"),
    ("kb_deflected", "n"),
    ("kb_deflection", "pct"),
)
FIGURE_IDS = tuple(f for f, _ in FIGURES)
# The figures' version as stored with the rollups (report_state.figures): raise it with
# any change to FIGURES or to how a figure is made, and the box makes them again.
FIGURES_VERSION = 1
SLA_METRICS = ("first_response", "next_response", "resolution")
MAX_DAYS = 800  # a report's span: two years and a bit

Sums = Mapping[str, tuple[int, int]]  # metric -> (n, total)
Value = float | int | None


@dataclass(frozen=True, slots=True)
class Span:
    """A report's buckets: their labels in order and the first and last local day."""

    period: str
    labels: tuple[str, ...]
    first_day: date
    last_day: date


def _week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def span(period: str, first: date, last: date) -> Span:
    """Return the buckets of a period (d, w, m) that cover the local days first..last."""
    labels: list[str] = []
    day = first
    while day <= last:
        label = {"d": day.isoformat(), "w": _week(day), "m": day.strftime("%Y-%m")}[period]
        if not labels or labels[-1] != label:
            labels.append(label)
        day += timedelta(days=1)
    return Span(period, tuple(labels), first, last)


def _avg_s(sums: Sums, metric: str) -> float | None:
    n, total = sums.get(metric, (0, 0))
    return round(total / n / 1000, 1) if n > 0 else None


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole > 0 else None


def percentile(sums: Sums, q: float) -> int | None:
    """Return the upper edge (s) of the wait bucket holding the q-th share of waits.

    Beyond the last edge the figure is that edge: "over an hour"."""
    return _percentiles(sums, (q,))[0]


def _percentiles(sums: Sums, qs: tuple[float, ...]) -> list[int | None]:
    """Return percentile() of each q, reading the histogram once."""
    counts = [sums[m][0] if m in sums else 0 for m in WAIT_METRICS]
    whole = sum(counts)
    if whole <= 0:
        return [None for _ in qs]
    found: list[int | None] = []
    for q in qs:
        need = q * whole
        seen = 0
        edge = WAIT_EDGES[-1]
        for i, count in enumerate(counts):
            seen += count
            if seen >= need and count > 0:
                edge = WAIT_EDGES[min(i, len(WAIT_EDGES) - 1)]
                break
        found.append(edge)
    return found


def _peak(sums: Sums) -> int | None:
    """Return the most chats held at once when one was given (None: none given)."""
    for level in range(len(LOAD_METRICS), 0, -1):
        got = sums.get(LOAD_METRICS[level - 1])
        if got is not None and got[0] > 0:
            return level
    return None


def figures(sums: Sums, backlog: int | None) -> dict[str, Value]:
    """Return every figure of one bucket and key from its sums."""

    def count(metric: str) -> int:
        return sums.get(metric, (0, 0))[0]

    def total(metric: str) -> int:
        return sums.get(metric, (0, 0))[1]

    rated = count("rating")
    online = total("online_ms")
    p50, p90 = _percentiles(sums, (0.5, 0.9))
    found: dict[str, Value] = {
        "offered": count("offered"),
        "answered": count("answered"),
        "missed": count("missed"),
        "abandoned": count("abandoned"),
        "abandon_wait": _avg_s(sums, "abandoned"),
        "first_response": _avg_s(sums, "first_response"),
        "handling": _avg_s(sums, "handling"),
        "queue_wait_p50": p50,
        "queue_wait_p90": p90,
        "transfers": count("transfers"),
        "rating_count": rated,
        "rating_mean": round(total("rating") / rated, 2) if rated > 0 else None,
        "rating_good": _share(count("rating_good"), rated),
        "tickets_created": count("tickets_created"),
        "tickets_resolved": count("tickets_resolved"),
        "tickets_reopened": count("tickets_reopened"),
        "backlog": backlog,
        "fcr": _share(count("fcr"), count("first_resolved")),
        "online_hours": round(online / 3_600_000, 2),
        "away_hours": round(total("away_ms") / 3_600_000, 2),
        "occupancy": _share(total("handling"), online),
    }
    signed_in = online + total("away_ms")
    found["concurrent_avg"] = (
        round(total("held_ms") / signed_in, 2) if signed_in > 0 and "held_ms" in sums else None
    )
    found["concurrent_peak"] = _peak(sums)
    sessions = count("kb_sessions")
    deflected = max(sessions - count("kb_chatted"), 0)
    found["kb_sessions"] = sessions
    found["kb_deflected"] = deflected
    found["kb_deflection"] = _share(deflected, sessions)
    for metric in SLA_METRICS:
        found[f"sla_{metric}"] = _share(count(f"sla_met:{metric}"), count(f"sla_all:{metric}"))
    return found


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a report: a bucket, a key (agent, group, …) and its figures."""

    bucket: str
    key: str
    name: str
    values: dict[str, Value]


BucketRows = dict[str, tuple[dict[str, Value], int]]  # key -> (figures, backlog step)


def encode(sums: Sums) -> str:
    """Return a bucket's figures as stored with its sums: a JSON array in the order of
    FIGURE_IDS (the backlog null: the running figure needs the buckets before, see
    assemble)."""
    made = figures(sums, None)
    return json.dumps([made[f] for f in FIGURE_IDS], separators=(",", ":"))


def buckets_of(
    rows: Iterable[tuple[str, str, str | None, str | None, int]], labels: Iterable[str]
) -> dict[str, BucketRows]:
    """Return each wanted bucket's figures per key from stored rows (bucket, key,
    figures as encode() made them, sums JSON where they are still to be made, backlog
    step). The stored arrays are parsed in one go: a year of days per agent is tens of
    thousands of them."""
    wanted: dict[str, BucketRows] = {label: {} for label in labels}
    mine = [r for r in rows if r[0] in wanted]
    stored = json.loads("[" + ",".join(r[2] for r in mine if r[2] is not None) + "]")
    made = iter(stored)
    for bucket, key, figs, sums, step in mine:
        if figs is not None:
            values: dict[str, Value] = dict(zip(FIGURE_IDS, next(made), strict=True))
        else:
            got = {m: (int(v[0]), int(v[1])) for m, v in json.loads(sums or "{}").items()}
            values = figures(got, None)
        wanted[bucket][key] = (values, step)
    return wanted


def assemble(
    sp: Span,
    dim: str,
    buckets: Mapping[str, BucketRows],
    backlog_before: Mapping[str, int],
    names: Mapping[str, str] | None = None,
) -> list[Row]:
    """Return the report's rows from its buckets' figures, with the keys' names.

    For the whole centre (dim "all") every bucket has a row, empty ones too; for a
    dimension, a key has rows in the buckets where something happened. The backlog is
    a running figure: what was open before the span plus the steps up to each bucket's
    end."""
    named = names or {}
    keys = {k for label in sp.labels for k in buckets.get(label, {})}
    if dim == "all":
        keys.add("")
    ordered = sorted(keys, key=_order)
    running = {key: backlog_before.get(key, 0) for key in ordered}
    titles = {key: named.get(key) or key for key in ordered}
    empty = figures({}, None)
    found: list[Row] = []
    for label in sp.labels:  # in order: buckets, then keys
        got_bucket = buckets.get(label, {})
        for key in ordered:
            got = got_bucket.get(key)
            if got is None:
                if dim != "all":
                    continue
                values, step = empty, 0
            else:
                values, step = got
            running[key] += step
            found.append(Row(label, key, titles[key], {**values, "backlog": running[key]}))
    return found


def _order(key: str) -> tuple[int, int | str]:
    return (0, int(key)) if key.isdigit() else (1, key)
