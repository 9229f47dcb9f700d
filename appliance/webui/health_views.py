"""The box's health on the admin page and as JSON: version, uptime, disk, database,
tunnel, certificate, last backup and the recent warnings and errors of the log.

Each app keeps a `Vitals` (its start time and the log ring); the ring listens to the
root logger while the app runs (`vitals_ctx`), so it holds what this box logged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from appliance import __version__
from appliance.core import health as core
from appliance.core.logring import LogRing
from appliance.relay.certstatus import WARN_DAYS, CertificateState, visitor_certificate
from appliance.webui.contract import Contract, Operation, reply
from appliance.webui.keys import BOX, SETTINGS, TUNNEL
from appliance.webui.wire import health as wire
from appliance.webui.wire import wire_time

_DAY_MS = 86_400_000
REFRESH_MS = 15_000  # ms between two reports the admin page fetches by itself


@dataclass
class Vitals:
    """What an app knows of its own run: when it started, and its recent warnings."""

    started: float = field(default_factory=time.time)  # s, Unix time
    ring: LogRing = field(default_factory=LogRing)

    @property
    def uptime(self) -> float:
        """Return the seconds since the app started."""
        return max(0.0, time.time() - self.started)


VITALS = web.AppKey("vitals", Vitals)


async def vitals_ctx(app: web.Application) -> AsyncIterator[None]:
    """Collect the process's warnings and errors into the app's ring while it runs."""
    ring = app[VITALS].ring
    ring.attach()
    try:
        yield
    finally:
        ring.detach()


@dataclass(frozen=True, slots=True)
class _Files:
    """What is read from disk for a report (in one thread hop)."""

    storage: core.Storage
    certificate: CertificateState | None


def _certificate(state: CertificateState | None, now_ms: int) -> wire.CertificateHealth | None:
    if state is None:
        return None
    if state.error:
        return wire.CertificateHealth([], None, None, True, state.error)
    days = (state.not_after - now_ms) // _DAY_MS
    return wire.CertificateHealth(
        state.names, wire_time(state.not_after), days, days < WARN_DAYS, ""
    )


def _relay(request: web.Request) -> wire.RelayHealth | None:
    tunnel = request.app[TUNNEL][0]
    if tunnel is None:
        return None
    status = tunnel.status
    state = status.state if status.state in ("down", "up", "degraded") else "down"
    last_ok = wire_time(int(status.last_ok * 1000)) if status.last_ok else None
    return wire.RelayHealth(state, status.error, last_ok, status.firewall)  # type: ignore[arg-type]


def _warnings(report: wire.Health) -> list[wire.HealthWarning]:
    found: list[wire.HealthWarning] = []
    if not report.storage.ok:
        found.append("storage_failing")
    if report.disk.low:
        found.append("disk_low")
    if report.relay is not None:
        if report.relay.state != "up":
            found.append("tunnel_down")
        if report.certificate is None:
            found.append("certificate_missing")
    cert = report.certificate
    if cert is not None:
        if cert.error:
            found.append("certificate_unreadable")
        elif cert.days_left is not None and cert.days_left < 0:
            found.append("certificate_expired")
        elif cert.warning:
            found.append("certificate_expiring")
    if report.backup is not None and not report.backup.ok:
        found.append("backup_failed")
    return found


async def health_report(request: web.Request) -> wire.Health:
    """Return the box's health now."""
    box = request.app[BOX]
    settings = request.app[SETTINGS]
    vitals = request.app[VITALS]

    def read_files() -> _Files:
        return _Files(
            core.storage(settings.data_dir, settings.db_path),
            visitor_certificate(settings.data_dir),
        )

    files = await asyncio.to_thread(read_files)
    now = time.time_ns() // 1_000_000
    storage = box.db.storage
    backup = await box.backup_status.last_backup() if box.backup_status is not None else None
    report = wire.Health(
        status="ok",
        warnings=[],
        version=__version__,
        started_at=wire_time(int(vitals.started * 1000)),
        uptime_seconds=int(vitals.uptime),
        storage=wire.StorageHealth(
            storage.ok, storage.error, wire_time(storage.since), storage.failures
        ),
        disk=wire.DiskHealth(
            files.storage.disk_free, files.storage.disk_total, files.storage.disk_low
        ),
        database=wire.DatabaseHealth(files.storage.db_bytes, files.storage.wal_bytes),
        relay=_relay(request),
        certificate=_certificate(files.certificate, now),
        backup=(
            wire.BackupHealth(
                wire_time(backup.at), backup.ok, backup.summary, wire_time(backup.last_ok_at)
            )
            if backup is not None
            else None
        ),
        log=[
            wire.LogLine(wire_time(e.at), e.level, e.logger, e.text, e.count)
            for e in vitals.ring.recent()
        ],
    )
    report.warnings = _warnings(report)
    report.status = "degraded" if report.warnings else "ok"
    return report


async def page_context(request: web.Request) -> dict[str, Any]:
    """Return what the admin page's templates need of the health card."""
    return {"health": await health_report(request), "health_refresh_ms": REFRESH_MS}


async def get_health(request: web.Request) -> web.Response:
    """Return the box's health: what works, what needs IT, and the recent warnings."""
    return reply(await health_report(request))


CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/admin/health",
            get_health,
            "The box's health: version, uptime, disk, database, tunnel, certificate, "
            "backup and recent warnings",
            "admin",
            wire.Health,
            errors=(401, 403),
            description="Admins only (else 403), from the LAN only. `status` is `degraded` "
            "whenever `warnings` names something: `storage_failing` (the disk is full or "
            "failing: writes are refused with 503 `storage_full` and nothing acknowledged "
            "is lost), `disk_low` (under 1 GiB or 5 % free), `tunnel_down`, "
            "`certificate_missing` (enrolled, no visitor certificate yet), "
            "`certificate_unreadable`, `certificate_expiring` (in under 21 days), "
            "`certificate_expired`, `backup_failed` (the latest run). `relay` and "
            "`certificate` are null on a box that is not enrolled; `backup` is null "
            "before the first backup. `log` holds up to 200 recent warnings and errors, "
            "newest first, scrubbed: the format string with its arguments summarised, "
            "never a message body, key, token or password.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the health route and the app's vitals."""
    app[VITALS] = Vitals()
    app.cleanup_ctx.append(vitals_ctx)
    CONTRACT.install(app)
