"""Store of the staff_devices table: the box's record of staff devices."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

_COLUMNS = "name, public_key, address, created_at, revoked_at, owner, expires_at, renewed_at"


@dataclass(frozen=True, slots=True)
class Device:
    """A staff device; times in UTC milliseconds."""

    name: str
    public_key: str
    address: str
    created_at: int
    revoked_at: int | None
    owner: str = ""
    expires_at: int | None = None  # None only for a row the upgrade could not date
    renewed_at: int | None = None

    def state(self, now: int) -> str:
        """Return "active", "expired" or "revoked" at `now` (UTC ms)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


def upsert(
    conn: sqlite3.Connection,
    name: str,
    public_key: str,
    address: str,
    now: int,
    *,
    owner: str = "",
    expires_at: int | None = None,
) -> None:
    """Record a device (a revoked one of the same name is replaced)."""
    conn.execute(
        "INSERT INTO staff_devices (name, public_key, address, created_at, owner, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
        " public_key = excluded.public_key, address = excluded.address,"
        " created_at = excluded.created_at, revoked_at = NULL, owner = excluded.owner,"
        " expires_at = excluded.expires_at, renewed_at = NULL",
        (name, public_key, address, now, owner, expires_at),
    )


def revoke(conn: sqlite3.Connection, name: str, now: int) -> bool:
    """Mark a device revoked; tell whether it was active."""
    cursor = conn.execute(
        "UPDATE staff_devices SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        (now, name),
    )
    return cursor.rowcount > 0


def renew(conn: sqlite3.Connection, name: str, expires_at: int, now: int) -> Device | None:
    """Set a device's new expiry; None when there is no such device or it is revoked."""
    row = conn.execute(
        "UPDATE staff_devices SET expires_at = ?, renewed_at = ?"
        f" WHERE name = ? AND revoked_at IS NULL RETURNING {_COLUMNS}",
        (expires_at, now, name),
    ).fetchone()
    return Device(*row) if row is not None else None


def one(conn: sqlite3.Connection, name: str) -> Device | None:
    """Return a device by name."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM staff_devices WHERE name = ?", (name,)).fetchone()
    return Device(*row) if row is not None else None


def newest_first(conn: sqlite3.Connection) -> list[Device]:
    """Return every device, newest first."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM staff_devices ORDER BY created_at DESC, name")
    return [Device(*row) for row in rows]


def unrevoked(conn: sqlite3.Connection) -> list[Device]:
    """Return the devices not revoked (active or expired)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM staff_devices WHERE revoked_at IS NULL")
    return [Device(*row) for row in rows]
