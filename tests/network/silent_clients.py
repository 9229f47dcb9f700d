"""Silent visitors, run inside a test host: `python -m tests.network.silent_clients ...`.

Each connection sends one complete ClientHello (real OpenSSL bytes, with SNI) and then
nothing, and notes when the relay (or whoever) closes it and how many bytes came
first. Once every connection is open it prints `READY {json}`; at the end (all
closed, or `--hold` seconds after READY) it prints one JSON line: for each
connection its source, `bytes` received and `closed` (seconds after it was opened,
None while still open), plus `first_closed_after`. A connection the relay refused
at once closes with 0 bytes; one it passed through first got the appliance's
ServerHello.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import ssl
import sys
import time
from typing import Any


def client_hello(hostname: str) -> bytes:
    """Return the bytes OpenSSL sends first for a TLS client to `hostname`."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=hostname)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


async def _silent(
    address: str, port: int, source: str, hello: bytes, started: asyncio.Event
) -> dict[str, Any]:
    result: dict[str, Any] = {"source": source, "bytes": 0, "closed": None, "error": None}
    opened = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(address, port, local_addr=(source, 0))
    except OSError as err:
        result.update(error=f"connect: {err}", closed=0.0)
        started.set()
        return result
    try:
        writer.write(hello)
        await writer.drain()
        started.set()
        while chunk := await reader.read(65536):
            result["bytes"] += len(chunk)
    except (ConnectionError, OSError) as err:
        result["error"] = type(err).__name__
    except asyncio.CancelledError:
        writer.transport.abort()
        return result
    result["closed"] = round(time.monotonic() - opened, 3)
    writer.close()
    return result


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    address, _, port = args.connect.rpartition(":")
    hello = client_hello(args.sni)
    tasks = []
    for source in args.sources.split(","):
        for _ in range(args.per_source):
            started = asyncio.Event()
            tasks.append(asyncio.create_task(_silent(address, int(port), source, hello, started)))
            await started.wait()  # one at a time: the order of admission is the order here
    print("READY " + json.dumps({"opened": len(tasks)}), flush=True)
    _, pending = await asyncio.wait(tasks, timeout=args.hold)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return [t.result() for t in tasks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.network.silent_clients")
    parser.add_argument("--connect", required=True, help="ip:port of the relay's 443")
    parser.add_argument("--sni", required=True)
    parser.add_argument("--sources", required=True, help="comma-separated source addresses")
    parser.add_argument("--per-source", type=int, required=True)
    parser.add_argument("--hold", type=float, required=True, help="s to wait after READY")
    results = asyncio.run(run(parser.parse_args(argv)))
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
