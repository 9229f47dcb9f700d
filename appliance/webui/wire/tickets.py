"""The service desk on the wire: tickets, their history, types and templates."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from appliance.core.store.tickets import Template as CoreTemplate
from appliance.core.store.tickets import TicketType as CoreTicketType
from appliance.core.store.tickets import WorkEntry as CoreWorkEntry
from appliance.core.store.tickets import WorkTotals as CoreWorkTotals
from appliance.core.ticketflow import Event as CoreEvent
from appliance.core.ticketflow import Ticket as CoreTicket
from appliance.core.tickets import (
    BODY_MAX,
    BULK_MAX,
    DESCRIPTION_MAX,
    FOLLOWERS_MAX,
    PAGE_MAX,
    SUBJECT_MAX,
    TAG_MAX,
    TAGS_MAX,
    TYPE_MAX,
    TYPES_MAX,
    WORK_COST_MAX,
    WORK_MINUTES_MAX,
)
from appliance.core.tickets import (
    Planned as CorePlanned,
)
from appliance.core.tickets import (
    TicketDetail as CoreDetail,
)
from appliance.core.visitor_records import Customer as CoreCustomer
from appliance.webui.wire import Time, wire_time
from appliance.webui.wire.chat import Id

State = Literal["new", "open", "pending", "resolved", "closed", "merged"]
Priority = Literal["low", "normal", "high", "urgent"]
Channel = Literal[
    "phone", "chat", "web", "message", "callback", "api", "schedule", "email", "portal"
]
View = Literal["mine", "my_groups", "unassigned", "pending", "open", "all", "left", "breaching"]
Order = Literal[
    "updated_at DESC",
    "updated_at ASC",
    "created_at DESC",
    "created_at ASC",
    "due_at ASC",
    "priority DESC",
    "sla_due ASC",
]
By = Literal["agent", "customer", "system"]

Subject = Annotated[str, msgspec.Meta(max_length=SUBJECT_MAX)]
Description = Annotated[str, msgspec.Meta(max_length=DESCRIPTION_MAX)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=TAG_MAX)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=TAGS_MAX)]
TypeName = Annotated[str, msgspec.Meta(max_length=TYPE_MAX)]
Body = Annotated[str, msgspec.Meta(min_length=1, max_length=BODY_MAX)]
TicketId = Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]


class RequesterInput(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """An existing customer by id, or contact data to find or create one."""

    customer_id: Id | None = None
    name: Annotated[str, msgspec.Meta(max_length=64)] = ""
    email: Annotated[str, msgspec.Meta(max_length=254)] = ""
    phone: Annotated[str, msgspec.Meta(max_length=32)] = ""


class TicketInput(msgspec.Struct, forbid_unknown_fields=True):
    """A new ticket. With a template, fields left out or empty take the template's
    values (priority: the template's when not given, else normal)."""

    subject: Subject = ""
    description: Description = ""
    type: TypeName = ""
    priority: Priority | None = None
    channel: Channel = "api"
    group_id: Id | None = None
    owner_id: Id | None = None
    due_at: Time | None = None
    tags: Tags = msgspec.field(default_factory=list)
    requester: RequesterInput | None = None
    template_id: Id | None = None


class FromChatInput(msgspec.Struct, forbid_unknown_fields=True):
    """A ticket made of a chat: the transcript and the link come along."""

    conversation_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    subject: Subject
    description: Description = ""
    type: TypeName = ""
    priority: Priority = "normal"
    group_id: Id | None = None
    owner_id: Id | None = None
    due_at: Time | None = None
    tags: Tags = msgspec.field(default_factory=list)
    template_id: Id | None = None


class TicketChange(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Fields to change; those left out stay. owner_id or group_id null clears them."""

    subject: Subject | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    type: TypeName | msgspec.UnsetType = msgspec.UNSET
    priority: Priority | msgspec.UnsetType = msgspec.UNSET
    group_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    owner_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    due_at: Time | msgspec.UnsetType | None = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET
    followers: Annotated[list[Id], msgspec.Meta(max_length=FOLLOWERS_MAX)] | (
        msgspec.UnsetType
    ) = msgspec.UNSET


class BulkChange(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What a bulk action changes on each ticket; fields left out stay."""

    type: TypeName | msgspec.UnsetType = msgspec.UNSET
    priority: Priority | msgspec.UnsetType = msgspec.UNSET
    group_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    owner_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    due_at: Time | msgspec.UnsetType | None = msgspec.UNSET


class BulkInput(msgspec.Struct, forbid_unknown_fields=True):
    """The same change on up to 100 tickets: fields, tags added or taken away, then a
    move to another state (as ticketflow allows an agent)."""

    ids: Annotated[list[TicketId], msgspec.Meta(min_length=1, max_length=BULK_MAX)]
    change: BulkChange = msgspec.field(default_factory=BulkChange)
    add_tags: Tags = msgspec.field(default_factory=list)
    remove_tags: Tags = msgspec.field(default_factory=list)
    to: Annotated[State, msgspec.Meta(description="not merged")] | None = None


class BulkResult(msgspec.Struct, omit_defaults=True):
    """One ticket's outcome: the ticket after the change, or why it was refused."""

    id: int
    ok: bool
    ticket: Ticket | None = None
    code: str = ""
    message: str = ""


class BulkResults(msgspec.Struct):
    """Each ticket's outcome, in the order asked; done counts the ones changed."""

    done: int
    results: list[BulkResult]


class MoveInput(msgspec.Struct, forbid_unknown_fields=True):
    """The state to move to (merged goes through the merge action)."""

    to: State


class CommentInput(msgspec.Struct, forbid_unknown_fields=True):
    """A public reply to the requester, or an internal note."""

    body: Body
    public: bool = False


class EscalateInput(msgspec.Struct, forbid_unknown_fields=True):
    """Up the group's line (expert, lead, manager), or out to a named vendor."""

    level: Literal["expert", "lead", "manager", "vendor"]
    vendor: Annotated[
        str, msgspec.Meta(max_length=200, description="vendor: its name and contact")
    ] = ""
    note: Description = ""


class MergeInput(msgspec.Struct, forbid_unknown_fields=True):
    """The ticket this one is merged into (same requester)."""

    into: TicketId


class TicketsQuery(msgspec.Struct, forbid_unknown_fields=True):
    """A saved view of the ticket list, filtered and sorted."""

    view: View = "open"
    priority: Priority | None = None
    type: TypeName | None = None
    q: Annotated[str, msgspec.Meta(max_length=100)] = ""
    requester_id: Id | None = None
    channel: Channel | None = None
    sort: Order = "updated_at DESC"
    limit: Annotated[int, msgspec.Meta(ge=1, le=PAGE_MAX)] = 50
    offset: Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)] = 0


