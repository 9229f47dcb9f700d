"""Load benchmark: many visitor WebSockets sending at a set rate, agents replying.

One run measures the bare aiohttp fan-out server (bench/baseline_server.py, the
ceiling) and then the real `appliance run`, each in its own child process, with the
same parameters, and reports for both: visitor→agent and round-trip latency
(p50/p99/max), achieved messages per second, errors and dropped sockets, server RSS
per idle connection, and the CPU used by server, load generator and machine.

    python bench/ws_fanout.py --visitors 5000 --rate 500 --duration 30 --repeat 3

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
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
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil  # type: ignore[import-untyped]
from provenance import git_revision, loop_factory, machine  # (bench/)

_ROOT = Path(__file__).resolve().parent.parent
_RESULTS = _ROOT / "bench" / "results"
_BASELINE = _ROOT / "bench" / "baseline_server.py"

_START_TIMEOUT = 30.0  # s for a server to print its port
_STOP_TIMEOUT = 20.0  # s for a server to exit after SIGTERM
_CLI_TIMEOUT = 120.0  # s for one `appliance user add`
_SETUP_CONCURRENCY = 64  # HTTP requests or socket handshakes in flight during setup
_ASSIGN_TIMEOUT = 300.0  # s for every conversation to reach an agent that joined it
_SETTLE = 3.0  # s between opening the idle sockets and reading the server's RSS
_DRAIN = 30.0  # s at most after the window for replies still on their way
_RSS_EVERY = 10.0  # s between samples of the server's RSS during the load (soak runs)
# A CPU hog: spins until its deadline (argv[1], a time.monotonic() value) or until killed.
_HOG = "import sys, time\nend = float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"
_IDLE_PROBE = 2.0  # s of machine CPU sampled before each server starts
_LAG_TICK = 0.010  # s between probes of the load generator's own loop lag
_ERROR_FRAMES = 50  # error frames kept whole in the report
_NS = 1_000_000_000  # ns per s
_MS = 1_000_000  # ns per ms
_AGENT_PASSWORD = "bench-agent-password"  # noqa: S105 - throwaway accounts in a temp dir
_RUN_APPLIANCE = "import sys\nfrom appliance.cli import main\nsys.exit(main())"  # for --prelude
_UNLIMITED = "1000000000"  # rate (per s) and burst that no benchmark reaches
_LIMIT_ENV = {  # every visitor comes from 127.0.0.1: lift the per-address limits too
    f"CALLBOX_{who}_{what}_{kind}": _UNLIMITED
    for who in ("VISITOR", "IP")
    for what in ("MSG", "CONV")
    for kind in ("RATE", "BURST")
} | {
    # 100 agents log in at once from 127.0.0.1: more than the login throttle's burst
    # (an attempt is counted before it is checked), which answered 429 from issue 10 on.
    "CALLBOX_LOGIN_ATTEMPTS": _UNLIMITED
}


# -- measurement ---------------------------------------------------------------


@dataclass
class Recorder:
    """What one target run observed; latencies in ns, only for sends inside the window."""

    window: tuple[int, int] = (0, 0)  # monotonic ns
    to_agent: list[tuple[int, int]] = field(default_factory=list)  # (sent at, latency)
    round_trip: list[tuple[int, int]] = field(default_factory=list)
    ack: list[int] = field(default_factory=list)
    send_lag: list[int] = field(default_factory=list)
    loop_lag: list[int] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (s into the load, MiB)
    resent: Counter[str] = field(default_factory=Counter)  # lines sent again, by error code
    sent: int = 0
    unanswered: dict[int, str] = field(default_factory=dict)  # send time -> conversation
    delivered: int = 0  # visitor lines that reached an agent inside the window
    reached: set[int] = field(default_factory=set)  # send times of lines an agent has had
    replies: int = 0  # agent replies that reached a visitor inside the window
    send_failures: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    error_frames: list[dict[str, Any]] = field(default_factory=list)  # the first few, as sent
    closed: Counter[str] = field(default_factory=Counter)
    joined: int = 0
    joined_all: asyncio.Event = field(default_factory=asyncio.Event)
    expected_joins: int = 0
    sending: bool = True
    replied_all: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False

    def inside(self, t_send: int) -> bool:
        """Tell whether a message sent at t_send counts (after warm-up, before the end)."""
        return self.window[0] <= t_send < self.window[1]

    def note_join(self) -> None:
        """Count an agent joining one of its conversations."""
        self.joined += 1
        if self.joined >= self.expected_joins:
            self.joined_all.set()

    def error(self, who: str, frame: dict[str, Any]) -> None:
        """Count an error frame; keep the first few whole, for the report."""
        self.errors[f"{who} {frame.get('code')}"] += 1
        if len(self.error_frames) < _ERROR_FRAMES:
            self.error_frames.append({"to": who, "at_ns": time.monotonic_ns(), **frame})

    def note_reply(self) -> None:
        """Notice when every line sent in the window has had its reply."""
        if not self.sending and len(self.round_trip) >= self.sent:
            self.replied_all.set()

    def socket_ended(self, kind: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Count a socket the server closed while the benchmark still needed it."""
        if not self.closing:
            self.closed[f"{kind} {ws.close_code}"] += 1


