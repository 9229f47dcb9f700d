"""`relay-server run` under a service manager: READY=1 once every listener is up,
WATCHDOG=1 from the loop, STOPPING=1 at a stop (systemd/callbox-relay.service).

serve() runs in this process inside a throwaway namespace with real wireguard-go and
nft, as in test_server_startup.py; the test plays systemd with a datagram socket.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_server import server
from relay_server.certs import make_self_signed
from relay_server.config import RelayConfig
from relay_server.keys import generate_private_key, write_private

from tests.network.netns import Netns, listening

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("wireguard-go") is None,
        reason="needs root and wireguard-go",
    ),
]

_WAIT = 20.0  # s for one notification


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayConfig]:
    ns = Netns("notify")
    config = RelayConfig(data_dir=tmp_path, public_host="relay.test", interface=ns.interface("n"))
    write_private(config.key_path, generate_private_key().encode())
    make_self_signed(config.public_host, config.cert_path, config.cert_key_path)
    try:
        ns.enter()
        yield config
    finally:
        ns.close([config.interface])


def _next(sock: socket.socket) -> str:
    sock.settimeout(_WAIT)
    return sock.recv(4096).decode()


async def test_ready_watchdog_stopping(
    relay: RelayConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        monkeypatch.setenv("WATCHDOG_USEC", "400000")
        stop = asyncio.Event()
        task = asyncio.create_task(server.serve(relay, stop))
        try:
            ready = await asyncio.to_thread(_next, sock)
            assert ready.startswith("READY=1\nSTATUS=") and "visitor connections" in ready
            # Ready means every listener is up.
            bound = {port for _, port in listening()}
            assert {relay.https_port, relay.http_port, relay.api_port, relay.metrics_port} <= bound
            assert "NOTIFY_SOCKET" not in os.environ  # wg, nft, wireguard-go never see it
            ticks = [await asyncio.to_thread(_next, sock) for _ in range(3)]
            assert ticks == ["WATCHDOG=1"] * 3
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
        rest: list[str] = []
        while not rest or rest[-1] == "WATCHDOG=1":
            rest.append(await asyncio.to_thread(_next, sock))
        assert rest[-1] == "STOPPING=1\nSTATUS=stopping"
