"""In-namespace programs of the relay passthrough benchmark (bench/relay_passthrough.py).

    python bench/relay_targets.py origin --token-file F --iface IF --cert C --key K --lan IP
    python bench/relay_targets.py load SPEC_JSON

`origin` is the stand-in appliance's visitor server, made for load: it enrols with
the relay and brings up wireguard-go like tests.network.hosts `appliance` (whose
functions it imports), then serves HTTP/1.1 over TLS from one uvloop thread on

- its overlay address, port 443: a PROXY header first, then TLS. Version 2 (binary,
  what relay-server sends) or version 1 (text, what nginx's `proxy_protocol on` in
  `stream` sends); anything else is refused. The real appliance accepts v2 only.
- its LAN address, port 443: TLS straight away, no header (the no-relay reference,
  reached through a port forward on the office gateway).

Both listeners share one TLS context and one request handler: `GET /small` answers
a short body, `GET /bulk` a large one, each with `X-Visitor: <v2|v1|none> <address>`
(the visitor address it learnt), so the load generator can check which path it took.
TLS runs on memory BIOs under an asyncio Protocol, since the header comes before the
ClientHello in the same bytes.

`load` is the load generator, run in the visitor's namespace: one phase against one
address (see `Spec`), printing `WINDOW start` and `WINDOW end` as the measured window
opens and closes (the driver reads CPU times then) and finally `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import random
import signal
import socket
import ssl
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a script: make tests.network importable
    sys.path.insert(0, str(_ROOT))

from provenance import loop_factory  # noqa: E402  (bench/)
from relay_server import proxy_protocol  # noqa: E402

from tests.network.hosts import emit, enrol_and_tunnel, wg_down  # noqa: E402

VISITOR_PORT = 443  # the origin's port on both its overlay and its LAN address
SMALL_BODY_BYTES = 64  # bytes of the `/small` answer
BULK_BODY_BYTES = 1024 * 1024  # bytes of the `/bulk` answer (default)
_READ_CHUNK = 256 * 1024  # bytes of plaintext taken from TLS per read
_V1_MAX = 107  # bytes of the longest PROXY v1 line, CRLF included (spec §2.1)
_V2_MAX = 16 + 216  # bytes of the longest PROXY v2 header we take (TCP/UDP over IPv6 + TLVs)
_NS = 1_000_000_000  # ns per s
_MS = 1_000_000  # ns per ms
_REQUEST_TIMEOUT = 10.0  # s for one connection + request, or one keep-alive request
_DRAIN = 10.0  # s at most after the window for requests still in flight
_CLOSE_TIMEOUT = 1.0  # s for a client TLS close
_LAG_TICK = 0.010  # s between probes of the load generator's own loop lag
_MAX_IN_FLIGHT = 2000  # open-loop arrivals beyond this many unfinished are skipped
_CHECK_TIMEOUT = 20.0  # s for a `check` phase to get one good answer
_LINGER = 5.0  # s the origin waits for a peer to close after its own close


# --------------------------------------------------------------------- origin


class ProxyHeaderError(ValueError):
    """The bytes before the ClientHello are not a PROXY header."""


def read_proxy_header(data: bytes) -> tuple[str, str, int] | None:
    """Parse a PROXY v1 or v2 header at the start of data.

    Return (version, "address:port" of the visitor, header length), or None while
    more bytes are needed.
    """
    sig = proxy_protocol.SIGNATURE
    if data[: len(sig)] == sig[: len(data)] and len(data) < proxy_protocol.HEADER_MIN:
        return None
    if data.startswith(sig):
        total = proxy_protocol.header_length(data)
        if total > _V2_MAX:
            raise ProxyHeaderError("PROXY v2 header too long")
        if len(data) < total:
            return None
        try:
            addresses = proxy_protocol.decode(data[:total])
        except proxy_protocol.ProxyHeaderError as err:
            raise ProxyHeaderError(str(err)) from err
        source = f"{addresses[0][0]}:{addresses[0][1]}" if addresses else "local"
        return "v2", source, total
    if not b"PROXY ".startswith(data[:6]):
        raise ProxyHeaderError("no PROXY header")
    end = data.find(b"\r\n")
    if end < 0:
        if len(data) >= _V1_MAX:
            raise ProxyHeaderError("PROXY v1 line too long")
        return None
    parts = data[:end].decode("ascii", "replace").split(" ")
    if len(parts) == 6 and parts[1] in ("TCP4", "TCP6"):
        return "v1", f"{parts[2]}:{parts[4]}", end + 2
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return "v1", "unknown", end + 2
    raise ProxyHeaderError("bad PROXY v1 line")


@dataclass
class Bodies:
    """What the origin answers, made once."""

    small: bytes
    bulk: bytes


class OriginConnection(asyncio.Protocol):
    """One visitor connection: optional PROXY header, TLS on memory BIOs, HTTP/1.1."""

    def __init__(self, tls: ssl.SSLContext, bodies: Bodies, want_header: bool) -> None:
        self._context = tls
        self._bodies = bodies
        self._want_header = want_header
        self._transport: asyncio.Transport | None = None
        self._pre = b""
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls: ssl.SSLObject | None = None
        self._handshaken = False
        self._requests = b""
        self._visitor = "none ?"
        self._done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self._visitor = f"none {peer[0]}:{peer[1]}"
        if not self._want_header:
            self._tls = self._context.wrap_bio(self._in, self._out, server_side=True)

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        if self._tls is None:
            self._pre += data
            try:
                parsed = read_proxy_header(self._pre)
            except ProxyHeaderError:
                return self._abort()
            if parsed is None:
                return None
            version, source, used = parsed
            self._visitor = f"{version} {source}"
            data, self._pre = self._pre[used:], b""
            self._tls = self._context.wrap_bio(self._in, self._out, server_side=True)
        self._in.write(data)
        self._pump()
        return None

    def eof_received(self) -> bool:
        return False  # the transport closes itself

    def _pump(self) -> None:
        tls = self._tls
        assert tls is not None
        if not self._handshaken:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                return self._flush()
            except (ssl.SSLError, OSError):
                return self._abort()
            self._handshaken = True
        while True:
            try:
                chunk = tls.read(_READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLError, OSError):
                return self._abort()
            if not chunk:
                return self._abort()
            self._requests += chunk
        self._answer()
        return self._flush()

    def _answer(self) -> None:
        tls = self._tls
        assert tls is not None
        while (end := self._requests.find(b"\r\n\r\n")) >= 0:
            head, self._requests = self._requests[:end], self._requests[end + 4 :]
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            path = parts[1] if len(parts) == 3 else b""
            close = b"connection: close" in head.lower()
            body = {b"/small": self._bodies.small, b"/bulk": self._bodies.bulk}.get(path)
            status = b"200 OK" if body is not None else b"404 Not Found"
            body = body or b""
            tls.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                b"X-Visitor: " + self._visitor.encode() + b"\r\n"
                + (b"Connection: close\r\n" if close else b"")
                + b"\r\n"
                + body
            )  # fmt: skip
            if close:
                return self._linger()
        return None

    def _linger(self) -> None:
        """Close as web servers do: close_notify, FIN, then wait for the peer to close.

        Closing at once would reset connections whose peer still sends (its own
        close_notify): the proxies in between would see resets, not the usual close.
        """
        assert self._tls is not None and self._transport is not None
        with contextlib.suppress(ssl.SSLError, OSError):
            self._tls.unwrap()  # close_notify into the out BIO
        self._flush()
        self._done = True  # whatever comes now is discarded
        self._transport.write_eof()
        asyncio.get_running_loop().call_later(_LINGER, self._give_up)

    def _give_up(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()

    def _flush(self) -> None:
        if self._transport is not None and self._out.pending:
            self._transport.write(self._out.read())

    def _abort(self) -> None:
        self._done = True
        if self._transport is not None:
            self._transport.abort()


async def _serve_origin(overlay: str, lan: str, tls: ssl.SSLContext, bodies: Bodies) -> None:
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(
            functools.partial(OriginConnection, tls, bodies, header),
            host,
            VISITOR_PORT,
            backlog=4096,
            reuse_address=True,
        )
        for host, header in ((overlay, True), (lan, False))
    ]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    emit("READY", overlay=f"{overlay}:{VISITOR_PORT}", lan=f"{lan}:{VISITOR_PORT}")
    await stop.wait()
    for server in servers:
        server.close()


def origin_main(args: argparse.Namespace) -> None:
    """Enrol, bring the tunnel up, serve until SIGTERM, take the tunnel down."""
    info, address = enrol_and_tunnel(args.token_file, args.iface)
    try:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
        bodies = Bodies(b"x" * SMALL_BODY_BYTES, b"b" * args.bulk_bytes)
        emit("ENROLLED", **info, iface=args.iface)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(_serve_origin(address, args.lan, tls, bodies))
    finally:
        wg_down(args.iface)


# ------------------------------------------------------------- load generator


@dataclass(frozen=True)
class Spec:
    """One phase of load against one address.

    phase: `conn_rate` (a new TLS connection per request, Poisson arrivals at `rate`
    per s, open loop), `conn_sat` (`concurrency` clients, each opening connection
    after connection: closed loop), `ka_rate` (`concurrency` keep-alive connections
    sharing `rate` requests per s, each at most one request in flight), `ka_sat`
    (`concurrency` keep-alive connections, closed loop), `bulk` (as ka_sat, for
    `/bulk`), `check` (one request, retried until it answers).
    """

    phase: str
    connect: str  # "address:port"
    sni: str
    ca: str
    expect: str  # X-Visitor prefix the origin must answer ("v2", "v1", "none")
    warmup: float = 2.0  # s
    duration: float = 10.0  # s
    rate: float = 100.0  # per s
    concurrency: int = 16
    seed: int = 1


@dataclass
class Stats:
    """What the phase observed; latencies in ns, for operations started in the window."""

    window: tuple[int, int] = (0, 0)  # monotonic ns
    total: list[int] = field(default_factory=list)
    connect: list[int] = field(default_factory=list)
    handshake: list[int] = field(default_factory=list)
    send_lag: list[int] = field(default_factory=list)
    loop_lag: list[int] = field(default_factory=list)
    completed: int = 0  # operations that ended inside the window
    body_bytes: int = 0  # of those
    started: int = 0
    skipped: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    visitor: str = ""
    wrong_path: int = 0

    def inside(self, t: int) -> bool:
        return self.window[0] <= t < self.window[1]


class Client:
    """Connections and requests to one address, with the checks and the counting."""

    def __init__(self, spec: Spec, stats: Stats) -> None:
        self.spec = spec
        self.stats = stats
        host, _, port = spec.connect.rpartition(":")
        self.address = (host, int(port))
        self.tls = ssl.create_default_context(cafile=spec.ca)  # verified, like a browser

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int, int]:
        """Connect and shake hands; return the streams, the TCP and the TLS time (ns)."""
        loop = asyncio.get_running_loop()
        t0 = time.monotonic_ns()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, self.address)
        except BaseException:
            sock.close()
            raise
        t1 = time.monotonic_ns()
        reader, writer = await asyncio.open_connection(
            sock=sock, ssl=self.tls, server_hostname=self.spec.sni, limit=2**20
        )
        return reader, writer, t1 - t0, time.monotonic_ns() - t1

    async def request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, close: bool
    ) -> int:
        """Send one GET and read its answer; return the body's length."""
        head = f"GET {path} HTTP/1.1\r\nHost: {self.spec.sni}\r\n"
        head += "Connection: close\r\n\r\n" if close else "\r\n"
        writer.write(head.encode())
        answer = await reader.readuntil(b"\r\n\r\n")
        lines = answer.decode("latin-1").split("\r\n")
        if " 200 " not in lines[0] + " ":
            raise ValueError(f"status {lines[0]!r}")
        fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        visitor = fields.get("x-visitor", "")
        if not visitor.startswith(self.spec.expect + " "):
            self.stats.wrong_path += 1
        self.stats.visitor = visitor
        return len(await reader.readexactly(int(fields["content-length"])))

    def note(self, t_start: int, total: int, size: int) -> None:
        stats = self.stats
        if stats.inside(t_start):
            stats.total.append(total)
        if stats.inside(t_start + total):
            stats.completed += 1
            stats.body_bytes += size

    def fail(self, err: BaseException) -> None:
        self.stats.errors[type(err).__name__] += 1

    async def one_connection(self) -> None:
        """A full TLS handshake, one small request, close; record the times."""
        t0 = time.monotonic_ns()
        writer = None
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                reader, writer, tcp, handshake = await self.open()
                size = await self.request(reader, writer, "/small", close=True)
                total = time.monotonic_ns() - t0  # the answer is in: closing is not counted
        except (OSError, ssl.SSLError, ValueError, EOFError, TimeoutError) as err:
            self.fail(err)
            return
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(_CLOSE_TIMEOUT):
                        await writer.wait_closed()
        if self.stats.inside(t0):
            self.stats.connect.append(tcp)
            self.stats.handshake.append(handshake)
        self.note(t0, total, size)

    async def keep_alive(self, path: str, end: int, gap: Callable[[], float] | None) -> None:
        """Requests over one connection until `end` (ns): paced by `gap` (s), or closed loop."""
        streams = None
        t_next = time.monotonic_ns()
        while True:
            if gap is not None:
                t_next += int(gap() * _NS)
                delay = t_next - time.monotonic_ns()
                if delay > 0:
                    await asyncio.sleep(delay / _NS)
            t0 = time.monotonic_ns()
            if t0 >= end:
                break
            if gap is not None and self.stats.inside(t0):
                self.stats.send_lag.append(max(0, t0 - t_next))
            try:
                async with asyncio.timeout(_REQUEST_TIMEOUT):
                    if streams is None:
                        reader, writer, _, _ = await self.open()
                        streams = reader, writer
                        t0 = time.monotonic_ns()
                    size = await self.request(*streams, path, close=False)
            except (OSError, ssl.SSLError, ValueError, EOFError, TimeoutError) as err:
                self.fail(err)
                if streams is not None:
                    streams[1].transport.abort()
                streams = None
                continue
            self.note(t0, time.monotonic_ns() - t0, size)
        if streams is not None:
            streams[1].close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await streams[1].wait_closed()


