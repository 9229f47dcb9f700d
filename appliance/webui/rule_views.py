"""Ticket rules over HTTP: supervisors list, add, change, reorder, delete and preview
triggers and timed rules (docs/ticket-rules.md). Every route is for supervisors and
admins only (policy.py); the rules themselves are core's (`Rules`)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from appliance.core.actors import Staff
from appliance.core.errors import InvalidInput
from appliance.core.rule_input import parse_rule
from appliance.webui.console_views import staff
from appliance.webui.contract import Contract, Operation, convert, read_body, read_query, reply
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.wire import rules as wire
from appliance.webui.wire.team import Deleted
from appliance.webui.wire.tickets import ticket_brief

_TAG = "tickets"
_OVERSEERS = "Supervisors and admins only (else 403)."
_REFUSED = (
    " 422 says why a rule is refused: a shape or value it cannot have, an id the box "
    "does not know (code invalid), conditions that can never hold (rule_never_matches), "
    "an action that can never take effect (rule_dead_action), a timed rule that would "
    "act again every minute or rules that would undo each other (rule_loops)."
)


async def _actor(request: web.Request) -> Staff:
    return await staff(request, current_session(request))


async def _rule_body(request: web.Request) -> dict[str, Any]:
    """Read a rule: its shape by the contract, what it means by core's parse_rule."""
    raw = await read_body(request, dict[str, Any])
    try:
        body = convert(raw, wire.TicketRuleInput)
    except InvalidInput:
        # When core refuses the rule too, its words name the place (conditions.all[1].value).
        parse_rule(raw)
        raise
    data: dict[str, Any] = msgspec.to_builtins(body)
    return data


async def list_rules(request: web.Request) -> web.Response:
    """The rules of one kind (or both), in the order they run."""
    query = read_query(request, wire.TicketRulesQuery)
    rules = await request.app[BOX].rules.saved(query.kind)
    return reply(wire.TicketRules([wire.rule_out(r) for r in rules]))


async def create_rule(request: web.Request) -> web.Response:
    """Add a rule after the last of its kind."""
    data = await _rule_body(request)
    rule = await request.app[BOX].rules.create(await _actor(request), data)
    return reply(wire.OneTicketRule(wire.rule_out(rule)), 201)


async def show_rule(request: web.Request) -> web.Response:
    """One rule."""
    rule = await request.app[BOX].rules.get(int_path(request, "rule_id"))
    return reply(wire.OneTicketRule(wire.rule_out(rule)))


async def update_rule(request: web.Request) -> web.Response:
    """Replace a rule's definition; its kind and place stay."""
    rule_id = int_path(request, "rule_id")
    data = await _rule_body(request)
    rule = await request.app[BOX].rules.update(await _actor(request), rule_id, data)
    return reply(wire.OneTicketRule(wire.rule_out(rule)))


async def delete_rule(request: web.Request) -> web.Response:
    """Delete a rule (what it did to tickets stays in their history)."""
    await request.app[BOX].rules.delete(await _actor(request), int_path(request, "rule_id"))
    return reply(Deleted(True))


async def reorder_rules(request: web.Request) -> web.Response:
    """Put a kind's rules in a new order."""
    body = await read_body(request, wire.RuleOrderInput)
    rules = await request.app[BOX].rules.reorder(await _actor(request), body.kind, body.ids)
    return reply(wire.TicketRules([wire.rule_out(r) for r in rules]))


async def preview_rule(request: web.Request) -> web.Response:
    """The unfinished tickets a draft rule's conditions match now; nothing is saved."""
    box = request.app[BOX]
    draft = box.rules.draft(await _rule_body(request))
    found = await box.tickets.preview_rule(draft)
    briefs = [ticket_brief(t) for t in found]
    return reply(wire.RulePreview([t.id for t in found], len(found), briefs))


_ID = {"rule_id": wire.RuleId}

# /order and /preview come before /{rule_id}: a literal path is not an id.
CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/console/ticket-rules",
            list_rules,
            "The ticket rules (triggers, timed rules) in the order they run",
            _TAG,
            wire.TicketRules,
            query=wire.TicketRulesQuery,
            errors=(401, 403, 422),
            description=_OVERSEERS + " Without kind: triggers first, then timed rules.",
        ),
        Operation(
            "POST",
            "/api/console/ticket-rules",
            create_rule,
            "Add a ticket rule after the last of its kind",
            _TAG,
            wire.OneTicketRule,
            status=201,
            body=wire.TicketRuleInput,
            errors=(401, 403, 409, 413, 422),
            description=_OVERSEERS + _REFUSED + " 409: the kind has its 100 rules already.",
        ),
        Operation(
            "PUT",
            "/api/console/ticket-rules/order",
            reorder_rules,
            "Put the rules of a kind in a new order",
            _TAG,
            wire.TicketRules,
            body=wire.RuleOrderInput,
            errors=(401, 403, 413, 422),
            description=_OVERSEERS + " 422 unless every rule of the kind is named once.",
        ),
        Operation(
            "POST",
            "/api/console/ticket-rules/preview",
            preview_rule,
            "The unfinished tickets a draft rule's conditions match now (nothing is saved)",
            _TAG,
            wire.RulePreview,
            body=wire.TicketRuleInput,
            errors=(401, 403, 413, 422),
            description=_OVERSEERS
            + " The draft is checked as a save checks the rule alone: what it means, "
            "whether it can match, act, or loop (422). Ids it names and the other rules "
            "are checked when it is saved.",
        ),
        Operation(
            "GET",
            "/api/console/ticket-rules/{rule_id}",
            show_rule,
            "One ticket rule",
            _TAG,
            wire.OneTicketRule,
            path_types=_ID,
            errors=(401, 403, 404),
            description=_OVERSEERS,
        ),
        Operation(
            "PUT",
            "/api/console/ticket-rules/{rule_id}",
            update_rule,
            "Replace a ticket rule's definition (its kind and place stay)",
            _TAG,
            wire.OneTicketRule,
            body=wire.TicketRuleInput,
            path_types=_ID,
            errors=(401, 403, 404, 413, 422),
            description=_OVERSEERS + _REFUSED + " A rule's kind cannot change (422).",
        ),
        Operation(
            "DELETE",
            "/api/console/ticket-rules/{rule_id}",
            delete_rule,
            "Delete a ticket rule",
            _TAG,
            Deleted,
            path_types=_ID,
            errors=(401, 403, 404),
            description=_OVERSEERS,
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the ticket rules' routes."""
    CONTRACT.install(app)
