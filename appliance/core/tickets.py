"""The service desk's tickets: created from a chat, a phone call (from a template) or
the API; changed, answered, moved between states and merged by staff; each change one
event of an append-only history (core/ticketflow.py folds them into the ticket).

Who sees what: supervisors and admins every ticket; an agent the tickets of their
groups, those without a group, and those they own. Every write runs in one writer
transaction: the events are appended and the cached row rewritten together, so the
row is always what `ticketflow.replay` makes of the history.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from dateutil.tz import tzlocal

from appliance.core import recurrence, validate
from appliance.core.actors import PortalCustomer, Staff, Visitor
from appliance.core.chats import Chats, Closed
from appliance.core.clock import local_iso, now_ms
from appliance.core.contact import normal_email, normal_phone
from appliance.core.db import Database
from appliance.core.errors import (
    ChatError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    StorageFull,
)
from appliance.core.events import EventBus, TicketChanged
from appliance.core.live import CustomerBrief
from appliance.core.notifications import Notifications
from appliance.core.rules import (
    AUTO,
    Fired,
    Kind,
    Rule,
    TicketView,
    preview,
    run_timed,
    run_triggers,
    trigger_events,
)
from appliance.core.sla import FIRE_BATCH, Clock, Firing, Sla
from appliance.core.store import accounts as account_store
from appliance.core.store import conversations as conversation_store
from appliance.core.store import customers as customer_store
from appliance.core.store import routing as routing_store
from appliance.core.store import tickets as store
from appliance.core.store import visitors as visitor_store
from appliance.core.store import workitems as work_store
from appliance.core.store.tickets import ScheduleRow, Template, TicketType, WorkEntry, WorkTotals
from appliance.core.store.workitems import WorkItem
from appliance.core.ticket_rules import Rules
from appliance.core.ticketflow import FINAL, By, Event, State, Ticket, apply, check_move, moves
from appliance.core.visitor_records import Customer
from appliance.core.webhooks import EVENTS as WEBHOOK_EVENTS
from appliance.core.webhooks import Webhooks
from appliance.core.workitems import wording

_LOGGER = logging.getLogger(__name__)

PRIORITIES = ("low", "normal", "high", "urgent")
# Where a ticket came from. E-mail and the portal arrive with their own issue; the
# list is the API's, and a new channel is one more name here.
CHANNELS = ("phone", "chat", "web", "message", "callback", "api", "schedule", "email", "portal")
# The saved views of the ticket list.
VIEWS = ("mine", "my_groups", "unassigned", "pending", "open", "all", "left", "breaching")
LEFT_CHANNELS = ("message", "callback")  # what visitors leave in the widget
BREACHING_SOON = 3600 * 1000  # "breaching soon": a running deadline within the hour
CARRY_BATCH = 200  # old work items carried into tickets per write transaction
WORKING = (State.NEW.value, State.OPEN.value, State.PENDING.value)
# Up a group's line (core/store/routing.line_of), or out to a vendor.
ESCALATION = ("expert", "lead", "manager", "vendor")

SUBJECT_MAX = 200
DESCRIPTION_MAX = 20_000
BODY_MAX = 20_000
TAG_MAX = 32
TAGS_MAX = 20
TYPE_MAX = 32
TYPES_MAX = 50
FOLLOWERS_MAX = 50
PAGE_MAX = 200
BULK_MAX = 100  # tickets one bulk action changes
VISITOR_LIST = 50  # tickets a visitor sees
TIMED_BATCH = 500  # tickets per write transaction of the timed rules' pass
# What a customer sees of a ticket's history: the public thread and its moves.
PUBLIC_KINDS = frozenset({"created", "reply", "state", "rating"})
_DAY = 24 * 3600 * 1000
_MINUTE = 60_000
WORK_MINUTES_MAX = 100_000  # about 70 days in one entry
WORK_COST_MAX = 10**11  # fen: a billion yuan
_TRANSCRIPT_MESSAGES = 2000
_ZONE = tzlocal()  # the box's zone, daylight-saving rules included


@dataclass(frozen=True, slots=True)
class Requester:
    """The customer a new ticket is for: an existing profile, or contact data for one
    that is found by its e-mail or phone, or created."""

    customer_id: int | None = None
    name: str = ""
    email: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class NewTicket:
    """What a ticket starts with (the wire type checks shapes; core checks meaning)."""

    subject: str
    description: str = ""
    type: str = ""
    priority: str | None = None  # None: the template's, else normal
    channel: str = "api"
    group_id: int | None = None
    owner_id: int | None = None
    due_at: int | None = None
    tags: Sequence[str] = ()
    requester: Requester | None = None
    template_id: int | None = None


@dataclass(frozen=True, slots=True)
class TicketDetail:
    """A ticket with its history, linked chats, requester and the moves open to the
    asking user."""

    ticket: Ticket
    events: list[Event]
    conversations: list[str]
    requester: Customer | None
    moves: list[State]
    people: dict[int, str]  # every user the ticket names (history included): id -> name


@dataclass(frozen=True, slots=True)
class TicketListing:
    total: int
    tickets: list[Ticket]
    requesters: list[CustomerBrief]  # the page's requesters, for their names


def _day(now: int) -> str:
    """The local day a ticket number counts in (the box's zone)."""
    return datetime.fromtimestamp(now / 1000, tz=UTC).astimezone().strftime("%Y%m%d")


def _tags(values: Sequence[str]) -> tuple[str, ...]:
    if len(values) > TAGS_MAX:
        raise InvalidInput(f"a ticket has at most {TAGS_MAX} tags")
    out: list[str] = []
    for value in values:
        tag = validate.text(value, "tag", TAG_MAX, required=True)
        if any(c.isspace() or c == "," for c in tag):
            raise InvalidInput("a tag is one word without spaces or commas")
        if tag not in out:
            out.append(tag)
    return tuple(out)


def _people(ticket: Ticket, events: Sequence[Event]) -> set[int]:
    """The users a ticket names: who acted, and every owner and follower it had."""
    found: set[int] = set(ticket.fields["followers"])
    if ticket.fields["owner_id"] is not None:
        found.add(ticket.fields["owner_id"])
    for event in events:
        if event.by == By.AGENT and event.actor_id.isdigit():
            found.add(int(event.actor_id))
        owner = event.data.get("owner_id")
        if isinstance(owner, int) and not isinstance(owner, bool):
            found.add(owner)
        followers = event.data.get("followers")
        if isinstance(followers, list):
            found.update(f for f in followers if isinstance(f, int) and not isinstance(f, bool))
    return found


class MailHook(Protocol):
    """Mail out (core/mail_out.py): queues what a change sends, in its transaction."""

    def queue_in(
        self, conn: sqlite3.Connection, ticket: Ticket, written: Sequence[Event], now: int
    ) -> int: ...

    def wake(self) -> None: ...


def _by(actor: Staff) -> tuple[By, str]:
    return By.AGENT, str(actor.id)


# Who follows tickets from outside: a widget visitor, or a customer in the portal.
Follower = Visitor | PortalCustomer


def _followed(conn: sqlite3.Connection, who: Follower) -> list[Ticket]:
    if isinstance(who, PortalCustomer):
        return store.of_customer(
            conn, who.customer_id, who.email, VISITOR_LIST, organisation=who.organisation
        )
    return store.of_visitor(conn, who.id, VISITOR_LIST)


def _follower_id(who: Follower) -> str:
    """The history's actor id of a customer's change."""
    return who.id if isinstance(who, PortalCustomer) else f"visitor:{who.id}"


class Tickets:
    """Create, change, answer, move, merge, list and show tickets."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        clock: Callable[[], int] = now_ms,
        *,
        rules: Rules | None = None,
        webhooks: Webhooks | None = None,
        sla: Sla | None = None,
        chats: Chats | None = None,
        notifications: Notifications | None = None,
        mail: MailHook | None = None,
    ) -> None:
        self._db = db
        self.mail = mail  # set by the box once mail out exists (it needs the secret)
        self._chats = chats  # to end the waiting chat a left request replaces
        self._bus = bus
        self._now = clock
        self._rules = rules
        self._webhooks = webhooks
        self._sla = sla
        self._notices = notifications  # console notifications, written with their cause

    # -- rules shared by every write ----------------------------------------------

    def _sees(self, actor: Staff, ticket: Ticket) -> bool:
        if actor.overseer or actor.dispatcher:
            return True
        group = ticket.fields["group_id"]
        return group is None or group in actor.groups or ticket.fields["owner_id"] == actor.id

    def _load(self, conn: sqlite3.Connection, actor: Staff, ticket_id: int) -> Ticket:
        ticket = store.get(conn, ticket_id)
        if ticket is None or not self._sees(actor, ticket):
            raise NotFound("no such ticket")
        return ticket

    def _check_type(self, conn: sqlite3.Connection, value: str) -> str:
        name = validate.text(value, "type", TYPE_MAX)
        if name and name not in {t.name for t in store.types(conn) if t.active}:
            raise InvalidInput(f"type must be one of the ticket types, not {name!r}")
        return name

    def _check_group(self, conn: sqlite3.Connection, group_id: int | None) -> int | None:
        if group_id is not None and not routing_store.group_exists(conn, group_id):
            raise InvalidInput("no such group")
        return group_id

    def _check_owner(
        self, conn: sqlite3.Connection, actor: Staff, owner_id: int | None
    ) -> int | None:
        if owner_id is None:
            return None
        user = account_store.user(conn, owner_id)
        if user is None or user.disabled:
            raise InvalidInput("the owner must be an active console user")
        if owner_id != actor.id and not (actor.overseer or actor.dispatcher):
            raise Forbidden("only a supervisor or a dispatcher assigns tickets to others")
        return owner_id

    def _record(
        self, conn: sqlite3.Connection, ticket: Ticket | None, entries: list[Event]
    ) -> Ticket:
        """Fold new events into the ticket, append them and rewrite its row; the SLA
        clocks follow each event, and what they did is recorded too."""
        created = ticket is None
        before = ticket
        for event in entries:
            ticket = apply(ticket, event)
        assert ticket is not None
        if created:
            store.insert(conn, ticket)  # the row first: the events refer to it
        for event in entries:
            store.append(conn, event)
        if self._sla is not None:
            clocked = self._clock(conn, before, entries, ticket.last_seq)
            for event in clocked:
                ticket = apply(ticket, event)
                store.append(conn, event)
            if clocked and created:
                store.save(conn, ticket)
        if not created:
            store.save(conn, ticket)
        return ticket

    def _clock(
        self, conn: sqlite3.Connection, before: Ticket | None, entries: list[Event], seq: int
    ) -> list[Event]:
        """Move the ticket's SLA clocks with each new event; return their changes as
        history entries ("sla", by the box)."""
        assert self._sla is not None
        state = before
        tier: str | None = None
        made: list[Event] = []
        for event in entries:
            state = apply(state, event)
            if event.kind == "sla":
                continue
            if tier is None:
                requester = state.fields["requester_id"]
                customer = customer_store.get(conn, requester) if requester else None
                tier = customer.tier if customer else ""
            for change in self._sla.track(conn, state, event, tier or None):
                if change.target is None:
                    continue  # a clock without a target: kept, but nothing to record
                data = {
                    "metric": change.metric,
                    "change": change.kind,
                    "policy_id": change.policy_id,
                    "due_at": change.due_at,
                    "late": change.late,
                }
                made.append(
                    Event(state.id, seq + len(made) + 1, event.at, By.SYSTEM, "sla", "sla", data)
                )
        return made

    def _event(
        self, ticket_id: int, seq: int, now: int, actor: Staff | None, kind: str, data: Any
    ) -> Event:
        by, who = _by(actor) if actor is not None else (By.SYSTEM, "")
        return Event(ticket_id, seq, now, by, who, kind, data)

    def _write(self, job: Callable[[sqlite3.Connection], Ticket]) -> Any:
        return self._db.write(job, on_commit=lambda t: self._announce([t]))

    def _announce(self, tickets: Sequence[Ticket]) -> None:
        for ticket in tickets:
            self._bus.emit(TicketChanged(ticket))
        if tickets and self._webhooks is not None:
            self._webhooks.wake()
        if self._notices is not None:
            self._notices.wake()
        if tickets and self.mail is not None:
            self.mail.wake()

    # -- triggers, rules' plans and webhooks, inside a change's transaction ----------

    def _view(self, conn: sqlite3.Connection, ticket: Ticket) -> TicketView:
        requester_id = ticket.fields["requester_id"]
        customer = customer_store.get(conn, requester_id) if requester_id else None
        return TicketView(ticket, customer.tier if customer else "", ticket.state_at)

    def _commit(
        self, conn: sqlite3.Connection, ticket: Ticket | None, entries: list[Event], now: int
    ) -> Ticket:
        """Record a change's events, then set off what they set off (`_set_off`); all in
        the caller's transaction, so a crash leaves all of it or none."""
        return self._set_off(conn, self._record(conn, ticket, entries), entries, now)

    def _set_off(
        self, conn: sqlite3.Connection, ticket: Ticket, written: list[Event], now: int
    ) -> Ticket:
        """Run the triggers that recorded events set off (once), carry out their plans,
        and queue the webhooks of everything written."""
        written = list(written)
        extra: list[str] = []
        kinds = trigger_events(written) if self._rules is not None else frozenset()
        if kinds:
            assert self._rules is not None
            rules = self._rules.enabled_in(conn)
            for one in run_triggers(rules, self._view(conn, ticket), kinds, now):
                ticket, made = self._carry_out(conn, ticket, one, now)
                written.extend(made)
                extra.extend(one.plan.webhooks)
        self._queue_hooks(conn, ticket, written, extra, now)
        if self.mail is not None:
            self.mail.queue_in(conn, ticket, written, now)
        return ticket

    def _carry_out(
        self, conn: sqlite3.Connection, ticket: Ticket, fired: Fired, now: int
    ) -> tuple[Ticket, list[Event]]:
        """Write a rule's plan as the box's own entries, under the rule's name. A group
        or user deleted since the rule was saved, or a move no longer allowed, is
        skipped and said so in the rule's entry, never a failed change."""
        plan, rule = fired.plan, fired.rule
        who = f"rule:{rule.id}"
        skipped = list(plan.skipped)
        changes = dict(plan.changes)
        group = changes.get("group_id")
        if group is not None and not routing_store.group_exists(conn, group):
            del changes["group_id"]
            skipped.append(f"group {group} no longer exists")
        if changes.get("owner_id") == AUTO:
            group = changes.get("group_id", ticket.fields["group_id"])
            picked = self._auto_owner(conn, group, ticket) if group is not None else None
            if picked is None or picked == ticket.fields["owner_id"]:
                del changes["owner_id"]
                if picked is None:
                    skipped.append("no active member of the ticket's group to assign")
            else:
                changes["owner_id"] = picked
        owner = changes.get("owner_id")
        if owner is not None:
            user = account_store.user(conn, owner)
            if user is None or user.disabled:
                del changes["owner_id"]
                skipped.append(f"user {owner} is not an active user")
        made: list[Event] = []

        def add(kind: str, data: dict[str, Any]) -> None:
            made.append(
                Event(ticket.id, ticket.last_seq + len(made) + 1, now, By.SYSTEM, who, kind, data)
            )

        if changes:
            add("changed", {k: _stored(v) for k, v in changes.items()})
        for note in plan.notes:
            add("note", {"body": note})
        if plan.state is not None:
            try:
                check_move(ticket.state, plan.state, By.SYSTEM)
                add("state", {"to": plan.state.value})
            except ChatError as err:
                skipped.append(str(err))
        notify = [
            {"user_ids": list(n.user_ids), "group_ids": list(n.group_ids), "text": n.text}
            for n in plan.notifications
        ]
        add("rule", {"rule_id": rule.id, "name": rule.name, "notify": notify, "skipped": skipped})
        done = self._record(conn, ticket, made)
        if self._notices is not None and notify:
            self._notices.rule_in(conn, done, made[-1].seq, rule.id, rule.name, notify, now)
        return done, made

    def _auto_owner(self, conn: sqlite3.Connection, group_id: int, ticket: Ticket) -> int | None:
        """Pick a member of the group for a ticket: one whose skills name the ticket's
        type or a tag of it first, then one who is online, then the fewest working
        tickets (new, open, pending), then the longest-standing account."""
        members = [a for a in account_store.agents_with_scope(conn) if group_id in a.groups]
        if not members:
            return None
        wanted = {ticket.fields["type"], *ticket.fields["tags"]} - {""}
        load = store.working_load(conn, [a.id for a in members])
        best = min(
            members,
            key=lambda a: (not wanted & set(a.skills), a.status != "online", load[a.id], a.id),
        )
        return best.id

    def _queue_hooks(
        self,
        conn: sqlite3.Connection,
        ticket: Ticket,
        written: list[Event],
        extra: list[str],
        now: int,
    ) -> None:
        if self._webhooks is None:
            return
        names: list[str] = []
        for event in written:
            name = _HOOK_OF.get(event.kind)
            if name is not None and name not in names:
                names.append(name)
        for name in extra:
            if name not in names and name in WEBHOOK_EVENTS and name != "webhook.ping":
                names.append(name)
        if names:
            payload = {"ticket": ticket_payload(ticket)}
            for name in names:
                self._webhooks.enqueue_in(conn, name, payload, now)

    async def run_timed_rules(self, now: int | None = None) -> int:
        """Run the timed rules over every ticket not closed or merged, each rule seeing
        the ticket as the ones before it left it; their changes set off the triggers
        once. Return how many rules acted.

        The tickets are read in batches of TIMED_BATCH on the read side, so a pass that
        finds nothing to do never takes the writer. Only the tickets a rule matches go
        to the writer, again in batches, and each is checked again there (it may have
        changed since it was read): a chat message waits behind one batch at most."""
        if self._rules is None:
            return 0
        rules = self._rules
        at = self._now() if now is None else now

        Found = tuple[list[int], int | None]

        def candidates(after: int) -> Callable[[sqlite3.Connection], Found]:
            def read(conn: sqlite3.Connection) -> tuple[list[int], int | None]:
                timed = [r for r in rules.enabled_in(conn) if r.kind == Kind.TIMED]
                if not timed:
                    return [], None
                once = any(r.once_per_ticket for r in timed)
                tickets = store.unfinished(conn, after, TIMED_BATCH)
                found = [
                    t.id
                    for t in tickets
                    if run_timed(
                        timed, self._view(conn, t), at, rules.ran_in(conn, t.id) if once else ()
                    )
                ]
                following = tickets[-1].id if len(tickets) == TIMED_BATCH else None
                return found, following

            return read

        def act(ids: list[int]) -> Callable[[sqlite3.Connection], tuple[int, list[Ticket]]]:
            def job(conn: sqlite3.Connection) -> tuple[int, list[Ticket]]:
                timed = [r for r in rules.enabled_in(conn) if r.kind == Kind.TIMED]
                once = any(r.once_per_ticket for r in timed)
                acted, changed = 0, []
                for ticket_id in ids:
                    found = store.get(conn, ticket_id)
                    if found is None or found.state in FINAL:
                        continue
                    ticket = found
                    ran = rules.ran_in(conn, ticket.id) if once else frozenset()
                    made: list[Event] = []
                    for one in run_timed(timed, self._view(conn, ticket), at, ran):
                        if one.rule.once_per_ticket and not rules.record_run_in(
                            conn, one.rule.id, ticket.id, at
                        ):
                            continue
                        ticket, events = self._carry_out(conn, ticket, one, at)
                        made.extend(events)
                        acted += 1
                    if made:
                        changed.append(self._set_off(conn, ticket, made, at))
                return acted, changed

            return job

        total = 0
        after: int | None = 0
        while after is not None:
            found: list[int]
            found, after = await self._db.read(candidates(after))
            if found:
                acted: int
                acted, _ = await self._db.write(
                    act(found), on_commit=lambda result: self._announce(result[1])
                )
                total += acted
        return total

    async def run_sla(self, now: int | None = None) -> int:
        """Fire the SLA warnings, breaches and escalation levels that came due, each
        once: recorded on its ticket with the action it takes (notify, move to a group,
        raise the priority, notify the group's manager), in the transaction that marks
        it taken. Return how many fired."""
        if self._sla is None:
            return 0
        sla = self._sla
        at = self._now() if now is None else now

        def job(conn: sqlite3.Connection) -> tuple[int, list[Ticket]]:
            firings = sla.fire_due(conn, at)
            changed: dict[int, Ticket] = {}
            for firing in firings:
                ticket = changed.get(firing.ticket_id) or store.get(conn, firing.ticket_id)
                if ticket is None or ticket.state in FINAL:
                    continue
                changed[ticket.id] = self._fire(conn, ticket, firing, at)
            return len(firings), list(changed.values())

        total = 0
        while True:
            fired, _ = await self._db.write(job, on_commit=lambda r: self._announce(r[1]))
            total += fired
            if fired < FIRE_BATCH:  # fewer than a full batch: nothing more is due
                return total

    def _fire(self, conn: sqlite3.Connection, ticket: Ticket, firing: Firing, now: int) -> Ticket:
        """Record one SLA firing on its ticket and carry out its escalation action."""
        level = firing.level
        data: dict[str, Any] = {
            "metric": firing.metric,
            "change": firing.kind,
            "policy_id": firing.policy_id,
            "due_at": firing.due_at,
        }
        seq = ticket.last_seq
        entries: list[Event] = []
        changes: dict[str, Any] = {}
        if level is not None:
            data["action"] = level.action
            data["offset_minutes"] = level.offset
            if level.action == "reassign_group" and level.group_id is not None:
                if routing_store.group_exists(conn, level.group_id):
                    changes["group_id"] = level.group_id
                else:
                    data["skipped"] = f"group {level.group_id} no longer exists"
            elif level.action == "raise_priority":
                step = PRIORITIES.index(ticket.fields["priority"])
                if step + 1 < len(PRIORITIES):
                    changes["priority"] = PRIORITIES[step + 1]
            elif level.action in ("notify", "notify_manager"):
                data["notify"] = self._sla_recipients(conn, ticket, level.action)
        elif self._notices is not None:  # a warning or a breach tells the owner
            data["notify"] = self._sla_recipients(conn, ticket, "notify")
        entries.append(Event(ticket.id, seq + 1, now, By.SYSTEM, "sla", "sla", data))
        diff = {k: v for k, v in changes.items() if ticket.fields[k] != v}
        if diff:
            entries.append(Event(ticket.id, seq + 2, now, By.SYSTEM, "sla", "changed", diff))
        done = self._record(conn, ticket, entries)
        if self._notices is not None:
            self._notices.sla_in(conn, done, seq + 1, data, now)
        if self.mail is not None:  # mailed to those who asked (core/mail_notices.py)
            self.mail.queue_in(conn, done, entries, now)
        if self._webhooks is not None:
            hook = {"warning": "ticket.sla_warning", "breach": "ticket.sla_breached"}.get(
                firing.kind
            )
            payload = {"ticket": ticket_payload(done), "sla": data}
            if hook is not None:
                self._webhooks.enqueue_in(conn, hook, payload, now)
            if diff:
                self._webhooks.enqueue_in(conn, "ticket.updated", payload, now)
        return done

    def _sla_recipients(
        self, conn: sqlite3.Connection, ticket: Ticket, action: str
    ) -> dict[str, list[int]]:
        """Who an SLA notification goes to: the owner (or, unowned, the group); for
        notify_manager, the group's manager (else its lead)."""
        group = ticket.fields["group_id"]
        if action == "notify_manager":
            lead, manager = routing_store.line_of(conn, group) if group else (None, None)
            chosen = manager or lead
            return {"user_ids": [chosen] if chosen else [], "group_ids": []}
        owner = ticket.fields["owner_id"]
        if owner is not None:
            return {"user_ids": [owner], "group_ids": []}
        return {"user_ids": [], "group_ids": [group] if group else []}

    async def clocks(self, actor: Staff, ticket_id: int) -> list[tuple[Clock, int]]:
        """Every SLA clock of a ticket the user may see, with the business time each has
        used by now (ms)."""
        await self._db.read(lambda conn: self._load(conn, actor, ticket_id))
        if self._sla is None:
            return []
        now = self._now()
        policies = {p.id: p for p in await self._sla.policies()}
        return [
            (c, c.used_at(self._sla.calendar(policies.get(c.policy_id or 0)), now))
            for c in await self._sla.clocks(ticket_id)
        ]

    async def preview_rule(self, rule: Rule, now: int | None = None) -> list[Ticket]:
        """The tickets (not closed or merged) a rule's conditions match now, at most
        rules.PREVIEW_MAX of them: what a supervisor sees before saving it."""
        at = self._now() if now is None else now

        def read(conn: sqlite3.Connection) -> list[Ticket]:
            seen: dict[int, Ticket] = {}

            def views() -> Iterator[TicketView]:
                for ticket in store.unfinished(conn):
                    seen[ticket.id] = ticket
                    yield self._view(conn, ticket)

            return [seen[i] for i in preview(rule, views(), at)]

        return await self._db.read(read)

    def _requester(
        self, conn: sqlite3.Connection, requester: Requester | None, now: int
    ) -> int | None:
        if requester is None:
            return None
        if requester.customer_id is not None:
            if customer_store.get(conn, requester.customer_id) is None:
                raise InvalidInput("no such customer")
            return requester.customer_id
        name = validate.text(requester.name, "requester name", 64)
        email = phone = ""
        if requester.email:
            email = normal_email(requester.email) or ""
            if not email:
                raise InvalidInput("the requester's e-mail address is not valid")
        if requester.phone:
            phone = normal_phone(requester.phone) or ""
            if not phone:
                raise InvalidInput("the requester's phone number is not valid")
        if not (name or email or phone):
            return None
        found = customer_store.by_contact(conn, email, phone)
        if found is not None:
            return found.id
        return customer_store.create(conn, name, email, phone, now).id

    def _created(
        self,
        conn: sqlite3.Connection,
        actor: Staff | None,
        new: NewTicket,
        now: int,
        requester_id: int | None = None,
    ) -> tuple[int, list[Event]]:
        """The creation event of a new ticket (and a move to open when it has an owner)."""
        fields: dict[str, Any] = {
            "subject": new.subject,
            "description": new.description,
            "type": new.type,
            "priority": new.priority,
            "group_id": new.group_id,
            "tags": list(new.tags),
        }
        if new.template_id is not None:
            template = store.template(conn, new.template_id)
            if template is None:
                raise InvalidInput("no such template")
            defaults = {
                "subject": template.subject,
                "description": template.description,
                "type": template.type,
                "priority": template.priority,
                "group_id": template.group_id,
                "tags": list(template.tags),
            }
            # What the caller gave wins; a field left empty takes the template's.
            fields = {
                k: fields[k] if fields[k] not in ("", None, []) else v for k, v in defaults.items()
            }
        subject = validate.text(fields["subject"], "subject", SUBJECT_MAX, required=True)
        description = validate.text(fields["description"], "description", DESCRIPTION_MAX)
        priority = fields["priority"] or "normal"
        if priority not in PRIORITIES:
            raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}")
        if new.channel not in CHANNELS:
            raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}")
        if new.due_at is not None and not 0 < new.due_at <= validate.INT_MAX:
            raise InvalidInput("due_at must be a time")
        owner = self._check_owner(conn, actor, new.owner_id) if actor else new.owner_id
        if requester_id is None:
            requester_id = self._requester(conn, new.requester, now)
        ticket_id = store.new_id(conn)
        data = {
            "number": store.next_number(conn, _day(now)),
            "subject": subject,
            "description": description,
            "type": self._check_type(conn, fields["type"]),
            "priority": priority,
            "channel": new.channel,
            "requester_id": requester_id,
            "group_id": self._check_group(conn, fields["group_id"]),
            "owner_id": owner,
            "due_at": new.due_at,
            "tags": list(_tags(fields["tags"])),
            "followers": [],
        }
        entries = [self._event(ticket_id, 1, now, actor, "created", data)]
        if owner is not None:
            entries.append(
                Event(ticket_id, 2, now, By.SYSTEM, "", "state", {"to": State.OPEN.value})
            )
        return ticket_id, entries

    async def create(self, actor: Staff, new: NewTicket) -> Ticket:
        """Enter a ticket (a phone call, from a template or not; the API)."""
        now = self._now()

        def job(conn: sqlite3.Connection) -> Ticket:
            _, entries = self._created(conn, actor, new, now)
            return self._commit(conn, None, entries, now)

        ticket: Ticket = await self._write(job)
        return ticket

    async def from_chat(self, actor: Staff, conversation_id: str, new: NewTicket) -> Ticket:
        """Turn a chat into a ticket: the visitor's customer (created from the chat's
        name when unknown) is the requester, the transcript an internal note, the chat
        linked. Only a user who may see the chat (its agent, a guest, an overseer, or
        one whose queue it waits in) may."""
        now = self._now()

        def job(conn: sqlite3.Connection) -> Ticket:
            conv = conversation_store.get(conn, conversation_id)
            if conv is None or not conv.visible_to(actor.id, actor.queues):
                raise NotFound("no such conversation")
            known = visitor_store.known(conn, conv.visitor_id)
            requester_id = known.customer_id if known is not None else None
            if requester_id is None:
                if new.requester is not None:
                    requester_id = self._requester(conn, new.requester, now)
                else:
                    customer = customer_store.create(conn, conv.visitor_name, "", "", now)
                    requester_id = customer.id
                if requester_id is not None:
                    tier = "new"
                    found = customer_store.get(conn, requester_id)
                    if found is not None:
                        tier = found.tier
                    visitor_store.upsert(conn, conv.visitor_id, now, seen=False)
                    visitor_store.link(conn, conv.visitor_id, requester_id, tier)
            chat = replace(
                new,
                channel="chat",
                group_id=new.group_id if new.group_id is not None else conv.group_id,
                owner_id=new.owner_id if new.owner_id is not None else actor.id,
                requester=None,
            )
            ticket_id, entries = self._created(conn, actor, chat, now, requester_id)
            messages = conversation_store.messages_after(
                conn, conv.id, 0, _TRANSCRIPT_MESSAGES, staff=True
            )
            seq = len(entries)
            entries.append(
                self._event(ticket_id, seq + 1, now, actor, "linked", {"conversation_id": conv.id})
            )
            entries.append(
                self._event(
                    ticket_id,
                    seq + 2,
                    now,
                    actor,
                    "note",
                    {"body": transcript(messages), "transcript_of": conv.id},
                )
            )
            store_ticket = self._commit(conn, None, entries, now)
            store.link(conn, ticket_id, conv.id, now)
            return store_ticket

        ticket: Ticket = await self._write(job)
        return ticket

    async def leave(
        self,
        visitor: Visitor,
        left: Mapping[str, str],
        conversation_id: str | None = None,
        *,
        lang: str = "zh-CN",
    ) -> Ticket:
        """A visitor leaves a message or asks for a call back (fields as
        `workitems.validate` returns them): it becomes a ticket of that channel, in the
        group of the waiting chat it replaces (which must be the visitor's own, and
        ends), for the customer their contact names (found or created). The visitor
        follows it from the widget."""
        now = self._now()

        def job(conn: sqlite3.Connection) -> tuple[Ticket, Closed | None]:
            visitor_store.upsert(conn, visitor.id, now)
            group_id = None
            closed = None
            if conversation_id is not None:
                conv = conversation_store.get(conn, conversation_id)
                if conv is None or conv.visitor_id != visitor.id:
                    raise NotFound("no such conversation")
                group_id = self._still(conn, conv.group_id)
                if conv.status == "waiting" and self._chats is not None:
                    closed = self._chats.close_in(conn, conv.id, "overflow")
            requester_id = self._left_requester(conn, visitor.id, left, now)
            entries = self._left_entries(conn, visitor.id, left, group_id, requester_id, now, lang)
            ticket = self._commit(conn, None, entries, now)
            self._follow(conn, ticket.id, visitor.id, conversation_id, now)
            return ticket, closed

        def announce(result: tuple[Ticket, Closed | None]) -> None:
            if result[1] is not None and self._chats is not None:
                self._chats.announce_closed(result[1])
            self._announce([result[0]])

        ticket, _ = await self._db.write(job, on_commit=announce)
        return ticket

    def _left_entries(
        self,
        conn: sqlite3.Connection,
        visitor_id: str,
        left: Mapping[str, str],
        group_id: int | None,
        requester_id: int | None,
        at: int,
        lang: str,
    ) -> list[Event]:
        """The creation entries of a left request's ticket, worded in the box's language
        and made by the visitor."""
        words = wording(dict(left), lang)
        new = NewTicket(words.subject, words.description, channel=left["kind"], group_id=group_id)
        _, entries = self._created(conn, None, new, at, requester_id)
        who = f"visitor:{visitor_id}"
        return [replace(e, by=By.CUSTOMER, actor_id=who) for e in entries]

    @staticmethod
    def _follow(
        conn: sqlite3.Connection,
        ticket_id: int,
        visitor_id: str,
        conversation_id: str | None,
        at: int,
    ) -> None:
        """Let the visitor who left a ticket follow it, and link the chat it replaced."""
        store.left_by(conn, ticket_id, visitor_id)
        if conversation_id is not None:
            store.link(conn, ticket_id, conversation_id, at)

    @staticmethod
    def _still(conn: sqlite3.Connection, group_id: int | None) -> int | None:
        """The group, unless it was deleted since."""
        if group_id is None or not routing_store.group_exists(conn, group_id):
            return None
        return group_id

    def _left_requester(
        self, conn: sqlite3.Connection, visitor_id: str, left: Mapping[str, str], now: int
    ) -> int | None:
        """The customer a left request is for: the one the visitor is known as, else the
        one its contact names (found or created); the visitor is linked to it."""
        known = visitor_store.known(conn, visitor_id)
        if known is not None and known.customer_id is not None:
            return known.customer_id
        contact = left.get("contact", "")
        email = contact if "@" in contact else ""
        phone = "" if email else contact
        requester_id = self._requester(
            conn, Requester(None, left.get("name", ""), email, phone), now
        )
        if requester_id is not None:
            customer = customer_store.get(conn, requester_id)
            visitor_store.link(conn, visitor_id, requester_id, customer.tier if customer else "new")
        return requester_id

    async def carry_over(self, lang: str = "zh-CN") -> int:
        """Carry what visitors left before tickets existed (`work_items`) into tickets,
        in batches, oldest first; each keeps its time, and a closed one is resolved by
        who closed it and then closed. Idempotent: a carried item notes its ticket.
        Open ones set off triggers and webhooks as new tickets do; closed ones are
        history only. Returns how many were carried."""
        waiting = await self._db.read(work_store.count_uncarried)
        if not waiting:
            return 0
        _LOGGER.info("carrying %d left messages and call-back requests into tickets", waiting)
        done = 0
        while True:
            items = await self._db.read(lambda conn: work_store.uncarried(conn, CARRY_BATCH))
            if not items:
                break

            def job(conn: sqlite3.Connection, batch: list[WorkItem] = items) -> list[Ticket]:
                return [self._carry(conn, item, lang) for item in batch]

            carried: list[Ticket] = await self._db.write(job, on_commit=self._announce)
            done += len(carried)
            _LOGGER.info("carried %d of %d into tickets", done, waiting)
        return done

    def _carry(self, conn: sqlite3.Connection, item: WorkItem, lang: str) -> Ticket:
        left = {
            "kind": item.kind,
            "name": item.name,
            "contact": item.contact,
            "preferred_time": item.preferred_time,
            "body": item.body,
        }
        at = item.created_at
        try:
            requester_id = self._left_requester(conn, item.visitor_id, left, at)
        except InvalidInput:
            requester_id = None  # a contact stored before today's checks: kept in the text
        group_id = self._still(conn, item.group_id)
        entries = self._left_entries(conn, item.visitor_id, left, group_id, requester_id, at, lang)
        ticket_id = entries[0].ticket_id
        if item.status == "open":
            ticket = self._commit(conn, None, entries, self._now())
        else:
            end = item.closed_at or at
            closer = str(item.closed_by) if item.closed_by is not None else ""
            seq = len(entries)
            entries.append(
                Event(ticket_id, seq + 1, end, By.AGENT, closer, "state", {"to": "resolved"})
            )
            entries.append(
                Event(ticket_id, seq + 2, end, By.SYSTEM, "carry-over", "state", {"to": "closed"})
            )
            ticket = self._record(conn, None, entries)
        self._follow(conn, ticket_id, item.visitor_id, item.conversation_id, at)
        work_store.carried(conn, item.id, ticket_id)
        return ticket

    # -- changes --------------------------------------------------------------------

    async def change(self, actor: Staff, ticket_id: int, changes: Mapping[str, Any]) -> Ticket:
        """Change fields (subject, description, type, priority, group, owner, due date,
        tags, followers); one event with every field that really changed."""
        allowed = {
            "subject",
            "description",
            "type",
            "priority",
            "group_id",
            "owner_id",
            "due_at",
            "tags",
            "followers",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}")
        now = self._now()

        def job(conn: sqlite3.Connection) -> Ticket:
            ticket = self._load(conn, actor, ticket_id)
            entries = self._change_entries(conn, actor, ticket, changes, now)
            return self._commit(conn, ticket, entries, now) if entries else ticket

        ticket: Ticket = await self._write(job)
        return ticket

    def _change_entries(
        self,
        conn: sqlite3.Connection,
        actor: Staff,
        ticket: Ticket,
        changes: Mapping[str, Any],
        now: int,
    ) -> list[Event]:
        """The events of a field change (none when nothing really changes); a new
        ticket given an owner opens."""
        if ticket.state in FINAL:
            raise Conflict(f"a {ticket.state} ticket cannot change")
        values = self._checked(conn, actor, ticket, changes)
        diff = {k: v for k, v in values.items() if _stored(ticket.fields[k]) != v}
        if not diff:
            return []
        entries = [self._event(ticket.id, ticket.last_seq + 1, now, actor, "changed", diff)]
        if ticket.state == State.NEW and diff.get("owner_id") is not None:
            entries.append(
                Event(
                    ticket.id,
                    ticket.last_seq + 2,
                    now,
                    By.SYSTEM,
                    "",
                    "state",
                    {"to": State.OPEN.value},
                )
            )
        return entries

    async def bulk(
        self,
        actor: Staff,
        ticket_ids: Sequence[int],
        changes: Mapping[str, Any],
        *,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
        to: str | None = None,
    ) -> list[Ticket | ChatError]:
        """The same change on many tickets (the list's bulk actions): fields, tags
        added or taken away, then a move. Each ticket is its own transaction, checked
        by the same rules as one change, so one refusal (a closed ticket, one out of
        the user's view, a move ticketflow forbids) leaves the others done; the result
        is each ticket after the change, or the error that refused it, in order."""
        if len(ticket_ids) > BULK_MAX:
            raise InvalidInput(f"at most {BULK_MAX} tickets at a time")
        if len(set(ticket_ids)) != len(ticket_ids):
            raise InvalidInput("each ticket only once")
        if "tags" in changes and (add_tags or remove_tags):
            raise InvalidInput("set the tags, or add and remove some, not both")
        target = self._target(to) if to is not None else None
        if not changes and not add_tags and not remove_tags and target is None:
            raise InvalidInput("nothing to change")
        now = self._now()

        def job_for(ticket_id: int) -> Callable[[sqlite3.Connection], Ticket]:
            def job(conn: sqlite3.Connection) -> Ticket:
                ticket = self._load(conn, actor, ticket_id)
                wanted = dict(changes)
                if add_tags or remove_tags:
                    tags = [t for t in ticket.fields["tags"] if t not in remove_tags]
                    wanted["tags"] = tags + [t for t in add_tags if t not in tags]
                entries = self._change_entries(conn, actor, ticket, wanted, now) if wanted else []
                if target is not None:
                    opened = any(e.kind == "state" for e in entries)
                    state = State.OPEN if opened else ticket.state
                    if state != target:
                        check_move(state, target, By.AGENT)
                        seq = ticket.last_seq + len(entries) + 1
                        entries.append(
                            self._event(ticket.id, seq, now, actor, "state", {"to": target.value})
                        )
                return self._commit(conn, ticket, entries, now) if entries else ticket

            return job

        out: list[Ticket | ChatError] = []
        for ticket_id in ticket_ids:
            try:
                out.append(await self._write(job_for(ticket_id)))
            except ChatError as err:
                out.append(err)
        return out

    @staticmethod
    def _target(to: str) -> State:
        try:
            target = State(to)
        except ValueError:
            raise InvalidInput(
                f"state must be one of {', '.join(s.value for s in State)}"
            ) from None
        if target == State.MERGED:
            raise InvalidInput("merge a ticket into another one with the merge action")
        return target

    def _checked(
        self,
        conn: sqlite3.Connection,
        actor: Staff,
        ticket: Ticket,
        changes: Mapping[str, Any],
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "subject":
                out[name] = validate.text(value, "subject", SUBJECT_MAX, required=True)
            elif name == "description":
                out[name] = validate.text(value, "description", DESCRIPTION_MAX)
            elif name == "type":
                out[name] = self._check_type(conn, value)
            elif name == "priority":
                if value not in PRIORITIES:
                    raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}")
                out[name] = value
            elif name == "group_id":
                out[name] = self._check_group(conn, value)
            elif name == "owner_id":
                if value is not None and value == ticket.fields["owner_id"]:
                    out[name] = value
                else:
                    out[name] = self._check_owner(conn, actor, value)
            elif name == "due_at":
                if value is not None and not 0 < value <= validate.INT_MAX:
                    raise InvalidInput("due_at must be a time")
                out[name] = value
            elif name == "tags":
                out[name] = list(_tags(value))
            elif name == "followers":
                if len(value) > FOLLOWERS_MAX:
                    raise InvalidInput(f"a ticket has at most {FOLLOWERS_MAX} followers")
                ids = sorted(set(value))
                for user_id in ids:
                    if account_store.user(conn, user_id) is None:
                        raise InvalidInput("followers must be console users")
                out[name] = ids
        return out

    async def move(self, actor: Staff, ticket_id: int, to: str) -> Ticket:
        """Move a ticket to another state, as ticketflow's rules allow an agent."""
        target = self._target(to)
        now = self._now()

        def job(conn: sqlite3.Connection) -> Ticket:
            ticket = self._load(conn, actor, ticket_id)
            check_move(ticket.state, target, By.AGENT)
            entry = self._event(
                ticket.id, ticket.last_seq + 1, now, actor, "state", {"to": target.value}
            )
            return self._commit(conn, ticket, [entry], now)

        ticket: Ticket = await self._write(job)
        return ticket

    async def comment(self, actor: Staff, ticket_id: int, body: str, *, public: bool) -> Ticket:
        """Add a public reply (to the customer) or an internal note. A public reply to a
        new ticket opens it."""
        text = validate.text(body, "body", BODY_MAX, required=True)
        now = self._now()

        def job(conn: sqlite3.Connection) -> Ticket:
            ticket = self._load(conn, actor, ticket_id)
            if ticket.state in FINAL:
                raise Conflict(f"a {ticket.state} ticket takes no more replies")
            seq = ticket.last_seq
            entries = []
            if public and ticket.state == State.NEW:
                seq += 1
                entries.append(self._event(ticket.id, seq, now, actor, "state", {"to": "open"}))
            kind = "reply" if public else "note"
            entries.append(self._event(ticket.id, seq + 1, now, actor, kind, {"body": text}))
            return self._commit(conn, ticket, entries, now)

        ticket: Ticket = await self._write(job)
        return ticket

    async def merge(self, actor: Staff, ticket_id: int, into_id: int) -> Ticket:
        """Merge a ticket into another of the same requester; the other one notes it and
        takes its linked chats."""
        if ticket_id == into_id:
            raise InvalidInput("a ticket cannot be merged into itself")
        now = self._now()

        def job(conn: sqlite3.Connection) -> Ticket:
            ticket = self._load(conn, actor, ticket_id)
            target = self._load(conn, actor, into_id)
            if target.state in FINAL:
                raise Conflict(f"cannot merge into a {target.state} ticket")
            if ticket.fields["requester_id"] != target.fields["requester_id"]:
                raise Conflict("only tickets of the same requester are merged")
            merged = self._commit(
                conn,
                ticket,
                [
                    self._event(
                        ticket.id, ticket.last_seq + 1, now, actor, "merged", {"into": target.id}
                    )
                ],
                now,
            )
            self._commit(
                conn,
                target,
                [
                    self._event(
                        target.id,
                        target.last_seq + 1,
                        now,
                        actor,
                        "note",
                        {
                            "body": f"#{ticket.fields['number']} merged into this ticket",
                            "merged_from": ticket.id,
                            "merged_from_number": ticket.fields["number"],
                        },
                    )
                ],
                now,
            )
            for conv_id in store.conversations_of(conn, ticket.id):
                store.link(conn, target.id, conv_id, now)
            return merged

        ticket: Ticket = await self._write(job)
        return ticket

    # -- escalation -------------------------------------------------------------------

    async def escalate(
        self,
        actor: Staff,
        ticket_id: int,
        level: str,
        *,
        vendor: str = "",
        note: str = "",
    ) -> Ticket:
        """Escalate a ticket up its group's line: to an expert of the group (the one with
        the fewest working tickets), to the group's lead, to its manager; or to an
        external vendor, named with their contact on the ticket (the owner keeps it).
        A note says why, kept with the ticket."""
        if level not in ESCALATION:
            raise InvalidInput(f"level must be one of {', '.join(ESCALATION)}")
        vendor_text = validate.text(vendor, "vendor", 200, required=level == "vendor")
        why = validate.text(note, "note", BODY_MAX)
        now = self._now()

        def job(conn: sqlite3.Connection) -> Ticket:
            ticket = self._load(conn, actor, ticket_id)
            if ticket.state in FINAL:
                raise Conflict(f"a {ticket.state} ticket cannot be escalated")
            changes: dict[str, Any] = {"escalation": level}
            if level == "vendor":
                changes["vendor"] = vendor_text
            else:
                group = ticket.fields["group_id"]
                if group is None:
                    raise Conflict("set the ticket's group first: escalation follows its line")
                owner = self._next_in_line(conn, group, level, ticket.fields["owner_id"])
                changes["owner_id"] = owner
            diff = {k: v for k, v in changes.items() if ticket.fields[k] != v}
            if not diff:
                raise Conflict(f"the ticket is already escalated to {level}")
            seq = ticket.last_seq
            entries = [self._event(ticket.id, seq + 1, now, actor, "changed", diff)]
            if ticket.state == State.NEW and "owner_id" in diff:
                entries.append(
                    Event(ticket.id, seq + 2, now, By.SYSTEM, "", "state", {"to": "open"})
                )
            if why:
                entries.append(
                    self._event(
                        ticket.id, seq + len(entries) + 1, now, actor, "note", {"body": why}
                    )
                )
            return self._commit(conn, ticket, entries, now)

        ticket: Ticket = await self._write(job)
        return ticket

    def _next_in_line(
        self, conn: sqlite3.Connection, group_id: int, level: str, owner: int | None
    ) -> int:
        if level == "expert":
            experts = [u for u in routing_store.experts_of(conn, group_id) if u != owner]
            if not experts:
                raise Conflict("the group has no other expert")
            load = store.working_load(conn, experts)
            return min(experts, key=lambda u: (load[u], u))
        lead, manager = routing_store.line_of(conn, group_id)
        chosen = lead if level == "lead" else manager
        if chosen is None:
            raise Conflict(f"the group has no {level}: a supervisor sets it on the group")
        user = account_store.user(conn, chosen)
        if user is None or user.disabled:
            raise Conflict(f"the group's {level} is not an active user")
        return chosen

    # -- e-mail in (core/mail_in.py): inside the importer's own transaction ----------

    def visible(self, conn: sqlite3.Connection, actor: Staff, ticket_id: int) -> Ticket:
        """Return a ticket the user may see, in the caller's read (else NotFound)."""
        return self._load(conn, actor, ticket_id)

    async def write_mail(self, job: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run an import job that may write a ticket; announce the tickets it returns
        (alone or in a tuple) once committed."""

        def announce(result: Any) -> None:
            found = result if isinstance(result, tuple) else (result,)
            self._announce([t for t in found if isinstance(t, Ticket)])

        return await self._db.write(job, on_commit=announce)

    def open_from_mail(
        self, conn: sqlite3.Connection, new: NewTicket, requester_id: int, now: int
    ) -> Ticket:
        """Open a ticket for a customer's e-mail, in the caller's transaction."""
        _, entries = self._created(conn, None, new, now, requester_id)
        return self._commit(conn, None, entries, now)

    def add_mail(
        self,
        conn: sqlite3.Connection,
        ticket: Ticket,
        body: str,
        now: int,
        *,
        sender: str,
        from_requester: bool,
        data: Mapping[str, Any],
    ) -> Ticket:
        """Add an e-mail to its ticket in the caller's transaction: the requester's is a
        reply (reopening a ticket that waited on them or was resolved); anyone else's
        an internal note, so nothing of the ticket reaches a stranger."""
        text = validate.text(body, "body", BODY_MAX) or "(no text)"
        entries = []
        seq = ticket.last_seq
        who = f"email:{sender}"
        if not from_requester:
            entry = Event(ticket.id, seq + 1, now, By.SYSTEM, who, "note", {"body": text, **data})
            return self._commit(conn, ticket, [entry], now)
        if ticket.state in (State.PENDING, State.RESOLVED):
            seq += 1
            entries.append(Event(ticket.id, seq, now, By.CUSTOMER, who, "state", {"to": "open"}))
        entries.append(
            Event(ticket.id, seq + 1, now, By.CUSTOMER, who, "reply", {"body": text, **data})
        )
        return self._commit(conn, ticket, entries, now)

    # -- the customer's side: follow, reply, confirm, rate -----------------------------

    async def of_visitor(self, visitor: Follower) -> list[Ticket]:
        """The tickets a visitor may follow (their chats' tickets, and their proven
        customer's), or those of a customer signed in to the portal."""
        return await self._db.read(lambda conn: _followed(conn, visitor))

    def _visitors(self, conn: sqlite3.Connection, visitor: Follower, ticket_id: int) -> Ticket:
        for ticket in _followed(conn, visitor):
            if ticket.id == ticket_id:
                return ticket
        raise NotFound("no such ticket")

    async def for_visitor(self, visitor: Follower, ticket_id: int) -> tuple[Ticket, list[Event]]:
        """One of the visitor's tickets with its public thread (no notes, no history)."""

        def read(conn: sqlite3.Connection) -> tuple[Ticket, list[Event]]:
            ticket = self._visitors(conn, visitor, ticket_id)
            thread = [e for e in store.events(conn, ticket.id) if e.kind in PUBLIC_KINDS]
            return ticket, thread

        return await self._db.read(read)

    async def customer_reply(
        self,
        visitor: Follower,
        ticket_id: int,
        body: str,
        files: Sequence[Mapping[str, Any]] = (),
    ) -> Ticket:
        """The customer writes on their ticket: it reopens when it waited on them or was
        resolved. A closed ticket takes no more (409): a new request is a new ticket.
        `files`: what they attached (core/files.py's checks already passed), kept with
        the reply."""
        text = validate.text(body, "body", BODY_MAX, required=not files)
        now = self._now()
        data: dict[str, Any] = {"body": text}
        if files:
            data["files"] = [dict(f) for f in files]

        def job(conn: sqlite3.Connection) -> Ticket:
            ticket = self._visitors(conn, visitor, ticket_id)
            if ticket.state in FINAL:
                raise Conflict(f"a {ticket.state} ticket takes no more replies")
            who = _follower_id(visitor)
            entries = []
            seq = ticket.last_seq
            if ticket.state in (State.PENDING, State.RESOLVED):
                seq += 1
                entries.append(
                    Event(ticket.id, seq, now, By.CUSTOMER, who, "state", {"to": "open"})
                )
            entries.append(Event(ticket.id, seq + 1, now, By.CUSTOMER, who, "reply", data))
            return self._commit(conn, ticket, entries, now)

        ticket: Ticket = await self._write(job)
        return ticket

    async def confirm(self, visitor: Follower, ticket_id: int) -> Ticket:
        """The customer confirms a resolution: the ticket closes."""
        now = self._now()

        def job(conn: sqlite3.Connection) -> Ticket:
            ticket = self._visitors(conn, visitor, ticket_id)
            if ticket.state != State.RESOLVED:
                raise Conflict("only a resolved ticket is confirmed")
            entry = Event(
                ticket.id,
                ticket.last_seq + 1,
                now,
                By.CUSTOMER,
                _follower_id(visitor),
                "state",
                {"to": "closed"},
            )
            return self._commit(conn, ticket, [entry], now)

        ticket: Ticket = await self._write(job)
        return ticket

    async def rate(self, visitor: Follower, ticket_id: int, score: int, comment: str) -> Ticket:
        """The satisfaction follow-up: 1 to 5 and a comment, once, on a resolved or
        closed ticket."""
        if isinstance(score, bool) or not 1 <= score <= 5:
            raise InvalidInput("score must be a whole number from 1 to 5")
        text = validate.text(comment, "comment", 1000)
        now = self._now()

        def job(conn: sqlite3.Connection) -> Ticket:
            ticket = self._visitors(conn, visitor, ticket_id)
            if ticket.state not in (State.RESOLVED, State.CLOSED):
                raise Conflict("a ticket is rated once it is resolved")
            if store.has_entry(conn, ticket.id, "rating"):
                raise Conflict("this ticket has been rated")
            entry = Event(
                ticket.id,
                ticket.last_seq + 1,
                now,
                By.CUSTOMER,
                _follower_id(visitor),
                "rating",
                {"score": score, "comment": text},
            )
            return self._commit(conn, ticket, [entry], now)

        ticket: Ticket = await self._write(job)
        return ticket

    async def rate_by_mail(self, ticket_id: int, score: int, comment: str) -> Ticket:
        """The satisfaction follow-up by a mailed link (its signature checked by the
        caller): 1 to 5 and a comment, once, on a resolved or closed ticket."""
        if isinstance(score, bool) or not 1 <= score <= 5:
            raise InvalidInput("score must be a whole number from 1 to 5")
        text = validate.text(comment, "comment", 1000)
        now = self._now()

        def job(conn: sqlite3.Connection) -> Ticket:
            ticket = store.get(conn, ticket_id)
            if ticket is None:
                raise NotFound("no such ticket")
            if ticket.state not in (State.RESOLVED, State.CLOSED):
                raise Conflict("a ticket is rated once it is resolved")
            if store.has_entry(conn, ticket.id, "rating"):
                raise Conflict("this ticket has been rated")
            requester = customer_store.get(conn, ticket.fields["requester_id"] or 0)
            who = f"email:{requester.email}" if requester is not None else "email:"
            data = {"score": score, "comment": text, "via": "mail"}
            entry = Event(ticket.id, ticket.last_seq + 1, now, By.CUSTOMER, who, "rating", data)
            return self._commit(conn, ticket, [entry], now)

        ticket: Ticket = await self._write(job)
        return ticket

    async def auto_close(self, days: int, now: int | None = None) -> list[Ticket]:
        """Close, for the customer, what stayed resolved for `days` days unanswered."""
        at = self._now() if now is None else now

        def job(conn: sqlite3.Connection) -> list[Ticket]:
            closed = []
            for ticket in store.resolved_before(conn, at - days * _DAY):
                entry = Event(
                    ticket.id,
                    ticket.last_seq + 1,
                    at,
                    By.SYSTEM,
                    "auto-confirm",
                    "state",
                    {"to": "closed"},
                )
                closed.append(self._commit(conn, ticket, [entry], at))
            return closed

        return await self._db.write(job, on_commit=self._announce)

    # -- the work log (工时物料费用) ---------------------------------------------------

    async def log_work(
        self,
        actor: Staff,
        ticket_id: int,
        *,
        minutes: int,
        materials: str = "",
        cost_cents: int = 0,
        note: str = "",
    ) -> WorkEntry:
        """Log time spent, materials used and their cost on a ticket (a correction is
        another entry, with negative amounts); recorded in the history too."""
        if not -WORK_MINUTES_MAX <= minutes <= WORK_MINUTES_MAX:
            raise InvalidInput(
                f"minutes must be between -{WORK_MINUTES_MAX} and {WORK_MINUTES_MAX}"
            )
        if not -WORK_COST_MAX <= cost_cents <= WORK_COST_MAX:
            raise InvalidInput("cost is out of range")
        values = {
            "minutes": minutes,
            "materials": validate.text(materials, "materials", 500),
            "cost_cents": cost_cents,
            "note": validate.text(note, "note", 1000),
        }
        if not (minutes or values["materials"] or cost_cents):
            raise InvalidInput("log some time, materials or cost")
        now = self._now()

        def job(conn: sqlite3.Connection) -> tuple[Ticket, WorkEntry]:
            ticket = self._load(conn, actor, ticket_id)
            seq = ticket.last_seq + 1
            entry = self._event(ticket.id, seq, now, actor, "work", values)
            done = self._commit(conn, ticket, [entry], now)
            return done, store.add_work(conn, ticket.id, seq, actor.id, values, now)

        _, logged = await self._db.write(job, on_commit=lambda r: self._announce([r[0]]))
        return logged

    async def work(self, actor: Staff, ticket_id: int) -> tuple[list[WorkEntry], WorkTotals]:
        """A ticket's work log and its sums."""

        def read(conn: sqlite3.Connection) -> tuple[list[WorkEntry], WorkTotals]:
            ticket = self._load(conn, actor, ticket_id)
            return store.work_of(conn, ticket.id), store.work_totals(conn, ticket_id=ticket.id)

        return await self._db.read(read)

    async def work_of_customer(self, customer_id: int) -> WorkTotals:
        """The sums of the work logged on all of a customer's tickets."""

        def read(conn: sqlite3.Connection) -> WorkTotals:
            if customer_store.get(conn, customer_id) is None:
                raise NotFound("no such customer")
            return store.work_totals(conn, requester_id=customer_id)

        return await self._db.read(read)

    # -- reading --------------------------------------------------------------------

    async def detail(self, actor: Staff, ticket_id: int) -> TicketDetail:
        """A ticket with its whole history, as the ticket page shows it."""

        def read(conn: sqlite3.Connection) -> TicketDetail:
            ticket = self._load(conn, actor, ticket_id)
            requester_id = ticket.fields["requester_id"]
            events = store.events(conn, ticket.id)
            return TicketDetail(
                ticket=ticket,
                events=events,
                conversations=store.conversations_of(conn, ticket.id),
                requester=customer_store.get(conn, requester_id) if requester_id else None,
                moves=moves(ticket.state, By.AGENT),
                people=account_store.display_names(conn, sorted(_people(ticket, events))),
            )

        return await self._db.read(read)

    async def history(self, ticket_id: int) -> list[Event]:
        """A ticket's events (for rebuilding and checks; no scope)."""
        return await self._db.read(lambda conn: store.events(conn, ticket_id))

    async def listing(
        self,
        actor: Staff,
        view: str = "open",
        *,
        priority: str | None = None,
        type: str | None = None,
        q: str = "",
        requester_id: int | None = None,
        channel: str | None = None,
        order: str = "updated_at DESC",
        limit: int = 50,
        offset: int = 0,
    ) -> TicketListing:
        """A page of a saved view, filtered and sorted, within what the user may see.
        "left" is what visitors left in the widget (the old work items), "breaching"
        the tickets with a running SLA deadline within the hour or past it, nearest
        first unless another order is asked for."""
        if view not in VIEWS:
            raise InvalidInput(f"view must be one of {', '.join(VIEWS)}")
        if order not in store.ORDERS:
            raise InvalidInput(f"sort must be one of {', '.join(store.ORDERS)}")
        if priority is not None and priority not in PRIORITIES:
            raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}")
        if channel is not None and channel not in CHANNELS:
            raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}")
        text = validate.text(q, "q", 100)
        limit = max(1, min(limit, PAGE_MAX))
        offset = max(0, min(offset, validate.INT_MAX))
        states: Sequence[str] | None = WORKING
        owner_id = None
        unassigned = False
        every = actor.overseer or actor.dispatcher
        groups: Sequence[int] | None = None if every else sorted(actor.groups)
        if view == "mine":
            owner_id = actor.id
        elif view == "my_groups":
            groups = sorted(actor.groups)
        elif view == "unassigned":
            unassigned = True
        elif view == "pending":
            states = (State.PENDING.value,)
        elif view == "all":
            states = None
        channels: Sequence[str] | None = (channel,) if channel is not None else None
        due_before = None
        if view == "left":
            channels = [c for c in LEFT_CHANNELS if channels is None or c in channels]
        elif view == "breaching":
            due_before = self._now() + BREACHING_SOON
            if order == "updated_at DESC":
                order = "sla_due ASC"
        query = store.Query(
            states=states,
            owner_id=owner_id,
            unassigned=unassigned,
            group_ids=groups,
            or_owner=None if every or view == "my_groups" else actor.id,
            no_group=not every and view != "my_groups",
            requester_id=requester_id,
            priority=priority,
            type=type,
            channels=channels,
            due_before=due_before,
            text=text,
            order=order,
            limit=limit,
            offset=offset,
        )

        def read(conn: sqlite3.Connection) -> TicketListing:
            total, tickets = store.search(conn, query)
            ids = sorted({t.fields["requester_id"] for t in tickets} - {None})
            return TicketListing(total, tickets, customer_store.briefs(conn, ids))

        return await self._db.read(read)

    # -- types and templates ----------------------------------------------------------

    async def types(self) -> list[TicketType]:
        """The ticket types, active and retired."""
        return await self._db.read(store.types)

    async def set_types(self, names: Sequence[str]) -> list[TicketType]:
        """Make these the active ticket types, in this order."""
        if not 1 <= len(names) <= TYPES_MAX:
            raise InvalidInput(f"give 1 to {TYPES_MAX} ticket types")
        clean = [validate.text(n, "type", TYPE_MAX, required=True) for n in names]
        if len(set(clean)) != len(clean):
            raise InvalidInput("ticket types must differ")

        def job(conn: sqlite3.Connection) -> list[TicketType]:
            store.replace_types(conn, clean)
            return store.types(conn)

        return await self._db.write(job)

    async def templates(self) -> list[Template]:
        """The ticket templates (开单模版)."""
        return await self._db.read(store.templates)

    async def save_template(self, template_id: int | None, values: Mapping[str, Any]) -> Template:
        """Create or replace a template; fields as a new ticket's."""
        now = self._now()
        name = validate.text(values.get("name"), "name", 64, required=True)
        priority = values.get("priority") or "normal"
        if priority not in PRIORITIES:
            raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}")
        clean = {
            "name": name,
            "subject": validate.text(values.get("subject"), "subject", SUBJECT_MAX),
            "description": validate.text(values.get("description"), "description", DESCRIPTION_MAX),
            "priority": priority,
            "tags": _tags(values.get("tags") or ()),
        }

        def job(conn: sqlite3.Connection) -> Template:
            other = store.template_named(conn, name)
            if other is not None and other != template_id:
                raise Conflict("another template has this name")
            saved = store.save_template(
                conn,
                template_id,
                {
                    **clean,
                    "type": self._check_type(conn, values.get("type") or ""),
                    "group_id": self._check_group(conn, values.get("group_id")),
                },
                now,
            )
            if saved is None:
                raise NotFound("no such template")
            return saved

        return await self._db.write(job)

    async def delete_template(self, template_id: int) -> None:
        """Remove a template."""

        def job(conn: sqlite3.Connection) -> None:
            if store.template_in_use(conn, template_id):
                raise Conflict("a recurring schedule opens tickets from this template")
            if not store.delete_template(conn, template_id):
                raise NotFound("no such template")

        await self._db.write(job)

    # -- recurring schedules (定期巡检) ------------------------------------------------

    async def schedules(self) -> list[Planned]:
        """Every recurring schedule, with its next run."""
        now = self._now()
        rows = await self._db.read(store.schedules)
        return [_planned(row, now) for row in rows]

    async def save_schedule(self, schedule_id: int | None, values: Mapping[str, Any]) -> Planned:
        """Create or change a schedule: a name, a recurrence rule (RFC 5545, read in the
        box's zone), the template its tickets start from, when it starts, and whether it
        runs. Occurrences before it was saved are not served."""
        now = self._now()
        name = validate.text(values.get("name"), "name", 64, required=True)
        # Without a start, from this minute: an RRULE takes its seconds from the start,
        # and "09:00" must run at 09:00:00, not at the second the schedule was saved.
        starts_at = values.get("starts_at") or now - now % _MINUTE
        if not isinstance(starts_at, int) or not 0 < starts_at <= validate.INT_MAX:
            raise InvalidInput("starts_at must be a time")
        rule = recurrence.parse(values.get("rule"), starts_at, _ZONE)
        template_id = values.get("template_id")
        clean = {
            "name": name,
            "rule": rule.rule,
            "template_id": template_id,
            "starts_at": starts_at,
            "enabled": bool(values.get("enabled", True)),
            # What already passed is not owed: the first run is the next occurrence.
            "last_run_at": max(now, starts_at - 1),
        }

        def job(conn: sqlite3.Connection) -> Planned:
            if not isinstance(template_id, int) or store.template(conn, template_id) is None:
                raise InvalidInput("template_id must name a ticket template")
            other = store.schedule_named(conn, name)
            if other is not None and other != schedule_id:
                raise Conflict("another schedule has this name")
            saved = store.save_schedule(conn, schedule_id, clean, now)
            if saved is None:
                raise NotFound("no such schedule")
            return _planned(saved, now)

        return await self._db.write(job)

    def upcoming_runs(self, rule: object, starts_at: int | None, count: int) -> list[int]:
        """The next `count` runs a rule would make if saved now, read as save_schedule
        reads it (so a supervisor sees them before saving); InvalidInput as it would."""
        now = self._now()
        start = starts_at or now - now % _MINUTE
        if not isinstance(start, int) or not 0 < start <= validate.INT_MAX:
            raise InvalidInput("starts_at must be a time")
        schedule = recurrence.parse(rule, start, _ZONE)
        return schedule.upcoming(max(now, start - 1), count)

    async def delete_schedule(self, schedule_id: int) -> None:
        """Remove a schedule; the tickets it opened stay."""

        def job(conn: sqlite3.Connection) -> None:
            if not store.delete_schedule(conn, schedule_id):
                raise NotFound("no such schedule")

        await self._db.write(job)

    async def run_schedules(self, now: int | None = None) -> list[Ticket]:
        """Open a ticket for each schedule that came due since its last run: once per
        schedule, however many occurrences passed while the box was down. The ticket and
        the record of the run commit together."""
        at = self._now() if now is None else now

        def job(conn: sqlite3.Connection) -> list[Ticket]:
            opened = []
            for row in store.schedules(conn, enabled_only=True):
                due = recurrence.Schedule(row.rule, row.starts_at, _ZONE).due(row.last_run_at, at)
                if due is None:
                    continue
                template = store.template(conn, row.template_id)
                assert template is not None  # a template in use cannot be deleted
                new = NewTicket(
                    subject=template.subject or row.name,
                    channel="schedule",
                    template_id=row.template_id,
                )
                ticket_id, entries = self._created(conn, None, new, at)
                ticket = self._commit(conn, None, entries, at)
                store.schedule_ran(conn, row.id, due, ticket_id)
                opened.append(ticket)
            return opened

        return await self._db.write(job, on_commit=self._announce)


