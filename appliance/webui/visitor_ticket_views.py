"""The customer's side of the service desk, in the widget: follow one's tickets, reply,
confirm a resolution, rate it. A visitor proves who they are by their token; they see
the tickets made from their own chats and those of the customer they are proven to be."""

from __future__ import annotations

from aiohttp import web

from appliance.core.ratelimit import RateLimited
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.keys import BOX
from appliance.webui.team_views import int_path
from appliance.webui.visitor_views import visitor_actor
from appliance.webui.wire import tickets as wire

_TAG = "visitor"
_ID = {"ticket_id": wire.TicketId}


async def my_tickets(request: web.Request) -> web.Response:
    """The tickets the visitor may follow."""
    tickets = await request.app[BOX].tickets.of_visitor(visitor_actor(request))
    return reply(wire.CustomerTickets([wire.customer_ticket_out(t) for t in tickets]))


async def my_ticket(request: web.Request) -> web.Response:
    """One of the visitor's tickets with its public thread."""
    ticket, thread = await request.app[BOX].tickets.for_visitor(
        visitor_actor(request), int_path(request, "ticket_id")
    )
    return reply(
        wire.CustomerTicketPage(
            wire.customer_ticket_out(ticket), [wire.thread_out(e) for e in thread]
        )
    )


async def reply_to_ticket(request: web.Request) -> web.Response:
    """The customer writes on their ticket (it reopens if it waited on them)."""
    box = request.app[BOX]
    actor = visitor_actor(request)
    ticket_id = int_path(request, "ticket_id")
    body = await read_body(request, wire.CustomerReply)
    wait = box.limits.message_wait(actor.id, actor.address)
    if wait > 0:
        raise RateLimited(wait)
    ticket = await box.tickets.customer_reply(actor, ticket_id, body.body)
    box.limits.message_spent(actor.id, actor.address)
    return reply(wire.OneCustomerTicket(wire.customer_ticket_out(ticket)), 201)


async def confirm_ticket(request: web.Request) -> web.Response:
    """The customer confirms the resolution; the ticket closes."""
    ticket = await request.app[BOX].tickets.confirm(
        visitor_actor(request), int_path(request, "ticket_id")
    )
    return reply(wire.OneCustomerTicket(wire.customer_ticket_out(ticket)))


async def rate_ticket(request: web.Request) -> web.Response:
    """The satisfaction follow-up, once per ticket."""
    body = await read_body(request, wire.RatingInput)
    ticket = await request.app[BOX].tickets.rate(
        visitor_actor(request), int_path(request, "ticket_id"), body.score, body.comment
    )
    return reply(wire.OneCustomerTicket(wire.customer_ticket_out(ticket)), 201)


CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/visitor/tickets",
            my_tickets,
            "The visitor's tickets (from their chats, or as a proven customer)",
            _TAG,
            wire.CustomerTickets,
            errors=(401,),
        ),
        Operation(
            "GET",
            "/api/visitor/tickets/{ticket_id}",
            my_ticket,
            "One of the visitor's tickets with its public thread",
            _TAG,
            wire.CustomerTicketPage,
            path_types=_ID,
            errors=(401, 404),
        ),
        Operation(
            "POST",
            "/api/visitor/tickets/{ticket_id}/replies",
            reply_to_ticket,
            "Write on one's ticket (reopens it when it waited or was resolved)",
            _TAG,
            wire.OneCustomerTicket,
            status=201,
            body=wire.CustomerReply,
            path_types=_ID,
            errors=(401, 404, 409, 413, 422, 429),
            description="409: the ticket is closed; write a new request instead.",
        ),
        Operation(
            "POST",
            "/api/visitor/tickets/{ticket_id}/confirm",
            confirm_ticket,
            "Confirm the resolution; the ticket closes",
            _TAG,
            wire.OneCustomerTicket,
            path_types=_ID,
            errors=(401, 404, 409),
            description="409: the ticket is not resolved.",
        ),
        Operation(
            "POST",
            "/api/visitor/tickets/{ticket_id}/rating",
            rate_ticket,
            "Rate the service on a resolved or closed ticket (once)",
            _TAG,
            wire.OneCustomerTicket,
            status=201,
            body=wire.RatingInput,
            path_types=_ID,
            errors=(401, 404, 409, 413, 422),
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the customer's ticket routes."""
    CONTRACT.install(app)
