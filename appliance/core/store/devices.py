"""Store of the staff_devices table: the box's record of staff devices."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Device:
    """A staff device; times in UTC milliseconds."""

    name: str
    public_key: str
    address: str
    created_at: int
    revoked_at: int | None


def upsert(conn: sqlite3.Connection, name: str, public_key: str, address: str, now: int) -> None:
    """Record a device (a revoked one of the same name is replaced)."""
    conn.execute(
        "INSERT INTO staff_devices (name, public_key, address, created_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
        " public_key = excluded.public_key, address = excluded.address,"
        " created_at = excluded.created_at, revoked_at = NULL",
        (name, public_key, address, now),
    )


def revoke(conn: sqlite3.Connection, name: str, now: int) -> bool:
    """Mark a device revoked; tell whether it was active."""
    cursor = conn.execute(
        "UPDATE staff_devices SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        (now, name),
    )
    return cursor.rowcount > 0


def newest_first(conn: sqlite3.Connection) -> list[Device]:
    """Return every device, newest first."""
    rows = conn.execute(
        "SELECT name, public_key, address, created_at, revoked_at FROM staff_devices"
        " ORDER BY created_at DESC"
    )
    return [Device(*row) for row in rows]
