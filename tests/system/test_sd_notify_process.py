"""`appliance run` under a service manager: READY=1 once serving, WATCHDOG=1 from the
loop while it runs, STOPPING=1 at a stop, as systemd's Type=notify and WatchdogSec
expect (systemd/callbox-appliance.service). The test plays systemd: a datagram
socket, its path in NOTIFY_SOCKET."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp

from tests.system.processes import ApplianceProcess

_WATCHDOG_USEC = 400_000  # µs: a tick every 0.2 s
_WAIT = 10.0  # s for one notification


def _next(sock: socket.socket) -> list[str]:
    sock.settimeout(_WAIT)
    return sock.recv(4096).decode().split("\n")


def _drain(sock: socket.socket) -> list[str]:
    """Return what is queued, and what comes within half a second more."""
    sock.settimeout(0.5)
    got = []
    while True:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            return got


async def test_ready_then_watchdog_ticks_then_stopping(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(_WATCHDOG_USEC)}
        box = await asyncio.to_thread(ApplianceProcess, tmp_path / "data", env=env)
        try:
            ready = await asyncio.to_thread(_next, sock)
            assert ready == ["READY=1", f"STATUS=console on port {box.port}"]
            # READY=1 means serving: the console answers now.
            async with aiohttp.ClientSession() as http, http.get(box.url("/login")) as r:
                assert r.status == 200
            started = time.monotonic()
            ticks = [await asyncio.to_thread(_next, sock) for _ in range(5)]
            assert ticks == [["WATCHDOG=1"]] * 5
            # Five ticks at half the timeout each: about 0.8 s, never a burst.
            assert time.monotonic() - started >= 3 * _WATCHDOG_USEC / 2_000_000
            assert await asyncio.to_thread(box.stop) == 0
            rest = await asyncio.to_thread(_drain, sock)
            assert "STOPPING=1\nSTATUS=stopping" in rest
            assert rest[-1] == "STOPPING=1\nSTATUS=stopping"  # no tick after it
        finally:
            await asyncio.to_thread(box.kill)


async def test_without_notify_socket_it_runs_as_before(tmp_path: Path) -> None:
    box = await asyncio.to_thread(ApplianceProcess, tmp_path / "data")
    try:
        async with aiohttp.ClientSession() as http, http.get(box.url("/login")) as r:
            assert r.status == 200
        assert await asyncio.to_thread(box.stop) == 0
        assert "cannot notify" not in "".join(box.output)
    finally:
        await asyncio.to_thread(box.kill)
