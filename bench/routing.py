"""Routing benchmark: the pure router and one dispatcher pass, 1,000 agents and 10,000 waiting.

Measures, with the same synthetic call center in the same run (see bench/README.md):

- pure `plan` with every agent free (5 chats each: 5,000 of the 10,000 get an agent),
  and a re-prioritisation pass when nobody has room (`plan`, which returns at once,
  then `places` over all 10,000);
- the same two through the real store: `Dispatcher.dispatch()` on a Box over a real
  SQLite data dir (snapshot, plan, 5,000 assignments with their messages, places,
  commit and events), and a pass with every agent full;
- the baseline: plain FIFO least-loaded assignment (oldest first, the group member with
  the fewest chats) and FIFO queue positions, in pure Python over the same data.

    python bench/routing.py --repeat 5

Prints medians and ratios to the baseline; writes bench/results/routing-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a script: make the appliance importable
    sys.path.insert(0, str(_ROOT))

import psutil  # noqa: E402
from provenance import git_revision, loop_factory, machine  # noqa: E402  (bench/)

from appliance.core.assignment import load_snapshot  # noqa: E402
from appliance.core.box import Box  # noqa: E402
from appliance.core.clock import now_ms  # noqa: E402
from appliance.core.routing import (  # noqa: E402
    STRATEGIES,
    Agent,
    Group,
    Item,
    Points,
    order,
    places,
    plan,
)
from appliance.settings import load_settings  # noqa: E402

_RESULTS = _ROOT / "bench" / "results"
_DEFAULT_HANDLE = 300.0  # s per chat, what places assumes for a group with no history
_TOPICS = ("", "refund", "sales", "delivery")
_REFUND_POINTS = 30.0  # the one topic with priority points


@dataclass(frozen=True)
class Params:
    """The call center to build and how often to measure it."""

    agents: int
    groups: int
    max_chats: int
    waiting: int
    repeat: int
    seed: int
    store: bool


@dataclass
class Center:
    """A synthetic call center: the router's inputs at one moment."""

    now: int  # ms
    agents: list[Agent]
    groups: dict[int, Group]
    items: list[Item]
    points: Points

    def fresh_agents(self, *, full: bool = False) -> list[Agent]:
        """Return copies of the agents, free or each at their limit (plan mutates them)."""
        load = (lambda a: a.max_chats) if full else (lambda a: 0)
        return [dataclasses.replace(a, load=load(a)) for a in self.agents]

    def fresh_groups(self) -> dict[int, Group]:
        """Return copies of the groups (plan moves round-robin cursors)."""
        return {gid: dataclasses.replace(g) for gid, g in self.groups.items()}


def build_center(p: Params, now: int) -> Center:
    """Spread agents over groups with some skills, regions and experts; queue visitors."""
    rng = random.Random(p.seed)
    gids = list(range(1, p.groups + 1))
    groups = {
        gid: Group(
            id=gid,
            strategy=STRATEGIES[gid % len(STRATEGIES)],
            # every fourth group overflows into the one before it after 2 minutes
            fallback_group_id=gid - 1 if gid % 4 == 0 else None,
            fallback_after=120.0,
        )
        for gid in gids
    }
    agents = []
    for n in range(p.agents):
        home = gids[n % len(gids)]
        member = {home}
        if rng.random() < 0.2:
            member.add(rng.choice(gids))
        r = rng.random()
        skills = {"billing"} if r < 0.3 else {"tech"} if r < 0.6 else set()
        if 0.6 <= r < 0.7:
            skills = {"billing", "tech"}
        r = rng.random()
        regions = {"north"} if r < 0.1 else {"south"} if r < 0.2 else set()
        agents.append(
            Agent(
                id=n + 1,
                groups=frozenset(member),
                max_chats=p.max_chats,
                skills=frozenset(skills),
                regions=frozenset(regions),
                expert=rng.random() < 0.1,
                idle_since=now - rng.randrange(3_600_000),
            )
        )
    items = []
    for n in range(p.waiting):
        r = rng.random()
        tier = "vip" if r < 0.05 else "member" if r < 0.3 else "new"
        r = rng.random()
        region = "north" if r < 0.2 else "south" if r < 0.4 else ""
        r = rng.random()
        skill = "billing" if r < 0.15 else "tech" if r < 0.3 else ""
        items.append(
            Item(
                id=f"c{n:05d}",
                group_id=rng.choice(gids),
                queued_at=now - rng.randrange(900_000),
                tier=tier,
                topic=rng.choice(_TOPICS),
                region=region,
                skill=skill,
                expert=rng.random() < 0.02,
                preferred_agent_id=rng.randrange(1, p.agents + 1) if rng.random() < 0.05 else None,
            )
        )
    points = Points(topic={"refund": _REFUND_POINTS})
    return Center(now, agents, groups, items, points)


