"""Part 1 of bench/insight.py, the clients and servers: the bare aiohttp baseline, the
console users and their sockets, visitor sockets, and the page-view load generator."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil  # type: ignore[import-untyped]
from aiohttp import WSMsgType, web
from insight_site import PAGES, SITE, Profile

_ROOT = Path(__file__).resolve().parent.parent
NS = 1_000_000_000  # ns per s
_MS = 1_000_000  # ns per ms
_SETUP_CONCURRENCY = 64  # requests or handshakes in flight while setting up
_CONNS_PER_ADDRESS = 4  # keep-alive connections one client address may open
_MAX_IN_FLIGHT = 1000  # open-loop requests outstanding before arrivals are skipped
_REQUEST_TIMEOUT = 30.0  # s
_LAG_TICK = 0.010  # s between probes of the load generator's loop lag
_PROBE_RATE = 2.0  # lag-probe page views per second (appliance)
_CLI_TIMEOUT = 120.0  # s for one `appliance user add`
_PASSWORD = "bench-console-password"  # noqa: S105 - throwaway accounts in a temp dir
PROBE_PATH = "/probe/"  # lag probes' pages: a console watches q=/probe/


def pct(values: list[int] | list[float], fraction: float, scale: float = _MS) -> float | None:
    """Return the nearest-rank percentile, divided by scale (ns -> ms by default)."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return round(ordered[index] / scale, 3)


def dist(values: list[int], scale: float = _MS) -> dict[str, float | None]:
    return {
        "n": len(values),
        "p50": pct(values, 0.5, scale),
        "p99": pct(values, 0.99, scale),
        "max": pct(values, 1.0, scale),
    }


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


def install_gc_log() -> None:
    """Print a line per full (generation 2) garbage collection: when it ended (monotonic
    ns, the driver's clock) and how long it took. Self-contained: the appliance runs its
    source as a prelude."""
    import gc
    import sys
    import time

    began = [0.0]

    def log(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        elif info["generation"] == 2:
            took = time.perf_counter() - began[0]
            print(
                f"bench-gc2 at {time.monotonic_ns()} took {took:.4f}", file=sys.stderr, flush=True
            )

    gc.callbacks.append(log)


# Read now: the source file may change while a long run goes on.
GC_LOG_PRELUDE = f"{inspect.getsource(install_gc_log)}\ninstall_gc_log()\n"


def full_collections(log: str) -> list[tuple[int, float]]:
    """Return (ended at ns, seconds) of every full collection install_gc_log printed."""
    found = re.findall(r"bench-gc2 at (\d+) took ([\d.]+)", log)
    return [(int(at), float(took)) for at, took in found]


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


ADMIN = ConsoleSpec("bench-admin", "admin")
CONSOLES = (
    ConsoleSpec("sup-1", "supervisor"),
    ConsoleSpec("sup-2", "supervisor"),  # the same page as sup-1: one query for both
    ConsoleSpec("sup-probe", "supervisor", filter={"q": PROBE_PATH}),  # the lag probe
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

    finish(add(ADMIN))  # alone: it creates the database and the secret
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
                        if PROBE_PATH in url:
                            probes.shown(url, now)
            elif frame["type"] == "error":
                self.errors[frame.get("code", "?")] += 1


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
    sent_at: list[int] = field(default_factory=list)  # beside latencies
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
            rec.sent_at.append(began)
        if 200 <= status < 300 and rec.inside(ended):
            rec.ok += 1

    async def offer(self, rec: StepRecorder, rate: float, end: int) -> set[asyncio.Task[None]]:
        """Open loop: Poisson arrivals at `rate` until `end`; return what is still out."""
        rng = random.Random(self.rng.random())
        out: set[asyncio.Task[None]] = set()
        t_next = time.monotonic_ns()
        while True:
            t_next += int(rng.expovariate(1.0) * NS / rate)
            if t_next >= end:
                return out
            delay = t_next - time.monotonic_ns()
            if delay > 0:
                await asyncio.sleep(delay / NS)
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
        """Post lag probes (a unique URL each) for the reserved visitors in turn (so a probe
        is not replaced by the next one before a frame shows it), Poisson, forever."""
        rng = random.Random(self.rng.random())
        turns = itertools.cycle(self.probe_people)
        while True:
            await asyncio.sleep(rng.expovariate(_PROBE_RATE))
            self.probe_count += 1
            url = f"{SITE}{PROBE_PATH}{self.probe_count}"
            task = asyncio.create_task(self._probe(next(turns), url))
            self._probe_tasks.add(task)
            task.add_done_callback(self._probe_tasks.discard)

    async def _probe(self, p: Profile, url: str) -> None:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            if await self.post(p, url, "探针") == 201:
                self.probes.answered(url, time.monotonic_ns())


async def idle(end: int) -> set[asyncio.Task[None]]:
    """Wait until `end` (an idle step)."""
    await asyncio.sleep(max(0, end - time.monotonic_ns()) / NS)
    return set()


async def loop_lag(rec: StepRecorder) -> None:
    """Record how late the driver's own loop wakes: if it grows, the client is the limit."""
    while True:
        before = time.monotonic_ns()
        await asyncio.sleep(_LAG_TICK)
        after = time.monotonic_ns()
        if rec.inside(after):
            rec.loop_lag.append(after - before - int(_LAG_TICK * NS))


async def bounded(items: list[Any], make: Callable[[Any], Awaitable[Any]]) -> list[Any]:
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
