"""Part 2 of bench/insight.py, in-process: what one page view costs before and inside its
write, and what the live list costs per query and per hub tick, with 5,000 visitors."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import statistics
import sys
import time
import types
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import msgspec
import psutil  # type: ignore[import-untyped]
from aiohttp import web
from insight_load import dist  # (bench/)
from insight_site import PAGES, PROVINCES, Profile, Table  # (bench/)

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

from appliance.core import useragent  # noqa: E402
from appliance.core.actors import Visitor  # noqa: E402
from appliance.core.box import Box  # noqa: E402
from appliance.core.db import Database  # noqa: E402
from appliance.core.events import EventBus  # noqa: E402
from appliance.core.insight import region_of, source_of  # noqa: E402
from appliance.core.iptable import IpTable  # noqa: E402
from appliance.core.live import (  # noqa: E402
    CustomerBrief,
    Filter,
    LiveRegistry,
    LiveVisitor,
    Scope,
    Step,
    agent_scope,
    first_route,
)
from appliance.core.referrer import classify  # noqa: E402
from appliance.settings import load_settings  # noqa: E402
from appliance.webui.hub import Connection, Hub  # noqa: E402
from appliance.webui.wire.insight import live_visitor_out  # noqa: E402

if TYPE_CHECKING:
    from insight import Params

_MS = 1_000_000  # ns per ms


def _timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Call fn repeat times; return median and min wall time in µs."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - began)
    return {
        "median_us": round(statistics.median(times) / 1000, 1),
        "min_us": round(min(times) / 1000, 1),
    }


def _per_call(fn: Callable[[], Any], calls: int, repeat: int = 15) -> dict[str, float]:
    """Time fn (which makes `calls` calls) repeat times; return µs per call."""
    return {k: round(v / calls, 3) for k, v in _timed(fn, repeat).items()}


def synthetic_live(
    people: list[Profile], table: IpTable, routes: list[tuple[str, str, int]], rng: random.Random
) -> LiveRegistry:
    """Return a registry of live visitors built the way Insight builds them."""
    live = LiveRegistry()
    now = int(time.time() * 1000)
    made = []
    for p in people:
        source = source_of(classify(p.referrer, p.landing))
        trail = [
            Step(p.index * 100 + k, url, title, now - 60_000 * (8 - k))
            for k, (url, title) in enumerate(rng.sample(PAGES, rng.randint(1, 8)))
        ]
        trail[0].url = p.landing
        visitor = LiveVisitor(
            id=f"v_{p.index:05d}",
            visit_id=p.index,
            visits=rng.choice((1, 1, 1, 2, 3, 7)),
            first_seen_at=now - rng.randrange(90 * 86_400_000),
            last_seen_at=now - rng.randrange(1_800_000),
            site="default",
            region=region_of(table.lookup(p.address)),
            source=source,
            device=dataclasses.asdict(useragent.describe(p.user_agent)),
            customer=CustomerBrief(p.index, f"客户{p.index}", "member", True)
            if rng.random() < 0.05
            else None,
            trail=trail,
            pages=len(trail),
            sockets=1,
            conversation_id=f"c_{p.index}" if rng.random() < 0.03 else None,
            invitation_id=p.index if rng.random() < 0.01 else None,
        )
        page = visitor.current
        assert page is not None
        visitor.group_id = first_route(routes, page.url, visitor.region["label"], 1)
        made.append(visitor)
    for visitor in sorted(made, key=lambda v: v.last_seen_at):  # as their page views came
        live.put(visitor)
    return live


def _views_for_a_second(live: LiveRegistry, rate: int, rng: random.Random) -> None:
    """Apply one second of page views at `rate` to the registry as _after_view does."""
    now = int(time.time() * 1000)
    for i, visitor in enumerate(rng.sample(list(live), rate)):
        url, title = rng.choice(PAGES)
        visitor.trail.append(Step(10**9 + i, url, title, now))
        del visitor.trail[:-50]
        visitor.pages += 1
        visitor.last_seen_at = now
        live.put(visitor)


def _order_cost(live: LiveRegistry, params: Params, rng: random.Random) -> dict[str, float]:
    """Time LiveRegistry.ordered() (the sort every query waits for after a change) after
    each second of page views at the hub-tick rate."""
    times = []
    for _ in range(params.repeat_inproc):
        _views_for_a_second(live, params.tick_rate, rng)
        began = time.perf_counter_ns()
        live.ordered()
        times.append(time.perf_counter_ns() - began)
    return {
        "median_us": round(statistics.median(times) / 1000, 1),
        "min_us": round(min(times) / 1000, 1),
    }


# The consoles of one hub tick: (scope, filter) per distinct key, as a call center has.
def _console_keys() -> list[tuple[Scope, Filter]]:
    both = frozenset({1, 2})
    return [
        (Scope(), Filter()),
        (Scope(), Filter(status="chatting")),
        (agent_scope(["广东"], both), Filter()),
        (agent_scope(["北京", "天津", "河北"], both), Filter()),
        (agent_scope(["上海", "江苏", "浙江"], both), Filter(status="browsing")),
        (agent_scope(["四川", "重庆"], both), Filter()),
        (agent_scope([], frozenset({2})), Filter()),
        (agent_scope([], frozenset({1})), Filter(source="search")),
        (agent_scope([], both), Filter(q="客服")),
        (agent_scope(["山东", "河南"], both), Filter(q="pricing")),
    ]


def hub_tick(
    live: LiveRegistry, consoles: int, distinct: int, repeat: int, rate: int, rng: random.Random
) -> dict[str, Any]:
    """Time Hub.send_visitors for `consoles` watching consoles with `distinct` keys, after
    one second of page views each time (so every page changed and the order is stale)."""
    keys = _console_keys()
    while len(keys) < distinct:  # more distinct agents: one region each
        keys.append((agent_scope([PROVINCES[len(keys) % 31][0][:2]], frozenset({1, 2})), Filter()))
    box = types.SimpleNamespace(bus=EventBus(), insight=types.SimpleNamespace(live=live))
    hub = Hub(cast(Box, box))
    times, sent = [], []
    for _ in range(repeat):
        conns = []
        for i in range(consoles):
            conn = Connection(cast(web.WebSocketResponse, None), "agent", str(i + 1))
            conn.scope, filt = keys[i % distinct]
            conn.watch = (filt, 0, 50)
            conns.append(conn)
        _views_for_a_second(live, rate, rng)
        began = time.perf_counter_ns()
        hub.send_visitors(conns)
        times.append(time.perf_counter_ns() - began)
        sent.append(sum(len(c.watch_sent) for c in conns))
    return {
        "consoles": consoles,
        "distinct_keys": distinct,
        "median_ms": round(statistics.median(times) / _MS, 2),
        "max_ms": round(max(times) / _MS, 2),
        "frame_bytes_per_console": round(statistics.median(sent) / consoles),
    }


async def in_process(
    params: Params, table: Table, people: list[Profile], work: Path
) -> dict[str, Any]:
    """Part 2: the costs behind one page view and one hub tick, without HTTP."""
    rng = random.Random(params.seed + 2)
    out: dict[str, Any] = {}
    db = Database(work / "lookup.db")
    await db.open()
    try:
        iptable = IpTable(db)
        began = time.perf_counter()
        await iptable.import_csv(table.text, "ip2region")
        out["iptable_import_s"] = round(time.perf_counter() - began, 2)
        sample = [p.address or "127.0.0.1" for p in people[:2000]]
        found = Counter(iptable.lookup(a).status for a in sample)
        out["region_status_share"] = {k: round(v / len(sample), 3) for k, v in found.items()}
        pairs = [(p.referrer, p.landing) for p in people[:2000]]
        agents = [p.user_agent for p in people[:2000]]
        useragent.load()
        for ua in agents:
            useragent.describe(ua)
        out["lookup_us"] = _per_call(lambda: [iptable.lookup(a) for a in sample], len(sample))
        out["classify_us"] = _per_call(lambda: [classify(r, u) for r, u in pairs], len(pairs))
        out["describe_cached_us"] = _per_call(
            lambda: [useragent.describe(a) for a in agents], len(agents)
        )
        fresh = iter(range(10**9))
        miss = _timed(lambda: useragent.describe(f"{rng.choice(agents)} bench/{next(fresh)}"), 300)
        out["describe_new_us"] = miss
        out["distinct_user_agents"] = len(set(p.user_agent for p in people))
        routes = [("*/support/*", "", 2)]
        live = synthetic_live(people, iptable, routes, rng)
    finally:
        await db.close()
    out["live_visitors"] = len(live)
    plain = list(live)
    label = "广东"
    base = _timed(
        lambda: sum(1 for v in plain if v.region.get("label") == label), params.repeat_inproc
    )
    out["plain_pass"] = base
    gd = agent_scope(["广东"], frozenset({1, 2}))
    queries = {
        "overseer, first page": (Scope(), Filter(), 0),
        "region-limited agent": (gd, Filter(), 0),
        "keyword filter q=客服": (Scope(), Filter(q="客服"), 0),
        "status filter chatting": (Scope(), Filter(status="chatting"), 0),
        "deep page offset 4000": (Scope(), Filter(), 4000),
    }
    results: dict[str, Any] = {}
    for name, (scope, filt, offset) in queries.items():
        total, rows = live.query(scope, filt, offset, 50)

        def cached(s: Scope = scope, f: Filter = filt, o: int = offset) -> None:
            live.query(s, f, o, 50)

        def changed(s: Scope = scope, f: Filter = filt, o: int = offset) -> None:
            live.touch()  # the order is rebuilt once after any change, then cached
            live.query(s, f, o, 50)

        warm = _timed(cached, params.repeat_inproc)
        stale = _timed(changed, params.repeat_inproc)
        results[name] = {
            "total": total,
            "rows": len(rows),
            "cached_order": warm,
            "after_a_change": stale,
            "ratio_cached_to_plain_pass": round(warm["median_us"] / base["median_us"], 1),
        }
    out["query"] = results
    out["order_after_a_second_of_views"] = _order_cost(live, params, rng)
    out["row_only_50"] = _timed(
        lambda: [live_visitor_out(v) for v in plain[:50]], params.repeat_inproc
    )
    out["encode_50_rows"] = _timed(
        lambda: msgspec.json.encode({"visitors": [live_visitor_out(v) for v in plain[:50]]}),
        params.repeat_inproc,
    )
    out["hub_tick"] = [
        hub_tick(live, 50, 10, params.repeat_inproc, params.tick_rate, rng),
        hub_tick(live, 50, 50, params.repeat_inproc, params.tick_rate, rng),
    ]
    out["hub_tick_ratio_to_plain_pass"] = round(
        out["hub_tick"][0]["median_ms"] * 1000 / base["median_us"], 1
    )
    out["page_view"] = await page_view_in_process(params, table, people, work)
    return out


async def page_view_in_process(
    params: Params, table: Table, people: list[Profile], work: Path
) -> dict[str, Any]:
    """Insight.page_view over a real Box (SQLite on disk), no HTTP: one at a time (each
    waits for its commit), then 64 in flight (commits batch)."""
    settings = dataclasses.replace(load_settings({"data_dir": str(work / "box")}), mdns=False)
    box = Box(settings)
    await box.open()
    rng = random.Random(params.seed + 3)
    try:
        await box.iptable.import_csv(table.text, "ip2region")
        ids = [await box.visitors.issue() for _ in range(min(len(people), 2000))]
        crowd = list(zip((vid for vid, _ in ids), people, strict=False))
        gate = asyncio.Semaphore(64)

        async def view(vid: str, p: Profile, url: str, referrer: str) -> None:
            async with gate:
                await box.insight.page_view(
                    Visitor(vid, p.address or "127.0.0.1"),
                    url=url,
                    title="t",
                    referrer=referrer,
                    site="default",
                    user_agent=p.user_agent,
                )

        await asyncio.gather(*(view(v, p, p.landing, p.referrer) for v, p in crowd))
        one = []
        for _ in range(params.inproc_views // 10):
            vid, p = rng.choice(crowd)
            began = time.perf_counter_ns()
            await view(vid, p, rng.choice(PAGES)[0], p.landing)
            one.append(time.perf_counter_ns() - began)
        me = psutil.Process()
        cpu0, t0 = sum(me.cpu_times()[:2]), time.perf_counter()
        transactions = box.db.stats.transactions
        picks = [rng.choice(crowd) for _ in range(params.inproc_views)]
        await asyncio.gather(*(view(v, p, rng.choice(PAGES)[0], p.landing) for v, p in picks))
        wall = time.perf_counter() - t0
        cpu = sum(me.cpu_times()[:2]) - cpu0
        return {
            "visitors": len(crowd),
            "one_at_a_time_ms": dist(one),
            "concurrent_64": {
                "views": len(picks),
                "views_per_s": round(len(picks) / wall),
                "cpu_us_per_view": round(cpu / len(picks) * 1e6),
                "writer_transactions": box.db.stats.transactions - transactions,
            },
        }
    finally:
        await box.close()
