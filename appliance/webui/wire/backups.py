"""Shapes of the backups API: settings, the key, runs, the job in progress, restores."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from appliance.core import backup as core
from appliance.core.backup_settings import Settings
from appliance.core.restore import RestoreStatus
from appliance.core.store.backups import RunRow
from appliance.webui.wire import Time, wire_time

DailyAt = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="a local time of day, HH:MM (24 h)",
    ),
]
KeepDaily = Annotated[int, msgspec.Meta(ge=1, le=366, description="daily archives kept")]
KeepWeekly = Annotated[int, msgspec.Meta(ge=0, le=520, description="weekly archives kept")]
LocalDir = Annotated[
    str,
    msgspec.Meta(
        max_length=1024, description="an absolute folder; '' = the data folder's backups/"
    ),
]
WebDavUrl = Annotated[str, msgspec.Meta(max_length=2048)]
WebDavUser = Annotated[str, msgspec.Meta(max_length=256)]
WebDavPassword = Annotated[str, msgspec.Meta(max_length=1024)]
ArchiveName = Annotated[
    str,
    msgspec.Meta(
        max_length=200,
        pattern=r"^callbox-[a-z0-9][a-z0-9-]{0,62}-[0-9]{8}T[0-9]{6}Z\.tar\.age$",
        description="an archive's file name, callbox-BOX-YYYYMMDDTHHMMSSZ.tar.age",
    ),
]
Key = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=4096,
        description="the emergency kit's key (AGE-SECRET-KEY-1…), or a key file's text",
    ),
]
TargetKind = Literal["local", "webdav"]


class BackupSettings(msgspec.Struct):
    """The backup settings; the WebDAV password is never answered, only whether it is set."""

    enabled: bool
    daily_at: DailyAt
    keep_daily: KeepDaily
    keep_weekly: KeepWeekly
    local_dir: LocalDir
    local_folder: str  # the folder in use (local_dir, or the default)
    webdav_url: WebDavUrl
    webdav_user: WebDavUser
    webdav_password_set: bool


class BackupSettingsChange(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Any subset of the backup settings; the others stay. An empty password removes it."""

    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    daily_at: DailyAt | msgspec.UnsetType = msgspec.UNSET
    keep_daily: KeepDaily | msgspec.UnsetType = msgspec.UNSET
    keep_weekly: KeepWeekly | msgspec.UnsetType = msgspec.UNSET
    local_dir: LocalDir | msgspec.UnsetType = msgspec.UNSET
    webdav_url: WebDavUrl | msgspec.UnsetType = msgspec.UNSET
    webdav_user: WebDavUser | msgspec.UnsetType = msgspec.UNSET
    webdav_password: WebDavPassword | msgspec.UnsetType = msgspec.UNSET


class KeyState(msgspec.Struct):
    """Whether backups have a key; only its public half (the recipient) is kept."""

    ready: bool
    recipient: str
    created_at: Time | None


class Progress(msgspec.Struct):
    """What the job has done: a phase and bytes (or steps) of a total (0 = unknown)."""

    phase: str
    done: int
    total: int


class Job(msgspec.Struct):
    """A backup or a restore's check, running or just ended."""

    kind: Literal["backup", "restore"]
    source: Literal["schedule", "manual", "upload", "local", "webdav"]
    state: Literal["running", "done", "failed"]
    started_at: Time
    finished_at: Time | None
    progress: Progress
    code: str
    error: str
    archive: str
    size: int


class TargetResult(msgspec.Struct):
    """How a run went on one target."""

    target: TargetKind
    ok: bool
    error: str


class Run(msgspec.Struct):
    """One backup run; `ok` is null while it runs."""

    id: int
    trigger: Literal["schedule", "manual"]
    started_at: Time
    finished_at: Time | None
    ok: bool | None
    archive: str
    size: int
    error: str
    targets: list[TargetResult]


