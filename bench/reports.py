"""Reports benchmark: a year of a call center's events, rollups and report pages (issue 17).

    python bench/reports.py --chats 1000000 --agents 200 --days 365 --tail 50000

1. Generate `--days` of events, day by day, for `--chats` chats over `--agents` agents
   in 10 groups and 8 topics (no network, fixed seed): each chat offered, first rung
   (with a queue wait), answered (first response), held and handled, or abandoned
   (10 %); a rating on 30 %, a transfer on 5 %, a miss on 8 %; tickets (30 % of chats)
   created and resolved, with SLA outcomes; the agent's load when given a chat; self-
   service sessions (half as many as chats, 30 % followed by a chat); presence changes
   four a day per agent.
2. All but the last `--tail` events are folded straight into the rollups (the fold
   the box uses, in this process, flushed a month at a time): the "generator writes
   the rollups directly", so a year of a 200-agent centre fits in minutes. The last
   `--tail` events go into report_events and are folded the way the box does
   (Reports.roll: write jobs through the one writer) while a stand-in for chat messages
   writes a row every 20 ms: the pass's cost per event, its write jobs' times, and the
   chat writes' waits during the pass against the same writes with the writer idle.
   The backfill time of all events is that cost per event times their number.
3. Ask the reports the page asks (Reports.report through the async reader) `--repeat`
   times each, "cold" (the bucket cache emptied before each: every bucket read and
   computed, as the first ask) and "live" (a pass folding 20 new chats into today
   before each: the buckets it touched computed again, the rest kept): wall p50 and
   p99, and CPU p50 (all the process's threads: the machine's other load does not
   inflate it). (Scans of raw events, which an earlier version
   timed for comparison, need every event in report_events: not at this size.)

Prints a Markdown table and writes bench/results/reports-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.cli import tune_gc
from appliance.core import report_figures as fig
from appliance.core.db import Database
from appliance.core.report_rollup import Deltas, ReportEvent, fold
from appliance.core.reports import Reports
from appliance.core.store import reports as store

ZONE = ZoneInfo("Asia/Shanghai")
_INSERT_BATCH = 10_000
_CHAT_EVERY = 0.02  # s between the stand-in chat writes


def _day_events(
    rng: random.Random, base: int, chats: int, agents: int, first_ref: int, last_at: int
) -> list[ReportEvent]:
    """Return one day's events (base: its local midnight, UTC ms), in time order."""
    found: list[ReportEvent] = []

    def add(at: int, kind: str, agent: int | None, group: int, topic: str, channel: str,
            ref: str, value: int | None = None, detail: str = "",
            site: str = "") -> None:  # fmt: skip
        found.append(
            ReportEvent(0, at, kind, agent, group, topic, channel, site, ref, value, detail)
        )

    for i in range(first_ref, first_ref + chats):
        # Office hours mostly: 08:00-20:00 with a midday bump.
        at = base + int(rng.triangular(8, 20, 11) * 3_600_000)
        group = rng.randrange(1, 11)
        topic = f"t{rng.randrange(8)}"
        agent = rng.randrange(1, agents + 1)
        ref = f"c{i}"
        add(at, "chat_offered", None, group, topic, "chat", ref)
        wait = int(rng.expovariate(1 / 25_000))
        if rng.random() < 0.10:
            add(at, "chat_abandoned", None, group, topic, "chat", ref, wait)
            continue
        if rng.random() < 0.08:
            add(at, "chat_missed", agent, group, topic, "chat", ref)
        add(at, "chat_first_assigned", agent, group, topic, "chat", ref, wait)
        add(
            at + wait, "chat_load", agent, group, topic, "chat", ref, rng.choice((1, 1, 2, 2, 3, 4))
        )
        answer = wait + rng.randrange(5_000, 60_000)
        add(at, "chat_answered", agent, group, topic, "chat", ref, answer)
        if rng.random() < 0.05:
            add(at, "chat_transfer", agent, group, topic, "chat", ref)
        handled = int(rng.expovariate(1 / 400_000))
        add(at, "chat_handled", agent, group, topic, "chat", ref, handled)
        add(at + wait, "chat_held", agent, group, topic, "chat", ref, handled)
        if rng.random() < 0.30:
            add(at, "rating", agent, group, topic, "chat", ref, rng.choice((3, 4, 5, 5, 5, 2)))
        if rng.random() < 0.50:
            site = f"s{rng.randrange(3)}"
            add(at - 60_000, "kb_session", None, 0, "", "kb", f"v{i}", site=site)
            if rng.random() < 0.30:
                add(at - 60_000, "kb_chatted", None, 0, "", "kb", f"v{i}", site=site)
        if rng.random() < 0.30:
            tref = f"t{i}"
            add(at, "ticket_created", agent, group, "", "chat", tref, 1)
            done = at + int(rng.expovariate(1 / 86_400_000))
            if done < last_at:
                add(done, "ticket_backlog", agent, group, "", "chat", tref, -1)
                add(done, "ticket_resolved", agent, group, "", "chat", tref, done - at,
                    rng.choice(("fcr", "first", "first")))  # fmt: skip
                met = "sla_met" if rng.random() < 0.85 else "sla_late"
                add(done, met, agent, group, "", "chat", tref, None, "resolution")
    for agent in range(1, agents + 1):
        for hour, status in ((9, "online"), (12, "away"), (13, "online"), (18, "offline")):
            at = base + hour * 3_600_000 + rng.randrange(-600_000, 600_000)
            add(at, "presence", agent, 0, "", "", "", None, status)
    found.sort(key=lambda e: e.at)  # as they happen (a ticket resolved later: that day)
    return found


