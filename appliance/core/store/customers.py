"""Store of the customers, identity_proofs tables."""

from __future__ import annotations

import sqlite3
from typing import Any

from appliance.core.live import CustomerBrief
from appliance.core.visitor_records import Customer

_FIELDS = (
    "id, external_id, site, name, email, phone, tier, notes, verified, created_at, organisation"
)


def _customer(row: sqlite3.Row | tuple[Any, ...]) -> Customer:
    return Customer(
        id=row[0],
        external_id=row[1],
        site=row[2],
        name=row[3],
        email=row[4],
        phone=row[5],
        tier=row[6],
        notes=row[7],
        verified=bool(row[8]),
        created_at=row[9],
        organisation=row[10],
    )


def proof_user(conn: sqlite3.Connection, sig: str) -> str | None:
    """Return the visitor who presented a signature first, or None."""
    row = conn.execute("SELECT visitor_id FROM identity_proofs WHERE sig = ?", (sig,)).fetchone()
    return str(row[0]) if row is not None else None


def add_proof(
    conn: sqlite3.Connection, sig: str, visitor_id: str, customer_id: int, expires_at: int
) -> None:
    """Record that a visitor presented a signature (it is theirs until it expires)."""
    conn.execute(
        "INSERT INTO identity_proofs (sig, visitor_id, customer_id, expires_at)"
        " VALUES (?, ?, ?, ?)",
        (sig, visitor_id, customer_id, expires_at),
    )


def prune_proofs(conn: sqlite3.Connection, now: int) -> int:
    """Delete the expired signatures; return how many."""
    return conn.execute("DELETE FROM identity_proofs WHERE expires_at < ?", (now,)).rowcount


def vouched(
    conn: sqlite3.Connection,
    external_id: str,
    site: str,
    name: str,
    email: str,
    phone: str,
    now: int,
) -> Customer:
    """Create or verify the customer a host site vouches for; fill what it lacks."""
    row = conn.execute(
        "INSERT INTO customers (external_id, site, name, email, phone, verified,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)"
        " ON CONFLICT (external_id) DO UPDATE SET"
        " name = CASE WHEN name = '' THEN excluded.name ELSE name END,"
        " email = CASE WHEN email = '' THEN excluded.email ELSE email END,"
        " phone = CASE WHEN phone = '' THEN excluded.phone ELSE phone END,"
        " verified = 1, updated_at = excluded.updated_at"
        f" RETURNING {_FIELDS}",
        (external_id, site, name, email, phone, now, now),
    ).fetchone()
    return _customer(row)


def fill(
    conn: sqlite3.Connection, customer_id: int, name: str, email: str, phone: str, now: int
) -> Customer:
    """Fill what a profile lacks (never overwrite it); return the customer."""
    row = conn.execute(
        "UPDATE customers SET"
        " name = CASE WHEN name = '' THEN ? ELSE name END,"
        " email = CASE WHEN email = '' THEN ? ELSE email END,"
        " phone = CASE WHEN phone = '' THEN ? ELSE phone END, updated_at = ?"
        f" WHERE id = ? RETURNING {_FIELDS}",
        (name, email, phone, now, customer_id),
    ).fetchone()
    return _customer(row)


def create(conn: sqlite3.Connection, name: str, email: str, phone: str, now: int) -> Customer:
    """Create a customer (not verified) from typed contact data."""
    row = conn.execute(
        "INSERT INTO customers (name, email, phone, created_at, updated_at)"
        f" VALUES (?, ?, ?, ?, ?) RETURNING {_FIELDS}",
        (name, email, phone, now, now),
    ).fetchone()
    return _customer(row)


def by_contact(conn: sqlite3.Connection, email: str, phone: str) -> Customer | None:
    """The oldest customer with this e-mail address, else with this phone number."""
    for column, value in (("email", email), ("phone", phone)):
        if value:
            row = conn.execute(
                f"SELECT {_FIELDS} FROM customers WHERE {column} = ? ORDER BY id LIMIT 1",
                (value,),
            ).fetchone()
            if row is not None:
                return _customer(row)
    return None


def search(conn: sqlite3.Connection, needle: str, limit: int) -> list[Customer]:
    """Find customers whose name, e-mail, phone or external id holds the text."""
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = conn.execute(
        f"SELECT {_FIELDS} FROM customers WHERE name LIKE ? ESCAPE '\\'"
        " OR email LIKE ? ESCAPE '\\' OR phone LIKE ? ESCAPE '\\'"
        " OR external_id LIKE ? ESCAPE '\\' ORDER BY updated_at DESC LIMIT ?",
        (pattern, pattern, pattern, pattern, limit),
    )
    return [_customer(r) for r in rows]


def get(conn: sqlite3.Connection, customer_id: int) -> Customer | None:
    """Return a customer."""
    row = conn.execute(f"SELECT {_FIELDS} FROM customers WHERE id = ?", (customer_id,)).fetchone()
    return _customer(row) if row is not None else None


def brief(conn: sqlite3.Connection, customer_id: int | None) -> CustomerBrief | None:
    """Return the short form of a customer the live list shows."""
    if customer_id is None:
        return None
    row = conn.execute(
        "SELECT id, name, tier, verified FROM customers WHERE id = ?", (customer_id,)
    ).fetchone()
    return CustomerBrief(row[0], row[1], row[2], bool(row[3])) if row is not None else None


def briefs(conn: sqlite3.Connection, customer_ids: list[int]) -> list[CustomerBrief]:
    """The short forms of some customers, by id."""
    if not customer_ids:
        return []
    rows = conn.execute(
        "SELECT id, name, tier, verified FROM customers"
        f" WHERE id IN ({', '.join('?' * len(customer_ids))}) ORDER BY id",
        tuple(customer_ids),
    )
    return [CustomerBrief(r[0], r[1], r[2], bool(r[3])) for r in rows]


def update(
    conn: sqlite3.Connection, customer_id: int, values: dict[str, str], now: int
) -> Customer | None:
    """Change some of a customer's fields (names checked by the caller); None if none."""
    sets = "".join(f"{k} = ?, " for k in values)
    row = conn.execute(
        f"UPDATE customers SET {sets}updated_at = ? WHERE id = ? RETURNING {_FIELDS}",
        (*values.values(), now, customer_id),
    ).fetchone()
    return _customer(row) if row is not None else None
