"""Scorecards benchmark: a scorecard's standings and a review sample at a year's data.

    python bench/scorecards.py --chats 50000 --agents 200 --days 365 --reviews 20000

1. The report events of `--chats` chats over `--days` for `--agents` agents (bench/
   reports.py's generator, same seed), folded into the rollups (Reports.backfill).
2. `--chats` closed conversations of those agents and `--reviews` quality reviews of
   random ones among them, written straight into a migrated database.
3. Standings of a five-item scorecard (four report figures and the quality score) for
   the last week and the last month, `--repeat` times each through the async reader
   (wall p50 and p99), and a sample of 5 unreviewed chats of one agent over a month.

Prints a Markdown table and writes bench/results/scorecards-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.core import audit
from appliance.core.db import Database
from appliance.core.quality import Quality
from appliance.core.reports import Reports
from appliance.core.scorecards import Scorecards
from appliance.core.store import quality as quality_store
from appliance.core.store import reports as report_store
from bench.reports import _INSERT_BATCH, ZONE, _events, _pct

_BY = audit.Actor(None, "bench", "cli")
_CARD = {
    "name": "bench",
    "items": [
        {"figure": "answered", "weight": 20, "target": 300, "direction": "higher"},
        {"figure": "first_response", "weight": 20, "target": 30, "direction": "lower"},
        {"figure": "rating_mean", "weight": 30, "target": 4.8, "direction": "higher"},
        {"figure": "fcr", "weight": 10, "target": 80, "direction": "higher"},
        {"figure": "quality", "weight": 20, "target": 90, "direction": "higher"},
    ],
}


def _conversations(conn: Any, chats: int, agents: int, first: date, days: int, seed: int) -> None:
    rng = random.Random(seed)
    start = int(datetime.combine(first, datetime.min.time(), tzinfo=ZONE).timestamp() * 1000)
    conn.execute("INSERT INTO visitors (id, created_at, last_seen_at) VALUES ('v_b', 0, 0)")
    for i in range(1, agents + 1):
        conn.execute(
            "INSERT INTO users (id, username, display_name, password_hash, role, created_at)"
            " VALUES (?, ?, ?, 'x', 'agent', 0)",
            (i, f"agent{i}", f"坐席{i}"),
        )
    rows = []
    for i in range(chats):
        at = start + rng.randrange(days * 86_400_000)
        rows.append((f"c{i}", rng.randrange(1, agents + 1), at, at + 600_000))
    conn.executemany(
        "INSERT INTO conversations (id, visitor_id, status, agent_id, created_at, closed_at)"
        " VALUES (?, 'v_b', 'closed', ?, ?, ?)",
        rows,
    )


def _reviews(conn: Any, reviews: int, chats: int, seed: int) -> None:
    rng = random.Random(seed + 1)
    for i in rng.sample(range(chats), min(reviews, chats)):
        agent, at = conn.execute(
            "SELECT agent_id, created_at FROM conversations WHERE id = ?", (f"c{i}",)
        ).fetchone()
        score = float(rng.choice((100, 90, 75, 60, 0)))
        quality_store.insert_review(
            conn,
            quality_store.Review(
                0, f"c{i}", agent, "", None, "bench", 1, "bench", 1, [], score, False, "", at, at
            ),
        )


async def _times(repeat: int, call: Callable[[], Awaitable[object]]) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        await call()
        times.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": round(_pct(times, 0.5), 1), "p99_ms": round(_pct(times, 0.99), 1)}


async def _run(args: argparse.Namespace) -> dict[str, object]:
    first = date(2025, 1, 1)
    last = first + timedelta(days=args.days - 1)
    events = _events(args.chats, args.agents, args.days, first, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        await db.open()
        await db.write(
            lambda c: _conversations(c, args.chats, args.agents, first, args.days, args.seed)
        )
        await db.write(lambda c: _reviews(c, args.reviews, args.chats, args.seed))
        for i in range(0, len(events), _INSERT_BATCH):
            chunk = events[i : i + _INSERT_BATCH]
            await db.write(lambda c, chunk=chunk: [report_store.add_event(c, e) for e in chunk])
        reports = Reports(db, lambda: ZONE, now=lambda: 0)
        t0 = time.perf_counter()
        await reports.backfill()
        backfill_s = time.perf_counter() - t0
        cards = Scorecards(db, reports, lambda: ZONE)
        card = await cards.create(_CARD, _BY)
        quality = Quality(db, lambda: ZONE)
        results = {
            "standings, a week": await _times(
                args.repeat, lambda: cards.standings(card.id, "w", last)
            ),
            "standings, a month": await _times(
                args.repeat, lambda: cards.standings(card.id, "m", last)
            ),
            "sample of 5, one agent, a month": await _times(
                args.repeat, lambda: quality.sample(1, last - timedelta(days=29), last, 5)
            ),
        }
        lines = len((await cards.standings(card.id, "m", last)).lines)
        await db.close()
    return {
        "chats": args.chats,
        "agents": args.agents,
        "days": args.days,
        "reviews": args.reviews,
        "events": len(events),
        "backfill_s": round(backfill_s, 1),
        "lines_in_a_month": lines,
        "questions": results,
    }


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--reviews", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    out = asyncio.run(_run(args))
    print(json.dumps({k: v for k, v in out.items() if k != "questions"}, indent=1))
    print("| question | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for name, r in out["questions"].items():  # type: ignore[attr-defined]
        print(f"| {name} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    (results / f"scorecards-{stamp}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
