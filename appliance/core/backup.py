"""Encrypted, scheduled backups and restores: the service the admin page and box use.

For other parts of the box (the health page): `Backups.last_result()` returns the
newest finished backup as a `LastBackup` (when it ended, whether it worked, its
archive and size, the error), or None before the first; it reads memory only, so it
costs nothing to call on every request.

One job runs at a time, a backup or a restore's check, with its progress on `job`.
A backup: a consistent copy of the database, the archive of it and the data folder
(core/backup_archive.py), then each target (off-box first; the local folder last, as
it may take the file by a rename), then retention on each target. A restore: the
archive fetched (or uploaded), unpacked and checked into `restore-new/`, then marked
checked; the box switches to it at its next start (core/restore.py), which the
caller's `on_ready` asks for.

Times come from `now` (an aware datetime in the box's zone): tests give a clock of
their own and a short `tick` to watch the schedule catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dateutil.tz import tzlocal

from appliance import __version__
from appliance.core import backup_archive as archive
from appliance.core import backup_schedule as schedule
from appliance.core import restore
from appliance.core.backup_settings import (
    Sealer,
    Settings,
    check_local_dir,
    check_webdav_url,
    settings_of,
)
from appliance.core.backup_targets import LocalFolder, Stored, Target, TargetError, WebDav
from appliance.core.backup_targets import remove_quietly as _remove
from appliance.core.db import Database
from appliance.core.errors import Conflict, InvalidInput, NotFound
from appliance.core.health import BackupStatus
from appliance.core.store import backups as store

_LOGGER = logging.getLogger(__name__)

_TICK = 30.0  # s between looks at the schedule
# A scheduled backup that failed (a target down, a full disk) runs again this long
# after, up to RETRIES times, rather than leaving the box without one until the next
# night. A stop cut short is caught up at the next start instead (not a failure).
RETRY_AFTER = timedelta(hours=1)
RETRIES = 3
_UPLOAD = "upload.tar.age"  # the one archive an admin uploaded to restore from
_WORK = ".work"  # inside backups/: the database copy and the archive being made
# Seconds slept after each MiB the archive reads (0: see FLUSH); tests raise it to
# watch the progress.
PAUSE = 0.0
# Bytes between syncs of the database copy and of the archive as they are written: the
# kernel then writes them out in steady steps, not in bursts that the chats' commits
# (each an fsync) queue behind (bench/README.md, "Backup benchmark").
FLUSH = 16 * 1024 * 1024


class BackupConflict(Conflict):
    code = "busy"


class NoKey(InvalidInput):
    code = "no_key"


class KeyExists(Conflict):
    code = "key_exists"


class KeyInvalid(InvalidInput):
    code = "key_invalid"


class NotABackup(InvalidInput):
    code = "not_a_backup"


@dataclass(slots=True)
class Job:
    """A backup or a restore's check, running or just ended, with its progress."""

    kind: str  # backup, restore
    source: str  # backup: schedule, manual; restore: upload, local, webdav
    started_at: int  # UTC ms
    progress: archive.Progress = field(default_factory=archive.Progress)
    state: str = "running"  # running, done, failed
    code: str = ""  # why it failed, for the API (wrong_key, damaged, target, ...)
    error: str = ""
    archive: str = ""
    size: int = 0
    finished_at: int | None = None


@dataclass(frozen=True, slots=True)
class LastBackup:
    """The newest finished backup, for the health page."""

    at: int  # UTC ms it ended
    ok: bool
    trigger: str  # schedule, manual
    archive: str
    size: int  # bytes
    error: str


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _local_now() -> datetime:
    return datetime.now(tzlocal())


