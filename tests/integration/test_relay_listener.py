"""Connections through the relay: PROXY v2 + TLS, visitor routes only, real address kept."""

from __future__ import annotations

import asyncio
import json
import ssl
import struct

import pytest
from aiohttp.test_utils import TestServer

from appliance.webui.access import is_lan
from appliance.webui.app import create_app
from appliance.webui.keys import BOX, RELAY_PEERS
from appliance.webui.relay_listener import VisitorListener, parse_proxy_header
from tests.conftest import make_settings
from tests.testca import client_context, make_ca_and_server, server_context

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v4(src: str, src_port: int, dst: str, dst_port: int) -> bytes:
    body = bytes(map(int, src.split("."))) + bytes(map(int, dst.split(".")))
    body += struct.pack("!HH", src_port, dst_port)
    return SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


async def _raw_https(port: int, ca, header: bytes, request: bytes) -> bytes:  # type: ignore[no-untyped-def]
    """Send the relay's header, then TLS with SNI chat.acme.test, then one request."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(header)
    await writer.drain()
    await writer.start_tls(client_context(ca), server_hostname="chat.acme.test")
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


@pytest.fixture
async def relayed(tmp_path):  # type: ignore[no-untyped-def]
    ca, cert, key = make_ca_and_server(tmp_path / "pki", ["chat.acme.test"])
    app = create_app(make_settings(tmp_path / "data"))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    listener = VisitorListener(
        server.runner, server_context(cert, key), "127.0.0.1", 0, app[RELAY_PEERS]
    )
    await listener.start()
    port = listener._sock.getsockname()[1]  # type: ignore[union-attr]
    yield app, port, ca
    await listener.stop()
    await server.close()


async def test_relayed_visitor_keeps_the_real_address_and_sees_only_visitor_routes(relayed):
    app, port, ca = relayed
    header = proxy_v4("203.0.113.9", 40000, "198.51.100.1", 443)
    raw = await _raw_https(
        port,
        ca,
        header,
        b"POST /api/visitor/session HTTP/1.1\r\nHost: chat.acme.test\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    assert raw.startswith(b"HTTP/1.1 201")
    token = json.loads(raw.partition(b"\r\n\r\n")[2])["token"]
    body = b'{"name": "relayed"}'
    raw = await _raw_https(
        port,
        ca,
        header,
        b"POST /api/visitor/conversations HTTP/1.1\r\nHost: chat.acme.test\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body,
    )
    assert raw.startswith(b"HTTP/1.1 201"), raw[:200]
    conv_id = json.loads(raw.partition(b"\r\n\r\n")[2])["conversation"]["id"]
    conv = await app[BOX].chats.get(conv_id)
    assert conv.visitor_ip == "203.0.113.9"
    for path in (b"/console", b"/login", b"/admin", b"/api/console/me"):
        raw = await _raw_https(
            port,
            ca,
            header,
            b"GET " + path + b" HTTP/1.1\r\nHost: chat.acme.test\r\nConnection: close\r\n\r\n",
        )
        assert raw.startswith(b"HTTP/1.1 404"), (path, raw[:100])


async def test_the_customer_portal_passes_through_the_relay_and_nothing_else_of_the_box(
    relayed,
):
    _, port, ca = relayed
    header = proxy_v4("203.0.113.10", 40001, "198.51.100.1", 443)

    async def get(path: bytes) -> bytes:
        request = b"GET " + path + b" HTTP/1.1\r\nHost: chat.acme.test\r\nConnection: close\r\n\r\n"
        return await _raw_https(port, ca, header, request)

    raw = await get(b"/portal")
    assert raw.startswith(b"HTTP/1.1 200"), raw[:200]
    head = raw.partition(b"\r\n\r\n")[0].decode()
    # The anonymous form's CSRF cookie is Secure here: TLS ends on the box.
    assert "Secure" in next(h for h in head.split("\r\n") if h.startswith("Set-Cookie"))
    css = raw.partition(b"portal.css")[0].rpartition(b'href="')[2] + b"portal.css"
    assert (await get(css)).startswith(b"HTTP/1.1 200")
    for path in (b"/static/console.css", css.replace(b"portal.css", b"console.js"), b"/portals"):
        assert (await get(path)).startswith(b"HTTP/1.1 404"), path
    assert (await get(b"/portal/tickets/1")).startswith(b"HTTP/1.1 302")  # to the sign-in


async def test_connections_without_proxy_header_or_tls_are_dropped(relayed):
    _, port, ca = relayed
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    try:
        answer = await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        answer = b""  # closed with our bytes unread: a reset, still no answer
    assert answer == b""
    writer.close()
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
        await _raw_https(port, ca, b"", b"GET / HTTP/1.1\r\n\r\n")


def test_proxy_header_parsing():
    assert parse_proxy_header(proxy_v4("203.0.113.9", 1, "198.51.100.1", 443)) == "203.0.113.9"
    assert parse_proxy_header(SIGNATURE + bytes([0x20, 0, 0, 0])) is None


@pytest.mark.parametrize(
    ("address", "lan"),
    [
        ("127.0.0.1", True),
        ("10.0.1.3", True),
        ("192.168.1.20", True),
        ("172.16.5.5", True),
        ("fd00::5", True),
        ("fe80::1", True),
        ("::ffff:10.1.1.1", True),
        ("100.64.1.2", False),
        ("203.0.113.9", False),
        ("8.8.8.8", False),
        ("junk", False),
    ],
)
def test_lan_addresses(address, lan):
    assert is_lan(address) is lan


async def test_acme_answers_and_certificate_reload(tmp_path, http_sessions):
    from appliance.relay.tls import import_visitor_certificate
    from appliance.webui.relay_listener import CertificateReloader, acme_app

    data = tmp_path / "data"
    token = "A" * 43
    (data / "acme-challenges").mkdir(parents=True)
    (data / "acme-challenges" / token).write_text(token + ".thumbprint")
    server = TestServer(acme_app(data), host="127.0.0.1")
    await server.start_server()
    try:
        http = http_sessions()
        async with http.get(server.make_url(f"/.well-known/acme-challenge/{token}")) as r:
            assert r.status == 200 and await r.text() == token + ".thumbprint"
        for bad in ("B" * 43, "..%2F..%2Fsecret.key", "short"):
            async with http.get(server.make_url(f"/.well-known/acme-challenge/{bad}")) as r:
                assert r.status == 404
        async with http.get(server.make_url("/console")) as r:
            assert r.status == 404
    finally:
        await server.close()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    reloader = CertificateReloader(context, data)
    assert reloader.reload() is False  # nothing to load yet
    ca, cert, key = make_ca_and_server(tmp_path / "pki", ["chat.acme.test"])
    import_visitor_certificate(data, cert.read_bytes(), key.read_bytes(), "chat.acme.test")
    assert reloader.reload() is True
    listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=context)
    port = listener.sockets[0].getsockname()[1]
    try:
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(ca), server_hostname="chat.acme.test"
        )
        writer.close()
    finally:
        listener.close()
        await listener.wait_closed()
