"""The box's record of staff devices (the relay holds the routing copy)."""

from __future__ import annotations

import sqlite3

from appliance.core import audit
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.store import devices as store
from appliance.core.store.devices import Device as Device


class Devices:
    """Staff devices: add, revoke, list."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, name: str, public_key: str, address: str, *, by: audit.Actor | None = None
    ) -> None:
        """Record a new device (a revoked one of the same name is replaced)."""
        now = now_ms()

        def insert(conn: sqlite3.Connection) -> None:
            store.upsert(conn, name, public_key, address, now)
            if by is not None:
                audit.record(conn, by, "device.add", name, {"address": address})

        await self._db.write(insert)

    async def revoke(self, name: str, *, by: audit.Actor | None = None) -> bool:
        """Mark a device revoked; tell whether it was active."""
        now = now_ms()

        def mark(conn: sqlite3.Connection) -> bool:
            active = store.revoke(conn, name, now)
            if active and by is not None:
                audit.record(conn, by, "device.revoke", name)
            return active

        return await self._db.write(mark)

    async def list(self) -> list[Device]:
        """Return every device, newest first."""
        return await self._db.read(store.newest_first)