class Ticket(msgspec.Struct):
    """A ticket as its history makes it."""

    id: int
    number: str
    state: State
    subject: str
    description: str
    type: str
    priority: Priority
    channel: str
    requester_id: int | None
    group_id: int | None
    owner_id: int | None
    due_at: Time | None
    tags: list[str]
    followers: list[int]
    escalation: Literal["", "expert", "lead", "manager", "vendor"]
    vendor: str
    created_at: Time
    updated_at: Time
    first_reply_at: Time | None
    resolved_at: Time | None
    closed_at: Time | None
    merged_into: int | None
    replies: int
    notes: int


class TicketBrief(msgspec.Struct):
    """What a console needs to know live of a ticket that changed (the rest by API)."""

    id: int
    number: str
    state: State
    subject: str
    priority: Priority
    channel: str
    group_id: int | None
    owner_id: int | None
    updated_at: Time


class TicketFrame(msgspec.Struct, tag_field="type", tag="ticket", frozen=True):
    """Agent socket: a ticket the user may see was created or changed."""

    ticket: TicketBrief


def ticket_brief(t: CoreTicket) -> TicketBrief:
    """The live brief of a ticket."""
    f = t.fields
    return TicketBrief(
        t.id,
        f["number"],
        t.state.value,
        f["subject"],
        f["priority"],
        f["channel"],
        f["group_id"],
        f["owner_id"],
        wire_time(t.updated_at),
    )


def ticket_out(t: CoreTicket) -> Ticket:
    """A core ticket on the wire."""
    f = t.fields
    return Ticket(
        id=t.id,
        number=f["number"],
        state=t.state.value,
        subject=f["subject"],
        description=f["description"],
        type=f["type"],
        priority=f["priority"],
        channel=f["channel"],
        requester_id=f["requester_id"],
        group_id=f["group_id"],
        owner_id=f["owner_id"],
        due_at=wire_time(f["due_at"]),
        tags=list(f["tags"]),
        followers=list(f["followers"]),
        escalation=f["escalation"],
        vendor=f["vendor"],
        created_at=wire_time(t.created_at),
        updated_at=wire_time(t.updated_at),
        first_reply_at=wire_time(t.first_reply_at),
        resolved_at=wire_time(t.resolved_at),
        closed_at=wire_time(t.closed_at),
        merged_into=t.merged_into,
        replies=t.replies,
        notes=t.notes,
    )


