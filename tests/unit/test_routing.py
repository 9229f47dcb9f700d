"""The pure router: properties of a plan over random snapshots, and its rules by example."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.routing import (
    STRATEGIES,
    TIERS,
    Agent,
    Group,
    Item,
    Place,
    Points,
    choose,
    in_scope,
    order,
    places,
    plan,
    pool,
    score,
)

NOW = 1_800_000_000_000  # ms
_SKILLS = ("billing", "tech")
_REGIONS = ("north", "south")
_TOPICS = ("", "refund", "sales")
_PROPERTY = settings(max_examples=200, deadline=None)

T = TypeVar("T")


# -- snapshots ---------------------------------------------------------------------


@dataclass
class World:
    """One routing snapshot: what the dispatcher hands to `plan`."""

    agents: list[Agent]
    groups: dict[int, Group]
    items: list[Item]
    points: Points

    def copy(self) -> World:
        """Return a copy that `plan` cannot touch (it mutates agents and groups)."""
        return World(
            [dataclasses.replace(a) for a in self.agents],
            {gid: dataclasses.replace(g) for gid, g in self.groups.items()},
            [dataclasses.replace(i) for i in self.items],
            self.points,
        )


def _subsets(names: Iterable[T]) -> list[frozenset[T]]:
    """Return every subset, smallest first: one sampled_from is cheaper than st.frozensets."""
    pool = list(names)
    return [frozenset(c) for n in range(len(pool) + 1) for c in combinations(pool, n)]


@st.composite
def worlds(draw: st.DrawFn, *, varied: bool = True) -> World:
    """Draw a snapshot; varied=False draws items from few requirement classes."""
    gids = list(range(1, draw(st.integers(1, 4)) + 1))
    n_agents = draw(st.integers(0, 8))
    groups = {
        gid: Group(
            id=gid,
            strategy=draw(st.sampled_from(STRATEGIES)),
            target_wait=draw(st.sampled_from([60.0, 1.0, 30.0, 300.0])),
            max_wait=draw(st.sampled_from([600.0, 30.0])),
            # 99: a fallback group deleted since it was set
            fallback_group_id=draw(st.sampled_from([None, *gids, 99])),
            fallback_after=draw(st.sampled_from([120.0, 0.0, 60.0])),
            sticky=draw(st.booleans()),
            open=draw(st.sampled_from([True, True, True, False])),
            rr_cursor=draw(st.integers(0, n_agents + 1)),
        )
        for gid in gids
    }
    agents = [
        Agent(
            id=aid,
            groups=draw(st.sampled_from(_subsets(gids))),
            max_chats=draw(st.integers(0, 5)),
            load=draw(st.integers(0, 6)),  # above the limit: it was lowered while busy
            online=draw(st.sampled_from([True, True, True, False])),
            # Weighted towards agents who can take most chats, so that plans assign a lot.
            skills=draw(st.sampled_from([frozenset(_SKILLS), *_subsets(_SKILLS)])),
            regions=draw(st.sampled_from([frozenset(), *_subsets(_REGIONS)])),  # ∅: every one
            expert=draw(st.booleans()),
            idle_since=NOW - 1000 * draw(st.integers(0, 3600)),
        )
        for aid in range(1, n_agents + 1)
    ]
    someone = [None, *range(1, n_agents + 2)]  # n_agents + 1: an agent not in the snapshot
    if varied:
        regions = st.sampled_from(("", "", *_REGIONS, "east"))
        skills = st.sampled_from(("", "", *_SKILLS))
        experts = st.sampled_from([False, False, True])
        preferred = st.sampled_from(someone)
        excluded = st.sampled_from(_subsets(someone[1:4]))
    else:
        regions = st.sampled_from(("", "north"))
        skills = st.sampled_from(("", "billing"))
        experts = st.just(False)
        preferred = st.none()
        excluded = st.just(frozenset())
    items = [
        Item(
            id=f"c{i}",
            group_id=draw(st.sampled_from(gids)),
            # whole seconds, so that pools widen exactly at their delay and scores tie;
            # a few in the future: clocks are not perfect
            queued_at=NOW - 1000 * draw(st.integers(-5, 900)),
            tier=draw(st.sampled_from(TIERS)),
            topic=draw(st.sampled_from(_TOPICS)),
            region=draw(regions),
            skill=draw(skills),
            expert=draw(experts),
            preferred_agent_id=draw(preferred),
            excluded=draw(excluded),
            transfer=draw(st.booleans()),
        )
        for i in range(draw(st.integers(0, 16)))
    ]
    points = Points(
        tier={"vip": draw(st.sampled_from([60, 0, 100])), "member": draw(st.integers(0, 100))},
        topic={"refund": draw(st.integers(-50, 100))},
        wait=draw(st.sampled_from([30, 0, 60])),
        transfer=draw(st.sampled_from([40, 0])),
    )
    return World(agents, groups, items, points)


@dataclass
class Outcome:
    """A plan with the snapshot as it was before and as `plan` left it."""

    before: World
    after: World
    decisions: list[tuple[Item, Agent]]

    def assigned(self) -> dict[str, int]:
        """Return item id -> agent id of every decision."""
        return {item.id: agent.id for item, agent in self.decisions}

    def agent_before(self, agent_id: int) -> Agent:
        """Return an agent as they were before the plan."""
        return next(a for a in self.before.agents if a.id == agent_id)


def run_plan(world: World) -> Outcome:
    """Plan over a snapshot, keeping a copy of how it was."""
    before = world.copy()
    decisions = plan(world.agents, world.groups, world.items, world.points, NOW)
    return Outcome(before, world, decisions)


def reference_plan(world: World) -> tuple[list[tuple[str, int]], World]:
    """Assign by the rules as written, recomputing every eligible agent for every item."""
    world = world.copy()
    out = []
    for item in order(world.items, world.groups, world.points, NOW):
        group = world.groups[item.group_id]
        if not group.open:
            continue
        reach = pool(item, world.groups, NOW)
        eligible = {
            a.id: a
            for a in world.agents
            if a.online and a.load < a.max_chats and in_scope(a, item, reach)
        }
        if not eligible:
            continue
        if group.sticky and item.preferred_agent_id in eligible:
            pick = eligible[item.preferred_agent_id]
        elif group.strategy == "longest_idle":
            pick = sorted(eligible.values(), key=lambda a: (a.idle_since, a.load, a.id))[0]
        elif group.strategy == "round_robin":
            ids = sorted(eligible)
            pick = eligible[next((i for i in ids if i > group.rr_cursor), ids[0])]
        else:
            pick = sorted(
                eligible.values(), key=lambda a: (a.load / a.max_chats, a.idle_since, a.id)
            )[0]
        pick.load += 1
        pick.idle_since = NOW
        group.rr_cursor = pick.id
        out.append((item.id, pick.id))
    return out, world


# -- properties of plan -------------------------------------------------------------
#
# Generating a snapshot costs far more than planning over it, so one test draws the
# snapshots and checks every property on each; the checks are named after them.


def limits_hold(out: Outcome) -> None:
    """(a) No agent passes their limit; offline agents and full agents get nothing."""
    given_to = {a.id: 0 for a in out.before.agents}
    for _, agent in out.decisions:
        given_to[agent.id] += 1
    for before, after in zip(out.before.agents, out.after.agents, strict=True):
        count = given_to[before.id]
        assert after.load == before.load + count
        if count:
            assert before.online
            assert before.load + count <= before.max_chats
        assert after.load <= max(before.load, before.max_chats)


def decisions_in_scope(out: Outcome) -> None:
    """(b) Each decision is in scope for the item's pool now, never to an excluded agent."""
    for item, agent in out.decisions:
        reach = pool(item, out.before.groups, NOW)
        assert in_scope(out.agent_before(agent.id), item, reach)
        assert agent.id not in item.excluded
        assert agent.groups & set(reach)


