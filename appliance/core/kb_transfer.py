"""Articles in and out as Markdown files in a zip (for moving from another help desk).

One file per article and language: `<name>.md` holds the Chinese version and
`<name>.en.md`, beside it, the English one. Each starts with front matter between
`---` lines, one `key: value` per line (a value may be a JSON string in double quotes,
which YAML reads the same way):

    ---
    title: "宽带断线怎么办"
    category: "宽带"          # left out: the file's top folder
    audience: public          # or internal (`visibility` is read the same)
    state: published          # draft, review, published or archived
    ---
    先重启光猫……

The zip is untrusted. It is read from a file on the box, never unpacked to disk; it is
refused whole (before anything is written) when it holds more than FILES_MAX entries,
declares more than UNPACKED_MAX bytes, names a path that climbs out of it (`..`, an
absolute path, a drive), or is not a zip. Each file is read to at most FILE_MAX bytes
whatever its header claims (a lying header is a zip bomb too). A file that cannot be
read becomes a line in the job's report, and the rest go on.

Importing is idempotent: the import record (kb_imports) remembers which file made
which article and what it said. The same file again changes nothing ("unchanged"); a
changed one becomes a new version of its article ("updated"); a new one an article
("created"). Every version is kept as when written in the editor, by the importing
reviewer, noted as imported. Articles are written ARTICLES_PER_WRITE at a time, each
batch one short transaction, so chats go on while a large zip comes in.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import posixpath
import re
import sqlite3
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from appliance.core import knowledge
from appliance.core.actors import Staff
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, Forbidden, InvalidInput
from appliance.core.store import kb_imports as import_store
from appliance.core.store import knowledge as store
from appliance.core.store import search as search_store
from appliance.core.store.knowledge import Article, Version
from appliance.core.ticketflow import By, Event, State, Ticket

_LOGGER = logging.getLogger(__name__)

UPLOAD_MAX = 64 * 1024 * 1024  # bytes of an uploaded zip
FILES_MAX = 20_000  # entries in a zip
UNPACKED_MAX = 256 * 1024 * 1024  # bytes its entries may declare, all together
FILE_MAX = 4 * knowledge.BODY_MAX + 4096  # bytes read of one file (UTF-8, front matter)
PATH_MAX = 512  # characters of a file's path
# Articles written in one transaction: about 6 ms each on a loaded 2-core box, so a
# chat message waits at most about 60 ms behind a batch (bench/README.md; 50 a batch
# held it 0.3 s).
ARTICLES_PER_WRITE = 10
ERRORS_KEPT = 100  # problems listed in a job's report
EXPORT_BATCH = 200  # articles read at a time while exporting
_FRONT_KEYS = {"title", "category", "audience", "visibility", "state", "title_en"}


class BadZip(InvalidInput):
    """The upload is not a zip, or one the box refuses to open."""

    code = "bad_zip"


class Busy(Conflict):
    """An import is running already."""

    code = "busy"


@dataclass(frozen=True, slots=True)
class Entry:
    """One article as a zip's files say it."""

    source: str  # the Chinese file's path
    title: str
    body: str
    title_en: str
    body_en: str
    category: str
    audience: str
    state: str

    def digest(self) -> str:
        """Return a fingerprint of everything the files say."""
        fields = (self.title, self.body, self.title_en, self.body_en)
        data = json.dumps([*fields, self.category, self.audience, self.state], ensure_ascii=False)
        return hashlib.sha256(data.encode()).hexdigest()


@dataclass(slots=True)
class Job:
    """An import: its progress and its report."""

    started_at: int
    by: str
    state: str = "running"  # running, done, failed
    total: int = 0  # articles found in the zip
    done: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    finished_at: int | None = None

    def problem(self, path: str, why: str) -> None:
        """Count a file that was not imported, and say why (the first ERRORS_KEPT)."""
        self.failed += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append((path, why))


# -- reading a zip -------------------------------------------------------------------


