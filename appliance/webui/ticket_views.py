"""The service desk over HTTP: tickets, their history, types and templates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from aiohttp import web

from appliance.core.actors import Staff
from appliance.core.errors import ChatError, InvalidInput
from appliance.core.tickets import NewTicket, Requester
from appliance.webui.console_views import staff
from appliance.webui.contract import Contract, Operation, read_body, read_query, reply
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.wire import tickets as wire
from appliance.webui.wire import wire_time
from appliance.webui.wire.team import Deleted

_TAG = "tickets"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OVERSEERS = "Supervisors and admins only."
_RUNS_SHOWN = 5  # runs a schedule's preview lists


def _ms(text: str | None, name: str) -> int | None:
    """A wire time (ISO 8601; without an offset, the box's zone) as UTC ms; 422 if off."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.astimezone()
        ms = (moment - _EPOCH) // timedelta(milliseconds=1)
    except (ValueError, OverflowError, OSError) as err:
        raise InvalidInput(f"{name} must be an ISO 8601 time") from err
    if ms <= 0:
        raise InvalidInput(f"{name} must be after 1970")
    return ms


async def _actor(request: web.Request) -> Staff:
    return await staff(request, current_session(request))


def _requester(r: wire.RequesterInput | None) -> Requester | None:
    if r is None:
        return None
    return Requester(r.customer_id, r.name, r.email, r.phone)


def _new_ticket(
    body: wire.TicketInput | wire.FromChatInput, channel: str, requester: Requester | None
) -> NewTicket:
    return NewTicket(
        subject=body.subject,
        description=body.description,
        type=body.type,
        priority=body.priority,
        channel=channel,
        group_id=body.group_id,
        owner_id=body.owner_id,
        due_at=_ms(body.due_at, "due_at"),
        tags=body.tags,
        requester=requester,
        template_id=body.template_id,
    )


async def create_ticket(request: web.Request) -> web.Response:
    """Enter a ticket (a phone call, from a template or not; the API)."""
    body = await read_body(request, wire.TicketInput)
    new = _new_ticket(body, body.channel, _requester(body.requester))
    ticket = await request.app[BOX].tickets.create(await _actor(request), new)
    return reply(wire.OneTicket(wire.ticket_out(ticket)), 201)


async def ticket_from_chat(request: web.Request) -> web.Response:
    """Turn a chat into a ticket."""
    body = await read_body(request, wire.FromChatInput)
    new = _new_ticket(body, "chat", None)
    ticket = await request.app[BOX].tickets.from_chat(
        await _actor(request), body.conversation_id, new
    )
    return reply(wire.OneTicket(wire.ticket_out(ticket)), 201)


async def list_tickets(request: web.Request) -> web.Response:
    """One page of a saved view of the ticket list."""
    query = read_query(request, wire.TicketsQuery)
    listing = await request.app[BOX].tickets.listing(
        await _actor(request),
        query.view,
        priority=query.priority,
        type=query.type,
        q=query.q,
        requester_id=query.requester_id,
        channel=query.channel,
        order=query.sort,
        limit=query.limit,
        offset=query.offset,
    )
    requesters = [wire.RequesterBrief(c.id, c.name, c.tier, c.verified) for c in listing.requesters]
    return reply(
        wire.Tickets(
            listing.total,
            query.offset,
            query.limit,
            [wire.ticket_out(t) for t in listing.tickets],
            requesters,
        )
    )


async def show_ticket(request: web.Request) -> web.Response:
    """A ticket with its history."""
    detail = await request.app[BOX].tickets.detail(
        await _actor(request), int_path(request, "ticket_id")
    )
    return reply(wire.detail_out(detail))


async def change_ticket(request: web.Request) -> web.Response:
    """Change a ticket's fields."""
    body = await read_body(request, wire.TicketChange)
    changes: dict[str, Any] = {
        k: v for k, v in msgspec.structs.asdict(body).items() if v is not msgspec.UNSET
    }
    if "due_at" in changes:
        changes["due_at"] = _ms(changes["due_at"], "due_at")
    ticket = await request.app[BOX].tickets.change(
        await _actor(request), int_path(request, "ticket_id"), changes
    )
    return reply(wire.OneTicket(wire.ticket_out(ticket)))


async def bulk_tickets(request: web.Request) -> web.Response:
    """The same change on many tickets; each is done or refused on its own."""
    body = await read_body(request, wire.BulkInput)
    changes: dict[str, Any] = {
        k: v for k, v in msgspec.structs.asdict(body.change).items() if v is not msgspec.UNSET
    }
    if "due_at" in changes:
        changes["due_at"] = _ms(changes["due_at"], "due_at")
    outcomes = await request.app[BOX].tickets.bulk(
        await _actor(request),
        body.ids,
        changes,
        add_tags=body.add_tags,
        remove_tags=body.remove_tags,
        to=body.to,
    )
    results = [
        wire.BulkResult(ticket_id, False, code=o.code, message=o.message)
        if isinstance(o, ChatError)
        else wire.BulkResult(ticket_id, True, ticket=wire.ticket_out(o))
        for ticket_id, o in zip(body.ids, outcomes, strict=True)
    ]
    return reply(wire.BulkResults(sum(r.ok for r in results), results))


async def move_ticket(request: web.Request) -> web.Response:
    """Move a ticket to another state."""
    body = await read_body(request, wire.MoveInput)
    ticket = await request.app[BOX].tickets.move(
        await _actor(request), int_path(request, "ticket_id"), body.to
    )
    return reply(wire.OneTicket(wire.ticket_out(ticket)))


async def comment_ticket(request: web.Request) -> web.Response:
    """Add a public reply or an internal note."""
    body = await read_body(request, wire.CommentInput)
    ticket = await request.app[BOX].tickets.comment(
        await _actor(request), int_path(request, "ticket_id"), body.body, public=body.public
    )
    return reply(wire.OneTicket(wire.ticket_out(ticket)), 201)


async def escalate_ticket(request: web.Request) -> web.Response:
    """Escalate a ticket up its group's line or to a vendor."""
    body = await read_body(request, wire.EscalateInput)
    ticket = await request.app[BOX].tickets.escalate(
        await _actor(request),
        int_path(request, "ticket_id"),
        body.level,
        vendor=body.vendor,
        note=body.note,
    )
    return reply(wire.OneTicket(wire.ticket_out(ticket)))


async def merge_ticket(request: web.Request) -> web.Response:
    """Merge a ticket into another of the same requester."""
    body = await read_body(request, wire.MergeInput)
    ticket = await request.app[BOX].tickets.merge(
        await _actor(request), int_path(request, "ticket_id"), body.into
    )
    return reply(wire.OneTicket(wire.ticket_out(ticket)))


async def list_types(request: web.Request) -> web.Response:
    """The ticket types (retired ones too)."""
    types = await request.app[BOX].tickets.types()
    return reply(wire.TicketTypes([wire.type_out(t) for t in types]))


async def set_types(request: web.Request) -> web.Response:
    """Set the active ticket types, in order."""
    body = await read_body(request, wire.TicketTypesInput)
    types = await request.app[BOX].tickets.set_types(body.names)
    return reply(wire.TicketTypes([wire.type_out(t) for t in types]))


async def list_templates(request: web.Request) -> web.Response:
    """The ticket templates."""
    templates = await request.app[BOX].tickets.templates()
    return reply(wire.Templates([wire.template_out(t) for t in templates]))


def _template_values(body: wire.TemplateInput) -> dict[str, Any]:
    return msgspec.structs.asdict(body)


async def create_template(request: web.Request) -> web.Response:
    """Add a ticket template."""
    body = await read_body(request, wire.TemplateInput)
    template = await request.app[BOX].tickets.save_template(None, _template_values(body))
    return reply(wire.OneTemplate(wire.template_out(template)), 201)


async def update_template(request: web.Request) -> web.Response:
    """Replace a ticket template."""
    body = await read_body(request, wire.TemplateInput)
    template = await request.app[BOX].tickets.save_template(
        int_path(request, "template_id"), _template_values(body)
    )
    return reply(wire.OneTemplate(wire.template_out(template)))


async def delete_template(request: web.Request) -> web.Response:
    """Remove a ticket template."""
    await request.app[BOX].tickets.delete_template(int_path(request, "template_id"))
    return reply(Deleted(True))


async def list_schedules(request: web.Request) -> web.Response:
    """The recurring tasks."""
    planned = await request.app[BOX].tickets.schedules()
    return reply(wire.Schedules([wire.schedule_out(p) for p in planned]))


def _schedule_values(body: wire.ScheduleInput) -> dict[str, Any]:
    values = msgspec.structs.asdict(body)
    values["starts_at"] = _ms(body.starts_at, "starts_at")
    return values


async def create_schedule(request: web.Request) -> web.Response:
    """Add a recurring task."""
    body = await read_body(request, wire.ScheduleInput)
    planned = await request.app[BOX].tickets.save_schedule(None, _schedule_values(body))
    return reply(wire.OneSchedule(wire.schedule_out(planned)), 201)


async def update_schedule(request: web.Request) -> web.Response:
    """Change a recurring task."""
    body = await read_body(request, wire.ScheduleInput)
    planned = await request.app[BOX].tickets.save_schedule(
        int_path(request, "schedule_id"), _schedule_values(body)
    )
    return reply(wire.OneSchedule(wire.schedule_out(planned)))


async def schedule_runs(request: web.Request) -> web.Response:
    """The next runs of a rule, before it is saved."""
    body = await read_body(request, wire.ScheduleRunsInput)
    runs = request.app[BOX].tickets.upcoming_runs(
        body.rule, _ms(body.starts_at, "starts_at"), _RUNS_SHOWN
    )
    return reply(wire.ScheduleRuns([wire_time(at) for at in runs]))


async def delete_schedule(request: web.Request) -> web.Response:
    """Remove a recurring task."""
    await request.app[BOX].tickets.delete_schedule(int_path(request, "schedule_id"))
    return reply(Deleted(True))


async def log_work(request: web.Request) -> web.Response:
    """Log time, materials and cost on a ticket."""
    body = await read_body(request, wire.WorkInput)
    entry = await request.app[BOX].tickets.log_work(
        await _actor(request),
        int_path(request, "ticket_id"),
        minutes=body.minutes,
        materials=body.materials,
        cost_cents=body.cost_cents,
        note=body.note,
    )
    return reply(wire.OneWorkEntry(wire.work_out(entry)), 201)


async def work_log(request: web.Request) -> web.Response:
    """A ticket's work log and its sums."""
    entries, totals = await request.app[BOX].tickets.work(
        await _actor(request), int_path(request, "ticket_id")
    )
    return reply(wire.WorkLog([wire.work_out(e) for e in entries], wire.totals_out(totals)))


async def customer_work(request: web.Request) -> web.Response:
    """The sums of the work logged on a customer's tickets."""
    customer_id = int_path(request, "customer_id")
    totals = await request.app[BOX].tickets.work_of_customer(customer_id)
    return reply(wire.CustomerWork(customer_id, wire.totals_out(totals)))


_ID = {"ticket_id": wire.TicketId}
_SCHEDULE_ID = {"schedule_id": wire.TicketId}
_TEMPLATE_ID = {"template_id": wire.TicketId}

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/console/tickets",
            list_tickets,
            "One page of a saved view of the ticket list",
            _TAG,
            wire.Tickets,
            query=wire.TicketsQuery,
            errors=(401, 422),
            description="Views: mine, my_groups, unassigned, pending (waiting on the "
            "customer), open (new, open and pending), all. An agent sees the tickets of "
            "their groups, those of no group and their own.",
        ),
        Operation(
            "POST",
            "/api/console/tickets",
            create_ticket,
            "Enter a ticket (a phone call, from a template, or the API)",
            _TAG,
            wire.OneTicket,
            status=201,
            body=wire.TicketInput,
            errors=(401, 403, 413, 422),
            description="403: only supervisors assign a ticket to someone else.",
        ),
        Operation(
            "POST",
            "/api/console/tickets/bulk",
            bulk_tickets,
            "The same change on many tickets (the list's bulk actions)",
            _TAG,
            wire.BulkResults,
            body=wire.BulkInput,
            errors=(401, 413, 422),
            description="Each ticket is changed in its own transaction by the rules of "
            "one change and one move; a ticket refused (403 only a supervisor or "
            "dispatcher assigns to others, 404 out of view, 409 closed or a move not "
            "allowed, 422) is reported in its result with its code and the others are "
            "still done. 422 for the request: more than 100 ids, an id twice, tags set "
            "and added at once, nothing to change, or a move to merged.",
        ),
        Operation(
            "POST",
            "/api/console/tickets/from-chat",
            ticket_from_chat,
            "Turn a chat into a ticket (transcript attached, chat linked)",
            _TAG,
            wire.OneTicket,
            status=201,
            body=wire.FromChatInput,
            errors=(401, 403, 404, 413, 422),
            description="404: no such chat, or not one the user took part in.",
        ),
        Operation(
            "GET",
            "/api/console/tickets/{ticket_id}",
            show_ticket,
            "A ticket with its history, linked chats and requester",
            _TAG,
            wire.TicketPage,
            path_types=_ID,
            errors=(401, 404),
        ),
        Operation(
            "PATCH",
            "/api/console/tickets/{ticket_id}",
            change_ticket,
            "Change a ticket's fields",
            _TAG,
            wire.OneTicket,
            body=wire.TicketChange,
            path_types=_ID,
            errors=(401, 403, 404, 409, 413, 422),
            description="409: the ticket is closed or merged.",
        ),
        Operation(
            "POST",
            "/api/console/tickets/{ticket_id}/state",
            move_ticket,
            "Move a ticket to another state",
            _TAG,
            wire.OneTicket,
            body=wire.MoveInput,
            path_types=_ID,
            errors=(401, 403, 404, 409, 413, 422),
            description="409: the move is not allowed from the ticket's state; 403: "
            "not by staff (a resolved ticket is closed by the customer or the box).",
        ),
        Operation(
            "POST",
            "/api/console/tickets/{ticket_id}/comments",
            comment_ticket,
            "Add a public reply or an internal note",
            _TAG,
            wire.OneTicket,
            status=201,
            body=wire.CommentInput,
            path_types=_ID,
            errors=(401, 404, 409, 413, 422),
        ),
        Operation(
            "POST",
            "/api/console/tickets/{ticket_id}/escalate",
            escalate_ticket,
            "Escalate a ticket: to an expert of its group, its lead, its manager, or a vendor",
            _TAG,
            wire.OneTicket,
            body=wire.EscalateInput,
            path_types=_ID,
            errors=(401, 404, 409, 413, 422),
            description="409: no group, or the group has no such person (a supervisor "
            "sets lead_id and manager_id on the group), or it is there already.",
        ),
        Operation(
            "POST",
            "/api/console/tickets/{ticket_id}/merge",
            merge_ticket,
            "Merge a ticket into another of the same requester",
            _TAG,
            wire.OneTicket,
            body=wire.MergeInput,
            path_types=_ID,
            errors=(401, 404, 409, 413, 422),
        ),
        Operation(
            "POST",
            "/api/console/tickets/{ticket_id}/work",
            log_work,
            "Log time, materials and cost on a ticket (工时物料费用)",
            _TAG,
            wire.OneWorkEntry,
            status=201,
            body=wire.WorkInput,
            path_types=_ID,
            errors=(401, 404, 413, 422),
            description="Entries are never changed; a correction is another entry with "
            "negative amounts.",
        ),
        Operation(
            "GET",
            "/api/console/tickets/{ticket_id}/work",
            work_log,
            "A ticket's work log and its sums",
            _TAG,
            wire.WorkLog,
            path_types=_ID,
            errors=(401, 404),
        ),
        Operation(
            "GET",
            "/api/console/customers/{customer_id}/work",
            customer_work,
            "The sums of the work logged on a customer's tickets",
            _TAG,
            wire.CustomerWork,
            path_types={"customer_id": wire.TicketId},
            errors=(401, 403, 404),
            description=_OVERSEERS,
        ),
        Operation(
            "GET",
            "/api/console/ticket-types",
            list_types,
            "The ticket types",
            _TAG,
            wire.TicketTypes,
            errors=(401,),
        ),
        Operation(
            "PUT",
            "/api/console/ticket-types",
            set_types,
            "Set the active ticket types, in order",
            _TAG,
            wire.TicketTypes,
            body=wire.TicketTypesInput,
            errors=(401, 403, 413, 422),
            description=_OVERSEERS,
        ),
        Operation(
            "GET",
            "/api/console/ticket-templates",
            list_templates,
            "The ticket templates (开单模版)",
            _TAG,
            wire.Templates,
            errors=(401,),
        ),
        Operation(
            "POST",
            "/api/console/ticket-templates",
            create_template,
            "Add a ticket template",
            _TAG,
            wire.OneTemplate,
            status=201,
            body=wire.TemplateInput,
            errors=(401, 403, 409, 413, 422),
            description=_OVERSEERS + " 409: the name is taken.",
        ),
        Operation(
            "PUT",
            "/api/console/ticket-templates/{template_id}",
            update_template,
            "Replace a ticket template",
            _TAG,
            wire.OneTemplate,
            body=wire.TemplateInput,
            path_types=_TEMPLATE_ID,
            errors=(401, 403, 404, 409, 413, 422),
            description=_OVERSEERS,
        ),
        Operation(
            "DELETE",
            "/api/console/ticket-templates/{template_id}",
            delete_template,
            "Remove a ticket template",
            _TAG,
            Deleted,
            path_types=_TEMPLATE_ID,
            errors=(401, 403, 404, 409),
            description=_OVERSEERS + " 409: a recurring task uses it.",
        ),
        Operation(
            "GET",
            "/api/console/ticket-schedules",
            list_schedules,
            "The recurring tasks (定期巡检) and when each runs next",
            _TAG,
            wire.Schedules,
            errors=(401,),
        ),
        Operation(
            "POST",
            "/api/console/ticket-schedules",
            create_schedule,
            "Add a recurring task that opens a ticket from a template",
            _TAG,
            wire.OneSchedule,
            status=201,
            body=wire.ScheduleInput,
            errors=(401, 403, 409, 413, 422),
            description=_OVERSEERS + " Missed runs after downtime are caught up once.",
        ),
        Operation(
            "POST",
            "/api/console/ticket-schedules/preview",
            schedule_runs,
            "The next runs of a recurrence rule, before it is saved",
            _TAG,
            wire.ScheduleRuns,
            body=wire.ScheduleRunsInput,
            errors=(401, 403, 413, 422),
            description=_OVERSEERS + " The rule is read as a schedule saved now would "
            "read it; 422 says what is wrong with it. Saves nothing.",
        ),
        Operation(
            "PUT",
            "/api/console/ticket-schedules/{schedule_id}",
            update_schedule,
            "Change a recurring task",
            _TAG,
            wire.OneSchedule,
            body=wire.ScheduleInput,
            path_types=_SCHEDULE_ID,
            errors=(401, 403, 404, 409, 413, 422),
            description=_OVERSEERS,
        ),
        Operation(
            "DELETE",
            "/api/console/ticket-schedules/{schedule_id}",
            delete_schedule,
            "Remove a recurring task (its tickets stay)",
            _TAG,
            Deleted,
            path_types=_SCHEDULE_ID,
            errors=(401, 403, 404),
            description=_OVERSEERS,
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the service desk's routes."""
    CONTRACT.install(app)
