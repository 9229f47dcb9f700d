"""Outgoing webhooks: the service desk's events POSTed, signed, to the company's systems.

Supervisors register receivers (a URL, the events they want, a secret shown once);
other services queue an event with `enqueue_in` inside their own write, so a ticket
change and its deliveries commit together, and the sender (`webhook_sender.py`) posts
them with retries. docs/webhooks.md is the receiver's side of it.
"""

from __future__ import annotations

import secrets
import sqlite3
import unicodedata
from typing import Any
from urllib.parse import urlsplit

import msgspec
from yarl import URL

from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, InvalidInput, NotFound
from appliance.core.store import webhooks as store
from appliance.core.store.webhooks import Delivery as Delivery
from appliance.core.store.webhooks import Webhook as Webhook
from appliance.core.visitors import new_id
from appliance.core.webhook_sender import Sender

# The events a webhook may ask for; webhook.ping goes to the pinged webhook whatever
# its filter.
EVENTS = (
    "ticket.created",
    "ticket.updated",
    "ticket.state_changed",
    "ticket.replied",
    "ticket.sla_warning",
    "ticket.sla_breached",
    "webhook.ping",
)
PING = "webhook.ping"
_NAME_MAX = 64
_URL_MAX = 2000
_MAX_WEBHOOKS = 50
_PAGE = 50  # deliveries per page by default
_PAGE_MAX = 100
_PAYLOAD_MAX = 256 * 1024  # bytes of an event's data as JSON
_SECRET_BYTES = 32
_CHANGEABLE = ("name", "url", "events", "enabled")


def new_secret() -> str:
    """Return a new signing secret (the HMAC key is its UTF-8 text)."""
    return "cbwh_" + secrets.token_hex(_SECRET_BYTES)


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c).startswith("C") for c in text)


