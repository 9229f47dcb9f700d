"""Store of the backup_settings and backup_runs tables."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

_KEEP_RUNS = 200  # rows of history kept
INTERRUPTED = "the box stopped during the backup"
_SETTINGS = (
    "recipient, key_created_at, enabled, daily_at, keep_daily, keep_weekly, local_dir,"
    " webdav_url, webdav_user, webdav_sealed"
)
_RUN = "id, trigger, started_at, finished_at, ok, archive, size, error, targets"
# Columns a settings change may write (the rest have their own statements).
SETTING_COLUMNS = frozenset(
    {
        "enabled",
        "daily_at",
        "keep_daily",
        "keep_weekly",
        "local_dir",
        "webdav_url",
        "webdav_user",
        "webdav_sealed",
    }
)


@dataclass(frozen=True, slots=True)
class SettingsRow:
    """The backup settings as stored."""

    recipient: str
    key_created_at: int | None
    enabled: bool
    daily_at: str
    keep_daily: int
    keep_weekly: int
    local_dir: str
    webdav_url: str
    webdav_user: str
    webdav_sealed: bytes | None


@dataclass(frozen=True, slots=True)
class RunRow:
    """One backup run as stored; `ok` is None while it runs (or if the box stopped)."""

    id: int
    trigger: str
    started_at: int
    finished_at: int | None
    ok: bool | None
    archive: str
    size: int
    error: str
    targets: str  # JSON list of {target, ok, error}


def _run(row: Any) -> RunRow:
    ok = None if row[4] is None else bool(row[4])
    return RunRow(row[0], row[1], row[2], row[3], ok, row[5], row[6], row[7], row[8])


def settings(conn: sqlite3.Connection) -> SettingsRow:
    """Return the one row of backup settings."""
    row = conn.execute(f"SELECT {_SETTINGS} FROM backup_settings WHERE id = 1").fetchone()
    return SettingsRow(
        row[0], row[1], bool(row[2]), row[3], row[4], row[5], row[6], row[7], row[8], row[9]
    )


def change_settings(conn: sqlite3.Connection, changes: dict[str, Any], at: int) -> SettingsRow:
    """Write some settings (names from SETTING_COLUMNS); return them all."""
    assert set(changes) <= SETTING_COLUMNS, set(changes) - SETTING_COLUMNS
    if changes:
        columns = ", ".join(f"{name} = :{name}" for name in sorted(changes))
        conn.execute(
            f"UPDATE backup_settings SET {columns}, updated_at = :at WHERE id = 1",
            {**changes, "at": at},
        )
    return settings(conn)


def set_recipient(conn: sqlite3.Connection, recipient: str, at: int) -> SettingsRow:
    """Store a new key's recipient (the public half) and when it was made."""
    conn.execute(
        "UPDATE backup_settings SET recipient = ?, key_created_at = ?, updated_at = ? WHERE id = 1",
        (recipient, at, at),
    )
    return settings(conn)


def start_run(conn: sqlite3.Connection, trigger: str, at: int) -> int:
    """Record a run that starts now; return its id (the oldest rows past the cap go)."""
    cursor = conn.execute(
        "INSERT INTO backup_runs (trigger, started_at) VALUES (?, ?)", (trigger, at)
    )
    run_id = cursor.lastrowid
    assert run_id is not None
    conn.execute(
        "DELETE FROM backup_runs WHERE id <= (SELECT id FROM backup_runs ORDER BY id DESC"
        " LIMIT 1 OFFSET ?)",
        (_KEEP_RUNS,),
    )
    return run_id


def finish_run(
    conn: sqlite3.Connection,
    run_id: int,
    *,
    at: int,
    ok: bool,
    archive: str,
    size: int,
    error: str,
    targets: str,
) -> None:
    """Record how a run ended."""
    conn.execute(
        "UPDATE backup_runs SET finished_at = ?, ok = ?, archive = ?, size = ?, error = ?,"
        " targets = ? WHERE id = ?",
        (at, int(ok), archive, size, error[:2000], targets[:4000], run_id),
    )


def recent_runs(conn: sqlite3.Connection, limit: int) -> list[RunRow]:
    """Return the newest runs, the newest first."""
    rows = conn.execute(f"SELECT {_RUN} FROM backup_runs ORDER BY id DESC LIMIT ?", (limit,))
    return [_run(r) for r in rows]


def last_started(conn: sqlite3.Connection) -> int | None:
    """Return when the newest run started (UTC ms), or None before the first.

    A run the box's stop cut short does not count: the schedule catches up on it.
    """
    row = conn.execute(
        "SELECT max(started_at) FROM backup_runs WHERE NOT (ok = 0 AND error = ?)",
        (INTERRUPTED,),
    ).fetchone()
    return None if row[0] is None else int(row[0])


def last_finished(conn: sqlite3.Connection) -> RunRow | None:
    """Return the newest run that has ended, or None."""
    row = conn.execute(
        f"SELECT {_RUN} FROM backup_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else _run(row)


def end_interrupted(conn: sqlite3.Connection, at: int) -> None:
    """Mark runs that never ended (the box stopped during them) as failed."""
    conn.execute(
        "UPDATE backup_runs SET finished_at = ?, ok = 0, error = ? WHERE finished_at IS NULL",
        (at, INTERRUPTED),
    )