class HistoryEntry(msgspec.Struct):
    """One entry of a ticket's append-only history."""

    seq: int
    at: Time
    by: By
    actor_id: str
    kind: str
    data: dict[str, Any]


def _times(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    if "due_at" in data and isinstance(data["due_at"], int):
        return {**data, "due_at": wire_time(data["due_at"])}
    return data


def event_out(e: CoreEvent) -> HistoryEntry:
    """A history entry on the wire (a due date in it as a wire time)."""
    return HistoryEntry(
        e.seq, wire_time(e.at), e.by.value, e.actor_id, e.kind, _times(e.kind, e.data)
    )


class Requester(msgspec.Struct):
    """The customer a ticket is for."""

    id: int
    name: str
    email: str
    phone: str
    tier: str
    verified: bool


def requester_out(c: CoreCustomer) -> Requester:
    return Requester(c.id, c.name, c.email, c.phone, c.tier, c.verified)


class OneTicket(msgspec.Struct):
    ticket: Ticket


class Person(msgspec.Struct):
    """A user a ticket names (disabled users too, so the history reads their name)."""

    id: int
    name: str


class TicketPage(msgspec.Struct):
    """A ticket with its history, linked chats, requester and the states it may move to."""

    ticket: Ticket
    history: list[HistoryEntry]
    conversations: list[str]
    requester: Requester | None
    moves: list[State]
    people: list[Person]


def detail_out(d: CoreDetail) -> TicketPage:
    return TicketPage(
        ticket=ticket_out(d.ticket),
        history=[event_out(e) for e in d.events],
        conversations=d.conversations,
        requester=requester_out(d.requester) if d.requester is not None else None,
        moves=[s.value for s in d.moves],
        people=[Person(i, name) for i, name in sorted(d.people.items())],
    )


class RequesterBrief(msgspec.Struct):
    """A requester as a list shows them."""

    id: int
    name: str
    tier: str
    verified: bool


class Tickets(msgspec.Struct):
    """One page of a ticket list and how many tickets match, with the page's
    requesters (by id) for their names."""

    total: Annotated[
        int, msgspec.Meta(description="matches, counted up to 10,001: more reads as 10,000+")
    ]
    offset: int
    limit: int
    tickets: list[Ticket]
    requesters: list[RequesterBrief]


class TicketType(msgspec.Struct):
    id: int
    name: str
    position: int
    active: bool


def type_out(t: CoreTicketType) -> TicketType:
    return TicketType(t.id, t.name, t.position, t.active)


class TicketTypes(msgspec.Struct):
    types: list[TicketType]


class TicketTypesInput(msgspec.Struct, forbid_unknown_fields=True):
    """The active ticket types, in order; types left out are retired, not deleted."""

    names: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=TYPE_MAX)]],
        msgspec.Meta(min_length=1, max_length=TYPES_MAX),
    ]


class TemplateInput(msgspec.Struct, forbid_unknown_fields=True):
    """A ticket template (开单模版)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    subject: Subject = ""
    description: Description = ""
    type: TypeName = ""
    priority: Priority = "normal"
    group_id: Id | None = None
    tags: Tags = msgspec.field(default_factory=list)


class Template(msgspec.Struct):
    id: int
    name: str
    subject: str
    description: str
    type: str
    priority: Priority
    group_id: int | None
    tags: list[str]
    created_at: Time
    updated_at: Time


def template_out(t: CoreTemplate) -> Template:
    return Template(
        t.id,
        t.name,
        t.subject,
        t.description,
        t.type,
        t.priority,  # type: ignore[arg-type]
        t.group_id,
        list(t.tags),
        wire_time(t.created_at),
        wire_time(t.updated_at),
    )


class Templates(msgspec.Struct):
    templates: list[Template]


class OneTemplate(msgspec.Struct):
    template: Template


class ScheduleInput(msgspec.Struct, forbid_unknown_fields=True):
    """A recurring task (定期巡检): an RFC 5545 rule read in the box's zone, e.g.
    FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0 (daily at the most often)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    rule: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    template_id: Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]
    starts_at: Time | None = None
    enabled: bool = True


class Schedule(msgspec.Struct):
    id: int
    name: str
    rule: str
    template_id: int
    starts_at: Time
    enabled: bool
    last_run_at: Time | None
    last_ticket_id: int | None
    next_run_at: Time | None
    created_at: Time
    updated_at: Time


def schedule_out(p: CorePlanned) -> Schedule:
    r = p.schedule
    return Schedule(
        r.id,
        r.name,
        r.rule,
        r.template_id,
        wire_time(r.starts_at),
        r.enabled,
        wire_time(r.last_run_at),
        r.last_ticket_id,
        wire_time(p.next_run_at),
        wire_time(r.created_at),
        wire_time(r.updated_at),
    )