def _ms(values: list[int], fraction: float) -> float:
    """Return the nearest-rank percentile of ns values, in ms."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return round(ordered[index] / _MS, 2)


def _dist(values: list[int]) -> dict[str, float]:
    return {"p50": _ms(values, 0.50), "p99": _ms(values, 0.99), "max": _ms(values, 1.0)}


def _timeline(rec: Recorder) -> list[dict[str, float]]:
    """Return, per second of the window, p50/p99 round trip of the lines sent in it."""
    seconds: dict[int, list[int]] = {}
    for t_send, lat in rec.round_trip:
        seconds.setdefault((t_send - rec.window[0]) // _NS, []).append(lat)
    return [
        {"second": s, "round_trips": len(v), "p50_ms": _ms(v, 0.5), "p99_ms": _ms(v, 0.99)}
        for s, v in sorted(seconds.items())
    ]


# -- clients -------------------------------------------------------------------


_RETRIED = ("busy", "rate_limited", "storage_full")  # the widget and console send these again


class _Resender:
    """Keep each line until its ack, and send it again after a `busy` (or rate-limit)
    refusal's retry_after, as the widget and the console do."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pending: dict[str, str] = {}  # client_msg_id -> frame text

    def acked(self, client_msg_id: str) -> None:
        self.pending.pop(client_msg_id, None)

    def refused(self, frame: dict[str, Any]) -> bool:
        """Schedule a resend of a refused line; tell whether it was one."""
        text = self.pending.get(frame.get("ref") or "")
        if text is None or frame.get("code") not in _RETRIED:
            return False
        self.rec.resent[frame["code"]] += 1
        delay = max(1, int(frame.get("retry_after") or 1))
        asyncio.get_running_loop().call_later(delay, self._again, text)
        return True

    def _again(self, text: str) -> None:
        if self.ws is not None and not self.ws.closed and not self.rec.closing:
            asyncio.get_running_loop().create_task(self._send(text))

    async def _send(self, text: str) -> None:
        assert self.ws is not None
        try:
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            self.rec.send_failures += 1


class AgentClient:
    """One agent console socket: joins what it is given and answers every visitor line."""

    def __init__(self, rec: Recorder, http: aiohttp.ClientSession) -> None:
        self.rec = rec
        self.http = http
        self.user_id: int | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._joined: set[str] = set()
        self._sent = 0
        self.resender = _Resender(rec)

    async def connect(self, base: str, origin: str) -> None:
        """Open the console socket and wait for `ready`."""
        self.ws = await self.http.ws_connect(base + "/api/console/ws", headers={"Origin": origin})
        self.resender.ws = self.ws
        ready = await self.ws.receive_json()
        assert ready["type"] == "ready", ready
        self.user_id = ready["user"]["id"]

    async def read(self) -> None:
        """Handle frames until the socket ends."""
        ws = self.ws
        assert ws is not None
        rec = self.rec
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            kind = frame["type"]
            if kind == "message":
                message = frame["message"]
                if message["sender_type"] == "visitor":
                    now = time.monotonic_ns()
                    rec.delivered += rec.inside(now)
                    t_send = int(message["body"].split(" ", 1)[0])
                    if rec.inside(t_send) and t_send not in rec.reached:
                        rec.reached.add(t_send)
                        rec.to_agent.append((t_send, now - t_send))
                    await self._reply(message["conversation_id"], t_send)
            elif kind == "conversation":
                conv = frame["conversation"]
                agent = conv.get("agent") or {}
                mine = conv["status"] == "active" and agent.get("id") == self.user_id
                if mine and conv["id"] not in self._joined:
                    self._joined.add(conv["id"])
                    join = {"type": "join", "conversation_id": conv["id"], "after_seq": 0}
                    await ws.send_str(json.dumps(join))
                    rec.note_join()
            elif kind == "left":
                # As the console does: a chat that comes back later is joined again.
                self._joined.discard(frame["conversation_id"])
            elif kind == "ack":
                self.resender.acked(frame["client_msg_id"])
            elif kind == "error" and not self.resender.refused(frame):
                rec.error("agent", frame)
        rec.socket_ended("agent", ws)

    async def _reply(self, conv_id: str, t_send: int) -> None:
        assert self.ws is not None
        self._sent += 1
        frame = {
            "type": "send",
            "conversation_id": conv_id,
            "client_msg_id": f"a{self._sent}",
            "body": f"{t_send} thanks, looking into it",
        }
        text = self.resender.pending[frame["client_msg_id"]] = json.dumps(frame)
        try:
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            self.rec.send_failures += 1


