"""Ticket rules: strict input, conditions per field, trigger cascades, plans, preview."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.errors import InvalidInput
from appliance.core.rule_input import parse_rule, rule_data
from appliance.core.rules import (
    HOUR_MS,
    TAGS_MAX,
    Kind,
    Notification,
    On,
    Rule,
    TicketView,
    advance,
    apply_actions,
    matches,
    preview,
    run_timed,
    run_triggers,
    trigger_events,
)
from appliance.core.ticketflow import FIELDS, By, Event, State, Ticket

NOW = 1_800_000_000_000


def view(
    state: str = "open",
    *,
    tier: str = "",
    age: float = 100,  # hours since created
    idle: float | None = None,  # hours since updated
    in_state: float = 10,
    ticket_id: int = 1,
    **fields: Any,
) -> TicketView:
    created = NOW - int(age * HOUR_MS)
    updated = NOW - int((age if idle is None else idle) * HOUR_MS)
    values = {**FIELDS, "number": "T1", "subject": "宽带经常断线", **fields}
    ticket = Ticket(ticket_id, State(state), values, created, updated, last_seq=3)
    return TicketView(ticket, tier, NOW - int(in_state * HOUR_MS))


def data(**changes: Any) -> dict[str, Any]:
    """A valid trigger's input, changed."""
    base: dict[str, Any] = {
        "name": "r",
        "kind": "trigger",
        "on": ["updated"],
        "conditions": {"all": [], "any": []},
        "actions": [{"type": "add_note", "text": "看一下"}],
    }
    return {**base, **changes}


def rule(rule_id: int = 1, position: int = 0, **changes: Any) -> Rule:
    return parse_rule(data(**changes), rule_id=rule_id, position=position)


