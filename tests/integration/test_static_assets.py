"""Static files and the widget on the wire: gzip, Vary, ETags, cache lifetimes, no escape."""

from __future__ import annotations

import asyncio
import gzip
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import aiohttp
import pytest

from appliance.webui import assets
from appliance.webui.i18n import Catalog, fill
from tests.conftest import Running

_STATIC = Path(str(resources.files("appliance.webui") / "static"))
_GZIP = {"Accept-Encoding": "gzip"}
_PLAIN = {"Accept-Encoding": "identity"}
_WIRE_BUDGET = 30 * 1024  # bytes: the widget on the wire, the goal of the foundations issue
_NODE_TIMEOUT = 30  # s


@pytest.fixture
async def raw_http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that shows the bytes as sent: no decompression, no added Accept-Encoding."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


async def static_prefix(http: aiohttp.ClientSession, running: Running) -> str:
    """Return the versioned /static/<build>/ prefix the pages link to."""
    async with http.get(running.url("/login")) as r:
        found = re.search(r'href="(/static/[0-9a-f]{12}/)console\.css"', await r.text())
    assert found, "the login page links no versioned stylesheet"
    return found.group(1)


async def raw_status(running: Running, target: str) -> tuple[int, bytes]:
    """Send a request line as typed (clients would normalise the dots away)."""
    reader, writer = await asyncio.open_connection(running.server.host, running.server.port)
    try:
        request = f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        async with asyncio.timeout(10):
            data = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_js_and_css_are_gzipped_when_asked_and_plain_otherwise(running, raw_http):
    prefix = await static_prefix(raw_http, running)
    for name in ("console.js", "console.css", "admin.js"):
        on_disk = (_STATIC / name).read_bytes()
        async with raw_http.get(running.url(prefix + name), headers=_GZIP) as r:
            assert r.status == 200
            assert r.headers["Content-Encoding"] == "gzip"
            assert r.headers["Vary"] == "Accept-Encoding"
            body = await r.read()
            assert int(r.headers["Content-Length"]) == len(body) < len(on_disk)
            assert gzip.decompress(body) == on_disk
        for plain in (_PLAIN, {"Accept-Encoding": "gzip;q=0, deflate"}, {}):
            async with raw_http.get(
                running.url(prefix + name), headers=plain, skip_auto_headers=["Accept-Encoding"]
            ) as r:
                assert "Content-Encoding" not in r.headers
                assert r.headers["Vary"] == "Accept-Encoding"
                assert await r.read() == on_disk
    async with raw_http.get(running.url(prefix + "console.js"), headers=_PLAIN) as r:
        assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
    async with raw_http.get(running.url(prefix + "console.css"), headers=_PLAIN) as r:
        assert r.headers["Content-Type"] == "text/css; charset=utf-8"


async def test_strong_etag_per_coding_and_304(running, raw_http):
    prefix = await static_prefix(raw_http, running)
    url = running.url(prefix + "console-base.js")
    async with raw_http.get(url, headers=_GZIP) as r:
        zipped = r.headers["ETag"]
    async with raw_http.get(url, headers=_PLAIN) as r:
        plain = r.headers["ETag"]
    assert not zipped.startswith("W/") and not plain.startswith("W/")
    assert zipped != plain  # two representations, two strong validators
    for etag, coding in ((zipped, _GZIP), (plain, _PLAIN), (f'"x", W/{plain}', _PLAIN)):
        async with raw_http.get(url, headers={"If-None-Match": etag, **coding}) as r:
            assert r.status == 304
            assert await r.read() == b""
            assert r.headers["Vary"] == "Accept-Encoding"
            assert "immutable" in r.headers["Cache-Control"]
    async with raw_http.get(url, headers={"If-None-Match": '"stale"', **_GZIP}) as r:
        assert r.status == 200 and r.headers["ETag"] == zipped


async def test_cache_lifetime_follows_the_kind_of_url(running, raw_http):
    prefix = await static_prefix(raw_http, running)
    async with raw_http.get(running.url(prefix + "console.css")) as r:
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    # Unversioned, or linked by a page from before an upgrade: kept, but revalidated.
    for path in ("/static/console.css", "/static/000000000000/console.css"):
        async with raw_http.get(running.url(path)) as r:
            assert r.status == 200
            assert r.headers["Cache-Control"] == "no-cache"
    async with raw_http.get(running.url("/widget.js")) as r:
        assert r.headers["Cache-Control"] == "public, max-age=300"


async def test_relative_module_imports_stay_in_the_versioned_folder(running, raw_http):
    prefix = await static_prefix(raw_http, running)
    async with raw_http.get(running.url(prefix + "routing.js"), headers=_PLAIN) as r:
        source = await r.text()
    assert 'from "./console-base.js"' in source
    async with raw_http.get(running.url(prefix + "console-base.js")) as r:
        assert r.status == 200 and "immutable" in r.headers["Cache-Control"]


async def test_head_answers_headers_only(running, raw_http):
    prefix = await static_prefix(raw_http, running)
    for path in (prefix + "console.js", "/widget.js"):
        async with raw_http.get(running.url(path), headers=_GZIP) as got:
            length = got.headers["Content-Length"]
            etag = got.headers["ETag"]
        async with raw_http.head(running.url(path), headers=_GZIP) as r:
            assert r.status == 200
            assert r.headers["Content-Encoding"] == "gzip"
            assert r.headers["Content-Length"] == length
            assert r.headers["ETag"] == etag
            assert await r.read() == b""
        async with raw_http.head(running.url(path), headers={"If-None-Match": etag, **_GZIP}) as r:
            assert r.status == 304


