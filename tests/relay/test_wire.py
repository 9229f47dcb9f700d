"""Relay wire formats: SNI from real OpenSSL ClientHellos, PROXY v2 headers."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from relay_server import proxy_protocol
from relay_server.sni import (
    MAX_CLIENT_HELLO,
    ClientHelloError,
    handshake_length,
    read_client_hello,
    server_name,
)


def client_hello(hostname: str | None) -> bytes:
    """Return the exact bytes OpenSSL sends first for a TLS client."""
    context = ssl.create_default_context()
    if hostname is None:
        context.check_hostname = False
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=hostname)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def reframe(records: bytes, sizes: list[int]) -> bytes:
    """Split a one-record ClientHello into several records of the given sizes."""
    payload = records[5:]
    out = b""
    for size in [*sizes, len(payload)]:
        piece, payload = payload[:size], payload[size:]
        if piece:
            out += b"\x16\x03\x01" + len(piece).to_bytes(2, "big") + piece
    return out


def test_server_name_from_real_client_hello():
    hello = client_hello("Chat.Example.CN")
    assert handshake_length(hello) == len(hello)
    assert server_name(hello) == "chat.example.cn"


def test_client_hello_split_over_records_and_partial_buffers():
    hello = reframe(client_hello("kefu.shop.cn"), [7, 100])
    for cut in range(len(hello)):
        assert handshake_length(hello[:cut]) is None
    assert handshake_length(hello + b"extra") == len(hello)
    assert server_name(hello) == "kefu.shop.cn"


def test_no_sni_and_garbage_are_refused():
    assert server_name(client_hello(None)) is None
    for junk in (b"GET / HTTP/1.1\r\n\r\n", b"\x16\x02\x00\x00\x05hello", b"\x16\x03\x01\x00\x00"):
        with pytest.raises(ClientHelloError):
            handshake_length(junk)
    huge = b"\x16\x03\x01\x40\x00\x01" + (MAX_CLIENT_HELLO + 10).to_bytes(3, "big")
    with pytest.raises(ClientHelloError):
        handshake_length(huge)


async def _read(data: bytes, *, eof: bool = True, timeout: float = 1.0):  # type: ignore[no-untyped-def]
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    async with asyncio.timeout(timeout):
        return await read_client_hello(reader)


async def test_read_client_hello_bounds_time_and_size():
    hello = client_hello("a.example.cn")
    data, name = await _read(hello + b"rest", eof=False)
    assert name == "a.example.cn" and data.startswith(hello)
    with pytest.raises(TimeoutError):
        await _read(hello[:20], eof=False, timeout=0.2)
    with pytest.raises(ClientHelloError):
        await _read(hello[:20])
    with pytest.raises(ClientHelloError):
        await _read(client_hello(None))


@pytest.mark.parametrize(
    ("source", "destination"),
    [
        (("203.0.113.7", 51234), ("100.64.1.1", 443)),
        (("2001:db8::7", 4000), ("2001:db8::1", 443)),
    ],
)
def test_proxy_v2_round_trip(source, destination):
    header = proxy_protocol.encode(source, destination)
    assert header.startswith(proxy_protocol.SIGNATURE)
    assert proxy_protocol.header_length(header[:16]) == len(header)
    assert proxy_protocol.decode(header) == (source, destination)


def test_proxy_v2_mixed_families_map_to_ipv6():
    header = proxy_protocol.encode(("198.51.100.9", 1), ("2001:db8::1", 443))
    (src, _), _ = proxy_protocol.decode(header)
    assert src == "::ffff:c633:6409"


def test_proxy_v2_rejects_junk_and_accepts_local():
    with pytest.raises(proxy_protocol.ProxyHeaderError):
        proxy_protocol.header_length(b"PROXY TCP4 1.2.3.4")
    local = proxy_protocol.SIGNATURE + bytes([0x20, 0x00, 0x00, 0x00])
    assert proxy_protocol.decode(local) is None
    bad = proxy_protocol.SIGNATURE + bytes([0x21, 0x11, 0x00, 0x02, 1, 2])
    with pytest.raises(proxy_protocol.ProxyHeaderError):
        proxy_protocol.decode(bad)


async def test_handlers_survive_garbage_collection_after_the_visitor_resets():
    """A visitor that resets mid-splice must not leave a handler for the GC to destroy."""
    import gc
    import socket
    import struct

    from relay_server.limits import VisitorLimits
    from relay_server.metrics import Metrics
    from relay_server.passthrough import Passthrough
    from relay_server.registry import Tenant

    async def slow_appliance(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1.0)  # answers late: the relay is waiting on this side
        writer.close()

    upstream = await asyncio.start_server(slow_appliance, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]

    class LoopbackTenant(Tenant):
        __slots__ = ()

        @property
        def appliance_address(self) -> str:
            return "127.0.0.1"

    tenant = LoopbackTenant(1, "acme", "chat.acme.test", 1, "key")
    passthrough = Passthrough(
        lambda name: tenant if name == "chat.acme.test" else None,
        Metrics(),
        hello_timeout=2,
        connect_timeout=2,
        handshake_timeout=5,
        idle_timeout=5,
        limits=VisitorLimits(per_source=100, total=100),
        visitor_port=port,
    )
    relay = await asyncio.start_server(passthrough.handle_tls, "127.0.0.1", 0)
    relay_port = relay.sockets[0].getsockname()[1]
    destroyed: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, ctx: destroyed.append(ctx["message"]))
    # Collect only what this test makes: a full collection of everything the suite has
    # built stopped the loop 0.31 s on a busy machine (and failed the blocked-loop guard).
    gc.freeze()
    try:
        for _ in range(10):
            _, writer = await asyncio.open_connection("127.0.0.1", relay_port)
            writer.write(client_hello("chat.acme.test"))
            await writer.drain()
            await asyncio.sleep(0.02)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()  # a reset, not a goodbye
        await asyncio.sleep(0.2)
        gc.collect()
        await asyncio.sleep(1.2)
        gc.collect()
    finally:
        gc.unfreeze()
        loop.set_exception_handler(None)
        relay.close()
        upstream.close()
        await relay.wait_closed()
        await upstream.wait_closed()
    assert not [m for m in destroyed if "destroyed" in m], destroyed
