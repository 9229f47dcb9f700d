"""Erlang C: agents needed for a service level (pure; assumptions in docs/reports.md).

Contacts arrive at random (Poisson) and wait in one queue without leaving; handling
times are exponential with the mean given; every agent takes any contact. A chat agent
who runs `concurrency` chats at once counts as that many servers, each with the chat's
whole handling time (measure the handling time at the concurrency you run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_AGENTS = 2000  # the search stops here: a target no staff reaches


def erlang_b(servers: int, traffic: float) -> float:
    """Return the blocking probability of `servers` under `traffic` Erlangs (recurrence)."""
    b = 1.0
    for n in range(1, servers + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(servers: int, traffic: float) -> float:
    """Return the probability that a contact waits (1 when the servers cannot keep up)."""
    if servers <= traffic:
        return 1.0
    b = erlang_b(servers, traffic)
    return servers * b / (servers - traffic * (1 - b))


def service_level(servers: int, traffic: float, aht_s: float, target_s: float) -> float:
    """Return the share of contacts answered within target_s seconds."""
    if servers <= traffic:
        return 0.0
    wait = erlang_c(servers, traffic)
    return 1.0 - wait * math.exp(-(servers - traffic) * target_s / aht_s)


@dataclass(frozen=True, slots=True)
class Staffing:
    """Agents needed for a slot, and what they would achieve."""

    agents: int
    service_level: float  # 0..1
    asa_s: float  # average speed of answer
    occupancy: float  # 0..1, of the chat slots


def agents_needed(
    rate_per_s: float,
    aht_s: float,
    target_s: float,
    level: float,
    concurrency: int = 1,
) -> Staffing:
    """Return the fewest agents whose service level reaches `level` (0..1)."""
    traffic = rate_per_s * aht_s
    if traffic <= 0:
        return Staffing(0, 1.0, 0.0, 0.0)
    servers = max(1, math.floor(traffic) + 1)
    while servers < MAX_AGENTS * concurrency:
        if service_level(servers, traffic, aht_s, target_s) >= level:
            break
        servers += 1
    agents = math.ceil(servers / concurrency)
    slots = agents * concurrency
    wait = erlang_c(slots, traffic)
    return Staffing(
        agents,
        service_level(slots, traffic, aht_s, target_s),
        wait * aht_s / (slots - traffic) if slots > traffic else math.inf,
        traffic / slots,
    )