async def test_widget_is_its_parts_joined_in_one_closure(running, raw_http, tmp_path):
    parts = sorted((_STATIC / "widget").glob("*.js"))
    assert len(parts) > 5
    # The strings part, as served, holds the widget's catalog where its source marks it.
    strings = Catalog.load().script("widget")
    bodies = [
        fill(assets.without_line_comments(p.read_bytes()), strings)
        if p.name == "02-strings.js"
        else assets.without_line_comments(p.read_bytes())
        for p in parts
    ]
    expected = assets.WIDGET_HEAD + b"\n".join(bodies) + assets.WIDGET_TAIL
    async with raw_http.get(running.url("/widget.js"), headers=_PLAIN) as r:
        assert r.status == 200
        served = await r.read()
        assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert served == expected
    assert served.startswith(b"/*") and served.endswith(b"})();\n")
    async with raw_http.get(running.url("/widget.js"), headers=_GZIP) as r:
        wire = await r.read()
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(wire) == served
    assert len(wire) <= _WIRE_BUDGET
    node = shutil.which("node")
    if node is not None:  # without node, only the syntax check is left out
        script = tmp_path / "widget.js"
        script.write_bytes(served)
        done = await asyncio.to_thread(
            subprocess.run,
            [node, "--check", str(script)],
            capture_output=True,
            timeout=_NODE_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()


def test_only_whole_comment_lines_leave_the_widget() -> None:
    source = (
        b"// a part's explanation\n"
        b"  // an indented one\n"
        b'const url = "https://box.example/a"; // after code: kept\n'
        b"const css = `\n"
        b"// inside a template literal: text, kept\n"
        b".a { color: red; }\n"
        b"`; const b = `one ${x} line`;\n"
        b"// after it: dropped\n"
        b"/* a block */\n"
        b"const esc = `a \\` b`;\n"
        b"// and after an escaped backtick: dropped\n"
    )
    assert assets.without_line_comments(source) == (
        b'const url = "https://box.example/a"; // after code: kept\n'
        b"const css = `\n"
        b"// inside a template literal: text, kept\n"
        b".a { color: red; }\n"
        b"`; const b = `one ${x} line`;\n"
        b"/* a block */\n"
        b"const esc = `a \\` b`;\n"
    )


async def test_widget_keeps_its_cross_origin_headers(running, raw_http):
    origin = {"Origin": "https://shop.example"}
    async with raw_http.get(running.url("/widget.js"), headers={**origin, **_GZIP}) as r:
        etag = r.headers["ETag"]
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    async with raw_http.get(
        running.url("/widget.js"), headers={**origin, **_GZIP, "If-None-Match": etag}
    ) as r:
        assert r.status == 304
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


async def test_the_widget_loads_only_from_the_visitor_surface(running, raw_http):
    """/static/ is not reachable through the relay: the widget and the parts it loads on
    first use must come from /api/visitor/ (the look's script once came from /static/,
    so a branded widget on a customer's site drew nothing)."""
    from appliance.webui.file_views import LAZY_PARTS

    plain = {"Accept-Encoding": "identity"}
    async with raw_http.get(running.url("/widget.js"), headers=plain) as r:
        sources = [await r.text()]
    for name in sorted(LAZY_PARTS):
        async with raw_http.get(running.url(f"/api/visitor/assets/{name}"), headers=plain) as r:
            assert r.status == 200, name
            assert "javascript" in r.headers["Content-Type"]
            sources.append(await r.text())
    for source in sources:
        loads = re.findall(r"[\"'`]/static/[^\"'`]*", re.sub(r"//[^\n]*", "", source))
        assert loads == [], loads
    assert "/api/visitor/assets/widget-look.js" in sources[0]


@pytest.mark.parametrize(
    "target",
    [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/%2E%2E%2Fapp.py",
        "/static/widget/../../app.py",
        "/static/widget/..%2f..%2fapp.py",
        "/static/000000000000/../app.py",
        "/static/..%5capp.py",
        "/static/%2fetc/passwd",
        "/static//etc/passwd",
        "/static/../../../../etc/passwd",
        "/static/../templates/base.html",
        "/static/%2e%2e/templates/base.html",
    ],
)
async def test_nothing_outside_static_is_served(running, target):
    status, body = await raw_status(running, target)
    assert status in (400, 403, 404), (target, status)
    for secret in (b"def create_app", b"root:", b"{% block", b"import "):
        assert secret not in body


async def test_unknown_files_are_404(running, raw_http):
    prefix = await static_prefix(raw_http, running)
    for path in (
        "/static/nothing.js",
        prefix + "nothing.css",
        "/static/",
        prefix,
        "/static/widget",
    ):
        async with raw_http.get(running.url(path)) as r:
            assert r.status == 404, path
            assert "immutable" not in r.headers.get("Cache-Control", "")


async def test_nothing_is_compressed_per_request(
    running, raw_http, monkeypatch: pytest.MonkeyPatch
):
    def refuse(*_: object, **__: object) -> bytes:
        raise AssertionError("compressed while serving")

    monkeypatch.setattr(assets.gzip, "compress", refuse)
    prefix = await static_prefix(raw_http, running)
    for path in (prefix + "console.js", "/widget.js"):
        async with raw_http.get(running.url(path), headers=_GZIP) as r:
            assert r.status == 200 and r.headers["Content-Encoding"] == "gzip"
