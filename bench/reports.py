"""Reports benchmark: a year of a call center's events, rollups against scans (issue 17).

    python bench/reports.py --chats 100000 --agents 200 --days 365

1. Generate `--days` of events for `--chats` chats spread over `--agents` agents in 10
   groups and 8 topics (no network, fixed seed): each chat offered, first rung (with a
   queue wait), answered (first response) and handled, or abandoned (10 %); a rating on
   30 %, a transfer on 5 %, a miss on 8 %; tickets (30 % of chats) created and
   resolved, some reopened, with SLA outcomes; presence changes four a day per agent.
   They go into a migrated database through store/reports.py, in transactions of 10,000.
2. Fold them all into the rollups the way the box does (Reports.backfill: write jobs of
   2,000 events through the one writer) and report the time per event, the whole
   backfill's time, and the longest write job (what a chat message queued behind a
   rollup pass would wait at most).
3. Ask the reports the page asks (Reports.report through the async reader) `--repeat`
   times each: p50 and p99 per question; and, for the same questions, the figures from a
   scan of the raw events of the span (folding them in Python as the rollups would have):
   the cost the rollups spare.

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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.core import report_figures as fig
from appliance.core.db import Database
from appliance.core.report_rollup import ReportEvent, fold
from appliance.core.reports import Reports
from appliance.core.store import reports as store

ZONE = ZoneInfo("Asia/Shanghai")
_INSERT_BATCH = 10_000


def _events(chats: int, agents: int, days: int, first: date, seed: int) -> list[ReportEvent]:
    rng = random.Random(seed)
    start = int(datetime.combine(first, datetime.min.time(), tzinfo=ZONE).timestamp() * 1000)
    span = days * 86_400_000
    found: list[ReportEvent] = []

    def add(at: int, kind: str, agent: int | None, group: int, topic: str, channel: str,
            ref: str, value: int | None = None, detail: str = "") -> None:  # fmt: skip
        found.append(ReportEvent(0, at, kind, agent, group, topic, channel, "", ref, value, detail))

    for i in range(chats):
        # Office hours mostly: a day, then 08:00-20:00 with a midday bump.
        day = rng.randrange(days)
        at = start + day * 86_400_000 + int(rng.triangular(8, 20, 11) * 3_600_000)
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
            at,
            "chat_answered",
            agent,
            group,
            topic,
            "chat",
            ref,
            wait + rng.randrange(5_000, 60_000),
        )
        if rng.random() < 0.05:
            add(at, "chat_transfer", agent, group, topic, "chat", ref)
        add(at, "chat_handled", agent, group, topic, "chat", ref, int(rng.expovariate(1 / 400_000)))
        if rng.random() < 0.30:
            add(at, "rating", agent, group, topic, "chat", ref, rng.choice((3, 4, 5, 5, 5, 2)))
        if rng.random() < 0.30:
            tref = f"t{i}"
            add(at, "ticket_created", agent, group, "", "chat", tref, 1)
            done = at + int(rng.expovariate(1 / 86_400_000))
            if done < start + span:
                add(done, "ticket_backlog", agent, group, "", "chat", tref, -1)
                add(done, "ticket_resolved", agent, group, "", "chat", tref, done - at,
                    rng.choice(("fcr", "first", "first")))  # fmt: skip
                met = "sla_met" if rng.random() < 0.85 else "sla_late"
                add(done, met, agent, group, "", "chat", tref, None, "resolution")
    for agent in range(1, agents + 1):
        for day in range(days):
            base = start + day * 86_400_000
            for hour, status in ((9, "online"), (12, "away"), (13, "online"), (18, "offline")):
                at = base + hour * 3_600_000 + rng.randrange(-600_000, 600_000)
                add(at, "presence", agent, 0, "", "", "", None, status)
    found.sort(key=lambda e: e.at)  # as they happen
    return found


def _scanner(period: str, dim: str, a: date, b: date, since: int, until: int) -> Any:
    """Return a read job computing a report from a scan of the span's raw events."""

    def scan(conn: sqlite3.Connection) -> list[fig.Row]:
        deltas = fold(store.scan(conn, since, until), ZONE, lambda e: None)
        cells = [
            (k[1], k[3], k[4], v[0], v[1])
            for k, v in deltas.items()
            if k[0] == period and k[2] == dim
        ]
        return fig.rows(fig.span(period, a, b), dim, cells, {})

    return scan


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(args: argparse.Namespace) -> dict[str, object]:
    first = date(2025, 1, 1)
    last = first + timedelta(days=args.days - 1)
    made = time.perf_counter()
    events = _events(args.chats, args.agents, args.days, first, args.seed)
    made = time.perf_counter() - made
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        await db.open()
        for i in range(0, len(events), _INSERT_BATCH):
            chunk = events[i : i + _INSERT_BATCH]
            await db.write(lambda c, chunk=chunk: [store.add_event(c, e) for e in chunk])
        reports = Reports(db, lambda: ZONE, now=lambda: 0)
        # Time each write job of the backfill: the longest is a message's worst extra wait.
        jobs: list[float] = []
        original = db.write

        async def timed(fn, **kw):  # type: ignore[no-untyped-def]
            def job(conn):  # type: ignore[no-untyped-def]
                t0 = time.perf_counter()
                try:
                    return fn(conn)
                finally:
                    jobs.append(time.perf_counter() - t0)

            return await original(job, **kw)

        db.write = timed  # type: ignore[method-assign]
        t0 = time.perf_counter()
        await reports.backfill()
        backfill_s = time.perf_counter() - t0
        rows = await db.read(
            lambda c: c.execute("SELECT count(*) FROM report_rollups").fetchone()[0]
        )
        month_start = last - timedelta(days=29)
        questions = {
            "day, centre, 30 days": ("d", "all", month_start, last),
            "day, per agent, 30 days": ("d", "agent", month_start, last),
            "week, per group, a year": ("w", "group", first, last),
            "month, per agent, a year": ("m", "agent", first, last),
            "day, centre, a year": ("d", "all", first, last),
        }
        results: dict[str, dict[str, float]] = {}
        for name, (period, dim, a, b) in questions.items():
            times, cpu = [], []
            for _ in range(args.repeat):
                t, c = time.perf_counter(), time.process_time()
                await reports.report(period, dim, a, b)
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            results[name] = {
                "p50_ms": _pct(times, 0.5),
                "p99_ms": _pct(times, 0.99),
                "cpu_p50_ms": _pct(cpu, 0.5),  # all the process's threads: load-independent
            }
            # The same from a scan of the span's raw events.
            since = int(datetime.combine(a, datetime.min.time(), tzinfo=ZONE).timestamp() * 1000)
            until = int(
                datetime.combine(
                    b + timedelta(days=1), datetime.min.time(), tzinfo=ZONE
                ).timestamp()
                * 1000
            )
            scans = []
            for _ in range(max(1, args.repeat // 10)):
                t = time.perf_counter()
                await db.read(_scanner(period, dim, a, b, since, until))
                scans.append((time.perf_counter() - t) * 1000)
            results[name]["scan_p50_ms"] = statistics.median(scans)
        await db.close()
    return {
        "chats": args.chats,
        "agents": args.agents,
        "days": args.days,
        "events": len(events),
        "rollup_rows": rows,
        "generate_s": round(made, 1),
        "backfill_s": round(backfill_s, 2),
        "fold_us_per_event": round(backfill_s / len(events) * 1e6, 1),
        "longest_write_job_ms": round(max(jobs) * 1000, 1),
        "median_write_job_ms": round(statistics.median(jobs) * 1000, 1),
        "questions": results,
    }


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    out = asyncio.run(_run(args))
    print(json.dumps({k: v for k, v in out.items() if k != "questions"}, indent=1))
    print("| question | rollups p50 ms | rollups p99 ms | rollups CPU p50 ms | scan p50 ms |")
    print("|---|---:|---:|---:|---:|")
    for name, r in out["questions"].items():  # type: ignore[attr-defined]
        print(
            f"| {name} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['cpu_p50_ms']:.1f}"
            f" | {r['scan_p50_ms']:.0f} |"
        )
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    (results / f"reports-{stamp}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