# -- baseline: FIFO, least loaded -------------------------------------------------------


def fifo_assign(agents: list[Agent], items: list[Item]) -> int:
    """Give the oldest waiting to the least-loaded member of its group; no other rule."""
    members: dict[int, list[Agent]] = {}
    for agent in agents:
        for gid in agent.groups:
            members.setdefault(gid, []).append(agent)
    assigned = 0
    for item in sorted(items, key=lambda i: i.queued_at):
        free = [a for a in members.get(item.group_id, ()) if a.load < a.max_chats]
        if free:
            min(free, key=lambda a: a.load).load += 1
            assigned += 1
    return assigned


def fifo_places(agents: list[Agent], items: list[Item]) -> dict[str, tuple[int, int]]:
    """Return each waiting item's FIFO position in its group and a wait estimate."""
    capacity: dict[int, int] = {}
    for agent in agents:
        for gid in agent.groups:
            capacity[gid] = capacity.get(gid, 0) + agent.max_chats
    ahead: dict[int, int] = {}
    out = {}
    for item in sorted(items, key=lambda i: i.queued_at):
        position = ahead[item.group_id] = ahead.get(item.group_id, 0) + 1
        slots = capacity.get(item.group_id, 0) or 1
        out[item.id] = (position, math.ceil(position * _DEFAULT_HANDLE / slots))
    return out


# -- pure measurements -------------------------------------------------------------------


@contextlib.contextmanager
def _stopwatch(out: dict[str, float], name: str) -> Iterator[None]:
    """Record wall time as name_ms and this process's CPU time as name_cpu_ms.

    Other sessions share this machine's 2 cores: the CPU time is what the code itself
    costs, the wall time also what it waited for a core (and, for the store, the disk).
    """
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    out[f"{name}_ms"] = (time.perf_counter() - wall) * 1000
    out[f"{name}_cpu_ms"] = (time.process_time() - cpu) * 1000


def measure_pure(center: Center) -> dict[str, float]:
    """Time one repeat of every pure figure, in ms; counts say what was done."""
    c = center
    out: dict[str, float] = {}
    agents, groups = c.fresh_agents(), c.fresh_groups()
    with _stopwatch(out, "plan"):
        decisions = plan(agents, groups, c.items, c.points, c.now)
    out["plan_assigned"] = len(decisions)
    taken = {item.id for item, _ in decisions}
    left = [i for i in c.items if i.id not in taken]
    with _stopwatch(out, "places_left"):
        places(agents, groups, left, c.points, {}, c.now)
    with _stopwatch(out, "order"):
        order(c.items, c.groups, c.points, c.now)
    full, groups = c.fresh_agents(full=True), c.fresh_groups()
    with _stopwatch(out, "reprioritise"):
        assert not plan(full, groups, c.items, c.points, c.now)  # returns at once
        placed = places(full, groups, c.items, c.points, {}, c.now)
    out["reprioritise_placed"] = len(placed)
    agents = c.fresh_agents()
    with _stopwatch(out, "fifo_assign"):
        out["fifo_assigned"] = fifo_assign(agents, c.items)
    full = c.fresh_agents(full=True)
    with _stopwatch(out, "fifo_places"):
        fifo_places(full, c.items)
    return out


# -- the store -----------------------------------------------------------------------------


