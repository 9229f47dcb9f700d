"""The box's own check of staff devices: only a device neither revoked nor expired
gets in from the staff subnet, whatever the relay lets through.

The relay cuts an expired or revoked device off by removing its WireGuard peer; the
box does not rely on that alone (the relay could be behind, or its clock wrong). The
access middleware asks `admits(address)` for every request from the staff subnet;
the answer comes from memory, refreshed every few seconds and, for an address it
does not know, at most once a second from the database: a device added by the CLI
a moment ago waits for that look rather than being refused, and no stream of strange
addresses can make every request a database read. Now and then the box also sends
the relay any expiry it lacks (devices from before expiry existed, a renewal the
relay missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from appliance.core.devices import Devices
from appliance.relay import staff
from appliance.relay import state as relay_state

_LOGGER = logging.getLogger(__name__)

REFRESH = 5.0  # s between reloads of the allowed addresses
RECHECK = 1.0  # s: the least time between reloads caused by an unknown address
RECONCILE = 60.0  # s between expiry checks with the relay


class StaffGuard:
    """Which staff addresses the box admits right now."""

    def __init__(self) -> None:
        self._devices: Devices | None = None
        self._data_dir: Path | None = None
        self._allowed: dict[str, int] = {}  # address -> expiry, UTC ms
        self._loaded_at = -RECHECK  # loop time of the last reload
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self, devices: Devices, data_dir: Path) -> None:
        """Load the allowed addresses and keep them fresh in the background."""
        self._devices, self._data_dir = devices, data_dir
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="staff-guard")

    async def stop(self) -> None:
        """Stop the background work."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def refresh(self) -> None:
        """Reload the allowed addresses from the database."""
        if self._devices is None:
            return
        async with self._lock:
            await self._reload()

    async def _reload(self) -> None:
        assert self._devices is not None
        self._allowed = (await self._devices.allowed()).addresses
        self._loaded_at = asyncio.get_running_loop().time()

    def _fresh(self, address: str) -> bool:
        assert self._devices is not None
        expiry = self._allowed.get(address)
        return expiry is not None and self._devices.clock() < expiry

    async def admits(self, address: str) -> bool:
        """Tell whether a staff-subnet address belongs to an active device now.

        An address not known (or expired) in memory is looked up again, at most once
        per RECHECK for all requests together: a request waits for that look rather
        than being refused by a list a moment too old.
        """
        if self._devices is None:
            return False
        if self._fresh(address):
            return True
        loop = asyncio.get_running_loop()
        asked = loop.time()
        wait = self._loaded_at + RECHECK - asked
        if wait > 0:
            await asyncio.sleep(wait)
        async with self._lock:
            if self._loaded_at < asked:  # nobody reloaded since this request asked
                await self._reload()
        return self._fresh(address)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        reconciled = loop.time() - RECONCILE + REFRESH  # first look soon after start
        while True:
            await asyncio.sleep(REFRESH)
            try:
                await self.refresh()
                if loop.time() - reconciled >= RECONCILE:
                    reconciled = loop.time()
                    await self._reconcile()
            except Exception:
                _LOGGER.exception("staff device check failed")

    async def _reconcile(self) -> None:
        assert self._devices is not None and self._data_dir is not None
        state = await asyncio.to_thread(relay_state.load, self._data_dir)
        if state is None:
            return
        try:
            sent = await staff.reconcile(state, self._devices)
        except staff.StaffError as err:
            _LOGGER.debug("expiries not compared with the relay: %s", err)
            return
        if sent:
            _LOGGER.info("sent the relay the expiry of %d staff device(s)", sent)