def nothing_twice_nor_lost(out: Outcome, items: set[int], agents: set[int]) -> None:
    """(c) No item is given twice; decisions hold the caller's objects; nothing else moves."""
    ids = [item.id for item, _ in out.decisions]
    assert len(ids) == len(set(ids))
    for item, agent in out.decisions:
        assert id(item) in items
        assert id(agent) in agents
    assert out.after.items == out.before.items
    chosen = set(out.assigned().values())
    for before, after in zip(out.before.agents, out.after.agents, strict=True):
        if after.id in chosen:
            assert after.idle_since == NOW
        else:
            assert after == before
    last = {item.group_id: agent.id for item, agent in out.decisions}
    for gid, group in out.after.groups.items():
        cursor = last.get(gid, out.before.groups[gid].rr_cursor)
        assert group == dataclasses.replace(out.before.groups[gid], rr_cursor=cursor)


def never_passed_over(out: Outcome) -> None:
    """(d) An item served before B, within the scope of B's agent, was assigned too.

    If B went to X and an item A comes before B in serving order, with A's group open
    and X in scope for A (A's own pool), then A was assigned, to X or someone else:
    loads only grow during a pass, so X still had room when A's turn came.
    """
    served = order(out.before.items, out.before.groups, out.before.points, NOW)
    rank = {item.id: n for n, item in enumerate(served)}
    assigned = out.assigned()
    for b, x in out.decisions:
        x_before = out.agent_before(x.id)
        for a in served[: rank[b.id]]:
            if out.before.groups[a.group_id].open and in_scope(
                x_before, a, pool(a, out.before.groups, NOW)
            ):
                assert a.id in assigned, (a, b, x_before)


