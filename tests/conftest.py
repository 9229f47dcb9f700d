"""Shared fixtures: real SQLite in temp dirs, the app on loopback, real clients."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from aiohttp.test_utils import TestServer
from aiohttp.web_runner import BaseRunner

from appliance.cli import tune_gc
from appliance.core.box import Box
from appliance.settings import Settings, load_settings
from appliance.webui.app import create_app
from appliance.webui.keys import BOX
from appliance.webui.runner import make_runner
from tests.contract_check import MISMATCHES, _document, check_responses

PASSWORD = "correct horse battery"
_LEAK_WAIT = 2.0  # s for threads of closed resources to finish
_SLOW_CALLBACK = 0.3  # s a callback may compute on the event loop
_HELD_LIMIT = 2.0  # s it may hold the loop in all, waits for a CPU not counted

# The apps under test run in this process: give it the collector settings `appliance
# run` uses. With the defaults, a full collection of everything the suite has built
# stopped the loop 0.31 s inside a trivial write (a clean-clone CI run), which the
# guard below rightly counts, but against settings the appliance does not run with.
tune_gc()


@pytest.fixture(autouse=True)
def no_leaked_threads_or_processes() -> Iterator[None]:
    """Fail a test that leaves threads or child processes behind."""
    threads = set(threading.enumerate())
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    deadline = time.monotonic() + _LEAK_WAIT
    while True:
        # asyncio_N threads are the default executor of the test's own loop, which
        # pytest-asyncio shuts down with the loop after this fixture.
        extra = [
            t
            for t in threading.enumerate()
            if t not in threads and t.is_alive() and not t.name.startswith("asyncio_")
        ]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra, f"test leaked threads: {extra}"
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in children]
    assert not left, f"test leaked processes: {left}"


# Playwright's driver handshake (initialize_playwright) decodes its whole protocol
# description in one callback: 0.3-0.7 s on a loaded 2-core machine, and starting the
# driver process (PlaywrightClient._run) can take 0.3 s too. It is the test's browser,
# not the appliance, so it does not count against the loop.
_DRIVER = ("initialize_playwright", "PlaywrightClient._run")


class _LoopWatch:
    """Time every callback the loop thread runs by what the thread itself did.

    asyncio's debug mode times callbacks by the wall clock, so on a busy 2-core
    machine a callback that was merely waiting for a CPU (another test process, the
    browser) counted as blocking (clean-clone CI failures: a cancelled task "took"
    0.32 s). The kernel keeps per-thread figures (/proc/thread-self/schedstat: ns on a
    CPU, ns runnable but waiting for one). A callback fails the test when the loop's
    thread computed for longer than the limit, which is what sync work on the loop
    looks like, or when it was held, not counting the wait for a CPU, longer than
    `_HELD_LIMIT`: a blocking system call, or another thread of the process keeping
    the GIL (on a machine loaded 4-5x its cores that wait alone reached 1.3 s, with
    0.05-0.08 s of the loop's own work in it).
    """

    def __init__(self, threshold: float, ignore: tuple[str, ...]) -> None:
        self.threshold = threshold
        self.ignore = (*_DRIVER, *ignore)
        self.records: list[str] = []
        self.thread = threading.get_native_id()
        self.stat = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        self.original = asyncio.events.Handle._run

    def __enter__(self) -> None:
        watch = self

        def timed(handle: asyncio.Handle) -> None:
            if threading.get_native_id() != watch.thread:
                watch.original(handle)
                return
            before = os.pread(watch.stat, 64, 0)
            start = time.perf_counter()
            try:
                watch.original(handle)
            finally:
                took = time.perf_counter() - start
                if took > watch.threshold:
                    watch.check(handle, took, before)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign]

    def check(self, handle: asyncio.Handle, took: float, before: bytes) -> None:
        after = os.pread(self.stat, 64, 0).split()
        ran = (int(after[0]) - int(before.split()[0])) / 1e9
        waited = (int(after[1]) - int(before.split()[1])) / 1e9
        held = took - waited
        if ran <= self.threshold and held <= _HELD_LIMIT:
            return
        text = asyncio.base_events._format_handle(handle)  # type: ignore[attr-defined]
        if not any(d in text for d in self.ignore):
            self.records.append(
                f"{text} computed {ran:.3f} s, held the loop {held:.3f} s ({took:.3f} s)"
            )

    def __exit__(self, *_exc: object) -> None:
        asyncio.events.Handle._run = self.original  # type: ignore[method-assign]
        os.close(self.stat)


@contextlib.asynccontextmanager
async def no_slow_callbacks(ignore: tuple[str, ...] = ()) -> AsyncIterator[None]:
    """Fail if a callback held the event loop too long (unless its text has `ignore`)."""
    watch = _LoopWatch(_SLOW_CALLBACK, ignore)
    with watch:
        yield
    assert not watch.records, f"event loop blocked: {watch.records}"


@pytest.fixture(autouse=True)
def frozen_heap() -> None:
    """Collect what earlier tests left alive once, and freeze it, so a collection during
    this test scans only what this test built. Otherwise the heap of 1,000 tests makes
    one collection a 0.33-0.35 s pause at a random step (clean-clone CI runs failed on
    one: inside a trivial write, inside the app fixture's setup, and inside a browser
    test's relay listener) that the appliance, whose heap is its own, does not have.
    Its own fixture, so the suites that override `loop_not_blocked` keep it."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
async def loop_not_blocked(frozen_heap: None) -> AsyncIterator[None]:
    """Fail a test during which a callback held the event loop too long."""
    async with no_slow_callbacks():
        yield


def csrf_in(html: str) -> str:
    """Return the CSRF token a console page carries in its meta tag."""
    return html.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


# A test box refuses new conversations only when it is far behind: on a CI machine
# running two workers and browsers, the loop now and then lags half a second (the
# default limit), and an unrelated test met "busy" (tests/integration/test_overload.py
# sets its own limits).
_TEST_LIMITS = {"overload_loop_lag": 5.0, "overload_writer_wait": 10.0}


def make_settings(data_dir: Path, **changes: Any) -> Settings:
    """Return settings for a test box: its own data dir, no mDNS, admission limits
    loose enough for a busy test machine (_TEST_LIMITS) unless changed."""
    return replace(
        load_settings({"data_dir": str(data_dir)}), mdns=False, **{**_TEST_LIMITS, **changes}
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
async def box(settings: Settings) -> AsyncIterator[Box]:
    """An opened core over a real SQLite file."""
    core = Box(settings)
    await core.open()
    yield core
    await core.close()


async def helper_up(box: Box, *, quiet: bool = True) -> None:
    """Wait until the writer's helper process takes chat lines (it starts with the box
    and is ready a fraction of a second later; until then the writer stores them).
    quiet: stop the search indexer and the report pass first, whose writes go to the
    helper too, so a test can count the helper's transactions."""
    if quiet:
        await box.search.close()
        await box.reports.close()
    for _ in range(400):
        if box.db.helper_up:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the writer's helper process did not start")


@dataclass
class Running:
    """An appliance served on loopback."""

    server: TestServer
    box: Box

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    @property
    def ws_base(self) -> str:
        return f"ws://{self.server.host}:{self.server.port}"


class ApplianceTestServer(TestServer):
    """aiohttp's test server, serving through the appliance's own runner."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return make_runner(self.app, **kwargs)


@pytest.fixture
async def make_app(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    """Start appliance apps on loopback with optional setting changes."""
    servers: list[TestServer] = []

    async def start(**changes: Any) -> Running:
        # The response check's own copy of the OpenAPI document takes 0.2-0.4 s to build
        # (cached): built in a request, it tripped the blocked-loop guard of whichever
        # test came first. Built here, off the loop.
        await asyncio.to_thread(_document)
        data_dir = changes.pop("data_dir", tmp_path / f"data{len(servers)}")
        app = create_app(make_settings(data_dir, **changes))
        app.middlewares.insert(0, check_responses)
        server = ApplianceTestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return Running(server, app[BOX])

    MISMATCHES.clear()
    yield start
    for server in servers:
        await server.close()
    found, MISMATCHES[:] = list(MISMATCHES), []
    assert not found, f"responses that do not match the OpenAPI document: {found}"


@pytest.fixture
async def running(make_app: Callable[..., Awaitable[Running]]) -> Running:
    return await make_app()


class Agent:
    """A logged-in console user with their own cookie jar."""

    def __init__(self, running: Running, http: aiohttp.ClientSession, user_id: int) -> None:
        self.running = running
        self.http = http
        self.user_id = user_id
        self.csrf = ""

    async def login(self, username: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        async with self.http.get(self.running.url("/login")) as page:
            text = await page.text()
        token = csrf_in(text)
        async with self.http.post(
            self.running.url("/login"),
            data={"username": username, "password": password, "csrf_token": token},
            allow_redirects=False,
        ) as response:
            await response.read()
        if response.status == 302:
            me = await self.get("/api/console/me")
            self.csrf = me["csrf_token"]
        return response

    async def get(self, path: str, status: int = 200) -> Any:
        async with self.http.get(self.running.url(path)) as response:
            assert response.status == status, await response.text()
            return await response.json()

    async def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        async with self.http.post(
            self.running.url(path), json=body or {}, headers={"X-CSRF-Token": self.csrf}
        ) as response:
            assert response.status == status, await response.text()
            return await response.json()

    async def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """Make any console API request with the CSRF header; check the status."""
        async with self.http.request(
            method, self.running.url(path), json=body, headers={"X-CSRF-Token": self.csrf}
        ) as response:
            assert response.status == status, await response.text()
            return await response.json()

    async def ws(self) -> aiohttp.ClientWebSocketResponse:
        ws = await self.http.ws_connect(
            self.running.ws_base + "/api/console/ws",
            origin=f"http://{self.running.server.host}:{self.running.server.port}",
        )
        ready = await ws.receive_json(timeout=5)
        assert ready["type"] == "ready"
        return ws


class Visitor:
    """An anonymous website visitor speaking the public API."""

    def __init__(self, running: Running, http: aiohttp.ClientSession) -> None:
        self.running = running
        self.http = http
        self.token = ""
        self.visitor_id = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def start(self) -> None:
        async with self.http.post(self.running.url("/api/visitor/session"), json={}) as r:
            assert r.status == 201, await r.text()
            data = await r.json()
        self.token, self.visitor_id = data["token"], data["visitor_id"]

    async def open(self, **fields: Any) -> dict[str, Any]:
        async with self.http.post(
            self.running.url("/api/visitor/conversations"), json=fields, headers=self.auth
        ) as r:
            assert r.status in (200, 201), await r.text()
            return (await r.json())["conversation"]  # type: ignore[no-any-return]

    async def request(
        self, method: str, path: str, body: Any = None
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.http.request(
            method, self.running.url(path), json=body, headers=self.auth
        ) as r:
            return r.status, await r.json(), r

    async def ws(self) -> aiohttp.ClientWebSocketResponse:
        ws = await self.http.ws_connect(self.running.ws_base + "/api/visitor/ws")
        await ws.send_json({"type": "auth", "token": self.token})
        ready = await ws.receive_json(timeout=5)
        assert ready == {"type": "ready", "visitor_id": self.visitor_id}
        return ws


@pytest.fixture
async def http_sessions() -> AsyncIterator[Callable[[], aiohttp.ClientSession]]:
    sessions: list[aiohttp.ClientSession] = []

    def new() -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        return session

    yield new
    for session in sessions:
        await session.close()


@pytest.fixture
def make_agent(
    running: Running, http_sessions: Callable[[], aiohttp.ClientSession]
) -> Callable[..., Awaitable[Agent]]:
    """Create a user, log them in, and (by default) set them online."""

    async def make(
        username: str | None = None,
        *,
        role: str = "agent",
        status: str | None = "online",
        max_chats: int | None = None,
        on: Running | None = None,
    ) -> Agent:
        target = on or running
        name = username or f"agent{uuid.uuid4().hex[:6]}"
        user = await target.box.accounts.create_user(name, PASSWORD, role, max_chats=max_chats)
        agent = Agent(target, http_sessions(), user.id)
        response = await agent.login(name)
        assert response.status == 302
        if status is not None:
            await agent.post("/api/console/presence", {"status": status})
        return agent

    return make


@pytest.fixture
def make_visitor(
    running: Running, http_sessions: Callable[[], aiohttp.ClientSession]
) -> Callable[..., Awaitable[Visitor]]:
    """Create an anonymous visitor with a token."""

    async def make(on: Running | None = None) -> Visitor:
        visitor = Visitor(on or running, http_sessions())
        await visitor.start()
        return visitor

    return make


async def receive_until(
    ws: aiohttp.ClientWebSocketResponse,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float = 5.0,
) -> dict[str, Any]:
    """Read frames until one matches; fail after the timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError("no matching frame arrived")
        frame: dict[str, Any] = await ws.receive_json(timeout=left)
        if predicate(frame):
            return frame
