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
import re
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
from appliance.core.routing import TIERS
from appliance.core.store import conversations as conversation_store
from appliance.core.store import customers as customer_store
from appliance.core.store import visitors as visitor_store
from appliance.core.store import visits as visit_store
from appliance.core.validate import text, whole
from appliance.core.visitor_records import Customer, CustomerProfile

PROOF_MAX_AGE_S = 600  # a signature older than this is refused
PROOF_SKEW_S = 60  # how far in the future a signature's time may be (clock drift)
_ID_MAX = 128
_SIG_HEX = re.compile(r"^[0-9a-f]{64}$")
_HISTORY = 50

SecretOf = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Proof:
    """A host site's signed identity of a customer, checked."""

    site: str
    customer_id: str  # the site's own id of the customer
    ts: int  # unix seconds it was signed at
    sig: str
    name: str
    email: str
    phone: str

    @property
    def expires_at(self) -> int:
        """When it stops being accepted (UTC ms)."""
        return (self.ts + PROOF_MAX_AGE_S + PROOF_SKEW_S) * 1000


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

    async def check_proof(self, data: dict[str, Any]) -> Proof:
        """Return a host site's signed identity checked (signature and age); raise on a
        bad one. Whether it was used before is the caller's to record and refuse."""
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
        return Proof(site, customer_id, ts, sig, name, email, phone)

    async def identify(self, visitor_id: str, data: dict[str, Any]) -> Customer:
        """Link a visitor to the customer a host site vouches for; raise on a bad proof."""
        proof = await self.check_proof(data)
        site, customer_id, ts, sig = proof.site, proof.customer_id, proof.ts, proof.sig
        name, email, phone = proof.name, proof.email, proof.phone
        now = now_ms()

        def job(conn: sqlite3.Connection) -> Customer:
            used = customer_store.proof_user(conn, sig)
            if used is not None and used != visitor_id:
                raise Replayed("this customer signature was already used")
            customer = customer_store.vouched(conn, customer_id, site, name, email, phone, now)
            if used is None:
                expires = (ts + PROOF_MAX_AGE_S + PROOF_SKEW_S) * 1000
                customer_store.add_proof(conn, sig, visitor_id, customer.id, expires)
            _link(conn, visitor_id, customer, now)
            return customer

        customer: Customer = await self._db.write(job)
        self._on_change([visitor_id])
        return customer

    async def from_prechat(self, visitor_id: str, name: Any, contact: Any) -> Customer | None:
        """Make a visitor who typed a contact a (not verified) customer; return it."""
        email, phone = split_contact(contact)
        if not email and not phone:
            return None
        name = text(name, "name", 64)
        now = now_ms()

        def job(conn: sqlite3.Connection) -> Customer:
            visitor_store.upsert(conn, visitor_id, now, seen=False)
            known = visitor_store.known(conn, visitor_id)
            linked = known.customer_id if known is not None else None
            if linked is not None:
                # Fill what the profile lacks; a typed contact never overwrites one.
                return customer_store.fill(conn, linked, name, email, phone, now)
            customer = customer_store.create(conn, name, email, phone, now)
            _link(conn, visitor_id, customer, now)
            return customer

        customer: Customer = await self._db.write(job)
        self._on_change([visitor_id])
        return customer

    async def search(self, q: Any, limit: int = 50) -> list[Customer]:
        """Find customers by name, e-mail, phone or external id."""
        needle = text(q, "q", 100)
        wanted = max(1, min(limit, 200))
        return await self._db.read(lambda conn: customer_store.search(conn, needle, wanted))

    async def profile(self, customer_id: int) -> CustomerProfile:
        """Return a customer with every device's visits and conversations."""
        found = await self._db.read(lambda conn: read_profile(conn, customer_id))
        if found is None:
            raise NotFound("no such customer")
        return found

    async def update(self, customer_id: int, data: Any) -> Customer:
        """Edit a customer's contact data, tier or notes."""
        if not isinstance(data, dict):
            raise InvalidInput("body must be an object")
        unknown = set(data) - {"name", "email", "phone", "tier", "notes", "organisation"}
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
        if "organisation" in data:
            values["organisation"] = " ".join(
                text(data["organisation"], "organisation", 100).split()
            )
        if "tier" in data:
            if data["tier"] not in TIERS:
                raise InvalidInput(f"tier must be one of {', '.join(TIERS)}")
            values["tier"] = data["tier"]
        now = now_ms()

        def job(conn: sqlite3.Connection) -> tuple[Customer, list[str]]:
            customer = customer_store.update(conn, customer_id, values, now)
            if customer is None:
                raise NotFound("no such customer")
            return customer, visitor_store.spread_tier(conn, customer_id, customer.tier)

        customer, changed = await self._db.write(job)
        self._on_change(changed)
        return customer


def read_profile(conn: sqlite3.Connection, customer_id: int) -> CustomerProfile | None:
    """Read a customer with every device's latest visits and conversations."""
    customer = customer_store.get(conn, customer_id)
    if customer is None:
        return None
    return CustomerProfile(
        customer,
        tuple(visitor_store.of_customer(conn, customer_id)),
        tuple(visit_store.of_customer(conn, customer_id, _HISTORY)),
        tuple(conversation_store.chats_of_customer(conn, customer_id, _HISTORY)),
    )


def _link(conn: sqlite3.Connection, visitor_id: str, customer: Customer, now: int) -> None:
    """Attach a visitor to a customer; the customer's tier becomes the visitor's."""
    visitor_store.upsert(conn, visitor_id, now, seen=False)
    visitor_store.link(conn, visitor_id, customer.id, customer.tier)