class Restore(msgspec.Struct):
    """The last restore of this box's data folder."""

    state: Literal["swapping", "moving_in", "applied", "started", "rolled_back", "undone"]
    archive: str
    box: str
    created_at: Time | None
    previous: str  # folder in the data folder holding the data it replaced ('' = none)
    failed: str
    at: Time | None
    error: str


class BackupState(msgspec.Struct):
    """Everything the admin page shows of backups."""

    box: str
    key: KeyState
    settings: BackupSettings
    targets: list[TargetKind]
    next_run: Time | None
    job: Job | None
    runs: list[Run]
    restore: Restore | None
    restore_pending: bool
    upload_ready: bool


class NewKeyRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Make the backup key; `replace` must be true when one exists."""

    replace: bool = False


class NewKey(msgspec.Struct):
    """The emergency kit: the key is in this answer only and is never stored on the box."""

    identity: str
    recipient: str
    box: str
    created_at: Time


class Archive(msgspec.Struct):
    """An archive on a target."""

    target: TargetKind
    name: str
    size: int
    created_at: Time | None


class TargetProblem(msgspec.Struct):
    """A target that could not be listed."""

    target: TargetKind
    error: str


class Archives(msgspec.Struct):
    """The archives of every target, newest first, and the targets that failed."""

    archives: list[Archive]
    errors: list[TargetProblem]


class Upload(msgspec.Struct):
    """An uploaded archive, waiting for its restore."""

    size: int


class RestoreRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Restore from the uploaded archive or from one on a target, with its key."""

    key: Key
    source: Literal["upload", "local", "webdav"]
    name: ArchiveName | Literal[""] = ""


def _time(when: datetime | None) -> str | None:
    return wire_time(int(when.timestamp() * 1000)) if when is not None else None


def settings_out(settings: Settings, local_folder: str) -> BackupSettings:
    """Return the settings as the API shows them."""
    return BackupSettings(
        enabled=settings.enabled,
        daily_at=settings.daily_at,
        keep_daily=settings.keep_daily,
        keep_weekly=settings.keep_weekly,
        local_dir=settings.local_dir,
        local_folder=local_folder,
        webdav_url=settings.webdav_url,
        webdav_user=settings.webdav_user,
        webdav_password_set=settings.webdav_password_set,
    )


def job_out(job: core.Job) -> Job:
    """Return a job as the API shows it."""
    progress = job.progress
    return Job(
        kind=job.kind,  # type: ignore[arg-type]
        source=job.source,  # type: ignore[arg-type]
        state=job.state,  # type: ignore[arg-type]
        started_at=wire_time(job.started_at),
        finished_at=wire_time(job.finished_at),
        progress=Progress(progress.phase, progress.done, max(progress.total, progress.done)),
        code=job.code,
        error=job.error,
        archive=job.archive,
        size=job.size,
    )


def run_out(run: RunRow) -> Run:
    """Return a run as the API shows it."""
    try:
        targets = msgspec.convert(json.loads(run.targets), list[TargetResult])
    except (ValueError, msgspec.ValidationError):
        targets = []
    return Run(
        id=run.id,
        trigger=run.trigger,  # type: ignore[arg-type]
        started_at=wire_time(run.started_at),
        finished_at=wire_time(run.finished_at),
        ok=run.ok,
        archive=run.archive,
        size=run.size,
        error=run.error,
        targets=targets,
    )


def restore_out(status: RestoreStatus | None) -> Restore | None:
    """Return the last restore's journal as the API shows it."""
    if status is None:
        return None
    return Restore(
        state=status.state,  # type: ignore[arg-type]
        archive=status.archive,
        box=status.box,
        created_at=wire_time(status.created_at or None),
        previous=status.previous,
        failed=status.failed,
        at=wire_time(status.at or None),
        error=status.error,
    )


def next_run_out(when: datetime | None) -> str | None:
    """Return the next scheduled run as a wire time."""
    return _time(when)
