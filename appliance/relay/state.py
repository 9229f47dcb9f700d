"""What the box knows about its relay, kept in `relay.json` (0600) in the data dir."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from appliance.core.box import write_private

STATE_FILE = "relay.json"
KEY_FILE = "wg.key"


@dataclass(frozen=True, slots=True)
class RelayState:
    """The enrolment answer plus how to reach the relay's APIs."""

    tenant: str
    hostname: str
    network: str  # the tenant's /24 in the overlay
    address: str  # this box's overlay address
    overlay: str
    relay_address: str
    relay_public_key: str
    endpoint: str  # host:port of the relay's WireGuard
    tunnel_api: str  # http://100.64.0.1:8081, reachable only through the tunnel

    @property
    def staff_network(self) -> ipaddress.IPv4Network:
        """Return the tenant's /24: the box's staff devices live there."""
        return ipaddress.IPv4Network(self.network)


def load(data_dir: Path) -> RelayState | None:
    """Return the saved relay state, or None if the box is not enrolled."""
    path = data_dir / STATE_FILE
    if not path.exists():
        return None
    return RelayState(**json.loads(path.read_text("utf-8")))


def save(data_dir: Path, state: RelayState) -> None:
    """Write the relay state atomically, readable only by the box."""
    write_private(data_dir / STATE_FILE, json.dumps(asdict(state), indent=2).encode())


def private_key(data_dir: Path) -> str | None:
    """Return the box's WireGuard private key, if enrolled."""
    path = data_dir / KEY_FILE
    return path.read_text().strip() if path.exists() else None