class Visitor:
    """One visitor: an identity, a conversation and (once opened) a widget socket."""

    def __init__(self, rec: Recorder, token: str, conv_id: str, pad: str) -> None:
        self.rec = rec
        self.token = token
        self.conv_id = conv_id
        self.pad = pad
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pong = asyncio.Event()
        self._sent = 0
        self.resender = _Resender(rec)

    async def connect(self, http: aiohttp.ClientSession, base: str, compress: int) -> None:
        """Open the socket, authenticate, join, and ask for a pong that proves the join."""
        ws = self.ws = await http.ws_connect(base + "/api/visitor/ws", compress=compress)
        self.resender.ws = ws
        await ws.send_str(json.dumps({"type": "auth", "token": self.token}))
        ready = await ws.receive_json()
        assert ready["type"] == "ready", ready
        join = {"type": "join", "conversation_id": self.conv_id, "after_seq": 0}
        await ws.send_str(json.dumps(join))
        # Frames are handled in order: the pong proves the join is done.
        await ws.send_str('{"type":"ping"}')

    async def read(self) -> None:
        """Handle frames until the socket ends."""
        ws = self.ws
        assert ws is not None
        rec = self.rec
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            kind = frame["type"]
            if kind == "message":
                message = frame["message"]
                if message["sender_type"] == "agent":
                    now = time.monotonic_ns()
                    rec.replies += rec.inside(now)
                    t_send = int(message["body"].split(" ", 1)[0])
                    # The first reply counts; a line replayed to a second agent is
                    # answered again.
                    if rec.inside(t_send) and rec.unanswered.pop(t_send, None) is not None:
                        rec.round_trip.append((t_send, now - t_send))
                        rec.note_reply()
            elif kind == "ack":
                self.resender.acked(frame["client_msg_id"])
                t_send = int(frame["client_msg_id"].split(".", 1)[1])
                if rec.inside(t_send):
                    rec.ack.append(time.monotonic_ns() - t_send)
            elif kind == "pong":
                self.pong.set()
            elif kind == "error" and not self.resender.refused(frame):
                rec.error("visitor", frame)
        rec.socket_ended("visitor", ws)

    async def send(self, t_sched: int) -> None:
        """Send one line; its body and client_msg_id carry the send time."""
        assert self.ws is not None
        rec = self.rec
        now = time.monotonic_ns()
        if rec.inside(now):
            rec.sent += 1
            rec.unanswered[now] = self.conv_id
            rec.send_lag.append(now - t_sched)
        self._sent += 1
        frame = {
            "type": "send",
            "conversation_id": self.conv_id,
            "client_msg_id": f"{self._sent}.{now}",
            "body": f"{now} {self.pad}",
        }
        text = self.resender.pending[frame["client_msg_id"]] = json.dumps(frame)
        try:
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            rec.send_failures += 1


# -- scenario ------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    """What one run asks of each target."""

    visitors: int
    rate: float  # visitor messages per second, all visitors together
    duration: float  # s measured
    warmup: float  # s of load before the window
    agents: int
    body_bytes: int
    arrivals: str  # "poisson" or "fixed"
    seed: int
    compress: bool
    prelude: str  # Python run in the appliance process before it starts (experiments)
    busy: int  # CPU hogs (busy loops, one process each) running through warm-up and window
    server_log_level: str  # the appliance's --log-level (INFO shows ring-outs)


@dataclass
class Target:
    """A server under test: where it listens and how its agents log in."""

    name: str
    base: str
    pid: int
    login: Callable[[aiohttp.ClientSession, str, int], Awaitable[None]] | None