@dataclass(frozen=True, slots=True)
class Planned:
    """A recurring schedule and when it runs next (None: its rule has ended)."""

    schedule: ScheduleRow
    next_run_at: int | None


def _planned(row: ScheduleRow, now: int) -> Planned:
    schedule = recurrence.Schedule(row.rule, row.starts_at, _ZONE)
    after = max(now, row.last_run_at or 0)
    return Planned(row, schedule.next_after(after) if row.enabled else None)


# The webhook event each kind of history entry makes (once per change).
_HOOK_OF = {
    "created": "ticket.created",
    "changed": "ticket.updated",
    "note": "ticket.updated",
    "merged": "ticket.updated",
    "state": "ticket.state_changed",
    "reply": "ticket.replied",
}


def ticket_payload(ticket: Ticket) -> dict[str, Any]:
    """A ticket as webhooks carry it: its fields, with times as ISO 8601 in the box's
    zone (as the API's)."""
    f = ticket.fields
    return {
        "id": ticket.id,
        "number": f["number"],
        "state": ticket.state.value,
        "subject": f["subject"],
        "type": f["type"],
        "priority": f["priority"],
        "channel": f["channel"],
        "requester_id": f["requester_id"],
        "group_id": f["group_id"],
        "owner_id": f["owner_id"],
        "due_at": local_iso(f["due_at"]),
        "tags": list(f["tags"]),
        "created_at": local_iso(ticket.created_at),
        "updated_at": local_iso(ticket.updated_at),
        "resolved_at": local_iso(ticket.resolved_at),
    }


