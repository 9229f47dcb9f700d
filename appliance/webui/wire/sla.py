"""SLA policies and ticket clocks on the wire (docs/sla.md says what they mean)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core.sla import Clock as CoreClock
from appliance.core.sla import Policy as CorePolicy
from appliance.core.sla import policy_input
from appliance.webui.wire import Time, wire_time
from appliance.webui.wire.routing import Holidays, Hours

Metric = Literal["first_response", "next_response", "resolution"]
Action = Literal["notify", "reassign_group", "raise_priority", "notify_manager"]
Minutes = Annotated[int, msgspec.Meta(ge=1, le=525_600, description="business minutes")]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]


class Conditions(msgspec.Struct, forbid_unknown_fields=True):
    """Which tickets a policy is for; an empty list matches any."""

    group_ids: Annotated[list[Id], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )
    types: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=32)]], msgspec.Meta(max_length=50)
    ] = msgspec.field(default_factory=list)
    priorities: list[Literal["low", "normal", "high", "urgent"]] = msgspec.field(
        default_factory=list
    )
    tiers: list[Literal["vip", "member", "new"]] = msgspec.field(default_factory=list)


class Targets(msgspec.Struct, forbid_unknown_fields=True):
    """Business minutes allowed per metric; null: no target."""

    first_response: Minutes | None = None
    next_response: Minutes | None = None
    resolution: Minutes | None = None


class Level(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """An escalation step: `offset_minutes` business minutes from the deadline
    (negative: before it), the action, and for reassign_group the group."""

    metric: Metric
    offset_minutes: Annotated[int, msgspec.Meta(ge=-525_600, le=525_600)]
    action: Action
    group_id: Id | None = None


class PolicyInput(msgspec.Struct, forbid_unknown_fields=True):
    """An SLA policy as a supervisor writes it."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    enabled: bool = True
    conditions: Conditions = msgspec.field(default_factory=Conditions)
    targets: Targets = msgspec.field(default_factory=Targets)
    hours: Hours | None = None
    holidays: Holidays = msgspec.field(default_factory=list)
    warn_share: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.8
    levels: Annotated[list[Level], msgspec.Meta(max_length=20)] = msgspec.field(
        default_factory=list
    )


class PolicyChange(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Some of a policy's settings; those left out stay."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    conditions: Conditions | msgspec.UnsetType = msgspec.UNSET
    targets: Targets | msgspec.UnsetType = msgspec.UNSET
    hours: Hours | msgspec.UnsetType | None = msgspec.UNSET
    holidays: Holidays | msgspec.UnsetType = msgspec.UNSET
    warn_share: Annotated[float, msgspec.Meta(gt=0, lt=1)] | msgspec.UnsetType = msgspec.UNSET
    levels: Annotated[list[Level], msgspec.Meta(max_length=20)] | msgspec.UnsetType = msgspec.UNSET


class Policy(msgspec.Struct):
    """An SLA policy, in the order policies are tried."""

    id: int
    position: int
    name: str
    enabled: bool
    conditions: Conditions
    targets: Targets
    hours: Hours | None
    holidays: list[str]
    warn_share: float
    levels: list[Level]
    created_at: Time
    updated_at: Time


def policy_out(p: CorePolicy) -> Policy:
    form = policy_input(p)
    return Policy(
        id=p.id,
        position=p.position,
        name=form["name"],
        enabled=form["enabled"],
        conditions=msgspec.convert(form["conditions"], Conditions),
        targets=msgspec.convert(form["targets"], Targets),
        hours=None if form["hours"] is None else msgspec.convert(form["hours"], Hours),
        holidays=form["holidays"],
        warn_share=form["warn_share"],
        levels=msgspec.convert(form["levels"], list[Level]),
        created_at=wire_time(p.created_at),
        updated_at=wire_time(p.updated_at),
    )


class Policies(msgspec.Struct):
    policies: list[Policy]


class OnePolicy(msgspec.Struct):
    policy: Policy


class PolicyOrder(msgspec.Struct, forbid_unknown_fields=True):
    """Every policy's id once, in the order they are tried."""

    ids: Annotated[list[Id], msgspec.Meta(max_length=200)]


class Clock(msgspec.Struct):
    """One running or finished SLA target of a ticket."""

    metric: Metric
    policy_id: int | None
    target_minutes: int | None
    used_minutes: int
    running: bool
    due_at: Time | None
    warned_at: Time | None
    breached_at: Time | None
    fulfilled_at: Time | None
    remaining_seconds: Annotated[
        int | None,
        msgspec.Meta(
            description="business seconds left to the target now (negative: past it by "
            "that much); null without a target"
        ),
    ] = None
    warn_in_seconds: Annotated[
        int | None,
        msgspec.Meta(
            description="seconds until the warning is due, while it runs and has not "
            "warned (0 or less: due now, the box's next pass records it)"
        ),
    ] = None
    ticking: Annotated[
        bool,
        msgspec.Meta(
            description="the clock runs and its calendar is open now: the remaining "
            "business time falls as the wall clock does"
        ),
    ] = False


def clock_out(c: CoreClock, used: int, now: int | None = None, ticking: bool = False) -> Clock:
    """A clock on the wire; `used` is the business time it has used by `now` (ms), which
    also sets the countdown's fields (none without it)."""
    remaining = warn_in = None
    if now is not None and c.target is not None:
        remaining = (c.target - used) // 1000
        if c.running_since is not None and c.warned_at is None and c.warn_at is not None:
            warn_in = (c.warn_at - now) // 1000
    return Clock(
        metric=c.metric,
        policy_id=c.policy_id,
        target_minutes=None if c.target is None else c.target // 60_000,
        used_minutes=used // 60_000,
        running=c.running_since is not None,
        due_at=wire_time(c.due_at),
        warned_at=wire_time(c.warned_at),
        breached_at=wire_time(c.breached_at),
        fulfilled_at=wire_time(c.fulfilled_at),
        remaining_seconds=remaining,
        warn_in_seconds=warn_in,
        ticking=ticking,
    )


class Clocks(msgspec.Struct):
    """A ticket's SLA clocks, every target, not only the nearest."""

    clocks: list[Clock]
