"""Store of the service desk: tickets (a cache of their history), ticket_events (the
history itself, append-only), numbers, types, templates and linked conversations."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appliance.core.ticketflow import By, Event, State, Ticket

_TICKET = (
    "id, number, state, subject, description, type, priority, channel, requester_id,"
    " group_id, owner_id, due_at, tags, followers, escalation, vendor, created_at, updated_at,"
    " first_reply_at, resolved_at, closed_at, merged_into, replies, notes, state_at, last_seq"
)
_EVENT = "ticket_id, seq, at, by, actor_id, kind, data"
_COLUMNS = [c.strip() for c in _TICKET.split(",")]
_INSERT = f"INSERT INTO tickets ({_TICKET}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_SAVE = f"UPDATE tickets SET {', '.join(f'{c} = ?' for c in _COLUMNS[1:])} WHERE id = ?"


def _ticket(row: sqlite3.Row | tuple[Any, ...]) -> Ticket:
    (
        ticket_id,
        number,
        state,
        subject,
        description,
        kind,
        priority,
        channel,
        requester_id,
        group_id,
        owner_id,
        due_at,
        tags,
        followers,
        escalation,
        vendor,
        created_at,
        updated_at,
        first_reply_at,
        resolved_at,
        closed_at,
        merged_into,
        replies,
        notes,
        state_at,
        last_seq,
    ) = tuple(row)
    fields = {
        "number": number,
        "subject": subject,
        "description": description,
        "type": kind,
        "priority": priority,
        "channel": channel,
        "requester_id": requester_id,
        "group_id": group_id,
        "owner_id": owner_id,
        "due_at": due_at,
        "tags": tuple(json.loads(tags)),
        "followers": tuple(json.loads(followers)),
        "escalation": escalation,
        "vendor": vendor,
    }
    return Ticket(
        id=ticket_id,
        state=State(state),
        fields=fields,
        created_at=created_at,
        updated_at=updated_at,
        last_seq=last_seq,
        first_reply_at=first_reply_at,
        resolved_at=resolved_at,
        closed_at=closed_at,
        merged_into=merged_into,
        replies=replies,
        notes=notes,
        state_at=state_at,
    )


def _event(row: sqlite3.Row | tuple[Any, ...]) -> Event:
    ticket_id, seq, at, by, actor_id, kind, data = tuple(row)
    return Event(ticket_id, seq, at, By(by), actor_id, kind, json.loads(data))


def _row_values(ticket: Ticket) -> tuple[Any, ...]:
    f = ticket.fields
    return (
        f["number"],
        ticket.state.value,
        f["subject"],
        f["description"],
        f["type"],
        f["priority"],
        f["channel"],
        f["requester_id"],
        f["group_id"],
        f["owner_id"],
        f["due_at"],
        json.dumps(list(f["tags"]), ensure_ascii=False),
        json.dumps(list(f["followers"])),
        f["escalation"],
        f["vendor"],
        ticket.created_at,
        ticket.updated_at,
        ticket.first_reply_at,
        ticket.resolved_at,
        ticket.closed_at,
        ticket.merged_into,
        ticket.replies,
        ticket.notes,
        ticket.state_at,
        ticket.last_seq,
    )


def next_number(conn: sqlite3.Connection, day: str) -> str:
    """Give out the next number of a local day (YYYYMMDD): 20261206-0001, never twice."""
    row = conn.execute(
        "INSERT INTO ticket_counters (day, last) VALUES (?, 1)"
        " ON CONFLICT (day) DO UPDATE SET last = last + 1 RETURNING last",
        (day,),
    ).fetchone()
    return f"{day}-{int(row[0]):04d}"


def new_id(conn: sqlite3.Connection) -> int:
    """The id the next ticket will get (ids are never reused: tickets are never deleted)."""
    row = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM tickets").fetchone()
    return int(row[0])


def insert(conn: sqlite3.Connection, ticket: Ticket) -> None:
    """Store a new ticket's cached row."""
    conn.execute(_INSERT, (ticket.id, *_row_values(ticket)))


def save(conn: sqlite3.Connection, ticket: Ticket) -> None:
    """Rewrite a ticket's cached row from what its events now make."""
    conn.execute(_SAVE, (*_row_values(ticket), ticket.id))


