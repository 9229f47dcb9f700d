"""The box's own firewall on its tunnel interface: what it answers over the overlay.

Whoever runs the relay chooses the source address of every packet the tunnel brings:
WireGuard checks it only against the relay peer's allowed IPs, and those hold the
relay and the whole tenant /24. So on that interface the box answers only what the
relay path is for, and drops everything else (forwarding included):

- visitor TLS (PROXY v2 first) and ACME HTTP-01, from the relay;
- the console over TLS, from its staff addresses (the tenant /24 less the box);
- replies to what the box opened itself (health checks to the relay's tunnel API).

The LAN console's plain HTTP, anything else listening on the box and the LAN behind
it stay out of the relay's reach. The rules live in a table of the box's own, named
for the interface, replaced in one nft transaction when the tunnel comes up and
deleted with the interface. Where nft is missing or not permitted the application's
access check (webui/access.py) still keeps the plain-HTTP port off the overlay.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from appliance.relay import wireguard
from appliance.settings import Settings

TABLE_PREFIX = "callbox_"
# What Linux takes as an interface name, narrowed to what needs no quoting in nft.
_INTERFACE = re.compile(r"[A-Za-z0-9_.-]{1,15}")


class FirewallUnavailable(RuntimeError):
    """nft is missing, not permitted or failed: the overlay is guarded by the app alone."""


@dataclass(frozen=True, slots=True)
class OverlayPorts:
    """The box's listeners on its overlay address (TCP ports)."""

    visitor: int
    console_tls: int
    acme: int

    @classmethod
    def of(cls, settings: Settings) -> OverlayPorts:
        """Return the overlay ports a box's settings name."""
        return cls(settings.visitor_port, settings.console_tls_port, settings.acme_port)


def table_name(interface: str) -> str:
    """Return the name of the nft table that guards an interface."""
    if not _INTERFACE.fullmatch(interface):
        raise ValueError(f"unusable interface name {interface!r}")
    return TABLE_PREFIX + interface


def render(interface: str, relay: str, network: str, address: str, ports: OverlayPorts) -> str:
    """Return an nft script that replaces the interface's table in one transaction."""
    table = table_name(interface)
    relay_ip = ipaddress.IPv4Address(relay)
    tenant = ipaddress.IPv4Network(network)
    box = ipaddress.IPv4Address(address)
    if box not in tenant:
        raise ValueError(f"the box's address {box} is outside its network {tenant}")
    for port in (ports.visitor, ports.console_tls, ports.acme):
        if not 0 < port < 65536:
            raise ValueError(f"port {port} out of range")
    from_relay = ", ".join(str(p) for p in sorted({ports.visitor, ports.acme}))
    lines = [
        # Create-then-delete makes the delete valid on the first run; the whole
        # script is one transaction, so the old rules hold until the new ones do.
        f"table inet {table} {{}}",
        f"delete table inet {table}",
        f"table inet {table} {{",
        "    chain input {",
        "        type filter hook input priority filter; policy accept;",
        f'        iifname "{interface}" jump overlay',
        "    }",
        # The relay must not route into the LAN through the box (a box that forwards
        # for containers or VMs would otherwise carry it).
        "    chain forward {",
        "        type filter hook forward priority filter; policy accept;",
        f'        iifname "{interface}" drop',
        "    }",
        "    chain overlay {",
        "        ct state established,related accept",
        f"        ip saddr {relay_ip} ip daddr {box} tcp dport {{ {from_relay} }} accept",
        f"        ip saddr {tenant} ip saddr != {box} ip daddr {box}"
        f" tcp dport {ports.console_tls} accept",
        "        drop",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def render_removal(interface: str) -> str:
    """Return an nft script that deletes the interface's table, present or not."""
    table = table_name(interface)
    return f"table inet {table} {{}}\ndelete table inet {table}\n"


async def apply(script: str) -> None:
    """Load an nft script in one transaction: `nft -f -`, the script on stdin."""
    try:
        await wireguard.run("nft", "-f", "-", stdin=script.encode())
    except FileNotFoundError:
        raise FirewallUnavailable("nft is not installed (Debian: apt install nftables)") from None
    except wireguard.WireGuardError as err:
        if "Operation not permitted" in str(err):
            raise FirewallUnavailable("nft needs root or CAP_NET_ADMIN") from None
        raise FirewallUnavailable(str(err)) from None


async def remove(interface: str) -> None:
    """Delete the interface's table if it exists."""
    await apply(render_removal(interface))


async def present(interface: str) -> bool:
    """Tell whether the interface's table is loaded."""
    try:
        await wireguard.run("nft", "list", "table", "inet", table_name(interface))
    except (FileNotFoundError, ValueError, wireguard.WireGuardError):
        return False
    return True