def closed_groups_idle(out: Outcome) -> None:
    """(e) Closed groups assign nothing (their fallback's agents do not take them either)."""
    for item, _ in out.decisions:
        assert out.before.groups[item.group_id].open


def maximal(out: Outcome) -> None:
    """(f) Nothing in an open group waits while an eligible agent still has room."""
    assigned = out.assigned()
    groups = out.after.groups
    left = [i for i in out.after.items if i.id not in assigned]
    for item in left:
        if not groups[item.group_id].open:
            continue
        reach = pool(item, groups, NOW)
        for agent in out.after.agents:
            assert not (agent.room and in_scope(agent, item, reach)), (item, agent)
    # So a second pass over the same snapshot has nothing left to do.
    assert plan(out.after.agents, groups, left, out.after.points, NOW) == []


def matches_reference(out: Outcome) -> None:
    """The plan equals the rules recomputed from scratch for every item."""
    expected, model = reference_plan(out.before)
    assert [(i.id, a.id) for i, a in out.decisions] == expected
    assert out.after.agents == model.agents
    assert out.after.groups == model.groups


@_PROPERTY
@given(worlds())
def test_plan_properties(world: World) -> None:
    items = {id(i) for i in world.items}
    agents = {id(a) for a in world.agents}
    out = run_plan(world)
    limits_hold(out)
    decisions_in_scope(out)
    nothing_twice_nor_lost(out, items, agents)
    never_passed_over(out)
    closed_groups_idle(out)
    maximal(out)
    matches_reference(out)


@_PROPERTY
@given(worlds(varied=False))
def test_of_two_alike_items_the_higher_scored_is_served_first(world: World) -> None:
    """(d), simply: same group, scope needs and pool, no exclusion nor preference."""
    out = run_plan(world)
    groups = out.before.groups
    assigned = out.assigned()

    def alike(a: Item, b: Item) -> bool:
        needs = (a.group_id, a.region, a.skill, a.expert) == (
            b.group_id,
            b.region,
            b.skill,
            b.expert,
        )
        return needs and pool(a, groups, NOW) == pool(b, groups, NOW)  # pools widen

    for a in out.before.items:
        for b in out.before.items:
            if (
                alike(a, b)
                and b.id in assigned
                and score(a, groups[a.group_id], out.before.points, NOW)
                > score(b, groups[b.group_id], out.before.points, NOW)
            ):
                assert a.id in assigned, (a, b)


