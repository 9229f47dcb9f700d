"""Pictures and files sent in chats: limits, the upload's path to disk, who may read them.

An upload becomes a message that carries a file. Its bytes are streamed into a hidden
temporary file in the data folder's `uploads/` (a name starting with "." stays out of
backups), hashed as they come, and refused as soon as they pass the admin's size limit.
The format is then read from the content (core/filetypes.py: a name or declared type
that claims another format is a type lie), a picture is written anew without its
metadata (core/chat_images.py), and the bytes kept are synced, renamed to
`uploads/<2 hex>/<sha256>` and the folder synced. Only then is the message committed
with its file row, and only after that commit is the upload acknowledged: an upload cut
by a network loss leaves no message and no file, and an acknowledged one survives a
crash (tests/system/test_upload_crash.py). A retry with the same client_msg_id gets the
first upload's message, without sending the bytes again being needed.

Who may read a file is who may read its conversation (core/chats.py): its visitor, and
the console users whose scope shows it. Anyone else gets "not found", as for a file
that does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from appliance.core import audit, chat_images, filetypes
from appliance.core.actors import Actor, PortalCustomer, Staff, Visitor
from appliance.core.chats import Chats
from appliance.core.conversation import Attachment, Message
from appliance.core.db import Database
from appliance.core.errors import ChatError, Conflict, Forbidden, InvalidInput, NotFound
from appliance.core.ratelimit import RateLimited, RateLimiter
from appliance.core.store import files as store
from appliance.core.store import settings as settings_store

_LOGGER = logging.getLogger(__name__)

FOLDER = "uploads"  # under the data folder: kept files, and the hidden ones being received
_PART = ".part-"  # the name a file being received starts with
DEFAULT_MAX_MB = 10
MAX_MB = 100  # the most an admin may allow, MiB
_MB = 1024 * 1024
_CLIENT_ID_MAX = 64
_DECLARED_MAX = 200  # characters of a declared Content-Type looked at
_WRITE_BATCH = 1024 * 1024  # bytes gathered before one write in a thread
READ_TIMEOUT = 30.0  # s an upload may go without sending anything before it is dropped
# How many uploads may be received at once, in all and per visitor or user: each holds
# a temporary file and a request; a picture being re-encoded holds tens of MB of memory,
# so those take turns (one at a time).
IN_FLIGHT_MAX = 8
IN_FLIGHT_EACH = 2
# Uploads started per visitor (and per address, for many visitors behind one) and per
# console user: a burst, then a steady rate (per second).
VISITOR_RATE, VISITOR_BURST = 0.2, 10
ADDRESS_RATE, ADDRESS_BURST = 1.0, 30
STAFF_RATE, STAFF_BURST = 1.0, 30
_STORED_AS = {"max_mb": "files.max_mb", "kinds": "files.kinds"}


class FileTooLarge(ChatError):
    """More bytes than the admin allows."""

    code, status = "file_too_large", 413


class FileEmpty(InvalidInput):
    code = "file_empty"


class UploadIncomplete(ChatError):
    """The upload stopped before its end (the network, or the sender went away)."""

    code, status = "upload_incomplete", 400


@dataclass(frozen=True, slots=True)
class Limits:
    """What the admin allows: a size and families of formats (filetypes.KINDS)."""

    max_mb: int = DEFAULT_MAX_MB
    kinds: tuple[str, ...] = filetypes.DEFAULT_KINDS

    @property
    def max_bytes(self) -> int:
        """Return the size limit in bytes."""
        return self.max_mb * _MB

    def extensions(self) -> list[str]:
        """Return the extensions of every allowed format (for a file picker's filter)."""
        return [
            e
            for f in filetypes.FORMATS.values()
            if f.kind in self.kinds
            for e in (f.ext, *f.others)
        ]


@dataclass(frozen=True, slots=True)
class Served:
    """A stored file as a reader gets it."""

    path: Path
    mime: str
    name: str
    kind: str


def _limits_of(stored: Mapping[str, str]) -> Limits:
    """Read stored limits; a damaged value falls back to its default."""
    limits = Limits()
    text = stored.get(_STORED_AS["max_mb"], "")
    if text.isdigit() and 1 <= int(text) <= MAX_MB:
        limits = replace(limits, max_mb=int(text))
    elif text:
        _LOGGER.warning("files.max_mb has a bad value; using the default")
    if _STORED_AS["kinds"] in stored:
        kinds = tuple(k for k in stored[_STORED_AS["kinds"]].split(",") if k)
        if set(kinds) <= set(filetypes.KINDS):
            limits = replace(limits, kinds=kinds)
        else:
            _LOGGER.warning("files.kinds has a bad value; using the default")
    return limits


def _checked_limits(current: Limits, data: Any) -> Limits:
    if not isinstance(data, dict):
        raise InvalidInput("limits must be an object")
    unknown = sorted(set(data) - set(_STORED_AS))
    if unknown:
        raise InvalidInput(f"unknown setting: {', '.join(unknown)}")
    limits = current
    if "max_mb" in data:
        value = data["max_mb"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MB:
            raise InvalidInput(f"max_mb must be a whole number from 1 to {MAX_MB}")
        limits = replace(limits, max_mb=value)
    if "kinds" in data:
        kinds = data["kinds"]
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise InvalidInput("kinds must be a list")
        if not set(kinds) <= set(filetypes.KINDS):
            raise InvalidInput(f"kinds must be among {', '.join(filetypes.KINDS)}")
        limits = replace(limits, kinds=tuple(k for k in filetypes.KINDS if k in kinds))
    return limits


def _save_limits(
    limits: Limits, change: dict[str, list[Any]], by: audit.Actor | None, conn: sqlite3.Connection
) -> None:
    settings_store.save(
        conn,
        [(_STORED_AS["max_mb"], str(limits.max_mb)), (_STORED_AS["kinds"], ",".join(limits.kinds))],
    )
    if by is not None:
        audit.record(conn, by, "settings.files", "", change)


# --- the disk (blocking: these run in threads) ------------------------------------------


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(handle: BinaryIO, digest: Any, parts: list[bytes]) -> None:
    for part in parts:
        handle.write(part)
        digest.update(part)


def _sweep(folder: Path) -> int:
    """Remove files a crash left half received; return how many."""
    if not folder.is_dir():
        return 0
    gone = 0
    for path in folder.glob(f"{_PART}*"):
        path.unlink(missing_ok=True)
        gone += 1
    return gone


class _Disk:
    """The uploads folder: files named by their content's hash, written durably."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_of(self, sha256: str) -> Path:
        """Return where a file with this hash is kept."""
        return self.folder / sha256[:2] / sha256

    def new_part(self) -> tuple[Path, BinaryIO]:
        """Create a hidden file to receive into."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.folder / f"{_PART}{secrets.token_hex(8)}"
        return path, path.open("xb")

    def keep(self, part: Path, sha256: str) -> None:
        """Sync a received file and move it to its place (once: same hash, same bytes)."""
        with part.open("rb") as handle:
            os.fsync(handle.fileno())
        target = self.path_of(sha256)
        if target.exists():
            part.unlink()
            return
        made = not target.parent.exists()
        target.parent.mkdir(mode=0o700, exist_ok=True)
        os.replace(part, target)
        _sync_dir(target.parent)
        if made:
            _sync_dir(self.folder)

    def keep_bytes(self, data: bytes) -> str:
        """Keep bytes made here (a re-encoded picture); return their hash."""
        sha256 = hashlib.sha256(data).hexdigest()
        if self.path_of(sha256).exists():
            return sha256
        path, handle = self.new_part()
        try:
            with handle:
                handle.write(data)
            self.keep(path, sha256)
        finally:
            path.unlink(missing_ok=True)
        return sha256


@dataclass(slots=True)
class _Received:
    path: Path
    size: int
    sha256: str


class Files:
    """Pictures and files in chats: the admin's limits, uploads and reads."""

    def __init__(self, db: Database, chats: Chats, data_dir: Path) -> None:
        self._db = db
        self._chats = chats
        self._disk = _Disk(data_dir / FOLDER)
        self._limits = Limits()
        self._visitors = RateLimiter(VISITOR_RATE, VISITOR_BURST)
        self._addresses = RateLimiter(ADDRESS_RATE, ADDRESS_BURST)
        self._staff = RateLimiter(STAFF_RATE, STAFF_BURST)
        self._busy: dict[str, int] = {}
        self._pictures = asyncio.Lock()

    @property
    def folder(self) -> Path:
        """Return the uploads folder."""
        return self._disk.folder

    async def open(self) -> None:
        """Read the limits; remove what a crash left half received."""
        self._limits = _limits_of(await self._db.read(lambda c: settings_store.values(c, "files.")))
        gone = await asyncio.to_thread(_sweep, self._disk.folder)
        if gone:
            _LOGGER.info("removed %d uploads a stop had cut short", gone)

    @property
    def limits(self) -> Limits:
        """Return the limits in force."""
        return self._limits

    async def set_limits(self, data: Any, *, by: audit.Actor | None = None) -> Limits:
        """Change the limits (all checked first: nothing changes on a bad value)."""
        new = _checked_limits(self._limits, data)
        old = self._limits
        change: dict[str, list[Any]] = {}
        if old.max_mb != new.max_mb:
            change["max_mb"] = [old.max_mb, new.max_mb]
        if old.kinds != new.kinds:
            change["kinds"] = [list(old.kinds), list(new.kinds)]
        await self._db.write(partial(_save_limits, new, change, by))
        self._limits = new
        return new

    # --- uploads ---------------------------------------------------------------------

    def _spend(self, actor: Actor | PortalCustomer) -> str:
        """Count an upload against the actor's allowance; return their in-flight key."""
        if isinstance(actor, Visitor | PortalCustomer):
            wait = max(
                self._visitors.retry_after(actor.id), self._addresses.retry_after(actor.address)
            )
            if wait > 0:
                raise RateLimited(wait)
            self._visitors.hit(actor.id)
            self._addresses.hit(actor.address)
            return f"v:{actor.id}"
        wait = self._staff.hit(str(actor.id))
        if wait > 0:
            raise RateLimited(wait)
        return f"s:{actor.id}"

    @contextlib.contextmanager
    def _slot(self, key: str) -> Iterator[None]:
        if sum(self._busy.values()) >= IN_FLIGHT_MAX or self._busy.get(key, 0) >= IN_FLIGHT_EACH:
            raise RateLimited(1)
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            yield
        finally:
            self._busy[key] -= 1
            if not self._busy[key]:
                del self._busy[key]

    async def _receive(self, body: AsyncIterator[bytes], limit: int) -> _Received:
        """Stream a body into a hidden file, hashing it; refuse it past the limit."""
        path, handle = await asyncio.to_thread(self._disk.new_part)
        digest = hashlib.sha256()
        size, batch, batched = 0, [], 0
        try:
            with handle:
                chunks = aiter(body)
                while True:
                    try:
                        async with asyncio.timeout(READ_TIMEOUT):
                            chunk = await anext(chunks)
                    except StopAsyncIteration:
                        break
                    except TimeoutError as err:
                        raise UploadIncomplete(
                            f"nothing arrived for {READ_TIMEOUT:.0f} s; the upload was dropped"
                        ) from err
                    size += len(chunk)
                    if size > limit:
                        raise FileTooLarge(f"the file is larger than {limit // _MB} MB")
                    batch.append(chunk)
                    batched += len(chunk)
                    if batched >= _WRITE_BATCH:
                        await asyncio.to_thread(_write, handle, digest, batch)
                        batch, batched = [], 0
                if batch:
                    await asyncio.to_thread(_write, handle, digest, batch)
            if size == 0:
                raise FileEmpty("the file is empty")
        except BaseException:
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise
        return _Received(path, size, digest.hexdigest())

    async def _keep(self, got: _Received, name: str, declared: str) -> Attachment:
        """Judge a received file's format and keep it (a picture written anew)."""
        found = await asyncio.to_thread(filetypes.sniff, got.path, name)
        fmt = filetypes.judge(found, name, declared, frozenset(self._limits.kinds))
        kept = filetypes.stored_name(name, fmt)
        file_id = "f_" + secrets.token_urlsafe(12)
        if fmt.kind != "image":
            await asyncio.to_thread(self._disk.keep, got.path, got.sha256)
            return Attachment(file_id, kept, fmt.kind, fmt.mime, got.size, got.sha256)
        async with self._pictures:  # one at a time: decoding takes memory and a core
            cleaned = await asyncio.to_thread(chat_images.clean, got.path, fmt.key)
            sha256 = await asyncio.to_thread(self._disk.keep_bytes, cleaned.data)
            thumb = None
            if cleaned.thumb is not None:
                thumb = await asyncio.to_thread(self._disk.keep_bytes, cleaned.thumb)
        return Attachment(
            file_id,
            kept,
            fmt.kind,
            fmt.mime,
            len(cleaned.data),
            sha256,
            cleaned.width,
            cleaned.height,
            thumb,
            cleaned.thumb_mime,
        )

    async def upload(
        self,
        conv_id: str,
        actor: Actor,
        *,
        client_msg_id: Any,
        name: Any,
        declared: str,
        length: int | None,
        body: AsyncIterator[bytes],
    ) -> tuple[Message, bool]:
        """Receive a file into a conversation as a message; return it and whether it
        repeats an upload already stored under client_msg_id (then nothing is read)."""
        if not isinstance(client_msg_id, str) or not 0 < len(client_msg_id) <= _CLIENT_ID_MAX:
            raise InvalidInput(f"client_msg_id must be 1-{_CLIENT_ID_MAX} characters")
        clean = filetypes.clean_name(name)
        seen = await self._chats.sent(conv_id, actor, client_msg_id)
        if seen is not None:
            return seen, True
        conv = await self._chats.get_for(conv_id, actor)
        if conv.status == "closed":
            raise Conflict("conversation is closed")
        if isinstance(actor, Staff) and conv.agent_id != actor.id and not conv.has_guest(actor.id):
            raise Forbidden("conversation is not assigned to you")
        limit = self._limits.max_bytes
        if length is not None and length > limit:
            raise FileTooLarge(f"the file is larger than {limit // _MB} MB")
        with self._slot(self._spend(actor)):
            got = await self._receive(body, limit)
            try:
                file = await self._keep(got, clean, declared[:_DECLARED_MAX])
            finally:
                await asyncio.to_thread(got.path.unlink, missing_ok=True)

        def job(conn: sqlite3.Connection) -> tuple[Message, bool, str]:
            message, repeat, visitor_id = self._chats.post_in(
                conn, conv_id, actor, client_msg_id, file.name
            )
            if repeat:
                return message, True, visitor_id
            store.insert(
                conn,
                file,
                conversation_id=conv_id,
                message_id=message.id,
                seq=message.seq,
                now=message.created_at,
            )
            return replace(message, file=file), False, visitor_id

        message, repeat, _ = await self._db.write(
            job, on_commit=lambda result: self._chats.announce_posted(conv_id, result)
        )
        return message, repeat

    async def receive(
        self,
        actor: PortalCustomer,
        *,
        name: Any,
        declared: str,
        length: int | None,
        body: AsyncIterator[bytes],
    ) -> Attachment:
        """Receive a file that no chat carries (a portal reply's attachment) under the
        same limits, allowance, format checks and picture cleaning; return it kept."""
        clean = filetypes.clean_name(name)
        limit = self._limits.max_bytes
        if length is not None and length > limit:
            raise FileTooLarge(f"the file is larger than {limit // _MB} MB")
        with self._slot(self._spend(actor)):
            got = await self._receive(body, limit)
            try:
                return await self._keep(got, clean, declared[:_DECLARED_MAX])
            finally:
                await asyncio.to_thread(got.path.unlink, missing_ok=True)

    def path_of(self, sha256: str) -> Path:
        """Return where a kept file's bytes are (named by their SHA-256)."""
        return self._disk.path_of(sha256)

    # --- reads -----------------------------------------------------------------------

    async def find(self, conv_id: str, file_id: str, actor: Actor, *, thumb: bool) -> Served:
        """Return a file of a conversation the actor may read (else not found); `thumb`
        asks for a picture's thumbnail (the picture itself when it has none)."""
        if not isinstance(file_id, str) or len(file_id) > 64:
            raise NotFound("no such file")
        await self._chats.get_for(conv_id, actor)
        found = await self._db.read(lambda conn: store.get(conn, file_id))
        if found is None or found[0] != conv_id:
            raise NotFound("no such file")
        file = found[1]
        if thumb and file.thumb_sha256:
            return Served(
                self._disk.path_of(file.thumb_sha256), file.thumb_mime, file.name, "image"
            )
        return Served(self._disk.path_of(file.sha256), file.mime, file.name, file.kind)

    async def counts(self, conversation_ids: list[str]) -> dict[str, int]:
        """Return how many files each conversation holds (those with none left out)."""
        return await self._db.read(lambda conn: store.counts(conn, conversation_ids))