def cond(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def timed(*conditions: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A timed rule's input with these `all` conditions, changed."""
    raw = data(kind="timed", conditions={"all": list(conditions)})
    del raw["on"]
    return {**raw, **changes}


# -- strict input -----------------------------------------------------------------------

_REFUSED: list[tuple[Any, str]] = [
    ([], "a rule must be an object"),
    ({"kind": "trigger", "actions": []}, "a rule needs name"),
    (data(colour="red"), "a rule has unknown keys: colour"),
    (data(kind="macro"), "kind must be one of trigger, timed"),
    (data(name="长" * 65), "name is longer than 64 characters"),
    (data(name="  "), "name must not be empty"),
    (data(name="a\x00b"), "name: text must not contain NUL characters"),
    (data(on=[]), "on must be a list of 1 to 5 items"),
    (data(on=["deleted"]), "on must be one of created, updated, replied_by_customer"),
    (timed(cond("hours_since_created", "gt", 1), on=["created"]), "leave on out"),
    (data(once_per_ticket=True), "once_per_ticket is for timed rules"),
    (data(enabled="yes"), "enabled and once_per_ticket must be true or false"),
    (data(conditions=[]), "conditions must be an object"),
    (data(conditions={"none": []}), "conditions has unknown keys: none"),
    (data(conditions={"all": [cond("colour", "is", "red")]}), "conditions.all[0]: field must"),
    (
        data(conditions={"any": [cond("subject", "gt", "a")]}),
        "conditions.any[0]: subject takes the operators contains, not_contains",
    ),
    (
        data(conditions={"all": [cond("hours_since_created", "gt", 1)]}),
        "hours_since_created is for timed rules",
    ),
    (
        data(conditions={"all": [cond("state", "is", "closed")]}),
        "conditions.all[0].value must be one of new, open, pending, resolved: rules never",
    ),
    (
        data(conditions={"all": [cond("priority", "is", "critical")]}),
        "conditions.all[0].value must be one of low, normal, high, urgent",
    ),
    (
        data(conditions={"all": [cond("owner_id", "is", "nobody")]}),
        "must be a user id or 'unassigned'",
    ),
    (
        data(conditions={"all": [cond("group_id", "in", [True])]}),
        "must be an id (a positive whole number) or null",
    ),
    (data(conditions={"all": [cond("group_id", "in", [])]}), "must be a list of 1 to 50 items"),
    (data(conditions={"all": [cond("tags", "contains", "vip")]}), "must be a list of 1 to 50"),
    (data(conditions={"all": [cond("tags", "contains", ["a b"])]}), "a tag is one word"),
    (data(conditions={"all": [cond("channel", "is", "微信")]}), "must be a channel name"),
    (data(conditions={"all": [cond("customer_tier", "is", "gold")]}), "one of vip, member, new"),
    (data(conditions={"all": [cond("subject", "contains", "")]}), "value must not be empty"),
    (data(conditions={"all": [{"field": "type", "op": "is"}]}), "conditions.all[0] needs value"),
    (
        data(conditions={"all": [cond("type", "is", "投诉")] * 21}),
        "conditions.all must be a list of 0 to 20 items",
    ),
    (timed(cond("state", "is", "pending")), "a timed rule needs a time condition"),
    (timed(cond("hours_in_state", "gt", 9000)), "whole number of hours from 0 to 8760"),
    (timed(cond("hours_in_state", "gt", 1.5)), "whole number of hours from 0 to 8760"),
    (data(actions=[]), "actions must be a list of 1 to 10 items"),
    (data(actions=[{"type": "email"}]), "actions[0].type must be one of set_field, assign"),
    (
        data(actions=[{"type": "set_field", "field": "subject", "value": "x"}]),
        "actions[0].field must be one of priority, type, group_id, state",
    ),
    (
        data(actions=[{"type": "set_field", "field": "state", "value": "resolved"}]),
        "actions[0].value: a rule may move a ticket only to open or closed",
    ),
    (
        data(actions=[{"type": "assign", "owner_id": 3, "group_id": 2}]),
        "actions[0]: assign takes owner_id or group_id (one of them)",
    ),
    (data(actions=[{"type": "assign", "owner_id": "me"}]), "actions[0].owner_id must be an id"),
    (data(actions=[{"type": "add_note", "text": " "}]), "actions[0].text must not be empty"),
    (data(actions=[{"type": "add_note", "text": "x" * 2001}]), "longer than 2000 characters"),
    (data(actions=[{"type": "add_note", "text": "x", "to": []}]), "has unknown keys: to"),
    (data(actions=[{"type": "notify", "to": ["boss"]}]), 'user ids, "owner" or "group"'),
    (data(actions=[{"type": "webhook", "event": "Ticket Hot"}]), "actions[0].event must be"),
    (
        data(
            actions=[
                {"type": "set_field", "field": "group_id", "value": 2},
                {"type": "assign", "group_id": 3},
            ]
        ),
        "actions: group_id is set by more than one action",
    ),
    (
        data(
            actions=[
                {"type": "set_field", "field": "add_tags", "value": ["vip", "急"]},
                {"type": "set_field", "field": "remove_tags", "value": ["vip"]},
            ]
        ),
        "actions: tag vip is both added and removed",
    ),
]


@pytest.mark.parametrize(("raw", "message"), _REFUSED)
def test_bad_input_is_refused_saying_what_and_where(raw: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_rule(raw)
    assert message in refused.value.message


def test_a_rule_and_its_json_form_make_each_other() -> None:
    raw = data(
        name="VIP 投诉升级",
        on=["created", "replied_by_customer"],
        conditions={
            "all": [cond("type", "is", "投诉"), cond("customer_tier", "in", ["vip"])],
            "any": [cond("owner_id", "is", "unassigned"), cond("group_id", "is", None)],
        },
        actions=[
            {"type": "set_field", "field": "priority", "value": "urgent"},
            {"type": "assign", "group_id": 4},
            {"type": "set_field", "field": "add_tags", "value": ["vip", "投诉"]},
            {"type": "notify", "to": ["group", 7], "text": "VIP 投诉"},
            {"type": "webhook", "event": "ticket.vip_complaint"},
        ],
    )
    first = parse_rule(copy.deepcopy(raw), rule_id=3, position=2)
    assert first.kind == Kind.TRIGGER and first.on == (On.CREATED, On.REPLIED_BY_CUSTOMER)
    assert first.all[1].value == ("vip",) and first.actions[3].to == ("group", 7)
    assert parse_rule(rule_data(first), rule_id=3, position=2) == first


# -- conditions, field by field ------------------------------------------------------

_CONDITIONS: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    (cond("state", "is", "pending"), {"state": "pending"}, True),
    (cond("state", "is_not", "pending"), {"state": "pending"}, False),
    (cond("state", "in", ["new", "open"]), {"state": "open"}, True),
    (cond("priority", "gt", "normal"), {"priority": "high"}, True),
    (cond("priority", "gt", "high"), {"priority": "high"}, False),
    (cond("priority", "lt", "high"), {"priority": "low"}, True),
    (cond("priority", "in", ["high", "urgent"]), {"priority": "normal"}, False),
    (cond("type", "is", "投诉"), {"type": "投诉"}, True),
    (cond("type", "is", ""), {"type": ""}, True),  # no type
    (cond("channel", "is_not", "phone"), {"channel": "chat"}, True),
    (cond("group_id", "is", None), {"group_id": None}, True),
    (cond("group_id", "in", [2, 3]), {"group_id": 3}, True),
    (cond("owner_id", "is", "unassigned"), {"owner_id": None}, True),
    (cond("owner_id", "is", "unassigned"), {"owner_id": 5}, False),
    (cond("owner_id", "is_not", 5), {"owner_id": None}, True),
    (cond("customer_tier", "is", "vip"), {"tier": "vip"}, True),
    (cond("customer_tier", "is_not", "vip"), {"tier": ""}, True),  # no customer
    (cond("tags", "contains", ["vip", "急"]), {"tags": ("急",)}, True),  # any of them
    (cond("tags", "contains", ["vip"]), {"tags": ()}, False),
    (cond("tags", "not_contains", ["vip", "急"]), {"tags": ("急",)}, False),  # none of them
    (cond("subject", "contains", "断线"), {}, True),
    (cond("subject", "contains", "WIFI"), {"subject": "wifi 连不上"}, True),  # any case
    (cond("subject", "not_contains", "断线"), {}, False),
    (cond("hours_since_created", "gt", 99), {"age": 100}, True),
    (cond("hours_since_created", "lt", 99), {"age": 100}, False),
    (cond("hours_since_updated", "gt", 72), {"idle": 72.5}, True),
    (cond("hours_in_state", "lt", 1), {"in_state": 0.5}, True),
    (cond("hours_until_due", "lt", 4), {"due_at": NOW + 3 * HOUR_MS}, True),
    (cond("hours_until_due", "lt", 0), {"due_at": NOW - HOUR_MS}, True),  # overdue
    (cond("hours_until_due", "gt", -1000), {"due_at": None}, False),  # no due time
    (cond("hours_until_due", "lt", 1000), {"due_at": None}, False),
]


@pytest.mark.parametrize(("condition", "ticket", "expected"), _CONDITIONS)
def test_each_field_with_its_operators(
    condition: dict[str, Any], ticket: dict[str, Any], expected: bool
) -> None:
    checked = parse_rule(timed(cond("hours_since_created", "gt", 0), condition), rule_id=1)
    assert matches(checked, view(**ticket), NOW) is expected


def test_all_and_any_and_final_tickets() -> None:
    r = rule(
        conditions={
            "all": [cond("priority", "is", "high")],
            "any": [cond("tags", "contains", ["vip"]), cond("channel", "is", "phone")],
        }
    )
    assert matches(r, view(priority="high", channel="phone"), NOW)
    assert not matches(r, view(priority="high", channel="chat"), NOW)  # no any holds
    assert not matches(r, view(priority="low", channel="phone"), NOW)
    assert matches(rule(), view(), NOW)  # no conditions: every live ticket
    assert not matches(rule(), view("closed"), NOW)
    assert not matches(rule(), view("merged"), NOW)


# -- plans -------------------------------------------------------------------------------


def test_a_plan_holds_only_what_changes() -> None:
    r = rule(
        actions=[
            {"type": "set_field", "field": "priority", "value": "high"},
            {"type": "set_field", "field": "type", "value": "投诉"},
            {"type": "assign", "owner_id": 9},
            {"type": "set_field", "field": "add_tags", "value": ["vip", "old"]},
            {"type": "set_field", "field": "remove_tags", "value": ["gone"]},
            {"type": "set_field", "field": "state", "value": "open"},
            {"type": "add_note", "text": "已升级"},
            {"type": "notify", "to": ["owner", "group", 3, 9], "text": "请跟进"},
            {"type": "webhook", "event": "ticket.escalated"},
        ]
    )
    before = view("pending", priority="high", group_id=4, tags=("old", "gone"))
    plan = apply_actions(before, r.actions)
    assert plan.changes == {"type": "投诉", "owner_id": 9, "tags": ("old", "vip")}
    assert plan.state == State.OPEN and plan.notes == ("已升级",)
    # "owner" is the owner the actions just gave it; ids are not repeated.
    assert plan.notifications == (Notification((3, 9), (4,), "请跟进"),)
    assert plan.webhooks == ("ticket.escalated",) and plan.skipped == ()
    after = advance(before, plan, NOW)
    assert after.ticket.state == State.OPEN and after.state_at == NOW
    assert after.ticket.fields["owner_id"] == 9 and after.ticket.updated_at == NOW


def test_a_plan_keeps_to_the_moves_the_box_may_make() -> None:
    close = rule(actions=[{"type": "set_field", "field": "state", "value": "closed"}])
    plan = apply_actions(view("open"), close.actions)
    assert plan.state is None and plan.empty
    assert plan.skipped == ("a open ticket cannot become closed",)
    assert apply_actions(view("resolved"), close.actions).state == State.CLOSED
    reopen = rule(actions=[{"type": "set_field", "field": "state", "value": "open"}])
    assert apply_actions(view("open"), reopen.actions).skipped == ()  # already there


def test_a_plan_beyond_the_tag_limit_does_nothing_and_notifies_only_someone() -> None:
    full = tuple(f"t{i}" for i in range(TAGS_MAX))
    tag_and_note = [
        {"type": "set_field", "field": "add_tags", "value": ["more"]},
        {"type": "add_note", "text": "已加标签"},
    ]
    tag = rule(actions=[*tag_and_note, {"type": "set_field", "field": "priority", "value": "high"}])
    plan = apply_actions(view(tags=full), tag.actions)
    assert plan.empty and plan.skipped == (
        f"a ticket has at most {TAGS_MAX} tags: the rule did nothing",
    )
    assert apply_actions(view(tags=full[1:]), tag.actions).changes["tags"] == (*full[1:], "more")
    tell = rule(actions=[{"type": "notify", "to": ["owner", "group"]}])
    plan = apply_actions(view(owner_id=None, group_id=None), tell.actions)
    assert plan.empty and plan.skipped == ("nobody to notify: the ticket has no owner or group",)


# -- triggers --------------------------------------------------------------------------


def _set_priority(value: str) -> list[dict[str, Any]]:
    return [{"type": "set_field", "field": "priority", "value": value}]


def test_triggers_fire_in_order_of_position_each_seeing_the_last_change() -> None:
    second = rule(2, 5, actions=_set_priority("urgent"))
    first = rule(
        3, 1, conditions={"all": [cond("type", "is", "投诉")]}, actions=_set_priority("high")
    )
    watcher = rule(4, 9, conditions={"all": [cond("priority", "is", "urgent")]})
    fired = run_triggers([watcher, second, first], view(type="投诉"), On.UPDATED, NOW)
    assert [f.rule.id for f in fired] == [3, 2, 4]
    assert fired[1].plan.changes == {"priority": "urgent"}
    off = rule(5, 0, enabled=False, actions=_set_priority("low"))
    assert [f.rule.id for f in run_triggers([off, second], view(), On.UPDATED, NOW)] == [2]


def test_a_cascade_starts_over_and_each_trigger_fires_once() -> None:
    # Two triggers that undo each other stop after one turn each.
    down = rule(
        1, 0, conditions={"all": [cond("priority", "is", "high")]}, actions=_set_priority("normal")
    )
    up = rule(
        2, 1, conditions={"all": [cond("priority", "is", "normal")]}, actions=_set_priority("high")
    )
    fired = run_triggers([down, up], view(priority="high"), On.UPDATED, NOW)
    assert [f.rule.id for f in fired] == [1, 2]
    # A rule before the one that fired matches the changed ticket on the new pass.
    early = rule(3, 0, conditions={"all": [cond("tags", "contains", ["vip"])]})
    tagger = rule(4, 1, actions=[{"type": "set_field", "field": "add_tags", "value": ["vip"]}])
    assert [f.rule.id for f in run_triggers([early, tagger], view(), On.UPDATED, NOW)] == [4, 3]


def test_triggers_listen_to_their_events() -> None:
    created = rule(1, 0, on=["created"])
    replied = rule(2, 1, on=["replied_by_customer"])
    updated = rule(3, 2, on=["updated"])
    moved = rule(4, 3, on=["state_changed"])
    rules = [created, replied, updated, moved]

    def ids(kind: Any) -> list[int]:
        return [f.rule.id for f in run_triggers(rules, view(), kind, NOW)]

    assert ids(On.CREATED) == [1]  # a creation is not an update
    assert ids(On.REPLIED_BY_CUSTOMER) == [2, 3]  # every later event is an update
    assert ids("replied_by_agent") == [3]
    assert ids({On.STATE_CHANGED, On.UPDATED}) == [3, 4]
    # A state a trigger changes is a state change to those after it.
    opener = rule(
        5, 0, on=["created"], actions=[{"type": "set_field", "field": "state", "value": "open"}]
    )
    fired = run_triggers([opener, moved], view("new"), On.CREATED, NOW)
    assert [f.rule.id for f in fired] == [5, 4]


def test_history_entries_name_their_trigger_events() -> None:
    def event(kind: str, by: By = By.AGENT) -> Event:
        return Event(1, 2, NOW, by, "3", kind, {})

    assert trigger_events([event("created")]) == {On.CREATED}
    assert trigger_events([event("reply", By.CUSTOMER)]) == {On.UPDATED, On.REPLIED_BY_CUSTOMER}
    assert trigger_events([event("reply"), event("state")]) == {
        On.UPDATED,
        On.REPLIED_BY_AGENT,
        On.STATE_CHANGED,
    }
    assert trigger_events([event("note"), event("changed")]) == {On.UPDATED}
    assert trigger_events([event("rule", By.SYSTEM)]) == frozenset()


_FIELD_ACTIONS = st.one_of(
    st.builds(
        lambda v: {"type": "set_field", "field": "priority", "value": v},
        st.sampled_from(["low", "normal", "high", "urgent"]),
    ),
    st.builds(
        lambda f, t: {"type": "set_field", "field": f, "value": [t]},
        st.sampled_from(["add_tags", "remove_tags"]),
        st.sampled_from(["a", "b", "c"]),
    ),
    st.builds(lambda o: {"type": "assign", "owner_id": o}, st.sampled_from([None, 1, 2])),
    st.just({"type": "set_field", "field": "state", "value": "open"}),
)
_CONDS = st.one_of(
    st.builds(
        lambda op, v: cond("priority", op, v),
        st.sampled_from(["is", "is_not", "gt", "lt"]),
        st.sampled_from(["low", "normal", "high", "urgent"]),
    ),
    st.builds(
        lambda op, t: cond("tags", op, [t]),
        st.sampled_from(["contains", "not_contains"]),
        st.sampled_from(["a", "b", "c"]),
    ),
    st.builds(lambda o: cond("owner_id", "is", o), st.sampled_from(["unassigned", 1, 2])),
    st.builds(lambda s: cond("state", "is", s), st.sampled_from(["new", "open", "pending"])),
)
_TRIGGERS = st.lists(
    st.tuples(st.lists(_CONDS, max_size=2), _FIELD_ACTIONS, st.integers(0, 5)), max_size=8
)
_TICKETS = st.builds(
    lambda state, priority, tags, owner: view(state, priority=priority, tags=tags, owner_id=owner),
    st.sampled_from(["new", "open", "pending"]),
    st.sampled_from(["low", "normal", "high", "urgent"]),
    st.lists(st.sampled_from(["a", "b", "c"]), unique=True).map(tuple),
    st.sampled_from([None, 1, 2]),
)


@settings(max_examples=300, deadline=None)
@given(_TRIGGERS, _TICKETS)
def test_random_triggers_never_cascade_beyond_their_number(
    specs: list[tuple[list[dict[str, Any]], dict[str, Any], int]], start: TicketView
) -> None:
    rules = [
        rule(i + 1, position, conditions={"all": conds}, actions=[action])
        for i, (conds, action, position) in enumerate(specs)
    ]
    fired = run_triggers(rules, start, On.UPDATED, NOW)
    ids = [f.rule.id for f in fired]
    assert len(ids) == len(set(ids)) <= len(rules)
    # Each fired on the ticket as the ones before it left it.
    current = start
    for f in fired:
        assert matches(f.rule, current, NOW)
        assert apply_actions(current, f.rule.actions) == f.plan
        current = advance(current, f.plan, NOW)


def test_timed_rules_run_in_order_and_once_rules_not_twice() -> None:
    late = parse_rule(
        timed(
            cond("hours_since_updated", "gt", 72), actions=[{"type": "add_note", "text": "超时"}]
        ),
        rule_id=1,
        position=1,
    )
    tagger = parse_rule(
        timed(
            cond("hours_since_updated", "gt", 72),
            cond("tags", "not_contains", ["超时"]),
            actions=[{"type": "set_field", "field": "add_tags", "value": ["超时"]}],
        ),
        rule_id=2,
        position=0,
    )
    once = parse_rule(
        timed(cond("hours_since_created", "gt", 1), once_per_ticket=True), rule_id=3, position=2
    )
    stale = view(idle=80)
    fired = run_timed([once, late, tagger], stale, NOW)
    assert [f.rule.id for f in fired] == [2, 3]  # late saw the ticket the tagger updated
    assert [f.rule.id for f in run_timed([once, tagger], stale, NOW, ran={3})] == [2]
    assert run_timed([tagger], view(idle=10), NOW) == []


# -- preview -----------------------------------------------------------------------------


def test_preview_lists_the_tickets_it_matches_now_up_to_a_limit() -> None:
    r = rule(conditions={"all": [cond("priority", "in", ["high", "urgent"])]})
    views = [
        view(ticket_id=1, priority="high"),
        view(ticket_id=2, priority="low"),
        view("closed", ticket_id=3, priority="urgent"),  # rules leave closed tickets alone
        view(ticket_id=4, priority="urgent"),
        *(view(ticket_id=10 + i, priority="high") for i in range(200)),
    ]
    assert preview(r, views[:4], NOW) == [1, 4]
    assert len(preview(r, views, NOW)) == 100
    assert preview(r, iter(views), NOW, limit=3) == [1, 4, 10]
