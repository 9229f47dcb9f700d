"""The plain-HTTP console port refuses overlay addresses, with or without nftables.

An enrolled box serves its console in clear on the LAN port and over TLS to its staff
on the overlay. The relay carries staff traffic and can forge any overlay source, so
only the TLS port may answer overlay addresses. Loopback cannot carry 100.64.x.x
sources, so a test middleware in front of the access check sets the peer address
from a header; everything else is the real app, served on a plain and a TLS socket
of one runner, as `appliance run` does (tests/network/test_box_firewall.py does it
with real tunnel addresses).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from appliance.core.devices import DAY_MS
from appliance.webui.access import Handler
from appliance.webui.app import create_app
from appliance.webui.keys import BOX, STAFF_GUARD, STAFF_NETWORK
from tests.conftest import make_settings
from tests.testca import make_ca_and_server, server_context

STAFF = "100.64.1.2"  # a staff device of this box's tenant
RELAY = "100.64.0.1"
LAN = "10.0.1.3"
_SOURCE = "X-Test-Source"


@web.middleware
async def _source(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request the peer address the test names (loopback has no overlay)."""
    source = request.headers.get(_SOURCE)
    return await handler(request.clone(remote=source) if source else request)


@dataclass
class Box:
    plain: str  # http://127.0.0.1:port, the LAN console port
    tls: str  # https://127.0.0.1:port, the console's TLS port (the overlay's)
    http: aiohttp.ClientSession
    app: web.Application

    async def status(self, base: str, path: str, source: str, method: str = "GET") -> int:
        async with self.http.request(
            method, base + path, headers={_SOURCE: source}, ssl=False, allow_redirects=False
        ) as response:
            await response.read()
            return response.status


async def _serve(tmp_path: Path, enrolled: bool) -> AsyncIterator[Box]:
    app = create_app(make_settings(tmp_path / "data"))
    app.middlewares.insert(0, _source)
    if enrolled:  # what an enrolled box knows (without bringing a tunnel up here)
        app[STAFF_NETWORK][0] = ipaddress.IPv4Network("100.64.1.0/24")
    _, cert, key = make_ca_and_server(tmp_path / "pki", ["box.test"])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    assert server.runner is not None
    if enrolled:  # STAFF is a device of this box, valid for 90 days
        devices = app[BOX].devices
        await devices.add("li", "key", STAFF, expires_at=devices.clock() + 90 * DAY_MS)
    sock = socket.create_server(("127.0.0.1", 0))
    site = web.SockSite(server.runner, sock, ssl_context=server_context(cert, key))
    await site.start()
    http = aiohttp.ClientSession()
    try:
        yield Box(
            f"http://127.0.0.1:{server.port}",
            f"https://127.0.0.1:{sock.getsockname()[1]}",
            http,
            app,
        )
    finally:
        await http.close()
        await server.close()


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    async for served in _serve(tmp_path, enrolled=True):
        yield served


@pytest.fixture
async def unenrolled(tmp_path: Path) -> AsyncIterator[Box]:
    async for served in _serve(tmp_path, enrolled=False):
        yield served


@pytest.mark.parametrize("source", [STAFF, RELAY, "100.64.9.9", f"::ffff:{STAFF}"])
@pytest.mark.parametrize("path", ["/login", "/console", "/api/console/me", "/widget.js", "/"])
async def test_the_plain_http_port_refuses_overlay_sources(
    box: Box, source: str, path: str
) -> None:
    assert await box.status(box.plain, path, source) == 403


async def test_not_even_the_visitor_api_in_clear_from_the_overlay(box: Box) -> None:
    assert await box.status(box.plain, "/api/visitor/session", STAFF, "POST") == 403
    async with box.http.get(box.plain + "/api/console/me", headers={_SOURCE: STAFF}) as r:
        assert (await r.json())["error"]["code"] == "forbidden"


async def test_staff_get_the_console_over_tls_and_the_lan_in_clear(box: Box) -> None:
    assert await box.status(box.tls, "/login", STAFF) == 200
    assert await box.status(box.tls, "/admin", STAFF) == 403  # LAN only by default
    assert await box.status(box.tls, "/login", RELAY) == 403  # the relay is no staff
    assert await box.status(box.plain, "/login", LAN) == 200
    assert await box.status(box.plain, "/login", "127.0.0.1") == 200
    assert await box.status(box.plain, "/widget.js", "203.0.113.9") == 200  # visitor surface


async def test_a_box_without_a_relay_keeps_its_visitor_surface_for_any_address(
    unenrolled: Box,
) -> None:
    # No overlay without enrolment: 100.64.0.0/10 is just another non-LAN range then.
    assert await unenrolled.status(unenrolled.plain, "/widget.js", STAFF) == 200
    assert await unenrolled.status(unenrolled.plain, "/login", STAFF) == 403


async def test_the_box_itself_refuses_a_device_that_expired_or_was_revoked(box: Box) -> None:
    """The relay drops such a device; the box does not count on it (nor on its clock)."""
    devices = box.app[BOX].devices
    start = devices.clock()
    assert await box.status(box.tls, "/login", STAFF) == 200
    assert await box.status(box.tls, "/login", "100.64.1.9") == 403  # no device there
    async with box.http.get(
        box.tls + "/api/console/me", headers={_SOURCE: "100.64.1.9"}, ssl=False
    ) as r:
        assert r.status == 403 and (await r.json())["error"]["code"] == "device_refused"

    devices.clock = lambda: start + 91 * DAY_MS  # the device has expired
    assert await box.status(box.tls, "/login", STAFF) == 403
    assert await box.status(box.tls, "/api/console/me", STAFF) == 403
    await devices.renew("li", start + 200 * DAY_MS)
    await box.app[STAFF_GUARD].refresh()
    assert await box.status(box.tls, "/login", STAFF) == 200  # renewed: in again

    await devices.revoke("li")
    await box.app[STAFF_GUARD].refresh()
    assert await box.status(box.tls, "/login", STAFF) == 403
    assert await box.status(box.plain, "/login", LAN) == 200  # the LAN is not affected