class Backups:
    """Backups of one box: settings, the schedule, the jobs and their targets."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        secret: bytes,
        *,
        now: Callable[[], datetime] = _local_now,
        tick: float = _TICK,
        hostname: str | None = None,
    ) -> None:
        self.db = db
        self.data_dir = data_dir
        self.now = now
        self.tick = tick
        self.box = schedule.box_label(hostname or socket.gethostname())
        self._sealer = Sealer(secret)
        self._row: store.SettingsRow | None = None
        self._last: LastBackup | None = None
        self._last_started: int | None = None
        self.job: Job | None = None
        self._job_task: asyncio.Task[None] | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.retry_after = RETRY_AFTER
        self._retry_at: datetime | None = None  # when a failed scheduled run goes again
        self._retries = 0  # failed scheduled runs in a row

    # --- state ---------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """Return the current settings."""
        assert self._row is not None, "backups are not open"
        return settings_of(self._row)

    def last_result(self) -> LastBackup | None:
        """Return the newest finished backup (None before the first): for health."""
        return self._last

    async def last_backup(self) -> BackupStatus | None:
        """The newest finished backup as the health page reads it (`health.py`'s
        `BackupStatusSource`); `last_ok_at` is this run's end when it worked, else not
        known here (the runs list on the backups card has the history)."""
        last = self._last
        if last is None:
            return None
        summary = f"{last.archive} ({last.size:,} bytes)" if last.ok else last.error
        return BackupStatus(last.at, last.ok, summary, last.at if last.ok else None)

    def busy(self) -> bool:
        """Tell whether a backup or restore check is running."""
        return self.job is not None and self.job.state == "running"

    @property
    def work_dir(self) -> Path:
        """Return the folder of work files (the copy and archive being made, uploads)."""
        return self.data_dir / "backups" / _WORK

    @property
    def local_dir(self) -> Path:
        """Return the local folder archives go to."""
        row = self._row
        return Path(row.local_dir) if row and row.local_dir else self.data_dir / "backups"

    def next_run(self) -> datetime | None:
        """Return when the schedule runs next (now, if it is due), or None when off."""
        row = self._row
        if row is None or not row.enabled or not row.recipient:
            return None
        now = self.now()
        at = schedule.parse_daily_at(row.daily_at)
        if schedule.due(now, at, self._served_until()):
            return now
        upcoming = schedule.next_slot(now, at)
        if self._retry_at is not None:
            return max(now, min(self._retry_at, upcoming))
        return upcoming

    def _served_until(self) -> datetime | None:
        row = self._row
        stamps = [s for s in (row.key_created_at if row else None, self._last_started) if s]
        if not stamps:
            return None
        return datetime.fromtimestamp(max(stamps) / 1000, tz=self.now().tzinfo)

    async def runs(self, limit: int) -> list[store.RunRow]:
        """Return the newest runs, the newest first."""
        return await self.db.read(lambda conn: store.recent_runs(conn, limit))

    def restore_pending(self) -> bool:
        """Tell whether a checked restore waits for the next start."""
        return restore.pending(self.data_dir)

    def upload_ready(self) -> bool:
        """Tell whether an uploaded archive waits for its restore."""
        return self.upload_path.is_file()

    def restore_status(self) -> restore.RestoreStatus | None:
        """Return the journal of the last restore of this data folder."""
        return restore.status(self.data_dir)

    # --- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Load settings and history; start the schedule."""
        at = _ms(self.now())

        def load(conn: Any) -> tuple[store.SettingsRow, store.RunRow | None, int | None]:
            store.end_interrupted(conn, at)
            return store.settings(conn), store.last_finished(conn), store.last_started(conn)

        self._row, last, self._last_started = await self.db.write(load)
        if last is not None:
            self._remember(last)
        await asyncio.to_thread(self._clear_work)
        self._scheduler = asyncio.get_running_loop().create_task(
            self._run_schedule(), name="callbox-backup-schedule"
        )

    def _clear_work(self) -> None:
        """Remove what a backup cut short by a stop left (an uploaded archive stays)."""
        if self.work_dir.is_dir():
            for entry in self.work_dir.iterdir():
                if entry.name != _UPLOAD:
                    _remove(entry)

    async def close(self) -> None:
        """Stop the schedule and give up the job in progress."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            await asyncio.gather(self._scheduler, return_exceptions=True)
            self._scheduler = None
        if self._job_task is not None:
            if self.job is not None:
                self.job.progress.cancelled = True
            await asyncio.gather(self._job_task, return_exceptions=True)
            self._job_task = None

    def _remember(self, run: store.RunRow) -> None:
        if run.finished_at is not None and run.ok is not None:
            self._last = LastBackup(
                run.finished_at, run.ok, run.trigger, run.archive, run.size, run.error
            )

    # --- settings and key ------------------------------------------------------------

    async def change(self, changes: dict[str, Any]) -> Settings:
        """Change some settings (validated); return them all."""
        values: dict[str, Any] = {}
        for name in ("enabled", "keep_daily", "keep_weekly", "webdav_user"):
            if name in changes:
                values[name] = changes[name]
        if "daily_at" in changes:
            try:
                schedule.parse_daily_at(changes["daily_at"])
            except ValueError as err:
                raise InvalidInput(f"daily_at must be a time of day, HH:MM ({err})") from err
            values["daily_at"] = changes["daily_at"]
        if "local_dir" in changes:
            values["local_dir"] = await asyncio.to_thread(
                check_local_dir, changes["local_dir"], self.data_dir
            )
        if "webdav_url" in changes:
            values["webdav_url"] = check_webdav_url(changes["webdav_url"])
            if not values["webdav_url"]:
                values.update(webdav_user="", webdav_sealed=None)
        if "webdav_password" in changes:
            password = changes["webdav_password"]
            values["webdav_sealed"] = self._sealer.seal(password) if password else None
        at = _ms(self.now())
        self._row = await self.db.write(lambda conn: store.change_settings(conn, values, at))
        self._wake.set()
        return self.settings

    async def new_key(self, *, replace: bool) -> archive.Keys:
        """Make the backup key; store its recipient only. Return the pair, shown once."""
        if self._row is not None and self._row.recipient and not replace:
            raise KeyExists("a backup key exists: replace it only on purpose")
        if self.busy():
            raise BackupConflict("a backup or restore is running")
        keys = await asyncio.to_thread(archive.new_keys)
        at = _ms(self.now())
        self._row = await self.db.write(lambda conn: store.set_recipient(conn, keys.recipient, at))
        self._wake.set()
        return keys

    # --- targets ---------------------------------------------------------------------

    def targets(self) -> list[Target]:
        """Return the targets in the order a backup fills them: off-box first."""
        found: list[Target] = []
        row = self._row
        if row is not None and row.webdav_url:
            found.append(
                WebDav(row.webdav_url, row.webdav_user, self._sealer.unseal(row.webdav_sealed))
            )
        found.append(LocalFolder(self.local_dir))
        return found

    def _target(self, kind: str) -> Target:
        for target in self.targets():
            if target.kind == kind:
                return target
        raise NotFound(f"no {kind} target is set up")

    async def archives(self) -> tuple[list[tuple[str, Stored]], list[tuple[str, str]]]:
        """Return every target's archives (kind, archive), newest first, and their errors."""
        found: list[tuple[str, Stored]] = []
        errors: list[tuple[str, str]] = []
        for target in self.targets():
            try:
                found += [(target.kind, a) for a in await target.archives()]
            except (TargetError, OSError) as err:
                errors.append((target.kind, str(err)))
        found.sort(key=lambda item: item[1].name, reverse=True)
        return found, errors

    # --- backups ---------------------------------------------------------------------

    def _start(self, job: Job, work: Callable[[Job], Any]) -> Job:
        if self.busy():
            raise BackupConflict("a backup or restore is running")
        self.job = job

        async def guarded() -> None:
            try:
                await work(job)
            except Exception as err:  # a full disk at the first write, say
                _LOGGER.exception("%s failed", job.kind)
                job.code, job.error = "failed", str(err) or type(err).__name__
            finally:
                if job.state == "running":  # it ended without saying how
                    job.state = "failed"
                    job.code = job.code or "cancelled"
                    job.finished_at = _ms(self.now())

        self._job_task = asyncio.get_running_loop().create_task(
            guarded(), name=f"callbox-{job.kind}"
        )
        return job

    def start_backup(self, trigger: str = "manual") -> Job:
        """Start a backup now; raise if one is running or there is no key."""
        if self._row is None or not self._row.recipient:
            raise NoKey("make the backup key first (the emergency kit)")
        return self._start(Job("backup", trigger, _ms(self.now())), self._backup)

    async def wait(self) -> Job | None:
        """Wait for the job in progress to end; return it."""
        if self._job_task is not None:
            await asyncio.gather(asyncio.shield(self._job_task), return_exceptions=True)
        return self.job

    async def _backup(self, job: Job) -> None:
        row = self._row
        assert row is not None
        run_id = await self.db.write(lambda conn: store.start_run(conn, job.source, job.started_at))
        self._last_started = job.started_at
        work = self.work_dir
        copy = work / "snapshot.db"
        name = schedule.archive_name(self.box, self.now())
        made = work / name
        results: list[dict[str, Any]] = []
        try:
            await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True, mode=0o700)
            await asyncio.to_thread(_remove, copy)
            await asyncio.to_thread(archive.snapshot, self.db.path, copy, job.progress, 0.0, FLUSH)
            manifest = archive.Manifest(
                format=archive.FORMAT,
                box=self.box,
                created_at=job.started_at,
                version=__version__,
                schema=await asyncio.to_thread(archive.schema_of, copy),
            )
            job.size = await asyncio.to_thread(
                archive.write_archive,
                self.data_dir,
                copy,
                manifest,
                row.recipient,
                made,
                job.progress,
                skip={self.local_dir},
                pause=PAUSE,
                flush=FLUSH,
            )
            job.archive = name
            await asyncio.to_thread(_remove, copy)
            for target in self.targets():
                results.append(await self._deliver(target, made, name, job))
            failed = [r for r in results if not r["ok"]]
            if failed:
                job.code = "target"
                job.error = "; ".join(f"{r['target']}: {r['error']}" for r in failed)
        except Exception as err:
            job.code = "cancelled" if isinstance(err, archive.Cancelled) else "failed"
            # A run the stop cut short is not a served slot: the next start catches up.
            job.error = store.INTERRUPTED if job.code == "cancelled" else str(err) or repr(err)
            if job.code == "failed":
                _LOGGER.exception("backup failed")
        finally:
            await asyncio.to_thread(_remove, copy)
            await asyncio.to_thread(_remove, made)
        await self._finish(job, run_id, results)

    async def _deliver(self, target: Target, made: Path, name: str, job: Job) -> dict[str, Any]:
        job.progress.start(f"upload:{target.kind}", job.size)
        try:
            await target.put(made, name, job.progress)
        except (TargetError, OSError) as err:
            _LOGGER.warning("backup not stored on %s: %s", target.label, err)
            return {"target": target.kind, "ok": False, "error": str(err)}
        job.progress.start(f"prune:{target.kind}", 1)
        row = self._row
        assert row is not None
        try:
            names = [a.name for a in await target.archives()]
            zone = self.now().tzinfo or tzlocal()
            for old in schedule.to_prune(names, row.keep_daily, row.keep_weekly, zone):
                await target.delete(old)
        except (TargetError, OSError) as err:
            return {"target": target.kind, "ok": False, "error": f"stored; pruning failed: {err}"}
        return {"target": target.kind, "ok": True, "error": ""}

    async def _finish(self, job: Job, run_id: int, results: list[dict[str, Any]]) -> None:
        ok = not job.code
        at = _ms(self.now())
        targets = json.dumps(results)

        def record(conn: Any) -> None:
            store.finish_run(
                conn,
                run_id,
                at=at,
                ok=ok,
                archive=job.archive,
                size=job.size,
                error=job.error,
                targets=targets,
            )

        with contextlib.suppress(Exception):  # a stopping box may refuse the write
            await self.db.write(record)
        # Ended only once recorded: whoever sees the job done sees its run too.
        self._last = LastBackup(at, ok, job.source, job.archive, job.size, job.error)
        job.finished_at = at
        job.state = "done" if ok else "failed"
        if ok:
            _LOGGER.info("backup %s stored (%d bytes)", job.archive, job.size)
            self._retry_at = None  # any backup that worked serves a planned retry

    def _scheduled_due(self) -> bool:
        row = self._row
        if row is None or not row.enabled or not row.recipient or self.busy():
            return False
        now = self.now()
        if schedule.due(now, schedule.parse_daily_at(row.daily_at), self._served_until()):
            self._retries = 0  # a new slot: a failure before it is history
            return True
        return self._retry_at is not None and now >= self._retry_at

    def _after_scheduled(self, job: Job | None) -> None:
        """Plan a retry of a failed scheduled run; forget retries after one that worked."""
        self._retry_at = None
        if job is None or job.state == "done" or job.code == "cancelled":
            self._retries = 0
            return
        self._retries += 1
        if self._retries <= RETRIES:
            self._retry_at = self.now() + self.retry_after
            _LOGGER.warning(
                "scheduled backup failed (%s); trying again at %s (%d of %d)",
                job.error,
                self._retry_at.isoformat(timespec="minutes"),
                self._retries,
                RETRIES,
            )

    async def _run_schedule(self) -> None:
        while True:
            try:
                if self._scheduled_due():
                    job = self.start_backup("schedule")
                    await self.wait()
                    self._after_scheduled(job)
            except Exception:
                _LOGGER.exception("scheduled backup could not start")
            self._wake.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
            # lands as the event is set, and close() then waited forever (found here).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick):
                    await self._wake.wait()

    # --- restores --------------------------------------------------------------------

    @property
    def upload_path(self) -> Path:
        """Return where an uploaded archive waits for its restore."""
        return self.work_dir / _UPLOAD

    async def save_upload(self, chunks: AsyncIterator[bytes]) -> int:
        """Store an uploaded archive (streamed); return its size."""
        if self.busy():
            raise BackupConflict("a backup or restore is running")
        await asyncio.to_thread(self.work_dir.mkdir, parents=True, exist_ok=True, mode=0o700)
        part = self.upload_path.with_name(f".{_UPLOAD}.part")
        size = 0
        head = b""
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    if len(head) < len(archive.AGE_HEADER):
                        head += chunk[: len(archive.AGE_HEADER)]
                        if not archive.AGE_HEADER.startswith(head[: len(archive.AGE_HEADER)]):
                            raise NotABackup("not an age-encrypted archive (.tar.age)")
                    await asyncio.to_thread(out.write, chunk)
                    size += len(chunk)
            if not head.startswith(archive.AGE_HEADER):
                raise NotABackup("not an age-encrypted archive (.tar.age)")
            await asyncio.to_thread(os.replace, part, self.upload_path)
        except BaseException:
            await asyncio.to_thread(_remove, part)
            raise
        return size

    def start_restore(
        self,
        key: str,
        source: str,
        name: str = "",
        on_ready: Callable[[], None] | None = None,
        asked_by: tuple[str, str] = ("", ""),
    ) -> Job:
        """Start checking an archive for a restore; `on_ready` runs once it passed.

        `asked_by` (name, address) goes to the restored box's audit log.
        """
        try:
            identity = archive.read_identity(key)
        except archive.ArchiveRefused as err:
            raise KeyInvalid(err.message) from err
        if source == "upload":
            if not self.upload_path.is_file():
                raise NotFound("upload the archive first")
            name = ""
        elif schedule.read_name(name) is None:
            raise InvalidInput("name must be the name of an archive on the target")
        target = None if source == "upload" else self._target(source)
        job = Job("restore", source, _ms(self.now()), archive=name)

        async def work(job: Job) -> None:
            await self._restore(job, identity, target, on_ready, asked_by)

        return self._start(job, work)

    async def _restore(
        self,
        job: Job,
        identity: Any,
        target: Target | None,
        on_ready: Callable[[], None] | None,
        asked_by: tuple[str, str],
    ) -> None:
        fetched: Path | None = None
        try:
            await asyncio.to_thread(restore.clear_staged, self.data_dir)
            if target is None:
                path = self.upload_path
            else:
                job.progress.start(f"download:{target.kind}")
                fetched = self.work_dir / job.archive
                path = await target.fetch(job.archive, fetched, job.progress)
                if path != fetched:
                    fetched = None
            manifest = await asyncio.to_thread(
                archive.unpack, path, identity, restore.staged(self.data_dir), job.progress
            )
            await asyncio.to_thread(
                restore.mark_checked,
                self.data_dir,
                job.archive,
                manifest.box,
                manifest.created_at,
                *asked_by,
            )
        except (archive.ArchiveRefused, archive.Cancelled, TargetError, OSError) as err:
            await asyncio.to_thread(restore.clear_staged, self.data_dir)
            job.code = getattr(err, "code", "target" if isinstance(err, TargetError) else "failed")
            job.error = str(err)
            job.state = "failed"
            _LOGGER.warning("restore refused: %s", err)
            return
        except BaseException:
            await asyncio.to_thread(restore.clear_staged, self.data_dir)
            raise
        finally:
            job.finished_at = _ms(self.now())
            if fetched is not None:
                await asyncio.to_thread(_remove, fetched)
        if target is None:
            await asyncio.to_thread(_remove, self.upload_path)
        job.state = "done"
        job.progress.start("restart", 1)
        _LOGGER.warning("restore of %s checked: the box switches to it as it restarts", job.archive)
        if on_ready is not None:
            on_ready()

    async def remove_previous(self) -> restore.RestoreStatus:
        """Delete the data the last restore replaced."""
        try:
            return await asyncio.to_thread(restore.remove_previous, self.data_dir)
        except restore.RestoreError as err:
            raise NotFound(str(err)) from err
