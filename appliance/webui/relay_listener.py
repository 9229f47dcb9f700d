"""Listeners on the box's overlay address, for traffic that comes through the relay.

Visitors: each connection starts with a PROXY v2 header (the relay's note of the
visitor's address), then TLS that ends here, with the box's own certificate. The
header is read with exact-length reads so not one TLS byte is consumed, then the
socket is handed to the app's protocol with TLS on top. The protocol instance is
remembered with the visitor's address: the access middleware reads it from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from appliance.relay.acme_order import challenge_path
from appliance.relay.tls import TLS_DIR, VISITOR_CERT, VISITOR_KEY

_LOGGER = logging.getLogger(__name__)

_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_HEADER_TIMEOUT = 10.0  # s for the relay's PROXY header
_TLS_HANDSHAKE_TIMEOUT = 10.0  # s
_MAX_HEADER = 16 + 216  # bytes: the largest address block PROXY v2 defines
_CERT_CHECK = 5.0  # s between looks at the visitor certificate file (a stat)


class RelayPeers:
    """Which server protocols carry relayed visitors, and the visitor's address.

    aiohttp's protocol objects take no weak references, so entries of closed
    connections (transport gone) are pruned as the map grows.
    """

    _PRUNE_EVERY = 256  # insertions between prunes

    def __init__(self) -> None:
        self._peers: dict[object, str] = {}
        self._inserts = 0

    def add(self, protocol: object, address: str) -> None:
        """Remember the visitor address of a relayed connection."""
        self._inserts += 1
        if self._inserts % self._PRUNE_EVERY == 0:
            self._peers = {
                p: a for p, a in self._peers.items() if getattr(p, "transport", None) is not None
            }
        self._peers[protocol] = address

    def get(self, protocol: object) -> str | None:
        """Return the visitor address, or None for a connection not from the relay."""
        return self._peers.get(protocol)


class ProxyHeaderError(ValueError):
    """The connection did not start with a PROXY v2 header."""


def parse_proxy_header(header: bytes) -> str | None:
    """Return the source address of a whole PROXY v2 header (None for LOCAL)."""
    if header[:12] != _SIGNATURE or header[12] >> 4 != 2:
        raise ProxyHeaderError("missing PROXY v2 header")
    command, family = header[12] & 0x0F, header[13]
    if command == 0:
        return None
    body = header[16:]
    if family == 0x11 and len(body) >= 12:
        return str(ipaddress.IPv4Address(body[:4]))
    if family == 0x21 and len(body) >= 36:
        return str(ipaddress.IPv6Address(body[:16]))
    raise ProxyHeaderError("unsupported PROXY address family")


async def _recv_exact(loop: asyncio.AbstractEventLoop, sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = await loop.sock_recv(sock, n - len(data))
        if not chunk:
            raise ProxyHeaderError("closed before the PROXY header ended")
        data += chunk
    return data


class VisitorListener:
    """Accept PROXY v2 + TLS connections and serve them with an aiohttp runner."""

    def __init__(
        self,
        runner: web.AppRunner,
        context: ssl.SSLContext,
        host: str,
        port: int,
        peers: RelayPeers,
    ) -> None:
        self._runner = runner
        self._context = context
        self._address = (host, port)
        self._peers = peers
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._handshakes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and start accepting."""
        self._sock = socket.create_server(self._address, backlog=1024)
        self._sock.setblocking(False)
        self._task = asyncio.get_running_loop().create_task(self._accept(), name="visitor-tls")

    async def stop(self) -> None:
        """Stop accepting; open connections end with the app's shutdown."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._handshakes):
            task.cancel()
        await asyncio.gather(*self._handshakes, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def _accept(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(self._sock)
            conn.setblocking(False)
            task = loop.create_task(self._serve(conn))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _serve(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(_HEADER_TIMEOUT):
                prefix = await _recv_exact(loop, conn, 16)
                if prefix[:12] != _SIGNATURE:
                    raise ProxyHeaderError("missing PROXY v2 header")
                length = struct.unpack("!H", prefix[14:16])[0]
                if 16 + length > _MAX_HEADER:
                    raise ProxyHeaderError("PROXY header too long")
                header = prefix + await _recv_exact(loop, conn, length)
            source = parse_proxy_header(header)
        except (ProxyHeaderError, TimeoutError, OSError):
            conn.close()
            return
        server = self._runner.server
        assert server is not None
        protocol = server()
        self._peers.add(protocol, source or "")
        try:
            await loop.connect_accepted_socket(
                lambda: protocol,
                conn,
                ssl=self._context,
                ssl_handshake_timeout=_TLS_HANDSHAKE_TIMEOUT,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
            conn.close()


def acme_app(data_dir: Path) -> web.Application:
    """Return the plain-HTTP app on the overlay's port 80: ACME HTTP-01 answers only."""

    async def challenge(request: web.Request) -> web.Response:
        path = challenge_path(data_dir, request.match_info["token"])
        if path is None or not path.is_file():
            raise web.HTTPNotFound()
        answer = await asyncio.to_thread(path.read_bytes)
        return web.Response(body=answer, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/.well-known/acme-challenge/{token}", challenge)
    return app


class CertificateReloader:
    """Load the visitor certificate into a live TLS context whenever its file changes.

    New handshakes use the new certificate; open connections keep theirs. So an
    imported or ACME-renewed certificate needs no restart.
    """

    def __init__(self, context: ssl.SSLContext, data_dir: Path) -> None:
        self._context = context
        self._data_dir = data_dir
        self._stamp: float | None = None
        self._task: asyncio.Task[None] | None = None

    def reload(self) -> bool:
        """Load the certificate if it changed; tell whether one is loaded now."""
        folder = self._data_dir / TLS_DIR
        try:
            stamp = (folder / VISITOR_CERT).stat().st_mtime
        except FileNotFoundError:
            return self._stamp is not None
        if stamp != self._stamp:
            try:
                self._context.load_cert_chain(folder / VISITOR_CERT, folder / VISITOR_KEY)
            except (OSError, ssl.SSLError) as err:
                _LOGGER.warning("visitor certificate not loaded: %s", err)
                return self._stamp is not None
            self._stamp = stamp
            _LOGGER.info("visitor certificate loaded")
        return True

    async def watch(self) -> None:
        """Check the certificate file every _CERT_CHECK seconds."""
        while True:
            await asyncio.sleep(_CERT_CHECK)
            await asyncio.to_thread(self.reload)

    def start(self) -> None:
        """Start watching in the background."""
        self._task = asyncio.get_running_loop().create_task(self.watch(), name="cert-reload")

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@contextlib.asynccontextmanager
async def relay_sites(runner: web.AppRunner, app: web.Application) -> AsyncIterator[None]:
    """Serve visitors, console TLS and ACME on the overlay address while the block runs.

    Each listener closes with the block, in reverse order; a failure while opening
    one closes those already open.
    """
    from appliance.relay.tls import console_context
    from appliance.webui.keys import RELAY_PEERS, SETTINGS, TUNNEL

    settings = app[SETTINGS]
    tunnel = app[TUNNEL][0]
    if tunnel is None or tunnel.status.state != "up":
        yield
        return
    address = tunnel.relay.address
    async with contextlib.AsyncExitStack() as stack:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        reloader = CertificateReloader(context, settings.data_dir)
        if not await asyncio.to_thread(reloader.reload):
            _LOGGER.warning(
                "no certificate for %s yet: visitors cannot connect until "
                "`appliance cert import` or `appliance cert acme`",
                tunnel.relay.hostname,
            )
        stack.push_async_callback(reloader.stop)
        reloader.start()
        listener = VisitorListener(
            runner, context, address, settings.visitor_port, app[RELAY_PEERS]
        )
        stack.push_async_callback(listener.stop)
        await listener.start()
        console = await asyncio.to_thread(console_context, settings.data_dir, address)
        site = web.TCPSite(runner, address, settings.console_tls_port, ssl_context=console)
        stack.push_async_callback(site.stop)
        await site.start()
        acme = web.AppRunner(acme_app(settings.data_dir), access_log=None)
        stack.push_async_callback(acme.cleanup)
        await acme.setup()
        await web.TCPSite(acme, address, settings.acme_port).start()
        _LOGGER.info("serving visitors, console and ACME on the overlay address %s", address)
        yield