def _days(args: argparse.Namespace, first: date) -> Iterator[tuple[date, list[ReportEvent]]]:
    """Yield each day's events; chats spread evenly with some noise."""
    rng = random.Random(args.seed)
    start = int(datetime.combine(first, datetime.min.time(), tzinfo=ZONE).timestamp() * 1000)
    last_at = start + args.days * 86_400_000
    per_day = args.chats / args.days
    ref = 0
    for d in range(args.days):
        count = max(0, int(rng.gauss(per_day, per_day * 0.15)))
        yield (
            first + timedelta(days=d),
            _day_events(rng, start + d * 86_400_000, count, args.agents, ref, last_at),
        )
        ref += count


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _chat_writes(db: Database, stop: asyncio.Event) -> list[float]:
    """Write a row every _CHAT_EVERY s until stopped; return each write's time (ms)."""
    waits: list[float] = []
    while not stop.is_set():
        t = time.perf_counter()
        await db.write(
            lambda c: c.execute("INSERT INTO bench_chat (at) VALUES (?)", (time.time_ns(),))
        )
        waits.append((time.perf_counter() - t) * 1000)
        await asyncio.sleep(_CHAT_EVERY)
    return waits


def _waits(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50_ms": round(_pct(values, 0.5), 2),
        "p99_ms": round(_pct(values, 0.99), 2),
        "max_ms": round(max(values), 2),
    }


