"""SLA policies of the service desk: what a supervisor sets, checked strictly, and which
policy a ticket gets.

A policy has conditions (groups, ticket types, priorities, customer tiers; an empty
list matches any), targets in business minutes for the first response, each next
response and the resolution, a calendar (weekly hours in `core/hours.py`'s form and
holidays, read in the box's zone), the share of a target at which a warning goes out,
and escalation levels: an action a number of business minutes before (negative), at
(0) or after (positive) a metric's deadline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any, Literal, get_args

from appliance.core.businesstime import Calendar, Spans, minutes
from appliance.core.errors import InvalidInput
from appliance.core.hours import HoursError, hours_json, parse_holidays, parse_hours
from appliance.core.ticketflow import Ticket
from appliance.core.validate import INT_MAX, text, text_problem, whole

Metric = Literal["first_response", "next_response", "resolution"]
Action = Literal["notify", "reassign_group", "raise_priority", "notify_manager"]
METRICS: tuple[Metric, ...] = get_args(Metric)
ACTIONS: tuple[Action, ...] = get_args(Action)

_NAME_MAX = 100
_VALUE_MAX = 32  # characters of a ticket type, priority or customer tier
_LIST_MAX = 50  # values per condition
_LEVELS_MAX = 20
_TARGET_MAX = 366 * 24 * 60  # minutes: a year
_OFFSET_MAX = 30 * 24 * 60  # minutes after a deadline
_WARN_SHARE = 0.8
_KEYS = frozenset(
    {"name", "enabled", "conditions", "targets", "hours", "holidays", "warn_share", "levels"}
)
_CONDITIONS = ("group_ids", "types", "priorities", "tiers")
_LEVEL_KEYS = frozenset({"metric", "offset_minutes", "action", "group_id"})


@dataclass(frozen=True, slots=True)
class Conditions:
    """Which tickets a policy is for; an empty tuple matches any value."""

    group_ids: tuple[int, ...] = ()
    types: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()

    def match(self, ticket: Ticket, tier: str | None) -> bool:
        """Tell whether a ticket (its requester of `tier`) meets every condition."""
        fields = ticket.fields
        return (
            (not self.group_ids or fields.get("group_id") in self.group_ids)
            and (not self.types or fields.get("type") in self.types)
            and (not self.priorities or fields.get("priority") in self.priorities)
            and (not self.tiers or tier in self.tiers)
        )


@dataclass(frozen=True, slots=True)
class Level:
    """An escalation: `action` when `offset` business minutes from `metric`'s deadline
    have passed (negative: before it); `group_id` is where reassign_group sends it."""

    metric: Metric
    offset: int
    action: Action
    group_id: int | None = None

    @property
    def key(self) -> str:
        """The level's name among its metric's levels, kept when it has fired."""
        return f"{self.offset}:{self.action}"


@dataclass(frozen=True, slots=True)
class Draft:
    """A policy as a supervisor sets it, checked; targets in minutes (None: none)."""

    name: str
    enabled: bool
    conditions: Conditions
    targets: Mapping[Metric, int | None]
    hours: Spans | None
    holidays: frozenset[date]
    warn_share: float
    levels: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    """A stored policy; the first enabled one by position that matches a ticket applies."""

    id: int
    position: int
    name: str
    enabled: bool
    conditions: Conditions
    targets: Mapping[Metric, int | None]  # minutes
    hours: Spans | None
    holidays: frozenset[date]
    warn_share: float
    levels: tuple[Level, ...]
    created_at: int
    updated_at: int

    def target(self, metric: Metric) -> int | None:
        """The metric's target in business ms, None when it has none."""
        amount = self.targets.get(metric)
        return None if amount is None else minutes(amount)

    def calendar(self, zone: tzinfo) -> Calendar:
        """The policy's business hours and holidays read in `zone`."""
        return Calendar(self.hours, self.holidays, zone)


def always_open(zone: tzinfo) -> Calendar:
    """The calendar clocks run on while no policy applies to a ticket."""
    return Calendar(None, frozenset(), zone)


def choose(policies: Iterable[Policy], ticket: Ticket, tier: str | None) -> Policy | None:
    """Return the first enabled policy by position whose conditions the ticket meets."""
    for policy in sorted(policies, key=lambda p: (p.position, p.id)):
        if policy.enabled and policy.conditions.match(ticket, tier):
            return policy
    return None


def policy_input(policy: Policy | Draft) -> dict[str, Any]:
    """Return a policy in its input (and API) form, which `check` reads back."""
    c = policy.conditions
    return {
        "name": policy.name,
        "enabled": policy.enabled,
        "conditions": {
            "group_ids": list(c.group_ids),
            "types": list(c.types),
            "priorities": list(c.priorities),
            "tiers": list(c.tiers),
        },
        "targets": {metric: policy.targets.get(metric) for metric in METRICS},
        "hours": hours_json(policy.hours),
        "holidays": sorted(d.isoformat() for d in policy.holidays),
        "warn_share": policy.warn_share,
        "levels": [level_input(level) for level in policy.levels],
    }


def level_input(level: Level) -> dict[str, Any]:
    """Return a level in its input and stored form."""
    out: dict[str, Any] = {
        "metric": level.metric,
        "offset_minutes": level.offset,
        "action": level.action,
    }
    if level.group_id is not None:
        out["group_id"] = level.group_id
    return out


