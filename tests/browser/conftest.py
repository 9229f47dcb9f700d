"""Fixtures for the browser tests: Debian's Chromium, a real appliance, a foreign host."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, async_playwright

from tests.conftest import no_slow_callbacks
from tests.system.processes import ApplianceProcess

CHROMIUM = "/usr/bin/chromium"  # Debian's package; never a browser Playwright downloads
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
HOST_PAGE = Path(__file__).resolve().parents[1] / "fixtures" / "host_page.html"


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    """Headless Debian Chromium driven by Playwright; closed with its driver afterwards."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def host_origin() -> AsyncIterator[str]:
    """A company's website on another origin than the box, serving the hostile host page."""

    async def page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(HOST_PAGE)

    app = web.Application()
    app.router.add_get("/host_page.html", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class Appliance:
    """`appliance run` on a fixed port, so it can be killed and restarted in place."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: ApplianceProcess | None = None
        self.env: dict[str, str] = {}  # settings for the process (CALLBOX_...), set before start

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        assert self.proc is None
        self.proc = await asyncio.to_thread(
            ApplianceProcess, self.data_dir, port=self.port, env=self.env
        )
        assert self.proc.port == self.port

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut."""
        if self.proc is not None:
            proc, self.proc = self.proc, None
            await asyncio.to_thread(proc.kill)


@pytest.fixture
async def appliance(tmp_path: Path) -> AsyncIterator[Appliance]:
    box = Appliance(tmp_path / "data")
    try:
        yield box
    finally:
        await box.kill()


@pytest.fixture(autouse=True)
async def loop_not_blocked(frozen_heap: None) -> AsyncIterator[None]:
    """The appliance runs in its own process here (its loop is not this one); this
    loop runs the host page's server, which is still checked, and the test's own steps,
    which are Playwright's client: decoding a large protocol message took 0.35 s in one
    quiet CI run. Those steps are the browser driver's, not the product's."""
    async with no_slow_callbacks(ignore=("coro=<test_",)):
        yield
