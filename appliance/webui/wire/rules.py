"""Ticket rules on the wire (docs/ticket-rules.md): triggers and timed rules as
supervisors write them, and what the box answers.

The shapes say what a rule may look like (keys, enums, lengths) so that the OpenAPI
document shows it; what a rule means (which operators a field takes, which values fit
it, whether it can loop) is `core.rule_input.parse_rule`'s and `core.rule_safety`'s
to judge. The literals below mirror core's tuples (tests/unit/test_wire_rules.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core import rule_input as limits
from appliance.core.rule_input import rule_data
from appliance.core.rules import PREVIEW_MAX, On
from appliance.core.rules import Rule as CoreRule
from appliance.core.ticket_rules import RULES_MAX
from appliance.core.validate import INT_MAX
from appliance.webui.wire import Time, wire_time
from appliance.webui.wire.team import text
from appliance.webui.wire.tickets import TicketBrief

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET

RuleKind = Literal["trigger", "timed"]  # core.rules.Kind
Event = Literal[  # core.rules.On
    "created", "updated", "replied_by_customer", "replied_by_agent", "state_changed"
]
Field = Literal[  # core.rules.OPS
    "state",
    "priority",
    "type",
    "channel",
    "group_id",
    "owner_id",
    "customer_tier",
    "tags",
    "subject",
    "hours_since_created",
    "hours_since_updated",
    "hours_in_state",
    "hours_until_due",
]
Op = Literal["is", "is_not", "in", "gt", "lt", "contains", "not_contains"]
Settable = Literal[  # core.rules.SETTABLE
    "priority", "type", "group_id", "state", "add_tags", "remove_tags"
]

RuleId = Annotated[int, msgspec.Meta(ge=1, le=INT_MAX)]
_ID_OR_NONE = msgspec.Meta(description="an id; null for none")

# A value a condition compares with, or set_field sets: its meaning depends on the field.
Text = Annotated[
    str,
    msgspec.Meta(
        max_length=limits.SUBJECT_MAX,
        description="a state, priority, type, channel, tier, tag, piece of subject, "
        "or 'unassigned' (owner_id)",
    ),
]
Number = Annotated[
    int,
    msgspec.Meta(
        ge=-limits.HOURS_MAX,
        le=INT_MAX,
        description="a group or user id, or whole hours (hours_until_due may be negative)",
    ),
]
Item = Text | Number | None
Items = Annotated[list[Item], msgspec.Meta(min_length=1, max_length=limits.VALUES_MAX)]
Value = Annotated[
    Text | Number | Items | None,
    msgspec.Meta(description="text, a whole number, null or a list of them, as the field takes"),
]


class RuleCondition(msgspec.Struct, forbid_unknown_fields=True):
    """One test on a ticket: `field op value`; the fields' operators and values are in
    docs/ticket-rules.md ("in", "contains" and "not_contains" take a list)."""

    field: Field
    op: Op
    value: Value


Conditions = Annotated[list[RuleCondition], msgspec.Meta(max_length=limits.CONDITIONS_MAX)]


class RuleConditions(msgspec.Struct, forbid_unknown_fields=True):
    """Every condition of `all` must hold and, when `any` has some, one of those too."""

    all: Conditions = msgspec.field(default_factory=list)
    any: Conditions = msgspec.field(default_factory=list)


class _Action(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, omit_defaults=True):
    """One thing a rule does, by its `type`."""


class SetFieldAction(_Action, tag="set_field"):
    """Set priority, type, group_id or state (only as the box may move it), or add or
    remove tags (a list)."""

    field: Settable
    value: Value


class AssignAction(_Action, tag="assign"):
    """Give the ticket an owner or a group: exactly one of owner_id and group_id."""

    owner_id: Annotated[RuleId | None, _ID_OR_NONE] | Unset = UNSET
    group_id: Annotated[RuleId | None, _ID_OR_NONE] | Unset = UNSET


class NoteAction(_Action, tag="add_note"):
    """Add an internal note (customers never see notes)."""

    text: Annotated[str, text(limits.NOTE_MAX, 1)]


Recipient = Literal["owner", "group"] | RuleId


class NotifyAction(_Action, tag="notify"):
    """Tell the ticket's owner, its group's members, or users by id."""

    to: Annotated[list[Recipient], msgspec.Meta(min_length=1, max_length=limits.RECIPIENTS_MAX)]
    text: Annotated[str, text(limits.NOTIFY_TEXT_MAX)] = ""


class WebhookAction(_Action, tag="webhook"):
    """Call the webhooks subscribed to an event name."""

    event: Annotated[
        str,
        msgspec.Meta(
            pattern="^[a-z][a-z0-9_.]{0,63}$",
            description="a name of lowercase letters, digits, _ and . (up to 64)",
        ),
    ]


Action = SetFieldAction | AssignAction | NoteAction | NotifyAction | WebhookAction
Actions = Annotated[list[Action], msgspec.Meta(min_length=1, max_length=limits.ACTIONS_MAX)]
Name = Annotated[str, text(limits.NAME_MAX, 1)]
Events = Annotated[
    list[Event],
    msgspec.Meta(
        max_length=len(On), description="triggers only (one or more); timed rules leave it out"
    ),
]
OncePerTicket = Annotated[
    bool, msgspec.Meta(description="timed rules only: act at most once on each ticket")
]


class TicketRuleInput(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """A trigger or a timed rule: when its conditions hold, its actions are done."""

    name: Name
    kind: RuleKind
    enabled: bool = True
    on: Events | Unset = UNSET
    conditions: RuleConditions = msgspec.field(default_factory=RuleConditions)
    actions: Actions
    once_per_ticket: OncePerTicket = False


class TicketRule(msgspec.Struct, kw_only=True):
    """A saved rule: its definition as sent, its id and its place in its kind's order."""

    id: int
    name: Name
    kind: RuleKind
    position: Annotated[int, msgspec.Meta(description="rules of a kind run in this order")]
    enabled: bool
    on: Annotated[list[Event], msgspec.Meta(description="a trigger's events; [] for timed rules")]
    conditions: RuleConditions
    actions: Actions
    once_per_ticket: OncePerTicket
    created_at: Time
    updated_at: Time


