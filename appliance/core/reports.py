"""Reports: rollups kept up to date from the report events, and figures read from them.

The triggers of migration 0029 write an event with each change worth counting; this
service folds new events into the rollups in its own write jobs (a pass every
`_ROLL_EVERY` s, `_BATCH` events a job, pausing between jobs while other writes go on),
never inside a chat message's write. The backfill folds every event again from nothing
and gives the same sums: folding adds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from time import monotonic
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.tz import tzlocal

from appliance.core import report_figures as fig
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.erlang import Staffing, agents_needed
from appliance.core.errors import InvalidInput
from appliance.core.forecast import SLOT_MS, WEEKS, Forecast, forecast, monday_of
from appliance.core.periodic import Periodic
from appliance.core.report_rollup import DIMS, PERIODS, ReportEvent, fold
from appliance.core.store import reports as store
from appliance.core.store import visits as visit_store

_LOGGER = logging.getLogger(__name__)

_ROLL_EVERY = 15.0  # s between passes over new events
# Events per step. A step's cost is mostly the rows its events touch (each row's sums
# read, its figures made, the row stored), and events share rows (their day, week and
# month, the centre, an agent): 1,000 events touched 315 rows at 5,000 chats and 100
# agents, where 50 touched 135. So few large steps cost a fraction of many small ones
# (bench/README.md, "The report pass while chats flow"); the write stores rows only.
_BATCH = 1000
_BACKFILL_BATCH = 250  # a backfill's steps
_BACK_OFF = 4.0  # while other writes go on: a pause of 4x each step's time (<= ~20 %)
_BACK_OFF_MAX = 0.5  # s at most
_YIELD_S = 0.005  # a pause before each job while others wait, so they go first
_FUNNEL_ROWS = 200  # sources (or keywords, pages) a funnel lists, the most visited first
_AHT = 300.0  # s of handling time a plan assumes when the history has none
_FILL_BATCH = 500  # rows whose figures are made per write job after an upgrade
_CACHE_ROWS = 20_000  # report rows (a bucket's key) kept between reports: ~30 MB (1.4 KB each)


@dataclass(frozen=True, slots=True)
class Report:
    """A report's rows, and how fresh the rollups behind it are."""

    period: str
    dim: str
    first: date
    last: date
    zone: str
    rolled_at: int
    rows: list[fig.Row]


