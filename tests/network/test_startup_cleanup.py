"""`appliance run` of an enrolled box: a start that fails at any step leaves nothing.

serve() runs in this process inside a throwaway namespace (tests/network/netns.py)
with a real tunnel (wireguard-go, nft). Each step of the start fails in turn, by a
real cause (a port already taken, a bad certificate file, no wireguard-go) or by an
error injected at the step's boundary, and afterwards the namespace holds no
WireGuard interface, no nft table and no wireguard-go made by that start, and the
process no listener, task or thread (the suite's autouse fixture checks threads and
child processes). A normal stop keeps the interface and its table on purpose
(staff are not dropped across a restart); a failed start leaves one that was there
before it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from appliance.cli import serve
from appliance.core.accounts import Accounts
from appliance.core.box import write_private
from appliance.core.invitations import Invitations
from appliance.discovery import ConsoleAdvertiser
from appliance.relay import state as relay_state
from appliance.relay import wireguard
from appliance.relay.firewall import TABLE_PREFIX
from appliance.relay.tls import CONSOLE_CERT, TLS_DIR
from appliance.settings import Settings
from tests.conftest import make_settings
from tests.network.netns import Netns, listening, socket_fds

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("wireguard-go") is None,
        reason="needs root and wireguard-go",
    ),
]

BOX = "100.64.1.1"
CONSOLE_PORT = 8080
_GONE_WAIT = 3.0  # s for wireguard-go to exit after its interface is deleted


class Boom(RuntimeError):
    """The injected failure."""


class Box:
    """An enrolled box's data dir and settings, in its own namespace."""

    def __init__(self, ns: Netns, data: Path) -> None:
        self.ns = ns
        self.iface = ns.interface("a")
        self.table = f"inet {TABLE_PREFIX}{self.iface}"
        key = wireguard.generate_private_key()
        data.mkdir(mode=0o700)
        relay_state.save(
            data,
            relay_state.RelayState(
                tenant="acme",
                hostname="chat.acme.test",
                network="100.64.1.0/24",
                address=BOX,
                overlay="100.64.0.0/10",
                relay_address="100.64.0.1",
                relay_public_key=wireguard.public_key(wireguard.generate_private_key()),
                endpoint="192.0.2.1:51820",  # TEST-NET-1: never answers, never asked
                tunnel_api="http://100.64.0.1:8081",
            ),
        )
        write_private(data / relay_state.KEY_FILE, key.encode())
        self.settings: Settings = make_settings(
            data, host="127.0.0.1", port=CONSOLE_PORT, tunnel_interface=self.iface
        )
        self.held: list[socket.socket] = []

    def take(self, host: str, port: int) -> None:
        """Occupy a port the box is going to need."""
        self.held.append(self.ns.take(host, port))

    def wireguard_go_gone(self) -> bool:
        deadline = time.monotonic() + _GONE_WAIT
        while self.ns.wireguard_go(self.iface):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def assert_nothing_left(self) -> None:
        assert self.ns.links() == []
        assert self.ns.tables() == []
        assert self.wireguard_go_gone()


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    ns = Netns("start")
    made = Box(ns, tmp_path / "data")
    try:
        ns.enter()
        yield made
    finally:
        for sock in made.held:
            sock.close()
        ns.close([made.iface])


async def _serve_fails(box: Box, settings: Settings | None = None) -> BaseException:
    """Run serve() to its failure; check the process holds nothing it opened."""
    sockets, tasks = socket_fds(), asyncio.all_tasks()
    with pytest.raises(Exception) as failure:
        await asyncio.wait_for(serve(settings or box.settings), 20)
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == tasks
    assert socket_fds() <= sockets
    assert listening() == sorted(s.getsockname() for s in box.held)
    return failure.value