def _fill(conn: sqlite3.Connection, c: Center) -> None:
    """Insert the center's groups, agents and waiting conversations (one write job)."""
    conn.executemany(
        "INSERT INTO groups (id, name, strategy, fallback_group_id, fallback_after, created_at)"
        " VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (id) DO UPDATE SET strategy = excluded.strategy,"
        " fallback_group_id = excluded.fallback_group_id",
        [
            (g.id, f"bench-{g.id}", g.strategy, g.fallback_group_id, int(g.fallback_after))
            for g in sorted(c.groups.values(), key=lambda g: (g.fallback_group_id or 0, g.id))
        ],
    )
    conn.execute(
        "INSERT INTO priority_points (kind, key, points) VALUES ('topic', 'refund', ?)",
        (_REFUND_POINTS,),
    )
    conn.executemany(
        "INSERT INTO users (id, username, display_name, password_hash, role, status,"
        " max_chats, tier, skills, regions, last_assigned_at, created_at)"
        " VALUES (?, ?, ?, '-', 'agent', 'online', ?, ?, ?, ?, ?, 0)",
        [
            (
                a.id,
                f"agent{a.id}",
                f"Agent {a.id}",
                a.max_chats,
                "expert" if a.expert else "normal",
                json.dumps(sorted(a.skills)),
                json.dumps(sorted(a.regions)),
                a.idle_since,
            )
            for a in c.agents
        ],
    )
    conn.executemany(
        "INSERT INTO group_members (group_id, user_id) VALUES (?, ?)",
        [(gid, a.id) for a in c.agents for gid in a.groups],
    )
    conn.executemany(
        "INSERT INTO visitors (id, created_at, last_seen_at, tier) VALUES (?, ?, ?, ?)",
        [(f"v{i.id}", i.queued_at, i.queued_at, i.tier) for i in c.items],
    )
    conn.executemany(
        "INSERT INTO conversations (id, visitor_id, status, created_at, group_id, topic,"
        " region, skill, expert, queued_at, preferred_agent_id)"
        " VALUES (?, ?, 'waiting', ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                i.id,
                f"v{i.id}",
                i.queued_at,
                i.group_id,
                i.topic,
                i.region,
                i.skill,
                int(i.expert),
                i.queued_at,
                i.preferred_agent_id,
            )
            for i in c.items
        ],
    )


def _fill_agents_up(conn: sqlite3.Connection, c: Center) -> None:
    """Give every agent max_chats answered active chats, so nobody has room."""
    now = now_ms()
    rows = [(a.id, k) for a in c.agents for k in range(a.max_chats)]
    conn.executemany(
        "INSERT INTO visitors (id, created_at, last_seen_at) VALUES (?, ?, ?)",
        [(f"va{aid}-{k}", now, now) for aid, k in rows],
    )
    conn.executemany(
        "INSERT INTO conversations (id, visitor_id, status, agent_id, created_at, group_id,"
        " queued_at, assigned_at, first_assigned_at, answered_at)"
        " VALUES (?, ?, 'active', ?, ?, ?, ?, ?, ?, ?)",
        [
            (f"a{aid}-{k}", f"va{aid}-{k}", aid, now, min(c.agents[aid - 1].groups), now)
            + (now,) * 3
            for aid, k in rows
        ],
    )


async def _open(data: Path) -> Box:
    """Open a Box's store without its dispatcher timer: the benchmark decides when to pass."""
    settings = dataclasses.replace(load_settings({"data_dir": str(data)}), mdns=False)
    box = Box(settings)
    await box.db.open()
    return box


async def make_templates(work: Path, c: Center) -> tuple[Path, Path]:
    """Build two data dirs: every agent free, and every agent full; 10,000 waiting in both."""
    free, full = work / "free", work / "full"
    box = await _open(free)
    try:
        await box.db.write(lambda conn: _fill(conn, c))
    finally:
        await box.close()
    shutil.copytree(free, full)
    box = await _open(full)
    try:
        await box.db.write(lambda conn: _fill_agents_up(conn, c))
    finally:
        await box.close()
    return free, full