def box_zone() -> tzinfo:
    """Return the box's zone: the process's TZ (set from the setup), else the system's."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return tzlocal()


def zone_name(zone: tzinfo) -> str:
    """Return a stable name for a zone: its key, else its winter and summer offsets."""
    key = getattr(zone, "key", None)
    if key:
        return str(key)
    year = datetime.now(tz=UTC).year
    offsets = [datetime(year, month, 1, 12, tzinfo=zone).utcoffset() for month in (1, 7)]
    return "utc" + "/".join(str(int(o.total_seconds() // 60)) if o else "0" for o in offsets)


class Reports:
    """Keeps the rollups and answers report queries."""

    def __init__(
        self, db: Database, zone: Callable[[], tzinfo] = box_zone, now: Callable[[], int] = now_ms
    ) -> None:
        self._db = db
        db.send_away(store.store_passes)  # found moved again: -1, the pass runs again
        self._zone = zone
        self._now = now
        self._passes = Periodic("report rollup pass", _ROLL_EVERY, self.roll)
        # Figures of buckets already asked, per (period, dim, bucket): a past month or
        # day seldom changes, so a year's report computes only what a pass touched
        # since. A pass drops what it changes; _generation tells a report read before
        # that not to keep what it read.
        self._cache: OrderedDict[tuple[str, str, str], fig.BucketRows] = OrderedDict()
        self._cached_rows = 0
        self._generation = 0

    async def _step(self, limit: int) -> int:
        """Fold the next events into the rollups; return how many (-1: raced, again).

        The events are read and summed on the reader, added to the rows they touch and
        those rows' figures made there too; the write job only stores the rows and
        moves the cursor, if nobody moved it meanwhile (the pass and the backfill are
        the rows' only writers, and each moves it), so a pass holds the one writer for
        its row writes alone."""
        zone = self._zone()
        name = zone_name(zone)

        def read(conn: sqlite3.Connection) -> tuple[store.State, int, int, list[store.SumRow]]:
            state = store.state(conn)
            # A new zone moves every day boundary: start again from the first event.
            rebuild = bool(state.zone) and state.zone != name
            cursor = 0 if rebuild else state.cursor
            events = store.events_after(conn, cursor, limit)
            grouped = store.by_row(fold(events, zone, lambda e: _previous(conn, e)))
            base = {} if rebuild else store.sums_of(conn, grouped)
            rows = store.merged(base, grouped, fig.encode)
            return state, len(events), events[-1].id if events else cursor, rows

        seen, count, cursor, rows = await self._db.read_aside(read)
        rebuild = bool(seen.zone) and seen.zone != name
        if rebuild:
            _LOGGER.info("report zone changed from %s to %s: rebuilding", seen.zone, name)
        # Data, not a closure: the writer's helper process may store it (issue 18).
        job = store.PassWrite(seen, rebuild, rows, cursor, name, self._now(), count)
        done = await self._db.write(
            lambda conn: store.store_passes(conn, [job])[0], many=(store.store_passes, job)
        )
        if done >= 0:
            self._forget(None if rebuild else {(r.key[0], r.key[1], r.key[2]) for r in rows})
        return done

    async def _fill_figures(self, limit: int = _FILL_BATCH) -> int:
        """Make the figures of rows that have none yet (carried over by migration 0035),
        a batch per write job; return how many."""
        done = 0
        while True:

            def read(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
                return [
                    (i, sums, fig.encode(store.decode_sums(sums)))
                    for i, sums in store.unfigured(conn, limit)
                ]

            made = await self._db.read_aside(read)
            if not made:
                return done
            await self._db.write(lambda conn, m=made: store.set_figures(conn, m))  # type: ignore[misc]
            done += len(made)
            if len(made) < limit:
                return done
            if self._db.queue_depth > 0:
                await asyncio.sleep(_YIELD_S)

    async def _polite_step(self, limit: int) -> int:
        """Fold a batch; while other writes go on (a chat's lines), let those waiting
        go first and pause after the step for a multiple of its time, so the pass stays
        a small share of the CPU. Return the count (-1: raced, again)."""
        db = self._db
        if db.queue_depth > 0:
            await asyncio.sleep(_YIELD_S)
        started = monotonic()
        settled = db.stats.jobs
        done = await self._step(limit)
        # Others' writes: those settled meanwhile (the step's own is one; most of a
        # chat's go to the writer's helper and never wait in the queue) or waiting now.
        if db.stats.jobs - settled > 1 or db.queue_depth > 0:
            # A step's Python work (adding up rows, making figures) takes the GIL from
            # the event loop in slices: back off for a multiple of what the step took.
            await asyncio.sleep(min(_BACK_OFF * (monotonic() - started), _BACK_OFF_MAX))
        return done

    async def roll(self, limit: int = _BATCH) -> int:
        """Fold events not yet in the rollups, a batch per write job; return how many.
        Then make the figures of rows that have none yet (after an upgrade)."""
        if (await self._db.read_aside(store.state)).figures != fig.FIGURES_VERSION:
            await self._db.write(_figures_current)  # an idle box writes nothing
        done = 0
        while True:
            count = await self._polite_step(limit)
            done += max(count, 0)
            if 0 <= count < limit:
                break
        await self._fill_figures()
        return done

    async def backfill(
        self, progress: Callable[[int, int], None] | None = None, limit: int = _BACKFILL_BATCH
    ) -> int:
        """Rebuild the rollups from every event; report (done, of) after each batch."""
        last = await self._db.read_aside(store.last_event_id)
        await self._db.write(store.clear_rollups)
        self._forget(None)
        done = 0
        while True:
            count = await self._polite_step(limit)
            done += max(count, 0)
            if progress is not None:
                progress(done, last)
            if 0 <= count < limit:
                return done

    def start(self) -> None:
        """Start the periodic pass."""
        self._passes.start()

    async def close(self) -> None:
        """Stop the periodic pass."""
        await self._passes.close()

    async def plan(
        self,
        level: float,
        target_s: float,
        concurrency: int,
        aht_s: float | None,
        today: date | None = None,
    ) -> Plan:
        """Forecast the next two weeks' contacts and the agents needed for a service level
        (`level` 0..1 answered within `target_s`); the handling time defaults to the
        history's."""
        zone = self._zone()
        day = today or datetime.fromtimestamp(self._now() / 1000, tz=UTC).astimezone(zone).date()
        since = monday_of(day) - timedelta(weeks=WEEKS)
        since_ms = int(datetime.combine(since, time.min, tzinfo=zone).timestamp() * 1000)

        def read(conn: sqlite3.Connection) -> tuple[list[tuple[int, int]], tuple[int, int]]:
            slots = store.offered_per_slot(conn, since_ms, SLOT_MS)
            handled = store.metric_sum(
                conn, "handling", since.isoformat(), (day - timedelta(days=1)).isoformat()
            )
            return slots, handled

        slots, (handled_n, handled_ms) = await self._db.read_aside(read)
        found = forecast(slots, day, zone)
        from_history = aht_s is None and handled_n > 0
        aht = aht_s if aht_s is not None else (handled_ms / handled_n / 1000 if handled_n else _AHT)
        staffing = [
            agents_needed(expected / (SLOT_MS / 1000), aht, target_s, level, concurrency)
            for _, expected in found.slots
        ]
        return Plan(found, aht, from_history, staffing)

    async def funnel(self, by: str, first: date, last: date) -> list[FunnelRow]:
        """Return visits, invited, chats, tickets and leads per source, keyword or landing page
        over local days first..last (visits the insight retention still keeps)."""
        if by not in visit_store.FUNNEL_BY:
            raise InvalidInput(f"by must be one of {', '.join(visit_store.FUNNEL_BY)}")
        if last < first or (last - first).days >= fig.MAX_DAYS:
            raise InvalidInput(f"from..to must be in order and at most {fig.MAX_DAYS} days")
        zone = self._zone()
        since = int(datetime.combine(first, time.min, tzinfo=zone).timestamp() * 1000)
        until = int(
            datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone).timestamp() * 1000
        )
        rows = await self._db.read_aside(
            lambda conn: visit_store.funnel(conn, by, since, until, _FUNNEL_ROWS)
        )
        return [FunnelRow(*row) for row in rows]

    async def report(self, period: str, dim: str, first: date, last: date) -> Report:
        """Return the figures of a period (d, w, m) and dimension over local days first..last."""
        if period not in PERIODS:
            raise InvalidInput("period must be d, w or m")
        if dim not in DIMS:
            raise InvalidInput(f"dim must be one of {', '.join(DIMS)}")
        if last < first:
            raise InvalidInput("to is before from")
        if (last - first).days >= fig.MAX_DAYS:
            raise InvalidInput(f"a report spans at most {fig.MAX_DAYS} days")
        sp = fig.span(period, first, last)
        generation = self._generation
        missing = [label for label in sp.labels if (period, dim, label) not in self._cache]

        def read(
            conn: sqlite3.Connection,
        ) -> tuple[dict[str, fig.BucketRows], dict[str, int], store.State]:
            found: dict[str, fig.BucketRows] = {}
            state = store.state(conn)
            if missing:
                current = state.figures == fig.FIGURES_VERSION  # else: made from the sums
                rows = store.bucket_rows(conn, period, dim, missing[0], missing[-1], current)
                found = fig.buckets_of(rows, missing)
            return found, store.backlog_before(conn, dim, _first_day_of(sp)), state

        fresh, before, state = await self._db.read_aside(read)
        buckets = {**{label: self._cached(period, dim, label) for label in sp.labels}, **fresh}
        if generation == self._generation:  # no pass changed the rollups meanwhile
            for label, rows in fresh.items():
                self._keep((period, dim, label), rows)
        keys = {k for label in sp.labels for k in buckets.get(label, {})}
        names = await self._db.read_aside(lambda conn: store.names(conn, dim, keys))
        return Report(
            period,
            dim,
            first,
            last,
            state.zone or zone_name(self._zone()),
            state.rolled_at,
            fig.assemble(sp, dim, buckets, before, names),
        )

    def _cached(self, period: str, dim: str, label: str) -> fig.BucketRows:
        found = self._cache.get((period, dim, label))
        if found is None:
            return {}
        self._cache.move_to_end((period, dim, label))
        return found

    def _keep(self, bucket: tuple[str, str, str], rows: fig.BucketRows) -> None:
        """Keep a bucket's figures until a pass changes it (the oldest used go first)."""
        old = self._cache.pop(bucket, None)
        self._cached_rows -= len(old) if old is not None else 0
        self._cache[bucket] = rows
        self._cached_rows += len(rows)
        while self._cached_rows > _CACHE_ROWS and self._cache:
            _, dropped = self._cache.popitem(last=False)
            self._cached_rows -= len(dropped)

    def _forget(self, buckets: set[tuple[str, str, str]] | None) -> None:
        """Drop the figures of buckets a pass changed (None: all of them)."""
        self._generation += 1
        if buckets is None:
            self._cache.clear()
            self._cached_rows = 0
            return
        for bucket in buckets:
            old = self._cache.pop(bucket, None)
            if old is not None:
                self._cached_rows -= len(old)


@dataclass(frozen=True, slots=True)
class FunnelRow:
    """Visits from one source (or keyword, or landing page) and how far they went."""

    key: str
    visits: int
    invited: int
    chatted: int
    ticketed: int
    leads: int


@dataclass(frozen=True, slots=True)
class Plan:
    """A forecast with the agents each half hour needs for a target."""

    forecast: Forecast
    aht_s: float
    aht_from_history: bool
    staffing: list[Staffing]


def _first_day_of(sp: fig.Span) -> str:
    """Return the first local day of a span's first bucket (a week's Monday, a month's 1st)."""
    label = sp.labels[0]
    if sp.period == "d":
        return label
    if sp.period == "m":
        return f"{label}-01"
    return date.fromisocalendar(int(label[:4]), int(label[6:]), 1).isoformat()


def _figures_current(conn: sqlite3.Connection) -> None:
    """Forget the stored figures if another version of the box made them (the pass
    then makes them again, and reports make them from the sums meanwhile)."""
    if store.state(conn).figures != fig.FIGURES_VERSION:
        _LOGGER.info("report figures changed: making them again")
        store.forget_figures(conn, fig.FIGURES_VERSION)


def _previous(conn: sqlite3.Connection, event: ReportEvent) -> ReportEvent | None:
    if event.agent_id is None:
        return None
    return store.previous_presence(conn, event.agent_id, event.id)
