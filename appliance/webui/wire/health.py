"""Shapes of the box's health on the wire (GET /api/admin/health)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.webui.wire import Time

HealthWarning = Literal[
    "storage_failing",
    "disk_low",
    "tunnel_down",
    "certificate_missing",
    "certificate_unreadable",
    "certificate_expiring",
    "certificate_expired",
    "backup_failed",
]
Bytes = Annotated[int, msgspec.Meta(ge=0)]


class StorageHealth(msgspec.Struct):
    """Whether writes reach the disk; `since` is when they stopped."""

    ok: bool
    error: str
    since: Time | None
    failures: int


class RelayHealth(msgspec.Struct):
    """The tunnel's state as the box sees it; `last_ok` is the relay's latest answer."""

    state: Literal["down", "up", "degraded"]
    error: str
    last_ok: Time | None = None
    firewall: str = ""


class DiskHealth(msgspec.Struct):
    """The data folder's filesystem; `low` under 1 GiB or 5 % free."""

    free_bytes: Bytes
    total_bytes: Bytes
    low: bool


class DatabaseHealth(msgspec.Struct):
    """The database file and its write-ahead log (the WAL shrinks at checkpoints)."""

    db_bytes: Bytes
    wal_bytes: Bytes


class CertificateHealth(msgspec.Struct):
    """The visitor certificate: the names it covers, until when, and the warning."""

    names: list[str]
    not_after: Time | None
    days_left: int | None
    warning: bool
    error: str


class BackupHealth(msgspec.Struct):
    """The latest backup run as the backup service reports it."""

    at: Time
    ok: bool
    summary: str
    last_ok_at: Time | None


class LogLine(msgspec.Struct):
    """A recent warning or error, scrubbed (docs/it-guide.md, "Health and metrics")."""

    at: Time
    level: str
    logger: str
    text: str
    count: Annotated[int, msgspec.Meta(ge=1, description="times in a row, `at` the latest")]


class Health(msgspec.Struct):
    """The box's health. `status` is `degraded` whenever `warnings` is not empty."""

    status: Literal["ok", "degraded"]
    warnings: list[HealthWarning]
    version: str
    started_at: Time
    uptime_seconds: Annotated[int, msgspec.Meta(ge=0)]
    storage: StorageHealth
    disk: DiskHealth
    database: DatabaseHealth
    relay: RelayHealth | None
    certificate: CertificateHealth | None
    backup: BackupHealth | None
    log: list[LogLine]