async def _run(args: argparse.Namespace) -> dict[str, object]:
    first = date(2025, 1, 1)
    last = first + timedelta(days=args.days - 1)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        await db.open()
        await db.write(
            lambda c: c.execute("CREATE TABLE bench_chat (id INTEGER PRIMARY KEY, at INTEGER)")
        )
        # 1-2. Fold all but the tail straight into the rollups, a month at a time.
        made = time.perf_counter()
        cpu0 = time.process_time()
        presence: dict[int | None, ReportEvent] = {}

        def previous(event: ReportEvent) -> ReportEvent | None:
            before = presence.get(event.agent_id)
            presence[event.agent_id] = event
            return before

        # Fold the oldest days while the days kept hold at least --tail events after them.
        kept: list[tuple[date, list[ReportEvent]]] = []
        kept_count, total, head = 0, 0, 0
        deltas: Deltas = {}
        month = ""
        for day, events in _days(args, first):
            kept.append((day, events))
            kept_count += len(events)
            total += len(events)
            while kept and kept_count - len(kept[0][1]) >= args.tail:
                old_day, old = kept.pop(0)
                kept_count -= len(old)
                if old_day.strftime("%Y-%m") != month and deltas:
                    await db.write(partial(store.add_deltas, deltas=deltas, figures=fig.encode))
                    deltas = {}
                month = old_day.strftime("%Y-%m")
                fold(old, ZONE, previous, deltas)
                head += len(old)
        tail = [e for _, events in kept for e in events]
        if deltas:
            await db.write(partial(store.add_deltas, deltas=deltas, figures=fig.encode))
        del kept
        direct_s = time.perf_counter() - made
        direct_cpu_s = time.process_time() - cpu0

        def seed(conn: sqlite3.Connection) -> None:
            # Each agent's last presence before the tail (already folded), the cursor
            # after them, then the tail itself.
            last = 0
            for event in presence.values():
                last = store.add_event(conn, event)
            store.set_state(conn, last, "Asia/Shanghai", 0)
            for event in tail:
                store.add_event(conn, event)

        await db.write(seed)
        reports = Reports(db, lambda: ZONE, now=lambda: 0)
        # The chat writes' waits with the writer idle, then during the pass.
        stop = asyncio.Event()
        idle_task = asyncio.create_task(_chat_writes(db, stop))
        await asyncio.sleep(3)
        stop.set()
        idle = await idle_task
        jobs: list[float] = []
        original = db.write

        async def timed(fn, **kw):  # type: ignore[no-untyped-def]
            def job(conn):  # type: ignore[no-untyped-def]
                t0 = time.perf_counter()
                try:
                    return fn(conn)
                finally:
                    if getattr(fn, "__name__", "") == "write":
                        jobs.append(time.perf_counter() - t0)

            return await original(job, **kw)

        db.write = timed  # type: ignore[method-assign]
        stop = asyncio.Event()
        busy_task = asyncio.create_task(_chat_writes(db, stop))
        t0, c0 = time.perf_counter(), time.process_time()
        rolled = await reports.roll()
        roll_s, roll_cpu = time.perf_counter() - t0, time.process_time() - c0
        stop.set()
        busy = await busy_task
        db.write = original  # type: ignore[method-assign]
        rows = await db.read(lambda c: c.execute("SELECT count(*) FROM report_sums").fetchone()[0])
        backfill = await _backfill(args, db, reports, first) if args.backfill else None
        # 3. The page's questions.
        month_start = last - timedelta(days=29)
        questions = {
            "day, centre, 30 days": ("d", "all", month_start, last),
            "day, per agent, 30 days": ("d", "agent", month_start, last),
            "week, per group, a year": ("w", "group", first, last),
            "month, per agent, a year": ("m", "agent", first, last),
            "day, centre, a year": ("d", "all", first, last),
        }
        rng = random.Random(args.seed + 1)
        noon = int(datetime.combine(last, datetime.min.time(), tzinfo=ZONE).timestamp() * 1000)
        noon += 12 * 3_600_000

        async def churn() -> None:
            """A pass's worth of today's work: 20 chats offered, rung and answered."""
            events = []
            for i in range(20):
                agent, group = rng.randrange(1, args.agents + 1), rng.randrange(1, 11)
                for kind, value in (("chat_offered", None), ("chat_first_assigned", 9_000),
                                    ("chat_answered", 20_000)):  # fmt: skip
                    who = None if kind == "chat_offered" else agent
                    events.append(
                        ReportEvent(
                            0, noon + i, kind, who, group, "t1", "chat", "", f"n{i}", value, ""
                        )
                    )
            await db.write(lambda c: [store.add_event(c, e) for e in events])
            await reports.roll()

        results: dict[str, dict[str, object]] = {}
        for name, (period, dim, a, b) in questions.items():
            found: dict[str, object] = {}
            for mode in ("cold", "live"):
                times, cpu = [], []
                for _ in range(args.repeat):
                    if mode == "cold":
                        reports._forget(None)  # as if never asked: every bucket computed
                    else:
                        await churn()  # today's buckets changed since the last ask
                    t, c = time.perf_counter(), time.process_time()
                    await reports.report(period, dim, a, b)
                    times.append((time.perf_counter() - t) * 1000)
                    cpu.append((time.process_time() - c) * 1000)
                found[f"{mode}_ms"] = [round(x, 1) for x in times]
                found[f"{mode}_p50_ms"] = _pct(times, 0.5)
                found[f"{mode}_p99_ms"] = _pct(times, 0.99)
                found[f"{mode}_cpu_p50_ms"] = _pct(cpu, 0.5)
            results[name] = found
        await db.close()
    per_event = roll_s / max(rolled, 1)
    return {
        "chats": args.chats,
        "agents": args.agents,
        "days": args.days,
        "events": total,
        "folded_directly": head,
        "direct_fold_s": round(direct_s, 1),
        "direct_fold_cpu_s": round(direct_cpu_s, 1),
        "rollup_rows": rows,
        "pass_events": rolled,
        "pass_s": round(roll_s, 2),
        "pass_cpu_s": round(roll_cpu, 2),
        "pass_us_per_event": round(per_event * 1e6, 1),
        "backfill_estimate_s": round(per_event * total),
        "write_jobs": len(jobs),
        "median_write_job_ms": round(statistics.median(jobs) * 1000, 1) if jobs else None,
        "longest_write_job_ms": round(max(jobs) * 1000, 1) if jobs else None,
        "chat_writes_idle": _waits(idle),
        "chat_writes_during_pass": _waits(busy),
        "backfill": backfill,
        "questions": results,
    }