@_PROPERTY
@given(worlds(), st.dictionaries(st.integers(1, 4), st.integers(1, 900).map(float)))
def test_order_and_places(world: World, handle: dict[int, float]) -> None:
    served = order(world.items, world.groups, world.points, NOW)
    assert sorted(i.id for i in served) == sorted(i.id for i in world.items)
    keys = [
        (-score(i, world.groups[i.group_id], world.points, NOW), i.queued_at, i.id) for i in served
    ]
    assert keys == sorted(keys)  # by score, then the longest waiting, then id

    result = places(world.agents, world.groups, world.items, world.points, handle, NOW)
    queue = [i for i in served if not i.transfer]
    assert set(result) == {i.id for i in queue}  # transfers have no place
    for gid, group in world.groups.items():
        mine = [result[i.id] for i in queue if i.group_id == gid]
        assert [p.position for p in mine] == list(range(1, len(mine) + 1))
        for place in mine:
            if not group.open:
                assert place.overflow == "closed"
            elif place.eta is None:
                assert place.overflow == "no_agent"
            else:
                assert place.eta > 0
                assert (place.overflow == "long_wait") == (place.eta > group.max_wait)


# -- choosing an agent ----------------------------------------------------------------


def _agent(aid: int, **changes: Any) -> Agent:
    return Agent(id=aid, **{"groups": frozenset({1}), "max_chats": 5, **changes})


def _item(iid: str, **changes: Any) -> Item:
    return Item(id=iid, **{"group_id": 1, "queued_at": NOW, **changes})


def _plan(
    agents: list[Agent], items: list[Item], *groups: Group, points: Points | None = None
) -> list[tuple[str, int]]:
    by_id = {g.id: g for g in groups or (Group(1),)}
    return [(i.id, a.id) for i, a in plan(agents, by_id, items, points or Points(), NOW)]


def _queue(n: int) -> list[Item]:
    """Return n alike items, oldest first."""
    return [_item(f"c{k}", queued_at=NOW - (n - k) * 1000) for k in range(n)]


def test_least_busy_compares_load_against_each_agents_limit() -> None:
    agents = [_agent(1, max_chats=2, load=1), _agent(2, max_chats=5, load=2)]  # 0.5 > 0.4
    assert _plan(agents, _queue(1)) == [("c0", 2)]


def test_least_busy_breaks_ties_by_idle_time_then_id() -> None:
    agents = [
        _agent(1, idle_since=NOW - 10),
        _agent(2, idle_since=NOW - 20),
        _agent(3, idle_since=NOW),
    ]
    assert _plan(agents, _queue(4)) == [("c0", 2), ("c1", 1), ("c2", 3), ("c3", 1)]


def test_longest_idle_takes_who_waited_longest_since_their_last_chat() -> None:
    agents = [
        _agent(1, idle_since=NOW - 5_000),
        _agent(2, idle_since=NOW - 90_000, load=4),  # busy, but idle longest
        _agent(3, idle_since=NOW - 60_000),
    ]
    group = Group(1, strategy="longest_idle")
    assert _plan(agents, _queue(3), group) == [("c0", 2), ("c1", 3), ("c2", 1)]


def test_round_robin_continues_after_the_cursor_and_wraps() -> None:
    agents = [_agent(3), _agent(1), _agent(2, max_chats=1)]
    group = Group(1, strategy="round_robin", rr_cursor=2)
    assert _plan(agents, _queue(4), group) == [("c0", 3), ("c1", 1), ("c2", 2), ("c3", 3)]
    assert group.rr_cursor == 3


def test_an_agent_who_fills_up_leaves_the_rotation() -> None:
    agents = [_agent(1, max_chats=1), _agent(2, max_chats=3)]
    group = Group(1, strategy="round_robin")
    assert _plan(agents, _queue(5), group) == [("c0", 1), ("c1", 2), ("c2", 2), ("c3", 2)]
    assert [a.load for a in agents] == [1, 3]


def test_a_pass_fills_every_free_slot_then_stops() -> None:
    agents = [_agent(1, max_chats=2), _agent(2, max_chats=3, load=2), _agent(3, online=False)]
    decisions = _plan(agents, _queue(6))
    assert len(decisions) == 3
    assert [a.load for a in agents] == [2, 3, 0]
    assert _plan([_agent(1, load=5)], _queue(3)) == []