async def _appliance_login(http: aiohttp.ClientSession, base: str, index: int) -> None:
    """Log an agent in over HTTP and set them online, as the console does."""
    async with http.get(base + "/login") as resp:
        page = await resp.text()
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found, "no CSRF token on the login page"
    form = {"username": _agent_name(index), "password": _AGENT_PASSWORD}
    form["csrf_token"] = found.group(1)
    async with http.post(base + "/login", data=form, allow_redirects=False) as resp:
        assert resp.status == 302, f"login failed: {resp.status}"
    async with http.get(base + "/api/console/me") as resp:
        token = (await resp.json())["csrf_token"]
    async with http.post(
        base + "/api/console/presence",
        json={"status": "online"},
        headers={"X-CSRF-Token": token},
    ) as resp:
        assert resp.status == 200, f"presence failed: {resp.status}"


async def _new_visitor(http: aiohttp.ClientSession, base: str, rec: Recorder, pad: str) -> Visitor:
    async with http.post(base + "/api/visitor/session", json={}) as resp:
        token = (await resp.json())["token"]
    async with http.post(
        base + "/api/visitor/conversations",
        json={"name": "bench", "page_url": "http://shop.example/", "lang": "en"},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        assert resp.status in (200, 201), f"conversation failed: {resp.status}"
        conv_id = (await resp.json())["conversation"]["id"]
    return Visitor(rec, token, conv_id, pad)


async def _bounded(n: int, make: Callable[[int], Any]) -> list[Any]:
    """Run make(0..n-1) with at most _SETUP_CONCURRENCY in flight; keep the order."""
    gate = asyncio.Semaphore(_SETUP_CONCURRENCY)

    async def one(i: int) -> Any:
        async with gate:
            return await make(i)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def _probe_loop_lag(rec: Recorder) -> None:
    """Record how late the load generator's own loop wakes up: its saturation."""
    while True:
        before = time.monotonic_ns()
        await asyncio.sleep(_LAG_TICK)
        after = time.monotonic_ns()
        if rec.inside(after):
            rec.loop_lag.append(after - before - int(_LAG_TICK * _NS))


async def _offer_load(rec: Recorder, visitors: list[Visitor], p: Params) -> None:
    """Send p.rate lines a second spread over all visitors, open loop, for warm-up + window."""
    rng = random.Random(p.seed)
    start = time.monotonic_ns()
    end = start + int((p.warmup + p.duration) * _NS)
    rec.window = (start + int(p.warmup * _NS), end)
    mean_gap = _NS / p.rate
    t_next = start
    while True:
        gap = rng.expovariate(1.0) * mean_gap if p.arrivals == "poisson" else mean_gap
        t_next += int(gap)
        if t_next >= end:
            return
        delay = t_next - time.monotonic_ns()
        if delay > 0:
            await asyncio.sleep(delay / _NS)
        await rng.choice(visitors).send(t_next)


def _cpu_seconds(proc: psutil.Process) -> float:
    """CPU seconds of a process and its children (the appliance's writer helper)."""
    total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += sum(child.cpu_times()[:2])
    return total


class _CpuClock:
    """CPU used by the server, the load generator and the whole machine since made."""

    def __init__(self, server_pid: int) -> None:
        self._procs = {"server": psutil.Process(server_pid), "client": psutil.Process()}
        self._start = self._read()

    def _read(self) -> dict[str, float]:
        values = {"server": _cpu_seconds(self._procs["server"])}
        values["client"] = sum(self._procs["client"].cpu_times()[:2])  # not the server's
        times = psutil.cpu_times()
        values["machine"] = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        values["wall"] = time.monotonic()
        return values

    def percent(self) -> dict[str, float]:
        """Return % of one core used since construction; `other` is everyone else."""
        end = self._read()
        wall = end["wall"] - self._start["wall"]
        used = {k: 100 * (end[k] - self._start[k]) / wall for k in ("server", "client", "machine")}
        used["other"] = used["machine"] - used["server"] - used["client"]
        return {f"{k}_pct": round(v, 1) for k, v in used.items()}


async def run_scenario(target: Target, p: Params, profile: Path | None) -> dict[str, Any]:
    """Set up agents and visitors on a running server, measure, and return the figures."""
    rec = Recorder(expected_joins=p.visitors)
    base = target.base
    server = psutil.Process(target.pid)
    origin = base
    compress = 15 if p.compress else 0
    pad = "x" * max(0, p.body_bytes - 20)
    timings: dict[str, float] = {}
    tasks: list[asyncio.Task[None]] = []
    sessions: list[aiohttp.ClientSession] = []
    hogs: list[subprocess.Popen[bytes]] = []

    def session(**kwargs: Any) -> aiohttp.ClientSession:
        made = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), **kwargs)
        sessions.append(made)
        return made

    try:
        t0 = time.monotonic()
        agents = [
            AgentClient(rec, session(cookie_jar=aiohttp.CookieJar(unsafe=True)))
            for _ in range(p.agents)
        ]
        login = target.login
        if login is not None:
            await _bounded(p.agents, lambda i: login(agents[i].http, base, i))
        await _bounded(p.agents, lambda i: agents[i].connect(base, origin))
        tasks += [asyncio.create_task(a.read()) for a in agents]
        http = session()
        visitors = await _bounded(p.visitors, lambda _: _new_visitor(http, base, rec, pad))
        await asyncio.wait_for(rec.joined_all.wait(), _ASSIGN_TIMEOUT)
        timings["setup_conversations_s"] = round(time.monotonic() - t0, 1)

        await asyncio.sleep(_SETTLE)
        rss_before = server.memory_info().rss
        t0 = time.monotonic()
        ws_http = session()

        async def open_visitor(i: int) -> None:
            v = visitors[i]
            await v.connect(ws_http, base, compress)
            tasks.append(asyncio.create_task(v.read()))
            await v.pong.wait()

        await _bounded(p.visitors, open_visitor)
        timings["setup_sockets_s"] = round(time.monotonic() - t0, 1)
        await asyncio.sleep(_SETTLE)
        rss_after = server.memory_info().rss

        # The load generator's own garbage collections would stall its loop for
        # hundreds of ms with this many sockets: keep the set-up objects out of them.
        gc.collect()
        gc.freeze()
        tasks.append(asyncio.create_task(_probe_loop_lag(rec)))
        spy = None
        if profile is not None:
            spy = await asyncio.create_subprocess_exec(
                "py-spy", "record", "--pid", str(target.pid), "--format", "raw", "--native",
                "--rate", "100", "--duration", str(int(p.duration)),
                "--output", str(profile),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        # Busy mode: other work takes `busy` cores for warm-up, window and drain; each hog
        # also stops by itself at its deadline should this process die first.
        hogs = _start_hogs(p.busy, p.warmup + p.duration + _DRAIN + 5)
        load = asyncio.create_task(_offer_load(rec, visitors, p))
        tasks.append(asyncio.create_task(_sample_rss(rec, server)))
        await asyncio.sleep(p.warmup)
        cpu = _CpuClock(target.pid)
        await load
        cpu_used = cpu.percent()
        rec.sending = False
        rec.note_reply()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rec.replied_all.wait(), _DRAIN)
        if spy is not None:
            await spy.wait()
    finally:
        _stop_hogs(hogs)
        rec.closing = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for made in sessions:
            await made.close()
        gc.unfreeze()

    window = p.duration
    return {
        "to_agent_ms": _dist([lat for _, lat in rec.to_agent]),
        "round_trip_ms": _dist([lat for _, lat in rec.round_trip]),
        "ack_ms": _dist(rec.ack),
        "sent_per_s": round(rec.sent / window, 1),
        "delivered_per_s": round(rec.delivered / window, 1),
        "replies_per_s": round(rec.replies / window, 1),
        "lost": len(rec.unanswered),
        # Which conversations they were in, for reading the kept data dir (--keep-data).
        "lost_conversations": Counter(rec.unanswered.values()).most_common(50),
        "send_failures": rec.send_failures,
        "resent": dict(rec.resent),
        "errors": dict(rec.errors),
        "error_frames": rec.error_frames,
        "closed_sockets": dict(rec.closed),
        "idle_kib_per_conn": round((rss_after - rss_before) / p.visitors / 1024, 1),
        "server_rss_mib": round(rss_after / 2**20, 1),
        "cpu": cpu_used,
        "client_send_lag_ms": _dist(rec.send_lag),
        "client_loop_lag_ms": _dist(rec.loop_lag),
        **timings,
        "timeline": _timeline(rec),
        "rss_timeline_mib": rec.rss,
        "busy_hogs": p.busy,
    }


