"""Store of the webhooks and webhook_deliveries tables: receivers and the delivery log."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["queued", "delivered", "failed", "gave_up"]


@dataclass(frozen=True, slots=True)
class Webhook:
    """A receiver of events; `events` empty means every event. The secret is kept apart."""

    id: int
    name: str
    url: str
    events: tuple[str, ...]
    enabled: bool
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event for one webhook, and the outcome of its last attempt; times in UTC ms.

    `failed`: the last attempt failed and another is due at `next_attempt_at`;
    `gave_up`: no attempt is left. `payload` is the event's data as JSON text.
    """

    id: str
    webhook_id: int
    event: str
    payload: str
    status: Status
    attempts: int
    next_attempt_at: int | None
    last_status_code: int | None
    last_error: str
    created_at: int
    delivered_at: int | None


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery to attempt now, with where it goes and the key that signs it."""

    delivery: Delivery
    url: str
    secret: str


_WEBHOOK = "id, name, url, events, enabled, created_at, updated_at"
_DELIVERY = (
    "id, webhook_id, event, payload, status, attempts, next_attempt_at, last_status_code,"
    " last_error, created_at, delivered_at"
)
_DELIVERY_D = ", ".join(f"d.{c.strip()}" for c in _DELIVERY.split(","))
# Columns a change may name (update() builds its SET from these only).
_CHANGEABLE = ("name", "url", "events", "enabled")


def _webhook(row: sqlite3.Row) -> Webhook:
    return Webhook(
        row["id"],
        row["name"],
        row["url"],
        tuple(json.loads(row["events"])),
        bool(row["enabled"]),
        row["created_at"],
        row["updated_at"],
    )


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(*(row[i] for i in range(11)))


def count(conn: sqlite3.Connection) -> int:
    """Return how many webhooks there are."""
    return int(conn.execute("SELECT count(*) FROM webhooks").fetchone()[0])


def insert(
    conn: sqlite3.Connection,
    name: str,
    url: str,
    secret: str,
    events: list[str],
    enabled: bool,
    now: int,
) -> Webhook:
    """Store a new webhook."""
    row = conn.execute(
        "INSERT INTO webhooks (name, url, secret, events, enabled, created_at, updated_at)"
        f" VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_WEBHOOK}",
        (name, url, secret, json.dumps(events), int(enabled), now, now),
    ).fetchone()
    return _webhook(row)


def get(conn: sqlite3.Connection, webhook_id: int) -> Webhook | None:
    """Return a webhook, or None."""
    row = conn.execute(f"SELECT {_WEBHOOK} FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
    return None if row is None else _webhook(row)


def every(conn: sqlite3.Connection) -> list[Webhook]:
    """Return every webhook, oldest first."""
    return [_webhook(r) for r in conn.execute(f"SELECT {_WEBHOOK} FROM webhooks ORDER BY id")]


def update(
    conn: sqlite3.Connection, webhook_id: int, change: dict[str, Any], now: int
) -> Webhook | None:
    """Change some of name, url, events (a list), enabled; return the webhook or None."""
    names = [c for c in _CHANGEABLE if c in change]
    values = [
        json.dumps(change[c]) if c == "events" else int(change[c]) if c == "enabled" else change[c]
        for c in names
    ]
    assignments = "".join(f"{c} = ?, " for c in names)
    row = conn.execute(
        f"UPDATE webhooks SET {assignments}updated_at = ? WHERE id = ? RETURNING {_WEBHOOK}",
        (*values, now, webhook_id),
    ).fetchone()
    return None if row is None else _webhook(row)


def set_secret(conn: sqlite3.Connection, webhook_id: int, secret: str, now: int) -> Webhook | None:
    """Replace a webhook's secret; return the webhook or None."""
    row = conn.execute(
        f"UPDATE webhooks SET secret = ?, updated_at = ? WHERE id = ? RETURNING {_WEBHOOK}",
        (secret, now, webhook_id),
    ).fetchone()
    return None if row is None else _webhook(row)


def delete(conn: sqlite3.Connection, webhook_id: int) -> bool:
    """Delete a webhook and its deliveries (ON DELETE CASCADE); tell whether it existed."""
    return conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount > 0