def _packed(conn: sqlite3.Connection) -> list[tuple[str, str, str, str, str, str | None]]:
    return conn.execute(
        "SELECT period, dim, bucket, key, sums, figures FROM report_sums"
        " ORDER BY period, dim, bucket, key"
    ).fetchall()


async def _backfill(
    args: argparse.Namespace, db: Database, reports: Reports, first: date
) -> dict[str, object]:
    """Put every event of the year into report_events (generated again: same seed), run
    the real backfill through the writer with the stand-in chat writes beside it, and
    compare its rollups with those of the direct fold and the pass, row by row."""
    before = await db.read(_packed)
    t0 = time.perf_counter()
    await db.write(lambda c: c.execute("DELETE FROM report_events"))
    batch: list[ReportEvent] = []
    for _, events in _days(args, first):
        batch += events
        if len(batch) >= _INSERT_BATCH:
            await db.write(lambda c, b=batch: [store.add_event(c, e) for e in b])
            batch = []
    await db.write(lambda c, b=batch: [store.add_event(c, e) for e in b])
    insert_s = time.perf_counter() - t0
    stop = asyncio.Event()
    chats = asyncio.create_task(_chat_writes(db, stop))
    progress: list[tuple[float, int]] = []
    t0, c0 = time.perf_counter(), time.process_time()
    done = await reports.backfill(lambda n, of: progress.append((time.perf_counter() - t0, n)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    stop.set()
    waits = await chats
    after = await db.read(_packed)
    differ = sum(1 for a, b in zip(before, after, strict=False) if a != b)
    return {
        "events": done,
        "insert_s": round(insert_s, 1),
        "backfill_s": round(wall, 1),
        "backfill_cpu_s": round(cpu, 1),
        "us_per_event": round(wall / max(done, 1) * 1e6, 1),
        "rows_before": len(before),
        "rows_after": len(after),
        "rows_differing": differ + abs(len(before) - len(after)),
        "chat_writes_during_backfill": _waits(waits),
        "progress_every_10pct": progress[:: max(1, len(progress) // 10)],
    }


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--tail", type=int, default=50_000, help="events folded by the pass")
    parser.add_argument(
        "--backfill", action="store_true", help="also run the real backfill of every event"
    )
    args = parser.parse_args()
    tune_gc()  # the box's collector settings (appliance/cli.py), as `appliance run` has them
    out = asyncio.run(_run(args))
    print(json.dumps({k: v for k, v in out.items() if k != "questions"}, indent=1))
    print("| question | cold p50 ms | cold p99 ms | cold CPU p50 | live p50 ms | live p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in out["questions"].items():  # type: ignore[attr-defined]
        print(
            f"| {name} | {r['cold_p50_ms']:.1f} | {r['cold_p99_ms']:.1f}"
            f" | {r['cold_cpu_p50_ms']:.1f} | {r['live_p50_ms']:.1f} | {r['live_p99_ms']:.1f} |"
        )
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    (results / f"reports-{stamp}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