def _start_hogs(count: int, seconds: float) -> list[subprocess.Popen[bytes]]:
    """Start `count` busy-loop processes that end by themselves after `seconds`."""
    deadline = str(time.monotonic() + seconds)
    return [subprocess.Popen([sys.executable, "-c", _HOG, deadline]) for _ in range(count)]


def _stop_hogs(hogs: list[subprocess.Popen[bytes]]) -> None:
    for hog in hogs:
        hog.kill()
        hog.wait()


async def _sample_rss(rec: Recorder, server: psutil.Process) -> None:
    """Record the server's RSS (MiB) every _RSS_EVERY s while the load runs."""
    start = time.monotonic()
    while True:
        rss = server.memory_info().rss / 2**20
        rec.rss.append((round(time.monotonic() - start, 1), round(rss, 1)))
        await asyncio.sleep(_RSS_EVERY)


# -- servers -------------------------------------------------------------------


def _agent_name(index: int) -> str:
    return f"bench-agent-{index:03d}"


class ServerProcess:
    """A server under test in a child process, its output going to a log file."""

    def __init__(self, name: str, cmd: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, cwd=_ROOT, env={**os.environ, **env}
            )
        self.port = self._wait_for_port()

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            found = re.search(r"listening on port (\d+)", self.log.read_text("utf-8", "replace"))
            if found:
                return int(found.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start; see {self.log}")

    def stop(self) -> None:
        """Stop with SIGTERM, then SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()

    def log_summary(self) -> dict[str, int]:
        """Count the warnings, errors and tracebacks the server logged."""
        text = self.log.read_text("utf-8", "replace")
        return {
            "warnings": text.count(" WARNING "),
            "errors": text.count(" ERROR "),
            "tracebacks": text.count("Traceback"),
        }


def make_agent_template(root: Path, agents: int, max_chats: int) -> Path:
    """Create a data dir holding the benchmark's agents; argon2 makes this slow, so once."""
    data = root / "template"

    def add(index: int) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "appliance", "--data", str(data), "user", "add"]
        cmd += [_agent_name(index), "--role", "agent", "--max-chats", str(max_chats)]
        return subprocess.Popen(
            [*cmd, "--password-stdin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=_ROOT,
        )

    def finish(proc: subprocess.Popen[bytes]) -> None:
        _, err = proc.communicate(_AGENT_PASSWORD.encode() + b"\n", timeout=_CLI_TIMEOUT)
        if proc.returncode != 0:
            raise RuntimeError(f"appliance user add failed: {err.decode(errors='replace')}")

    finish(add(0))  # alone: it creates the database and the secret
    batch = 2 * (os.cpu_count() or 1)
    for start in range(1, agents, batch):
        for proc in [add(i) for i in range(start, min(agents, start + batch))]:
            finish(proc)
    return data


def run_target(
    name: str,
    p: Params,
    work: Path,
    template: Path | None,
    log: Path,
    profile: Path | None,
    keep: Path | None = None,
) -> dict[str, Any]:
    """Start one server, run the scenario against it, stop it and clean up (or keep
    the appliance's data dir at `keep`, to read what happened to each conversation)."""
    data: Path | None = None
    login = None
    if name in ("baseline", "durable"):
        cmd = [sys.executable, str(_BASELINE), "--host", "127.0.0.1", "--port", "0"]
        if name == "durable":  # the bare server storing each line first (group commit)
            cmd += ["--durable", str(work / f"durable-{time.monotonic_ns()}.db")]
        env: dict[str, str] = {}
    else:
        assert template is not None
        data = work / f"data-{time.monotonic_ns()}"
        shutil.copytree(template, data)
        start = ["-m", "appliance"]
        if p.prelude:
            start = ["-c", f"{p.prelude}\n{_RUN_APPLIANCE}"]
        cmd = [sys.executable, *start, "--data", str(data), "run", "--no-mdns"]
        cmd += ["--host", "127.0.0.1", "--port", "0", "--log-level", p.server_log_level]
        env, login = _LIMIT_ENV, _appliance_login
    # Others' processes share the 2 cores: say how busy the machine was before.
    background = psutil.cpu_percent(interval=_IDLE_PROBE) * (os.cpu_count() or 1)
    revision = git_revision(
        "appliance"
    )  # others commit while a benchmark runs: note what this server ran
    server = ServerProcess(name, cmd, log, env)
    try:
        target = Target(name, f"http://127.0.0.1:{server.port}", server.proc.pid, login)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            result = runner.run(run_scenario(target, p, profile))
    finally:
        server.stop()
        if data is not None and keep is not None:
            shutil.move(data, keep)
        elif data is not None:
            shutil.rmtree(data, ignore_errors=True)
    result["server_log"] = server.log_summary()
    result["revision"] = revision
    result["cpu"]["background_before_pct"] = round(background, 1)
    return result


# -- report --------------------------------------------------------------------

_ROWS = (
    ("to_agent_ms.p50", "visitor→agent p50 ms"),
    ("to_agent_ms.p99", "visitor→agent p99 ms"),
    ("to_agent_ms.max", "visitor→agent max ms"),
    ("round_trip_ms.p50", "round trip p50 ms"),
    ("round_trip_ms.p99", "round trip p99 ms"),
    ("round_trip_ms.max", "round trip max ms"),
    ("ack_ms.p50", "visitor ack p50 ms"),
    ("ack_ms.p99", "visitor ack p99 ms"),
    ("sent_per_s", "visitor msgs/s sent"),
    ("delivered_per_s", "delivered to agents/s"),
    ("replies_per_s", "replies to visitors/s"),
    ("lost", "lost (no reply)"),
    ("idle_kib_per_conn", "KiB per idle visitor"),
    ("server_rss_mib", "server RSS MiB"),
    ("cpu.server_pct", "server CPU % of core"),
    ("cpu.client_pct", "load gen CPU % of core"),
    ("cpu.other_pct", "other procs CPU % of core"),
    ("cpu.machine_pct", "machine CPU % (200 = all)"),
    ("client_send_lag_ms.p99", "load gen send lag p99"),
    ("client_loop_lag_ms.p99", "load gen loop lag p99"),
    ("setup_conversations_s", "setup: conversations s"),
    ("setup_sockets_s", "setup: sockets s"),
)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, int | float):
            flat[prefix + key] = value
    return flat


