"""Backup archives: a consistent copy of the data folder, as tar, encrypted with age.

An archive is `age(tar(manifest, callbox.db, every other file of the data folder))`,
encrypted to one X25519 recipient, so the stock `age` tool opens it as well as the box:
`age -d -i key.txt ARCHIVE | tar -x`. Everything here is blocking and runs in threads:

- the database is copied with `VACUUM INTO` on its own connection, a read transaction
  beside the writer (WAL lets the writer go on); the online backup API restarts its
  copy whenever another connection writes, and under chats it did not finish
  (bench/README.md, "Backup benchmark"). What the copy costs the chats is the disk:
  each commit's fsync queues behind the copy's write-back, so the copy and the
  archive are synced every `flush` bytes as they grow (p99 of a chat write during a
  1 GiB copy: 1,033 ms plain, 28 ms so);
- the copy comes first and the other files (uploads, named by their content's hash
  and written before a row names them; keys; callbox.toml) after it, so every file the
  copied database names is in the archive;
- tar and encryption stream through a pipe between two threads: neither the archive
  nor the tar is ever whole in memory;
- unpacking decrypts into a pipe that tar reads, into a new folder; age authenticates
  every 64 KiB chunk and the end, so a damaged or cut archive fails, and the caller
  replaces nothing unless `unpack` returned.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import pyrage

from appliance.core.migrate import migration_files

FORMAT = 1  # archive layout version, in the manifest
MANIFEST = "callbox-backup.json"
AGE_HEADER = b"age-encryption.org/v1\n"  # how every binary age file begins
DB_NAME = "callbox.db"
_CHUNK = 1024 * 1024  # bytes per read and pipe buffer
_MAX_MANIFEST = 64 * 1024  # bytes
PROGRESS_OPS = 20_000  # SQLite VM steps between progress updates (and pauses) of the copy
# Top-level entries of the data folder an archive leaves out: the live database (it goes
# in as its consistent copy), the local archives themselves, and restores' folders.
_LIVE = {f"{DB_NAME}{tail}" for tail in ("", "-wal", "-shm", "-journal")}
EXCLUDED = frozenset({*_LIVE, "backups", "restore.json"})
_EXCLUDED_PREFIXES = ("restore-", ".")
_IDENTITY = re.compile(r"^AGE-SECRET-KEY-1[0-9A-Z]{58}$")
_RECIPIENT = re.compile(r"^age1[0-9a-z]{58}$")


class Cancelled(Exception):
    """The box is stopping: the work in progress was given up."""


class ArchiveRefused(Exception):
    """An archive that cannot be restored; `code` says why, for the API and the CLI."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Progress:
    """What long work has done: a phase, and bytes (or steps) done of a total."""

    phase: str = ""
    done: int = 0
    total: int = 0
    cancelled: bool = False  # set by the box as it stops; the work ends at its next step

    def start(self, phase: str, total: int = 0) -> None:
        """Begin a phase."""
        self.phase, self.done, self.total = phase, 0, total


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an archive says of itself (its first member)."""

    format: int
    box: str
    created_at: int  # UTC ms
    version: str
    schema: list[str] = field(default_factory=list)  # migrations applied to its database
    db_bytes: int = 0
    files: int = 0


@dataclass(frozen=True, slots=True)
class Keys:
    """A new age key pair: the identity (secret, shown once) and its recipient."""

    identity: str
    recipient: str


def new_keys() -> Keys:
    """Make an X25519 key pair for backups."""
    identity = pyrage.x25519.Identity.generate()
    return Keys(str(identity), str(identity.to_public()))


def read_identity(text: str) -> Any:
    """Return the age identity in `text` (a key file's content, comments allowed)."""
    for line in text.splitlines():
        line = line.strip()
        if _IDENTITY.match(line):
            try:
                return pyrage.x25519.Identity.from_str(line)
            except pyrage.IdentityError:
                break
    raise ArchiveRefused("key_invalid", "not an age key: it starts AGE-SECRET-KEY-1")


def valid_recipient(text: str) -> bool:
    """Tell whether `text` is an age X25519 recipient."""
    if not _RECIPIENT.match(text):
        return False
    try:
        pyrage.x25519.Recipient.from_str(text)
    except pyrage.RecipientError:
        return False
    return True


def snapshot(
    db_path: Path, dest: Path, progress: Progress, pause: float = 0.0, flush: int = 0
) -> None:
    """Copy the live database into `dest`, consistent as of one moment, beside the writer.

    `pause` (s) sleeps every PROGRESS_OPS steps of the copy, leaving the disk and a
    core to the chats for a while (the copy's read transaction lasts that much longer);
    `flush` (bytes, 0 = never) syncs the copy each time it grew by that much, so the
    kernel writes it out in steady steps rather than in bursts the chats' fsyncs queue
    behind.
    """
    source_bytes = sum(
        p.stat().st_size for p in (db_path, db_path.with_name(db_path.name + "-wal")) if p.exists()
    )
    progress.start("snapshot", source_bytes)
    synced = [0, -1]  # bytes synced so far, the copy's fd once it exists

    def tick() -> int:
        with contextlib.suppress(OSError):
            progress.done = dest.stat().st_size
            if flush and progress.done - synced[0] >= flush:
                if synced[1] < 0:
                    synced[1] = os.open(dest, os.O_RDONLY)
                os.fdatasync(synced[1])
                synced[0] = progress.done
        if pause:
            time.sleep(pause)
        return 1 if progress.cancelled else 0  # non-zero interrupts the statement

    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.set_progress_handler(tick, PROGRESS_OPS)
        conn.execute("VACUUM INTO ?", (str(dest),))
    except sqlite3.OperationalError:
        if progress.cancelled:
            raise Cancelled("the box is stopping") from None
        raise
    finally:
        conn.close()
        if synced[1] >= 0:
            os.close(synced[1])
    tick()


class _Synced:
    """A file written in order, synced each time `every` more bytes went in."""

    def __init__(self, raw: IO[bytes], every: int) -> None:
        self.raw = raw
        self.every = every
        self._since = 0

    def write(self, data: bytes) -> int:
        written = self.raw.write(data)
        self._since += written
        if self.every and self._since >= self.every:
            self.raw.flush()
            os.fdatasync(self.raw.fileno())
            self._since = 0
        return written

    def flush(self) -> None:
        self.raw.flush()


def _included(data_dir: Path, skip: set[Path]) -> Iterator[tuple[Path, str]]:
    """Yield (path, name in the archive) of the data folder's files to keep, in order."""
    for top in sorted(data_dir.iterdir()):
        if top.name in EXCLUDED or top.name.startswith(_EXCLUDED_PREFIXES):
            continue
        if top.resolve() in skip:
            continue
        if top.is_symlink():
            continue
        if top.is_file():
            yield top, top.name
        elif top.is_dir():
            for folder, dirs, files in os.walk(top):
                dirs.sort()
                for name in sorted(files):
                    path = Path(folder, name)
                    if name.startswith(".") or path.is_symlink() or not path.is_file():
                        continue  # temporary files, links and sockets stay out
                    yield path, path.relative_to(data_dir).as_posix()


def schema_of(db: Path) -> list[str]:
    """Return the migrations recorded in a database file."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    finally:
        conn.close()


class _Counted:
    """A file's reads, counted into a Progress, with a pause after each MiB if asked."""

    def __init__(self, raw: IO[bytes], progress: Progress, pause: float = 0.0) -> None:
        self.raw = raw
        self.progress = progress
        self.pause = pause
        self._since_pause = 0

    def read(self, size: int = -1) -> bytes:
        if self.progress.cancelled:
            raise Cancelled("the box is stopping")
        data = self.raw.read(size)
        self.progress.done += len(data)
        self._since_pause += len(data)
        if self.pause and self._since_pause >= _CHUNK:
            self._since_pause = 0
            time.sleep(self.pause)
        return data


def _pipe() -> tuple[IO[bytes], IO[bytes]]:
    read_fd, write_fd = os.pipe()
    return os.fdopen(read_fd, "rb", buffering=_CHUNK), os.fdopen(write_fd, "wb", buffering=_CHUNK)


def write_archive(
    data_dir: Path,
    copy: Path,
    manifest: Manifest,
    recipient: str,
    out: Path,
    progress: Progress,
    *,
    skip: set[Path] | None = None,
    pause: float = 0.0,
    flush: int = 0,
) -> int:
    """Write the encrypted archive of `copy` (the database) and the data folder to `out`.

    Return its size in bytes. `out` must not exist; it is removed again on failure.
    `pause` (s) sleeps after each MiB read and `flush` (bytes, 0 = never) syncs the
    archive each time it grew by that much, to leave the disk to the chats.
    """
    files = list(_included(data_dir, {p.resolve() for p in skip or ()}))
    total = copy.stat().st_size + sum(p.stat().st_size for p, _ in files)
    progress.start("archive", total)
    manifest = Manifest(
        **{**asdict(manifest), "db_bytes": copy.stat().st_size, "files": len(files)}
    )
    body = json.dumps(asdict(manifest), ensure_ascii=False).encode()
    reader, writer = _pipe()
    failed: list[BaseException] = []

    def add(tar: tarfile.TarFile, path: Path, name: str) -> None:
        info = tar.gettarinfo(str(path), arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        with open(path, "rb") as handle:
            tar.addfile(info, _Counted(handle, progress, pause))

    def produce() -> None:
        try:
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(body), manifest.created_at // 1000, 0o600
                tar.addfile(info, _Bytes(body))
                add(tar, copy, DB_NAME)
                for path, name in files:
                    add(tar, path, name)
        except BaseException as err:
            failed.append(err)
        finally:
            with contextlib.suppress(OSError):
                writer.close()  # the end of the tar, or a broken pipe after a failure

    worker = threading.Thread(target=produce, name="callbox-backup-tar")
    worker.start()
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb", buffering=_CHUNK) as sink:
            recipients = [pyrage.x25519.Recipient.from_str(recipient)]
            pyrage.encrypt_io(reader, _Synced(sink, flush), recipients)
            sink.flush()
            os.fsync(sink.fileno())
    except BaseException:
        reader.close()  # a tar thread blocked on the pipe gets EPIPE and ends
        worker.join()
        out.unlink(missing_ok=True)
        raise
    reader.close()
    worker.join()
    if failed:
        out.unlink(missing_ok=True)
        raise failed[0]
    return out.stat().st_size


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.at + size
        chunk, self.at = self.data[self.at : end], min(end, len(self.data))
        return chunk


def _refusal(err: BaseException) -> ArchiveRefused:
    """Say why decryption failed, in the API's words."""
    text = str(err)
    if isinstance(err, pyrage.DecryptError) and "No matching keys" in text:
        return ArchiveRefused(
            "wrong_key", "this key does not open the archive (a wrong key, or a damaged header)"
        )
    if isinstance(err, pyrage.DecryptError):
        return ArchiveRefused("not_a_backup", f"not an age-encrypted archive ({text})")
    return ArchiveRefused("damaged", f"the archive is damaged or cut short ({text})")


def _extract(reader: IO[bytes], dest: Path) -> Manifest | None:
    """Extract a tar stream into `dest`; return its manifest (None if it had none)."""
    manifest: Manifest | None = None
    with tarfile.open(fileobj=reader, mode="r|") as tar:
        for member in tar:
            if not (member.isfile() or member.isdir()):
                raise ArchiveRefused("not_a_backup", f"unexpected entry {member.name!r}")
            if member.name == MANIFEST:
                handle = tar.extractfile(member)
                assert handle is not None
                raw = handle.read(_MAX_MANIFEST + 1)
                manifest = _read_manifest(raw)
                continue
            if manifest is None:
                raise ArchiveRefused("not_a_backup", "not a Callbox backup (no manifest first)")
            top = member.name.split("/", 1)[0]
            if top in EXCLUDED - {DB_NAME} or top.startswith(_EXCLUDED_PREFIXES):
                raise ArchiveRefused("not_a_backup", f"unexpected entry {member.name!r}")
            try:
                tar.extract(member, dest, filter="data")
            except tarfile.FilterError as err:  # a path out of the folder, a device, ...
                raise ArchiveRefused("not_a_backup", f"unsafe entry {member.name!r}") from err
    while reader.read(_CHUNK):  # the rest (tar's padding): age checks the end of the stream
        pass
    return manifest


def _read_manifest(raw: bytes) -> Manifest:
    try:
        data = json.loads(raw) if len(raw) <= _MAX_MANIFEST else None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("format")
        return Manifest(
            format=FORMAT,
            box=str(data["box"]),
            created_at=int(data["created_at"]),
            version=str(data["version"]),
            schema=[str(s) for s in data["schema"]],
            db_bytes=int(data["db_bytes"]),
            files=int(data["files"]),
        )
    except (ValueError, KeyError, TypeError) as err:
        raise ArchiveRefused(
            "not_a_backup", "the archive's manifest is not one this box can read"
        ) from err


def unpack(archive: Path, identity: Any, dest: Path, progress: Progress) -> Manifest:
    """Decrypt and extract an archive into `dest` (a new folder), then check it.

    Raise ArchiveRefused when the key does not open it, it is damaged or cut short,
    it is not a Callbox backup, its database fails `PRAGMA integrity_check`, or it
    comes from a newer version of the box. What was extracted is left for the caller
    to remove.
    """
    dest.mkdir(mode=0o700)
    progress.start("decrypt", archive.stat().st_size)
    reader, writer = _pipe()
    outcome: list[Manifest | None] = []
    failed: list[BaseException] = []

    def consume() -> None:
        try:
            outcome.append(_extract(reader, dest))
        except BaseException as err:
            failed.append(err)
        finally:
            reader.close()  # the decryptor gets EPIPE if this stopped early

    worker = threading.Thread(target=consume, name="callbox-restore-tar")
    worker.start()
    decrypt_error: BaseException | None = None
    try:
        with open(archive, "rb", buffering=_CHUNK) as source:
            pyrage.decrypt_io(_Counted(source, progress), writer, [identity])
    except (pyrage.DecryptError, OSError) as err:
        decrypt_error = err
    finally:
        with contextlib.suppress(OSError):
            writer.close()
        worker.join()
    # The first cause wins: a refused entry or a full disk stops the reader, and the
    # decryptor then fails on the closed pipe; a failed decryption cuts the tar short.
    if progress.cancelled:
        raise Cancelled("the box is stopping")
    reading = failed[0] if failed else None
    if reading is not None and not isinstance(reading, tarfile.TarError):
        raise reading
    if decrypt_error is not None:
        raise _refusal(decrypt_error)
    if reading is not None:
        raise ArchiveRefused("not_a_backup", f"not a valid tar archive ({reading})") from reading
    manifest = outcome[0] if outcome else None
    if manifest is None:
        raise ArchiveRefused("not_a_backup", "not a Callbox backup (no manifest)")
    check_database(dest / DB_NAME, progress)
    return manifest


def check_database(db: Path, progress: Progress) -> None:
    """Refuse a database that is damaged or from a newer version of the box."""
    progress.start("check", 1)
    if not db.is_file():
        raise ArchiveRefused("not_a_backup", "the archive holds no database")
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
            names = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        raise ArchiveRefused(
            "db_damaged", f"the database in the archive is damaged: {err}"
        ) from err
    if result != ["ok"]:
        raise ArchiveRefused(
            "db_damaged", "the database in the archive is damaged: " + "; ".join(result[:3])
        )
    newer = names - {name for name, _ in migration_files()}
    if newer:
        raise ArchiveRefused(
            "newer_version",
            f"the archive comes from a newer Callbox (schema {max(newer)}): update this box first",
        )
    progress.done = 1
