"""The relay's forwarding rules, rendered from the registry and applied with nft.

Policy: nothing is forwarded unless a rule allows it, and overlay addresses (the
tunnel API on 100.64.0.1) accept packets only from the WireGuard interface. A staff
device may open TCP connections to its own tenant's appliance console port and
nothing else; no path crosses tenants and staff devices cannot reach each other.
The relay's own traffic (visitor passthrough, enrolment) is local, not forwarded.

The enrolment API is public and answers strangers; the kernel caps how many
connections it holds (per IPv4 address or IPv6 /64, and in all), so a flood of idle
connections cannot take the descriptors the relay keeps for its tunnel API.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from relay_server.registry import Staff, Tenant

TABLE = "callbox_relay"


@dataclass(frozen=True)
class ApiCaps:
    """Open connections the enrolment API accepts: its port, per source and in all."""

    port: int
    per_source: int = 16
    total: int = 128


def render(
    interface: str, tenants: list[Tenant], staff: list[Staff], console_port: int, api: ApiCaps
) -> str:
    """Return an nft script that replaces the relay's table atomically."""
    by_id = {t.id: t for t in tenants if t.appliance_key}
    allow = []
    for device in staff:
        tenant = by_id.get(device.tenant_id)
        if tenant is None:
            continue
        allow.append(
            f"        iifname {interface} oifname {interface} ip saddr {device.address}"
            f" ip daddr {tenant.appliance_address} tcp dport {console_port} accept"
        )
    lines = [
        f"table inet {TABLE} {{}}",
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
        "    set api_v4 { type ipv4_addr; size 65535; flags dynamic; }",
        "    set api_v6 { type ipv6_addr; size 65535; flags dynamic; }",
        "    chain input {",
        "        type filter hook input priority filter; policy accept;",
        # The overlay exists only inside the tunnel: nothing from outside may address it.
        f"        iifname != {interface} ip daddr 100.64.0.0/10 drop",
        f"        tcp dport {api.port} ct state new add @api_v4"
        f" {{ ip saddr ct count over {api.per_source} }} reject with tcp reset",
        f"        tcp dport {api.port} ct state new add @api_v6"
        f" {{ ip6 saddr & ffff:ffff:ffff:ffff:: ct count over {api.per_source} }}"
        " reject with tcp reset",
        f"        tcp dport {api.port} ct state new ct count over {api.total}"
        " reject with tcp reset",
        "    }",
        "    chain forward {",
        "        type filter hook forward priority filter; policy drop;",
        "        ct state established,related accept",
        *allow,
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


async def apply(script: str) -> None:
    """Load an nft script in one transaction."""
    proc = await asyncio.create_subprocess_exec(
        "nft",
        "-f",
        "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate(script.encode())
    if proc.returncode != 0:
        raise RuntimeError(f"nft: {err.decode(errors='replace').strip()}")


async def remove() -> None:
    """Drop the relay's table."""
    proc = await asyncio.create_subprocess_exec(
        "nft",
        "delete",
        "table",
        "inet",
        TABLE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await proc.wait()