def summarize(runs: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, float]]:
    """Return, per target, the median over repeats of every figure (absent counts as 0)."""
    medians: dict[str, dict[str, float]] = {}
    for name in names:
        flats = [_flatten(r["result"]) for r in runs if r["target"] == name]
        keys = sorted({k for f in flats for k in f})
        medians[name] = {k: statistics.median(f.get(k, 0) for f in flats) for k in keys}
    return medians


def ratios(
    medians: dict[str, dict[str, float]], to: str = "appliance", of: str = "baseline"
) -> dict[str, float]:
    """Return to/of (appliance/baseline) for every figure both have and `of`'s is not 0."""
    if of not in medians or to not in medians:
        return {}
    base, app = medians[of], medians[to]
    return {k: round(app[k] / base[k], 2) for k in base if k in app and base[k]}


def paired_ratios(
    runs: list[dict[str, Any]], key: str, to: str = "appliance", of: str = "baseline"
) -> list[float]:
    """Return to/of of one figure within each repeat: a pair of neighbouring runs shares
    the machine's mood, so these spread less than the medians' ratio on a noisy one."""
    by = {(r["target"], r["repeat"]): _flatten(r["result"]).get(key) for r in runs}
    return [
        round(by[(to, i)] / by[(of, i)], 2)
        for i in sorted({r["repeat"] for r in runs})
        if by.get((to, i)) and by.get((of, i))
    ]


