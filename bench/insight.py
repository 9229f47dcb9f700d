"""Visitor insight benchmark: page-view ingestion and live-list update cost with 5,000
concurrent tracked visitors.

Part 1 (HTTP): the real `appliance run` and a bare aiohttp page-view handler (the
baseline, this file with --serve-baseline) in child processes. Each gets 5,000 visitors
with an open visitor WebSocket; then page views are posted by keep-alive HTTP clients
at increasing offered rates and closed-loop, and the run reports achieved page views
per second, latency, errors and server CPU. Against the appliance, 10 logged-in
consoles watch the live list meanwhile: frames per second, frame bytes, and the lag
from a page view's 201 to the first `visitors` frame that shows it.

Part 2 (in-process): IpTable.lookup, referrer.classify and useragent.describe per call;
LiveRegistry.query for typical consoles and one hub tick, against one plain pass over
the same visitors; Insight.page_view over a real store without HTTP.

    python bench/insight.py            # 5,000 visitors, the figures of bench/README.md
    python bench/insight.py --quick    # 500 visitors, short steps: a smoke run

Run as root, the driver re-executes itself in a network namespace of its own where
every visitor address of the generated IP table is local, so the appliance sees real
public addresses (regions found, region-limited consoles see their visitors);
--netns off sends everything from 127.0.0.1 (region "private" for every visitor).
See bench/README.md ("Visitor insight benchmark") for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import ipaddress
import itertools
import json
import os
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import aiohttp
import psutil  # type: ignore[import-untyped]
from aiohttp import WSMsgType, web
from provenance import git_revision, loop_factory, machine  # (bench/)
from ws_fanout import ServerProcess, profile_top  # (bench/)

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

from appliance.core import useragent  # noqa: E402
from appliance.core.box import Box  # noqa: E402
from appliance.core.db import Database  # noqa: E402
from appliance.core.events import EventBus  # noqa: E402
from appliance.core.insight import region_of, source_of  # noqa: E402
from appliance.core.iptable import IpTable  # noqa: E402
from appliance.core.live import (  # noqa: E402
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

_RESULTS = _ROOT / "bench" / "results"
_NS = 1_000_000_000
_MS = 1_000_000
_NETNS_MARK = "CALLBOX_BENCH_NETNS"  # set in the re-executed driver inside its namespace
_SETUP_CONCURRENCY = 64  # requests or handshakes in flight while setting up
_CONNS_PER_ADDRESS = 4  # keep-alive connections one client address may open
_MAX_IN_FLIGHT = 1000  # open-loop requests outstanding before arrivals are skipped
_REQUEST_TIMEOUT = 30.0  # s
_DRAIN = 30.0  # s at most for requests still out after a step
_LAG_TICK = 0.010  # s between probes of the load generator's loop lag
_PROBE_RATE = 2.0  # lag-probe page views per second (appliance)
_PROBE_WAIT = 5.0  # s a probe may take to show in a frame before it counts as missing
_SWITCH = 2.0  # s around a change of watching: a frame comes at most every second
_IDLE_PROBE = 2.0  # s of machine CPU sampled before each server starts
_CLI_TIMEOUT = 120.0  # s for one `appliance user add`
_PASSWORD = "bench-console-password"  # noqa: S105 - throwaway accounts in a temp dir
_UNLIMITED = "1000000000"
# Per-address limits only: thousands of visitors share the driver's few addresses.
# The per-visitor page-view limit (1/s, burst 30) stays as shipped.
_LIMIT_ENV = {
    f"CALLBOX_IP_{what}_{kind}": _UNLIMITED
    for what in ("VIEW", "CONV", "MSG")
    for kind in ("RATE", "BURST")
}
_SITE = "https://shop.example"
_PROBE_PATH = "/probe/"

# -- the synthetic site: IP table, visitor addresses, browsers, sources, pages ----------

# (province, capital, rough share of China's internet users in %)
_PROVINCES = (
    ("广东省", "广州市", 12), ("江苏省", "南京市", 7), ("山东省", "济南市", 6),
    ("浙江省", "杭州市", 6), ("河南省", "郑州市", 6), ("河北省", "石家庄市", 5),
    ("四川省", "成都市", 5), ("湖北省", "武汉市", 4), ("湖南省", "长沙市", 4),
    ("福建省", "福州市", 4), ("北京市", "北京市", 4), ("上海市", "上海市", 4),
    ("安徽省", "合肥市", 3), ("辽宁省", "沈阳市", 3), ("陕西省", "西安市", 3),
    ("江西省", "南昌市", 2), ("广西壮族自治区", "南宁市", 2), ("山西省", "太原市", 2),
    ("重庆市", "重庆市", 2), ("云南省", "昆明市", 2), ("天津市", "天津市", 2),
    ("黑龙江省", "哈尔滨市", 2), ("吉林省", "长春市", 1), ("贵州省", "贵阳市", 1),
    ("内蒙古自治区", "呼和浩特市", 1), ("新疆维吾尔自治区", "乌鲁木齐市", 1),
    ("甘肃省", "兰州市", 1), ("海南省", "海口市", 1), ("宁夏回族自治区", "银川市", 1),
    ("青海省", "西宁市", 1), ("西藏自治区", "拉萨市", 1),
)  # fmt: skip
_ABROAD = ("美国", "日本", "韩国", "新加坡", "德国", "英国", "加拿大", "澳大利亚")
_ISPS = ("电信", "联通", "移动", "0")
_KEYWORDS = (
    "在线客服系统", "客服软件", "网页客服", "呼叫中心系统", "智能客服价格", "客服系统 私有化部署",
    "企业客服 多少钱", "售后服务 电话", "退货 流程", "快递 查询", "发票 怎么开", "会员 优惠",
    "手机壳 定制", "运动鞋 男", "连衣裙 夏季", "蓝牙耳机 推荐", "笔记本电脑 优惠", "儿童 玩具",
    "茶叶 礼盒", "空气净化器",
)  # fmt: skip
_REFERRING = (
    "https://www.zhihu.com/question/{n}", "https://weibo.com/{n}/Nx{n}",
    "https://mp.weixin.qq.com/s/{n}", "https://www.douyin.com/video/{n}",
    "https://tieba.baidu.com/p/{n}", "https://www.xiaohongshu.com/explore/{n}",
)  # fmt: skip
_CAMPAIGNS = ("spring_sale", "618", "double11", "brand_kw", "retarget")
_MODELS = ("V2185A", "PGT-AN10", "M2012K11AC", "SM-S9180", "ALN-AL00", "LIO-AN00", "PHB110")


def _pages() -> list[tuple[str, str]]:
    pages = [(f"{_SITE}/", "首页 - 示例商城"), (f"{_SITE}/pricing", "价格与套餐")]
    pages += [(f"{_SITE}/products/{n}", f"商品 {n} - 示例商城") for n in range(1, 151)]
    pages += [(f"{_SITE}/support/{t}", f"帮助中心 - {t}") for t in ("faq", "returns", "invoice")]
    pages += [(f"{_SITE}/blog/{n}", f"博客 {n}：客服经验谈") for n in range(1, 41)]
    return pages


PAGES = _pages()


@dataclass(frozen=True)
class Table:
    """A generated ip2region table and a set of client addresses inside it."""

    text: bytes
    ranges: int
    addresses: list[str]  # public addresses, most inside a Chinese province's range


def generate_table(ranges: int, addresses: int, rng: random.Random) -> Table:
    """Return contiguous ip2region v2 ranges over 1.0.0.0-223.255.255.255 (5 % left out:
    unknown), 80 % in China by province weight, and client addresses picked in them."""
    low, high = 1 << 24, 224 << 24
    bounds = [low, *sorted(rng.sample(range(low + 1, high), ranges - 1)), high]
    weights = [w for _, _, w in _PROVINCES]
    lines: list[str] = []
    spans: list[tuple[int, int]] = []
    for start, stop in itertools.pairwise(bounds):
        spans.append((start, stop - 1))
        roll = rng.random()
        if roll < 0.05:
            continue  # not in the table
        if roll < 0.81:
            province, capital, _ = rng.choices(_PROVINCES, weights)[0]
            city = capital if rng.random() < 0.7 else "0"
            place = f"中国|0|{province}|{city}|{rng.choice(_ISPS)}"
        else:
            place = f"{rng.choice(_ABROAD)}|0|0|0|0"
        first, last = ipaddress.IPv4Address(start), ipaddress.IPv4Address(stop - 1)
        lines.append(f"{first}|{last}|{place}")
    picked: list[str] = []
    while len(picked) < addresses:
        start, end = rng.choice(spans)
        address = ipaddress.IPv4Address(rng.randint(start, end))
        if address.is_global and str(address) not in picked:
            picked.append(str(address))
    return Table(("\n".join(lines) + "\n").encode(), len(lines), picked)


def user_agents(count: int, rng: random.Random) -> list[str]:
    """Return `count` distinct User-Agents of the browsers Chinese visitors use."""

    def chrome() -> str:
        return f"Chrome/{rng.randint(109, 131)}.0.{rng.randint(5000, 6800)}.{rng.randint(0, 200)}"

    def ios() -> tuple[int, int]:
        return rng.randint(14, 18), rng.randint(0, 6)

    def make() -> str:
        kind = rng.random()
        webkit = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
        if kind < 0.22:
            return (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like"
                f" Gecko) {chrome()} Safari/537.36"
                + (f" Edg/{rng.randint(109, 131)}.0.{rng.randint(1000, 2900)}.0" * (kind < 0.06))
            )
        if kind < 0.40:
            major, minor = ios()
            return (
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{minor} like Mac OS X) {webkit}"
                f" Version/{major}.{minor} Mobile/15E148 Safari/604.1"
            )
        if kind < 0.58:
            major, minor = ios()
            return (
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{minor} like Mac OS X) {webkit}"
                f" Mobile/15E148 MicroMessenger/8.0.{rng.randint(30, 50)}"
                f"(0x1800{rng.randint(0x2000, 0x3200):04x}) NetType/{rng.choice(('WIFI', '4G'))}"
                " Language/zh_CN"
            )
        android = f"Linux; Android {rng.randint(10, 14)}; {rng.choice(_MODELS)}"
        if kind < 0.78:
            return (
                f"Mozilla/5.0 ({android} Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML,"
                f" like Gecko) Version/4.0 {chrome()} Mobile Safari/537.36"
                f" XWEB/{rng.randint(1000, 9999)} MMWEBSDK/20240301"
                f" MicroMessenger/8.0.{rng.randint(30, 50)}.2560"
                f"(0x2800{rng.randint(0x2000, 0x3200):04x}) WeChat/arm64 Weixin NetType/WIFI"
                " Language/zh_CN ABI/arm64"
            )
        if kind < 0.90:
            return (
                f"Mozilla/5.0 ({android}; HMSCore 6.{rng.randint(5, 13)}.0.{rng.randint(100, 399)})"
                f" AppleWebKit/537.36 (KHTML, like Gecko) {chrome()} HuaweiBrowser/"
                f"14.0.{rng.randint(0, 6)}.{rng.randint(300, 340)} Mobile Safari/537.36"
            )
        if kind < 0.96:
            major, minor = ios()
            return (
                f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {webkit} Version/{major}.{minor}"
                " Safari/605.1.15"
            )
        if kind < 0.99:
            major, minor = ios()
            return (
                f"Mozilla/5.0 (iPad; CPU OS {major}_{minor} like Mac OS X) {webkit}"
                f" Version/{major}.{minor} Mobile/15E148 Safari/604.1"
            )
        return "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"

    found: dict[str, None] = {}
    while len(found) < count:
        found[make()] = None
    return list(found)


def landing(rng: random.Random) -> tuple[str, str]:
    """Return a first page and its referrer: search engines with keywords (UTF-8 and GBK),
    Baidu without one, campaigns (UTM), other sites, or direct."""
    word = rng.choice(_KEYWORDS)
    q = quote(word)
    page = rng.choice(PAGES)[0]
    roll = rng.random()
    searches = (
        (0.25, f"https://www.baidu.com/s?wd={q}&ie=utf-8&tn=baiduhome_pg"),
        (0.32, f"https://www.baidu.com/s?ie=gbk&wd={quote(word.encode('gbk'))}"),
        (0.40, f"https://m.baidu.com/s?word={q}"),
        (0.47, f"https://www.baidu.com/link?url=x{rng.getrandbits(64):x}"),
        (0.55, f"https://www.sogou.com/web?query={q}&ie=utf8"),
        (0.61, f"https://www.so.com/s?q={q}&src=srp"),
        (0.64, f"https://m.sm.cn/s?q={q}"),
        (0.66, f"https://cn.bing.com/search?q={q}"),
    )
    for upto, referrer in searches:
        if roll < upto:
            return page, referrer
    if roll < 0.76:
        camp = rng.choice(_CAMPAIGNS)
        url = f"{_SITE}/landing/{camp}?utm_source=baidu&utm_medium=cpc&utm_campaign={camp}"
        return f"{url}&utm_term={q}", f"https://www.baidu.com/baidu.php?sc=x{rng.getrandbits(32):x}"
    if roll < 0.84:
        return page, rng.choice(_REFERRING).format(n=rng.randrange(10**6, 10**7))
    return page, ""


@dataclass
class Profile:
    """One visitor as the driver plays them."""

    index: int
    address: str  # "" sends from 127.0.0.1
    user_agent: str
    landing: str
    referrer: str
    token: str = ""
    visitor_id: str = ""
    page: str = ""  # the page they are on: the next page view's referrer


def profiles(
    n: int, table: Table, agents: list[str], netns: bool, rng: random.Random
) -> list[Profile]:
    """Return n visitors; about 20 share an address (homes, offices, carrier NAT)."""
    out = []
    for i in range(n):
        rank = int(len(agents) * rng.random() ** 3)  # popular browsers first
        url, referrer = landing(rng)
        address = rng.choice(table.addresses) if netns else ""
        out.append(Profile(i, address, agents[rank], url, referrer))
    return out


# -- measurement helpers -------------------------------------------------------------


def _pct(values: list[int] | list[float], fraction: float, scale: float = _MS) -> float | None:
    """Return the nearest-rank percentile, divided by scale (ns -> ms by default)."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return round(ordered[index] / scale, 3)


