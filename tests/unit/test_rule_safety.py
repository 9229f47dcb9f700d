"""Save-time checks of ticket rules: never matching, dead actions, timed loops, cycles."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.errors import InvalidInput
from appliance.core.rule_input import parse_rule
from appliance.core.rule_safety import check_rule, check_together
from appliance.core.rules import Rule, advance, apply_actions, matches
from tests.unit.test_rules import NOW, cond, data, timed, view

LOOP = "a timed rule must change something its conditions test"
_OLD = cond("hours_since_created", "gt", 1)
_NOTE = {"type": "add_note", "text": "请跟进"}


def _set(field: str, value: Any) -> dict[str, Any]:
    return {"type": "set_field", "field": field, "value": value}


def _checked(raw: dict[str, Any], rule_id: int = 1) -> Rule:
    rule = parse_rule(raw, rule_id=rule_id)
    check_rule(rule)
    return rule


_REFUSED: list[tuple[dict[str, Any], str]] = [
    (
        data(conditions={"all": [cond("priority", "is", "high"), cond("priority", "lt", "high")]}),
        "the rule can never match: no priority meets all the conditions on it",
    ),
    (
        data(
            conditions={
                "all": [cond("tags", "not_contains", ["vip"])],
                "any": [cond("tags", "contains", ["vip"])],
            }
        ),
        "none of the any conditions can hold (the tags it needs are tags it excludes)",
    ),
    (
        data(
            conditions={
                "all": [
                    cond("subject", "contains", "宽带断线"),
                    cond("subject", "not_contains", "断线"),
                ]
            }
        ),
        "the subject must and must not contain the same text",
    ),
    (
        timed(cond("hours_since_created", "gt", 48), cond("hours_since_created", "lt", 24)),
        "no number of hours_since_created is in the range the conditions give",
    ),
    (timed(cond("hours_in_state", "lt", 0)), "no number of hours_in_state is in the range"),
    (
        data(conditions={"all": [cond("state", "is", "new")]}, actions=[_set("state", "closed")]),
        "actions[0] can never take effect: a rule cannot move a new ticket to closed",
    ),
    (
        data(
            conditions={"all": [cond("priority", "in", ["urgent"])]},
            actions=[_NOTE, _set("priority", "urgent")],
        ),
        "actions[1] can never take effect: every ticket it matches has priority urgent already",
    ),
    (
        data(
            conditions={"all": [cond("tags", "contains", ["vip"])]},
            actions=[_set("add_tags", ["vip"])],
        ),
        "every ticket it matches has these tags already",
    ),
    (
        data(
            conditions={"all": [cond("tags", "not_contains", ["vip", "急"])]},
            actions=[_set("remove_tags", ["急"])],
        ),
        "no ticket it matches has these tags",
    ),
    (
        data(
            conditions={"all": [cond("owner_id", "is", "unassigned")]},
            actions=[{"type": "notify", "to": ["owner"]}],
        ),
        "the tickets it matches have no owner or group to notify",
    ),
    (
        data(
            conditions={"all": [cond("owner_id", "is", "unassigned")]},
            actions=[{"type": "assign", "owner_id": None}],
        ),
        "every ticket it matches has owner_id unassigned already",
    ),
    # Timed rules that would act on the same tickets again every minute.
    (timed(cond("state", "is", "pending"), cond("hours_since_updated", "gt", 72)), LOOP),
    (timed(_OLD, actions=[_set("add_tags", ["旧"])]), LOOP),  # tags are not tested
    # One ticket that matches through the first any condition no longer matches after
    # the rule, but a vip-tagged one still does.
    (
        timed(
            _OLD,
            conditions={
                "all": [_OLD],
                "any": [cond("priority", "is", "high"), cond("tags", "contains", ["vip"])],
            },
            actions=[_set("priority", "normal")],
        ),
        LOOP,
    ),
    # A pending ticket moves to open, but the box may not reopen a resolved one.
    (
        timed(_OLD, cond("state", "in", ["pending", "resolved"]), actions=[_set("state", "open")]),
        LOOP,
    ),
]


@pytest.mark.parametrize(("raw", "message"), _REFUSED)
def test_a_rule_that_cannot_work_is_refused_saying_why(raw: dict[str, Any], message: str) -> None:
    rule = parse_rule(raw)
    with pytest.raises(InvalidInput) as refused:
        check_rule(rule)
    assert message in refused.value.message


_ACCEPTED: list[dict[str, Any]] = [
    # Pending for 72 hours: tagged once, then the tag stops it.
    timed(
        cond("state", "is", "pending"),
        cond("hours_in_state", "gt", 72),
        cond("tags", "not_contains", ["超时"]),
        actions=[_set("add_tags", ["超时"]), _NOTE, {"type": "notify", "to": ["owner"]}],
    ),
    timed(
        cond("state", "is", "pending"),
        cond("hours_in_state", "gt", 72),
        actions=[_set("state", "open")],
    ),
    timed(
        cond("state", "is", "resolved"),
        cond("hours_in_state", "gt", 72),
        actions=[_set("state", "closed")],
    ),
    timed(cond("hours_since_updated", "gt", 72), once_per_ticket=True),
    # Every any condition fails after it.
    timed(
        _OLD,
        conditions={
            "all": [_OLD],
            "any": [cond("priority", "is", "high"), cond("priority", "is", "urgent")],
        },
        actions=[_set("priority", "normal")],
    ),
    # No owner for 2 hours: the rule gives it one, and tells them.
    timed(
        cond("owner_id", "is", "unassigned"),
        cond("hours_since_created", "gt", 2),
        actions=[{"type": "assign", "owner_id": 5}, {"type": "notify", "to": ["owner"]}],
    ),
    data(
        conditions={"all": [cond("tags", "contains", ["vip", "急"])]},
        actions=[_set("add_tags", ["vip"])],
    ),
]


@pytest.mark.parametrize("raw", _ACCEPTED)
def test_rules_that_can_work_are_accepted(raw: dict[str, Any]) -> None:
    _checked(raw)


_TIMED_CONDS = st.one_of(
    st.builds(
        lambda op, v: cond("priority", op, v),
        st.sampled_from(["is", "is_not", "gt", "lt"]),
        st.sampled_from(["low", "normal", "high", "urgent"]),
    ),
    st.builds(
        lambda v: cond("priority", "in", v),
        st.lists(st.sampled_from(["low", "normal", "high", "urgent"]), min_size=1, unique=True),
    ),
    st.builds(
        lambda op, t: cond("tags", op, t),
        st.sampled_from(["contains", "not_contains"]),
        st.lists(st.sampled_from(["a", "b"]), min_size=1, unique=True),
    ),
    st.builds(
        lambda op, o: cond("owner_id", op, o),
        st.sampled_from(["is", "is_not"]),
        st.sampled_from(["unassigned", 1, 2]),
    ),
    st.builds(
        lambda s: cond("state", "in", s),
        st.lists(st.sampled_from(["new", "open", "pending", "resolved"]), min_size=1, unique=True),
    ),
)
_TIMED_ACTIONS = st.lists(
    st.one_of(
        st.builds(lambda v: _set("priority", v), st.sampled_from(["low", "normal", "high"])),
        st.builds(lambda t: _set("add_tags", [t]), st.sampled_from(["a", "b"])),
        st.builds(lambda t: _set("remove_tags", [t]), st.sampled_from(["a", "b"])),
        st.builds(lambda o: {"type": "assign", "owner_id": o}, st.sampled_from([None, 1, 2])),
        st.builds(lambda s: _set("state", s), st.sampled_from(["open", "closed"])),
        st.just(_NOTE),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda action: str(action.get("field") or action["type"]),
)
_VIEWS = st.builds(
    lambda state, priority, tags, owner: view(state, priority=priority, tags=tags, owner_id=owner),
    st.sampled_from(["new", "open", "pending", "resolved"]),
    st.sampled_from(["low", "normal", "high", "urgent"]),
    st.lists(st.sampled_from(["a", "b"]), unique=True).map(tuple),
    st.sampled_from([None, 1, 2]),
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(_TIMED_CONDS, min_size=1, max_size=3),
    st.lists(_TIMED_CONDS, max_size=2),
    _TIMED_ACTIONS,
    st.lists(_VIEWS, min_size=4, max_size=12),
)
def test_an_accepted_timed_rule_never_matches_a_ticket_it_just_changed(
    all_: list[dict[str, Any]],
    any_: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    views: list[Any],
) -> None:
    raw = timed(_OLD, *all_, actions=actions)
    raw["conditions"]["any"] = any_
    try:
        rule = _checked(raw)
    except InvalidInput:
        return  # refused (also a contradiction or a repeated field): nothing to run
    for before in views:
        if matches(rule, before, NOW):
            after = advance(before, apply_actions(before, rule.actions), NOW)
            assert not matches(rule, after, NOW + 60_000), (rule, before.ticket)


def _pair(first: dict[str, Any], second: dict[str, Any]) -> tuple[Rule, Rule]:
    return _checked({**first, "name": "A"}, 1), _checked({**second, "name": "B"}, 2)


def _priority_rule(when: str, then: str, **changes: Any) -> dict[str, Any]:
    return timed(_OLD, cond("priority", "is", when), actions=[_set("priority", then)], **changes)


def test_timed_rules_that_undo_each_other_are_refused() -> None:
    a, b = _pair(_priority_rule("high", "low"), _priority_rule("low", "high"))
    check_together(a, [])
    with pytest.raises(InvalidInput) as refused:
        check_together(b, [a])
    assert "could keep undoing each other's changes, every minute: 'B' → 'A' → 'B'" in (
        refused.value.message
    )
    check_together(b, [replace(a, enabled=False)])
    once_a, once_b = _pair(
        _priority_rule("high", "low", once_per_ticket=True),
        _priority_rule("low", "high", once_per_ticket=True),
    )
    check_together(once_b, [once_a])


def test_a_trigger_that_undoes_a_timed_rule_is_refused() -> None:
    raise_it = _checked({**_priority_rule("low", "high"), "name": "升级"}, 1)
    lower = data(
        name="新客户降级",
        conditions={"all": [cond("priority", "is", "high"), cond("customer_tier", "is", "new")]},
        actions=[_set("priority", "low")],
    )
    with pytest.raises(InvalidInput) as refused:
        check_together(_checked(lower, 2), [raise_it])
    assert "'新客户降级' → '升级' → '新客户降级'" in refused.value.message
    # A trigger that only reacts to the timed rule's update is fine.
    note = data(name="记录", conditions={"all": [cond("priority", "is", "high")]})
    check_together(_checked(note, 3), [raise_it])
    # Triggers alone are bounded by their cascade.
    up, down = _pair(
        data(
            conditions={"all": [cond("priority", "is", "low")]}, actions=[_set("priority", "high")]
        ),
        data(
            conditions={"all": [cond("priority", "is", "high")]}, actions=[_set("priority", "low")]
        ),
    )
    check_together(down, [up])