def table(medians: dict[str, dict[str, float]], ratio: dict[str, float]) -> str:
    """Render the main figures side by side."""
    names = list(medians)
    lines = [f"{'':26}" + "".join(f"{n:>12}" for n in names) + ("  appl/base" if ratio else "")]
    for key, label in _ROWS:
        cells = "".join(f"{medians[n].get(key, float('nan')):>12g}" for n in names)
        extra = f"{ratio[key]:>11g}" if key in ratio else ""
        lines.append(f"{label:26}{cells}{extra}")
    for name in names:
        odd = {k: v for k, v in medians[name].items() if k.split(".")[0] in _COUNTED and v}
        lines.append(f"{name} errors/closed/log: {odd or 'none'}")
    return "\n".join(lines)


_COUNTED = ("errors", "closed_sockets", "server_log", "send_failures", "resent")


def profile_top(path: Path, count: int = 12) -> str:
    """Summarize a py-spy folded profile: the event-loop thread's top functions."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = others = 0
    for line in path.read_text("utf-8", "replace").splitlines():
        stack, _, n = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if not n.isdigit() or not any(f.startswith("_run_module_as_main") for f in frames):
            others += int(n) if n.isdigit() else 0  # aiosqlite and executor threads
            continue
        samples += int(n)
        own[frames[-1]] += int(n)
        total.update(dict.fromkeys(frames, int(n)))
    out = [f"{path.name}: {samples} samples of the loop thread, {others} of other threads"]
    out += ["own%  function"] + [f"{100 * c / samples:5.1f} {f}" for f, c in own.most_common(count)]
    # Frames on (nearly) every stack are the entry point and the loop itself.
    inner = Counter({f: c for f, c in total.items() if c < 0.9 * samples})
    out += ["total% function"] + [
        f"{100 * c / samples:5.1f} {f}" for f, c in inner.most_common(count)
    ]
    return "\n".join(out)


def _raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < needed:
        raise SystemExit(f"need {needed} open files, the hard limit is {hard}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0, help="visitor msgs/s in all")
    parser.add_argument("--duration", type=float, default=10.0, help="s measured")
    parser.add_argument("--warmup", type=float, default=5.0, help="s of load not measured")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--body-bytes", type=int, default=100, help="bytes per visitor line")
    parser.add_argument("--arrivals", choices=("poisson", "fixed"), default="poisson")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each target")
    parser.add_argument("--targets", default="baseline,appliance")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compress", action="store_true", help="permessage-deflate")
    parser.add_argument(
        "--prelude",
        default="",
        help="Python run in the appliance before it starts, e.g. 'import gc; gc.freeze()'",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the appliance (pauses it: slower)"
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep each appliance run's data dir in bench/results/ (SQLite, for post-mortems)",
    )
    parser.add_argument("--server-log-level", default="WARNING", help="the appliance's")
    parser.add_argument(
        "--keep-agents",
        default="",
        help="a folder to keep the agents' data dir in and reuse on the next run (A/B runs)",
    )
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        help="CPU hogs (one busy process each) during warm-up and window, both targets",
    )
    args = parser.parse_args(argv)
    names = [n for n in args.targets.split(",") if n]
    assert set(names) <= {"baseline", "durable", "appliance"}, (
        "targets: baseline, durable, appliance"
    )
    p = Params(**{f.name: getattr(args, f.name) for f in fields(Params)})
    _raise_nofile(p.visitors + p.agents + 1024)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    _RESULTS.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="callbox-bench-") as tmp:
        work = Path(tmp)
        template = None
        if "appliance" in names:
            t0 = time.monotonic()
            max_chats = -(-p.visitors // p.agents) + 5
            cached = (
                Path(args.keep_agents) / f"agents-{p.agents}-{max_chats}"
                if args.keep_agents
                else None
            )
            if cached is not None and cached.is_dir():
                template = cached
            else:
                template = make_agent_template(work, p.agents, max_chats)
                if cached is not None:
                    shutil.copytree(template, cached)
            print(f"created {p.agents} agents in {time.monotonic() - t0:.0f} s", flush=True)
        for i in range(args.repeat):
            for name in names:
                tag = f"{stamp}-{name}-r{i + 1}"
                profile = (
                    _RESULTS / f"{tag}.folded" if args.profile and name == "appliance" else None
                )
                log = _RESULTS / f"{tag}.log"
                keep = _RESULTS / f"{tag}-data" if args.keep_data else None
                result = run_target(name, p, work, template, log, profile, keep)
                runs.append({"target": name, "repeat": i + 1, "result": result})
                flat = _flatten(result)
                print(
                    f"[{i + 1}/{args.repeat}] {name}: p50 {flat['to_agent_ms.p50']} ms,"
                    f" p99 {flat['to_agent_ms.p99']} ms, rtt p99 {flat['round_trip_ms.p99']} ms,"
                    f" {flat['sent_per_s']} msgs/s, lost {flat['lost']},"
                    f" {flat['idle_kib_per_conn']} KiB/conn, server CPU {flat['cpu.server_pct']}%",
                    flush=True,
                )
                if keep is not None and name == "appliance":
                    print(f"data dir kept: {keep.relative_to(_ROOT)}", flush=True)
                if profile is not None and profile.exists():
                    print(profile_top(profile), flush=True)
    medians = summarize(runs, names)
    ratio = ratios(medians)
    report = {
        "command": [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])],
        "started": stamp,
        "params": asdict(p),
        "machine": machine(aiohttp=aiohttp.__version__, uvloop=loop_factory() is not None),
        "runs": runs,
        "median": medians,
        "ratio_appliance_to_baseline": ratio,
        "ratio_durable_to_baseline": ratios(medians, "durable"),
        "ratio_appliance_to_durable": ratios(medians, "appliance", "durable"),
        "ratio_appliance_to_baseline_per_repeat": {
            k: paired_ratios(runs, k) for k in ("to_agent_ms.p99", "round_trip_ms.p99")
        },
    }
    out = _RESULTS / f"ws_fanout-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(table(medians, ratio))
    for to, of in (("durable", "baseline"), ("appliance", "durable")):
        got = ratios(medians, to, of)
        if got:
            shown = ("to_agent_ms.p50", "to_agent_ms.p99", "round_trip_ms.p50", "round_trip_ms.p99")
            print(f"{to}/{of}: " + ", ".join(f"{k} ×{got[k]:g}" for k in shown if k in got))
    for key, paired in report["ratio_appliance_to_baseline_per_repeat"].items():
        if len(paired) > 1:
            print(
                f"appliance/baseline {key} per repeat: {', '.join(f'×{r:g}' for r in paired)}"
                f" (median ×{statistics.median(paired):g})"
            )
    print(f"medians of {args.repeat} run(s); full report: {out.relative_to(_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
