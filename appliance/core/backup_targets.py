"""Where archives go: a local folder (or a mounted disk) and a WebDAV server.

WebDAV is spoken with aiohttp, which the box has anyway: five verbs (MKCOL, PUT, MOVE,
PROPFIND, DELETE, and GET to restore) cover it, so a client library would add a
dependency (webdav4 brings httpx and fsspec) for little. An upload goes to a hidden
`.NAME.part` and is then MOVEd into place, so a cut upload never looks like an archive
that retention or a restore would pick. PROPFIND answers are XML from a server the
admin named; defusedxml reads them, refusing entity tricks.

Only files named like our archives are ever listed or deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, unquote, urljoin, urlsplit

import aiohttp
from defusedxml import ElementTree

from appliance.core.backup_archive import Cancelled, Progress
from appliance.core.backup_schedule import read_name

_LOGGER = logging.getLogger(__name__)
_CHUNK = 1024 * 1024  # bytes per read and write
_MAX_LISTING = 4 * 1024 * 1024  # bytes of a PROPFIND answer
_CONNECT_TIMEOUT = 30.0  # s
_READ_TIMEOUT = 300.0  # s without a byte from the server
_DAV = "{DAV:}"
_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:"><d:prop><d:getcontentlength/></d:prop></d:propfind>'
)


class TargetError(Exception):
    """A target refused or failed an operation; the message says which and how."""


@dataclass(frozen=True, slots=True)
class Stored:
    """An archive on a target."""

    name: str
    size: int


class Target(Protocol):
    """A place archives are kept."""

    kind: str  # "local" or "webdav"
    label: str  # where, for people (never with a password)

    async def put(self, source: Path, name: str, progress: Progress) -> None:
        """Store the file `source` as `name`."""

    async def archives(self) -> list[Stored]:
        """Return the archives the target holds."""

    async def delete(self, name: str) -> None:
        """Remove an archive."""

    async def fetch(self, name: str, dest: Path, progress: Progress) -> Path:
        """Make an archive readable as a local file; return its path (maybe not `dest`)."""


def _ours(name: str) -> bool:
    return read_name(name) is not None


class LocalFolder:
    """A folder on this machine: the data folder's backups/, or a mounted disk."""

    kind = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = str(path)

    def _put(self, source: Path, name: str, progress: Progress) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = self.path / name
        if source.stat().st_dev == self.path.stat().st_dev:
            os.replace(source, final)  # the same disk: a rename, nothing copied
            progress.done = progress.total
            return
        part = self.path / f".{name}.part"
        try:
            with open(source, "rb") as src, open(part, "wb") as dst:
                os.fchmod(dst.fileno(), 0o600)
                while chunk := src.read(_CHUNK):
                    if progress.cancelled:
                        raise Cancelled("the box is stopping")
                    dst.write(chunk)
                    progress.done += len(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(part, final)
        except BaseException:
            part.unlink(missing_ok=True)
            raise

    async def put(self, source: Path, name: str, progress: Progress) -> None:
        """Store the archive (renamed when on the same disk, else copied and synced)."""
        await asyncio.to_thread(self._put, source, name, progress)

    def _archives(self) -> list[Stored]:
        if not self.path.is_dir():
            return []
        return [
            Stored(entry.name, entry.stat().st_size)
            for entry in self.path.iterdir()
            if _ours(entry.name) and entry.is_file()
        ]

    async def archives(self) -> list[Stored]:
        """Return the archives in the folder."""
        return await asyncio.to_thread(self._archives)

    async def delete(self, name: str) -> None:
        """Remove an archive from the folder."""
        assert _ours(name), name
        await asyncio.to_thread((self.path / name).unlink, missing_ok=True)

    async def fetch(self, name: str, dest: Path, progress: Progress) -> Path:
        """Return the archive's own path: it is read where it lies."""
        assert _ours(name), name
        path = self.path / name
        if not path.is_file():
            raise TargetError(f"{self.label}: no archive named {name}")
        return path


def _base(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def webdav_label(url: str) -> str:
    """Return the URL as shown to people: without user or password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=host).geturl()


class WebDav:
    """A folder (collection) on a WebDAV server, over HTTP Basic authentication."""

    kind = "webdav"

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = _base(url)
        self.label = webdav_label(self.url)
        self._headers = {"Authorization": aiohttp.encode_basic_auth(user, password)} if user else {}

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=_CONNECT_TIMEOUT, sock_read=_READ_TIMEOUT
        )
        try:
            async with aiohttp.ClientSession(headers=self._headers, timeout=timeout) as session:
                yield session
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TargetError(f"{self.label}: {type(err).__name__}: {err}") from err

    def _check(self, response: aiohttp.ClientResponse, what: str, *ok: int) -> None:
        if response.status not in ok:
            raise TargetError(f"{self.label}: {what} answered {response.status} {response.reason}")

    def _at(self, name: str) -> str:
        return urljoin(self.url, quote(name))

    async def put(self, source: Path, name: str, progress: Progress) -> None:
        """Upload to a hidden name, then MOVE it into place."""
        part = self._at(f".{name}.part")

        async def body() -> AsyncIterator[bytes]:
            with open(source, "rb") as handle:  # noqa: ASYNC230 - each read is in a thread
                while chunk := await asyncio.to_thread(handle.read, _CHUNK):
                    if progress.cancelled:
                        raise Cancelled("the box is stopping")
                    progress.done += len(chunk)
                    yield chunk

        size = (await asyncio.to_thread(source.stat)).st_size
        async with self._session() as http:
            async with http.request("MKCOL", self.url) as made:
                # 405: the collection exists already. Some servers answer 301 to the
                # form without the trailing slash; ours always has it.
                self._check(made, "MKCOL", 201, 405)
            headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
            async with http.put(part, data=body(), headers=headers) as sent:
                self._check(sent, "PUT", 200, 201, 204)
            move = {"Destination": self._at(name), "Overwrite": "T"}
            async with http.request("MOVE", part, headers=move) as moved:
                self._check(moved, "MOVE", 201, 204)

    async def archives(self) -> list[Stored]:
        """List the collection (PROPFIND, depth 1)."""
        headers = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
        async with (
            self._session() as http,
            http.request("PROPFIND", self.url, data=_PROPFIND, headers=headers) as r,
        ):
            if r.status == 404:
                return []
            self._check(r, "PROPFIND", 207)
            raw = bytearray()
            async for chunk in r.content.iter_chunked(64 * 1024):
                raw += chunk
                if len(raw) > _MAX_LISTING:
                    raise TargetError(f"{self.label}: the listing is over {_MAX_LISTING} bytes")
        return _listing(bytes(raw), self.label)

    async def delete(self, name: str) -> None:
        """Remove an archive (one already gone is fine)."""
        assert _ours(name), name
        async with self._session() as http, http.delete(self._at(name)) as r:
            self._check(r, "DELETE", 200, 204, 404)

    async def fetch(self, name: str, dest: Path, progress: Progress) -> Path:
        """Download an archive to `dest`."""
        assert _ours(name), name
        try:
            async with self._session() as http, http.get(self._at(name)) as r:
                self._check(r, "GET", 200)
                progress.total = r.content_length or progress.total
                with open(dest, "wb") as out:  # noqa: ASYNC230 - each write is in a thread
                    async for chunk in r.content.iter_chunked(_CHUNK):
                        await asyncio.to_thread(out.write, chunk)
                        progress.done += len(chunk)
        except BaseException:
            await asyncio.to_thread(dest.unlink, missing_ok=True)
            raise
        return dest


def _listing(raw: bytes, label: str) -> list[Stored]:
    """Read a PROPFIND multistatus: our archives with their sizes."""
    try:
        root = ElementTree.fromstring(raw)
    except Exception as err:  # defusedxml's refusals and expat's errors alike
        raise TargetError(f"{label}: the listing is not readable XML ({err})") from err
    found: list[Stored] = []
    for response in root.iter(f"{_DAV}response"):
        href = response.findtext(f"{_DAV}href") or ""
        name = unquote(urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1])
        if not _ours(name):
            continue
        length = response.findtext(f".//{_DAV}getcontentlength") or "0"
        found.append(Stored(name, int(length) if length.isdigit() else 0))
    return found


def remove_quietly(path: Path) -> None:
    """Remove a file or folder tree; log what could not be removed."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as err:
        _LOGGER.warning("could not remove %s: %s", path, err)
