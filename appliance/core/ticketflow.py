"""A ticket's life as a rule of core: its states, who may move it where, and how its
current state folds out of its append-only history.

Groundwork for the service desk (issue 12): the store will keep every change as an
event in a table the database refuses to UPDATE or DELETE, and the ticket row as a
cache of `replay(events)`; a test rebuilds tickets from their events and compares.

States: new -> open -> pending (waiting on the customer) -> resolved -> closed, plus
merged. Closed and merged are final: a customer who writes after the close starts a
new ticket (linked to the old one), as Zendesk and Zammad do, so a closed ticket's
figures never change under a report.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from appliance.core.errors import Conflict, Forbidden, InvalidInput


class State(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"
    MERGED = "merged"


class By(StrEnum):
    """Who causes a change: a console user, the requester, or the box itself (a timer,
    a trigger, an SLA escalation)."""

    AGENT = "agent"
    CUSTOMER = "customer"
    SYSTEM = "system"


FINAL = frozenset({State.CLOSED, State.MERGED})
_WORKING = (State.NEW, State.OPEN, State.PENDING)

# (from, to) -> who may make the move
_MOVES: dict[tuple[State, State], frozenset[By]] = {
    (State.NEW, State.OPEN): frozenset({By.AGENT, By.SYSTEM}),
    **{(s, State.PENDING): frozenset({By.AGENT}) for s in (State.NEW, State.OPEN)},
    **{(s, State.RESOLVED): frozenset({By.AGENT}) for s in _WORKING},
    **{(s, State.MERGED): frozenset({By.AGENT}) for s in _WORKING},
    # The customer answers while it waits on them, or writes after the resolution.
    (State.PENDING, State.OPEN): frozenset({By.AGENT, By.CUSTOMER, By.SYSTEM}),
    (State.RESOLVED, State.OPEN): frozenset({By.AGENT, By.CUSTOMER}),
    # The customer confirms, or the box confirms for them after N days.
    (State.RESOLVED, State.CLOSED): frozenset({By.CUSTOMER, By.SYSTEM}),
}


def check_move(current: State, target: State, by: By) -> None:
    """Refuse a state change the rules do not allow, saying why (409, or 403 for who)."""
    if current == target:
        raise Conflict(f"the ticket is already {current}")
    if current in FINAL:
        raise Conflict(f"a {current} ticket cannot change state")
    allowed = _MOVES.get((current, target))
    if allowed is None:
        raise Conflict(f"a {current} ticket cannot become {target}")
    if by not in allowed:
        raise Forbidden(f"{by} may not move a ticket from {current} to {target}")


def moves(current: State, by: By) -> list[State]:
    """The states `by` may move a ticket to from `current` (for the UI's buttons)."""
    return [to for (frm, to), who in _MOVES.items() if frm == current and by in who]


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a ticket's history: what happened, who did it, when (UTC ms)."""

    ticket_id: int
    seq: int  # 1, 2, ... per ticket
    at: int
    by: By
    actor_id: str  # user id, customer id, or the rule/timer's name; "" when none
    kind: str  # created, changed, state, reply, note, merged
    data: dict[str, Any] = field(default_factory=dict)


# Entries that record what happened without changing the ticket's fields or state: a
# chat linked, an SLA warning or breach, a rule that ran, a satisfaction rating, work
# logged (time, materials, cost).
RECORD_ONLY = frozenset({"linked", "sla", "rule", "rating", "work"})

# The fields a ticket has, with their value before anything is set.
FIELDS: dict[str, Any] = {
    "number": "",
    "subject": "",
    "description": "",
    "type": "",
    "priority": "normal",
    "channel": "",
    "requester_id": None,
    "group_id": None,
    "owner_id": None,
    "due_at": None,
    "tags": (),
    "followers": (),
    "escalation": "",  # "", expert, lead, manager, vendor
    "vendor": "",  # the external vendor's name and contact, when escalated to one
}


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket's current state, as its history makes it."""

    id: int
    state: State
    fields: dict[str, Any]
    created_at: int
    updated_at: int
    last_seq: int
    first_reply_at: int | None = None  # the first public reply from an agent
    resolved_at: int | None = None
    closed_at: int | None = None
    merged_into: int | None = None
    replies: int = 0  # public replies, both ways
    notes: int = 0
    state_at: int = 0  # when it entered its current state


def _values(data: dict[str, Any]) -> dict[str, Any]:
    """Field values as a ticket holds them: lists (as JSON gives them back) as tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def apply(ticket: Ticket | None, event: Event) -> Ticket:
    """Fold one event into a ticket; the events of one ticket, in order, make it."""
    if ticket is None:
        if event.kind != "created" or event.seq != 1:
            raise InvalidInput("a ticket's history starts with its creation")
        unknown = set(event.data) - set(FIELDS)
        if unknown:
            raise InvalidInput(f"unknown ticket fields {sorted(unknown)}")
        return Ticket(
            id=event.ticket_id,
            state=State.NEW,
            fields={**FIELDS, **_values(event.data)},
            created_at=event.at,
            updated_at=event.at,
            last_seq=1,
            state_at=event.at,
        )
    if event.ticket_id != ticket.id or event.seq != ticket.last_seq + 1:
        raise InvalidInput(f"event {event.seq} does not follow {ticket.last_seq}")
    done = replace(ticket, updated_at=event.at, last_seq=event.seq)
    if event.kind == "changed":
        unknown = set(event.data) - set(FIELDS) - {"number"}
        if unknown or "number" in event.data:
            raise InvalidInput(f"cannot change {sorted(unknown) or ['number']}")
        return replace(done, fields={**ticket.fields, **_values(event.data)})
    if event.kind == "state":
        target = State(event.data["to"])
        if target == State.MERGED:
            raise Conflict("a ticket is merged into another one, which a merge names")
        check_move(ticket.state, target, event.by)
        return replace(
            done,
            state=target,
            state_at=event.at,
            resolved_at=event.at
            if target == State.RESOLVED
            else (ticket.resolved_at if target == State.CLOSED else None),
            closed_at=event.at if target == State.CLOSED else None,
        )
    if event.kind == "merged":
        check_move(ticket.state, State.MERGED, event.by)
        return replace(
            done, state=State.MERGED, merged_into=int(event.data["into"]), state_at=event.at
        )
    if event.kind == "reply":
        first = ticket.first_reply_at
        if event.by == By.AGENT and first is None:
            first = event.at
        return replace(done, replies=ticket.replies + 1, first_reply_at=first)
    if event.kind == "note":
        return replace(done, notes=ticket.notes + 1)
    if event.kind in RECORD_ONLY:
        return done
    raise InvalidInput(f"unknown ticket event {event.kind!r}")


def replay(events: list[Event]) -> Ticket:
    """Rebuild a ticket from its whole history."""
    ticket: Ticket | None = None
    for event in events:
        ticket = apply(ticket, event)
    if ticket is None:
        raise InvalidInput("a ticket has at least its creation in its history")
    return ticket