async def _one_pass(template: Path, work: Path) -> dict[str, float]:
    """Copy a template, time a snapshot read and then one dispatcher pass over it."""
    data = work / f"run-{time.monotonic_ns()}"
    shutil.copytree(template, data)
    box = await _open(data)
    try:

        def snapshot(conn: sqlite3.Connection) -> int:
            snap = load_snapshot(conn, now_ms(), datetime.now().astimezone())
            return len(snap.items)

        out: dict[str, float] = {}
        with _stopwatch(out, "snapshot"):
            out["snapshot_items"] = await box.db.write(snapshot)
        # A chat message's commit waits behind whatever the pass holds the writer for:
        # probe that with tiny writes every 2 ms, while idle and during the pass.
        out["probe_idle_max_ms"] = max(await _probe(box, asyncio.sleep(0.3)))
        pass_task = asyncio.ensure_future(box.dispatcher.dispatch())
        with _stopwatch(out, "pass"):
            waits = await _probe(box, pass_task)
            out["assigned"] = pass_task.result()
        out["probe_max_ms"] = max(waits)
        out["placed"] = len(box.dispatcher.places)
    finally:
        await box.close()
        shutil.rmtree(data, ignore_errors=True)
    return out


async def _probe(box: Box, until: Awaitable[Any]) -> list[float]:
    """Time tiny writes back to back until `until` is done; return their latencies in ms."""
    task = asyncio.ensure_future(until)
    waits = []
    while not task.done():
        start = time.perf_counter()
        await box.db.write(lambda conn: conn.execute("SELECT 1").fetchone())
        waits.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(0.002)
    await task
    return waits or [0.0]


async def measure_store(free: Path, full: Path, work: Path) -> dict[str, float]:
    """Time one repeat of both dispatcher passes, in ms."""
    out = {f"assign_{k}": v for k, v in (await _one_pass(free, work)).items()}
    out.update({f"full_{k}": v for k, v in (await _one_pass(full, work)).items()})
    return out


# -- report ----------------------------------------------------------------------------------

_ROWS = (  # key, label, baseline key
    ("pure.plan_ms", "pure plan, all free", "pure.fifo_assign_ms"),
    ("pure.places_left_ms", "pure places, the rest", ""),
    ("pure.order_ms", "pure order, all waiting", "pure.fifo_places_ms"),
    ("pure.reprioritise_ms", "pure pass, nobody free", "pure.fifo_places_ms"),
    ("pure.fifo_assign_ms", "baseline FIFO assign", ""),
    ("pure.fifo_places_ms", "baseline FIFO places", ""),
    ("store.assign_pass_ms", "store pass, all free", "pure.fifo_assign_ms"),
    ("store.full_pass_ms", "store pass, nobody free", "pure.fifo_places_ms"),
    ("store.assign_snapshot_ms", "store snapshot read", ""),
    (
        "store.assign_probe_max_ms",
        "longest write wait, pass assigning",
        "store.assign_probe_idle_max_ms",
    ),
    (
        "store.full_probe_max_ms",
        "longest write wait, pass re-prioritising",
        "store.full_probe_idle_max_ms",
    ),
    ("store.assign_probe_idle_max_ms", "longest write wait, idle", ""),
)
_COUNTS = (
    ("pure.plan_assigned", "pure plan assigned"),
    ("pure.fifo_assigned", "baseline assigned"),
    ("pure.reprioritise_placed", "pure places (nobody free)"),
    ("store.assign_assigned", "store pass assigned"),
    ("store.assign_placed", "store places after it"),
    ("store.full_assigned", "store full pass assigned"),
    ("store.full_placed", "store full pass placed"),
)


