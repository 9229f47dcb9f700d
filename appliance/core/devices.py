"""The box's record of staff devices (the relay holds the routing copy).

Every device expires: `devices.expiry_days` (a box setting, 90 by default) after it
was added or last renewed. Past its expiry the box refuses it (webui/access.py) and
the relay drops its WireGuard peer on the relay's own clock. Revoking is for good; an
expired device comes back when renewed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from appliance.core import audit
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import InvalidInput, NotFound
from appliance.core.store import devices as store
from appliance.core.store import settings as settings_store
from appliance.core.store.devices import Device as Device

DAY_MS = 86_400_000
EXPIRY_DAYS_DEFAULT = 90
EXPIRY_DAYS_RANGE = (1, 3650)
OWNER_MAX = 100  # characters
_EXPIRY_KEY = "devices.expiry_days"


@dataclass(frozen=True, slots=True)
class Allowed:
    """What the box lets in from its staff subnet: address -> expiry (UTC ms)."""

    addresses: dict[str, int]


def check_days(days: object) -> int:
    """Validate a number of days a device stays valid."""
    low, high = EXPIRY_DAYS_RANGE
    if not isinstance(days, int) or isinstance(days, bool) or not low <= days <= high:
        raise InvalidInput(f"expiry days must be a whole number between {low} and {high}")
    return days


def check_owner(owner: object) -> str:
    """Validate the name of a device's owner (free text, one line)."""
    if not isinstance(owner, str):
        raise InvalidInput("owner must be text")
    owner = owner.strip()
    if len(owner) > OWNER_MAX or any(ord(ch) < 32 or ord(ch) == 127 for ch in owner):
        raise InvalidInput(f"owner: one line of at most {OWNER_MAX} characters")
    return owner


class Devices:
    """Staff devices: add, renew, revoke, list; the clock is injectable for tests."""

    def __init__(self, db: Database, clock: Callable[[], int] = now_ms) -> None:
        self._db = db
        self.clock = clock  # UTC ms

    async def expiry_days(self) -> int:
        """Return how many days a new or renewed device stays valid by default."""
        stored = await self._db.read(partial(settings_store.values, prefix=_EXPIRY_KEY))
        text = stored.get(_EXPIRY_KEY, "")
        low, high = EXPIRY_DAYS_RANGE
        if text.isdigit() and low <= int(text) <= high:
            return int(text)
        return EXPIRY_DAYS_DEFAULT

    async def set_expiry_days(self, days: object) -> int:
        """Change the default validity of new and renewed devices."""
        checked = check_days(days)
        await self._db.write(lambda conn: settings_store.save(conn, [(_EXPIRY_KEY, str(checked))]))
        return checked

    async def expiry(self, days: object | None) -> int:
        """Return the expiry (UTC ms) of a device valid for `days` (default: the setting)."""
        valid = await self.expiry_days() if days is None else check_days(days)
        return self.clock() + valid * DAY_MS

    async def add(
        self,
        name: str,
        public_key: str,
        address: str,
        *,
        owner: str = "",
        expires_at: int,
        by: audit.Actor | None = None,
    ) -> Device:
        """Record a new device (a revoked one of the same name is replaced)."""
        now = self.clock()
        owner = check_owner(owner)

        def write(conn: sqlite3.Connection) -> Device:
            store.upsert(conn, name, public_key, address, now, owner=owner, expires_at=expires_at)
            device = store.one(conn, name)
            assert device is not None
            if by is not None:
                audit.record(conn, by, "device.add", name, {"owner": owner, "address": address})
            return device

        return await self._db.write(write)

    async def renew(self, name: str, expires_at: int, *, by: audit.Actor | None = None) -> Device:
        """Give a device a new expiry (an expired one is let in again)."""
        now = self.clock()

        def write(conn: sqlite3.Connection) -> Device | None:
            device = store.renew(conn, name, expires_at, now)
            if device is not None and by is not None:
                audit.record(conn, by, "device.renew", name, {"expires_at": expires_at})
            return device

        device = await self._db.write(write)
        if device is None:
            raise NotFound(f"no staff device named {name!r} that is not revoked")
        return device

    async def revoke(self, name: str, *, by: audit.Actor | None = None) -> bool:
        """Mark a device revoked; tell whether it was active."""
        now = self.clock()

        def mark(conn: sqlite3.Connection) -> bool:
            active = store.revoke(conn, name, now)
            if active and by is not None:
                audit.record(conn, by, "device.revoke", name)
            return active

        return await self._db.write(mark)

    async def get(self, name: str) -> Device | None:
        """Return a device by name."""
        return await self._db.read(lambda conn: store.one(conn, name))

    async def list(self) -> list[Device]:
        """Return every device, newest first."""
        return await self._db.read(store.newest_first)

    async def allowed(self) -> Allowed:
        """Return the addresses of the devices neither revoked nor expired, now."""
        now = self.clock()
        devices = await self._db.read(store.unrevoked)
        return Allowed(
            {
                d.address: d.expires_at if d.expires_at is not None else 2**62
                for d in devices
                if d.state(now) == "active"
            }
        )
