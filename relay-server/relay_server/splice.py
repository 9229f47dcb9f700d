"""Pipe a visitor's connection and its appliance's both ways, and end it on time.

A passed-through connection holds two descriptors (the visitor's socket and the
one into the tunnel), so nothing a stranger opens may stay open unbounded:

- handshake: a TLS client answers the box's first flight (with its Finished, or a
  second ClientHello after a HelloRetryRequest) within a round trip or two; a
  visitor that has not answered the box `handshake_timeout` after the connection
  was passed through is closed, whatever the box does. One that answers and then
  falls silent is left to the idle bound (and the caps).
- idle: no byte either way for `idle_timeout` closes the connection (the appliance
  pings its WebSockets every 30 s, so live ones never get there).
- half-close: when one side closes, its FIN is passed on, and the other side gets
  HALF_CLOSE_LINGER to finish before both are closed. Without it a box that ends a
  handshake leaves its socket in CLOSE-WAIT for as long as the visitor stays quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from relay_server.metrics import Metrics

HALF_CLOSE_LINGER = 5.0  # s one direction may stay open after the other closed
CLOSE_GRACE = 1.0  # s to flush what is queued on close before the socket is aborted
_PIPE_CHUNK = 64 * 1024  # bytes per read

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(slots=True)
class _Clock:
    """When the connection started, last moved a byte, first saw a side close."""

    started: float
    last: float
    box_spoke: bool = False
    visitor_spoke: bool = False
    first_eof: float | None = None

    def deadline(self, handshake: float | None, idle: float) -> tuple[float, str]:
        """Return the earliest time the connection must end, and why."""
        due = [(self.last + idle, "idle_timeout")]
        if handshake is not None and not self.visitor_spoke:
            due.append((self.started + handshake, "handshake_timeout"))
        if self.first_eof is not None:
            due.append((self.first_eof + HALF_CLOSE_LINGER, "half_close_linger"))
        return min(due)


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    counter: dict[str, int],
    tenant: str,
    heard: Callable[[], None],
) -> bool:
    """Copy until EOF; return True for an orderly end, False for a broken connection."""
    try:
        while data := await reader.read(_PIPE_CHUNK):
            heard()
            counter[tenant] += len(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        return False
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()
    return True


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close, letting queued bytes go for CLOSE_GRACE; then abort (a peer that reads nothing)."""
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_GRACE):
            await writer.wait_closed()
    except TimeoutError:
        writer.transport.abort()
    except (OSError, ConnectionError):
        pass


async def splice(
    client: Stream,
    upstream: Stream,
    metrics: Metrics,
    tenant: str,
    *,
    handshake_timeout: float | None,
    idle_timeout: float,
) -> None:
    """Copy both ways until both sides are done or a time bound is hit; close both."""
    loop = asyncio.get_running_loop()
    clock = _Clock(loop.time(), loop.time())

    def heard_visitor() -> None:
        clock.last = loop.time()
        # Only bytes that answer the box count as the next flight: 0-RTT data (or junk)
        # sent right behind the ClientHello does not end the handshake.
        clock.visitor_spoke = clock.box_spoke

    def heard_box() -> None:
        clock.last = loop.time()
        clock.box_spoke = True

    metrics.connections[tenant] += 1
    metrics.active[tenant] += 1
    pending = {
        asyncio.create_task(_pipe(client[0], upstream[1], metrics.bytes_in, tenant, heard_visitor)),
        asyncio.create_task(_pipe(upstream[0], client[1], metrics.bytes_out, tenant, heard_box)),
    }
    try:
        while pending:
            deadline, reason = clock.deadline(handshake_timeout, idle_timeout)
            delay = deadline - loop.time()
            if delay <= 0:
                metrics.closed[reason] += 1
                break
            done, pending = await asyncio.wait(
                pending, timeout=delay, return_when=asyncio.FIRST_COMPLETED
            )
            if not all(task.result() for task in done):
                break  # a reset on one side: the other has nothing more to wait for
            if done and clock.first_eof is None:
                clock.first_eof = loop.time()
    finally:
        metrics.active[tenant] -= 1
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(_close(client[1]), _close(upstream[1]))
