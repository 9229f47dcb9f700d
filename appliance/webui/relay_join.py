"""Joining a relay from the browser, on a running box.

What `appliance enroll` and the next start do, done live: spend the token, bring the
tunnel up (the box needs CAP_NET_ADMIN, as under its systemd unit), wait for the relay
to answer through it, then open the overlay listeners (visitors, console TLS, ACME)
through the hook `appliance run` sets. Each step's outcome is reported, so the page
can say which one failed and why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from appliance.relay import enrolment
from appliance.relay import state as relay_state
from appliance.relay.firewall import OverlayPorts
from appliance.relay.tunnel import Tunnel
from appliance.relay.wireguard import WireGuardError
from appliance.webui.keys import SETTINGS, STAFF_NETWORK, TUNNEL

_LOGGER = logging.getLogger(__name__)
CHECK_WAIT = 20.0  # s to wait for the relay's first answer through the new tunnel
_CHECK_EVERY = 0.5  # s


@dataclass
class JoinResult:
    """What each step of a join did: the enrolment answer, the tunnel, the listeners."""

    state: relay_state.RelayState
    tunnel: str = "not started"  # up, or why not
    sites: str = "not started"  # open, or why not


@dataclass
class Joiner:
    """The live join; `open_sites` is set by `appliance run` once its runner serves."""

    open_sites: Callable[[], Awaitable[None]] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    joined: Tunnel | None = None  # a tunnel this process brought up by a join

    async def join(self, app: web.Application, token: str, relay: str | None) -> JoinResult:
        """Enrol with the token, then bring the tunnel and the overlay listeners up."""
        async with self.lock:
            settings = app[SETTINGS]
            state = await enrolment.enroll(settings.data_dir, token, relay)
            _LOGGER.info("joined relay as tenant %s (%s)", state.tenant, state.hostname)
            result = JoinResult(state)
            key = await asyncio.to_thread(relay_state.private_key, settings.data_dir)
            assert key is not None
            tunnel = Tunnel(state, key, settings.tunnel_interface, OverlayPorts.of(settings))
            app[STAFF_NETWORK][0] = state.staff_network
            app[TUNNEL][0] = tunnel
            result.tunnel = await self.bring_up(tunnel)
            if result.tunnel != "up":
                return result
            self.joined = tunnel
            if self.open_sites is None:
                result.sites = "restart the appliance to serve visitors through the relay"
                return result
            try:
                await self.open_sites()
            except OSError as err:
                result.sites = f"the overlay listeners did not open: {err}"
                return result
            tunnel.keep_on_stop = True
            result.sites = "open"
            return result

    async def bring_up(self, tunnel: Tunnel) -> str:
        """Bring the tunnel up and wait for the relay's answer; return "up" or why not."""
        try:
            await tunnel.up()
        except WireGuardError as err:
            tunnel.status.error = str(err)
            return f"the tunnel did not come up (the box needs CAP_NET_ADMIN): {err}"
        tunnel.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CHECK_WAIT
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                if await tunnel.check(session):
                    return "up"
                await asyncio.sleep(_CHECK_EVERY)
        return "the tunnel is configured but the relay does not answer through it yet"

    async def close(self) -> None:
        """Stop supervising a tunnel a join brought up (the interface stays, as at stop)."""
        if self.joined is not None:
            await self.joined.close()
            self.joined = None