def test_round_robin_cursor_past_every_agent_wraps_to_the_lowest_id() -> None:
    group = Group(1, strategy="round_robin", rr_cursor=99)
    assert _plan([_agent(5), _agent(4)], _queue(1), group) == [("c0", 4)]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_sticky_group_gives_a_returning_visitor_their_agent(strategy: str) -> None:
    agents = [_agent(1), _agent(2, load=4, idle_since=NOW)]
    item = _item("c", preferred_agent_id=2)
    assert _plan(agents, [item], Group(1, strategy=strategy)) == [("c", 2)]
    agents = [_agent(1), _agent(2, load=4, idle_since=NOW)]
    assert _plan(agents, [item], Group(1, strategy=strategy, sticky=False)) == [("c", 1)]


@pytest.mark.parametrize(
    "preferred",
    [
        _agent(2, load=5),  # no room
        _agent(2, online=False),
        _agent(2, groups=frozenset({7})),  # moved to another group
        _agent(2, regions=frozenset({"south"})),  # out of the visitor's region
    ],
)
def test_stickiness_yields_when_the_previous_agent_cannot_take_it(preferred: Agent) -> None:
    item = _item("c", preferred_agent_id=2, region="north")
    assert _plan([_agent(1), preferred], [item]) == [("c", 1)]


def test_stickiness_yields_to_a_ring_out() -> None:
    item = _item("c", preferred_agent_id=2, excluded=frozenset({2}))
    assert _plan([_agent(1, load=4), _agent(2)], [item]) == [("c", 1)]


def test_choose_alone_prefers_the_sticky_agent_among_candidates() -> None:
    candidates = [_agent(1), _agent(2, load=3)]
    assert choose(candidates, Group(1), _item("c", preferred_agent_id=2)).id == 2
    assert choose(candidates, Group(1), _item("c", preferred_agent_id=9)).id == 1


@pytest.mark.parametrize(
    ("agent", "item", "ok"),
    [
        (_agent(1), _item("c"), True),
        (_agent(1, groups=frozenset({2})), _item("c"), False),
        (_agent(1, regions=frozenset({"north"})), _item("c", region="north"), True),
        (_agent(1, regions=frozenset({"north"})), _item("c", region="south"), False),
        (_agent(1, regions=frozenset({"north"})), _item("c"), False),  # unknown region
        (_agent(1), _item("c", region="south"), True),  # no region limit
        (_agent(1, skills=frozenset({"tech"})), _item("c", skill="tech"), True),
        (_agent(1), _item("c", skill="tech"), False),
        (_agent(1, skills=frozenset({"tech"})), _item("c"), True),
        (_agent(1), _item("c", expert=True), False),
        (_agent(1, expert=True), _item("c", expert=True), True),
        (_agent(1, expert=True), _item("c"), True),
        (_agent(1), _item("c", excluded=frozenset({1})), False),
    ],
)
def test_scope(agent: Agent, item: Item, ok: bool) -> None:
    assert in_scope(agent, item, (1,)) is ok


# -- priority ---------------------------------------------------------------------------

_MINUTE = 60_000  # ms


@pytest.mark.parametrize(
    ("targets_waited", "first"),
    [
        (0, "vip"),
        (1, "vip"),  # 30 points of waiting < 60 for the tier
        (2, "new"),  # 60 = 60: the longer wait goes first
        (3, "new"),  # 90 > 60: a fresh VIP does not jump a newcomer who waited 3 targets
    ],
)
def test_a_fresh_vip_against_a_newcomer_who_waited(targets_waited: int, first: str) -> None:
    items = [
        _item("vip", tier="vip"),
        _item("new", queued_at=NOW - targets_waited * _MINUTE),  # target_wait 60 s
    ]
    assert _plan([_agent(1, max_chats=1)], items) == [(first, 1)]


