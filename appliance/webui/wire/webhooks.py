"""Shapes of the webhooks API: receivers, their secrets, and the delivery log."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core.webhooks import Delivery as CoreDelivery
from appliance.core.webhooks import Webhook as CoreWebhook
from appliance.webui.wire import Time, wire_time
from appliance.webui.wire.team import text

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET

EventName = Literal[  # core.webhooks.EVENTS
    "ticket.created",
    "ticket.updated",
    "ticket.state_changed",
    "ticket.replied",
    "ticket.sla_warning",
    "ticket.sla_breached",
    "webhook.ping",
]
DeliveryStatus = Literal["queued", "delivered", "failed", "gave_up"]  # store.webhooks.Status

Name = Annotated[str, text(64, 1)]
Url = Annotated[
    str,
    text(2000, 1, "an http:// or https:// URL with a host, without a user name or password"),
]
Events = Annotated[
    list[EventName],
    msgspec.Meta(max_length=7, description="the events to send; empty: every event"),
]
Enabled = Annotated[
    bool, msgspec.Meta(description="false: no new events; queued ones wait until enabled")
]


class NewWebhookInput(msgspec.Struct):
    """A receiver to add."""

    name: Name
    url: Url
    events: Events = msgspec.field(default_factory=list)
    enabled: Enabled = True


class WebhookChange(msgspec.Struct, omit_defaults=True):
    """What to change of a webhook; only the fields given change."""

    name: Name | Unset = UNSET
    url: Url | Unset = UNSET
    events: Events | Unset = UNSET
    enabled: Enabled | Unset = UNSET


class Webhook(msgspec.Struct):
    """A receiver of events (its secret is shown only when made)."""

    id: int
    name: str
    url: str
    events: Events
    enabled: bool
    created_at: Time
    updated_at: Time


class Webhooks(msgspec.Struct):
    webhooks: list[Webhook]


class OneWebhook(msgspec.Struct):
    webhook: Webhook


class WebhookSecret(msgspec.Struct):
    """A webhook and its new secret, shown this once."""

    webhook: Webhook
    secret: Annotated[
        str, msgspec.Meta(description="the HMAC-SHA256 key of X-Callbox-Signature; shown once")
    ]


class Delivery(msgspec.Struct):
    """One event for one webhook and the outcome of its last attempt."""

    id: Annotated[str, msgspec.Meta(description="also the X-Callbox-Delivery header")]
    webhook_id: int
    event: EventName
    status: Annotated[
        DeliveryStatus,
        msgspec.Meta(
            description="failed: the last attempt failed and another is due at "
            "next_attempt_at; gave_up: no attempt is left"
        ),
    ]
    attempts: int
    next_attempt_at: Annotated[Time | None, msgspec.Meta(description="null once settled")]
    last_status_code: Annotated[
        int | None, msgspec.Meta(description="the receiver's last answer; null: none came")
    ]
    last_error: Annotated[str, msgspec.Meta(description="empty after a 2xx")]
    created_at: Time
    delivered_at: Time | None
    payload: msgspec.Raw  # the event's data, the body's `data`, as it was queued


class Deliveries(msgspec.Struct):
    deliveries: list[Delivery]


class OneDelivery(msgspec.Struct):
    delivery: Delivery


class DeliveriesQuery(msgspec.Struct):
    """Which page of a webhook's log to list."""

    before: (
        Annotated[str, text(64, 1, "a delivery id: list those older than it (the next page)")]
        | Unset
    ) = UNSET
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 50


def webhook_out(hook: CoreWebhook) -> Webhook:
    """Return the wire form of a webhook."""
    return Webhook(
        id=hook.id,
        name=hook.name,
        url=hook.url,
        events=list(hook.events),  # type: ignore[arg-type]
        enabled=hook.enabled,
        created_at=wire_time(hook.created_at),
        updated_at=wire_time(hook.updated_at),
    )


def delivery_out(delivery: CoreDelivery) -> Delivery:
    """Return the wire form of a delivery, its payload as stored."""
    return Delivery(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        event=delivery.event,  # type: ignore[arg-type]
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=wire_time(delivery.next_attempt_at),
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=wire_time(delivery.created_at),
        delivered_at=wire_time(delivery.delivered_at),
        payload=msgspec.Raw(delivery.payload),
    )