def _object(value: Any, field: str, allowed: Iterable[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be an object")
    unknown = sorted(str(k)[:32] for k in set(value) - set(allowed))[:5]
    if unknown:
        raise InvalidInput(f"{field}: unknown keys {unknown}; use {', '.join(sorted(allowed))}")
    return value


def _values(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > _LIST_MAX:
        raise InvalidInput(f"{field} must be a list of at most {_LIST_MAX} values")
    out: list[str] = []
    for item in value:
        name = text(item, field, _VALUE_MAX, required=True)
        if problem := text_problem(name):
            raise InvalidInput(f"{field}: {problem}")
        if name not in out:
            out.append(name)
    return tuple(out)


def _conditions(value: Any) -> Conditions:
    data = _object({} if value is None else value, "conditions", _CONDITIONS)
    groups = data.get("group_ids", [])
    if not isinstance(groups, list) or len(groups) > _LIST_MAX:
        raise InvalidInput(f"conditions.group_ids must be a list of at most {_LIST_MAX} ids")
    return Conditions(
        group_ids=tuple(
            dict.fromkeys(whole(g, "conditions.group_ids", 1, INT_MAX) for g in groups)
        ),
        types=_values(data.get("types", []), "conditions.types"),
        priorities=_values(data.get("priorities", []), "conditions.priorities"),
        tiers=_values(data.get("tiers", []), "conditions.tiers"),
    )


def _targets(value: Any) -> dict[Metric, int | None]:
    data = _object(value, "targets", METRICS)
    targets: dict[Metric, int | None] = {}
    for metric in METRICS:
        amount = data.get(metric)
        targets[metric] = (
            None if amount is None else whole(amount, f"targets.{metric}", 1, _TARGET_MAX)
        )
    if all(amount is None for amount in targets.values()):
        raise InvalidInput("targets: set at least one of " + ", ".join(METRICS))
    return targets


def _warn_share(value: Any) -> float:
    if value is None:
        return _WARN_SHARE
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value < 1
    ):
        raise InvalidInput("warn_share must be a number between 0 and 1 (e.g. 0.8)")
    return float(value)


def _level(value: Any, n: int, targets: Mapping[Metric, int | None]) -> Level:
    field = f"levels[{n}]"
    data = _object(value, field, _LEVEL_KEYS)
    metric = data.get("metric")
    if metric not in METRICS:
        raise InvalidInput(f"{field}.metric must be one of {', '.join(METRICS)}")
    target = targets[metric]
    if target is None:
        raise InvalidInput(f"{field}: {metric} has no target to escalate on")
    # A level before the deadline must still come after the clock starts.
    offset = whole(data.get("offset_minutes"), f"{field}.offset_minutes", 1 - target, _OFFSET_MAX)
    action = data.get("action")
    if action not in ACTIONS:
        raise InvalidInput(f"{field}.action must be one of {', '.join(ACTIONS)}")
    group_id = data.get("group_id")
    if action == "reassign_group":
        group_id = whole(group_id, f"{field}.group_id", 1, INT_MAX)
    elif group_id is not None:
        raise InvalidInput(f"{field}.group_id is only for reassign_group")
    return Level(metric, offset, action, group_id)


def _levels(value: Any, targets: Mapping[Metric, int | None]) -> tuple[Level, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > _LEVELS_MAX:
        raise InvalidInput(f"levels must be a list of at most {_LEVELS_MAX} levels")
    levels = [_level(item, n, targets) for n, item in enumerate(value)]
    seen: set[tuple[str, str]] = set()
    for level in levels:
        if (level.metric, level.key) in seen:
            raise InvalidInput(
                f"levels: {level.metric} has {level.action} at {level.offset} minutes twice"
            )
        seen.add((level.metric, level.key))
    return tuple(sorted(levels, key=lambda lv: (METRICS.index(lv.metric), lv.offset, lv.action)))


def check(data: Any) -> Draft:
    """Check a whole policy as a supervisor sent it; raise InvalidInput saying what is off."""
    data = _object(data, "policy", _KEYS)
    name = text(data.get("name"), "name", _NAME_MAX, required=True)
    if problem := text_problem(name):
        raise InvalidInput(f"name: {problem}")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidInput("enabled must be true or false")
    if "targets" not in data:
        raise InvalidInput("targets are required")
    targets = _targets(data["targets"])
    if not isinstance(data.get("hours"), dict | None):
        raise InvalidInput("hours must be an object of weekdays, or null for always open")
    if not isinstance(data.get("holidays"), list | None):
        raise InvalidInput("holidays must be a list of dates (YYYY-MM-DD)")
    try:
        hours = parse_hours(data.get("hours"))
        holidays = parse_holidays(data.get("holidays"))
    except HoursError as err:
        raise InvalidInput(str(err)) from err
    if hours is not None and not any(hours.values()):
        raise InvalidInput("hours: open at least one span a week, or null for always open")
    return Draft(
        name=name,
        enabled=enabled,
        conditions=_conditions(data.get("conditions")),
        targets=targets,
        hours=hours,
        holidays=holidays,
        warn_share=_warn_share(data.get("warn_share")),
        levels=_levels(data.get("levels"), targets),
    )


def merged(policy: Policy, changes: Any) -> Draft:
    """Check a policy with some of its keys changed (the others kept as they are)."""
    changes = _object(changes, "policy", _KEYS)
    return check({**policy_input(policy), **changes})