def append(conn: sqlite3.Connection, event: Event) -> None:
    """Add one entry to a ticket's history."""
    conn.execute(
        f"INSERT INTO ticket_events ({_EVENT}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            event.ticket_id,
            event.seq,
            event.at,
            event.by.value,
            event.actor_id,
            event.kind,
            json.dumps(event.data, ensure_ascii=False),
        ),
    )


def get(conn: sqlite3.Connection, ticket_id: int) -> Ticket | None:
    """Return a ticket as its cached row holds it."""
    row = conn.execute(f"SELECT {_TICKET} FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    return _ticket(row) if row is not None else None


def by_number(conn: sqlite3.Connection, number: str) -> Ticket | None:
    """Return the ticket with a number."""
    row = conn.execute(f"SELECT {_TICKET} FROM tickets WHERE number = ?", (number,)).fetchone()
    return _ticket(row) if row is not None else None


def of_visitor(conn: sqlite3.Connection, visitor_id: str, limit: int) -> list[Ticket]:
    """The tickets a visitor may follow: those made from their own chats or left by
    them in the widget, and those of the customer they are proven to be (a signed
    identity; a typed contact proves nothing), newest change first."""
    rows = conn.execute(
        f"SELECT {_TICKET} FROM tickets WHERE id IN ("
        " SELECT tc.ticket_id FROM ticket_conversations tc"
        " JOIN conversations c ON c.id = tc.conversation_id WHERE c.visitor_id = ?)"
        " OR id IN (SELECT ticket_id FROM ticket_visitors WHERE visitor_id = ?)"
        " OR requester_id = (SELECT v.customer_id FROM visitors v"
        " JOIN customers k ON k.id = v.customer_id WHERE v.id = ? AND k.verified = 1)"
        " ORDER BY updated_at DESC, id DESC LIMIT ?",
        (visitor_id, visitor_id, visitor_id, limit),
    )
    return [_ticket(r) for r in rows]


def of_customer(
    conn: sqlite3.Connection, customer_id: int, email: str, limit: int, *, organisation: str = ""
) -> list[Ticket]:
    """The tickets of a customer signed in to the portal: theirs as requester, and, when
    they proved a mailbox (`email`), those of every customer with that address, and,
    given an `organisation` (the admin allows it), those of every customer of it; newest
    change first."""
    rows = conn.execute(
        f"SELECT {_TICKET} FROM tickets WHERE requester_id = ?"
        " OR (? != '' AND requester_id IN (SELECT k.id FROM customers k WHERE k.email = ?))"
        " OR (? != '' AND requester_id IN"
        " (SELECT k.id FROM customers k WHERE k.organisation = ?))"
        " ORDER BY updated_at DESC, id DESC LIMIT ?",
        (customer_id, email, email, organisation, organisation, limit),
    )
    return [_ticket(r) for r in rows]


def resolved_before(conn: sqlite3.Connection, moment: int) -> list[Ticket]:
    """Resolved tickets whose resolution is older than `moment`."""
    rows = conn.execute(
        f"SELECT {_TICKET} FROM tickets WHERE state = 'resolved' AND resolved_at < ?"
        " ORDER BY resolved_at",
        (moment,),
    )
    return [_ticket(r) for r in rows]


def working_load(conn: sqlite3.Connection, user_ids: Sequence[int]) -> dict[int, int]:
    """How many new, open or pending tickets each of these users owns."""
    load = dict.fromkeys(user_ids, 0)
    if user_ids:
        rows = conn.execute(
            "SELECT owner_id, count(*) FROM tickets WHERE state IN ('new', 'open', 'pending')"
            f" AND owner_id IN ({', '.join('?' * len(user_ids))}) GROUP BY owner_id",
            tuple(user_ids),
        )
        load.update({int(r[0]): int(r[1]) for r in rows})
    return load


def unfinished(conn: sqlite3.Connection, after: int = 0, limit: int = 2**62) -> list[Ticket]:
    """Tickets not closed or merged (what timed rules look at) with ids after `after`,
    in id order, at most `limit`."""
    rows = conn.execute(
        f"SELECT {_TICKET} FROM tickets WHERE id > ?"
        " AND state IN ('new', 'open', 'pending', 'resolved') ORDER BY id LIMIT ?",
        (after, limit),
    )
    return [_ticket(r) for r in rows]


def has_entry(conn: sqlite3.Connection, ticket_id: int, kind: str) -> bool:
    """Tell whether a ticket's history has an entry of a kind."""
    row = conn.execute(
        "SELECT 1 FROM ticket_events WHERE ticket_id = ? AND kind = ? LIMIT 1", (ticket_id, kind)
    ).fetchone()
    return row is not None


def events(conn: sqlite3.Connection, ticket_id: int) -> list[Event]:
    """Return a ticket's whole history, in order."""
    rows = conn.execute(
        f"SELECT {_EVENT} FROM ticket_events WHERE ticket_id = ? ORDER BY seq", (ticket_id,)
    )
    return [_event(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Query:
    """What a ticket list asks for; None means any."""

    states: Sequence[str] | None = None
    owner_id: int | None = None
    unassigned: bool = False
    group_ids: Sequence[int] | None = None  # the tickets of these groups ...
    no_group: bool = False  # ... or of no group ...
    or_owner: int | None = None  # ... or owned by this user (an agent's scope)
    requester_id: int | None = None
    priority: str | None = None
    type: str | None = None
    channels: Sequence[str] | None = None
    due_before: int | None = None  # a running SLA clock's deadline is before this
    text: str = ""  # in the subject or number
    order: str = "updated_at DESC"
    limit: int = 50
    offset: int = 0


_ORDERS = {
    "updated_at DESC": "updated_at DESC, id DESC",
    "updated_at ASC": "updated_at ASC, id ASC",
    "created_at DESC": "created_at DESC, id DESC",
    "created_at ASC": "created_at ASC, id ASC",
    "due_at ASC": "due_at IS NULL, due_at ASC, id ASC",
    "priority DESC": (
        "CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2"
        " ELSE 3 END, updated_at DESC, id DESC"
    ),
    # The nearest deadline of a running SLA clock first (the "breaching soon" view).
    "sla_due ASC": (
        "(SELECT min(due_at) FROM ticket_sla s"
        " WHERE s.ticket_id = tickets.id AND s.running_since IS NOT NULL) IS NULL,"
        " (SELECT min(due_at) FROM ticket_sla s"
        " WHERE s.ticket_id = tickets.id AND s.running_since IS NOT NULL), id"
    ),
}
ORDERS = tuple(_ORDERS)
COUNT_CAP = 10_000  # a list counts its matches up to this; more reads as "10,000+"


def search(conn: sqlite3.Connection, q: Query) -> tuple[int, list[Ticket]]:
    """Return how many tickets match, and one page of them."""
    where: list[str] = []
    params: list[Any] = []
    if q.states is not None:
        # With a deadline bound the few running clocks lead (ticket_sla_due), not the
        # hundred thousand open tickets: the unary + keeps state off its index.
        column = "+state" if q.due_before is not None else "state"
        where.append(f"{column} IN ({', '.join('?' * len(q.states))})")
        params.extend(q.states)
    if q.owner_id is not None:
        where.append("owner_id = ?")
        params.append(q.owner_id)
    if q.unassigned:
        where.append("owner_id IS NULL")
    if q.group_ids is not None:
        # The unary + keeps the scope's terms off their indexes: as an OR over three
        # index lookups SQLite would gather a fifth of a million tickets and sort them
        # (an agent's "all": 291 ms); read along updated_at it stops at the page (0.1 ms).
        scope = []
        if q.group_ids:
            scope.append(f"+group_id IN ({', '.join('?' * len(q.group_ids))})")
            params.extend(q.group_ids)
        if q.no_group:
            scope.append("+group_id IS NULL")
        if q.or_owner is not None:
            scope.append("+owner_id = ?")
            params.append(q.or_owner)
        where.append(f"({' OR '.join(scope)})" if scope else "0")
    if q.requester_id is not None:
        where.append("requester_id = ?")
        params.append(q.requester_id)
    if q.priority is not None:
        where.append("priority = ?")
        params.append(q.priority)
    if q.type is not None:
        where.append("type = ?")
        params.append(q.type)
    if q.channels is not None:
        where.append(f"channel IN ({', '.join('?' * len(q.channels))})")
        params.extend(q.channels)
    if q.due_before is not None:
        # Read along ticket_sla_due: the running clocks due soon are few, the tickets many.
        where.append(
            "(id IN (SELECT ticket_id FROM ticket_sla"
            " WHERE running_since IS NOT NULL AND due_at < ?))"
        )
        params.append(q.due_before)
    if q.text:
        where.append("(instr(subject, ?) > 0 OR number = ?)")
        params.extend((q.text, q.text))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    # Counted up to COUNT_CAP + 1: an agent's "all" over a million tickets would scan
    # them all to say how many (0.4 s); past the cap the list says "more than".
    total = int(
        conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM tickets{clause} LIMIT ?)",
            (*params, COUNT_CAP + 1),
        ).fetchone()[0]
    )
    rows = conn.execute(
        f"SELECT {_TICKET} FROM tickets{clause} ORDER BY {_ORDERS[q.order]} LIMIT ? OFFSET ?",
        (*params, q.limit, q.offset),
    )
    return total, [_ticket(r) for r in rows]


# -- linked conversations ------------------------------------------------------------


def link(conn: sqlite3.Connection, ticket_id: int, conversation_id: str, now: int) -> None:
    """Link a conversation to a ticket (once)."""
    conn.execute(
        "INSERT OR IGNORE INTO ticket_conversations (ticket_id, conversation_id, linked_at)"
        " VALUES (?, ?, ?)",
        (ticket_id, conversation_id, now),
    )


def left_by(conn: sqlite3.Connection, ticket_id: int, visitor_id: str) -> None:
    """Note the visitor who left a ticket in the widget, so they can follow it."""
    conn.execute(
        "INSERT OR IGNORE INTO ticket_visitors (ticket_id, visitor_id) VALUES (?, ?)",
        (ticket_id, visitor_id),
    )


def conversations_of(conn: sqlite3.Connection, ticket_id: int) -> list[str]:
    """The conversations linked to a ticket, oldest link first."""
    rows = conn.execute(
        "SELECT conversation_id FROM ticket_conversations WHERE ticket_id = ?"
        " ORDER BY linked_at, conversation_id",
        (ticket_id,),
    )
    return [r[0] for r in rows]


def tickets_of_conversation(conn: sqlite3.Connection, conversation_id: str) -> list[int]:
    """The tickets a conversation is linked to."""
    rows = conn.execute(
        "SELECT ticket_id FROM ticket_conversations WHERE conversation_id = ? ORDER BY ticket_id",
        (conversation_id,),
    )
    return [int(r[0]) for r in rows]


# -- types and templates -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketType:
    id: int
    name: str
    position: int
    active: bool


def types(conn: sqlite3.Connection) -> list[TicketType]:
    """Every ticket type, in order (inactive ones too: old tickets still name them)."""
    rows = conn.execute("SELECT id, name, position, active FROM ticket_types ORDER BY position, id")
    return [TicketType(r[0], r[1], r[2], bool(r[3])) for r in rows]


def replace_types(conn: sqlite3.Connection, names: Sequence[str]) -> None:
    """Make `names` the active types in that order; others stay, inactive."""
    conn.execute("UPDATE ticket_types SET active = 0")
    for position, name in enumerate(names, start=1):
        conn.execute(
            "INSERT INTO ticket_types (name, position, active) VALUES (?, ?, 1)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position, active = 1",
            (name, position),
        )


@dataclass(frozen=True, slots=True)
class Template:
    id: int
    name: str
    subject: str
    description: str
    type: str
    priority: str
    group_id: int | None
    tags: tuple[str, ...]
    created_at: int
    updated_at: int


_TEMPLATE = "id, name, subject, description, type, priority, group_id, tags, created_at, updated_at"


def _template(row: sqlite3.Row | tuple[Any, ...]) -> Template:
    values = list(row)
    values[7] = tuple(json.loads(values[7]))
    return Template(*values)


def templates(conn: sqlite3.Connection) -> list[Template]:
    """Every template, by name."""
    rows = conn.execute(f"SELECT {_TEMPLATE} FROM ticket_templates ORDER BY name")
    return [_template(r) for r in rows]


def template(conn: sqlite3.Connection, template_id: int) -> Template | None:
    """One template."""
    row = conn.execute(
        f"SELECT {_TEMPLATE} FROM ticket_templates WHERE id = ?", (template_id,)
    ).fetchone()
    return _template(row) if row is not None else None


def save_template(
    conn: sqlite3.Connection, template_id: int | None, values: dict[str, Any], now: int
) -> Template | None:
    """Create (id None) or replace a template; None when the id is unknown."""
    params = (
        values["name"],
        values["subject"],
        values["description"],
        values["type"],
        values["priority"],
        values["group_id"],
        json.dumps(list(values["tags"]), ensure_ascii=False),
    )
    if template_id is None:
        row = conn.execute(
            "INSERT INTO ticket_templates (name, subject, description, type, priority,"
            " group_id, tags, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            f" RETURNING {_TEMPLATE}",
            (*params, now, now),
        ).fetchone()
    else:
        row = conn.execute(
            "UPDATE ticket_templates SET name = ?, subject = ?, description = ?, type = ?,"
            " priority = ?, group_id = ?, tags = ?, updated_at = ? WHERE id = ?"
            f" RETURNING {_TEMPLATE}",
            (*params, now, template_id),
        ).fetchone()
    return _template(row) if row is not None else None


def delete_template(conn: sqlite3.Connection, template_id: int) -> bool:
    """Remove a template (tickets made from it keep their fields)."""
    return conn.execute("DELETE FROM ticket_templates WHERE id = ?", (template_id,)).rowcount > 0


def template_in_use(conn: sqlite3.Connection, template_id: int) -> bool:
    """Tell whether a recurring schedule opens tickets from a template."""
    row = conn.execute(
        "SELECT 1 FROM ticket_schedules WHERE template_id = ? LIMIT 1", (template_id,)
    ).fetchone()
    return row is not None


def template_named(conn: sqlite3.Connection, name: str) -> int | None:
    """The id of the template with a name."""
    row = conn.execute("SELECT id FROM ticket_templates WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row is not None else None


# -- recurring schedules -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    id: int
    name: str
    rule: str
    template_id: int
    starts_at: int
    enabled: bool
    last_run_at: int | None
    last_ticket_id: int | None
    created_at: int
    updated_at: int


_SCHEDULE = (
    "id, name, rule, template_id, starts_at, enabled, last_run_at, last_ticket_id,"
    " created_at, updated_at"
)


def _schedule(row: sqlite3.Row | tuple[Any, ...]) -> ScheduleRow:
    values = list(row)
    values[5] = bool(values[5])
    return ScheduleRow(*values)


def schedules(conn: sqlite3.Connection, *, enabled_only: bool = False) -> list[ScheduleRow]:
    """Every recurring schedule, by name."""
    where = " WHERE enabled = 1" if enabled_only else ""
    rows = conn.execute(f"SELECT {_SCHEDULE} FROM ticket_schedules{where} ORDER BY name, id")
    return [_schedule(r) for r in rows]


def save_schedule(
    conn: sqlite3.Connection, schedule_id: int | None, values: dict[str, Any], now: int
) -> ScheduleRow | None:
    """Create (id None) or change a schedule; None when the id is unknown. A changed
    rule or start counts from now on: occurrences before the change are not served."""
    params = (
        values["name"],
        values["rule"],
        values["template_id"],
        values["starts_at"],
        int(values["enabled"]),
    )
    if schedule_id is None:
        row = conn.execute(
            "INSERT INTO ticket_schedules (name, rule, template_id, starts_at, enabled,"
            " last_run_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            f" RETURNING {_SCHEDULE}",
            (*params, values["last_run_at"], now, now),
        ).fetchone()
    else:
        row = conn.execute(
            "UPDATE ticket_schedules SET name = ?, rule = ?, template_id = ?, starts_at = ?,"
            " enabled = ?, last_run_at = coalesce(?, last_run_at), updated_at = ?"
            f" WHERE id = ? RETURNING {_SCHEDULE}",
            (*params, values["last_run_at"], now, schedule_id),
        ).fetchone()
    return _schedule(row) if row is not None else None


def schedule_named(conn: sqlite3.Connection, name: str) -> int | None:
    """The id of the schedule with a name."""
    row = conn.execute("SELECT id FROM ticket_schedules WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row is not None else None


def schedule_ran(conn: sqlite3.Connection, schedule_id: int, at: int, ticket_id: int) -> None:
    """Record the occurrence a schedule served and the ticket it opened."""
    conn.execute(
        "UPDATE ticket_schedules SET last_run_at = ?, last_ticket_id = ? WHERE id = ?",
        (at, ticket_id, schedule_id),
    )


def delete_schedule(conn: sqlite3.Connection, schedule_id: int) -> bool:
    """Remove a schedule (the tickets it opened stay)."""
    return conn.execute("DELETE FROM ticket_schedules WHERE id = ?", (schedule_id,)).rowcount > 0


# -- the work log (工时物料费用) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkEntry:
    id: int
    ticket_id: int
    seq: int
    user_id: int
    minutes: int
    materials: str
    cost_cents: int
    note: str
    at: int


@dataclass(frozen=True, slots=True)
class WorkTotals:
    entries: int
    minutes: int
    cost_cents: int


_WORK = "id, ticket_id, seq, user_id, minutes, materials, cost_cents, note, at"


def add_work(
    conn: sqlite3.Connection,
    ticket_id: int,
    seq: int,
    user_id: int,
    values: dict[str, Any],
    now: int,
) -> WorkEntry:
    """Log time, materials and cost on a ticket."""
    row = conn.execute(
        "INSERT INTO ticket_work (ticket_id, seq, user_id, minutes, materials, cost_cents,"
        f" note, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_WORK}",
        (
            ticket_id,
            seq,
            user_id,
            values["minutes"],
            values["materials"],
            values["cost_cents"],
            values["note"],
            now,
        ),
    ).fetchone()
    return WorkEntry(*row)


def work_of(conn: sqlite3.Connection, ticket_id: int) -> list[WorkEntry]:
    """A ticket's work log, oldest first."""
    rows = conn.execute(
        f"SELECT {_WORK} FROM ticket_work WHERE ticket_id = ? ORDER BY id", (ticket_id,)
    )
    return [WorkEntry(*r) for r in rows]


def work_totals(
    conn: sqlite3.Connection, *, ticket_id: int | None = None, requester_id: int | None = None
) -> WorkTotals:
    """Sums of the work logged on one ticket, or on every ticket of a customer."""
    where, param = (
        ("w.ticket_id = ?", ticket_id)
        if ticket_id is not None
        else ("t.requester_id = ?", requester_id)
    )
    row = conn.execute(
        "SELECT count(*), coalesce(sum(w.minutes), 0), coalesce(sum(w.cost_cents), 0)"
        f" FROM ticket_work w JOIN tickets t ON t.id = w.ticket_id WHERE {where}",
        (param,),
    ).fetchone()
    return WorkTotals(int(row[0]), int(row[1]), int(row[2]))


def count_unfinished(conn: sqlite3.Connection) -> int:
    """Return how many tickets are new, open or pending (for /metrics)."""
    row = conn.execute(
        "SELECT count(*) FROM tickets WHERE state IN ('new', 'open', 'pending')"
    ).fetchone()
    return int(row[0])


# -- for the search index (core/search.py) --------------------------------------------

_COMMENT = "kind IN ('reply', 'note')"


def texts_after(
    conn: sqlite3.Connection, after_id: int, limit: int
) -> list[tuple[int, str, str, int]]:
    """Return tickets after an id, in id order: (id, subject, description, updated_at)."""
    rows = conn.execute(
        "SELECT id, subject, description, updated_at FROM tickets WHERE id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def text_of(conn: sqlite3.Connection, ticket_id: int) -> tuple[str, str, int] | None:
    """Return a ticket's subject, description and last change."""
    row = conn.execute(
        "SELECT subject, description, updated_at FROM tickets WHERE id = ?", (ticket_id,)
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def comments_after(
    conn: sqlite3.Connection, ticket_id: int, seq: int, limit: int
) -> list[tuple[int, int, str, int]]:
    """Return replies and notes after a (ticket, seq) key, in key order:
    (ticket_id, seq, body, at)."""
    rows = conn.execute(
        "SELECT ticket_id, seq, coalesce(json_extract(data, '$.body'), ''), at"
        f" FROM ticket_events WHERE (ticket_id, seq) > (?, ?) AND {_COMMENT}"
        " ORDER BY ticket_id, seq LIMIT ?",
        (ticket_id, seq, limit),
    )
    return [(r[0], r[1], str(r[2]), r[3]) for r in rows]


def comment_of(conn: sqlite3.Connection, ticket_id: int, seq: int) -> tuple[str, int] | None:
    """Return a reply's or note's text and time."""
    row = conn.execute(
        "SELECT coalesce(json_extract(data, '$.body'), ''), at FROM ticket_events"
        f" WHERE ticket_id = ? AND seq = ? AND {_COMMENT}",
        (ticket_id, seq),
    ).fetchone()
    return None if row is None else (str(row[0]), row[1])