def entry_name(info: zipfile.ZipInfo) -> str:
    """Return an entry's path as the tool that made the zip meant it.

    Without the UTF-8 flag (bit 11) Python reads names as CP437; tools on Chinese
    Windows write them in GBK, others write UTF-8 without setting the flag.
    """
    name = info.filename
    if info.flag_bits & 0x800:
        return name
    raw = name.encode("cp437", errors="replace")
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return name


def safe_path(name: str) -> str:
    """Return a zip entry's path normalised, or raise BadZip when it climbs out."""
    if "\x00" in name or "\\" in name or len(name) > PATH_MAX:
        raise BadZip(f"the zip names a file the box refuses: {name[:80]!r}")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise BadZip(f"the zip names an absolute path: {name[:80]!r}")
    if ".." in name.split("/"):
        raise BadZip(f"the zip names a path outside it: {name[:80]!r}")
    return unicodedata.normalize("NFC", posixpath.normpath(name))


def check_zip(zf: zipfile.ZipFile) -> list[tuple[str, zipfile.ZipInfo]]:
    """Return the zip's Markdown files (path, info), or raise BadZip for a zip the
    box refuses whole: too many entries, too large unpacked, a path outside it."""
    infos = zf.infolist()
    if len(infos) > FILES_MAX:
        raise BadZip(f"the zip holds more than {FILES_MAX} files")
    if sum(i.file_size for i in infos) > UNPACKED_MAX:
        raise BadZip(f"the zip unpacks to more than {UNPACKED_MAX // 2**20} MB")
    files = []
    for info in infos:
        path = safe_path(entry_name(info))
        if not info.is_dir() and path.lower().endswith(".md"):
            files.append((path, info))
    return files


