"""What each report event adds to the rollups: pure functions, no SQL.

An event (a row of report_events, written by the triggers of migration 0029) becomes
deltas on (period, bucket, dim, key, metric) -> (n, total): one per period (local day,
ISO week, month of the box's zone) and per dimension the event has (all, agent, group,
topic, channel, site). Folding is additive, so the pass over new events and the
backfill over all of them give the same sums whatever the batches were.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

PERIODS = ("d", "w", "m")
DIMS = ("all", "agent", "group", "topic", "channel", "site")
GOOD_SCORE = 4  # a rating of 4 or 5 (of 5) counts as good
# Upper edges (s) of the queue-wait histogram: 5 s steps to a minute, 15 s to five
# minutes, a minute to a quarter hour, five minutes to an hour; then one open bucket.
WAIT_EDGES: tuple[int, ...] = (
    *range(5, 61, 5),
    *range(75, 301, 15),
    *range(360, 901, 60),
    *range(1200, 3601, 300),
)
WAIT_HIST = "queue_wait_h:"  # metric prefix of the histogram's buckets
WAIT_METRICS = tuple(f"{WAIT_HIST}{i}" for i in range(len(WAIT_EDGES) + 1))
# Chats an agent held when one more was given to them: a count per level, so the
# peak (the highest level seen) adds up like any sum; MAX_LOAD and more share a level.
MAX_LOAD = 20
LOAD_HIST = "load_h:"
LOAD_METRICS = tuple(f"{LOAD_HIST}{i}" for i in range(1, MAX_LOAD + 1))
_AGENT_KINDS = ("chat_held", "chat_load")  # counted for the centre and the agent only
_KB_KINDS = ("kb_session", "kb_chatted")  # counted for the centre and the site only

Key = tuple[str, str, str, str, str]  # period, bucket, dim, key, metric
Deltas = dict[Key, list[int]]  # -> [n, total]


@dataclass(frozen=True, slots=True)
class ReportEvent:
    """One row of report_events (times UTC ms)."""

    id: int
    at: int
    kind: str
    agent_id: int | None
    group_id: int | None
    topic: str
    channel: str
    site: str
    ref: str
    value: int | None
    detail: str


_QUARTER = 900_000  # ms: zones' offsets change on quarter hours, so labels hold within one


def buckets(at: int, zone: tzinfo) -> tuple[str, str, str]:
    """Return the local day, ISO week and month labels of a moment."""
    local = datetime.fromtimestamp(at / 1000, tz=UTC).astimezone(zone)
    year, week, _ = local.isocalendar()
    return local.strftime("%Y-%m-%d"), f"{year}-W{week:02d}", local.strftime("%Y-%m")


class _Labels:
    """Bucket labels of moments, worked out once per quarter hour (a fold's cache)."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self._seen: dict[int, tuple[str, str, str]] = {}

    def of(self, at: int) -> tuple[str, str, str]:
        quarter = at // _QUARTER
        found = self._seen.get(quarter)
        if found is None:
            found = self._seen[quarter] = buckets(quarter * _QUARTER, self.zone)
        return found


def wait_bucket(ms: int) -> int:
    """Return the histogram bucket of a queue wait."""
    return bisect.bisect_left(WAIT_EDGES, max(ms, 0) / 1000)


def _dims(event: ReportEvent) -> list[tuple[str, str]]:
    found = [("all", "")]
    if event.agent_id is not None:
        found.append(("agent", str(event.agent_id)))
    if event.group_id is not None:
        found.append(("group", str(event.group_id)))
    if event.kind != "presence":
        found.append(("channel", event.channel))
        if event.channel == "chat":
            found.append(("topic", event.topic))
            found.append(("site", event.site))
    return found


def _metrics(event: ReportEvent) -> list[tuple[str, int, int]]:
    """Return (metric, n, total) for an event that is not a presence."""
    value = event.value or 0
    kind = event.kind
    if kind == "chat_offered":
        return [("offered", 1, 0)]
    if kind == "chat_first_assigned":
        return [
            ("rung", 1, 0),
            ("queue_wait", 1, value),
            (WAIT_METRICS[wait_bucket(value)], 1, 0),
        ]
    if kind == "chat_assigned":
        return [("rung", 1, 0)]
    if kind == "chat_answered":
        return [("answered", 1, 0), ("first_response", 1, value)]
    if kind == "chat_handled":
        return [("handling", 1, value)]
    if kind == "chat_abandoned":
        return [("abandoned", 1, value)]
    if kind == "chat_missed":
        return [("missed", 1, 0)]
    if kind == "chat_transfer":
        return [("transfers", 1, 0)]
    if kind in ("rating", "rating_withdrawn"):
        sign = 1 if kind == "rating" else -1
        found = [("rating", sign, sign * value)]
        if value >= GOOD_SCORE:
            found.append(("rating_good", sign, 0))
        return found
    if kind == "ticket_created":
        return [("tickets_created", 1, 0), ("backlog", 0, value)]
    if kind == "ticket_resolved":
        found = [("tickets_resolved", 1, value)]
        if event.detail in ("first", "fcr"):
            found.append(("first_resolved", 1, 0))
        if event.detail == "fcr":
            found.append(("fcr", 1, 0))
        return found
    if kind == "ticket_reopened":
        return [("tickets_reopened", 1, 0)]
    if kind == "ticket_backlog":
        return [("backlog", 0, value)]
    if kind == "chat_load":
        return [(f"{LOAD_HIST}{min(max(value, 1), MAX_LOAD)}", 1, 0)]
    if kind == "kb_session":
        return [("kb_sessions", 1, 0)]
    if kind == "kb_chatted":
        return [("kb_chatted", 1, 0)]
    if kind in ("sla_met", "sla_late"):
        return [(f"sla_all:{event.detail}", 1, 0)] + (
            [(f"sla_met:{event.detail}", 1, 0)] if kind == "sla_met" else []
        )
    return []  # a kind this version does not count


def _local_midnight(day: datetime, zone: tzinfo) -> int:
    start = datetime.combine(day.date(), time.min, tzinfo=zone)
    return int(start.timestamp() * 1000)


def presence_spans(start: int, end: int, zone: tzinfo) -> list[tuple[int, int]]:
    """Split [start, end) at local midnights: (start of piece, its length in ms)."""
    spans: list[tuple[int, int]] = []
    at = start
    while at < end:
        local = datetime.fromtimestamp(at / 1000, tz=UTC).astimezone(zone)
        nxt = _local_midnight(local + timedelta(days=1), zone)
        piece_end = min(end, nxt)
        spans.append((at, piece_end - at))
        at = piece_end
    return spans


def _add(
    deltas: Deltas,
    labels: tuple[str, str, str],
    dims: list[tuple[str, str]],
    metric: str,
    n: int,
    total: int,
) -> None:
    for period, bucket in zip(PERIODS, labels, strict=True):
        for dim, key in dims:
            cell = deltas.setdefault((period, bucket, dim, key, metric), [0, 0])
            cell[0] += n
            cell[1] += total


def fold(
    events: Iterable[ReportEvent],
    zone: tzinfo,
    previous_presence: Callable[[ReportEvent], ReportEvent | None],
    deltas: Deltas | None = None,
) -> Deltas:
    """Add what some events make to deltas (a new dict unless given).

    A presence event closes the agent's previous status: the time since the previous
    presence event is added to that status, split at local midnights; a chat held is
    split the same way (its time held on each day)."""
    found: Deltas = {} if deltas is None else deltas
    labels = _Labels(zone)
    for event in events:
        if event.kind == "presence":
            before = previous_presence(event)
            if before is None or before.detail not in ("online", "away"):
                continue
            dims = [("all", ""), ("agent", str(event.agent_id))]
            for start, length in presence_spans(before.at, event.at, zone):
                _add(found, labels.of(start), dims, f"{before.detail}_ms", 1, length)
            continue
        if event.kind == "chat_held":
            held = [("all", "")] + (
                [("agent", str(event.agent_id))] if event.agent_id is not None else []
            )
            for start, length in presence_spans(event.at, event.at + (event.value or 0), zone):
                _add(found, labels.of(start), held, "held_ms", 1, length)
            continue
        if event.kind in _AGENT_KINDS:
            dims = [("all", "")] + (
                [("agent", str(event.agent_id))] if event.agent_id is not None else []
            )
        elif event.kind in _KB_KINDS:
            dims = [("all", ""), ("site", event.site)]
        else:
            dims = _dims(event)
        at = labels.of(event.at)
        for metric, n, total in _metrics(event):
            _add(found, at, dims, metric, n, total)
    return found
