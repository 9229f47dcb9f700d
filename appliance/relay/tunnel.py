"""The box's tunnel to its relay: brought up at start, watched, and mended.

The box dials out (PersistentKeepalive), so it needs no public address or inbound
port. When the relay restarts it forgets the session and cannot call the box back
(it does not know the box's address behind NAT), so the box notices through a health
check over the tunnel and re-creates the peer, which forces a fresh handshake.

Before the interface exists the box's own firewall on it is in place (firewall.py):
the relay reaches the visitor and ACME ports, staff devices the console's TLS port,
nothing else. It goes with the interface.

What a start made it takes away again when that start fails (`up()` undoes its own
half-made steps; `undo()` removes what this process made once a later step of the
box's start failed). After a start that completed, a normal stop leaves the
interface and its table up on purpose: staff are not dropped across a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from appliance.relay import firewall, wireguard
from appliance.relay.state import RelayState

_LOGGER = logging.getLogger(__name__)

KEEPALIVE = 25  # s, keeps NAT mappings open
_CHECK_INTERVAL = 5.0  # s between health checks
_CHECK_TIMEOUT = 3.0  # s for one check
_FAILURES_BEFORE_REPAIR = 2


@dataclass
class TunnelStatus:
    """What the admin page shows."""

    state: str = "down"  # down, up, degraded
    mode: str = ""
    last_ok: float = 0.0
    repairs: int = 0
    error: str = ""
    firewall: str = ""  # on, or off: why


class Tunnel:
    """One WireGuard interface with the relay as its only peer."""

    def __init__(
        self, state: RelayState, private_key: str, interface: str, ports: firewall.OverlayPorts
    ) -> None:
        self.relay = state
        self._private = private_key
        self.interface = interface
        self.ports = ports
        self.status = TunnelStatus()
        self._task: asyncio.Task[None] | None = None
        self._unguarded = ""  # why the firewall is off, as last logged
        # What this process created (not found already there): a failed start removes it.
        self._made_link = False
        self._made_table = False
        # Set once the box's whole start completed: a normal stop then keeps the
        # interface and its table, so staff are not dropped across a restart.
        self.keep_on_stop = False

    async def up(self) -> None:
        """Guard, create and configure the interface and the relay peer.

        A failure at any step takes away the table and interface this call created.
        """
        name = self.interface
        had_link = await wireguard.exists(name)
        had_table = await firewall.present(name)
        try:
            # Rules first: not one packet through the tunnel meets a box without them.
            await self.guard()
            if not had_link:
                self.status.mode = await wireguard.create(name)
            await wireguard.run(
                "wg", "set", name, "private-key", "/dev/stdin", stdin=self._private.encode() + b"\n"
            )
            prefix = self.relay.staff_network.prefixlen
            await wireguard.run(
                "ip", "address", "replace", f"{self.relay.address}/{prefix}", "dev", name
            )
            await wireguard.run("ip", "link", "set", "dev", name, "up")
            await wireguard.run(
                "ip", "route", "replace", f"{self.relay.relay_address}/32", "dev", name
            )
            await self._set_peer()
        except BaseException:
            await self._remove(link=not had_link, table=not had_table)
            raise
        self._made_link |= not had_link
        self._made_table |= not had_table
        self.status.state = "up"

    async def _remove(self, *, link: bool, table: bool) -> None:
        # The interface goes first: no packet meets it unguarded.
        if link:
            try:
                await wireguard.delete(self.interface)
            except wireguard.WireGuardError as err:
                _LOGGER.warning("tunnel interface %s not removed: %s", self.interface, err)
            self.status.state = "down"
        if table:
            try:
                await firewall.remove(self.interface)
            except (firewall.FirewallUnavailable, ValueError) as err:
                _LOGGER.debug("no firewall to remove: %s", err)
            self.status.firewall = ""

    async def guard(self) -> None:
        """Load the firewall of the interface; say once why when that cannot be done."""
        try:
            script = firewall.render(
                self.interface,
                self.relay.relay_address,
                self.relay.network,
                self.relay.address,
                self.ports,
            )
        except ValueError as err:
            raise wireguard.WireGuardError(f"tunnel settings: {err}") from None
        try:
            await firewall.apply(script)
        except firewall.FirewallUnavailable as err:
            self.status.firewall = f"off: {err}"
            if str(err) != self._unguarded:
                self._unguarded = str(err)
                _LOGGER.warning(
                    "no firewall on the tunnel interface %s: %s. The console's plain-HTTP "
                    "port still refuses overlay addresses, but other services of this "
                    "host are open to the relay",
                    self.interface,
                    err,
                )
            return
        if self._unguarded or not self.status.firewall:
            _LOGGER.info(
                "firewall on %s: the overlay reaches visitor, ACME and console TLS ports only",
                self.interface,
            )
        self._unguarded = ""
        self.status.firewall = "on"

    async def _set_peer(self) -> None:
        # `wg` resolves a host name each time the endpoint is set: a changed relay
        # address is picked up on repair.
        await wireguard.run(
            "wg",
            "set",
            self.interface,
            "peer",
            self.relay.relay_public_key,
            "allowed-ips",
            f"{self.relay.relay_address}/32,{self.relay.network}",
            "endpoint",
            self.relay.endpoint,
            "persistent-keepalive",
            str(KEEPALIVE),
        )

    async def repair(self) -> None:
        """Drop and re-add the relay peer: the next packet starts a new handshake."""
        self.status.repairs += 1
        if not await wireguard.exists(self.interface):
            await self.up()
            return
        await wireguard.run(
            "wg", "set", self.interface, "peer", self.relay.relay_public_key, "remove"
        )
        await self._set_peer()

    async def check(self, session: aiohttp.ClientSession) -> bool:
        """Ask the relay's tunnel API who we are; True when it answers for our tenant."""
        try:
            async with session.get(
                f"{self.relay.tunnel_api}/v1/status",
                timeout=aiohttp.ClientTimeout(total=_CHECK_TIMEOUT),
            ) as response:
                data = await response.json()
                return response.status == 200 and data.get("tenant") == self.relay.tenant
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False

    async def supervise(self) -> None:
        """Keep the tunnel healthy until cancelled."""
        failures = 0
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    if not await wireguard.exists(self.interface):
                        await self.up()
                    elif self.status.firewall == "on" and not await firewall.present(
                        self.interface
                    ):
                        # A distribution's `nft -f /etc/nftables.conf` starts with
                        # `flush ruleset`, which takes the box's table too.
                        _LOGGER.warning("the tunnel's firewall was removed; loading it again")
                        await self.guard()
                    if await self.check(session):
                        failures = 0
                        self.status.state, self.status.error = "up", ""
                        self.status.last_ok = time.time()
                    else:
                        failures += 1
                        self.status.state = "degraded"
                        if failures >= _FAILURES_BEFORE_REPAIR:
                            _LOGGER.warning("relay unreachable through the tunnel; re-handshaking")
                            await self.repair()
                            failures = 0
                except wireguard.WireGuardError as err:
                    self.status.state, self.status.error = "down", str(err)
                    _LOGGER.warning("tunnel: %s", err)
                await asyncio.sleep(_CHECK_INTERVAL)

    def start(self) -> None:
        """Start supervising in the background."""
        self._task = asyncio.get_running_loop().create_task(self.supervise(), name="tunnel")

    async def stop(self, *, remove: bool = False) -> None:
        """Stop supervising; take the tunnel down when asked (else it stays, guarded)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if remove:
            await self.down()

    async def close(self) -> None:
        """Stop supervising; keep the interface after a completed start, else undo it.

        The tear-down of a failed start removes only what this process created: an
        interface (and table) already there before the start stays.
        """
        await self.stop()
        if not self.keep_on_stop:
            await self._remove(link=self._made_link, table=self._made_table)
            self._made_link = self._made_table = False

    async def down(self) -> None:
        """Remove the interface, then its firewall."""
        await wireguard.delete(self.interface)
        try:
            await firewall.remove(self.interface)
        except firewall.FirewallUnavailable as err:
            _LOGGER.debug("no firewall to remove: %s", err)
        self.status.state, self.status.firewall = "down", ""

    async def describe(self) -> dict[str, Any]:
        """Return tunnel facts for the admin page."""
        info: dict[str, Any] = {
            "state": self.status.state,
            "mode": self.status.mode,
            "tenant": self.relay.tenant,
            "hostname": self.relay.hostname,
            "address": self.relay.address,
            "endpoint": self.relay.endpoint,
            "repairs": self.status.repairs,
            "error": self.status.error,
            "firewall": self.status.firewall,
            "last_ok": self.status.last_ok,
        }
        with contextlib.suppress(wireguard.WireGuardError):
            health = await wireguard.health(self.interface, self.relay.relay_public_key)
            if health is not None:
                info.update(
                    latest_handshake=health.latest_handshake,
                    rx_bytes=health.rx_bytes,
                    tx_bytes=health.tx_bytes,
                )
        return info