def _dist(values: list[int], scale: float = _MS) -> dict[str, float | None]:
    return {
        "n": len(values),
        "p50": _pct(values, 0.5, scale),
        "p99": _pct(values, 0.99, scale),
        "max": _pct(values, 1.0, scale),
    }


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


class CpuClock:
    """CPU used by some processes and by the whole machine since made (% of one core)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._procs = {k: psutil.Process(p) for k, p in pids.items()}
        self._start = self._read()

    def _read(self) -> dict[str, float]:
        values = {k: sum(p.cpu_times()[:2]) for k, p in self._procs.items()}
        times = psutil.cpu_times()
        values["machine"] = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        values["wall"] = time.monotonic()
        return values

    def seconds(self) -> dict[str, float]:
        """Return CPU seconds used since construction, per process, machine and wall."""
        end = self._read()
        return {k: end[k] - self._start[k] for k in end}

    @staticmethod
    def percent(used: dict[str, float]) -> dict[str, float]:
        """Turn seconds into % of one core; `others` is everyone else's."""
        wall = used["wall"]
        pct = {f"{k}_pct": round(100 * v / wall, 1) for k, v in used.items() if k != "wall"}
        ours = sum(v for k, v in used.items() if k not in ("wall", "machine"))
        pct["others_pct"] = round(100 * (used["machine"] - ours) / wall, 1)
        return pct


