"""The box's record of staff devices (the relay holds the routing copy)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from appliance.core.clock import now_ms
from appliance.core.db import Database


@dataclass(frozen=True, slots=True)
class Device:
    """A staff device."""

    name: str
    public_key: str
    address: str
    created_at: int
    revoked_at: int | None


class Devices:
    """Store of staff devices."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, name: str, public_key: str, address: str) -> None:
        """Record a new device (a revoked one of the same name is replaced)."""

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO staff_devices (name, public_key, address, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " public_key = excluded.public_key, address = excluded.address,"
                " created_at = excluded.created_at, revoked_at = NULL",
                (name, public_key, address, now_ms()),
            )

        await self._db.write(job)

    async def revoke(self, name: str) -> bool:
        """Mark a device revoked; tell whether it was active."""

        def job(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE staff_devices SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (now_ms(), name),
            )
            return cursor.rowcount > 0

        return await self._db.write(job)

    async def list(self) -> list[Device]:
        """Return every device, newest first."""
        rows = await self._db.fetchall(
            "SELECT name, public_key, address, created_at, revoked_at FROM staff_devices"
            " ORDER BY created_at DESC"
        )
        return [Device(*row) for row in rows]
