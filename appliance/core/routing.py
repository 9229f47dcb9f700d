"""The router: who may take which waiting conversation, in what order, and who gets it.

Pure functions over a snapshot (no store, no clock of its own), so the rules can be
tested exhaustively and timed alone. The dispatcher takes the snapshot inside a write
transaction and applies the plan in the same one, so a plan never acts on stale state.

Rules, in the words of PRODUCT.md:
- A conversation waits in one group. After the group's fallback delay, the fallback
  group's agents may take it too (the pool widens; the queue stays the same).
- An agent is eligible when online, under their own limit, a member of a group in the
  pool, in scope for the visitor's region (an agent with regions set serves only those;
  a visitor of unknown region goes to agents without a region limit), holding the
  skill the chat needs, of expert tier when it asks for one, and not one who let it
  ring out recently.
- Waiting work is served by score, highest first: points for the customer's tier and
  the topic, plus points per target wait already waited, plus a bonus for transfers.
- Within the eligible agents: the visitor's previous agent when the group is sticky,
  else the group's strategy (least busy, longest idle or round robin).
- A closed group (outside business hours) assigns nothing by itself.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

STRATEGIES = ("least_busy", "longest_idle", "round_robin")
TIERS = ("vip", "member", "new")
_DEFAULT_HANDLE = 300.0  # s per chat assumed until the group has handled some


@dataclass(slots=True)
class Agent:
    """An agent as the router sees them."""

    id: int
    groups: frozenset[int]
    max_chats: int
    load: int = 0
    online: bool = True
    skills: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()  # empty: every region
    expert: bool = False
    idle_since: int = 0  # ms: their last assignment

    @property
    def room(self) -> bool:
        """Tell whether the agent may take one more chat now."""
        return self.online and self.load < self.max_chats


@dataclass(slots=True)
class Group:
    """A queue with its routing settings."""

    id: int
    strategy: str = "least_busy"
    target_wait: float = 60.0  # s
    max_wait: float = 600.0  # s of estimated wait before overflow is offered
    fallback_group_id: int | None = None
    fallback_after: float = 120.0  # s
    sticky: bool = True
    open: bool = True  # inside business hours now
    rr_cursor: int = 0  # round robin: the last agent id served


@dataclass(slots=True)
class Item:
    """A conversation waiting for an agent (or a warm transfer waiting for a colleague)."""

    id: str
    group_id: int
    queued_at: int  # ms
    tier: str = "new"
    topic: str = ""
    region: str = ""
    skill: str = ""
    expert: bool = False
    preferred_agent_id: int | None = None
    excluded: frozenset[int] = frozenset()  # the current owner, agents who let it ring out
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class Points:
    """The priority rules: data a supervisor edits."""

    tier: Mapping[str, float] = field(default_factory=lambda: {"vip": 60, "member": 20})
    topic: Mapping[str, float] = field(default_factory=dict)
    wait: float = 30.0  # per target wait waited
    transfer: float = 40.0


@dataclass(frozen=True, slots=True)
class Place:
    """Where a waiting visitor stands, and what to offer them."""

    position: int
    eta: float | None  # s; None when nobody could take it
    overflow: str | None  # "closed", "no_agent", "long_wait" or None


def score(item: Item, group: Group, points: Points, now: int) -> float:
    """Return an item's priority: higher goes first."""
    waited = max(0.0, (now - item.queued_at) / 1000)
    value = points.tier.get(item.tier, 0.0) + points.topic.get(item.topic, 0.0)
    value += points.wait * waited / max(group.target_wait, 1.0)
    if item.transfer:
        value += points.transfer
    return value


def order(
    items: Iterable[Item], groups: Mapping[int, Group], points: Points, now: int
) -> list[Item]:
    """Return items in serving order: by score, then the longest waiting, then id."""
    keyed = [(-score(i, groups[i.group_id], points, now), i.queued_at, i.id, i) for i in items]
    keyed.sort(key=lambda k: k[:3])
    return [k[3] for k in keyed]


def pool(item: Item, groups: Mapping[int, Group], now: int) -> tuple[int, ...]:
    """Return the groups whose agents may take an item now."""
    group = groups[item.group_id]
    fallback = group.fallback_group_id
    if (
        fallback is not None
        and fallback != group.id
        and fallback in groups
        and groups[fallback].open
        and now - item.queued_at >= group.fallback_after * 1000
    ):
        return (group.id, fallback)
    return (group.id,)