async def _start(box: Box, settings: Settings | None = None) -> tuple[asyncio.Task[None], Any]:
    """Start serve() and wait until it is up; return the task and its stop event."""
    stop = asyncio.Event()
    up = asyncio.Event()
    task = asyncio.create_task(serve(settings or box.settings, ready=lambda _: up.set(), stop=stop))
    waiter = asyncio.create_task(up.wait())
    await asyncio.wait({task, waiter}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    assert up.is_set(), task.exception() if task.done() else "not up in time"
    return task, stop


def _boom_after(original: Callable[..., Any]) -> Callable[..., Any]:
    async def step(*args: Any, **kwargs: Any) -> Any:
        await original(*args, **kwargs)
        raise Boom("injected after the step")

    return step


async def _boom(*_: Any, **__: Any) -> Any:
    raise Boom("injected")


def _bad_console_cert(box: Box) -> None:
    folder = box.settings.data_dir / TLS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONSOLE_CERT).write_text("-----BEGIN CERTIFICATE-----\nnot one\n")


# Each step of the start, in order, and how it is made to fail there.
STEPS: dict[str, Callable[[Box, pytest.MonkeyPatch], None]] = {
    "box-open": lambda _, mp: mp.setattr(Invitations, "open", _boom_after(Invitations.open)),
    "setup-token": lambda _, mp: mp.setattr(Accounts, "has_admin", _boom),
    "hub-presence": lambda _, mp: mp.setattr(Accounts, "online_user_ids", _boom),
    "mdns": lambda _, mp: mp.setattr(
        ConsoleAdvertiser, "async_start", _boom_after(ConsoleAdvertiser.async_start)
    ),
    "console-port-taken": lambda box, _: box.take("127.0.0.1", CONSOLE_PORT),
    "visitor-port-taken": lambda box, _: box.take(BOX, box.settings.visitor_port),
    "bad-console-certificate": lambda box, _: _bad_console_cert(box),
    "console-tls-port-taken": lambda box, _: box.take(BOX, box.settings.console_tls_port),
    "acme-port-taken": lambda box, _: box.take(BOX, box.settings.acme_port),
}


@pytest.mark.parametrize("step", list(STEPS))
async def test_failed_start_leaves_nothing(
    box: Box, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    STEPS[step](box, monkeypatch)
    settings = box.settings
    if step == "mdns":
        settings = replace(settings, mdns=True)
    await _serve_fails(box, settings)
    box.assert_nothing_left()


# Each command of Tunnel.up() after the firewall (the tunnel failing does not stop
# the box: it serves the LAN and says why on the admin page).
TUNNEL_COMMANDS = ["wireguard-go", "private-key", "address", "link up", "route", "peer"]


@pytest.mark.parametrize("command", TUNNEL_COMMANDS)
async def test_failed_tunnel_leaves_nothing(
    box: Box, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if command == "wireguard-go":
        monkeypatch.setattr(wireguard.shutil, "which", lambda _: None)
    else:
        words = {
            "private-key": ("wg", "private-key"),
            "address": ("ip", "address"),
            "link up": ("ip", "up"),
            "route": ("ip", "route"),
            "peer": ("wg", "peer"),
        }[command]
        real = wireguard.run

        async def run(*args: str, stdin: bytes | None = None) -> str:
            if args[0] == words[0] and words[1] in args:
                raise wireguard.WireGuardError("injected")
            return await real(*args, stdin=stdin)

        monkeypatch.setattr(wireguard, "run", run)
    task, stop = await _start(box)
    box.assert_nothing_left()
    stop.set()
    await task
    box.assert_nothing_left()
    assert listening() == []


async def test_stop_keeps_interface_and_a_failed_start_keeps_what_was_there(box: Box) -> None:
    task, stop = await _start(box)
    assert box.ns.links() == [box.iface]
    stop.set()
    await task
    # Deliberate: staff are not dropped across a restart.
    assert box.ns.links() == [box.iface]
    assert box.ns.tables() == [box.table]
    assert listening() == []
    box.take("127.0.0.1", CONSOLE_PORT)
    await _serve_fails(box)
    assert box.ns.links() == [box.iface]
    assert box.ns.tables() == [box.table]
    assert box.ns.wireguard_go(box.iface)


async def test_stop_during_start_leaves_nothing(box: Box) -> None:
    stop = asyncio.Event()
    stop.set()
    await asyncio.wait_for(serve(box.settings, stop=stop), 20)
    box.assert_nothing_left()
    assert listening() == []
