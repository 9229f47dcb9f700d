"""Who may reach what: visitors everywhere, the console only from the LAN and the
box's own staff subnet, the admin pages only from the LAN.

The staff subnet is reached through the relay, which could read or forge anything
in clear: overlay addresses get the console over TLS only, and the plain-HTTP port
serves them nothing (the tunnel's firewall drops them too, where nft can run)."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

from appliance.webui.keys import RELAY_PEERS, SETTINGS, STAFF_GUARD, STAFF_NETWORK
from appliance.webui.security import is_portal_path, is_visitor_path, json_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ADMIN_PREFIXES = ("/admin", "/api/admin/")
# The relay's address plan (docs/relay-protocol.md): the relay and every tenant.
_OVERLAY = ipaddress.IPv4Network("100.64.0.0/10")


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


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # an IPv4 peer of a dual-stack socket
    return ip


def is_lan(address: str) -> bool:
    """Tell whether an address is on a private network (RFC 1918, ULA, link-local, loopback)."""
    ip = _ip(address)
    return ip is not None and any(ip in net for net in _LAN_NETWORKS)


def _in(address: str, network: ipaddress.IPv4Network | None) -> bool:
    ip = _ip(address)
    return network is not None and ip is not None and ip in network


def _over_tls(request: web.Request) -> bool:
    # The transport itself, not request.secure: that would follow a clone's scheme.
    transport = request.transport
    return transport is not None and transport.get_extra_info("sslcontext") is not None


@web.middleware
async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the network policy before anything else looks at the request."""
    visitor_address = request.app[RELAY_PEERS].get(request.protocol)
    if visitor_address is not None:
        # Arrived through the relay: the visitor surface and the customer portal only,
        # with the real address.
        if not (is_visitor_path(request.path) or is_portal_path(request.path)):
            raise web.HTTPNotFound()
        return await handler(request.clone(remote=visitor_address or request.remote or ""))
    remote = request.remote or ""
    staff_network = request.app[STAFF_NETWORK][0]
    if staff_network is not None and _in(remote, _OVERLAY) and not _over_tls(request):
        if request.path.startswith("/api/"):
            return json_error(
                403, "forbidden", "this port is for the LAN; use the console's TLS port"
            )
        raise web.HTTPForbidden(text="Callbox: this port is for the LAN only.")
    if is_visitor_path(request.path) or is_portal_path(request.path):
        return await handler(request)
    staff = _in(remote, staff_network)
    if staff and not await request.app[STAFF_GUARD].admits(remote):
        # Revoked, expired or never added: the relay should have cut it off already.
        if request.path.startswith("/api/"):
            return json_error(403, "device_refused", "this staff device is expired or revoked")
        raise web.HTTPForbidden(text="Callbox: this staff device is expired or revoked.")
    if request.path.startswith(_ADMIN_PREFIXES):
        allowed = is_lan(remote) or (staff and request.app[SETTINGS].admin_from_staff)
    else:
        allowed = is_lan(remote) or staff
    if not allowed:
        if request.path.startswith("/api/"):
            return json_error(403, "forbidden", "the console is reachable from the LAN only")
        raise web.HTTPForbidden(text="Callbox: the console is reachable from the LAN only.")
    return await handler(request)