def matching(conn: sqlite3.Connection, event: str) -> list[int]:
    """Return the ids of the enabled webhooks whose filter takes the event."""
    rows = conn.execute(
        "SELECT id FROM webhooks WHERE enabled = 1 AND (events = '[]'"
        " OR EXISTS (SELECT 1 FROM json_each(webhooks.events) WHERE value = ?)) ORDER BY id",
        (event,),
    )
    return [r[0] for r in rows]


def queue(
    conn: sqlite3.Connection,
    delivery_id: str,
    webhook_id: int,
    event: str,
    payload: str,
    now: int,
) -> Delivery:
    """Store a delivery, due at once."""
    row = conn.execute(
        "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, next_attempt_at,"
        f" created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING {_DELIVERY}",
        (delivery_id, webhook_id, event, payload, now, now),
    ).fetchone()
    return _delivery(row)


def due(conn: sqlite3.Connection, now: int) -> list[Due]:
    """Return, per enabled webhook, its delivery due first among those due by `now`."""
    # With a single min(), SQLite takes the bare columns from the row holding the minimum.
    # Grouping by +webhook_id keeps the planner on the partial index of pending ones:
    # without statistics it walked the whole log in webhook order instead.
    rows = conn.execute(
        f"SELECT {_DELIVERY_D}, w.url, w.secret, min(d.next_attempt_at)"
        " FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
        " WHERE d.next_attempt_at <= ? AND w.enabled = 1 GROUP BY +d.webhook_id",
        (now,),
    )
    return [Due(_delivery(r), r["url"], r["secret"]) for r in rows]


def next_due(conn: sqlite3.Connection, skip: Collection[int]) -> int | None:
    """Return when the next pending delivery is due, of enabled webhooks not in `skip`."""
    row = conn.execute(
        "SELECT min(d.next_attempt_at) FROM webhook_deliveries d"
        " JOIN webhooks w ON w.id = d.webhook_id"
        " WHERE d.next_attempt_at IS NOT NULL AND w.enabled = 1"
        " AND d.webhook_id NOT IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(skip)),),
    ).fetchone()
    return None if row[0] is None else int(row[0])


def record(
    conn: sqlite3.Connection,
    delivery_id: str,
    *,
    status: Status,
    attempts: int,
    next_attempt_at: int | None,
    status_code: int | None,
    error: str,
    delivered_at: int | None,
) -> Delivery | None:
    """Record an attempt's outcome on a pending delivery; None if it is gone or settled."""
    row = conn.execute(
        "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,"
        " last_status_code = ?, last_error = ?, delivered_at = ?"
        f" WHERE id = ? AND next_attempt_at IS NOT NULL RETURNING {_DELIVERY}",
        (status, attempts, next_attempt_at, status_code, error, delivered_at, delivery_id),
    ).fetchone()
    return None if row is None else _delivery(row)


def get_delivery(conn: sqlite3.Connection, delivery_id: str) -> Delivery | None:
    """Return a delivery, or None."""
    row = conn.execute(
        f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE id = ?", (delivery_id,)
    ).fetchone()
    return None if row is None else _delivery(row)


def page(
    conn: sqlite3.Connection, webhook_id: int, before: str | None, limit: int
) -> list[Delivery]:
    """Return a webhook's deliveries newest first, older than delivery `before` if given."""
    if before is None:
        rows = conn.execute(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE webhook_id = ?"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            (webhook_id, limit),
        )
    else:
        rows = conn.execute(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE webhook_id = ?"
            " AND (created_at, id) < (SELECT created_at, id FROM webhook_deliveries"
            " WHERE id = ?) ORDER BY created_at DESC, id DESC LIMIT ?",
            (webhook_id, before, limit),
        )
    return [_delivery(r) for r in rows]


def requeue(conn: sqlite3.Connection, delivery_id: str, now: int) -> Delivery | None:
    """Queue a settled delivery again with a fresh count of attempts; None if pending."""
    row = conn.execute(
        "UPDATE webhook_deliveries SET status = 'queued', attempts = 0, next_attempt_at = ?,"
        " delivered_at = NULL"
        f" WHERE id = ? AND next_attempt_at IS NULL RETURNING {_DELIVERY}",
        (now, delivery_id),
    ).fetchone()
    return None if row is None else _delivery(row)


def prune(conn: sqlite3.Connection, before: int) -> int:
    """Delete settled deliveries created before `before`; return how many."""
    return conn.execute(
        "DELETE FROM webhook_deliveries WHERE created_at < ? AND next_attempt_at IS NULL",
        (before,),
    ).rowcount
