"""Static assets on the wire: the widget's bytes and the server's CPU per request.

Run from the repository root: `python3 bench/static_assets.py [--before REV]`.
Sizes are body bytes (no headers). CPU is in-process: the handler, then the response
prepared and written to aiohttp's mocked writer, so no socket; medians of repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from appliance.webui import assets, visitor_views
from appliance.webui.i18n import Catalog
from appliance.webui.keys import WIDGET

_REQUESTS = 1000  # per timed repeat
_REPEATS = 21
_CONSOLE = (
    "console.css",
    "console.js",
    "canned.js",
    *(f"console-{m}.js" for m in ("base", "chat", "customer", "i18n", "lists", "team")),
    *(f"console-{m}.js" for m in ("visit", "visitors", "ws")),
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _old_widget(rev: str) -> bytes:
    return subprocess.run(
        ["git", "show", f"{rev}:appliance/webui/static/widget.js"],
        capture_output=True,
        check=True,
    ).stdout


def _before_handler(body: bytes) -> Handler:
    """The widget handler as it was: the plain bytes, an ETag, no compression."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'

    async def handler(request: web.Request) -> web.Response:
        headers = {"Cache-Control": "public, max-age=300", "ETag": etag}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type="application/javascript", headers=headers)

    return handler


def _per_request_gzip(body: bytes) -> Handler:
    """What compressing on every request would cost (aiohttp's default level 6)."""

    async def handler(request: web.Request) -> web.Response:
        packed = gzip.compress(body, 6)
        return web.Response(body=packed, headers={"Content-Encoding": "gzip"})

    return handler


async def _time_once(handler: Handler, app: web.Application, headers: dict[str, str]) -> float:
    """Return the mean µs of one request (handler, prepare, write) over one repeat."""
    # One mocked request per repeat: building its mocks costs more than serving it.
    request = make_mocked_request("GET", "/widget.js", headers=headers, app=app)
    start = time.perf_counter()
    for _ in range(_REQUESTS):
        response = await handler(request)
        await response.prepare(request)
        await response.write_eof()
    return (time.perf_counter() - start) / _REQUESTS * 1e6


async def main(rev: str) -> None:
    """Print the widget's sizes before and after, and the CPU per request of each way."""
    old = _old_widget(rev)
    app = web.Application()
    catalog = Catalog.load()
    app[WIDGET] = visitor_views.load_widget(catalog)
    new = app[WIDGET]
    assert new.gzipped is not None
    print(f"widget before ({rev}): raw {len(old):,} B, gzip -9 {len(gzip.compress(old, 9)):,} B")
    print(f"widget after: raw {len(new.body):,} B, gzip -9 {len(new.gzipped):,} B (served)")
    files = assets.Assets.load(catalog).files
    raw = sum(len(files[n].body) for n in _CONSOLE)
    packed = sum(len(files[n].gzipped or files[n].body) for n in _CONSOLE)
    print(f"console page JS+CSS ({len(_CONSOLE)} files): raw {raw:,} B, gzip {packed:,} B")
    gz = {"Accept-Encoding": "gzip, deflate, br"}
    cases: list[tuple[str, Handler, dict[str, str]]] = [
        ("before: plain bytes", _before_handler(old), gz),
        ("after: identity", visitor_views.widget_js, {"Accept-Encoding": "identity"}),
        ("after: gzip (compressed at start)", visitor_views.widget_js, gz),
        ("after: 304", visitor_views.widget_js, {**gz, "If-None-Match": new.gzip_etag}),
        ("gzip -6 per request (not done)", _per_request_gzip(new.body), gz),
    ]
    # Cases take turns within each repeat, so a busy moment of the machine hits them all.
    samples: list[list[float]] = [[] for _ in cases]
    for _ in range(_REPEATS):
        for i, (_, handler, headers) in enumerate(cases):
            samples[i].append(await _time_once(handler, app, headers))
    for (name, _, _), times in zip(cases, samples, strict=True):
        print(f"{name:36} {statistics.median(times):8.1f} µs/request (median of {_REPEATS})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="71d92dc", help="revision of the old widget.js")
    asyncio.run(main(parser.parse_args().before))