def test_a_vip_who_waited_long_goes_before_a_newcomer_who_just_arrived() -> None:
    items = [_item("new"), _item("vip", tier="vip", queued_at=NOW - 10 * _MINUTE)]
    assert _plan([_agent(1, max_chats=1)], items) == [("vip", 1)]


def test_score_adds_tier_topic_waiting_and_transfer_points() -> None:
    points = Points(topic={"refund": 15})
    group = Group(1, target_wait=30)
    item = _item("c", tier="member", topic="refund", queued_at=NOW - 45_000, transfer=True)
    assert score(item, group, points, NOW) == 20 + 15 + 30 * 1.5 + 40
    assert score(_item("c", tier="new", queued_at=NOW + 5_000), group, points, NOW) == 0


def test_waiting_is_counted_against_each_groups_own_target() -> None:
    groups = (Group(1, target_wait=60), Group(2, target_wait=20))
    agent = _agent(1, max_chats=1, groups=frozenset({1, 2}))
    items = [
        _item("slow", queued_at=NOW - 50_000),
        _item("fast", group_id=2, queued_at=NOW - 30_000),
    ]
    assert _plan([agent], items, *groups) == [("fast", 1)]  # 45 points against 25


# -- closed groups and widening pools -----------------------------------------------------


def test_a_closed_group_assigns_nothing_even_with_an_open_fallback() -> None:
    groups = (Group(1, open=False, fallback_group_id=2, fallback_after=0), Group(2))
    agents = [_agent(1, groups=frozenset({1, 2}))]
    assert _plan(agents, [_item("c", queued_at=NOW - 10 * _MINUTE)], *groups) == []


@pytest.mark.parametrize(("waited", "taken"), [(119_999, False), (120_000, True)])
def test_the_pool_widens_to_the_fallback_group_after_its_delay(waited: int, taken: bool) -> None:
    groups = (Group(1, fallback_group_id=2, fallback_after=120), Group(2))
    item = _item("c", queued_at=NOW - waited)
    assert _plan([_agent(7, groups=frozenset({2}))], [item], *groups) == (
        [("c", 7)] if taken else []
    )
    assert pool(item, {g.id: g for g in groups}, NOW) == ((1, 2) if taken else (1,))


@pytest.mark.parametrize(
    "groups",
    [
        {1: Group(1, fallback_group_id=2, fallback_after=0), 2: Group(2, open=False)},
        {1: Group(1, fallback_group_id=1, fallback_after=0)},  # itself
        {1: Group(1, fallback_group_id=9, fallback_after=0)},  # deleted
    ],
)
def test_the_pool_does_not_widen_to_a_closed_missing_or_same_group(
    groups: dict[int, Group],
) -> None:
    assert pool(_item("c", queued_at=NOW - 10 * _MINUTE), groups, NOW) == (1,)


def test_a_widened_item_competes_by_score_with_the_fallback_groups_own_queue() -> None:
    groups = (Group(1, fallback_group_id=2, fallback_after=60), Group(2))
    items = [_item("own", group_id=2, tier="member"), _item("wide", queued_at=NOW - 2 * _MINUTE)]
    agent = _agent(7, groups=frozenset({2}), max_chats=1)
    assert _plan([agent], items, *groups) == [("wide", 7)]  # 60 points against 20


def test_the_widened_pool_keeps_the_items_own_scope() -> None:
    groups = (Group(1, fallback_group_id=2, fallback_after=0), Group(2))
    agents = [_agent(7, groups=frozenset({2})), _agent(8, groups=frozenset({2}), expert=True)]
    assert _plan(agents, [_item("c", expert=True)], *groups) == [("c", 8)]


# -- places ---------------------------------------------------------------------------------


def _places(
    agents: list[Agent],
    items: list[Item],
    *groups: Group,
    handle: dict[int, float] | None = None,
) -> dict[str, Place]:
    by_id = {g.id: g for g in groups or (Group(1),)}
    return places(agents, by_id, items, Points(), handle or {}, NOW)


