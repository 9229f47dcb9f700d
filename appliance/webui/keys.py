"""Typed keys for what the web app shares: no module-level state."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from appliance.core.accounts import Session
from appliance.core.box import Box
from appliance.settings import Settings
from appliance.webui.assets import Asset

if TYPE_CHECKING:
    from appliance.core.boxprofile import BoxProfile
    from appliance.relay.staff_guard import StaffGuard
    from appliance.relay.tunnel import Tunnel
    from appliance.webui.hub import Hub
    from appliance.webui.relay_join import Joiner
    from appliance.webui.relay_listener import RelayPeers

SETTINGS = web.AppKey("settings", Settings)
BOX = web.AppKey("box", Box)
HUB: web.AppKey[Hub] = web.AppKey("hub")
# The widget script, joined from its parts and compressed once at start.
WIDGET = web.AppKey("widget", Asset)
# One-time first-boot link token; None once an admin exists.
SETUP_TOKEN: web.AppKey[list[str | None]] = web.AppKey("setup_token")
# The console session of a request, or None (set by the sessions middleware).
SESSION: web.RequestKey[Session | None] = web.RequestKey("session")
# Protocols of connections that came through the relay -> the visitor's address.
RELAY_PEERS: web.AppKey[RelayPeers] = web.AppKey("relay_peers")
# The box's staff subnet once enrolled (held in a list: known only at startup).
STAFF_NETWORK: web.AppKey[list[ipaddress.IPv4Network | None]] = web.AppKey("staff_network")
TUNNEL: web.AppKey[list[Tunnel | None]] = web.AppKey("tunnel")
# Which staff-subnet addresses belong to devices neither revoked nor expired.
STAFF_GUARD: web.AppKey[StaffGuard] = web.AppKey("staff_guard")
# The box's identity from the first-boot setup (company, host name, zone, language).
BOX_PROFILE: web.AppKey[BoxProfile] = web.AppKey("box_profile")
# Joining a relay from the admin page while the box runs.
JOINER: web.AppKey[Joiner] = web.AppKey("joiner")
# Restarts the box in its process (set by `appliance run`; None where nothing can):
# a checked restore asks for it, and the next start switches to the restored data.
RESTART: web.AppKey[list[Callable[[], None] | None]] = web.AppKey("restart")
