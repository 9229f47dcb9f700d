"""The webhooks API: receivers of the service desk's events and their delivery log.
Every handler is for supervisors and admins only (policy.py)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from appliance.webui.contract import Contract, Operation, read_body, read_query, reply
from appliance.webui.keys import BOX
from appliance.webui.team_views import int_path
from appliance.webui.wire import webhooks as wire
from appliance.webui.wire.chat import Id
from appliance.webui.wire.team import Deleted

_DELIVERY_ID_MAX = 64  # characters; ids are d_ and 16 more


async def list_webhooks(request: web.Request) -> web.Response:
    """Return every webhook."""
    hooks = await request.app[BOX].webhooks.list_webhooks()
    return reply(wire.Webhooks([wire.webhook_out(h) for h in hooks]))


async def create_webhook(request: web.Request) -> web.Response:
    """Add a webhook; its secret is in the answer, this once."""
    new = await read_body(request, wire.NewWebhookInput)
    hook, secret = await request.app[BOX].webhooks.create(msgspec.to_builtins(new))
    return reply(wire.WebhookSecret(wire.webhook_out(hook), secret), 201)


async def update_webhook(request: web.Request) -> web.Response:
    """Change a webhook's name, URL, events or whether it is enabled."""
    webhook_id = int_path(request, "webhook_id")
    change = await read_body(request, wire.WebhookChange)
    hook = await request.app[BOX].webhooks.update(webhook_id, msgspec.to_builtins(change))
    return reply(wire.OneWebhook(wire.webhook_out(hook)))


async def delete_webhook(request: web.Request) -> web.Response:
    """Delete a webhook and its delivery log."""
    await request.app[BOX].webhooks.delete(int_path(request, "webhook_id"))
    return reply({"deleted": True})


async def rotate_secret(request: web.Request) -> web.Response:
    """Give a webhook a new secret; the old one signs nothing more."""
    hook, secret = await request.app[BOX].webhooks.rotate_secret(int_path(request, "webhook_id"))
    return reply(wire.WebhookSecret(wire.webhook_out(hook), secret))


async def ping(request: web.Request) -> web.Response:
    """Queue a webhook.ping delivery to the webhook."""
    delivery = await request.app[BOX].webhooks.ping(int_path(request, "webhook_id"))
    return reply(wire.OneDelivery(wire.delivery_out(delivery)), 202)


async def list_deliveries(request: web.Request) -> web.Response:
    """Return a page of the webhook's delivery log, newest first."""
    webhook_id = int_path(request, "webhook_id")
    query = read_query(request, wire.DeliveriesQuery)
    before = query.before if isinstance(query.before, str) else None
    found = await request.app[BOX].webhooks.deliveries(webhook_id, before=before, limit=query.limit)
    return reply(wire.Deliveries([wire.delivery_out(d) for d in found]))


async def redeliver(request: web.Request) -> web.Response:
    """Queue a delivered or given-up delivery again."""
    webhook_id = int_path(request, "webhook_id")
    delivery_id = request.match_info["delivery_id"]
    if len(delivery_id) > _DELIVERY_ID_MAX:
        raise web.HTTPNotFound()
    delivery = await request.app[BOX].webhooks.redeliver(webhook_id, delivery_id)
    return reply(wire.OneDelivery(wire.delivery_out(delivery)), 202)


_OVERSEERS = "Supervisors and admins only (else 403)."
_TAG = "webhooks"
_BASE = "/api/console/webhooks"
_HOOK = {"webhook_id": Id}
_ONE: dict[str, Any] = {"path_types": _HOOK, "errors": (401, 403, 404)}

CONTRACT = Contract(
    [
        Operation(
            "GET",
            _BASE,
            list_webhooks,
            "Every webhook",
            _TAG,
            wire.Webhooks,
            errors=(401, 403),
            description=_OVERSEERS,
        ),
        Operation(
            "POST",
            _BASE,
            create_webhook,
            "Add a webhook; the answer holds its secret, shown this once",
            _TAG,
            wire.WebhookSecret,
            status=201,
            body=wire.NewWebhookInput,
            errors=(401, 403, 409, 413, 422),
            description=_OVERSEERS + " 409: 50 webhooks exist already. How a receiver "
            "checks the signature: docs/webhooks.md.",
        ),
        Operation(
            "PATCH",
            _BASE + "/{webhook_id}",
            update_webhook,
            "Change a webhook's name, URL, events or whether it is enabled",
            _TAG,
            wire.OneWebhook,
            body=wire.WebhookChange,
            path_types=_HOOK,
            errors=(401, 403, 404, 413, 422),
            description=_OVERSEERS + " Only the fields given change. A disabled webhook "
            "gets no new events; what was queued for it waits until it is enabled.",
        ),
        Operation(
            "DELETE",
            _BASE + "/{webhook_id}",
            delete_webhook,
            "Delete a webhook and its delivery log",
            _TAG,
            Deleted,
            **_ONE,
            description=_OVERSEERS,
        ),
        Operation(
            "POST",
            _BASE + "/{webhook_id}/rotate-secret",
            rotate_secret,
            "Give a webhook a new secret, shown this once",
            _TAG,
            wire.WebhookSecret,
            **_ONE,
            description=_OVERSEERS + " Every later attempt, retries of earlier "
            "deliveries included, is signed with the new secret.",
        ),
        Operation(
            "POST",
            _BASE + "/{webhook_id}/ping",
            ping,
            "Send the webhook a webhook.ping event",
            _TAG,
            wire.OneDelivery,
            status=202,
            path_types=_HOOK,
            errors=(401, 403, 404, 409),
            description=_OVERSEERS + " Queued at once, whatever the webhook's events; "
            "its outcome shows in the delivery log. 409: the webhook is disabled.",
        ),
        Operation(
            "GET",
            _BASE + "/{webhook_id}/deliveries",
            list_deliveries,
            "The webhook's delivery log, newest first",
            _TAG,
            wire.Deliveries,
            query=wire.DeliveriesQuery,
            path_types=_HOOK,
            errors=(401, 403, 404, 422),
            description=_OVERSEERS + " At most `limit` (50 unless given, 100 at most); "
            "`before` is the last id of the previous page. Settled deliveries are kept "
            "30 days.",
        ),
        Operation(
            "POST",
            _BASE + "/{webhook_id}/deliveries/{delivery_id}/redeliver",
            redeliver,
            "Send a delivered or given-up delivery again",
            _TAG,
            wire.OneDelivery,
            status=202,
            path_types=_HOOK,
            errors=(401, 403, 404, 409),
            description=_OVERSEERS + " Same id (receivers that saw it may drop it as a "
            "repeat), a fresh count of attempts. 409: still pending, or the webhook is "
            "disabled.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the webhook routes."""
    CONTRACT.install(app)
