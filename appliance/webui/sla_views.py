"""SLA policies over HTTP (supervisors write them) and a ticket's SLA clocks."""

from __future__ import annotations

import msgspec
from aiohttp import web

from appliance.core.clock import now_ms
from appliance.webui.console_views import staff
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.wire import sla as wire
from appliance.webui.wire.team import Deleted
from appliance.webui.wire.tickets import TicketId

_TAG = "tickets"
_OVERSEERS = "Supervisors and admins only."
_ID = {"policy_id": TicketId}


async def list_policies(request: web.Request) -> web.Response:
    """The SLA policies, in the order they are tried."""
    policies = await request.app[BOX].sla.policies()
    return reply(wire.Policies([wire.policy_out(p) for p in policies]))


async def create_policy(request: web.Request) -> web.Response:
    """Add an SLA policy, tried after the others."""
    body = await read_body(request, wire.PolicyInput)
    actor = await staff(request, current_session(request))
    policy = await request.app[BOX].sla.create(actor, msgspec.to_builtins(body))
    return reply(wire.OnePolicy(wire.policy_out(policy)), 201)


async def change_policy(request: web.Request) -> web.Response:
    """Change some of a policy's settings; its tickets' running clocks follow."""
    body = await read_body(request, wire.PolicyChange)
    actor = await staff(request, current_session(request))
    policy = await request.app[BOX].sla.update(
        actor, int_path(request, "policy_id"), msgspec.to_builtins(body)
    )
    return reply(wire.OnePolicy(wire.policy_out(policy)))


async def delete_policy(request: web.Request) -> web.Response:
    """Delete a policy; its tickets' clocks go on without a target until re-matched."""
    actor = await staff(request, current_session(request))
    await request.app[BOX].sla.delete(actor, int_path(request, "policy_id"))
    return reply(Deleted(True))


async def order_policies(request: web.Request) -> web.Response:
    """Set the order policies are tried in."""
    body = await read_body(request, wire.PolicyOrder)
    actor = await staff(request, current_session(request))
    policies = await request.app[BOX].sla.reorder(actor, body.ids)
    return reply(wire.Policies([wire.policy_out(p) for p in policies]))


async def ticket_clocks(request: web.Request) -> web.Response:
    """Every SLA target of a ticket: running, met or breached, with what is left."""
    actor = await staff(request, current_session(request))
    box = request.app[BOX]
    clocks = await box.tickets.clocks(actor, int_path(request, "ticket_id"))
    now = now_ms()
    ticking = await box.sla.ticking([c for c, _ in clocks], now)
    return reply(
        wire.Clocks(
            [
                wire.clock_out(c, used, now, runs)
                for (c, used), runs in zip(clocks, ticking, strict=True)
            ]
        )
    )


CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/console/sla-policies",
            list_policies,
            "The SLA policies, in the order they are tried",
            _TAG,
            wire.Policies,
            errors=(401,),
        ),
        Operation(
            "POST",
            "/api/console/sla-policies",
            create_policy,
            "Add an SLA policy (tried after the others)",
            _TAG,
            wire.OnePolicy,
            status=201,
            body=wire.PolicyInput,
            errors=(401, 403, 409, 413, 422),
            description=_OVERSEERS + " 409: the name is taken.",
        ),
        Operation(
            "PUT",
            "/api/console/sla-policies/order",
            order_policies,
            "Set the order the SLA policies are tried in",
            _TAG,
            wire.Policies,
            body=wire.PolicyOrder,
            errors=(401, 403, 413, 422),
            description=_OVERSEERS,
        ),
        Operation(
            "PATCH",
            "/api/console/sla-policies/{policy_id}",
            change_policy,
            "Change an SLA policy; running clocks follow at once",
            _TAG,
            wire.OnePolicy,
            body=wire.PolicyChange,
            path_types=_ID,
            errors=(401, 403, 404, 409, 413, 422),
            description=_OVERSEERS,
        ),
        Operation(
            "DELETE",
            "/api/console/sla-policies/{policy_id}",
            delete_policy,
            "Delete an SLA policy",
            _TAG,
            Deleted,
            path_types=_ID,
            errors=(401, 403, 404),
            description=_OVERSEERS,
        ),
        Operation(
            "GET",
            "/api/console/tickets/{ticket_id}/sla",
            ticket_clocks,
            "A ticket's SLA clocks: every target, not only the nearest",
            _TAG,
            wire.Clocks,
            path_types={"ticket_id": TicketId},
            errors=(401, 404),
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the SLA routes."""
    CONTRACT.install(app)
