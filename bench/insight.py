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
import dataclasses
import gc
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil  # type: ignore[import-untyped]
from insight_live import in_process
from insight_load import (
    ADMIN,
    CONSOLES,
    GC_LOG_PRELUDE,
    NS,
    PROBE_PATH,
    Console,
    CpuClock,
    Driver,
    Probes,
    Sockets,
    Staff,
    StepRecorder,
    StepSpec,
    bounded,
    dist,
    full_collections,
    idle,
    install_gc_log,
    loop_lag,
    make_template,
    serve_baseline,
)
from insight_site import Profile, Table, generate_table, profiles, user_agents
from provenance import git_revision, loop_factory, machine  # (bench/)
from ws_fanout import ServerProcess  # (bench/)

_ROOT = Path(__file__).resolve().parent.parent
_RESULTS = _ROOT / "bench" / "results"
_NETNS_MARK = "CALLBOX_BENCH_NETNS"  # set in the re-executed driver inside its namespace
_DRAIN = 30.0  # s at most for requests still out after a step
_PROBE_WAIT = 5.0  # s a probe may take to show in a frame before it counts as missing
_SWITCH = 2.0  # s around a change of watching: a frame comes at most every second
_SLOW_MS = 100  # a page view slower than this marks its second in slow_seconds
_IDLE_PROBE = 2.0  # s of machine CPU sampled before each server starts
_UNLIMITED = "1000000000"
_RUN_APPLIANCE = "import sys\nfrom appliance.cli import main\nsys.exit(main())"  # --prelude
# Per-address limits only: thousands of visitors share the driver's few addresses.
# The per-visitor page-view limit (1/s, burst 30) stays as shipped.
_LIMIT_ENV = {
    f"CALLBOX_IP_{what}_{kind}": _UNLIMITED
    for what in ("VIEW", "CONV", "MSG")
    for kind in ("RATE", "BURST")
}


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
    profile: str  # py-spy (native) the appliance during the steps whose name has this
    prelude: str  # Python run in the appliance before it starts (experiments: GC settings)


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
    end = start + int((p.warmup + p.duration) * NS)
    rec.window = (start + int(p.warmup * NS), end)
    lag = asyncio.create_task(loop_lag(rec))
    if spec.rate:
        load = asyncio.create_task(driver.offer(rec, spec.rate, end))
    elif spec.clients:
        load = asyncio.create_task(driver.closed(rec, spec.clients, end))
    else:
        load = asyncio.create_task(idle(end))
    await asyncio.sleep(p.warmup)
    clock = CpuClock({"server": pid, "driver": os.getpid()})
    spy = None
    if spy_to is not None:
        spy = await asyncio.create_subprocess_exec(
            "py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "100", "--native",
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
        "latency_ms": dist(rec.latencies),
        "statuses": dict(rec.statuses),
        "errors": dict(rec.errors),
        "skipped_arrivals": rec.skipped,
        "still_out_after_drain": left,
        "cpu": CpuClock.percent(used),
        "server_cpu_us_per_view": round(used["server"] / ok * 1e6) if ok else None,
        "driver_cpu_us_per_view": round(used["driver"] / ok * 1e6) if ok else None,
        "driver_loop_lag_ms": dist(rec.loop_lag),
        "slow_seconds": slow_seconds(rec),
    }
    return result, rec.window


def slow_seconds(rec: StepRecorder) -> list[dict[str, Any]]:
    """Return the seconds of the window in which a request took over _SLOW_MS: when, how
    many, the longest (stalls: their spacing tells a periodic pause from noise)."""
    seconds: dict[int, list[int]] = {}
    for began, latency in zip(rec.sent_at, rec.latencies, strict=True):
        if latency > _SLOW_MS * 1_000_000:
            seconds.setdefault((began - rec.window[0]) // NS, []).append(latency)
    return [
        {"second": k, "slow": len(v), "max_ms": round(max(v) / 1_000_000)}
        for k, v in sorted(seconds.items())
    ]


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
    return {"lag_ms": dist(lags), "not_shown": missing}


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
            await admin.login(ADMIN.username)
            setup.update(await configure(admin, table))
            began = time.perf_counter()
            await bounded(people, driver.session_for)
            setup["sessions_s"] = round(time.perf_counter() - began, 1)
            began = time.perf_counter()

            async def land(v: Profile) -> int:
                return await driver.post(v, v.landing, "着陆页")

            statuses = Counter(await bounded(people, land))
            setup["landing_views_s"] = round(time.perf_counter() - began, 1)
            setup["landing_statuses"] = {str(k): v for k, v in statuses.items()}
        else:
            for v in people:
                v.token, v.visitor_id = f"v_{v.index}", f"v_{v.index}"
        began = time.perf_counter()
        await bounded(people, lambda v: sockets.open(base, v))
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
            for who in CONSOLES:
                user = Staff(base)
                staff.append(user)
                await user.login(who.username)
                console = Console(who, user)
                await console.open()
                consoles.append(console)
                tasks.append(
                    asyncio.create_task(
                        console.read(driver.probes if who.filter.get("q") == PROBE_PATH else None)
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
            if p.profile and appliance and p.profile in spec.name:
                tag = re.sub(r"\W+", "-", spec.name).strip("-")
                spy_to = _RESULTS / f"insight-{stamp}-appliance-{tag}.folded"
            result, window = await run_step(driver, spec, p, pid, consoles, spy_to)
            if spy_to is not None and spy_to.exists():
                print(profile_summary(spy_to), flush=True)
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
        out["steps"] = [{**r, "window": w} for r, w in results]
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
        start = ["-c", f"{GC_LOG_PRELUDE}{p.prelude}\n{_RUN_APPLIANCE}"]
        cmd = [sys.executable, *start, "--data", str(data), "run", "--no-mdns"]
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
    collections = full_collections(log.read_text("utf-8", "replace"))
    result["server_full_gcs"] = {
        "count": len(collections),
        "ms": [round(took * 1000) for _, took in collections],
    }
    for step in result["steps"]:
        start, end = step.pop("window")
        inside = [round(took * 1000) for at, took in collections if start <= at < end]
        step["server_full_gcs_ms"] = inside
    result["revision"] = revision
    result["others_cpu_before_pct"] = round(background, 1)
    return result


def profile_summary(path: Path, count: int = 30) -> str:
    """Summarize a py-spy folded profile: the share of the event-loop thread's samples
    (the stacks through asyncio's Runner.run) in each function, callees included."""
    total: Counter[str] = Counter()
    samples = others = 0
    for line in path.read_text("utf-8", "replace").splitlines():
        stack, _, n = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if not n.isdigit() or not any(f.startswith("Runner.run ") for f in frames):
            others += int(n) if n.isdigit() else 0  # the writer and reader threads
            continue
        samples += int(n)
        total.update(dict.fromkeys(frames, int(n)))
    out = [f"{path.name}: {samples} samples of the loop thread, {others} of other threads"]
    inner = Counter({f: c for f, c in total.items() if c < 0.9 * samples})
    out += [f"{100 * c / max(samples, 1):5.1f} {f}" for f, c in inner.most_common(count)]
    return "\n".join(out)


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
        prelude=args.prelude,
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
        "--profile", default="", metavar="TEXT", help="py-spy the appliance in steps named so"
    )
    parser.add_argument(
        "--prelude", default="", help="Python run in the appliance first, e.g. 'import gc; ...'"
    )
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_baseline:
        install_gc_log()
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
