"""The box's record of staff devices (the relay holds the routing copy)."""

from __future__ import annotations

from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.store import devices as store
from appliance.core.store.devices import Device as Device


class Devices:
    """Staff devices: add, revoke, list."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, name: str, public_key: str, address: str) -> None:
        """Record a new device (a revoked one of the same name is replaced)."""
        now = now_ms()
        await self._db.write(lambda conn: store.upsert(conn, name, public_key, address, now))

    async def revoke(self, name: str) -> bool:
        """Mark a device revoked; tell whether it was active."""
        now = now_ms()
        return await self._db.write(lambda conn: store.revoke(conn, name, now))

    async def list(self) -> list[Device]:
        """Return every device, newest first."""
        return await self._db.read(store.newest_first)
