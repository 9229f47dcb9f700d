"""Service desk benchmark: a big ticket store, the minute's timed-rule pass, the saved
views, and ticket creation beside chat writes (issue 12, item 13).

    python bench/tickets.py --tickets 1000000 --open 100000

1. Fill a real SQLite data dir with `--tickets` tickets (`--open` of them not closed),
   each with its creation entry, in bulk through the store (the service's own writes
   are measured in step 4).
2. The minute's pass: `run_timed_rules` with two timed rules over the open tickets,
   once when every ticket matches a rule (the first pass after a long stop: it writes)
   and again when none does (the steady state: reads only). Reports the pass's time and
   the longest single write transaction (a batch), which is how long a chat message
   may wait behind it.
   Then the SLA minute pass (`run_sla`): every new or open ticket gets a running
   resolution clock (8 business hours on an always-open calendar, warning at 80 %),
   started at a random time over the last 8 hours, as they are on a busy desk: a
   steady minute (about 1/480 of the clocks reach their warning), then the pass after
   an hour's stop (about an eighth do). Reports each pass's time, firings and longest
   write transaction.
3. The saved views (mine, my groups, unassigned, pending, open, all, left, breaching
   soon) for a supervisor and an agent: `--repeat` reads each, p50 and p99.
4. Chat writes alone, then with tickets created at `--rate` per second through the
   service (triggers and webhooks included) and the timed and SLA passes running: the write wait
   of a chat-sized job (its enqueue to its commit), p50/p99/max, as a ratio of the
   first. The baseline is the first: the same job on the same box with nothing else.

Writes bench/results/tickets-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a script: make the appliance importable
    sys.path.insert(0, str(_ROOT))

import psutil  # noqa: E402
from provenance import git_revision, loop_factory, machine  # noqa: E402  (bench/)

from appliance.core.box import Box  # noqa: E402
from appliance.core.clock import now_ms  # noqa: E402
from appliance.core.tickets import NewTicket  # noqa: E402
from appliance.settings import load_settings  # noqa: E402

_HOUR = 3600 * 1000
_STATES_OPEN = ("new", "open", "pending", "resolved")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fill(box: Box, total: int, open_count: int, groups: list[int], users: list[int]) -> float:
    """Bulk-load tickets and their creation entries; return seconds taken."""
    started = time.perf_counter()
    conn = box.db._writer  # the benchmark's own bulk load, before anything else runs
    assert conn is not None
    rng = random.Random(7)
    now = now_ms() - 3 * _HOUR
    conn.execute("BEGIN")
    for n in range(1, total + 1):
        state = rng.choice(_STATES_OPEN) if n > total - open_count else "closed"
        owner = rng.choice(users) if rng.random() < 0.7 else None
        group = rng.choice(groups)
        created = now - (total - n) * 50
        conn.execute(
            "INSERT INTO tickets (id, number, state, subject, priority, channel, group_id,"
            " owner_id, created_at, updated_at, state_at, last_seq)"
            " VALUES (?, ?, ?, ?, ?, 'api', ?, ?, ?, ?, ?, 1)",
            (
                n,
                f"B{n:08d}",
                state,
                f"工单 {n}",
                rng.choice(("low", "normal", "high", "urgent")),
                group,
                owner,
                created,
                created,
                created,
            ),
        )
        data = {"number": f"B{n:08d}", "subject": f"工单 {n}", "group_id": group}
        conn.execute(
            "INSERT INTO ticket_events (ticket_id, seq, at, by, kind, data)"
            " VALUES (?, 1, ?, 'agent', 'created', ?)",
            (n, created, json.dumps(data, ensure_ascii=False)),
        )
        if n % 50_000 == 0:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("COMMIT")
    return time.perf_counter() - started


def fill_clocks(box: Box, policy_id: int, now: int, target_ms: int, share: float) -> int:
    """Give every new or open ticket a running resolution clock, started at a random
    time over the last `target_ms`: the warning of those past it already taken, the
    rest planned. Return how many clocks."""
    conn = box.db._writer  # the benchmark's own bulk load
    assert conn is not None
    rng = random.Random(11)
    ids = [r[0] for r in conn.execute("SELECT id FROM tickets WHERE state IN ('new', 'open')")]
    conn.execute("BEGIN")
    for ticket_id in ids:
        started = now - rng.randrange(target_ms)
        due_at = started + target_ms
        warn_at = started + int(target_ms * share)
        warned = warn_at if warn_at < now - 60_000 else None
        next_at = due_at if warned is not None else warn_at
        conn.execute(
            "INSERT INTO ticket_sla (ticket_id, metric, policy_id, target_ms, used_ms,"
            " running_since, started_at, due_at, warn_at, next_at, warned_at)"
            " VALUES (?, 'resolution', ?, ?, 0, ?, ?, ?, ?, ?, ?)",
            (ticket_id, policy_id, target_ms, started, started, due_at, warn_at, next_at, warned),
        )
    conn.execute("COMMIT")
    return len(ids)


class WriteTimer:
    """Times every write transaction of the box: the longest is what a chat waits."""

    def __init__(self, box: Box) -> None:
        self.longest = 0.0
        original = box.db.write

        async def timed(fn: Any, **kwargs: Any) -> Any:
            def wrapped(conn: Any) -> Any:
                t = time.perf_counter()
                try:
                    return fn(conn)
                finally:
                    self.longest = max(self.longest, time.perf_counter() - t)

            return await original(wrapped, **kwargs)

        box.db.write = timed  # type: ignore[method-assign]


async def chat_waits(box: Box, seconds: float, rate: float) -> list[float]:
    """Write a chat-sized job `rate` times a second; return each one's wait (s)."""
    waits: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        await box.db.write(lambda conn: conn.execute("SELECT 1").fetchone())
        waits.append(time.perf_counter() - t)
        await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - t)))
    return waits


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0, help="tickets/s in step 4")
    parser.add_argument("--seconds", type=float, default=20.0, help="each window of step 4")
    args = parser.parse_args()

    cpu_before = psutil.cpu_times()
    data_dir = Path(tempfile.mkdtemp(prefix="cbx-tickets-"))
    box = Box(load_settings({"data_dir": str(data_dir), "mdns": False}))
    await box.db.open()
    await box.rules.load()
    users = []
    for n in range(20):
        role = "supervisor" if n == 0 else "agent"
        users.append(await box.accounts.create_user(f"u{n}", "correct horse battery", role))
    groups = [(await box.routing.create_group({"name": f"组{n}"})).id for n in range(5)]
    for g in groups:
        await box.routing.set_members(g, [u.id for u in users[1 + g % 4 :: 4]])
    boss = await box.routing.actor(users[0].id, users[0].display_name, "supervisor")
    agent = await box.routing.actor(users[1].id, users[1].display_name, "agent")
    report: dict[str, Any] = {
        "git": git_revision("appliance", "bench"),
        "machine": machine(),
        "args": vars(args),
        "started": datetime.now(tz=UTC).isoformat(),
    }

    fill_s = await asyncio.to_thread(
        fill, box, args.tickets, args.open, groups, [u.id for u in users]
    )
    report["fill_seconds"] = round(fill_s, 1)
    print(f"filled {args.tickets:,} tickets ({args.open:,} open) in {fill_s:.1f} s")

    # 2. the minute's pass
    for rule in (
        {
            "name": "一小时未处理",
            "kind": "timed",
            "conditions": {
                "all": [
                    {"field": "state", "op": "is", "value": "new"},
                    {"field": "hours_since_created", "op": "gt", "value": 1},
                    {"field": "tags", "op": "not_contains", "value": ["跟进"]},
                ]
            },
            "actions": [{"type": "set_field", "field": "add_tags", "value": ["跟进"]}],
        },
        {
            "name": "待客户 72 小时",
            "kind": "timed",
            "conditions": {
                "all": [
                    {"field": "state", "op": "is", "value": "pending"},
                    {"field": "hours_in_state", "op": "gt", "value": 72},
                    {"field": "tags", "op": "not_contains", "value": ["超时"]},
                ]
            },
            "actions": [{"type": "set_field", "field": "add_tags", "value": ["超时"]}],
        },
    ):
        await box.rules.create(boss, rule)
    timer = WriteTimer(box)
    passes = {}
    for label in ("acting", "steady", "steady again"):
        timer.longest = 0.0
        t = time.perf_counter()
        acted = await box.tickets.run_timed_rules()
        passes[label] = {
            "seconds": round(time.perf_counter() - t, 3),
            "acted": acted,
            "longest_write_ms": round(timer.longest * 1000, 1),
        }
        print(f"timed pass ({label}): {passes[label]}")
    report["timed_pass"] = passes

    # 2b. the SLA minute pass
    policy = await box.sla.create(
        boss,
        {
            "name": "八小时解决",
            "enabled": True,
            "conditions": {"group_ids": [], "types": [], "priorities": [], "tiers": []},
            "targets": {"first_response": None, "next_response": None, "resolution": 480},
            "hours": None,
            "holidays": [],
            "warn_share": 0.8,
            "levels": [{"metric": "resolution", "offset_minutes": 30, "action": "notify"}],
        },
    )
    now = now_ms()
    clocks = await asyncio.to_thread(fill_clocks, box, policy.id, now, 480 * 60_000, 0.8)
    print(f"{clocks:,} running SLA clocks")
    sla_passes = {"clocks": clocks}
    for label, at in (("steady minute", now), ("after an hour's stop", now + _HOUR)):
        timer.longest = 0.0
        t = time.perf_counter()
        fired = await box.tickets.run_sla(at)
        sla_passes[label] = {
            "seconds": round(time.perf_counter() - t, 3),
            "fired": fired,
            "longest_write_ms": round(timer.longest * 1000, 1),
        }
        print(f"SLA pass ({label}): {sla_passes[label]}")
    report["sla_pass"] = sla_passes

    # 3. saved views
    views = {}
    for who, actor in (("supervisor", boss), ("agent", agent)):
        for view in (
            "mine",
            "my_groups",
            "unassigned",
            "pending",
            "open",
            "all",
            "left",
            "breaching",
        ):
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                await box.tickets.listing(actor, view)
                times.append((time.perf_counter() - t) * 1000)
            views[f"{who}/{view}"] = {
                "p50_ms": round(statistics.median(times), 2),
                "p99_ms": round(_pct(times, 0.99), 2),
            }
            print(f"view {who}/{view}: {views[f'{who}/{view}']}")
    report["views"] = views

    # 4. chat writes alone, then beside ticket creation and the timed pass
    idle = await chat_waits(box, args.seconds, 50)

    async def create_tickets() -> int:
        made = 0
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            await box.tickets.create(agent, NewTicket(subject=f"并发 {made}", channel="phone"))
            made += 1
            await asyncio.sleep(max(0.0, 1 / args.rate - (time.perf_counter() - t)))
        return made

    async def passes_loop() -> None:
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline:
            await box.tickets.run_timed_rules()
            await box.tickets.run_sla()
            await asyncio.sleep(1)

    busy, made, _ = await asyncio.gather(
        chat_waits(box, args.seconds, 50), create_tickets(), passes_loop()
    )
    chat = {}
    for label, waits in (("idle", idle), ("busy", busy)):
        chat[label] = {
            "p50_ms": round(statistics.median(waits) * 1000, 2),
            "p99_ms": round(_pct(waits, 0.99) * 1000, 2),
            "max_ms": round(max(waits) * 1000, 2),
        }
    chat["tickets_per_s"] = round(made / args.seconds, 1)
    chat["ratio_p99"] = round(chat["busy"]["p99_ms"] / max(chat["idle"]["p99_ms"], 1e-3), 2)
    chat["ratio_max"] = round(chat["busy"]["max_ms"] / max(chat["idle"]["max_ms"], 1e-3), 2)
    print(f"chat write waits: {chat}")
    report["chat_writes"] = chat

    cpu_after = psutil.cpu_times()
    busy_other = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    report["machine_cpu_seconds"] = round(busy_other, 1)
    report["load_average"] = list(psutil.getloadavg())
    await box.close()
    shutil.rmtree(data_dir, ignore_errors=True)  # a million tickets take about 1 GB
    out = _ROOT / "bench" / "results" / f"tickets-{datetime.now(tz=UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"report: {out.relative_to(_ROOT)}")


if __name__ == "__main__":
    factory = loop_factory()
    if factory is None:
        asyncio.run(main())
    else:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main())
