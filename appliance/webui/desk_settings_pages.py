"""The service desk's remaining settings for supervisors and admins, on one page:
ticket types, ticket templates (开单模版), recurring tasks (定期巡检) and webhooks.

A server-rendered shell (overseers only, policy.py) with a tab per area; its scripts
read and save through the APIs of each (ticket_views.py, webhook_views.py), so what a
type, a template, a schedule or a webhook may be stays with the core. The words those
APIs take (events, frequencies, priorities, limits) are core's own, given to the
scripts here so that they are written down once.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance.core import recurrence, rules, tickets, webhooks
from appliance.core.hours import DAYS
from appliance.webui.contract import Contract, Operation
from appliance.webui.pages import render

AREAS = ("types", "templates", "schedules", "webhooks")  # the tabs, in order
# RFC 5545's weekday codes, in the order of hours.DAYS (mon ... sun).
_WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_LOG_PAGE = 20  # deliveries the log shows at a time


def _vocabulary() -> dict[str, Any]:
    return {
        "areas": AREAS,
        "priorities": rules.PRIORITIES,
        "type_max": tickets.TYPE_MAX,
        "types_max": tickets.TYPES_MAX,
        "frequencies": recurrence.FREQUENCIES,
        "rule_max": recurrence.RULE_MAX,
        "weekdays": dict(zip(DAYS, _WEEKDAY_CODES, strict=True)),
        # webhook.ping goes to a pinged webhook whatever it asked for: not a choice.
        "events": [e for e in webhooks.EVENTS if e != webhooks.PING],
        "log_page": _LOG_PAGE,
    }


async def desk_settings_page(request: web.Request) -> web.Response:
    """Show the ticket types, templates, recurring tasks and webhooks, a tab each."""
    return render(request, "desk_settings.html", {"vocab": _vocabulary(), "days": DAYS})


CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/console/desk-settings",
            desk_settings_page,
            "The service desk settings: ticket types, templates, recurring tasks and "
            "webhooks (overseers)",
            "pages",
            media="text/html",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the settings page."""
    CONTRACT.install(app)