def summarize(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Return the median over repeats of every figure."""
    keys = sorted({k for r in runs for k in r})
    return {k: round(statistics.median(r[k] for r in runs if k in r), 2) for k in keys}


def ratios(median: dict[str, float]) -> dict[str, float]:
    """Return each timed figure over its baseline, in wall and in CPU time."""
    pairs = [(key, base) for key, _, base in _ROWS if base]
    pairs += [(k.replace("_ms", "_cpu_ms"), b.replace("_ms", "_cpu_ms")) for k, b in pairs]
    return {
        key: round(median[key] / median[base], 1)
        for key, base in pairs
        if key in median and median.get(base)
    }


def table(median: dict[str, float], ratio: dict[str, float], runs: list[dict[str, Any]]) -> str:
    """Render medians, ranges over repeats and ratios to the baseline."""
    head = ("wall ms", "min–max", "CPU ms", "× base", "× base CPU")
    lines = [f"{'median of the repeats':40}" + "".join(f"{h:>14}" for h in head)]
    for key, label, _ in _ROWS:
        if key not in median:
            continue
        cpu = key.replace("_ms", "_cpu_ms")
        values = [r[key] for r in runs if key in r]
        cells = [
            f"{median[key]:.1f}",
            f"{min(values):.0f}–{max(values):.0f}",
            f"{median[cpu]:.1f}" if cpu in median else "",
            f"{ratio[key]:g}" if key in ratio else "",
            f"{ratio[cpu]:g}" if cpu in ratio else "",
        ]
        lines.append(f"{label:40}" + "".join(f"{c:>14}" for c in cells))
    lines += [f"{label:40}{median[key]:>11g}" for key, label in _COUNTS if key in median]
    return "\n".join(lines)


class _CpuClock:
    """CPU used by this process and by everyone else since made, in % of one core."""

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[float, float, float]:
        times = psutil.cpu_times()
        machine = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        return time.monotonic(), sum(psutil.Process().cpu_times()[:2]), machine

    def percent(self) -> dict[str, float]:
        """Return this process's and everyone else's CPU since construction."""
        end = self._read()
        wall, own, machine = (b - a for a, b in zip(self._start, end, strict=True))
        return {
            "bench_pct": round(100 * own / wall, 1),
            "others_pct": round(100 * max(machine - own, 0.0) / wall, 1),
            "wall_s": round(wall, 1),
        }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--max-chats", type=int, default=5)
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-store", dest="store", action="store_false", help="pure only")
    args = parser.parse_args(argv)
    p = Params(**{f.name: getattr(args, f.name) for f in fields(Params)})
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    revision = git_revision("appliance")
    load_before = os.getloadavg()[0]
    clock = _CpuClock()
    center = build_center(p, now_ms())
    runs: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="callbox-bench-") as tmp,
        asyncio.Runner(loop_factory=loop_factory()) as runner,
    ):
        work = Path(tmp)
        templates = None
        if p.store:
            t0 = time.monotonic()
            templates = runner.run(make_templates(work, center))
            print(f"built the store templates in {time.monotonic() - t0:.1f} s", flush=True)
        for n in range(p.repeat):
            run = {f"pure.{k}": v for k, v in measure_pure(center).items()}
            if templates is not None:
                store = runner.run(measure_store(*templates, work))
                run.update({f"store.{k}": v for k, v in store.items()})
            runs.append(run)
            print(
                f"[{n + 1}/{p.repeat}] plan {run['pure.plan_ms']:.0f} ms,"
                f" re-prioritise {run['pure.reprioritise_ms']:.0f} ms,"
                f" FIFO {run['pure.fifo_assign_ms']:.0f} ms"
                + (
                    f", store pass {run['store.assign_pass_ms']:.0f} ms"
                    f" / full {run['store.full_pass_ms']:.0f} ms"
                    if p.store
                    else ""
                ),
                flush=True,
            )
    cpu = clock.percent() | {
        "load_avg_1m_before": load_before,
        "load_avg_1m_after": os.getloadavg()[0],
    }
    median = summarize(runs)
    ratio = ratios(median)
    report = {
        "command": [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])],
        "started": stamp,
        "revision": revision,
        "params": asdict(p),
        "machine": machine(sqlite=sqlite3.sqlite_version),
        "cpu": cpu,
        "runs": runs,
        "median": median,
        "ratio_to_baseline": ratio,
    }
    _RESULTS.mkdir(parents=True, exist_ok=True)
    out = _RESULTS / f"routing-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(table(median, ratio, runs))
    print(
        f"CPU over the run ({cpu['wall_s']} s): this benchmark {cpu['bench_pct']} %,"
        f" everyone else {cpu['others_pct']} % of a core (the machine has {os.cpu_count()})"
    )
    print(f"medians of {p.repeat} run(s); full report: {out.relative_to(_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