def test_places_number_each_queue_in_serving_order_with_a_wait_estimate() -> None:
    items = [
        _item("a", queued_at=NOW - 1000),
        _item("b", tier="vip"),
        _item("c", tier="member", queued_at=NOW - 2000),
        _item("d", group_id=2),
        _item("t", tier="vip", transfer=True),  # already with an agent: no place
    ]
    agents = [_agent(1, load=5), _agent(2, groups=frozenset({1, 2}), max_chats=3)]
    result = _places(agents, items, Group(1), Group(2), handle={1: 240})
    # Group 1: 8 slots, 240 s per chat; group 2: 3 slots, the default 300 s.
    assert result == {
        "b": Place(1, 30, None),
        "c": Place(2, 60, None),
        "a": Place(3, 90, None),
        "d": Place(1, 100, None),
    }


def test_places_offer_overflow_when_closed_nobody_can_or_the_wait_is_long() -> None:
    groups = (Group(1, max_wait=100), Group(2, open=False))
    agents = [_agent(1, groups=frozenset({1, 2}), max_chats=5), _agent(2, online=False)]
    items = [
        _item("a", queued_at=NOW - 4000),
        _item("b", queued_at=NOW - 3000),
        _item("c", queued_at=NOW - 2000),
        _item("nobody", skill="tech", queued_at=NOW - 1000),  # no agent has the skill
        _item("closed", group_id=2),
    ]
    result = _places(agents, items, *groups, handle={1: 200, 2: 200})
    assert result == {
        "a": Place(1, 40, None),
        "b": Place(2, 80, None),
        "c": Place(3, 120, "long_wait"),
        "nobody": Place(4, None, "no_agent"),
        "closed": Place(1, 40, "closed"),
    }


def test_places_say_no_agent_when_everyone_is_offline() -> None:
    result = _places([_agent(1, online=False)], [_item("c")])
    assert result == {"c": Place(1, None, "no_agent")}


def test_places_count_a_widened_pools_capacity() -> None:
    groups = (Group(1, fallback_group_id=2, fallback_after=60), Group(2))
    agents = [_agent(1, max_chats=2), _agent(2, groups=frozenset({2}), max_chats=4)]
    items = [_item("old", queued_at=NOW - 2 * _MINUTE), _item("new")]
    result = _places(agents, items, *groups, handle={1: 120})
    assert result["old"] == Place(1, math.ceil(1 * 120 / 6), None)
    assert result["new"] == Place(2, math.ceil(2 * 120 / 2), None)


def test_places_count_each_agent_once_and_only_those_in_scope() -> None:
    """The estimate follows who can serve the item, not the size of its groups."""
    groups = {
        1: Group(id=1, fallback_group_id=2, fallback_after=60),
        2: Group(id=2),
    }
    both = Agent(id=1, groups=frozenset({1, 2}), max_chats=2)
    idle = Agent(id=2, groups=frozenset({1}), max_chats=0)  # takes no chats at all
    generalists = [Agent(id=10 + i, groups=frozenset({1}), max_chats=5) for i in range(9)]
    expert = Agent(id=30, groups=frozenset({1}), max_chats=1, skills=frozenset({"tech"}))
    handle = {1: 60.0}
    now = 1_000_000
    old = Item(id="old", group_id=1, queued_at=now - 120_000)  # its pool has widened
    tech = [Item(id=f"t{i}", group_id=1, queued_at=now - i, skill="tech") for i in range(3)]
    only_idle = Item(id="x", group_id=1, queued_at=now, skill="none")
    placed = places(
        [both, idle, *generalists, expert], groups, [old, *tech, only_idle], Points(), handle, now
    )
    # Agent 1 sits in both pool groups: 2 + 45 + 1 slots, not 2 + 2 + 45 + 1.
    assert placed["old"].eta == math.ceil(1 * 60 / 48)
    # Only the one tech agent serves "tech": the third in line waits 3 chats of theirs.
    assert placed["t0"].eta is not None and placed["t0"].eta >= 3 * 60 - 60
    # An agent with a limit of 0 cannot make an item reachable.
    assert placed["x"].eta is None and placed["x"].overflow == "no_agent"
