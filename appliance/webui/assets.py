"""Static files and the widget from memory: gzip once at start, strong ETags, versioned URLs."""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Self

from aiohttp import web

from appliance.webui.i18n import CATALOG, WIDGET_LATER, Catalog, fill

_GZIP_LEVEL = 9  # compressed once per start, so the smallest output is worth the CPU
_GZIP_WORTH = 0.9  # keep the gzip form only below this share of the plain size
_IMMUTABLE = "public, max-age=31536000, immutable"  # s: a versioned URL never changes content
_REVALIDATE = "no-cache"  # an unversioned URL may be kept, but is checked by ETag on each use
_BUILD_DIGITS = 12  # hex digits of the build hash in versioned URLs
_VERSION = re.compile(f"[0-9a-f]{{{_BUILD_DIGITS}}}")
_ETAG_DIGITS = 16  # hex digits of a file's hash in its ETag
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
_COMPRESSIBLE = ("text/", "image/svg+xml", "application/json")

WIDGET_PARTS = "widget"  # folder of the widget's parts under static/, joined in name order
# The parts share one closure: nothing of the widget is left on the host page's window.
WIDGET_HEAD = (
    b"/* Callbox visitor chat widget: static/widget/*.js joined in name order at start."
    b' Source and comments are in those files. */\n(() => {\n"use strict";\n\n'
)
WIDGET_TAIL = b"})();\n"
WIDGET_STRINGS = "02-strings.js"  # the part that holds the widget's catalog
# Scripts whose catalog section is filled in at start, so it is part of their hash.
CATALOG_FILLS = {"console-i18n.js": "console", f"{WIDGET_PARTS}/{WIDGET_STRINGS}": "widget"}
# The widget's parts it loads on first use (GET /api/visitor/assets/<name>): each gets
# the strings only they use (i18n.WIDGET_LATER).
WIDGET_LATER_PARTS = f"{WIDGET_PARTS}/later/"


def _static_dir() -> Traversable:
    return resources.files("appliance.webui") / "static"


