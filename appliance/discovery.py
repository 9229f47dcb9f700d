"""Advertise the console on the LAN with mDNS/DNS-SD, so agents find it by name."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import ifaddr
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_http._tcp.local."
INSTANCE_PREFIX = "Callbox console"


def lan_addresses(host: str) -> list[str]:
    """Return the IPv4 addresses the console is reachable at on the LAN."""
    if host not in ("0.0.0.0", "", "::"):  # noqa: S104 - comparing, not binding
        return [host]
    found = {
        str(ip.ip)
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
        if isinstance(ip.ip, str) and not ip.ip.startswith(("127.", "169.254."))
    }
    return sorted(found) or ["127.0.0.1"]


def service_info(port: int, addresses: list[str], hostname: str | None = None) -> ServiceInfo:
    """Build the DNS-SD record of the console."""
    host = (hostname or socket.gethostname()).split(".")[0] or "callbox"
    return ServiceInfo(
        SERVICE_TYPE,
        f"{INSTANCE_PREFIX} ({host}).{SERVICE_TYPE}",
        addresses=[socket.inet_aton(a) for a in addresses],
        port=port,
        properties={"path": "/console", "product": "callbox"},
        server=f"{host}.local.",
    )


class ConsoleAdvertiser:
    """Register the console's service while the box runs."""

    def __init__(self, interfaces: list[str] | None = None) -> None:
        self._interfaces = interfaces
        self._zc: AsyncZeroconf | None = None
        self._info: ServiceInfo | None = None
        # zeroconf announces in a task of its own (three packets, ~1 s); a stop ends it.
        self._announcing: asyncio.Future[Any] | None = None

    async def async_start(self, info: ServiceInfo) -> bool:
        """Announce the service; a LAN without multicast only costs a warning."""
        try:
            self._zc = AsyncZeroconf(
                interfaces=self._interfaces or ["0.0.0.0"],  # noqa: S104
                ip_version=IPVersion.V4Only,
            )
            self._announcing = asyncio.ensure_future(
                await self._zc.async_register_service(info, allow_name_change=True)
            )
        except (OSError, RuntimeError) as err:
            _LOGGER.warning("mDNS advertisement unavailable: %s", err)
            await self.async_stop()
            return False
        self._info = info
        _LOGGER.info("advertising %s on port %d", info.name, info.port)
        return True

    async def async_stop(self) -> None:
        """Withdraw the service and close the responder."""
        if self._zc is None:
            return
        if self._announcing is not None:
            self._announcing.cancel()
            await asyncio.gather(self._announcing, return_exceptions=True)
            self._announcing = None
        if self._info is not None:
            # The goodbye packets: agents' browsers drop the console at once.
            await (await self._zc.async_unregister_service(self._info))
            self._info = None
        await self._zc.async_close()
        self._zc = None
