"""Visitor data plane: TLS passthrough by SNI on 443, redirects and ACME on 80.

The relay never terminates TLS: it reads the ClientHello to learn the host name, then
pipes the untouched bytes to that tenant's appliance through the tunnel, behind a
PROXY v2 header carrying the visitor's address. It logs no host names, addresses or
content per connection; counters only. Every connection is counted against the
per-source and total caps (limits.py) from accept to close, and ends on time
(splice.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable

from relay_server import proxy_protocol
from relay_server.config import APPLIANCE_ACME_PORT, APPLIANCE_VISITOR_PORT
from relay_server.limits import VisitorLimits
from relay_server.metrics import Metrics
from relay_server.registry import Tenant
from relay_server.sni import ClientHelloError, read_client_hello
from relay_server.splice import splice

_LOGGER = logging.getLogger(__name__)

HTTP_HEAD_MAX = 8 * 1024  # bytes of a plain-HTTP request head on port 80 (stream limit)
_ACME_PREFIX = b"/.well-known/acme-challenge/"
_KEEPALIVE_IDLE = 60  # s before TCP keepalive probes: long-lived WebSockets stay up

Lookup = Callable[[str], Tenant | None]


def _keepalive(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, _KEEPALIVE_IDLE)


class Passthrough:
    """The relay's public listeners for visitors."""

    def __init__(
        self,
        lookup: Lookup,
        metrics: Metrics,
        *,
        hello_timeout: float,
        connect_timeout: float,
        handshake_timeout: float,
        idle_timeout: float,
        limits: VisitorLimits,
        visitor_port: int = APPLIANCE_VISITOR_PORT,
        acme_port: int = APPLIANCE_ACME_PORT,
    ) -> None:
        self._lookup = lookup
        self._metrics = metrics
        self._hello_timeout = hello_timeout
        self._connect_timeout = connect_timeout
        self._handshake_timeout = handshake_timeout
        self._idle_timeout = idle_timeout
        self._limits = limits
        metrics.visitor_capacity = limits.total
        self._visitor_port = visitor_port
        self._acme_port = acme_port
        # asyncio's stream server drops its reference to a handler task when the
        # client's connection is lost; a task then waiting only on the upstream side
        # would be garbage-collected mid-splice. Hold every handler until it is done.
        self._handlers: set[asyncio.Task[object]] = set()

    def _hold(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    def _refuse(self, writer: asyncio.StreamWriter, reason: str) -> None:
        self._metrics.refused[reason] += 1
        writer.close()

    @contextlib.asynccontextmanager
    async def _admitted(self, writer: asyncio.StreamWriter) -> AsyncIterator[bool]:
        """Count the connection against the caps while it lives; False if refused."""
        self._hold()
        peer = writer.get_extra_info("peername")
        source = str(peer[0]) if peer else ""
        refused = self._limits.admit(source)
        if refused is not None:
            self._refuse(writer, refused)
            yield False
            return
        self._metrics.visitors_open = self._limits.open
        try:
            yield True
        finally:
            self._limits.release(source)
            self._metrics.visitors_open = self._limits.open
            if not writer.is_closing():  # every early return above closed it already
                writer.close()

    async def handle_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Route one TLS connection by SNI to its tenant's appliance."""
        async with self._admitted(writer) as admitted:
            if admitted:
                await self._route_tls(reader, writer)

    async def _route_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(self._hello_timeout):
                hello, hostname = await read_client_hello(reader)
        except TimeoutError:
            return self._refuse(writer, "slow_client_hello")
        except (ClientHelloError, ConnectionError):
            return self._refuse(writer, "bad_client_hello")
        tenant = self._lookup(hostname)
        if tenant is None:
            return self._refuse(writer, "unknown_hostname")
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        header = proxy_protocol.encode((peer[0], peer[1]), (local[0], local[1]))
        upstream = await self._connect(tenant, self._visitor_port, writer)
        if upstream is None:
            return None
        upstream[1].write(header + hello)
        _keepalive(writer)
        _keepalive(upstream[1])
        await splice(
            (reader, writer),
            upstream,
            self._metrics,
            tenant.name,
            handshake_timeout=self._handshake_timeout,
            idle_timeout=self._idle_timeout,
        )
        return None

    async def _connect(
        self, tenant: Tenant, port: int, client: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            async with asyncio.timeout(self._connect_timeout):
                return await asyncio.open_connection(tenant.appliance_address, port)
        except (OSError, TimeoutError):
            self._refuse(client, "appliance_unreachable")
            return None

    async def handle_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Redirect plain HTTP to HTTPS; pass ACME HTTP-01 challenges to the appliance."""
        async with self._admitted(writer) as admitted:
            if admitted:
                await self._route_http(reader, writer)

    async def _route_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(self._hello_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
        ):
            return self._refuse(writer, "bad_http_request")
        request_line, _, rest = head.partition(b"\r\n")
        parts = request_line.split(b" ")
        host = b""
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"host":
                host = value.strip().split(b":")[0].lower()
        if len(parts) != 3 or not host:
            return self._refuse(writer, "bad_http_request")
        path = parts[1]
        tenant = self._lookup(host.decode("ascii", "replace"))
        if path.startswith(_ACME_PREFIX) and tenant is not None:
            upstream = await self._connect(tenant, self._acme_port, writer)
            if upstream is None:
                return None
            upstream[1].write(head)
            # The request is whole: the visitor now waits, so only the idle bound applies.
            await splice(
                (reader, writer),
                upstream,
                self._metrics,
                tenant.name,
                handshake_timeout=None,
                idle_timeout=self._idle_timeout,
            )
            return None
        if tenant is None:
            return self._refuse(writer, "unknown_hostname")
        location = b"https://" + host + (path if path.startswith(b"/") else b"/")
        writer.write(
            b"HTTP/1.1 308 Permanent Redirect\r\nLocation: "
            + location
            + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
        return None