def _stored(value: Any) -> Any:
    """A field's value as a change compares it (tuples as lists)."""
    return list(value) if isinstance(value, tuple) else value


def transcript(messages: Sequence[Any]) -> str:
    """A chat as text for the ticket: one line per message, local time and sender."""
    lines = []
    for message in messages:
        stamp = datetime.fromtimestamp(message.created_at / 1000, tz=UTC).astimezone()
        who = message.sender_name or message.sender_type
        body = message.body if not message.event else f"[{message.event}] {message.body}"
        lines.append(f"{stamp:%Y-%m-%d %H:%M:%S} {who}: {body}".rstrip())
    text = "\n".join(lines)
    return text[:BODY_MAX]


async def run_recurring(tickets: Tickets, confirm_days: int, every: float = 60.0) -> None:
    """Serve due recurring schedules, run the timed rules and the SLA pass, and close
    what stayed resolved `confirm_days` days, at start and every `every` seconds."""
    while True:
        try:
            await tickets.run_schedules()
            await tickets.run_timed_rules()
            await tickets.run_sla()
            await tickets.auto_close(confirm_days)
        except StorageFull:
            pass  # the store logs a full disk itself; the next minute tries again
        except (sqlite3.Error, ChatError):
            _LOGGER.exception("recurring schedules failed; they run again in a minute")
        await asyncio.sleep(every)