def _accepts_gzip(accept_encoding: str) -> bool:
    """Tell whether an Accept-Encoding header allows gzip (q=0 refuses it)."""
    star = False
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.strip().partition(";")
        refused = params.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000")
        if coding.strip() in ("gzip", "x-gzip"):
            return not refused
        if coding.strip() == "*":
            star = not refused
    return star


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Compare If-None-Match weakly with an ETag, as RFC 9110 asks for GET and HEAD."""
    if not if_none_match:
        return False
    tags = (t.strip().removeprefix("W/") for t in if_none_match.split(","))
    return any(t in ("*", etag) for t in tags)


@dataclass(frozen=True, slots=True)
class Asset:
    """One file's bytes, its gzip form when that pays, and a strong ETag for each."""

    body: bytes
    content_type: str
    etag: str
    gzipped: bytes | None = None
    gzip_etag: str = ""

    @classmethod
    def of(cls, body: bytes, content_type: str) -> Self:
        """Hash and compress a file's bytes once."""
        digest = hashlib.sha256(body).hexdigest()[:_ETAG_DIGITS]
        packed = None
        if content_type.startswith(_COMPRESSIBLE):
            packed = gzip.compress(body, _GZIP_LEVEL, mtime=0)
            if len(packed) >= len(body) * _GZIP_WORTH:
                packed = None
        # Each coding is its own representation, so each has its own strong ETag.
        return cls(body, content_type, f'"{digest}"', packed, f'"{digest}-gz"' if packed else "")

    def respond(
        self, request: web.Request, cache_control: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        """Answer a GET or HEAD: 304 on a matching If-None-Match, gzip when accepted."""
        packed = self.gzipped
        if packed is not None and not _accepts_gzip(request.headers.get("Accept-Encoding", "")):
            packed = None
        out = {"Cache-Control": cache_control, "ETag": self.gzip_etag if packed else self.etag}
        if self.gzipped is not None:
            out["Vary"] = "Accept-Encoding"
        out.update(headers or {})
        if _matches(request.headers.get("If-None-Match"), out["ETag"]):
            return web.Response(status=304, headers=out)
        out["Content-Type"] = self.content_type
        if packed is not None:
            out["Content-Encoding"] = "gzip"
            return web.Response(body=packed, headers=out)
        return web.Response(body=self.body, headers=out)


def _walk(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for entry in folder.iterdir():
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        else:
            yield f"{prefix}{entry.name}", entry


def _type_of(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return _TYPES.get(f".{ext}" if dot else "", "application/octet-stream")


@dataclass(frozen=True, slots=True)
class Assets:
    """Every file under static/, by its path there, and the hash of them all (the build)."""

    files: dict[str, Asset]
    build: str

    @classmethod
    def load(cls, catalog: Catalog, static: Traversable | None = None) -> Self:
        """Read every static file once, fill in the catalogs, and compress."""
        raw = dict(sorted(_walk(static or _static_dir())))
        files: dict[str, Asset] = {}
        build = hashlib.sha256()
        for name, entry in raw.items():
            body = entry.read_bytes()
            if name in CATALOG_FILLS:
                body = fill(body, catalog.script(CATALOG_FILLS[name]))
            elif name.startswith(WIDGET_LATER_PARTS):
                body = fill(body, catalog.script(WIDGET_LATER))
            files[name] = Asset.of(body, _type_of(name))
            build.update(b"%d:%s\0%s" % (len(name), name.encode(), files[name].etag.encode()))
        return cls(files, build.hexdigest()[:_BUILD_DIGITS])

    @property
    def url(self) -> str:
        """Return the versioned prefix pages put before a static file's path."""
        return f"/static/{self.build}/"


ASSETS = web.AppKey("assets", Assets)


def without_line_comments(source: bytes) -> bytes:
    """Drop the lines that are only a `//` comment, outside template literals.

    The widget's sources explain themselves at length; on the wire those lines were
    2.9 KB of its 30 KB gzipped budget. Only whole comment lines go: a `//` after code
    (it may be inside a string or a URL) and `/* */` blocks stay, and a line inside a
    multi-line template literal (the CSS) is text, kept as written.
    """
    kept: list[bytes] = []
    in_template = False
    for line in source.split(b"\n"):
        if not in_template and line.lstrip().startswith(b"//"):
            continue
        kept.append(line)
        if line.replace(b"\\`", b"").count(b"`") % 2:
            in_template = not in_template
    return b"\n".join(kept)


def widget_script(catalog: Catalog, static: Traversable | None = None) -> bytes:
    """Join the widget's parts, in file-name order, into the one script that is served."""
    folder = (static or _static_dir()) / WIDGET_PARTS
    parts = sorted((p for p in folder.iterdir() if p.name.endswith(".js")), key=lambda p: p.name)
    bodies = [without_line_comments(p.read_bytes()) for p in parts]
    strings = [p.name for p in parts].index(WIDGET_STRINGS)
    bodies[strings] = fill(bodies[strings], catalog.script("widget"))
    return WIDGET_HEAD + b"\n".join(bodies) + WIDGET_TAIL


async def static_file(request: web.Request) -> web.Response:
    """Serve a static file from memory; a versioned URL may be cached for good."""
    assets = request.config_dict[ASSETS]
    path = request.match_info["path"]
    cache = _REVALIDATE
    version, slash, rest = path.partition("/")
    if slash and _VERSION.fullmatch(version):
        # A page from before an upgrade still gets today's file, but must not keep it.
        cache = _IMMUTABLE if version == assets.build else _REVALIDATE
        path = rest
    # A lookup by name in what was read at start: nothing outside static/ can be reached.
    asset = assets.files.get(path)
    if asset is None:
        raise web.HTTPNotFound()
    return asset.respond(request, cache)


def add_routes(app: web.Application) -> None:
    """Load the static files and route /static/ to them (GET and HEAD)."""
    app[ASSETS] = Assets.load(app[CATALOG])
    app.router.add_get("/static/{path:.+}", static_file)
