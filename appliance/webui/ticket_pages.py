"""The service desk's console pages: the ticket list and one ticket.

Both are server-rendered shells; their scripts (ticket-list.js, ticket-page.js) read
and change tickets through the ticket API, so who may do what stays with the core.
The ticket page asks the core once whether the user may see the ticket, so a ticket
outside their view is a 404 page, as the API answers it.
"""

from __future__ import annotations

from aiohttp import web

from appliance.core.errors import NotFound
from appliance.webui.console_views import staff
from appliance.webui.contract import Contract, Operation
from appliance.webui.keys import BOX
from appliance.webui.pages import render
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.wire.tickets import TicketId

_LIST_PAGE = 25  # tickets per page of the list


async def tickets_page(request: web.Request) -> web.Response:
    """Show the ticket list: saved views, filters, sorting, paging, a new ticket."""
    return render(request, "tickets.html", {"page_size": _LIST_PAGE})


async def ticket_page(request: web.Request) -> web.Response:
    """Show one ticket: fields, moves, requester, linked chats, thread and history."""
    ticket_id = int_path(request, "ticket_id")
    actor = await staff(request, current_session(request))
    try:
        detail = await request.app[BOX].tickets.detail(actor, ticket_id)
    except NotFound:
        return render(request, "ticket.html", {"ticket_id": ticket_id, "number": ""}, status=404)
    number = detail.ticket.fields["number"]
    return render(request, "ticket.html", {"ticket_id": ticket_id, "number": number})


CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/console/tickets",
            tickets_page,
            "The ticket list",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            "/console/tickets/{ticket_id}",
            ticket_page,
            "A ticket",
            "pages",
            media="text/html",
            path_types={"ticket_id": TicketId},
            also={404: "text/html"},
            description="404: no such ticket, or one outside the user's view.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the ticket pages."""
    CONTRACT.install(app)