# A file that cannot be read: damaged or a CRC that does not match what it holds
# (BadZipFile, zlib.error, EOFError), encrypted (RuntimeError), or packed by a method
# Python does not unpack (NotImplementedError).
_UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
)


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """Return a file's text; at most FILE_MAX bytes are unpacked, whatever it claims."""
    with zf.open(info) as f:
        data = f.read(FILE_MAX + 1)
    if len(data) > FILE_MAX:
        raise InvalidInput(f"the file is larger than {FILE_MAX // 1024} KB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidInput("the file is not UTF-8 text") from err


def front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split a file into its front matter (known keys) and its Markdown body."""
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text.strip()
    meta: dict[str, str] = {}
    for at, line in enumerate(lines[1:], 1):
        if line.strip() == "---":
            return meta, "\n".join(lines[at + 1 :]).strip()
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if not sep or key not in _FRONT_KEYS:
            continue
        value = value.strip()
        if value.startswith('"'):
            try:
                value = str(json.loads(value))
            except ValueError as err:
                raise InvalidInput(f"front matter {key}: not a quoted string") from err
        elif " #" in value:
            value = value.split(" #", 1)[0].strip()
        meta[key] = value
    raise InvalidInput("the front matter has no closing ---")


def _entry(
    source: str, zh: tuple[dict[str, str], str], en: tuple[dict[str, str], str] | None
) -> Entry:
    meta, body = zh
    audience = meta.get("audience") or meta.get("visibility") or "internal"
    if audience not in knowledge.AUDIENCES:
        raise InvalidInput("audience must be internal or public")
    state = meta.get("state") or "draft"
    if state not in knowledge.STATES:
        raise InvalidInput(f"state must be one of {', '.join(knowledge.STATES)}")
    title_en, body_en = meta.get("title_en", ""), ""
    if en is not None:
        title_en, body_en = en[0].get("title") or title_en, en[1]
    title = meta.get("title") or posixpath.splitext(posixpath.basename(source))[0]
    texts = knowledge.check_texts(
        {"title": title, "body": body, "title_en": title_en, "body_en": body_en}
    )
    # Without a category in the front matter, the file's top folder names it.
    folder = source.split("/", 1)[0] if "/" in source else ""
    category = (meta.get("category") or folder).strip()
    if len(category) > knowledge.CATEGORY_MAX:
        raise InvalidInput(f"category is longer than {knowledge.CATEGORY_MAX} characters")
    return Entry(
        source,
        texts.title,
        texts.body,
        texts.title_en,
        texts.body_en,
        category,
        audience,
        state,
    )


def read_entries(path: Path, job: Job) -> list[Entry]:
    """Read a zip's articles (in a thread); problems with single files go to the job."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        # ValueError: a name flagged UTF-8 that is not (UnicodeDecodeError).
        raise BadZip("the upload is not a zip file") from err
    with zf:
        files = check_zip(zf)
        english = {p[: -len(".en.md")]: i for p, i in files if p.lower().endswith(".en.md")}
        found = []
        for source, info in files:
            if source.lower().endswith(".en.md"):
                continue
            try:
                zh = front_matter(_read(zf, info))
                en_info = english.get(source[: -len(".md")])
                en = None if en_info is None else front_matter(_read(zf, en_info))
                found.append(_entry(source, zh, en))
            except (*_UNREADABLE, InvalidInput) as err:
                job.problem(source, str(err) or type(err).__name__)
    return found


# -- writing what was read -----------------------------------------------------------


def _category_id(
    conn: sqlite3.Connection, name: str, now: int, known: dict[str, int]
) -> int | None:
    """Return a category's id by name, made if missing; `known` caches the names (the
    category list counts articles, too slow to read once per imported file)."""
    if not name:
        return None
    if not known:
        known.update({c.name: c.id for c in store.categories(conn)})
    if name not in known:
        known[name] = store.add_category(conn, name, "", 0, now)
    return known[name]


def _reindex(conn: sqlite3.Connection, article_id: int) -> None:
    """Put an article's published version in the search index, or take it out."""
    search_store.drop(conn, "article", str(article_id))
    article = store.article(conn, article_id)
    if article is None or article.published_version is None or article.state == "archived":
        return
    published = store.version(conn, article_id, article.published_version)
    if published is not None:
        for doc in knowledge.index_docs(article, published):
            search_store.put(conn, doc)


def _version(entry: Entry, article_id: int, number: int, actor: Staff, now: int) -> Version:
    note = f"导入 / imported: {entry.source}"[: knowledge.NOTE_MAX]
    return Version(
        article_id,
        number,
        entry.title,
        entry.body,
        entry.title_en,
        entry.body_en,
        actor.id,
        actor.name,
        note,
        now,
    )


def apply_entry(
    conn: sqlite3.Connection,
    entry: Entry,
    actor: Staff,
    now: int,
    categories: dict[str, int] | None = None,
) -> str:
    """Write one article as its files say; return created, updated or unchanged."""
    digest = entry.digest()
    known = import_store.find(conn, entry.source)
    article: Article | None = None
    if known is not None:
        if known[1] == digest:
            return "unchanged"
        article = store.article(conn, known[0])
    category_id = _category_id(conn, entry.category, now, {} if categories is None else categories)
    if article is None:
        article_id = store.insert_article(
            conn, category_id, entry.audience, entry.title, actor.id, now
        )
        store.insert_version(conn, _version(entry, article_id, 1, actor, now))
        number, before, outcome = 1, "draft", "created"
    else:
        article_id, number = article.id, article.version + 1
        store.insert_version(conn, _version(entry, article_id, number, actor, now))
        before, outcome = article.state, "updated"
    changes: dict[str, Any] = {
        "title": entry.title,
        "version": number,
        "updated_at": now,
        "category_id": category_id,
        "audience": entry.audience,
        "state": entry.state,
    }
    if entry.state == "published":
        changes.update(published_version=number, published_at=now, reviewer_id=actor.id)
    elif entry.state == "archived":
        changes["published_version"] = None
    store.update_article(conn, article_id, changes)
    if before != entry.state or outcome == "created":
        note = "导入 / imported"
        store.add_step(conn, article_id, now, actor.id, before, entry.state, number, note)
    _reindex(conn, article_id)
    import_store.record(conn, entry.source, article_id, digest, actor.id, now)
    return outcome


class Transfer:
    """Run imports (one at a time, in the background) and write exports."""

    def __init__(self, db: Database, work_dir: Path, clock: Callable[[], int] = now_ms) -> None:
        self._db = db
        self._dir = work_dir
        self._now = clock
        self.job: Job | None = None
        self._task: asyncio.Task[None] | None = None

    async def close(self) -> None:
        """Stop an import that runs (what it wrote stays; importing again goes on)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _reviewer(self, actor: Staff) -> None:
        editor = await self._db.read(lambda conn: store.is_editor(conn, actor.id))
        if not (actor.overseer or editor):
            raise Forbidden("only reviewers import and export articles")

    async def start_import(self, actor: Staff, chunks: Any) -> Job:
        """Take an uploaded zip (async chunks of bytes), check it and import it in the
        background; the returned job shows the progress."""
        await self._reviewer(actor)
        if self.job is not None and self.job.state == "running":
            raise Busy("an import is running")
        self._dir.mkdir(parents=True, exist_ok=True)
        upload = self._dir / "kb-import.zip"
        size = 0
        with upload.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > UPLOAD_MAX:
                    raise BadZip(f"the zip is larger than {UPLOAD_MAX // 2**20} MB")
                await asyncio.to_thread(out.write, chunk)
        job = Job(self._now(), actor.name)
        try:
            entries = await asyncio.to_thread(read_entries, upload, job)
        finally:
            upload.unlink(missing_ok=True)
        job.total = len(entries) + job.failed
        job.done = job.failed
        self.job = job
        self._task = asyncio.get_running_loop().create_task(self._import(job, entries, actor))
        return job

    async def _import(self, job: Job, entries: list[Entry], actor: Staff) -> None:
        categories: dict[str, int] = {}  # by name, for the whole import
        try:
            for start in range(0, len(entries), ARTICLES_PER_WRITE):
                batch = entries[start : start + ARTICLES_PER_WRITE]
                apply = functools.partial(self._apply, batch, actor, categories)
                outcomes = await self._db.write(apply)
                for entry, outcome in zip(batch, outcomes, strict=True):
                    if outcome in ("created", "updated", "unchanged"):
                        setattr(job, outcome, getattr(job, outcome) + 1)
                    else:
                        job.problem(entry.source, outcome)
                job.done += len(batch)
            job.state = "done"
        except asyncio.CancelledError:
            job.state = "failed"
            raise
        except Exception:  # the report says it stopped; the log has why
            _LOGGER.exception("knowledge import failed")
            job.state = "failed"
        finally:
            job.finished_at = self._now()
            _LOGGER.info(
                "knowledge import: %d created, %d updated, %d unchanged, %d failed",
                job.created,
                job.updated,
                job.unchanged,
                job.failed,
            )

    def _apply(
        self, batch: list[Entry], actor: Staff, categories: dict[str, int], conn: sqlite3.Connection
    ) -> list[str]:
        now = self._now()
        outcomes = []
        for entry in batch:
            conn.execute("SAVEPOINT kb_entry")
            try:
                outcomes.append(apply_entry(conn, entry, actor, now, categories))
            except sqlite3.IntegrityError as err:  # e.g. a category deleted meanwhile
                conn.execute("ROLLBACK TO kb_entry")
                categories.clear()  # read them again
                outcomes.append(f"not stored: {err}")
            conn.execute("RELEASE kb_entry")
        return outcomes

    # -- export ---------------------------------------------------------------------

    async def export_articles(self, actor: Staff) -> list[Article]:
        """Return every article, oldest first, for an export (reviewers only)."""
        await self._reviewer(actor)

        def read(conn: sqlite3.Connection) -> list[Article]:
            _, found = store.articles(
                conn, category_id=None, state=None, audience=None, limit=2**62, offset=0
            )
            return sorted(found, key=lambda a: a.id)

        return await self._db.read(read)

    async def export_batch(self, articles: list[Article]) -> list[tuple[Article, Version, str]]:
        """Return the newest version and category name of some articles."""

        def read(conn: sqlite3.Connection) -> list[tuple[Article, Version, str]]:
            names = {c.id: c.name for c in store.categories(conn)}
            found = []
            for article in articles:
                version = store.version(conn, article.id, article.version)
                if version is not None:
                    found.append((article, version, names.get(article.category_id or 0, "")))
            return found

        return await self._db.read(read)


# -- writing a zip -------------------------------------------------------------------


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def markdown_files(article: Article, version: Version, category: str) -> Iterator[tuple[str, str]]:
    """Yield the files (path, text) of one article as an export writes them."""
    stem = re.sub(r"[\\/:*?\"<>|\x00-\x1f.]+", "-", version.title).strip("- ")[:60] or "article"
    folder = re.sub(r"[\\/:*?\"<>|\x00-\x1f.]+", "-", category).strip("- ")[:60]
    path = f"{folder}/{article.id:06d}-{stem}" if folder else f"{article.id:06d}-{stem}"
    head = [
        "---",
        f"title: {_quoted(version.title)}",
        f"category: {_quoted(category)}",
        f"audience: {article.audience}",
        f"state: {article.state}",
        "---",
        "",
    ]
    yield f"{path}.md", "\n".join(head) + version.body + "\n"
    if version.title_en:
        en = ["---", f"title: {_quoted(version.title_en)}", "---", ""]
        yield f"{path}.en.md", "\n".join(en) + version.body_en + "\n"


class ZipSink:
    """A write-only file for zipfile that hands out what was written so far (a zip
    streamed as it is made: zipfile writes data descriptors when it cannot seek)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        """Keep written bytes until `take`."""
        self._buffer += data
        return len(data)

    def flush(self) -> None:
        """Nothing to do: `take` hands the bytes on."""

    def take(self) -> bytes:
        """Return and forget the bytes written so far."""
        data, self._buffer = bytes(self._buffer), bytearray()
        return data


def open_zip(sink: ZipSink) -> zipfile.ZipFile:
    """Return a zip being written into a sink (deflated, UTF-8 names)."""
    return zipfile.ZipFile(_as_file(sink), "w", compression=zipfile.ZIP_DEFLATED)


def _as_file(sink: ZipSink) -> IO[bytes]:
    return sink  # type: ignore[return-value]  # zipfile needs only write() and flush()


# -- a ticket made an article --------------------------------------------------------


class NotResolved(Conflict):
    """Only a resolved (or closed) ticket becomes an article."""

    code = "not_resolved"


class NoAnswer(Conflict):
    """The ticket has no public reply from staff to make an article of."""

    code = "no_answer"


def ticket_draft(ticket: Ticket, events: list[Event]) -> dict[str, Any]:
    """Return a draft article's values from a resolved ticket: its subject as the
    title, its last public reply from staff as the body (internal, for review)."""
    if ticket.state not in (State.RESOLVED, State.CLOSED):
        raise NotResolved("only a resolved or closed ticket becomes an article")
    answers = [
        str(e.data.get("body") or "")
        for e in events
        if e.kind == "reply" and e.by == By.AGENT and str(e.data.get("body") or "").strip()
    ]
    if not answers:
        raise NoAnswer("the ticket has no public reply from staff")
    subject = str(ticket.fields.get("subject") or "").strip()[: knowledge.TITLE_MAX]
    number = str(ticket.fields.get("number") or ticket.id)
    return {
        "title": subject or number,
        "body": answers[-1][: knowledge.BODY_MAX],
        "audience": "internal",
        "note": f"来自工单 / from ticket {number}"[: knowledge.NOTE_MAX],
    }
