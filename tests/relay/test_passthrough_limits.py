"""Visitor connections on loopback: they end on time, both sides, and are capped.

The relay's Passthrough runs in the test's loop in front of a fake appliance; the
timing constants are shrunk so each case takes a fraction of a second.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from relay_server import splice
from relay_server.limits import VisitorLimits, capacity, source_key
from relay_server.metrics import Metrics
from relay_server.passthrough import Passthrough
from relay_server.registry import Tenant

from tests.relay.test_wire import client_hello

HOST = "chat.acme.test"
SHORT = 0.4  # s, the timeouts under test
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class LoopbackTenant(Tenant):
    __slots__ = ()

    @property
    def appliance_address(self) -> str:
        return "127.0.0.1"


@dataclass
class Box:
    """A fake appliance: records what it got and when its side was closed."""

    server: asyncio.Server | None = None
    behaviour: Callable[[Streams], Awaitable[None]] | None = None
    ended: list[float] = field(default_factory=list)  # loop time each connection saw EOF

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)  # PROXY header and ClientHello
        writer.write(b"server hello")  # what a box answers a ClientHello with
        if self.behaviour is not None:
            await self.behaviour((reader, writer))
        while await reader.read(4096):
            pass
        self.ended.append(asyncio.get_running_loop().time())
        writer.close()


@dataclass
class Relay:
    passthrough: Passthrough
    metrics: Metrics
    limits: VisitorLimits
    port: int
    box: Box

    async def visit(self, source: str = "127.0.0.1") -> Streams:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, local_addr=(source, 0)
        )
        writer.write(client_hello(HOST))
        await writer.drain()
        return reader, writer


@pytest.fixture
async def relay(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Relay]:
    monkeypatch.setattr(splice, "HALF_CLOSE_LINGER", SHORT)
    monkeypatch.setattr(splice, "CLOSE_GRACE", SHORT)
    box = Box()
    box.server = await asyncio.start_server(box.handle, "127.0.0.1", 0)
    tenant = LoopbackTenant(1, "acme", HOST, 1, "key")
    metrics, limits = Metrics(), VisitorLimits(per_source=3, total=5)
    passthrough = Passthrough(
        lambda name: tenant if name == HOST else None,
        metrics,
        hello_timeout=SHORT,
        connect_timeout=SHORT,
        handshake_timeout=SHORT,
        idle_timeout=2 * SHORT,
        limits=limits,
        visitor_port=box.server.sockets[0].getsockname()[1],
    )
    server = await asyncio.start_server(passthrough.handle_tls, "127.0.0.1", 0)
    yield Relay(passthrough, metrics, limits, server.sockets[0].getsockname()[1], box)
    server.close()
    box.server.close()
    await server.wait_closed()
    await box.server.wait_closed()


async def _until_closed(reader: asyncio.StreamReader, timeout: float = 5.0) -> tuple[bytes, float]:
    """Read to EOF (or reset); return what came and the loop time it ended."""
    data = b""
    async with asyncio.timeout(timeout):
        try:
            while chunk := await reader.read(4096):
                data += chunk
        except ConnectionError:
            pass
    return data, asyncio.get_running_loop().time()


async def _settled(relay: Relay) -> None:
    """Wait until the relay holds no visitor connection."""
    async with asyncio.timeout(5):
        while relay.limits.open or relay.metrics.active["acme"]:
            await asyncio.sleep(0.02)


async def test_a_visitor_silent_after_its_hello_is_closed_on_both_sides(relay: Relay) -> None:
    fds = len(os.listdir("/proc/self/fd"))
    start = asyncio.get_running_loop().time()
    reader, writer = await relay.visit()
    writer.write(b"0-RTT or junk")  # behind the hello, before the box spoke: no answer
    data, ended = await _until_closed(reader)
    assert data == b"server hello"  # it was passed through, then cut
    assert SHORT - 0.05 < ended - start < SHORT + 0.5
    await _settled(relay)
    assert relay.box.ended and relay.box.ended[0] - start < SHORT + 0.5  # the box's side too
    assert relay.metrics.closed == {"handshake_timeout": 1}
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.05)
    assert len(os.listdir("/proc/self/fd")) <= fds


async def test_an_idle_connection_is_closed_after_the_idle_timeout(relay: Relay) -> None:
    reader, writer = await relay.visit()
    assert await reader.readexactly(12) == b"server hello"
    writer.write(b"client finished")  # the handshake completes, then nobody speaks
    await writer.drain()
    start = asyncio.get_running_loop().time()
    _, ended = await _until_closed(reader)
    assert 2 * SHORT - 0.05 < ended - start < 2 * SHORT + 0.5
    await _settled(relay)
    assert relay.metrics.closed == {"idle_timeout": 1}
    writer.close()


async def test_when_the_box_closes_the_visitor_side_follows_after_the_linger(relay: Relay) -> None:
    async def close_after_answer(streams: Streams) -> None:
        await streams[0].read(4096)  # the visitor's next flight
        streams[1].close()  # the box ends it (a failed handshake, a finished response)

    relay.box.behaviour = close_after_answer
    reader, writer = await relay.visit()
    assert await reader.readexactly(12) == b"server hello"
    writer.write(b"client finished")
    await writer.drain()
    data, eof_at = await _until_closed(reader)  # the box's FIN is passed on at once
    assert data == b""
    assert relay.limits.open == 1  # the visitor may still send, for HALF_CLOSE_LINGER
    await _settled(relay)
    assert asyncio.get_running_loop().time() - eof_at < SHORT + 0.5
    assert relay.metrics.closed == {"half_close_linger": 1}
    writer.close()


async def test_caps_per_source_and_in_total_refuse_and_count(relay: Relay) -> None:
    held = [await relay.visit("127.0.0.2") for _ in range(3)]
    refused = await relay.visit("127.0.0.2")  # the 4th from one source
    assert (await _until_closed(refused[0], timeout=1))[0] == b""  # closed unanswered
    held += [await relay.visit("127.0.0.3") for _ in range(2)]
    full = await relay.visit("127.0.0.4")  # a 6th in all, from a fresh source
    assert (await _until_closed(full[0], timeout=1))[0] == b""
    assert relay.metrics.refused == {"per_source_limit": 1, "relay_full": 1}
    assert relay.limits.open == 5 and relay.metrics.visitors_open == 5
    for reader, _ in held:
        assert (await reader.readexactly(12)) == b"server hello"  # these were passed
    for _, writer in [*held, refused, full]:
        writer.close()
    await _settled(relay)
    assert relay.limits.sources() == 0 and relay.metrics.visitors_open == 0
    again = await relay.visit("127.0.0.2")  # room again
    assert (await again[0].readexactly(12)) == b"server hello"
    again[1].close()
    await _settled(relay)
    text = relay.metrics.render()
    assert 'callbox_relay_refused_total{reason="per_source_limit"} 1' in text
    assert "callbox_relay_visitor_capacity 5" in text


def test_sources_and_capacity() -> None:
    assert source_key("203.0.113.7") == "203.0.113.7"
    assert source_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::9")
    assert source_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert source_key("2001:db8:1:3::1") != source_key("2001:db8:1:2::1")
    # 1,024 descriptors, 256 kept back, 24 in use: 372 visitors of two descriptors each.
    assert capacity(1024, 256, 24) == 372
    assert capacity(1024, 256, 24, max_visitors=100) == 100
    assert capacity(200, 256, 24) == 0
    assert capacity(65536, 256, 40) == 32620