async def _probe_loop_lag(stats: Stats) -> None:
    while True:
        before = time.monotonic_ns()
        await asyncio.sleep(_LAG_TICK)
        after = time.monotonic_ns()
        if stats.inside(after):
            stats.loop_lag.append(after - before - int(_LAG_TICK * _NS))


async def _say_at(t: int, line: str) -> None:
    await asyncio.sleep(max(0, t - time.monotonic_ns()) / _NS)
    print(line, flush=True)


async def _open_loop(client: Client, spec: Spec, end: int) -> None:
    """Start one connection per arrival, Poisson at spec.rate, without waiting for any."""
    rng = random.Random(spec.seed)
    stats = client.stats
    tasks: set[asyncio.Task[None]] = set()
    t_next = time.monotonic_ns()
    while True:
        t_next += int(rng.expovariate(spec.rate) * _NS)
        if t_next >= end:
            break
        delay = t_next - time.monotonic_ns()
        if delay > 0:
            await asyncio.sleep(delay / _NS)
        now = time.monotonic_ns()
        if stats.inside(now):
            stats.send_lag.append(now - t_next)
            stats.started += 1
        if len(tasks) >= _MAX_IN_FLIGHT:
            stats.skipped += 1
            continue
        task = asyncio.create_task(client.one_connection())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=_DRAIN)