class Schedules(msgspec.Struct):
    schedules: list[Schedule]


class OneSchedule(msgspec.Struct):
    schedule: Schedule


class ScheduleRunsInput(msgspec.Struct, forbid_unknown_fields=True):
    """A recurrence rule as a schedule would have it, to see its runs before saving."""

    rule: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    starts_at: Time | None = None


class ScheduleRuns(msgspec.Struct):
    """The next runs of a rule if saved now, in the box's zone (fewer if it ends)."""

    runs: list[Time]


class WorkInput(msgspec.Struct, forbid_unknown_fields=True):
    """Time, materials and cost logged on a ticket; a correction is another entry with
    negative amounts. Cost in fen (0.01 CNY)."""

    minutes: Annotated[int, msgspec.Meta(ge=-WORK_MINUTES_MAX, le=WORK_MINUTES_MAX)] = 0
    materials: Annotated[str, msgspec.Meta(max_length=500)] = ""
    cost_cents: Annotated[int, msgspec.Meta(ge=-WORK_COST_MAX, le=WORK_COST_MAX)] = 0
    note: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class WorkEntry(msgspec.Struct):
    id: int
    ticket_id: int
    user_id: int
    minutes: int
    materials: str
    cost_cents: int
    note: str
    at: Time


def work_out(w: CoreWorkEntry) -> WorkEntry:
    return WorkEntry(
        w.id, w.ticket_id, w.user_id, w.minutes, w.materials, w.cost_cents, w.note, wire_time(w.at)
    )


class WorkTotals(msgspec.Struct):
    entries: int
    minutes: int
    cost_cents: int


def totals_out(t: CoreWorkTotals) -> WorkTotals:
    return WorkTotals(t.entries, t.minutes, t.cost_cents)


class OneWorkEntry(msgspec.Struct):
    entry: WorkEntry


class WorkLog(msgspec.Struct):
    """A ticket's work log, oldest first, and its sums."""

    entries: list[WorkEntry]
    totals: WorkTotals


class CustomerWork(msgspec.Struct):
    """The sums of the work logged on all of a customer's tickets."""

    customer_id: int
    totals: WorkTotals


# -- the customer's side (the widget) ------------------------------------------------


class CustomerTicket(msgspec.Struct):
    """A ticket as its customer sees it."""

    id: int
    number: str
    state: State
    subject: str
    created_at: Time
    updated_at: Time
    resolved_at: Time | None


def customer_ticket_out(t: CoreTicket) -> CustomerTicket:
    return CustomerTicket(
        t.id,
        t.fields["number"],
        t.state.value,
        t.fields["subject"],
        wire_time(t.created_at),
        wire_time(t.updated_at),
        wire_time(t.resolved_at),
    )


class CustomerTickets(msgspec.Struct):
    """The tickets made from the visitor's chats and those of the customer they are
    proven to be (a signed identity), newest change first (at most 50)."""

    tickets: list[CustomerTicket]


class ThreadEntry(msgspec.Struct, omit_defaults=True):
    """One entry of the public thread: a reply (`body`), a state change (`to`), the
    description at creation (`body`), or the customer's rating (`score`)."""

    at: Time
    by: By
    kind: Literal["created", "reply", "state", "rating"]
    body: str = ""
    to: State | None = None
    score: int | None = None


def thread_out(e: CoreEvent) -> ThreadEntry:
    data = e.data
    if e.kind == "created":
        return ThreadEntry(wire_time(e.at), e.by.value, "created", body=data.get("description", ""))
    if e.kind == "state":
        return ThreadEntry(wire_time(e.at), e.by.value, "state", to=data["to"])
    if e.kind == "rating":
        return ThreadEntry(
            wire_time(e.at), e.by.value, "rating", body=data.get("comment", ""), score=data["score"]
        )
    return ThreadEntry(wire_time(e.at), e.by.value, "reply", body=data.get("body", ""))


class CustomerTicketPage(msgspec.Struct):
    ticket: CustomerTicket
    thread: list[ThreadEntry]


class OneCustomerTicket(msgspec.Struct):
    ticket: CustomerTicket


class CustomerReply(msgspec.Struct, forbid_unknown_fields=True):
    body: Body


class RatingInput(msgspec.Struct, forbid_unknown_fields=True):
    """The satisfaction follow-up: 1 (poor) to 5 (excellent), and a comment."""

    score: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Annotated[str, msgspec.Meta(max_length=1000)] = ""
