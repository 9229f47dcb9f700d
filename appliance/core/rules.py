"""Ticket rules as data: triggers that act when a ticket is created or updated, and timed
rules the box checks every minute. Pure decisions over a ticket as ticketflow folds it;
the ticket service carries out the returned plans in its own write transaction.

A rule is ordered conditions -> actions, edited by supervisors (issue 12, item 5):
- `all` conditions must all hold and, when `any` has some, at least one of those;
- actions set fields, assign, add an internal note, notify people, call a webhook;
  a state change is one the box itself may make (`ticketflow.check_move`, By.SYSTEM).
Triggers run in order of position and fire in cascades, as Zendesk's do: after one
fires and changes the ticket, the remaining ones are checked again on the changed
ticket, each at most once. Rules never act on closed or merged tickets.

Parsing input lives in `rule_input.py`, save-time safety checks (a rule that can never
match or act, a timed rule that would run again every minute) in `rule_safety.py`,
the saved rules in `ticket_rules.py`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as _field
from enum import StrEnum
from typing import Any

from appliance.core.errors import Conflict, Forbidden
from appliance.core.routing import TIERS
from appliance.core.ticketflow import FINAL, By, Event, State, Ticket, check_move

HOUR_MS = 3_600_000
PRIORITIES = ("low", "normal", "high", "urgent")  # as core/tickets.py orders them
TAGS_MAX = 20  # tags on one ticket, as core/tickets.py allows
PREVIEW_MAX = 100  # ticket ids a preview returns
UNASSIGNED = "unassigned"  # owner_id's value in a condition for "no owner"
AUTO = "auto"  # assign's owner_id: a member of the ticket's group, by skill and load


class Kind(StrEnum):
    TRIGGER = "trigger"  # acts on a ticket event
    TIMED = "timed"  # checked every minute


class On(StrEnum):
    """The ticket events a trigger listens to; every event after creation is an update."""

    CREATED = "created"
    UPDATED = "updated"
    REPLIED_BY_CUSTOMER = "replied_by_customer"
    REPLIED_BY_AGENT = "replied_by_agent"
    STATE_CHANGED = "state_changed"


# field -> the operators a condition on it may use
OPS: dict[str, tuple[str, ...]] = {
    "state": ("is", "is_not", "in"),
    "priority": ("is", "is_not", "in", "gt", "lt"),
    "type": ("is", "is_not", "in"),
    "channel": ("is", "is_not", "in"),
    "group_id": ("is", "is_not", "in"),
    "owner_id": ("is", "is_not", "in"),
    "customer_tier": ("is", "is_not", "in"),
    "tags": ("contains", "not_contains"),
    "subject": ("contains", "not_contains"),
    "hours_since_created": ("gt", "lt"),
    "hours_since_updated": ("gt", "lt"),
    "hours_in_state": ("gt", "lt"),
    "hours_until_due": ("gt", "lt"),
}
TIME_FIELDS = ("hours_since_created", "hours_since_updated", "hours_in_state", "hours_until_due")
# What set_field may set; assign sets owner_id or group_id.
SETTABLE = ("priority", "type", "group_id", "state", "add_tags", "remove_tags")
ACTION_TYPES = ("set_field", "assign", "add_note", "notify", "webhook")
# The states a rule may test: closed and merged tickets are never matched.
LIVE_STATES = tuple(s.value for s in State if s not in FINAL)
CUSTOMER_TIERS = TIERS


@dataclass(frozen=True, slots=True)
class Condition:
    """One test on a ticket: `field op value` (a tuple for in, contains, not_contains)."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class Action:
    """One thing a rule does. `field` and `value` by type: set_field and assign name the
    field and its new value, add_note has the text as value, notify has its text as
    value and its recipients in `to` (user ids, "owner", "group"), webhook the event
    name as value."""

    type: str
    field: str = ""
    value: Any = None
    to: tuple[int | str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """A trigger or a timed rule, as a supervisor saved it."""

    id: int
    name: str
    kind: Kind
    position: int
    enabled: bool
    on: tuple[On, ...]  # triggers only
    all: tuple[Condition, ...]
    any: tuple[Condition, ...]
    actions: tuple[Action, ...]
    once_per_ticket: bool = False  # timed only: runs at most once on each ticket
    created_at: int = 0
    updated_at: int = 0


@dataclass(frozen=True, slots=True)
class TicketView:
    """What rules see of a ticket: the ticket, its customer's tier ("" when none) and
    when it entered its current state (UTC ms), which its history holds."""

    ticket: Ticket
    customer_tier: str = ""
    state_at: int = 0


@dataclass(frozen=True, slots=True)
class Notification:
    """People to tell: users by id, and the members of groups (the service looks them up)."""

    user_ids: tuple[int, ...]
    group_ids: tuple[int, ...]
    text: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What a rule's actions do to one ticket, for the ticket service to carry out:
    `changes` are only the fields whose value differs (as ticketflow's "changed" data),
    `state` a move By.SYSTEM may make, `skipped` says why an action did nothing."""

    changes: dict[str, Any] = _field(default_factory=dict)
    state: State | None = None
    notes: tuple[str, ...] = ()
    notifications: tuple[Notification, ...] = ()
    webhooks: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def changes_ticket(self) -> bool:
        """Tell whether the plan writes to the ticket's history."""
        return bool(self.changes or self.state or self.notes)

    @property
    def empty(self) -> bool:
        """Tell whether the plan does nothing at all."""
        return not (self.changes_ticket or self.notifications or self.webhooks)


@dataclass(frozen=True, slots=True)
class Fired:
    """A rule that acts on a ticket, and its plan as computed on the ticket it saw."""

    rule: Rule
    plan: Plan


def value_of(field: str, view: TicketView, now: int) -> Any:
    """Return the value a condition on `field` tests (None: an unset due time)."""
    ticket = view.ticket
    if field == "state":
        return ticket.state.value
    if field == "owner_id":
        owner = ticket.fields.get("owner_id")
        return UNASSIGNED if owner is None else owner
    if field == "customer_tier":
        return view.customer_tier
    if field == "tags":
        return tuple(ticket.fields.get("tags") or ())
    if field == "subject":
        return ticket.fields.get("subject") or ""
    if field == "hours_since_created":
        return (now - ticket.created_at) / HOUR_MS
    if field == "hours_since_updated":
        return (now - ticket.updated_at) / HOUR_MS
    if field == "hours_in_state":
        return (now - view.state_at) / HOUR_MS
    if field == "hours_until_due":
        due = ticket.fields.get("due_at")
        return None if due is None else (due - now) / HOUR_MS
    return ticket.fields.get(field)


def satisfied_by(cond: Condition, value: Any) -> bool:
    """Tell whether a condition holds for a field's value."""
    op, want = cond.op, cond.value
    if op == "is":
        return bool(value == want)
    if op == "is_not":
        return bool(value != want)
    if op == "in":
        return value in want
    if op in ("contains", "not_contains"):
        if cond.field == "tags":
            found = any(tag in value for tag in want)
        else:
            found = want.casefold() in value.casefold()
        return found == (op == "contains")
    if value is None:  # no due time: neither more nor fewer hours than anything
        return False
    if cond.field == "priority":
        value, want = PRIORITIES.index(value), PRIORITIES.index(want)
    return bool(value > want if op == "gt" else value < want)


def holds(cond: Condition, view: TicketView, now: int) -> bool:
    """Tell whether a condition holds for a ticket at `now`."""
    return satisfied_by(cond, value_of(cond.field, view, now))


def matches(rule: Rule, view: TicketView, now: int) -> bool:
    """Tell whether a rule's conditions hold for a ticket (enabled or not: a preview)."""
    if view.ticket.state in FINAL:
        return False
    if not all(holds(c, view, now) for c in rule.all):
        return False
    return not rule.any or any(holds(c, view, now) for c in rule.any)


def apply_actions(view: TicketView, actions: Sequence[Action]) -> Plan:
    """Return what the actions do to this ticket; notify "owner" and "group" mean the
    owner and group the ticket has after the actions. A state move the box may not
    make is left out (`skipped` says why); tags beyond the limit leave out everything."""
    fields = view.ticket.fields
    changes: dict[str, Any] = {}
    state: State | None = None
    notes: list[str] = []
    webhooks: list[str] = []
    skipped: list[str] = []
    tags = list(fields.get("tags") or ())
    for action in actions:
        if action.field in ("add_tags", "remove_tags"):
            for tag in action.value:
                if action.field == "remove_tags" and tag in tags:
                    tags.remove(tag)
                elif action.field == "add_tags" and tag not in tags:
                    tags.append(tag)
        elif action.field == "state":
            target = State(action.value)
            try:
                check_move(view.ticket.state, target, By.SYSTEM)
            except (Conflict, Forbidden) as refused:
                if target != view.ticket.state:
                    skipped.append(refused.message)
                continue
            state = target
        elif action.type in ("set_field", "assign"):
            if fields.get(action.field) != action.value:
                changes[action.field] = action.value
        elif action.type == "add_note":
            notes.append(action.value)
        elif action.type == "webhook":
            webhooks.append(action.value)
    if len(tags) > TAGS_MAX:
        # All or nothing: a timed rule that stops itself with a tag it could not add
        # would otherwise act (note, notify) again every minute.
        return Plan(skipped=(f"a ticket has at most {TAGS_MAX} tags: the rule did nothing",))
    if tuple(tags) != tuple(fields.get("tags") or ()):
        changes["tags"] = tuple(tags)
    after = {**fields, **changes}
    notifications: list[Notification] = []
    for action in actions:
        if action.type != "notify":
            continue
        users = [to for to in action.to if isinstance(to, int)]
        if "owner" in action.to and after.get("owner_id") is not None:
            users.append(after["owner_id"])
        group = after.get("group_id")
        groups = (group,) if "group" in action.to and group is not None else ()
        if users or groups:
            notifications.append(Notification(tuple(dict.fromkeys(users)), groups, action.value))
        else:
            skipped.append("nobody to notify: the ticket has no owner or group")
    return Plan(changes, state, tuple(notes), tuple(notifications), tuple(webhooks), tuple(skipped))


def advance(view: TicketView, plan: Plan, now: int) -> TicketView:
    """Return the ticket as it is once a plan is carried out (for the next rules)."""
    if not plan.changes_ticket:
        return view
    ticket = view.ticket
    changed = replace(
        ticket,
        state=plan.state or ticket.state,
        fields={**ticket.fields, **plan.changes},
        updated_at=now,
        notes=ticket.notes + len(plan.notes),
    )
    return replace(view, ticket=changed, state_at=now if plan.state else view.state_at)


def _ordered(rules: Iterable[Rule], kind: Kind) -> list[Rule]:
    chosen = (r for r in rules if r.kind == kind and r.enabled)
    return sorted(chosen, key=lambda r: (r.position, r.id))


def trigger_events(events: Iterable[Event]) -> frozenset[On]:
    """Return what a change's new history entries are to triggers (none for a rule's)."""
    kinds: set[On] = set()
    for event in events:
        if event.kind == "created":
            kinds.add(On.CREATED)
        elif event.kind == "state":
            kinds |= {On.UPDATED, On.STATE_CHANGED}
        elif event.kind == "reply" and event.by in (By.CUSTOMER, By.AGENT):
            reply = On.REPLIED_BY_CUSTOMER if event.by == By.CUSTOMER else On.REPLIED_BY_AGENT
            kinds |= {On.UPDATED, reply}
        elif event.kind in ("changed", "note", "merged"):
            kinds.add(On.UPDATED)
    return frozenset(kinds)


def run_triggers(
    rules: Iterable[Rule], view: TicketView, event_kind: On | Collection[On], now: int
) -> list[Fired]:
    """Return the triggers that fire on a ticket event, in order, each with its plan.

    A cascade, as Zendesk runs one: the enabled triggers are checked in order of
    position; when one fires and changes the ticket, checking starts over from the
    first on the changed ticket, skipping those that fired. Each trigger fires at most
    once, so a cascade ends after at most as many firings as there are triggers, and
    two triggers that undo each other stop after one turn each. A creation's cascade
    stays a creation's (it is not an update); a state a trigger changes counts as
    state_changed for those after it. The changes of a cascade do not start another.
    """
    kinds = {On(event_kind)} if isinstance(event_kind, str) else {On(k) for k in event_kind}
    if kinds - {On.CREATED}:
        kinds.add(On.UPDATED)
    ordered = _ordered(rules, Kind.TRIGGER)
    done: set[int] = set()  # indexes in `ordered`: unsaved rules share id 0
    fired: list[Fired] = []
    again = True
    while again:
        again = False
        for index, rule in enumerate(ordered):
            if index in done or kinds.isdisjoint(rule.on) or not matches(rule, view, now):
                continue
            done.add(index)
            plan = apply_actions(view, rule.actions)
            if plan.empty:
                continue
            fired.append(Fired(rule, plan))
            if plan.state is not None:
                kinds.add(On.STATE_CHANGED)
            if plan.changes_ticket:
                view = advance(view, plan, now)
                again = True
                break
    return fired


def run_timed(
    rules: Iterable[Rule], view: TicketView, now: int, ran: Collection[int] = ()
) -> list[Fired]:
    """Return the timed rules that act on a ticket now, in order, each seeing the ticket
    as the ones before it left it; `ran` are the once-per-ticket rules that already ran
    on it (record each new run with `Rules.record_run_in`)."""
    fired: list[Fired] = []
    for rule in _ordered(rules, Kind.TIMED):
        if rule.once_per_ticket and rule.id in ran:
            continue
        if matches(rule, view, now):
            plan = apply_actions(view, rule.actions)
            if not plan.empty:
                fired.append(Fired(rule, plan))
                view = advance(view, plan, now)
    return fired


def preview(
    rule: Rule, views: Iterable[TicketView], now: int, limit: int = PREVIEW_MAX
) -> list[int]:
    """Return the ids of tickets the rule's conditions match now, at most `limit`
    (for a trigger: those it would act on if an event of its kind came now)."""
    found: list[int] = []
    for view in views:
        if len(found) >= limit:
            break
        if matches(rule, view, now):
            found.append(view.ticket.id)
    return found