async def _closed_loop(client: Client, end: int) -> None:
    while time.monotonic_ns() < end:
        await client.one_connection()


async def run_phase(spec: Spec) -> dict[str, Any]:
    """Run one phase; print the window marks; return the figures."""
    stats = Stats()
    client = Client(spec, stats)
    if spec.phase == "check":
        return await _check(client)
    start = time.monotonic_ns() + int(spec.warmup * _NS)
    end = start + int(spec.duration * _NS)
    stats.window = (start, end)
    marks = [asyncio.create_task(_say_at(start, "WINDOW start"))]
    marks.append(asyncio.create_task(_say_at(end, "WINDOW end")))
    probe = asyncio.create_task(_probe_loop_lag(stats))
    n = spec.concurrency
    rng = random.Random(spec.seed)
    work: list[Awaitable[None]]
    if spec.phase == "conn_rate":
        work = [_open_loop(client, spec, end)]
    elif spec.phase == "conn_sat":
        work = [_closed_loop(client, end) for _ in range(n)]
    elif spec.phase == "ka_rate":
        per_conn = spec.rate / n
        work = [
            client.keep_alive("/small", end, lambda: rng.expovariate(per_conn)) for _ in range(n)
        ]
    elif spec.phase in ("ka_sat", "bulk"):
        path = "/bulk" if spec.phase == "bulk" else "/small"
        work = [client.keep_alive(path, end, None) for _ in range(n)]
    else:
        raise ValueError(f"unknown phase {spec.phase!r}")
    await asyncio.gather(*work)
    await asyncio.gather(*marks)
    probe.cancel()
    window = spec.duration
    result = {
        "latency_ms": _dist(stats.total),
        "per_s": round(stats.completed / window, 1),
        "mb_per_s": round(stats.body_bytes / window / 1e6, 2),
        "completed": stats.completed,
        "errors": dict(stats.errors),
        "error_count": sum(stats.errors.values()),
        "wrong_path": stats.wrong_path,
        "visitor": stats.visitor,
        "client_loop_lag_ms": _dist(stats.loop_lag),
    }
    if spec.phase.startswith("conn"):
        result["tcp_connect_ms"] = _dist(stats.connect)
        result["tls_handshake_ms"] = _dist(stats.handshake)
    if spec.phase in ("conn_rate", "ka_rate"):
        result["client_send_lag_ms"] = _dist(stats.send_lag)
    if spec.phase == "conn_rate":
        result["offered_per_s"] = round(stats.started / window, 1)
        result["skipped"] = stats.skipped
    return result