# -- part 2: in-process --------------------------------------------------------------


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
            customer={"id": p.index, "name": f"客户{p.index}", "tier": "member", "verified": True}
            if rng.random() < 0.05
            else None,
            trail=trail,
            pages=len(trail),
            sockets=1,
            conversation_id=f"c_{p.index}" if rng.random() < 0.03 else None,
            invitation={"id": p.index, "status": "pending"} if rng.random() < 0.01 else None,
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
        keys.append((agent_scope([_PROVINCES[len(keys) % 31][0][:2]], frozenset({1, 2})), Filter()))
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
        warm = _timed(
            lambda s=scope, f=filt, o=offset: live.query(s, f, o, 50), params.repeat_inproc
        )

        def changed(s: Scope = scope, f: Filter = filt, o: int = offset) -> None:
            live.touch()  # the order is rebuilt once after any change, then cached
            live.query(s, f, o, 50)

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
    out["row_only_50"] = _timed(lambda: [v.row() for v in plain[:50]], params.repeat_inproc)
    out["encode_50_rows"] = _timed(
        lambda: json.dumps(
            {"visitors": [v.row() for v in plain[:50]]}, ensure_ascii=False, separators=(",", ":")
        ),
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
                    vid,
                    url=url,
                    title="t",
                    referrer=referrer,
                    site="default",
                    ip=p.address or "127.0.0.1",
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
            "one_at_a_time_ms": _dist(one),
            "concurrent_64": {
                "views": len(picks),
                "views_per_s": round(len(picks) / wall),
                "cpu_us_per_view": round(cpu / len(picks) * 1e6),
                "writer_transactions": box.db.stats.transactions - transactions,
            },
        }
    finally:
        await box.close()


# -- part 1: servers -----------------------------------------------------------------


