"""Save-time checks of ticket rules: a rule is refused when it can never match, when
one of its actions can never take effect, when it is timed and would act on the same
ticket again every minute, or when it and other rules could keep undoing each other.

The method. "Build the simplest ticket that meets the conditions, apply the actions,
check it no longer matches" is right in spirit but one ticket is not enough: a ticket
that meets the rule through another `any` condition, or sits in another allowed state
from which the box may not make the rule's move, keeps matching and the rule runs
again every minute. So the check builds every such ticket at once: for each field the
conditions test, the set of values they allow (`_allowed`: a finite set, or "too
many to list"). The actions set fields to constants, so what a condition says after
them is the same for every ticket in that set and is computed once:
- a timed rule is safe when, after its actions, some `all` condition fails (or every
  `any` condition does) for every ticket it matched: it changed what it tests;
- a state move counts only when the box may make it from every state the conditions
  allow (ticketflow.check_move with By.SYSTEM), else some tickets keep their state;
- time does not count: a note resets "hours since updated", but the rule would then
  run again after the same hours, on every ticket, for ever. Such a rule is declared
  once_per_ticket instead, and runs at most once on each ticket.
Between rules: A "may lead to" B when A's actions set a value one of B's conditions
accepts (for a timed B), or A changes the ticket and B is a trigger on updates, and no
`all` condition of B fails after A's actions. A saved rule in a cycle of that relation
with a timed rule that is not once_per_ticket is refused: they could take turns every
minute. Triggers alone are bounded by their cascade (rules.run_triggers).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.core.errors import (
    Conflict,
    Forbidden,
    RuleDeadAction,
    RuleLoops,
    RuleNeverMatches,
)
from appliance.core.rules import (
    CUSTOMER_TIERS,
    LIVE_STATES,
    PRIORITIES,
    TIME_FIELDS,
    UNASSIGNED,
    Action,
    Condition,
    Kind,
    On,
    Rule,
    satisfied_by,
)
from appliance.core.ticketflow import By, State, check_move

_FINITE: dict[str, tuple[Any, ...]] = {
    "state": LIVE_STATES,
    "priority": PRIORITIES,
    "customer_tier": (*CUSTOMER_TIERS, ""),  # "": no customer
}
_VALUE_FIELDS = ("state", "priority", "type", "channel", "group_id", "owner_id", "customer_tier")


def _allowed(field: str, conditions: Iterable[Condition]) -> frozenset[Any] | None:
    """Return the values of a field that meet all conditions on it (None: too many)."""
    only = frozenset(_FINITE[field]) if field in _FINITE else None
    never: set[Any] = set()
    for c in conditions:
        if c.field != field:
            continue
        if only is not None:
            only = frozenset(v for v in only if satisfied_by(c, v))
        elif c.op in ("is", "in"):
            only = frozenset(c.value if c.op == "in" else (c.value,)) - never
        else:
            never.add(c.value)
    return only


def _forced(field: str, conditions: Iterable[Condition], value: Any) -> bool:
    """Tell whether the conditions allow the field no value but `value`."""
    return _allowed(field, conditions) == frozenset({value})


def _states(rule: Rule) -> frozenset[str]:
    """Return the states of the tickets a rule may match."""
    return _allowed("state", rule.all) or frozenset()


def _impossible(conditions: Sequence[Condition]) -> str:
    """Say why no ticket meets all these conditions ("" when some may)."""
    for field in _VALUE_FIELDS:
        if _allowed(field, conditions) == frozenset():
            return f"no {field} meets all the conditions on it"
    absent = {
        t for c in conditions if c.op == "not_contains" and c.field == "tags" for t in c.value
    }
    for c in conditions:
        if c.field == "tags" and c.op == "contains" and set(c.value) <= absent:
            return "the tags it needs are tags it excludes"
    texts = [c.value.casefold() for c in conditions if c.field == "subject" and c.op == "contains"]
    excluded = [
        c.value.casefold() for c in conditions if c.field == "subject" and c.op != "contains"
    ]
    if any(part in text for part in excluded for text in texts):
        return "the subject must and must not contain the same text"
    for field in TIME_FIELDS:
        above = [c.value for c in conditions if c.field == field and c.op == "gt"]
        below = [c.value for c in conditions if c.field == field and c.op == "lt"]
        if not below:
            continue
        top = min(below)
        # Hours since something are never negative; hours until due may be.
        if top <= max(above, default=top - 1) or (field != "hours_until_due" and top <= 0):
            return f"no number of {field} is in the range the conditions give"
    return ""


def _never_matches(rule: Rule) -> str:
    reason = _impossible(rule.all)
    if reason or not rule.any:
        return reason
    reasons = [_impossible([*rule.all, c]) for c in rule.any]
    return "" if not all(reasons) else f"none of the any conditions can hold ({reasons[0]})"


def _movable(states: Iterable[str], target: str) -> list[str]:
    """Return the states a rule may move a ticket from to `target`."""
    found = []
    for state in states:
        try:
            check_move(State(state), State(target), By.SYSTEM)
        except (Conflict, Forbidden):
            continue
        found.append(state)
    return found


@dataclass(frozen=True, slots=True)
class _Effects:
    """What a rule's actions leave on the tickets it matches: field values as conditions
    see them, the state every one of them moves to (`state`) or some may move to
    (`may_state`), tags present (True) or absent (False)."""

    sets: dict[str, Any]
    state: str | None
    may_state: str | None
    tags: dict[str, bool]
    writes: bool  # a history entry: the ticket is updated


def _effects(rule: Rule) -> _Effects:
    sets: dict[str, Any] = {}
    state = may_state = None
    tags: dict[str, bool] = {}
    writes = False
    states = _states(rule)
    for action in rule.actions:
        if action.field in ("add_tags", "remove_tags"):
            tags.update(dict.fromkeys(action.value, action.field == "add_tags"))
        elif action.field == "state":
            movable = _movable(states, action.value)
            may_state = action.value if movable else None
            state = action.value if len(movable) == len(states) else None
        elif action.type in ("set_field", "assign"):
            none = UNASSIGNED if action.field == "owner_id" else None
            sets[action.field] = none if action.value is None else action.value
        elif action.type != "add_note":
            continue  # notify and webhook leave the ticket as it is
        writes = True
    return _Effects(sets, state, may_state, tags, writes)


def _fails_after(c: Condition, effects: _Effects) -> bool:
    """Tell whether a condition fails on every ticket after actions with these effects."""
    if c.field in effects.sets:
        return not satisfied_by(c, effects.sets[c.field])
    if c.field == "state" and effects.state is not None:
        return not satisfied_by(c, effects.state)
    if c.field == "tags":
        after = [effects.tags.get(t) for t in c.value]
        return all(a is False for a in after) if c.op == "contains" else True in after
    return False


def _holds_after(c: Condition, effects: _Effects) -> bool:
    """Tell whether actions with these effects may be what makes a condition hold."""
    if c.field in effects.sets:
        return satisfied_by(c, effects.sets[c.field])
    if c.field == "state" and effects.may_state is not None:
        return satisfied_by(c, effects.may_state)
    if c.field == "tags":
        after = [effects.tags.get(t) for t in c.value]
        return (c.op == "contains") in after
    if c.op == "lt" and c.field == "hours_since_updated":
        return effects.writes
    return c.op == "lt" and c.field == "hours_in_state" and effects.may_state is not None


def _always(rule: Rule, field: str, value: Any) -> bool:
    """Tell whether a field has `value` on every ticket the rule matches, after its actions."""
    sets = _effects(rule).sets
    return bool(sets[field] == value) if field in sets else _forced(field, rule.all, value)


def _dead_action(rule: Rule, action: Action) -> str:
    """Say why an action can never take effect on a ticket the rule matches ("" if it can)."""
    field = action.field
    tags = [c for c in rule.all if c.field == "tags"]
    if field == "state":
        states = _states(rule)
        if not _movable(states, action.value):
            allowed = " or ".join(s for s in LIVE_STATES if s in states)
            return f"a rule cannot move a {allowed} ticket to {action.value}"
    elif field == "add_tags":
        has = {c.value[0] for c in tags if c.op == "contains" and len(c.value) == 1}
        if set(action.value) <= has:
            return "every ticket it matches has these tags already"
    elif field == "remove_tags":
        lacks = {t for c in tags if c.op == "not_contains" for t in c.value}
        if set(action.value) <= lacks:
            return "no ticket it matches has these tags"
    elif action.type in ("set_field", "assign"):
        value = UNASSIGNED if field == "owner_id" and action.value is None else action.value
        if _forced(field, rule.all, value):
            return f"every ticket it matches has {field} {value} already"
    elif action.type == "notify" and not any(isinstance(t, int) for t in action.to):
        no_owner = "owner" not in action.to or _always(rule, "owner_id", UNASSIGNED)
        no_group = "group" not in action.to or _always(rule, "group_id", None)
        if no_owner and no_group:
            return "the tickets it matches have no owner or group to notify"
    return ""


def _undoes_itself(rule: Rule) -> bool:
    effects = _effects(rule)
    if any(_fails_after(c, effects) for c in rule.all):
        return True
    return bool(rule.any) and all(_fails_after(c, effects) for c in rule.any)


def check_rule(rule: Rule) -> None:
    """Refuse a rule that can never match or act, or a timed one that would loop."""
    reason = _never_matches(rule)
    if reason:
        raise RuleNeverMatches(f"the rule can never match: {reason}")
    for index, action in enumerate(rule.actions):
        reason = _dead_action(rule, action)
        if reason:
            raise RuleDeadAction(f"actions[{index}] can never take effect: {reason}")
    if rule.kind == Kind.TIMED and not rule.once_per_ticket and not _undoes_itself(rule):
        raise RuleLoops(
            "a timed rule must change something its conditions test, so that a ticket it"
            " acted on no longer matches (else it acts again every minute); or set"
            " once_per_ticket to run it at most once on each ticket"
        )


def _leads_to(a: Rule, effects: _Effects, b: Rule) -> bool:
    """Tell whether rule a acting on a ticket may make rule b act on it next."""
    if any(_fails_after(c, effects) for c in b.all):
        return False
    if b.kind == Kind.TRIGGER:
        return (effects.writes and On.UPDATED in b.on) or (
            effects.may_state is not None and On.STATE_CHANGED in b.on
        )
    return any(_holds_after(c, effects) for c in (*b.all, *b.any))


def _path(start: int, goal: int, edges: dict[int, list[int]]) -> list[int] | None:
    """Return a shortest path of rule indexes from start to goal (None: there is none)."""
    came = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for after in edges[node]:
            if after == goal:
                path = [goal, node]
                while path[-1] != start:
                    path.append(came[path[-1]])
                return path[::-1]
            if after not in came:
                came[after] = node
                queue.append(after)
    return None


def check_together(rule: Rule, others: Iterable[Rule]) -> None:
    """Refuse a rule that could take turns every minute with other enabled rules."""
    if not rule.enabled:
        return
    rules = [rule, *(r for r in others if r.enabled and r.id != rule.id)]
    effects = [_effects(r) for r in rules]
    edges = {
        i: [j for j, b in enumerate(rules) if j != i and _leads_to(a, effects[i], b)]
        for i, a in enumerate(rules)
    }
    for goal, other in enumerate(rules):
        if other.kind != Kind.TIMED or other.once_per_ticket:
            continue
        there = [0] if goal == 0 else _path(0, goal, edges)  # rules[0] is the one saved
        back = _path(goal, 0, edges)
        if there is None or back is None:
            continue
        names = " → ".join(f"'{rules[i].name}'" for i in [*there, *back[1:]])
        raise RuleLoops(
            f"these rules could keep undoing each other's changes, every minute: {names};"
            " change their conditions or make the timed one once_per_ticket"
        )