async def _check(client: Client) -> dict[str, Any]:
    """One request through the path, retried while the path comes up."""
    deadline = time.monotonic() + _CHECK_TIMEOUT
    while True:
        client.stats.window = (0, 2**63)
        await client.one_connection()
        if client.stats.completed or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    ok = client.stats.completed > 0 and client.stats.wrong_path == 0
    return {"ok": ok, "visitor": client.stats.visitor, "errors": dict(client.stats.errors)}


def _dist(values: list[int]) -> dict[str, float]:
    """Return nearest-rank p50/p99/max of ns values, in ms."""
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(values)

    def rank(fraction: float) -> float:
        index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
        return round(ordered[index] / _MS, 3)

    return {"p50": rank(0.5), "p99": rank(0.99), "max": rank(1.0)}


def load_main(spec_json: str) -> None:
    spec = Spec(**json.loads(spec_json))
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        result = runner.run(run_phase(spec))
    print("RESULT " + json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    origin = commands.add_parser("origin", help="the stand-in appliance's visitor server")
    origin.add_argument("--token-file", required=True)
    origin.add_argument("--iface", required=True)
    origin.add_argument("--cert", required=True)
    origin.add_argument("--key", required=True)
    origin.add_argument("--lan", required=True, help="LAN address for the direct listener")
    origin.add_argument("--bulk-bytes", type=int, default=BULK_BODY_BYTES)
    load = commands.add_parser("load", help="the load generator")
    load.add_argument("spec", help="JSON of a Spec")
    args = parser.parse_args(argv)
    if args.command == "origin":
        origin_main(args)
    else:
        load_main(args.spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
