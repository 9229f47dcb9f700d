"""Who may reach what: visitors everywhere, the console only from the LAN and the
box's own staff subnet, the admin pages only from the LAN."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

from appliance.webui.keys import RELAY_PEERS, SETTINGS, STAFF_NETWORK
from appliance.webui.security import is_visitor_path, json_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ADMIN_PREFIXES = ("/admin", "/api/admin/")


# What "the LAN" means, spelled out: ipaddress's is_private also covers documentation
# and other special ranges, which are not anybody's office network.
_LAN_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",  # RFC 1918
        "127.0.0.0/8",
        "169.254.0.0/16",  # loopback, link-local
        "::1/128",
        "fc00::/7",
        "fe80::/10",  # loopback, ULA, link-local
    )
)


def is_lan(address: str) -> bool:
    """Tell whether an address is on a private network (RFC 1918, ULA, link-local, loopback)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in _LAN_NETWORKS)


def _in(address: str, network: ipaddress.IPv4Network | None) -> bool:
    if network is None:
        return False
    try:
        return ipaddress.ip_address(address) in network
    except ValueError:
        return False


@web.middleware
async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the network policy before anything else looks at the request."""
    visitor_address = request.app[RELAY_PEERS].get(request.protocol)
    if visitor_address is not None:
        # Arrived through the relay: the visitor surface only, with the real address.
        if not is_visitor_path(request.path):
            raise web.HTTPNotFound()
        return await handler(request.clone(remote=visitor_address or request.remote or ""))
    if is_visitor_path(request.path):
        return await handler(request)
    remote = request.remote or ""
    staff = _in(remote, request.app[STAFF_NETWORK][0])
    if request.path.startswith(_ADMIN_PREFIXES):
        allowed = is_lan(remote) or (staff and request.app[SETTINGS].admin_from_staff)
    else:
        allowed = is_lan(remote) or staff
    if not allowed:
        if request.path.startswith("/api/"):
            return json_error(403, "forbidden", "the console is reachable from the LAN only")
        raise web.HTTPForbidden(text="Callbox: the console is reachable from the LAN only.")
    return await handler(request)