def rule_out(rule: CoreRule) -> TicketRule:
    """A saved rule on the wire: its definition in the JSON form core reads back."""
    return msgspec.convert(
        {
            "on": [],
            "once_per_ticket": False,
            **rule_data(rule),
            "id": rule.id,
            "position": rule.position,
            "created_at": wire_time(rule.created_at),
            "updated_at": wire_time(rule.updated_at),
        },
        TicketRule,
    )


class TicketRules(msgspec.Struct):
    """Rules in the order they run: triggers first, then timed rules."""

    rules: Annotated[list[TicketRule], msgspec.Meta(max_length=2 * RULES_MAX)]


class OneTicketRule(msgspec.Struct):
    rule: TicketRule


class TicketRulesQuery(msgspec.Struct, forbid_unknown_fields=True):
    """One kind of rules; without it, both."""

    kind: RuleKind | None = None


class RuleOrderInput(msgspec.Struct, forbid_unknown_fields=True):
    """The ids of every rule of a kind, each once, in the order they are to run."""

    kind: RuleKind
    ids: Annotated[list[RuleId], msgspec.Meta(max_length=RULES_MAX)]


class RulePreview(msgspec.Struct):
    """The unfinished tickets a draft rule's conditions match now."""

    ticket_ids: Annotated[
        list[int],
        msgspec.Meta(max_length=PREVIEW_MAX, description=f"at most {PREVIEW_MAX}"),
    ]
    total_shown: Annotated[int, msgspec.Meta(description="how many ids ticket_ids holds")]
    tickets: Annotated[
        list[TicketBrief],
        msgspec.Meta(max_length=PREVIEW_MAX, description="the same tickets, number and subject"),
    ]
