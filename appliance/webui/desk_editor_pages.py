"""The service desk's editors for supervisors and admins: SLA policies and ticket rules.

Both are server-rendered shells (overseers only, policy.py); their scripts read and
save through the SLA policy and ticket rule APIs, so what a policy or a rule may be
stays with the core. The words the APIs take (fields, operators, actions, events) are
core's own tuples, given to the scripts here so that they are written down once.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance.core import rule_input, rules, sla_policy
from appliance.core.hours import DAYS
from appliance.core.tickets import CHANNELS
from appliance.webui.contract import Contract, Operation
from appliance.webui.pages import render

_PREVIEW_PAGE = 20  # matched tickets a preview names at a time (each is one request)


def _sla_vocabulary() -> dict[str, Any]:
    return {
        "metrics": sla_policy.METRICS,
        "actions": sla_policy.ACTIONS,
        "priorities": rules.PRIORITIES,
        "tiers": rules.CUSTOMER_TIERS,
        "days": DAYS,
    }


def _rule_vocabulary() -> dict[str, Any]:
    return {
        "ops": rules.OPS,
        "time_fields": rules.TIME_FIELDS,
        "settable": rules.SETTABLE,
        "actions": rules.ACTION_TYPES,
        "events": [e.value for e in rules.On],
        "states": rules.LIVE_STATES,
        "moves": rule_input.SYSTEM_TARGETS,
        "priorities": rules.PRIORITIES,
        "tiers": rules.CUSTOMER_TIERS,
        "channels": CHANNELS,
        "unassigned": rules.UNASSIGNED,
        "preview_max": rules.PREVIEW_MAX,
    }


async def sla_policies_page(request: web.Request) -> web.Response:
    """Show the SLA policies in order, with a form to add, change or delete one."""
    return render(request, "sla_policies.html", {"vocab": _sla_vocabulary(), "days": DAYS})


async def ticket_rules_page(request: web.Request) -> web.Response:
    """Show the triggers and timed rules in order, with a form, a preview and the toggles."""
    return render(
        request,
        "ticket_rules.html",
        {"vocab": _rule_vocabulary(), "preview_page": _PREVIEW_PAGE},
    )


CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/console/sla-policies",
            sla_policies_page,
            "The SLA policy editor (overseers)",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            "/console/ticket-rules",
            ticket_rules_page,
            "The ticket rule editor: triggers and timed rules (overseers)",
            "pages",
            media="text/html",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the editor pages."""
    CONTRACT.install(app)
