"""Supervisor pages: the live wallboard and routing settings.

The pages are server-rendered shells; their scripts read and change everything through
the console JSON API, so the rules about who may do what live in one place."""

from __future__ import annotations

from aiohttp import web

from appliance.core.hours import DAYS
from appliance.core.routing import STRATEGIES, TIERS
from appliance.webui.contract import Contract, Operation
from appliance.webui.pages import render

_BOARD_POLL = 2000  # ms between wallboard refreshes


async def board_page(request: web.Request) -> web.Response:
    """Show the wallboard: queues and agents, refreshed live."""
    return render(request, "board.html", {"poll_ms": _BOARD_POLL})


async def routing_page(request: web.Request) -> web.Response:
    """Show the routing settings: groups, agents' scope, topics, rules and points."""
    return render(
        request,
        "routing.html",
        {"strategies": STRATEGIES, "days": DAYS, "tiers": TIERS},
    )


async def work_items_page(request: web.Request) -> web.Response:
    """Left messages and call-back requests are tickets now: their list is a saved view
    of the ticket list; the old address leads there."""
    raise web.HTTPFound("/console/tickets?view=left")


CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/console/board",
            board_page,
            "Live wallboard: queues and agents (overseers)",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            "/console/routing",
            routing_page,
            "Routing settings: groups, hours, agents, topics, rules, points (overseers)",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            "/console/work-items",
            work_items_page,
            "Redirect to the ticket list's view of left messages and call-back requests",
            "pages",
            status=302,
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the supervisor pages."""
    CONTRACT.install(app)