def baseline_app() -> web.Application:
    """A bare aiohttp server: page views answered 201 with a small JSON after parsing the
    body and checking a bearer header exists; visitor sockets held open (auth, ready)."""
    counter = iter(range(1, 10**12))

    async def page_view(request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            raise web.HTTPUnauthorized()
        data = await request.json()
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            raise web.HTTPUnprocessableEntity()
        n = next(counter)
        view = {"id": n, "visit_id": n, "visit_number": 1}
        return web.json_response({"tracked": True, "page_view": view}, status=201)

    async def visitor_ws(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=64 * 1024)  # as the appliance
        await ws.prepare(request)
        first = await ws.receive(timeout=10.0)
        if first.type == WSMsgType.TEXT:
            token = json.loads(first.data).get("token", "")
            await ws.send_str(json.dumps({"type": "ready", "visitor_id": token}))
            async for _ in ws:
                pass
        return ws

    app = web.Application()
    app.router.add_post("/api/visitor/pageviews", page_view)
    app.router.add_get("/api/visitor/ws", visitor_ws)
    return app


async def serve_baseline(port: int) -> None:
    """Run the baseline until SIGTERM; print the port as the appliance does."""
    runner = web.AppRunner(baseline_app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
    await site.start()
    bound = [a[1] for a in runner.addresses if isinstance(a, tuple)]
    print(f"baseline: listening on port {bound[0]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


@dataclass(frozen=True)
class ConsoleSpec:
    """A console user, whose scope the admin sets, and the filter they watch."""

    username: str
    role: str
    regions: tuple[str, ...] = ()
    groups: str = "default"  # default | support | both
    filter: dict[str, str] = field(default_factory=dict)


_ADMIN = ConsoleSpec("bench-admin", "admin")
CONSOLES = (
    ConsoleSpec("sup-1", "supervisor"),
    ConsoleSpec("sup-2", "supervisor"),  # the same page as sup-1: one query for both
    ConsoleSpec("sup-probe", "supervisor", filter={"q": _PROBE_PATH}),  # the lag probe
    ConsoleSpec("agent-gd-1", "agent", ("广东",)),
    ConsoleSpec("agent-gd-2", "agent", ("广东",)),  # the same scope as agent-gd-1
    ConsoleSpec("agent-north", "agent", ("北京", "天津", "河北")),
    ConsoleSpec("agent-east", "agent", ("上海", "江苏", "浙江"), filter={"status": "browsing"}),
    ConsoleSpec("agent-support", "agent", (), "support"),
    ConsoleSpec("agent-search", "agent", (), "default", {"source": "search"}),
    ConsoleSpec("agent-kw", "agent", (), "both", {"q": "客服"}),
)


def make_template(root: Path) -> Path:
    """Create a data dir with the admin and the console users (argon2: slow, so once)."""
    data = root / "template"

    def add(spec: ConsoleSpec) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "appliance", "--data", str(data), "user", "add"]
        return subprocess.Popen(
            [*cmd, spec.username, "--role", spec.role, "--password-stdin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=_ROOT,
        )

    def finish(proc: subprocess.Popen[bytes]) -> None:
        _, err = proc.communicate(_PASSWORD.encode() + b"\n", timeout=_CLI_TIMEOUT)
        if proc.returncode != 0:
            raise RuntimeError(f"appliance user add failed: {err.decode(errors='replace')}")

    finish(add(_ADMIN))  # alone: it creates the database and the secret
    for start in range(0, len(CONSOLES), 4):
        for proc in [add(s) for s in CONSOLES[start : start + 4]]:
            finish(proc)
    return data


# -- part 1: clients -----------------------------------------------------------------


class Staff:
    """A logged-in console user over HTTP (cookie session + CSRF token)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, username: str) -> None:
        """Log in as the console does."""
        async with self.http.get(self.base + "/login") as resp:
            found = re.search(r'name="csrf-token" content="([^"]+)"', await resp.text())
        assert found, "no CSRF token on the login page"
        form = {"username": username, "password": _PASSWORD, "csrf_token": found.group(1)}
        async with self.http.post(self.base + "/login", data=form, allow_redirects=False) as resp:
            assert resp.status == 302, f"login of {username} failed: {resp.status}"
        async with self.http.get(self.base + "/api/console/me") as resp:
            self.csrf = (await resp.json())["csrf_token"]

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        """Call the console API; fail loudly on an error."""
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        if body is not None and not isinstance(body, bytes):
            kw["json"] = body
        elif body is not None:
            kw["data"] = body
        async with self.http.request(method, self.base + path, headers=headers, **kw) as resp:
            data = await resp.json()
            assert resp.status < 300, f"{method} {path}: {resp.status} {data}"
            return data


@dataclass
class Probes:
    """Lag probes: page views to unique URLs, seen by the console that watches q=/probe/."""

    done: dict[str, int] = field(default_factory=dict)  # url -> 201 read (ns), not yet shown
    seen: dict[str, int] = field(default_factory=dict)  # url -> shown before its 201 was read
    matched: set[str] = field(default_factory=set)
    lags: list[tuple[int, int]] = field(default_factory=list)  # (201 read at, lag ns)
    early: int = 0  # probes a frame showed before the driver had read their 201

    def answered(self, url: str, at: int) -> None:
        """Note a probe's 201."""
        if self.seen.pop(url, None) is not None:
            self.early += 1
            self.matched.add(url)
            self.lags.append((at, 0))
        else:
            self.done[url] = at

    def shown(self, url: str, at: int) -> None:
        """Note a frame showing a probe URL; the first frame counts."""
        if url in self.matched:
            return
        done = self.done.pop(url, None)
        if done is None:
            self.seen.setdefault(url, at)
        else:
            self.matched.add(url)
            self.lags.append((done, at - done))


@dataclass
class Frame:
    at: int
    size: int
    total: int
    rows: int


class Console:
    """A console socket watching the live list; it keeps every `visitors` frame's size."""

    def __init__(self, spec: ConsoleSpec, staff: Staff) -> None:
        self.spec = spec
        self.staff = staff
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.frames: list[Frame] = []
        self.errors: Counter[str] = Counter()

    async def open(self) -> None:
        """Open the socket and wait for `ready`."""
        self.ws = await self.staff.http.ws_connect(
            self.staff.base + "/api/console/ws", headers={"Origin": self.staff.base}
        )
        ready = await self.ws.receive_json()
        assert ready["type"] == "ready", ready

    async def watch(self, on: bool) -> None:
        """Start (or stop) watching the live list with this console's filter."""
        assert self.ws is not None
        frame = {"type": "watch_visitors", "filter": self.spec.filter, "offset": 0, "limit": 50}
        await self.ws.send_str(json.dumps(frame if on else {"type": "unwatch_visitors"}))

    async def read(self, probes: Probes | None) -> None:
        """Record frames until the socket ends."""
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                break
            now = time.monotonic_ns()
            frame = json.loads(msg.data)
            if frame["type"] == "visitors":
                rows = frame["visitors"]
                self.frames.append(Frame(now, len(msg.data.encode()), frame["total"], len(rows)))
                if probes is not None:
                    for row in rows:
                        url = (row.get("current") or {}).get("url", "")
                        if _PROBE_PATH in url:
                            probes.shown(url, now)
            elif frame["type"] == "error":
                self.errors[frame.get("code", "?")] += 1


@dataclass(frozen=True)
class Params:
    """What one invocation runs."""

    visitors: int
    rates: tuple[float, ...]  # offered page views/s, open loop, one step each
    clients: int  # closed-loop step with this many concurrent clients (0: none)
    unwatched_rate: float  # an extra appliance step with the consoles not watching (0: none)
    duration: float  # s measured per step
    warmup: float  # s of load before each step's window
    ranges: int  # IP table ranges
    addresses: int  # distinct visitor addresses
    user_agents: int  # distinct User-Agents to draw from
    probe_visitors: int  # visitors reserved for the lag probes
    repeat_inproc: int
    inproc_views: int
    tick_rate: int  # page views applied between two in-process hub ticks
    seed: int
    netns: bool
    targets: tuple[str, ...]
    server_log_level: str
    profile: bool  # py-spy the appliance during the closed-loop step


@dataclass(frozen=True)
class StepSpec:
    """One load step: open loop at `rate`, or closed loop with `clients`."""

    name: str
    rate: float
    clients: int
    watch: bool


@dataclass
class StepRecorder:
    """What one step saw; latencies in ns for requests sent inside the window."""

    window: tuple[int, int] = (0, 0)
    latencies: list[int] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    ok: int = 0  # 2xx answers read inside the window
    skipped: int = 0  # open-loop arrivals dropped: _MAX_IN_FLIGHT outstanding
    loop_lag: list[int] = field(default_factory=list)

    def inside(self, at: int) -> bool:
        """Tell whether a time falls in the measured window."""
        return self.window[0] <= at < self.window[1]


class Driver:
    """Keep-alive HTTP clients, one small pool per visitor address, and the visitors."""

    def __init__(self, base: str, people: list[Profile], probe_visitors: int, seed: int) -> None:
        self.base = base
        self.url = base + "/api/visitor/pageviews"
        self.people = people[probe_visitors:]  # random load
        self.probe_people = people[:probe_visitors]  # lag probes only: nothing moves them
        self.sessions: dict[str, aiohttp.ClientSession] = {}
        self.rng = random.Random(seed)
        self.probes = Probes()
        self.probe_count = 0
        self._probe_tasks: set[asyncio.Task[None]] = set()

    def session(self, address: str) -> aiohttp.ClientSession:
        """Return the client pool of one address ("" is 127.0.0.1)."""
        made = self.sessions.get(address)
        if made is None:
            connector = aiohttp.TCPConnector(
                limit=_CONNS_PER_ADDRESS if address else 256,
                local_addr=(address, 0) if address else None,
                keepalive_timeout=120,
            )
            timeout = aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT)
            made = self.sessions[address] = aiohttp.ClientSession(
                connector=connector, timeout=timeout
            )
        return made

    async def close(self) -> None:
        """Close every pool."""
        for task in list(self._probe_tasks):
            task.cancel()
        for made in self.sessions.values():
            await made.close()

    async def post(self, p: Profile, url: str, title: str) -> int:
        """Post one page view as the widget does; return the status."""
        body = {"url": url, "title": title, "referrer": p.page or p.referrer, "site": "default"}
        headers = {
            "Authorization": f"Bearer {p.token}",
            "User-Agent": p.user_agent,
            "Content-Type": "application/json",
        }
        data = json.dumps(body, ensure_ascii=False).encode()
        async with self.session(p.address).post(self.url, data=data, headers=headers) as resp:
            await resp.read()
            p.page = url
            return resp.status

    async def session_for(self, p: Profile) -> None:
        """Get the visitor an identity (POST /api/visitor/session) from their address."""
        async with self.session(p.address).post(self.base + "/api/visitor/session", json={}) as r:
            assert r.status == 201, f"session: {r.status}"
            data = await r.json()
        p.token, p.visitor_id = data["token"], data["visitor_id"]

    async def view(self, rec: StepRecorder) -> None:
        """One page view of a random visitor to a random page, recorded."""
        p = self.rng.choice(self.people)
        url, title = self.rng.choice(PAGES)
        began = time.monotonic_ns()
        try:
            status = await self.post(p, url, title)
        except (aiohttp.ClientError, TimeoutError) as err:
            if rec.inside(began):
                rec.sent += 1
                rec.errors[type(err).__name__] += 1
            return
        ended = time.monotonic_ns()
        if rec.inside(began):
            rec.sent += 1
            rec.statuses[str(status)] += 1
            rec.latencies.append(ended - began)
        if 200 <= status < 300 and rec.inside(ended):
            rec.ok += 1

    async def offer(self, rec: StepRecorder, rate: float, end: int) -> set[asyncio.Task[None]]:
        """Open loop: Poisson arrivals at `rate` until `end`; return what is still out."""
        rng = random.Random(self.rng.random())
        out: set[asyncio.Task[None]] = set()
        t_next = time.monotonic_ns()
        while True:
            t_next += int(rng.expovariate(1.0) * _NS / rate)
            if t_next >= end:
                return out
            delay = t_next - time.monotonic_ns()
            if delay > 0:
                await asyncio.sleep(delay / _NS)
            if len(out) >= _MAX_IN_FLIGHT:
                rec.skipped += rec.inside(t_next)
                continue
            task = asyncio.create_task(self.view(rec))
            out.add(task)
            task.add_done_callback(out.discard)

    async def closed(self, rec: StepRecorder, clients: int, end: int) -> set[asyncio.Task[None]]:
        """Closed loop: `clients` clients, each posting as soon as its last answer came."""

        async def client() -> None:
            while time.monotonic_ns() < end:
                await self.view(rec)

        await asyncio.gather(*(client() for _ in range(clients)))
        return set()

    async def probe_loop(self) -> None:
        """Post lag probes (a unique URL each) for the reserved visitors, Poisson, forever."""
        rng = random.Random(self.rng.random())
        while True:
            await asyncio.sleep(rng.expovariate(_PROBE_RATE))
            self.probe_count += 1
            url = f"{_SITE}{_PROBE_PATH}{self.probe_count}"
            task = asyncio.create_task(self._probe(rng.choice(self.probe_people), url))
            self._probe_tasks.add(task)
            task.add_done_callback(self._probe_tasks.discard)

    async def _probe(self, p: Profile, url: str) -> None:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            if await self.post(p, url, "探针") == 201:
                self.probes.answered(url, time.monotonic_ns())


async def _idle(end: int) -> set[asyncio.Task[None]]:
    await asyncio.sleep(max(0, end - time.monotonic_ns()) / _NS)
    return set()


async def _loop_lag(rec: StepRecorder) -> None:
    """Record how late the driver's own loop wakes: if it grows, the client is the limit."""
    while True:
        before = time.monotonic_ns()
        await asyncio.sleep(_LAG_TICK)
        after = time.monotonic_ns()
        if rec.inside(after):
            rec.loop_lag.append(after - before - int(_LAG_TICK * _NS))


async def _bounded(items: list[Any], make: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    """Run make(item) for every item with at most _SETUP_CONCURRENCY in flight."""
    gate = asyncio.Semaphore(_SETUP_CONCURRENCY)

    async def one(item: Any) -> Any:
        async with gate:
            return await make(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


class Sockets:
    """Every visitor's widget socket, read (so pings are answered) until closed."""

    def __init__(self) -> None:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.tasks: list[asyncio.Task[None]] = []
        self.closed: Counter[str] = Counter()  # sockets the server closed
        self.closing = False

    async def open(self, base: str, p: Profile) -> None:
        """Open and authenticate one visitor socket (presence: a tracked visitor)."""
        ws = await self.http.ws_connect(base + "/api/visitor/ws")
        await ws.send_str(json.dumps({"type": "auth", "token": p.token}))
        ready = await ws.receive_json()
        assert ready["type"] == "ready", ready
        self.tasks.append(asyncio.create_task(self._read(ws)))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
        if not self.closing:
            self.closed[str(ws.close_code)] += 1

    async def close(self) -> None:
        """Close every socket."""
        self.closing = True
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.close()


def steps(p: Params, target: str) -> list[StepSpec]:
    """Return the steps: idle (the appliance's lag probes only, 2 page views/s) and one
    rate with the consoles not watching; then, watching, idle and increasing open-loop
    rates; then closed loop. The baseline runs idle, the rates and closed loop."""
    appliance = target == "appliance"
    out = []
    if appliance and p.unwatched_rate:
        out.append(StepSpec("idle, consoles not watching", 0, 0, False))
        name = f"{p.unwatched_rate:g}/s, consoles not watching"
        out.append(StepSpec(name, p.unwatched_rate, 0, False))
    out.append(StepSpec("idle" + ", consoles watching" * appliance, 0, 0, True))
    out += [StepSpec(f"{r:g}/s", r, 0, True) for r in p.rates]
    if p.clients:
        out.append(StepSpec(f"closed loop, {p.clients} clients", 0, p.clients, True))
    return out


async def run_step(
    driver: Driver,
    spec: StepSpec,
    p: Params,
    pid: int,
    consoles: list[Console],
    spy_to: Path | None = None,
) -> tuple[dict[str, Any], tuple[int, int]]:
    """Run one step; return its figures and its window."""
    rec = StepRecorder()
    start = time.monotonic_ns()
    end = start + int((p.warmup + p.duration) * _NS)
    rec.window = (start + int(p.warmup * _NS), end)
    lag = asyncio.create_task(_loop_lag(rec))
    if spec.rate:
        load = asyncio.create_task(driver.offer(rec, spec.rate, end))
    elif spec.clients:
        load = asyncio.create_task(driver.closed(rec, spec.clients, end))
    else:
        load = asyncio.create_task(_idle(end))
    await asyncio.sleep(p.warmup)
    clock = CpuClock({"server": pid, "driver": os.getpid()})
    spy = None
    if spy_to is not None:
        spy = await asyncio.create_subprocess_exec(
            "py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "100",
            "--duration", str(int(p.duration)), "--output", str(spy_to),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    out = await load
    if spy is not None:
        await spy.wait()
    used = clock.seconds()
    lag.cancel()
    left = 0
    if out:
        _, pending = await asyncio.wait(out, timeout=_DRAIN)
        left = len(pending)
        for task in pending:
            task.cancel()
    ok = rec.ok or None
    result: dict[str, Any] = {
        "step": spec.name,
        "offered_per_s": spec.rate or None,
        "clients": spec.clients or None,
        "consoles_watching": spec.watch and bool(consoles),
        "sent_per_s": round(rec.sent / p.duration, 1),
        "achieved_per_s": round(rec.ok / p.duration, 1),
        "latency_ms": _dist(rec.latencies),
        "statuses": dict(rec.statuses),
        "errors": dict(rec.errors),
        "skipped_arrivals": rec.skipped,
        "still_out_after_drain": left,
        "cpu": CpuClock.percent(used),
        "server_cpu_us_per_view": round(used["server"] / ok * 1e6) if ok else None,
        "driver_cpu_us_per_view": round(used["driver"] / ok * 1e6) if ok else None,
        "driver_loop_lag_ms": _dist(rec.loop_lag),
    }
    return result, rec.window


def console_figures(
    consoles: list[Console], window: tuple[int, int], seconds: float
) -> dict[str, Any]:
    """Return, per console, frames/s, frame bytes and rows inside a window."""
    per: dict[str, Any] = {}
    for c in consoles:
        frames = [f for f in c.frames if window[0] <= f.at < window[1]]
        per[c.spec.username] = {
            "frames_per_s": round(len(frames) / seconds, 2),
            "frame_kib_median": round(statistics.median(f.size for f in frames) / 1024, 1)
            if frames
            else 0,
            "rows_median": statistics.median(f.rows for f in frames) if frames else 0,
            "total_last": frames[-1].total if frames else None,
            "errors": dict(c.errors),
        }
    rates = [v["frames_per_s"] for v in per.values()]
    sizes = [v["frame_kib_median"] for v in per.values() if v["frame_kib_median"]]
    return {
        "frames_per_s_median": statistics.median(rates) if rates else 0,
        "frames_per_s_min": min(rates) if rates else 0,
        "frame_kib_median": statistics.median(sizes) if sizes else 0,
        "frame_kib_per_s_all_consoles": round(
            sum(v["frames_per_s"] * v["frame_kib_median"] for v in per.values()), 1
        ),
        "per_console": per,
    }


def probe_figures(probes: Probes, window: tuple[int, int]) -> dict[str, Any]:
    """Return the 201 -> first frame lag of the probes answered inside a window."""
    lags = [lag for at, lag in probes.lags if window[0] <= at < window[1]]
    missing = sum(1 for at in probes.done.values() if window[0] <= at < window[1])
    return {"lag_ms": _dist(lags), "not_shown": missing}


async def configure(admin: Staff, table: Table) -> dict[str, Any]:
    """As the admin: import the IP table, add a support group with its route, and give
    each console user their regions and groups."""
    out: dict[str, Any] = {}
    began = time.perf_counter()
    status = await admin.call(
        "POST",
        "/api/admin/ip-table?format=ip2region",
        table.text,
        headers={"Content-Type": "text/plain"},
    )
    out["iptable_import_http_s"] = round(time.perf_counter() - began, 2)
    out["iptable_ranges"] = status.get("ranges")
    support = (await admin.call("POST", "/api/console/groups", {"name": "售后支持"}))["group"]
    groups = (await admin.call("GET", "/api/console/groups"))["groups"]
    default = next(g["id"] for g in groups if g["is_default"])
    route = {"url_pattern": "*/support/*", "region": "", "group_id": support["id"]}
    await admin.call("PUT", "/api/console/routes", {"routes": [route]})
    ids = {
        a["username"]: a["id"] for a in (await admin.call("GET", "/api/console/agents"))["agents"]
    }
    chosen = {"default": [default], "support": [support["id"]], "both": [default, support["id"]]}
    for spec in CONSOLES:
        if spec.role == "agent":
            body = {"regions": list(spec.regions), "groups": chosen[spec.groups]}
            await admin.call("PATCH", f"/api/console/agents/{ids[spec.username]}", body)
    return out


async def scenario(
    target: str,
    base: str,
    pid: int,
    people: list[Profile],
    p: Params,
    table: Table,
    stamp: str,
) -> dict[str, Any]:
    """Set up visitors (and, on the appliance, consoles), run every step, return figures."""
    appliance = target == "appliance"
    server = psutil.Process(pid)
    driver = Driver(base, people, p.probe_visitors if appliance else 0, p.seed)
    sockets = Sockets()
    consoles: list[Console] = []
    staff: list[Staff] = []
    tasks: list[asyncio.Task[None]] = []
    out: dict[str, Any] = {"setup": {}}
    setup = out["setup"]
    try:
        if appliance:
            admin = Staff(base)
            staff.append(admin)
            await admin.login(_ADMIN.username)
            setup.update(await configure(admin, table))
            began = time.perf_counter()
            await _bounded(people, driver.session_for)
            setup["sessions_s"] = round(time.perf_counter() - began, 1)
            began = time.perf_counter()

            async def land(v: Profile) -> int:
                return await driver.post(v, v.landing, "着陆页")

            statuses = Counter(await _bounded(people, land))
            setup["landing_views_s"] = round(time.perf_counter() - began, 1)
            setup["landing_statuses"] = {str(k): v for k, v in statuses.items()}
        else:
            for v in people:
                v.token, v.visitor_id = f"v_{v.index}", f"v_{v.index}"
        began = time.perf_counter()
        await _bounded(people, lambda v: sockets.open(base, v))
        setup["sockets_s"] = round(time.perf_counter() - began, 1)
        await asyncio.sleep(2)
        setup["server_rss_mib"] = round(server.memory_info().rss / 2**20, 1)
        if appliance:
            listed = await admin.call("GET", "/api/console/visitors?limit=1")
            setup["live_visitors"] = listed["total"]
            regions = await admin.call("GET", "/api/console/visitors?limit=200")
            setup["region_status_of_200"] = dict(
                Counter(r["region"]["status"] for r in regions["visitors"])
            )
            for spec in CONSOLES:
                user = Staff(base)
                staff.append(user)
                await user.login(spec.username)
                console = Console(spec, user)
                await console.open()
                consoles.append(console)
                tasks.append(
                    asyncio.create_task(
                        console.read(driver.probes if spec.filter.get("q") == _PROBE_PATH else None)
                    )
                )
            tasks.append(asyncio.create_task(driver.probe_loop()))
        # The driver's own garbage collections would stall it with this many sockets.
        gc.collect()
        gc.freeze()
        results = []
        watching = False
        for spec in steps(p, target):
            if consoles and spec.watch != watching:
                await asyncio.sleep(_SWITCH)  # the last step's probes reach their frames
                for console in consoles:
                    await console.watch(spec.watch)
                watching = spec.watch
                await asyncio.sleep(_SWITCH)
            spy_to = None
            if p.profile and appliance and spec.clients:
                spy_to = _RESULTS / f"insight-{stamp}-appliance.folded"
            result, window = await run_step(driver, spec, p, pid, consoles, spy_to)
            if spy_to is not None and spy_to.exists():
                print(profile_top(spy_to, 25), flush=True)
            result["server_rss_mib"] = round(server.memory_info().rss / 2**20, 1)
            results.append((result, window))
            print(
                f"  {target} {spec.name}: {result['achieved_per_s']} views/s, p50"
                f" {result['latency_ms']['p50']} ms, p99 {result['latency_ms']['p99']} ms,"
                f" server {result['cpu']['server_pct']} % ({result['server_cpu_us_per_view']}"
                f" µs/view), others {result['cpu']['others_pct']} %",
                flush=True,
            )
        await asyncio.sleep(_PROBE_WAIT)
        for result, window in results:
            if consoles and result["consoles_watching"]:
                result["consoles"] = console_figures(consoles, window, p.duration)
                result["probes"] = probe_figures(driver.probes, window)
        out["steps"] = [r for r, _ in results]
        if appliance:
            listed = await admin.call("GET", "/api/console/visitors?limit=1")
            out["live_visitors_at_end"] = listed["total"]
            out["probes_sent"] = driver.probe_count
            out["probes_shown_before_201"] = driver.probes.early
        out["sockets_closed_by_server"] = dict(sockets.closed)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sockets.close()
        for console in consoles:
            if console.ws is not None:
                await console.ws.close()
        for user in staff:
            await user.http.close()
        await driver.close()
        gc.unfreeze()
    return out


def run_target(
    target: str,
    p: Params,
    people: list[Profile],
    table: Table,
    work: Path,
    template: Path | None,
    stamp: str,
) -> dict[str, Any]:
    """Start one server, run the scenario against it, stop it and clean up."""
    log = _RESULTS / f"insight-{stamp}-{target}.log"
    data: Path | None = None
    if target == "baseline":
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-baseline"]
        env: dict[str, str] = {}
    else:
        assert template is not None
        data = work / f"data-{time.monotonic_ns()}"
        shutil.copytree(template, data)
        cmd = [sys.executable, "-m", "appliance", "--data", str(data), "run", "--no-mdns"]
        cmd += ["--host", "127.0.0.1", "--port", "0", "--log-level", p.server_log_level]
        env = _LIMIT_ENV
    background = psutil.cpu_percent(interval=_IDLE_PROBE) * (os.cpu_count() or 1)
    revision = git_revision("appliance")
    server = ServerProcess(target, cmd, log, env)
    try:
        base = f"http://127.0.0.1:{server.port}"
        fresh = [dataclasses.replace(v) for v in people]
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            result = runner.run(scenario(target, base, server.proc.pid, fresh, p, table, stamp))
    finally:
        server.stop()
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)
    result["server_log"] = server.log_summary()
    result["revision"] = revision
    result["others_cpu_before_pct"] = round(background, 1)
    return result


# -- report ----------------------------------------------------------------------------


def ratios(http: dict[str, Any]) -> list[dict[str, Any]]:
    """Return appliance/baseline per step both ran (idle: the appliance's with consoles
    watching)."""
    if "baseline" not in http or "appliance" not in http:
        return []
    base = {s["step"]: s for s in http["baseline"]["steps"]}

    def ratio(a: float | None, z: float | None) -> float | None:
        return round(a / z, 2) if a is not None and z else None

    out = []
    for step in http["appliance"]["steps"]:
        b = base.get(step["step"].replace(", consoles watching", ""))
        if b is None:
            continue
        out.append(
            {
                "step": step["step"],
                "achieved": ratio(step["achieved_per_s"], b["achieved_per_s"]),
                "latency_p50": ratio(step["latency_ms"]["p50"], b["latency_ms"]["p50"]),
                "latency_p99": ratio(step["latency_ms"]["p99"], b["latency_ms"]["p99"]),
                "server_cpu": ratio(step["cpu"]["server_pct"], b["cpu"]["server_pct"]),
                "server_cpu_per_view": ratio(
                    step["server_cpu_us_per_view"], b["server_cpu_us_per_view"]
                ),
            }
        )
    return out


def summary(report: dict[str, Any]) -> str:
    """Render the main figures."""
    lines = []
    for target, result in report["http"].items():
        lines.append(f"{target}: setup {result['setup']}")
        lines.append(
            f"{'step':36}{'views/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'srv %':>7}{'µs/view':>9}"
            f"{'others %':>9}{'frames/s':>9}{'lag p50':>9}{'lag p99':>9}"
        )
        for s in result["steps"]:
            frames = s.get("consoles", {}).get("frames_per_s_median", "")
            lag = s.get("probes", {}).get("lag_ms", {})
            lines.append(
                f"{s['step']:36}{s['achieved_per_s']:>9}{s['latency_ms']['p50']!s:>9}"
                f"{s['latency_ms']['p99']!s:>9}{s['cpu']['server_pct']:>7}"
                f"{s['server_cpu_us_per_view']!s:>9}{s['cpu']['others_pct']:>9}{frames!s:>9}"
                f"{lag.get('p50', '')!s:>9}{lag.get('p99', '')!s:>9}"
            )
    for r in report["ratio_appliance_to_baseline"]:
        lines.append(f"ratio {r}")
    inproc = report.get("in_process")
    if inproc:
        lines.append(f"plain pass over {inproc['live_visitors']}: {inproc['plain_pass']}")
        for name, q in inproc["query"].items():
            lines.append(
                f"query {name:26} {q['cached_order']['median_us']:>8} µs cached,"
                f" {q['after_a_change']['median_us']:>8} µs after a change,"
                f" ×{q['ratio_cached_to_plain_pass']} plain pass, total {q['total']}"
            )
        for tick in inproc["hub_tick"]:
            lines.append(f"hub tick {tick}")
        for key in ("lookup_us", "classify_us", "describe_cached_us", "describe_new_us"):
            lines.append(f"{key}: {inproc[key]}")
        lines.append(f"page_view in-process: {inproc['page_view']}")
    return "\n".join(lines)


# -- entry point -----------------------------------------------------------------------


def _enter_netns(argv: list[str], mode: str) -> None:
    """Re-execute in a network namespace of our own (root only), unless already there."""
    if os.environ.get(_NETNS_MARK) or mode == "off":
        return
    usable = os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip")
    if not usable:
        if mode == "on":
            raise SystemExit("--netns on needs root, unshare and ip")
        return
    script = str(Path(__file__).resolve())
    env = {**os.environ, _NETNS_MARK: "1"}
    command = ["unshare", "--net", sys.executable, script, *argv]
    os.execvpe(command[0], command, env)  # noqa: S606 - an argument list, no shell


def _local_addresses(addresses: list[str]) -> None:
    """Bring up lo in our namespace with every visitor address on it."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    batch = "".join(f"addr add {a}/32 dev lo\n" for a in addresses)
    subprocess.run(["ip", "-batch", "-"], input=batch.encode(), check=True)


def _raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < needed:
        raise SystemExit(f"need {needed} open files, the hard limit is {hard}")


def _params(args: argparse.Namespace, netns: bool) -> Params:
    quick = args.quick
    rates = args.rates or ("50,200" if quick else "170,500,1000")
    return Params(
        visitors=args.visitors or (500 if quick else 5000),
        rates=tuple(float(r) for r in rates.split(",") if r),
        clients=args.clients if args.clients is not None else (16 if quick else 32),
        unwatched_rate=args.unwatched_rate
        if args.unwatched_rate is not None
        else (200 if quick else 500),
        duration=args.duration or (4.0 if quick else 15.0),
        warmup=args.warmup or (2.0 if quick else 3.0),
        ranges=4000,
        addresses=256,
        user_agents=3000,
        probe_visitors=20 if quick else 50,
        repeat_inproc=5 if quick else 31,
        inproc_views=1000 if quick else 5000,
        tick_rate=170,
        seed=args.seed,
        netns=netns,
        targets=tuple(t for t in args.targets.split(",") if t),
        server_log_level=args.server_log_level,
        profile=args.profile,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its report."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 visitors, short steps")
    parser.add_argument("--visitors", type=int, default=0)
    parser.add_argument("--rates", default="", help="offered page views/s, e.g. 170,500,1000")
    parser.add_argument("--clients", type=int, default=None, help="closed-loop clients (0: none)")
    parser.add_argument("--unwatched-rate", type=float, default=None)
    parser.add_argument("--duration", type=float, default=0.0, help="s measured per step")
    parser.add_argument("--warmup", type=float, default=0.0, help="s before each window")
    parser.add_argument("--targets", default="baseline,appliance")
    parser.add_argument("--no-in-process", action="store_true", help="skip part 2")
    parser.add_argument("--netns", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--server-log-level", default="WARNING")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the appliance in the closed-loop step"
    )
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_baseline:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(serve_baseline(0))
        return 0
    _enter_netns(argv, args.netns)
    netns = bool(os.environ.get(_NETNS_MARK))
    p = _params(args, netns)
    rng = random.Random(p.seed)
    table = generate_table(p.ranges, p.addresses, rng)
    if netns:
        _local_addresses(table.addresses)
    people = profiles(p.visitors, table, user_agents(p.user_agents, rng), netns, rng)
    _raise_nofile(2 * p.visitors + 2048)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    _RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "command": ["insight.py", *argv],
        "started": stamp,
        "params": dataclasses.asdict(p),
        "machine": machine(aiohttp=aiohttp.__version__, uvloop=loop_factory() is not None),
        "revision": git_revision("appliance", "bench/insight.py"),
        "load_average_before": os.getloadavg(),
        "addresses": "public, one namespace" if netns else "127.0.0.1 (private)",
        "http": {},
    }
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="callbox-bench-insight-") as tmp:
        work = Path(tmp)
        if not args.no_in_process:
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                report["in_process"] = runner.run(in_process(p, table, people, work))
            print("in-process part done", flush=True)
        template = make_template(work) if "appliance" in p.targets else None
        for target in p.targets:
            report["http"][target] = run_target(target, p, people, table, work, template, stamp)
    report["ratio_appliance_to_baseline"] = ratios(report["http"])
    report["load_average_after"] = os.getloadavg()
    report["wall_s"] = round(time.monotonic() - began)
    out = _RESULTS / f"insight-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(summary(report))
    print(f"full report: {out.relative_to(_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
