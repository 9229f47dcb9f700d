"""Advertise the console on the LAN with mDNS/DNS-SD, so agents find it by name."""

from __future__ import annotations

import logging
import socket

from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_http._tcp.local."
INSTANCE_PREFIX = "Callbox console"


def lan_addresses(host: str) -> list[str]:
    """Return the IPv4 addresses the console is reachable at on the LAN."""
    if host not in ("0.0.0.0", "", "::"):  # noqa: S104 - comparing, not binding
        return [host]
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(str(info[4][0]))
    except OSError:
        pass
    # The address of the route to a LAN-range destination; UDP connect sends nothing.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1, never contacted
            found.add(probe.getsockname()[0])
        except OSError:
            pass
    lan = sorted(a for a in found if not a.startswith("127."))
    return lan or ["127.0.0.1"]


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

    async def async_start(self, info: ServiceInfo) -> bool:
        """Announce the service; a LAN without multicast only costs a warning."""
        try:
            self._zc = AsyncZeroconf(
                interfaces=self._interfaces or ["0.0.0.0"],  # noqa: S104
                ip_version=IPVersion.V4Only,
            )
            await self._zc.async_register_service(info, allow_name_change=True)
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
        if self._info is not None:
            await self._zc.async_unregister_service(self._info)
            self._info = None
        await self._zc.async_close()
        self._zc = None
