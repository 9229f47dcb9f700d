"""Visitor data plane: TLS passthrough by SNI on 443, redirects and ACME on 80.

The relay never terminates TLS: it reads the ClientHello to learn the host name, then
pipes the untouched bytes to that tenant's appliance through the tunnel, behind a
PROXY v2 header carrying the visitor's address. It logs no host names, addresses or
content per connection; counters only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

from relay_server import proxy_protocol
from relay_server.config import APPLIANCE_ACME_PORT, APPLIANCE_VISITOR_PORT
from relay_server.metrics import Metrics
from relay_server.registry import Tenant
from relay_server.sni import ClientHelloError, read_client_hello

_LOGGER = logging.getLogger(__name__)

_PIPE_CHUNK = 64 * 1024  # bytes per read while piping
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


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    counter: dict[str, int],
    tenant: str,
) -> None:
    try:
        while data := await reader.read(_PIPE_CHUNK):
            counter[tenant] += len(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def splice(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    metrics: Metrics,
    tenant: str,
) -> None:
    """Copy both ways until both sides are done; no idle timeout."""
    metrics.connections[tenant] += 1
    metrics.active[tenant] += 1
    try:
        await asyncio.gather(
            _pipe(client[0], upstream[1], metrics.bytes_in, tenant),
            _pipe(upstream[0], client[1], metrics.bytes_out, tenant),
        )
    finally:
        metrics.active[tenant] -= 1
        for _, writer in (client, upstream):
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


class Passthrough:
    """The relay's public listeners for visitors."""

    def __init__(
        self,
        lookup: Lookup,
        metrics: Metrics,
        *,
        hello_timeout: float,
        connect_timeout: float,
        visitor_port: int = APPLIANCE_VISITOR_PORT,
        acme_port: int = APPLIANCE_ACME_PORT,
    ) -> None:
        self._lookup = lookup
        self._metrics = metrics
        self._hello_timeout = hello_timeout
        self._connect_timeout = connect_timeout
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

    async def handle_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Route one TLS connection by SNI to its tenant's appliance."""
        self._hold()
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
        await splice((reader, writer), upstream, self._metrics, tenant.name)
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
        self._hold()
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
            await splice((reader, writer), upstream, self._metrics, tenant.name)
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
