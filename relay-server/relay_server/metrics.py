"""Counters the relay exposes in Prometheus text format: no names, no content."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Metrics:
    """Per-tenant connection and byte counters plus refusals by reason."""

    connections: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    active: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bytes_in: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bytes_out: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    handshakes: dict[str, int] = field(default_factory=dict)  # tenant -> Unix time

    def render(self) -> str:
        """Return the Prometheus exposition text."""
        out: list[str] = []

        def family(
            name: str, kind: str, help_text: str, values: dict[str, int], label: str
        ) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            for key, value in sorted(values.items()):
                out.append(f'{name}{{{label}="{key}"}} {value}')

        family(
            "callbox_relay_connections_total",
            "counter",
            "Visitor connections passed through, by tenant.",
            self.connections,
            "tenant",
        )
        family(
            "callbox_relay_connections_active",
            "gauge",
            "Visitor connections open now, by tenant.",
            self.active,
            "tenant",
        )
        family(
            "callbox_relay_bytes_in_total",
            "counter",
            "Bytes from visitors to appliances, by tenant.",
            self.bytes_in,
            "tenant",
        )
        family(
            "callbox_relay_bytes_out_total",
            "counter",
            "Bytes from appliances to visitors, by tenant.",
            self.bytes_out,
            "tenant",
        )
        family(
            "callbox_relay_refused_total",
            "counter",
            "Connections closed before passthrough, by reason.",
            self.refused,
            "reason",
        )
        family(
            "callbox_relay_last_handshake_seconds",
            "gauge",
            "Unix time of the appliance tunnel's latest WireGuard handshake.",
            self.handshakes,
            "tenant",
        )
        return "\n".join(out) + "\n"
