"""`relay-server run`: a start that fails at any step leaves nothing, nor does a stop.

serve() runs in this process inside a throwaway namespace (tests/network/netns.py)
with real wireguard-go and nft. Each step fails in turn (a port already taken, a bad
certificate file, no wireguard-go, or an error injected at the step's boundary);
afterwards there is no interface, no `callbox_relay` table, no wireguard-go, IPv4
forwarding is as it was, and the process holds no listener or task.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from relay_server import server, wg
from relay_server.certs import make_self_signed
from relay_server.config import RelayConfig
from relay_server.keys import generate_private_key, write_private

from tests.network.netns import Netns, listening, socket_fds

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("wireguard-go") is None,
        reason="needs root and wireguard-go",
    ),
]

_GONE_WAIT = 3.0  # s for wireguard-go to exit after its interface is deleted


class Boom(RuntimeError):
    """The injected failure."""


@dataclass
class Relay:
    ns: Netns
    config: RelayConfig
    held: list[socket.socket] = field(default_factory=list)
    forwarding: str = ""  # the namespace's IPv4 forwarding before the test

    def ip_forward(self) -> str:
        return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()

    def take(self, host: str, port: int) -> None:
        self.held.append(self.ns.take(host, port))

    def assert_nothing_left(self) -> None:
        assert self.ip_forward() == self.forwarding, "IPv4 forwarding left changed"
        assert self.ns.links() == []
        assert self.ns.tables() == []
        deadline = time.monotonic() + _GONE_WAIT
        while self.ns.wireguard_go(self.config.interface):
            assert time.monotonic() < deadline, "wireguard-go outlived its interface"
            time.sleep(0.05)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    ns = Netns("relay")
    config = RelayConfig(data_dir=tmp_path, public_host="relay.test", interface=ns.interface("r"))
    write_private(config.key_path, generate_private_key().encode())
    make_self_signed(config.public_host, config.cert_path, config.cert_key_path)
    made = Relay(ns, config)
    try:
        ns.enter()
        made.forwarding = made.ip_forward()
        yield made
    finally:
        for sock in made.held:
            sock.close()
        ns.close([config.interface])


async def _boom(*_: Any, **__: Any) -> Any:
    raise Boom("injected")


def _no_forwarding(_: str) -> str:
    raise PermissionError("injected: /proc/sys/net/ipv4/ip_forward")


def _fail_command(mp: pytest.MonkeyPatch, *words: str) -> None:
    real = wg._run

    async def run(*args: str, stdin: bytes | None = None) -> str:
        if all(w in args for w in words):
            raise wg.WireGuardError("injected")
        return await real(*args, stdin=stdin)

    mp.setattr(wg, "_run", run)


def _sync_then_boom(mp: pytest.MonkeyPatch) -> None:
    real = server.Hub.sync

    async def sync(self: server.Hub, force: bool = False) -> None:
        await real(self, force)
        raise Boom("injected after the first sync")

    mp.setattr(server.Hub, "sync", sync)


def _bad_cert(relay: Relay) -> None:
    relay.config.cert_path.write_text("-----BEGIN CERTIFICATE-----\nnot one\n")


# Each step of the start, in order, and how it is made to fail there.
STEPS: dict[str, Callable[[Relay, pytest.MonkeyPatch], None]] = {
    "no-wireguard-go": lambda _, mp: mp.setattr(wg.shutil, "which", lambda _: None),
    "configure-key": lambda _, mp: _fail_command(mp, "wg", "private-key"),
    "configure-address": lambda _, mp: _fail_command(mp, "ip", "address"),
    "forwarding": lambda _, mp: mp.setattr(server, "_set_forwarding", _no_forwarding),
    "registry-sync": lambda _, mp: _sync_then_boom(mp),
    "https-port-taken": lambda r, _: r.take("0.0.0.0", r.config.https_port),
    "http-port-taken": lambda r, _: r.take("0.0.0.0", r.config.http_port),
    "bad-certificate": lambda r, _: _bad_cert(r),
    "api-port-taken": lambda r, _: r.take("0.0.0.0", r.config.api_port),
    "tunnel-api-port-taken": lambda r, _: r.take(server.RELAY_ADDRESS, server.TUNNEL_API_PORT),
    "metrics-port-taken": lambda r, _: r.take(r.config.metrics_bind, r.config.metrics_port),
}


@pytest.mark.parametrize("step", list(STEPS))
async def test_failed_start_leaves_nothing(
    relay: Relay, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    STEPS[step](relay, monkeypatch)
    sockets, tasks = socket_fds(), asyncio.all_tasks()
    with pytest.raises(Exception):  # noqa: B017 - each step its own error
        await asyncio.wait_for(server.serve(relay.config, asyncio.Event()), 20)
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == tasks
    assert socket_fds() <= sockets
    assert listening() == sorted(s.getsockname() for s in relay.held)
    relay.assert_nothing_left()


async def test_stop_leaves_nothing(relay: Relay) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(server.serve(relay.config, stop))
    deadline = time.monotonic() + 20
    while (server.RELAY_ADDRESS, server.TUNNEL_API_PORT) not in listening():
        assert not task.done(), task.exception()
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert relay.ns.links() == [relay.config.interface]
    assert relay.ns.tables() == ["inet callbox_relay"]
    assert relay.ip_forward() == "1"
    stop.set()
    await asyncio.wait_for(task, 20)
    assert listening() == []
    relay.assert_nothing_left()
