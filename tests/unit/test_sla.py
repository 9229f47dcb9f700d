"""SLA clocks against a minute-by-minute reference; the minute pass; choice; checks.

The reference walks a ticket's life one real minute at a time and asks three things
of each minute: is the ticket's clock for a metric running (started, not fulfilled,
the ticket new or open), which policy is in force (urgent tickets get A, others B,
and B may be edited part way), and is that policy's calendar open (`hours.is_open` on
the minute's wall time in Shanghai). It adds up business time, and at each minute's
pass expects exactly the warnings, breaches and levels whose business time has been
used and that did not fire before. The code under test runs the same life through
`advance` (events) and `due` (the pass, over clocks whose next_at has come, as the
store's index finds them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core.businesstime import Calendar, Spans
from appliance.core.errors import ChatError, InvalidInput
from appliance.core.hours import DAYS, is_open
from appliance.core.sla import (
    METRICS,
    Clock,
    Firing,
    Level,
    Metric,
    Policy,
    SlaEvent,
    advance,
    choose,
    due,
    policy_input,
)
from appliance.core.sla_clock import rebase
from appliance.core.sla_policy import Conditions, always_open, check, merged
from appliance.core.ticketflow import FINAL, By, Event, State, Ticket, apply

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN = 60_000
# A Friday; the National Day holidays (1-7 October) and two weekends follow.
BASE = datetime(2026, 9, 25, tzinfo=SHANGHAI)
BASE_MIN = int(BASE.timestamp()) // 60
WORKWEEK: Spans = {day: [(9 * 60, 12 * 60), (13 * 60, 18 * 60)] for day in DAYS[:5]}
NIGHTS: Spans = {day: [(0, 6 * 60), (22 * 60, 24 * 60)] for day in DAYS}
EXTRA = 2 * 24 * 60  # minutes walked after the last step
ANY = Conditions()


def make_policy(
    pid: int,
    position: int,
    *,
    targets: dict[Metric, int | None],
    hours: Spans | None = None,
    holidays: frozenset[date] = frozenset(),
    share: float = 0.8,
    levels: tuple[Level, ...] = (),
    conditions: Conditions = ANY,
    enabled: bool = True,
) -> Policy:
    return Policy(
        id=pid,
        position=position,
        name=f"p{pid}",
        enabled=enabled,
        conditions=conditions,
        targets={m: targets.get(m) for m in METRICS},
        hours=hours,
        holidays=holidays,
        warn_share=share,
        levels=levels,
        created_at=0,
        updated_at=0,
    )


def ms(local: datetime) -> int:
    return int(local.timestamp() * 1000)


# --- the code under test, driven as the ticket service drives it ---------------------


@dataclass
class Desk:
    """One ticket, its clocks and the policies, moved as `Sla.track`/`fire_due` move them."""

    policies: dict[int, Policy]
    ticket: Ticket | None = None
    clocks: dict[Metric, Clock] = field(default_factory=dict)
    seq: int = 0

    def calendar(self, policy: Policy | None) -> Calendar:
        return always_open(SHANGHAI) if policy is None else policy.calendar(SHANGHAI)

    def happen(self, at: int, by: By, kind: str, data: dict[str, Any]) -> list[SlaEvent] | None:
        """Apply an event (None when the ticket rules refuse it)."""
        event = Event(7, self.seq + 1, at, by, "x", kind, data)
        try:
            after = apply(self.ticket, event)
        except ChatError:
            return None
        self.seq, self.ticket = self.seq + 1, after
        policy = choose(self.policies.values(), after, None)
        ran_on = next((c.policy_id for c in self.clocks.values() if c.live), None)
        previous = self.calendar(self.policies.get(ran_on) if ran_on is not None else None)
        self.clocks, events = advance(
            self.clocks, after, event, policy, self.calendar(policy), previous
        )
        return events

    def edit(self, policy: Policy, at: int) -> None:
        """Replace a policy, as `Sla.update` does: its live clocks follow at once."""
        old = self.policies[policy.id]
        self.policies[policy.id] = policy
        for metric, clock in self.clocks.items():
            if clock.live and clock.policy_id == policy.id:
                self.clocks[metric] = rebase(
                    clock, policy, self.calendar(old), self.calendar(policy), at
                )

    def tick(self, now: int) -> list[Firing]:
        """The minute pass: only clocks whose next_at has come are looked at."""
        firings: list[Firing] = []
        for metric, clock in self.clocks.items():
            if clock.next_at is not None and clock.next_at <= now:
                policy = self.policies.get(clock.policy_id) if clock.policy_id else None
                self.clocks[metric], taken = due(clock, policy, self.calendar(policy), now)
                firings += taken
        return firings


def firing_key(f: Firing) -> str:
    return f.kind if f.level is None else f"level {f.level.key}"


# --- the reference ----------------------------------------------------------------


@dataclass
class RefClock:
    used: int = 0  # ms, by the start of the current minute
    before: int = 0  # ms, by the start of the minute before
    fulfilled: bool = False
    stopped: bool = False
    fired: set[str] = field(default_factory=set)


def ref_marks(metric: str, policy: Policy) -> list[tuple[str, int]]:
    target = policy.targets.get(metric)
    if target is None:
        return []
    t = target * MIN
    marks = [("warning", round(t * policy.warn_share)), ("breach", t)]
    marks += [
        (f"level {lv.key}", t + lv.offset * MIN) for lv in policy.levels if lv.metric == metric
    ]
    return marks


def ref_event(
    ref: dict[str, RefClock], kind: str, by: By, state: State, agent_replied: bool
) -> None:
    if kind == "created":
        ref["first_response"], ref["resolution"] = RefClock(), RefClock()
    if kind == "reply" and by == By.AGENT:
        for metric in ("first_response", "next_response"):
            if metric in ref and not ref[metric].stopped:
                ref[metric].fulfilled = True
    answered = "next_response" not in ref or ref["next_response"].fulfilled
    waiting = kind == "reply" and by == By.CUSTOMER and state not in FINAL
    if waiting and agent_replied and answered:
        ref["next_response"] = RefClock()
    res = ref.get("resolution")
    if res is not None and not res.stopped:
        if state == State.RESOLVED:
            res.fulfilled = True
        elif state not in FINAL:
            res.fulfilled = False  # reopened
    if state in FINAL:
        for clock in ref.values():
            clock.stopped = True


def ref_open(policy: Policy, minute: int) -> bool:
    local = datetime.fromtimestamp(minute * 60, tz=UTC).astimezone(SHANGHAI)
    return is_open(policy.hours, policy.holidays, local)


# --- strategies ---------------------------------------------------------------------

quarter = st.tuples(st.integers(0, 95), st.integers(1, 24)).map(
    lambda q: (q[0] * 15, min(24 * 60, (q[0] + q[1]) * 15))
)
random_week = st.fixed_dictionaries({}, optional=dict.fromkeys(DAYS, st.lists(quarter, max_size=2)))
schedules = st.one_of(st.none(), st.just(WORKWEEK), st.just(NIGHTS), random_week)
holidays = st.frozensets(st.integers(0, 20).map(lambda n: (BASE + timedelta(days=n)).date()))
targets = st.one_of(st.none(), st.integers(1, 600))
ACTIONS = ("notify", "reassign_group", "raise_priority", "notify_manager")


@st.composite
def policies(draw: st.DrawFn, pid: int, position: int, conditions: Conditions) -> Policy:
    goals: dict[Metric, int | None] = {m: draw(targets) for m in METRICS}
    levels: dict[tuple[str, str], Level] = {}
    for metric, target in goals.items():
        if target is None:
            continue
        for offset, action in draw(
            st.lists(st.tuples(st.integers(1 - target, 300), st.sampled_from(ACTIONS)), max_size=3)
        ):
            group = 5 if action == "reassign_group" else None
            level = Level(metric, offset, action, group)
            levels[(metric, level.key)] = level
    return make_policy(
        pid,
        position,
        targets=goals,
        hours=draw(schedules),
        holidays=draw(holidays),
        share=draw(st.sampled_from([0.5, 0.75, 0.8, 0.9, 0.33])),
        levels=tuple(levels.values()),
        conditions=conditions,
    )


URGENT = Conditions(priorities=("urgent",))
# Weighted: a merge or a close ends the ticket, so they come rarely.
STEPS = (
    *("agent_reply", "customer_reply") * 3,
    *("pending", "open", "reopen", "resolve", "urgent", "normal", "edit") * 2,
    *("note", "close", "merge"),
)
gaps = st.one_of(st.integers(0, 90), st.integers(0, 2 * 24 * 60))
lives = st.lists(st.tuples(gaps, st.sampled_from(STEPS)), max_size=12)


def _event(step: str) -> tuple[By, str, dict[str, Any]]:
    return {
        "agent_reply": (By.AGENT, "reply", {}),
        "customer_reply": (By.CUSTOMER, "reply", {}),
        "note": (By.AGENT, "note", {}),
        "pending": (By.AGENT, "state", {"to": "pending"}),
        "open": (By.CUSTOMER, "state", {"to": "open"}),
        "resolve": (By.AGENT, "state", {"to": "resolved"}),
        "reopen": (By.AGENT, "state", {"to": "open"}),
        "close": (By.CUSTOMER, "state", {"to": "closed"}),
        "merge": (By.AGENT, "merged", {"into": 99}),
        "urgent": (By.AGENT, "changed", {"priority": "urgent"}),
        "normal": (By.AGENT, "changed", {"priority": "normal"}),
    }[step]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policies(1, 1, URGENT),
    policies(2, 2, Conditions()),
    policies(2, 2, Conditions()),
    st.integers(0, 8 * 24 * 60),
    st.sampled_from(["normal", "urgent"]),
    lives,
)
def test_clocks_and_firings_follow_the_minute_by_minute_reference(
    a: Policy, b: Policy, b_edited: Policy, offset: int, priority: str, life: list[tuple[int, str]]
) -> None:
    desk = Desk({1: a, 2: b})
    defined = {1: a, 2: b}
    start = BASE_MIN + offset
    steps: dict[int, list[str]] = {}
    minute = start
    for gap, step in life:
        minute += gap
        steps.setdefault(minute, []).append(step)
    end = minute + EXTRA

    assert desk.happen(start * MIN, By.AGENT, "created", {"priority": priority}) is not None
    ref: dict[str, RefClock] = {}
    ref_event(ref, "created", By.AGENT, State.NEW, False)
    agent_replied = False
    marks: dict[tuple[int, str], list[tuple[str, int]]] = {}

    def in_force() -> Policy:
        assert desk.ticket is not None
        return defined[1] if desk.ticket.fields["priority"] == "urgent" else defined[2]

    def running() -> list[str]:
        assert desk.ticket is not None
        if desk.ticket.state not in (State.NEW, State.OPEN):
            return []
        return [m for m, c in ref.items() if not (c.fulfilled or c.stopped)]

    # Between events the policy in force and the running clocks stay as they are.
    policy, runs = in_force(), running()
    for now in range(start, end + 1):
        # The minute pass at `now` sees the ticket as the events before `now` left it.
        expected = set()
        for metric in runs:
            clock = ref[metric]
            key_marks = (id(policy), metric)
            if key_marks not in marks:
                marks[key_marks] = ref_marks(metric, policy)
            for key, mark in marks[key_marks]:
                if key not in clock.fired and clock.used >= mark:
                    at = (now - 1) * MIN + max(0, mark - clock.before)
                    expected.add((metric, key, at))
                    clock.fired.add(key)
        got = desk.tick(now * MIN)
        assert {(f.metric, firing_key(f), f.at) for f in got} == expected, now - start
        assert len(got) == len(expected)
        for f in got:
            if f.kind == "breach":
                assert f.at == f.due_at
            assert f.policy_id == policy.id

        for step in steps.get(now, []):
            if step == "edit":
                defined[2] = b_edited if defined[2] is b else b
                desk.edit(defined[2], now * MIN)
                continue
            by, kind, data = _event(step)
            events = desk.happen(now * MIN, by, kind, data)
            if events is None:
                continue
            assert desk.ticket is not None
            if kind == "reply" and by == By.AGENT:
                agent_replied = True
            # Fulfilled on time or late, against the policy in force.
            for ev in events:
                if ev.kind == "fulfilled":
                    goal = in_force().targets[ev.metric]
                    assert ev.late == (goal is not None and ref[ev.metric].used > goal * MIN)
            ref_event(ref, kind, by, desk.ticket.state, agent_replied)

        if now in steps or now == end:
            # After a minute's events: the same clocks, the same business time used.
            policy, runs = in_force(), running()
            assert set(desk.clocks) == set(ref)
            for metric, clock in desk.clocks.items():
                ran_on = desk.policies.get(clock.policy_id) if clock.policy_id else None
                assert clock.used_at(desk.calendar(ran_on), now * MIN) == ref[metric].used
                assert clock.running_since is not None or clock.next_at is None
                if clock.live:
                    assert clock.policy_id == policy.id
        for metric in runs:
            ref[metric].before = ref[metric].used
        if runs and ref_open(policy, now):
            for metric in runs:
                ref[metric].used += MIN

    # Whatever is still planned lies beyond the walk.
    for clock in desk.clocks.values():
        assert clock.next_at is None or clock.next_at > end * MIN


# --- worked examples with an injected `now` -----------------------------------------


def test_a_weekend_ticket_warns_breaches_and_escalates_once_each_at_its_minute() -> None:
    # Mon-Fri 09:00-12:00 and 13:00-18:00; first response within 60 business minutes,
    # warned at 75 %, escalated to group 5 thirty minutes after the breach and the
    # manager told ten minutes before it.
    levels = (
        Level("first_response", -10, "notify_manager"),
        Level("first_response", 30, "reassign_group", 5),
    )
    policy = make_policy(
        1,
        1,
        targets={"first_response": 60, "resolution": 600},
        hours=WORKWEEK,
        share=0.75,
        levels=levels,
    )
    desk = Desk({1: policy})
    created = ms(datetime(2026, 9, 25, 17, 30, tzinfo=SHANGHAI))  # Friday 17:30
    events = desk.happen(created, By.CUSTOMER, "created", {"subject": "宽带断线"})
    assert [(e.metric, e.kind) for e in events or []] == [
        ("first_response", "started"),
        ("resolution", "started"),
    ]
    first = desk.clocks["first_response"]
    # 30 minutes on Friday, then the weekend: due Monday 28 September at 09:30.
    monday = datetime(2026, 9, 28, tzinfo=SHANGHAI)
    assert first.due_at == ms(monday.replace(hour=9, minute=30))
    assert first.warn_at == ms(monday.replace(hour=9, minute=15))
    assert first.next_at == first.warn_at

    def at(hour: int, minute: int) -> int:
        return ms(monday.replace(hour=hour, minute=minute))

    # The warning needs 45 minutes: 30 on Friday, 15 on Monday.
    assert desk.tick(ms(datetime(2026, 9, 27, 23, 59, tzinfo=SHANGHAI))) == []
    assert desk.tick(at(9, 14)) == []
    warned = desk.tick(at(9, 15))
    assert [(f.kind, f.at) for f in warned] == [("warning", at(9, 15))]
    assert desk.tick(at(9, 15)) == []  # taken: never again
    assert [(f.kind, f.at) for f in desk.tick(at(9, 20))] == [("level", at(9, 20))]
    assert desk.tick(at(9, 29)) == []
    late = desk.tick(at(9, 31))  # a pass one minute late still finds the breach
    assert [(f.kind, f.at, f.due_at) for f in late] == [("breach", at(9, 30), at(9, 30))]
    level = desk.tick(at(12, 0))
    assert [(f.kind, f.at) for f in level] == [("level", at(10, 0))]
    assert level[0].level == Level("first_response", 30, "reassign_group", 5)
    # The resolution's own warning: 75 % of 600 minutes is 450, used by 17:00.
    resolution = desk.tick(at(17, 0))
    assert [(f.metric, f.kind, f.at) for f in resolution] == [("resolution", "warning", at(17, 0))]
    # The agent answers late; the resolution clock is untouched.
    events = desk.happen(at(17, 0), By.AGENT, "reply", {})
    assert [(e.metric, e.kind, e.late) for e in events or []] == [
        ("first_response", "fulfilled", True)
    ]
    assert desk.clocks["first_response"].next_at is None
    # 30 minutes on Friday, 09:00-12:00 and 13:00-17:00 on Monday.
    assert desk.clocks["first_response"].used == (30 + 180 + 240) * MIN


def test_pending_pauses_every_clock_and_a_reopen_keeps_the_resolution_time() -> None:
    policy = make_policy(
        1, 1, targets={"first_response": 30, "next_response": 20, "resolution": 120}
    )
    desk = Desk({1: policy})
    t0 = ms(datetime(2026, 11, 2, 9, tzinfo=SHANGHAI))
    desk.happen(t0, By.CUSTOMER, "created", {})
    desk.happen(t0 + 10 * MIN, By.AGENT, "reply", {})  # first response on time
    desk.happen(t0 + 15 * MIN, By.CUSTOMER, "reply", {})  # next response starts
    assert desk.clocks["next_response"].due_at == t0 + 35 * MIN
    events = desk.happen(t0 + 20 * MIN, By.AGENT, "state", {"to": "pending"})
    assert {(e.metric, e.kind) for e in events or []} == {
        ("next_response", "paused"),
        ("resolution", "paused"),
    }
    assert all(c.due_at is None and c.next_at is None for c in desk.clocks.values())
    assert desk.tick(t0 + 600 * MIN) == []  # nothing fires while pending
    events = desk.happen(t0 + 600 * MIN, By.CUSTOMER, "state", {"to": "open"})
    assert {(e.metric, e.kind) for e in events or []} == {
        ("next_response", "resumed"),
        ("resolution", "resumed"),
    }
    assert desk.clocks["next_response"].due_at == t0 + 615 * MIN
    assert desk.clocks["resolution"].due_at == t0 + 700 * MIN
    desk.happen(t0 + 610 * MIN, By.AGENT, "reply", {})
    desk.happen(t0 + 650 * MIN, By.AGENT, "state", {"to": "resolved"})
    resolution = desk.clocks["resolution"]
    assert resolution.fulfilled_at == t0 + 650 * MIN and resolution.used == 70 * MIN
    events = desk.happen(t0 + 2000 * MIN, By.CUSTOMER, "state", {"to": "open"})
    assert [(e.metric, e.kind) for e in events or []] == [("resolution", "resumed")]
    assert desk.clocks["resolution"].due_at == t0 + 2050 * MIN  # 50 minutes were left
    events = desk.happen(t0 + 2010 * MIN, By.AGENT, "state", {"to": "resolved"})
    events = desk.happen(t0 + 2020 * MIN, By.SYSTEM, "state", {"to": "closed"})
    assert [(e.metric, e.kind) for e in events or []] == []  # all fulfilled already
    assert all(c.stopped_at == t0 + 2020 * MIN for c in desk.clocks.values())


def test_a_new_policy_keeps_the_business_time_used_and_may_breach_at_once() -> None:
    slow = make_policy(2, 2, targets={"first_response": 240})
    fast = make_policy(1, 1, targets={"first_response": 30}, conditions=URGENT)
    desk = Desk({1: fast, 2: slow})
    t0 = ms(datetime(2026, 11, 2, 9, tzinfo=SHANGHAI))
    desk.happen(t0, By.CUSTOMER, "created", {})
    assert desk.clocks["first_response"].due_at == t0 + 240 * MIN
    events = desk.happen(t0 + 50 * MIN, By.AGENT, "changed", {"priority": "urgent"})
    assert [(e.metric, e.kind, e.policy_id, e.used) for e in events or []] == [
        ("first_response", "retargeted", 1, 50 * MIN),
        ("resolution", "retargeted", 1, 50 * MIN),
    ]
    fired = desk.tick(t0 + 50 * MIN)
    assert [(f.kind, f.at) for f in fired] == [
        ("warning", t0 + 50 * MIN),
        ("breach", t0 + 50 * MIN),
    ]
    assert desk.tick(t0 + 51 * MIN) == []
    # Back to the slow policy: the breach is not undone, nothing fires twice.
    desk.happen(t0 + 60 * MIN, By.AGENT, "changed", {"priority": "normal"})
    assert desk.clocks["first_response"].due_at == t0 + 240 * MIN
    assert desk.tick(t0 + 300 * MIN) == []


def test_without_a_policy_clocks_measure_but_nothing_fires() -> None:
    only_urgent = make_policy(1, 1, targets={"resolution": 10}, conditions=URGENT)
    desk = Desk({1: only_urgent})
    t0 = ms(datetime(2026, 11, 2, 9, tzinfo=SHANGHAI))
    desk.happen(t0, By.CUSTOMER, "created", {})
    assert all(c.target is None and c.next_at is None for c in desk.clocks.values())
    assert desk.tick(t0 + 10_000 * MIN) == []
    # Urgent later: measured since creation (on an always-open calendar), so late at once.
    desk.happen(t0 + 20 * MIN, By.AGENT, "changed", {"priority": "urgent"})
    assert [(f.kind, f.at) for f in desk.tick(t0 + 21 * MIN)] == [
        ("warning", t0 + 20 * MIN),
        ("breach", t0 + 20 * MIN),
    ]


def test_a_customer_reply_before_any_agent_reply_starts_no_next_response_clock() -> None:
    policy = make_policy(1, 1, targets={"next_response": 10})
    desk = Desk({1: policy})
    t0 = ms(datetime(2026, 11, 2, 9, tzinfo=SHANGHAI))
    desk.happen(t0, By.CUSTOMER, "created", {})
    desk.happen(t0 + MIN, By.CUSTOMER, "reply", {})
    assert "next_response" not in desk.clocks
    desk.happen(t0 + 2 * MIN, By.AGENT, "reply", {})
    desk.happen(t0 + 3 * MIN, By.CUSTOMER, "reply", {})
    desk.happen(t0 + 4 * MIN, By.CUSTOMER, "reply", {})  # still the same wait
    assert desk.clocks["next_response"].started_at == t0 + 3 * MIN
    assert [f.kind for f in desk.tick(t0 + 13 * MIN)] == ["warning", "breach"]
    desk.happen(t0 + 14 * MIN, By.AGENT, "reply", {})
    desk.happen(t0 + 15 * MIN, By.CUSTOMER, "reply", {})  # a new cycle: fires anew
    assert [f.kind for f in desk.tick(t0 + 25 * MIN)] == ["warning", "breach"]


# --- choosing a policy -------------------------------------------------------------


def _ticket(**fields: Any) -> Ticket:
    return apply(None, Event(1, 1, 0, By.AGENT, "3", "created", fields))


def test_choose_takes_the_first_enabled_match_by_position() -> None:
    vip = make_policy(
        1,
        3,
        targets={"resolution": 60},
        conditions=Conditions(tiers=("vip",), priorities=("high", "urgent")),
    )
    billing = make_policy(
        2, 1, targets={"resolution": 120}, conditions=Conditions(group_ids=(4,), types=("billing",))
    )
    off = make_policy(3, 0, targets={"resolution": 5}, enabled=False)
    anything = make_policy(4, 9, targets={"resolution": 480})
    found = [vip, billing, off, anything]
    assert choose(found, _ticket(group_id=4, type="billing", priority="urgent"), "vip") == billing
    assert choose(found, _ticket(group_id=4, type="question", priority="urgent"), "vip") == vip
    assert choose(found, _ticket(group_id=4, type="question", priority="normal"), "vip") == anything
    assert choose(found, _ticket(priority="high"), None) == anything  # unknown tier
    assert choose(found, _ticket(priority="high"), "member") == anything
    assert choose([vip, billing, off], _ticket(), None) is None
    # Same position: the older (smaller id) first.
    twin = make_policy(5, 3, targets={"resolution": 1}, conditions=Conditions(tiers=("vip",)))
    assert choose([twin, vip], _ticket(priority="high"), "vip") == vip


# --- checking what a supervisor sends ------------------------------------------------

GOOD: dict[str, Any] = {
    "name": "VIP 客户",
    "conditions": {"tiers": ["vip"], "priorities": ["high", "urgent"], "group_ids": [1]},
    "targets": {"first_response": 30, "next_response": 60, "resolution": 480},
    "hours": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]]},
    "holidays": ["2026-10-01"],
    "warn_share": 0.75,
    "levels": [
        {"metric": "first_response", "offset_minutes": -10, "action": "notify"},
        {"metric": "resolution", "offset_minutes": 60, "action": "reassign_group", "group_id": 3},
    ],
}


def _with(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def test_a_good_policy_reads_back_as_it_was_sent() -> None:
    draft = check(GOOD)
    assert draft.targets == {"first_response": 30, "next_response": 60, "resolution": 480}
    assert draft.hours == {"mon": [(540, 720), (780, 1080)]}
    assert draft.holidays == frozenset({date(2026, 10, 1)})
    assert draft.levels[1] == Level("resolution", 60, "reassign_group", 3)
    assert check(policy_input(draft)) == draft
    minimal = check({"name": "x", "targets": {"resolution": 1}})
    assert minimal.warn_share == 0.8 and minimal.enabled and minimal.hours is None
    assert minimal.conditions == Conditions() and minimal.levels == ()
    stored = make_policy(9, 1, targets=dict(draft.targets), hours=draft.hours, levels=draft.levels)
    changed = merged(stored, {"targets": {"first_response": 15, "resolution": 30}})
    assert changed.name == "p9" and changed.targets["next_response"] is None
    assert changed.levels == draft.levels
    assert changed.hours == draft.hours


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "policy must be an object"),
        (_with(colour="red"), "unknown keys ['colour']"),
        ({"targets": {"resolution": 5}}, "name is required"),
        (_with(name="x" * 101), "longer than 100"),
        (_with(name="a\x00b"), "NUL"),
        ({"name": "x"}, "targets are required"),
        (_with(targets={"first_response": None}), "set at least one"),
        (_with(targets={"resolution": 0}), "targets.resolution must be a whole number from 1"),
        (_with(targets={"resolution": True}), "targets.resolution must be a whole number"),
        (_with(targets={"resolution": 1.5}), "targets.resolution must be a whole number"),
        (_with(targets={"resolution": 10**9}), "to 527040"),
        (_with(targets={"first_reply": 5}), "targets: unknown keys ['first_reply']"),
        (_with(enabled="yes"), "enabled must be true or false"),
        (_with(warn_share=1), "warn_share"),
        (_with(warn_share=0), "warn_share"),
        (_with(warn_share=-0.5), "warn_share"),
        (_with(warn_share=float("nan")), "warn_share"),
        (_with(warn_share=True), "warn_share"),
        (_with(warn_share="0.8"), "warn_share"),
        (_with(conditions={"region": ["x"]}), "conditions: unknown keys ['region']"),
        (_with(conditions={"types": "billing"}), "conditions.types must be a list"),
        (_with(conditions={"types": ["x"] * 51}), "at most 50"),
        (_with(conditions={"tiers": [""]}), "conditions.tiers is required"),
        (_with(conditions={"priorities": ["x" * 33]}), "longer than 32"),
        (_with(conditions={"group_ids": [0]}), "conditions.group_ids must be a whole number"),
        (_with(hours={"mon": [["09:00", "25:00"]]}), "must be HH:MM"),
        (_with(hours={"mon": [], "tue": []}), "open at least one span"),
        (_with(holidays=["2026-13-01"]), "YYYY-MM-DD"),
        (_with(hours='{"mon": [["09:00", "18:00"]]}'), "hours must be an object"),
        (_with(holidays="2026-10-01"), "holidays must be a list"),
        (_with(levels={"metric": "resolution"}), "levels must be a list"),
        (
            _with(levels=[{"metric": "resolution", "offset_minutes": 0, "action": "sms"}]),
            "levels[0].action",
        ),
        (
            _with(levels=[{"metric": "reply", "offset_minutes": 0, "action": "notify"}]),
            "levels[0].metric",
        ),
        (
            {
                "name": "x",
                "targets": {"resolution": 5},
                "levels": [{"metric": "first_response", "offset_minutes": 0, "action": "notify"}],
            },
            "first_response has no target",
        ),
        (
            _with(levels=[{"metric": "first_response", "offset_minutes": -30, "action": "notify"}]),
            "levels[0].offset_minutes must be a whole number from -29",
        ),
        (
            _with(
                levels=[{"metric": "resolution", "offset_minutes": 5, "action": "reassign_group"}]
            ),
            "levels[0].group_id must be a whole number",
        ),
        (
            _with(
                levels=[
                    {"metric": "resolution", "offset_minutes": 5, "action": "notify", "group_id": 2}
                ]
            ),
            "group_id is only for reassign_group",
        ),
        (
            _with(
                levels=[
                    {"metric": "resolution", "offset_minutes": 5, "action": "notify", "when": 1}
                ]
            ),
            "levels[0]: unknown keys ['when']",
        ),
        (
            _with(levels=[{"metric": "resolution", "offset_minutes": 5, "action": "notify"}] * 2),
            "resolution has notify at 5 minutes twice",
        ),
        (
            _with(levels=[{"metric": "resolution", "offset_minutes": 5, "action": "notify"}] * 21),
            "at most 20",
        ),
    ],
)
def test_policies_the_checks_refuse(data: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check(data)
    assert message in refused.value.message
