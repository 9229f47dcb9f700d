"""A ticket rule from its JSON form (as a supervisor sends it and the store keeps it),
checked strictly and bounded; every refusal is an InvalidInput that says what is wrong
and where (`conditions.all[1]: ...`, `actions[0]: ...`)."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from appliance.core.errors import InvalidInput
from appliance.core.rules import (
    ACTION_TYPES,
    AUTO,
    CUSTOMER_TIERS,
    LIVE_STATES,
    OPS,
    PRIORITIES,
    SETTABLE,
    TAGS_MAX,
    TIME_FIELDS,
    UNASSIGNED,
    Action,
    Condition,
    Kind,
    On,
    Rule,
)
from appliance.core.ticketflow import By, State, moves
from appliance.core.validate import INT_MAX, text_problem

NAME_MAX = 64
CONDITIONS_MAX = 20  # in each of all and any
ACTIONS_MAX = 10
VALUES_MAX = 50  # in a list value (in, contains)
SUBJECT_MAX = 100  # a subject condition's text
TYPE_MAX = 32
TAG_MAX = 32
NOTE_MAX = 2000
NOTIFY_TEXT_MAX = 500
RECIPIENTS_MAX = 20
HOURS_MAX = 8760  # one year
_EVENT = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,31}")
_RULE_KEYS = frozenset(
    {"name", "kind", "enabled", "on", "conditions", "actions", "once_per_ticket"}
)
# The states the box itself may move a ticket to, from some state (ticketflow's rules).
SYSTEM_TARGETS = tuple(dict.fromkeys(t.value for s in State for t in moves(s, By.SYSTEM)))


def _text(value: Any, where: str, limit: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{where} must be text")
    stripped: str = value.strip()
    problem = text_problem(stripped)
    if problem:
        raise InvalidInput(f"{where}: {problem}")
    if required and not stripped:
        raise InvalidInput(f"{where} must not be empty")
    if len(stripped) > limit:
        raise InvalidInput(f"{where} is longer than {limit} characters")
    return stripped


def _id(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT_MAX:
        raise InvalidInput(f"{where} must be an id (a positive whole number)")
    return value


def _id_or_none(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT_MAX:
        raise InvalidInput(f"{where} must be an id (a positive whole number) or null")
    return value


def _one_of(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidInput(f"{where} must be one of {', '.join(choices)}")
    return value


def _tag(value: Any, where: str) -> str:
    tag = _text(value, where, TAG_MAX)
    if any(c.isspace() or c == "," for c in tag):
        raise InvalidInput(f"{where}: a tag is one word without spaces or commas")
    return tag


def _list(value: Any, where: str, low: int, high: int) -> list[Any]:
    if not isinstance(value, list) or not low <= len(value) <= high:
        raise InvalidInput(f"{where} must be a list of {low} to {high} items")
    return value


def _keys(raw: Any, where: str, required: Collection[str], optional: Collection[str] = ()) -> None:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} must be an object")
    missing = set(required) - raw.keys()
    if missing:
        raise InvalidInput(f"{where} needs {', '.join(sorted(missing))}")
    unknown = raw.keys() - set(required) - set(optional)
    if unknown:
        raise InvalidInput(f"{where} has unknown keys: {', '.join(sorted(map(str, unknown)))}")


def _scalar(field: str, value: Any, where: str) -> Any:
    """One value of a field, as conditions compare it."""
    if field == "state":
        choices = LIVE_STATES
        if value not in choices:
            raise InvalidInput(
                f"{where} must be one of {', '.join(choices)}: rules never act on closed or"
                " merged tickets"
            )
        return value
    if field == "priority":
        return _one_of(value, where, PRIORITIES)
    if field == "customer_tier":
        return _one_of(value, where, CUSTOMER_TIERS)
    if field == "type":
        return _text(value, where, TYPE_MAX, required=False)  # "": no type
    if field == "channel":
        if not isinstance(value, str) or not _CHANNEL.fullmatch(value):
            raise InvalidInput(f"{where} must be a channel name such as chat, phone or email")
        return value
    if field == "group_id":
        return _id_or_none(value, where)  # null: no group
    if value == UNASSIGNED:  # owner_id
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT_MAX:
        raise InvalidInput(f"{where} must be a user id or {UNASSIGNED!r}")
    return value


def _condition(raw: Any, where: str, kind: Kind) -> Condition:
    _keys(raw, where, {"field", "op", "value"})
    field, op, value = raw["field"], raw["op"], raw["value"]
    if not isinstance(field, str) or field not in OPS:
        raise InvalidInput(f"{where}: field must be one of {', '.join(OPS)}")
    if field in TIME_FIELDS and kind != Kind.TIMED:
        raise InvalidInput(f"{where}: {field} is for timed rules; a trigger acts on an event")
    if op not in OPS[field]:
        raise InvalidInput(f"{where}: {field} takes the operators {', '.join(OPS[field])}")
    where = f"{where}.value"
    if field in TIME_FIELDS:
        low = -HOURS_MAX if field == "hours_until_due" else 0
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= HOURS_MAX:
            raise InvalidInput(f"{where} must be a whole number of hours from {low} to {HOURS_MAX}")
        return Condition(field, op, value)
    if field == "subject":
        return Condition(field, op, _text(value, where, SUBJECT_MAX))
    if field == "tags":
        tags = _list(value, where, 1, VALUES_MAX)
        return Condition(field, op, tuple(dict.fromkeys(_tag(t, where) for t in tags)))
    if op == "in":
        items = _list(value, where, 1, VALUES_MAX)
        return Condition(field, op, tuple(dict.fromkeys(_scalar(field, v, where) for v in items)))
    return Condition(field, op, _scalar(field, value, where))


def _conditions(raw: Any, kind: Kind) -> tuple[tuple[Condition, ...], tuple[Condition, ...]]:
    if raw is None:
        return (), ()
    _keys(raw, "conditions", set(), {"all", "any"})
    groups = []
    for group in ("all", "any"):
        items = _list(raw.get(group, []), f"conditions.{group}", 0, CONDITIONS_MAX)
        groups.append(
            tuple(_condition(c, f"conditions.{group}[{i}]", kind) for i, c in enumerate(items))
        )
    return groups[0], groups[1]


def _action(raw: Any, where: str) -> Action:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} must be an object")
    kind = _one_of(raw.get("type"), f"{where}.type", ACTION_TYPES)
    if kind == "set_field":
        _keys(raw, where, {"type", "field", "value"})
        field = _one_of(raw["field"], f"{where}.field", SETTABLE)
        value, at = raw["value"], f"{where}.value"
        if field in ("add_tags", "remove_tags"):
            tags = _list(value, at, 1, TAGS_MAX)
            return Action(kind, field, tuple(dict.fromkeys(_tag(t, at) for t in tags)))
        if field == "state":
            if value not in SYSTEM_TARGETS:
                raise InvalidInput(
                    f"{at}: a rule may move a ticket only to {' or '.join(SYSTEM_TARGETS)}"
                    " (the moves the box itself may make)"
                )
            return Action(kind, field, value)
        return Action(kind, field, _scalar(field, value, at))
    if kind == "assign":
        if len(raw.keys() & {"owner_id", "group_id"}) != 1:
            raise InvalidInput(f"{where}: assign takes owner_id or group_id (one of them)")
        field = "owner_id" if "owner_id" in raw else "group_id"
        _keys(raw, where, {"type", field})
        if field == "owner_id" and raw[field] == AUTO:
            return Action(kind, field, AUTO)  # the ticket service picks by skill and load
        return Action(kind, field, _id_or_none(raw[field], f"{where}.{field}"))
    if kind == "add_note":
        _keys(raw, where, {"type", "text"})
        return Action(kind, value=_text(raw["text"], f"{where}.text", NOTE_MAX))
    if kind == "notify":
        _keys(raw, where, {"type", "to"}, {"text"})
        at = f"{where}.to"
        to: list[int | str] = []
        for item in _list(raw["to"], at, 1, RECIPIENTS_MAX):
            if item not in ("owner", "group"):
                item = _id(item, f'{at} items (user ids, "owner" or "group")')
            to.append(item)
        note = _text(raw.get("text", ""), f"{where}.text", NOTIFY_TEXT_MAX, required=False)
        return Action(kind, value=note, to=tuple(dict.fromkeys(to)))
    _keys(raw, where, {"type", "event"})
    event = raw["event"]
    if not isinstance(event, str) or not _EVENT.fullmatch(event):
        raise InvalidInput(
            f"{where}.event must be a name of lowercase letters, digits, _ and . (up to 64)"
        )
    return Action(kind, value=event)


def _actions(raw: Any) -> tuple[Action, ...]:
    items = _list(raw, "actions", 1, ACTIONS_MAX)
    actions = tuple(_action(a, f"actions[{i}]") for i, a in enumerate(items))
    fields = [a.field for a in actions if a.type in ("set_field", "assign")]
    twice = sorted({f for f in fields if fields.count(f) > 1})
    if twice:
        raise InvalidInput(f"actions: {twice[0]} is set by more than one action")
    added = next((a.value for a in actions if a.field == "add_tags"), ())
    removed = next((a.value for a in actions if a.field == "remove_tags"), ())
    both = [t for t in added if t in removed]
    if both:
        raise InvalidInput(f"actions: tag {both[0]} is both added and removed")
    return actions


def parse_rule(data: Any, *, rule_id: int = 0, position: int = 0) -> Rule:
    """Return the rule a JSON object describes, or raise InvalidInput saying why not."""
    _keys(data, "a rule", {"name", "kind", "actions"}, _RULE_KEYS)
    name = _text(data["name"], "name", NAME_MAX)
    kind = Kind(_one_of(data["kind"], "kind", tuple(Kind)))
    enabled = data.get("enabled", True)
    once = data.get("once_per_ticket", False)
    if not isinstance(enabled, bool) or not isinstance(once, bool):
        raise InvalidInput("enabled and once_per_ticket must be true or false")
    if once and kind == Kind.TRIGGER:
        raise InvalidInput("once_per_ticket is for timed rules; a trigger acts on each event")
    on: tuple[On, ...] = ()
    if kind == Kind.TRIGGER:
        events = _list(data.get("on"), "on", 1, len(On))
        on = tuple(dict.fromkeys(On(_one_of(e, "on", tuple(On))) for e in events))
    elif data.get("on"):
        raise InvalidInput("a timed rule runs by the clock, not on events: leave on out")
    all_, any_ = _conditions(data.get("conditions"), kind)
    if kind == Kind.TIMED and not any(c.field in TIME_FIELDS for c in all_):
        raise InvalidInput(
            f"a timed rule needs a time condition ({', '.join(TIME_FIELDS)}) in conditions.all"
        )
    return Rule(
        rule_id, name, kind, position, enabled, on, all_, any_, _actions(data["actions"]), once
    )


def _action_data(action: Action) -> dict[str, Any]:
    if action.type == "set_field":
        value = list(action.value) if isinstance(action.value, tuple) else action.value
        return {"type": action.type, "field": action.field, "value": value}
    if action.type == "assign":
        return {"type": action.type, action.field: action.value}
    if action.type == "add_note":
        return {"type": action.type, "text": action.value}
    if action.type == "notify":
        return {"type": action.type, "to": list(action.to), "text": action.value}
    return {"type": action.type, "event": action.value}


def rule_data(rule: Rule) -> dict[str, Any]:
    """Return a rule's JSON form, which `parse_rule` turns back into the same rule."""

    def condition(c: Condition) -> dict[str, Any]:
        value = list(c.value) if isinstance(c.value, tuple) else c.value
        return {"field": c.field, "op": c.op, "value": value}

    data: dict[str, Any] = {
        "name": rule.name,
        "kind": rule.kind.value,
        "enabled": rule.enabled,
        "conditions": {
            "all": [condition(c) for c in rule.all],
            "any": [condition(c) for c in rule.any],
        },
        "actions": [_action_data(a) for a in rule.actions],
    }
    if rule.kind == Kind.TRIGGER:
        data["on"] = [e.value for e in rule.on]
    else:
        data["once_per_ticket"] = rule.once_per_ticket
    return data
