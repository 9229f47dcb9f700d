"""Facts about the box itself for the health page and /metrics: disk, database files,
the process, and the last backup as the backup service reports it.

The backup service plugs in through `BackupStatusSource`: an object with
`async last_backup() -> BackupStatus | None`, set as `Box.backup_status`. Until one is
set the health page says "no backup yet" and raises no warning about it.
"""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from appliance.core.store import conversations, sla, tickets

DISK_LOW_BYTES = 1 << 30  # free space below this is a warning
DISK_LOW_SHARE = 0.05  # and so is less than this share of the filesystem free


@dataclass(frozen=True, slots=True)
class BackupStatus:
    """The latest backup run as the backup service saw it; times in UTC ms."""

    at: int  # when the run ended
    ok: bool  # whether it produced a complete archive (and copied it to every target)
    summary: str = ""  # one line for people: size and target, or what went wrong
    last_ok_at: int | None = None  # the latest run that succeeded (this one, if ok)


class BackupStatusSource(Protocol):
    """What the health code asks of the backup service (set as `Box.backup_status`)."""

    async def last_backup(self) -> BackupStatus | None:
        """Return the latest backup run, or None before the first."""
        ...


@dataclass(frozen=True, slots=True)
class Storage:
    """The data folder's filesystem and the database's files, in bytes."""

    disk_free: int
    disk_total: int
    db_bytes: int
    wal_bytes: int

    @property
    def disk_low(self) -> bool:
        """Tell whether free space is short: under 1 GiB, or under 5 % of the disk."""
        return self.disk_free < DISK_LOW_BYTES or (
            self.disk_total > 0 and self.disk_free < self.disk_total * DISK_LOW_SHARE
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def storage(data_dir: Path, db_path: Path) -> Storage:
    """Measure the data folder's filesystem and the database files (blocking: a thread)."""
    usage = shutil.disk_usage(data_dir)
    wal = db_path.with_name(db_path.name + "-wal")
    return Storage(usage.free, usage.total, _size(db_path), _size(wal))


@dataclass(frozen=True, slots=True)
class Process:
    """The appliance process: resident memory and open file descriptors."""

    rss_bytes: int
    open_fds: int


def process() -> Process:
    """Measure this process (Linux /proc; elsewhere the peak RSS and no descriptor count)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            rss = int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        fds = -1
    return Process(rss, fds)


@dataclass(frozen=True, slots=True)
class Work:
    """How much work the box holds now, and the SLA breaches so far."""

    waiting_chats: int
    open_tickets: int
    sla_breaches: int


def work(conn: sqlite3.Connection) -> Work:
    """Count waiting chats, unfinished tickets and breached SLA clocks (one snapshot)."""
    return Work(
        conversations.count_waiting(conn),
        tickets.count_unfinished(conn),
        sla.count_breached(conn),
    )
