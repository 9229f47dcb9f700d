"""Known customers: identified by the host site's signature or by the pre-chat form.

A host site that knows who is logged in passes the customer's id with a signature:
hex HMAC-SHA256(site secret, "<customer_id>:<unix seconds>"). The box accepts it for
a few minutes after it was made, and only for the first visitor who presents it, so a
copied signature cannot identify someone else. A visitor who types a contact into the
pre-chat form becomes a customer too, but not a verified one: typed contacts never
join a profile somebody else owns.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from appliance.core.clock import now_ms
from appliance.core.contact import normal_email, normal_phone
from appliance.core.db import Database
from appliance.core.errors import (
    BadSignature,
    ContactInvalid,
    Expired,
    InvalidInput,
    NotFound,
    Replayed,
)
from appliance.core.insight import VISIT_COLUMNS, visit_json
from appliance.core.routing import TIERS
from appliance.core.store import visitors as visitor_store
from appliance.core.validate import text, whole

PROOF_MAX_AGE_S = 600  # a signature older than this is refused
PROOF_SKEW_S = 60  # how far in the future a signature's time may be (clock drift)
_ID_MAX = 128
_SIG_HEX = re.compile(r"^[0-9a-f]{64}$")
_HISTORY = 50

SecretOf = Callable[[str], Awaitable[str | None]]


def sign(secret: str, customer_id: str, ts: int) -> str:
    """Return the signature a host site sends with a customer id (hex HMAC-SHA256)."""
    message = f"{customer_id}:{ts}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def split_contact(value: Any) -> tuple[str, str]:
    """Return (email, phone) from a typed contact; one of them is empty."""
    contact = text(value, "contact", 254)
    if not contact:
        return "", ""
    if "@" in contact:
        email = normal_email(contact)
        if email is None:
            raise ContactInvalid("contact is not a valid e-mail address")
        return email, ""
    phone = normal_phone(contact)
    if phone is None:
        raise ContactInvalid("contact must be a phone number or an e-mail address")
    return "", phone


def _email(value: Any) -> str:
    email = text(value, "email", 254)
    if not email:
        return ""
    normal = normal_email(email)
    if normal is None:
        raise InvalidInput("email is not a valid e-mail address")
    return normal


def _phone(value: Any) -> str:
    phone = text(value, "phone", 32)
    if not phone:
        return ""
    normal = normal_phone(phone)
    if normal is None:
        raise InvalidInput("phone is not a valid phone number")
    return normal


_PROFILE_FIELDS = "id, external_id, site, name, email, phone, tier, notes, verified, created_at"


def _brief(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "external_id": row["external_id"],
        "site": row["site"],
        "name": row["name"],
        "email": row["email"],
        "phone": row["phone"],
        "tier": row["tier"],
        "notes": row["notes"],
        "verified": bool(row["verified"]),
        "created_at": row["created_at"],
    }


class Customers:
    """Identify visitors as customers; read and edit customer profiles."""

    def __init__(
        self,
        db: Database,
        secret_of: SecretOf,
        on_change: Callable[[list[str]], None] = lambda _ids: None,
    ) -> None:
        self._db = db
        self._secret_of = secret_of
        self._on_change = on_change  # visitor ids whose customer or tier changed

    async def identify(self, visitor_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Link a visitor to the customer a host site vouches for; raise on a bad proof."""
        site = text(data.get("site"), "site", 32) or "default"
        customer_id = text(data.get("customer_id"), "customer_id", _ID_MAX, required=True)
        ts = whole(data.get("ts"), "ts", 0, 2**40)
        sig = text(data.get("sig"), "sig", 64, required=True).lower()
        name = text(data.get("name"), "name", 64)
        email = _email(data.get("email"))
        phone = _phone(data.get("phone"))
        secret = await self._secret_of(site)
        if secret is None:
            raise InvalidInput("unknown site")
        if not _SIG_HEX.match(sig) or not hmac.compare_digest(sig, sign(secret, customer_id, ts)):
            raise BadSignature("the customer signature is not valid")
        now = now_ms()
        if not -PROOF_SKEW_S <= now // 1000 - ts <= PROOF_MAX_AGE_S:
            raise Expired("the customer signature has expired; sign it again")

        def job(conn: sqlite3.Connection) -> tuple[dict[str, Any], list[str]]:
            used = conn.execute(
                "SELECT visitor_id FROM identity_proofs WHERE sig = ?", (sig,)
            ).fetchone()
            if used is not None and used[0] != visitor_id:
                raise Replayed("this customer signature was already used")
            row = conn.execute(
                "INSERT INTO customers (external_id, site, name, email, phone, verified,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT (external_id) DO UPDATE SET"
                " name = CASE WHEN name = '' THEN excluded.name ELSE name END,"
                " email = CASE WHEN email = '' THEN excluded.email ELSE email END,"
                " phone = CASE WHEN phone = '' THEN excluded.phone ELSE phone END,"
                " verified = 1, updated_at = excluded.updated_at"
                f" RETURNING {_PROFILE_FIELDS}",
                (customer_id, site, name, email, phone, now, now),
            ).fetchone()
            if used is None:
                conn.execute(
                    "INSERT INTO identity_proofs (sig, visitor_id, customer_id, expires_at)"
                    " VALUES (?, ?, ?, ?)",
                    (sig, visitor_id, row["id"], (ts + PROOF_MAX_AGE_S + PROOF_SKEW_S) * 1000),
                )
            _link(conn, visitor_id, row["id"], row["tier"], now)
            return _brief(row), [visitor_id]

        customer, changed = await self._db.write(job)
        self._on_change(changed)
        return customer

    async def from_prechat(self, visitor_id: str, name: Any, contact: Any) -> dict[str, Any] | None:
        """Make a visitor who typed a contact a (not verified) customer; return it."""
        email, phone = split_contact(contact)
        if not email and not phone:
            return None
        name = text(name, "name", 64)
        now = now_ms()

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            visitor_store.upsert(conn, visitor_id, now, seen=False)
            linked = conn.execute(
                "SELECT customer_id FROM visitors WHERE id = ?", (visitor_id,)
            ).fetchone()[0]
            if linked is not None:
                # Fill what the profile lacks; a typed contact never overwrites one.
                row = conn.execute(
                    "UPDATE customers SET"
                    " name = CASE WHEN name = '' THEN ? ELSE name END,"
                    " email = CASE WHEN email = '' THEN ? ELSE email END,"
                    " phone = CASE WHEN phone = '' THEN ? ELSE phone END, updated_at = ?"
                    f" WHERE id = ? RETURNING {_PROFILE_FIELDS}",
                    (name, email, phone, now, linked),
                ).fetchone()
            else:
                row = conn.execute(
                    "INSERT INTO customers (name, email, phone, created_at, updated_at)"
                    f" VALUES (?, ?, ?, ?, ?) RETURNING {_PROFILE_FIELDS}",
                    (name, email, phone, now, now),
                ).fetchone()
                _link(conn, visitor_id, row["id"], row["tier"], now)
            return _brief(row)

        customer: dict[str, Any] = await self._db.write(job)
        self._on_change([visitor_id])
        return customer

    async def search(self, q: Any, limit: int = 50) -> list[dict[str, Any]]:
        """Find customers by name, e-mail, phone or external id."""
        needle = text(q, "q", 100)
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = await self._db.fetchall(
            f"SELECT {_PROFILE_FIELDS} FROM customers WHERE name LIKE ? ESCAPE '\\'"
            " OR email LIKE ? ESCAPE '\\' OR phone LIKE ? ESCAPE '\\'"
            " OR external_id LIKE ? ESCAPE '\\' ORDER BY updated_at DESC LIMIT ?",
            (pattern, pattern, pattern, pattern, max(1, min(limit, 200))),
        )
        return [_brief(r) for r in rows]

    async def profile(self, customer_id: int) -> dict[str, Any]:
        """Return a customer with every device's visits and conversations."""

        def read(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(
                f"SELECT {_PROFILE_FIELDS} FROM customers WHERE id = ?", (customer_id,)
            ).fetchone()
            if row is None:
                return None
            data = _brief(row)
            visitors = conn.execute(
                "SELECT id, created_at, last_seen_at, visits, device FROM visitors"
                " WHERE customer_id = ? ORDER BY last_seen_at DESC",
                (customer_id,),
            ).fetchall()
            data["visitors"] = [
                {
                    "id": v["id"],
                    "first_seen_at": v["created_at"],
                    "last_seen_at": v["last_seen_at"],
                    "visits": v["visits"],
                    "device": json.loads(v["device"] or "{}"),
                }
                for v in visitors
            ]
            data["visits"] = [
                {**visit_json(r), "visitor_id": r["visitor_id"]}
                for r in conn.execute(
                    f"SELECT {VISIT_COLUMNS}, visitor_id FROM visits WHERE visitor_id IN"
                    " (SELECT id FROM visitors WHERE customer_id = ?)"
                    " ORDER BY started_at DESC LIMIT ?",
                    (customer_id, _HISTORY),
                )
            ]
            data["conversations"] = [
                dict(r)
                for r in conn.execute(
                    "SELECT c.id, c.visitor_id, c.status, c.created_at, c.closed_at,"
                    " c.agent_id, u.display_name AS agent FROM conversations c"
                    " LEFT JOIN users u ON u.id = c.agent_id WHERE c.visitor_id IN"
                    " (SELECT id FROM visitors WHERE customer_id = ?)"
                    " ORDER BY c.created_at DESC LIMIT ?",
                    (customer_id, _HISTORY),
                )
            ]
            return data

        found: dict[str, Any] | None = await self._db.read(read)
        if found is None:
            raise NotFound("no such customer")
        return found

    async def update(self, customer_id: int, data: Any) -> dict[str, Any]:
        """Edit a customer's contact data, tier or notes."""
        if not isinstance(data, dict):
            raise InvalidInput("body must be an object")
        unknown = set(data) - {"name", "email", "phone", "tier", "notes"}
        if unknown:
            raise InvalidInput(f"unknown field {sorted(unknown)[0]}")
        values: dict[str, Any] = {}
        if "name" in data:
            values["name"] = text(data["name"], "name", 64)
        if "email" in data:
            values["email"] = _email(data["email"])
        if "phone" in data:
            values["phone"] = _phone(data["phone"])
        if "notes" in data:
            values["notes"] = text(data["notes"], "notes", 4000)
        if "tier" in data:
            if data["tier"] not in TIERS:
                raise InvalidInput(f"tier must be one of {', '.join(TIERS)}")
            values["tier"] = data["tier"]
        now = now_ms()

        def job(conn: sqlite3.Connection) -> tuple[dict[str, Any], list[str]]:
            sets = ", ".join(f"{k} = ?" for k in values)
            row = conn.execute(
                f"UPDATE customers SET {sets}{', ' if sets else ''}updated_at = ?"
                f" WHERE id = ? RETURNING {_PROFILE_FIELDS}",
                (*values.values(), now, customer_id),
            ).fetchone()
            if row is None:
                raise NotFound("no such customer")
            return _brief(row), spread_tier(conn, customer_id, row["tier"])

        customer, changed = await self._db.write(job)
        self._on_change(changed)
        return customer


def spread_tier(conn: sqlite3.Connection, customer_id: int, tier: str) -> list[str]:
    """Give a customer's tier to every visitor (device) of theirs; return their ids."""
    rows = conn.execute(
        "UPDATE visitors SET tier = ? WHERE customer_id = ? RETURNING id", (tier, customer_id)
    ).fetchall()
    return [r[0] for r in rows]


def _link(conn: sqlite3.Connection, visitor_id: str, customer_id: int, tier: str, now: int) -> None:
    """Attach a visitor to a customer; the customer's tier becomes the visitor's."""
    visitor_store.upsert(conn, visitor_id, now, seen=False)
    conn.execute(
        "UPDATE visitors SET customer_id = ?, tier = ? WHERE id = ?",
        (customer_id, tier, visitor_id),
    )
