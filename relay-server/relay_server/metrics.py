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
    closed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    visitors_open: int = 0  # every visitor connection counted against the caps
    visitor_capacity: int = 0

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
            "Connections closed before passthrough, by reason (relay_full and"
            " per_source_limit are the connection caps).",
            self.refused,
            "reason",
        )
        family(
            "callbox_relay_closed_total",
            "counter",
            "Passed-through connections the relay ended itself, by reason.",
            self.closed,
            "reason",
        )
        for name, value, help_text in (
            (
                "callbox_relay_visitors_open",
                self.visitors_open,
                "Visitor connections open now, on 443 and 80, handshakes included.",
            ),
            (
                "callbox_relay_visitor_capacity",
                self.visitor_capacity,
                "Visitor connections the relay holds before it refuses (relay_full).",
            ),
        ):
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
        family(
            "callbox_relay_last_handshake_seconds",
            "gauge",
            "Unix time of the appliance tunnel's latest WireGuard handshake.",
            self.handshakes,
            "tenant",
        )
        return "\n".join(out) + "\n"
