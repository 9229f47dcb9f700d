"""Store of the visitors table: anonymous visitor identities and what is known of them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from appliance.core.visitor_records import CustomerDevice


def upsert(conn: sqlite3.Connection, visitor_id: str, now: int, *, seen: bool = True) -> int:
    """Make sure a visitor row exists (it may predate a restore: the token alone proves
    the id); when `seen`, it was seen at `now`. Return its number of visits so far."""
    last_seen = "max(last_seen_at, excluded.last_seen_at)" if seen else "last_seen_at"
    row = conn.execute(
        "INSERT INTO visitors (id, created_at, last_seen_at) VALUES (?, ?, ?)"
        f" ON CONFLICT (id) DO UPDATE SET last_seen_at = {last_seen} RETURNING visits",
        (visitor_id, now, now),
    ).fetchone()
    return int(row[0])


def known(conn: sqlite3.Connection, visitor_id: str) -> KnownVisitor | None:
    """Return what is stored of a visitor."""
    row = conn.execute(
        "SELECT created_at, last_seen_at, visits, customer_id, tier FROM visitors WHERE id = ?",
        (visitor_id,),
    ).fetchone()
    return KnownVisitor(*row) if row is not None else None


def record_visit(
    conn: sqlite3.Connection, visitor_id: str, visits: int, region: str, device: Mapping[str, str]
) -> None:
    """Record a new visit's count, region label and device on the visitor."""
    conn.execute(
        "UPDATE visitors SET visits = ?, region = ?, device = ? WHERE id = ?",
        (visits, region, json.dumps(device, ensure_ascii=False), visitor_id),
    )


def link(conn: sqlite3.Connection, visitor_id: str, customer_id: int, tier: str) -> None:
    """Attach a visitor to a customer, with the customer's tier."""
    conn.execute(
        "UPDATE visitors SET customer_id = ?, tier = ? WHERE id = ?",
        (customer_id, tier, visitor_id),
    )


def spread_tier(conn: sqlite3.Connection, customer_id: int, tier: str) -> list[str]:
    """Give a customer's tier to every visitor (device) of theirs; return their ids."""
    rows = conn.execute(
        "UPDATE visitors SET tier = ? WHERE customer_id = ? RETURNING id", (tier, customer_id)
    ).fetchall()
    return [r[0] for r in rows]


def set_tier(conn: sqlite3.Connection, visitor_id: str, tier: str) -> tuple[int | None] | None:
    """Set a visitor's tier; return (their customer id,), or None for no such visitor."""
    row = conn.execute(
        "UPDATE visitors SET tier = ? WHERE id = ? RETURNING customer_id", (tier, visitor_id)
    ).fetchone()
    return (row[0],) if row is not None else None


def of_customer(conn: sqlite3.Connection, customer_id: int) -> list[CustomerDevice]:
    """Return the visitors (devices) of a customer, the latest seen first."""
    rows = conn.execute(
        "SELECT id, created_at, last_seen_at, visits, device FROM visitors"
        " WHERE customer_id = ? ORDER BY last_seen_at DESC",
        (customer_id,),
    )
    return [CustomerDevice(r[0], r[1], r[2], r[3], json.loads(r[4] or "{}")) for r in rows]


@dataclass(frozen=True, slots=True)
class KnownVisitor:
    """A visitor's stored row."""

    created_at: int
    last_seen_at: int
    visits: int
    customer_id: int | None
    tier: str