def in_scope(agent: Agent, item: Item, groups: Iterable[int]) -> bool:
    """Tell whether an agent may serve an item at all, ignoring load and presence."""
    if agent.id in item.excluded:
        return False
    if not any(g in agent.groups for g in groups):
        return False
    if agent.regions and item.region not in agent.regions:
        return False
    if item.skill and item.skill not in agent.skills:
        return False
    return not (item.expert and not agent.expert)


def choose(candidates: list[Agent], group: Group, item: Item) -> Agent:
    """Pick one of several eligible agents by the group's rules."""
    if group.sticky and item.preferred_agent_id is not None:
        for agent in candidates:
            if agent.id == item.preferred_agent_id:
                return agent
    if group.strategy == "longest_idle":
        return min(candidates, key=lambda a: (a.idle_since, a.load, a.id))
    if group.strategy == "round_robin":
        after = [a for a in candidates if a.id > group.rr_cursor]
        return min(after or candidates, key=lambda a: a.id)
    return min(candidates, key=lambda a: (a.load / a.max_chats, a.idle_since, a.id))


def plan(
    agents: Iterable[Agent],
    groups: Mapping[int, Group],
    items: Iterable[Item],
    points: Points,
    now: int,
) -> list[tuple[Item, Agent]]:
    """Decide assignments for this moment; agents' loads and cursors are updated in place."""
    by_group: dict[int, list[Agent]] = {}
    free = 0
    for agent in agents:
        if agent.room:
            free += agent.max_chats - agent.load
            for gid in agent.groups:
                by_group.setdefault(gid, []).append(agent)
    decisions: list[tuple[Item, Agent]] = []
    if free == 0:
        return decisions
    for item in order(items, groups, points, now):
        group = groups[item.group_id]
        if not group.open:
            continue
        reach = pool(item, groups, now)
        seen: set[int] = set()
        candidates = []
        for gid in reach:
            members = by_group.get(gid)
            if not members:
                continue
            if any(not a.room for a in members):
                members[:] = [a for a in members if a.room]
            for agent in members:
                if agent.id not in seen and in_scope(agent, item, reach):
                    seen.add(agent.id)
                    candidates.append(agent)
        if not candidates:
            continue
        agent = choose(candidates, group, item)
        agent.load += 1
        agent.idle_since = now
        group.rr_cursor = agent.id
        decisions.append((item, agent))
        free -= 1
        if free == 0:
            break
    return decisions


def places(
    agents: Iterable[Agent],
    groups: Mapping[int, Group],
    items: Iterable[Item],
    points: Points,
    handle_time: Mapping[int, float],
    now: int,
) -> dict[str, Place]:
    """Return each waiting visitor's place in its queue, estimated wait and overflow."""
    by_group: dict[int, list[Agent]] = {}
    for agent in agents:
        if agent.online and agent.max_chats > 0:
            for gid in agent.groups:
                by_group.setdefault(gid, []).append(agent)
    # Slots of the agents who could serve such an item, each agent counted once: the
    # estimate follows scope (skill, region, expert), not just group membership.
    slots_for: dict[tuple[tuple[int, ...], str, str, bool], int] = {}
    ahead: dict[int, int] = {}
    result: dict[str, Place] = {}
    for item in order(items, groups, points, now):
        if item.transfer:
            continue  # already talking to someone; no queue frame for them
        group = groups[item.group_id]
        position = ahead.get(group.id, 0) + 1
        ahead[group.id] = position
        reach = pool(item, groups, now)
        key = (reach, item.region, item.skill, item.expert)
        if key not in slots_for:
            probe = Item(
                id="",
                group_id=item.group_id,
                queued_at=item.queued_at,
                region=item.region,
                skill=item.skill,
                expert=item.expert,
            )
            serving = {
                a.id: a for g in reach for a in by_group.get(g, ()) if in_scope(a, probe, reach)
            }
            slots_for[key] = sum(a.max_chats for a in serving.values())
        slots = slots_for[key]
        eta = None
        if slots:
            eta = math.ceil(position * handle_time.get(group.id, _DEFAULT_HANDLE) / slots)
        if not group.open:
            overflow: str | None = "closed"
        elif eta is None:
            overflow = "no_agent"
        elif eta > group.max_wait:
            overflow = "long_wait"
        else:
            overflow = None
        result[item.id] = Place(position, eta, overflow)
    return result


Route = tuple[Any, ...]  # (url_pattern, region, group_id, ...) as the routes table holds it


def matching_route(routes: Iterable[Route], page_url: str, region: str) -> Route | None:
    """Return the first routing rule a page and region match (empty fields match all)."""
    for route in routes:
        pattern, rule_region = route[0], route[1]
        if (not pattern or fnmatch.fnmatchcase(page_url, pattern)) and (
            not rule_region or rule_region == region
        ):
            return route
    return None