def check_name(value: Any) -> str:
    """Return a webhook's name, stripped: 1-64 printable characters."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > _NAME_MAX:
        raise InvalidInput(f"name must be text of 1-{_NAME_MAX} characters")
    if _has_control(value):
        raise InvalidInput("name must not contain control characters")
    return value.strip()


def check_url(value: Any) -> str:
    """Return a receiver's URL if it is http(s) with a host, without credentials."""
    if not isinstance(value, str) or not value or len(value) > _URL_MAX:
        raise InvalidInput(f"url must be text of 1-{_URL_MAX} characters")
    if _has_control(value) or any(c.isspace() for c in value):
        raise InvalidInput("url must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as err:
        raise InvalidInput("url is malformed") from err
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("url must start with http:// or https://")
    if not parts.hostname:
        raise InvalidInput("url must name a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url must not carry a user name or password")
    if parts.fragment or value.endswith("#"):
        raise InvalidInput("url must not have a #fragment")
    try:
        host = URL(value).raw_host  # the host as it goes on the wire (IDNA for 客服.cn)
    except ValueError as err:  # UnicodeError too: a host IDNA cannot encode
        raise InvalidInput("url is malformed") from err
    if not host:
        raise InvalidInput("url must name a host")
    return value


def check_events(value: Any) -> list[str]:
    """Return an event filter: known event names, each once ([] means every event)."""
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise InvalidInput("events must be a list of event names")
    for event in value:
        if event not in EVENTS:
            raise InvalidInput(f"unknown event {event!r}: events are {', '.join(EVENTS)}")
    return list(dict.fromkeys(value))


def _check(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    checks = {"name": check_name, "url": check_url, "events": check_events}
    change: dict[str, Any] = {}
    for name in names:
        if name not in data:
            continue
        if name == "enabled":
            if not isinstance(data[name], bool):
                raise InvalidInput("enabled must be true or false")
            change[name] = data[name]
        else:
            change[name] = checks[name](data[name])
    return change


def encode_payload(payload: Any) -> str:
    """Return an event's data as JSON text (anything msgspec encodes: dicts, dataclasses)."""
    text = msgspec.json.encode(payload)
    if len(text) > _PAYLOAD_MAX:
        raise ValueError(f"a webhook payload is at most {_PAYLOAD_MAX} bytes of JSON")
    return text.decode()


class Webhooks:
    """Receivers of events, their delivery log, and the sender that works through it."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.sender = Sender(db)

    async def open(self) -> None:
        """Start the sender; what was queued before a stop is sent now."""
        await self.sender.open()

    async def close(self) -> None:
        """Stop the sender; pending deliveries stay in the log for the next start."""
        await self.sender.close()

    def wake(self) -> None:
        """Make the sender look at the log now; call it once a write that queued committed."""
        self.sender.wake()

    def _woken(self, _: object) -> None:
        self.sender.wake()

    # -- receivers ------------------------------------------------------------

    async def list_webhooks(self) -> list[Webhook]:
        """Return every webhook, oldest first."""
        return await self._db.read(store.every)

    async def create(self, data: dict[str, Any]) -> tuple[Webhook, str]:
        """Add a webhook (name and url required); return it and its secret, shown once."""
        for required in ("name", "url"):
            if required not in data:
                raise InvalidInput(f"{required} is required")
        fields: dict[str, Any] = {"events": [], "enabled": True, **_check(data, _CHANGEABLE)}
        secret = new_secret()

        def job(conn: sqlite3.Connection) -> Webhook:
            if store.count(conn) >= _MAX_WEBHOOKS:
                raise Conflict(f"at most {_MAX_WEBHOOKS} webhooks")
            return store.insert(
                conn,
                fields["name"],
                fields["url"],
                secret,
                fields["events"],
                fields["enabled"],
                now_ms(),
            )

        return await self._db.write(job), secret

    async def update(self, webhook_id: int, data: dict[str, Any]) -> Webhook:
        """Change a webhook's name, url, events or enabled; only the fields given."""
        change = _check(data, _CHANGEABLE)

        def job(conn: sqlite3.Connection) -> Webhook:
            found = store.update(conn, webhook_id, change, now_ms()) if change else None
            found = found or store.get(conn, webhook_id)
            if found is None:
                raise NotFound("no such webhook")
            return found

        # Enabling a webhook makes its waiting deliveries due.
        return await self._db.write(job, on_commit=self._woken)

    async def delete(self, webhook_id: int) -> None:
        """Delete a webhook with its delivery log; an attempt in flight still ends."""

        def job(conn: sqlite3.Connection) -> None:
            if not store.delete(conn, webhook_id):
                raise NotFound("no such webhook")

        await self._db.write(job)

    async def rotate_secret(self, webhook_id: int) -> tuple[Webhook, str]:
        """Give a webhook a new secret; return it, shown once. Pending retries use it."""
        secret = new_secret()

        def job(conn: sqlite3.Connection) -> Webhook:
            found = store.set_secret(conn, webhook_id, secret, now_ms())
            if found is None:
                raise NotFound("no such webhook")
            return found

        return await self._db.write(job), secret

    # -- events ---------------------------------------------------------------

    def enqueue_in(self, conn: sqlite3.Connection, event: str, payload: Any, now: int) -> int:
        """Queue an event for every enabled webhook whose filter takes it, inside the
        caller's write job (`conn` in its transaction); return how many deliveries.

        The deliveries commit (or roll back) with the caller's change. Wake the sender
        once it committed: `db.write(job, on_commit=lambda r: webhooks.wake())`.
        `payload` is the event's data, anything msgspec encodes (ValueError if it is
        over 256 KiB); times in it are the caller's to format (clock.local_iso).
        """
        if event not in EVENTS or event == PING:
            raise ValueError(f"not a webhook event: {event!r}")
        hooks = store.matching(conn, event)
        if not hooks:
            return 0
        data = encode_payload(payload)
        for hook in hooks:
            store.queue(conn, new_id("d_"), hook, event, data, now)
        return len(hooks)

    async def enqueue(self, event: str, payload: Any) -> int:
        """Queue an event in a write of its own; return how many deliveries."""
        return await self._db.write(
            lambda conn: self.enqueue_in(conn, event, payload, now_ms()), on_commit=self._woken
        )

    async def ping(self, webhook_id: int) -> Delivery:
        """Queue a webhook.ping to one enabled webhook, whatever its filter."""
        now = now_ms()

        def job(conn: sqlite3.Connection) -> Delivery:
            hook = self._enabled(conn, webhook_id)
            data = encode_payload({"webhook_id": hook.id, "name": hook.name})
            return store.queue(conn, new_id("d_"), hook.id, PING, data, now)

        return await self._db.write(job, on_commit=self._woken)

    @staticmethod
    def _enabled(conn: sqlite3.Connection, webhook_id: int) -> Webhook:
        hook = store.get(conn, webhook_id)
        if hook is None:
            raise NotFound("no such webhook")
        if not hook.enabled:
            raise Conflict("the webhook is disabled; enable it first")
        return hook

    # -- the log --------------------------------------------------------------

    async def deliveries(
        self, webhook_id: int, *, before: str | None = None, limit: int = _PAGE
    ) -> list[Delivery]:
        """Return a webhook's deliveries newest first, older than delivery `before`."""
        if not 1 <= limit <= _PAGE_MAX:
            raise InvalidInput(f"limit must be between 1 and {_PAGE_MAX}")

        def read(conn: sqlite3.Connection) -> list[Delivery]:
            if store.get(conn, webhook_id) is None:
                raise NotFound("no such webhook")
            if before is not None:
                mark = store.get_delivery(conn, before)
                if mark is None or mark.webhook_id != webhook_id:
                    raise InvalidInput("before must be a delivery of this webhook")
            return store.page(conn, webhook_id, before, limit)

        return await self._db.read(read)

    async def redeliver(self, webhook_id: int, delivery_id: str) -> Delivery:
        """Queue a delivered or given-up delivery again, same id, with fresh attempts."""
        now = now_ms()

        def job(conn: sqlite3.Connection) -> Delivery:
            found = store.get_delivery(conn, delivery_id)
            if found is None or found.webhook_id != webhook_id:
                raise NotFound("no such delivery")
            self._enabled(conn, webhook_id)
            queued = store.requeue(conn, delivery_id, now)
            if queued is None:
                raise Conflict("the delivery is still pending")
            return queued

        return await self._db.write(job, on_commit=self._woken)
