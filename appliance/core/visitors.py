"""Anonymous visitor identities: an id plus a token signed with the box's secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Callable
from typing import Any

from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import InvalidInput, NotFound
from appliance.core.routing import TIERS
from appliance.core.store import customers as customer_store
from appliance.core.store import visitors as visitor_store

_ID_PREFIX = "v_"
_MAX_TOKEN = 128


def new_id(prefix: str) -> str:
    """Return a random, URL-safe id with a type prefix."""
    return prefix + secrets.token_urlsafe(12)


class Visitors:
    """Issue and verify visitor tokens; the token is `<id>.<HMAC(id)>`, nothing stored."""

    def __init__(
        self,
        db: Database,
        secret: bytes,
        on_change: Callable[[list[str]], None] = lambda _ids: None,
    ) -> None:
        self._db = db
        self._secret = secret
        self._on_change = on_change  # visitors whose tier changed: the queue re-orders

    def _sign(self, visitor_id: str) -> str:
        mac = hmac.new(self._secret, visitor_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")

    def verify(self, token: str | None) -> str | None:
        """Return the visitor id a token proves, or None."""
        if not token or len(token) > _MAX_TOKEN or "." not in token:
            return None
        visitor_id, _, mac = token.partition(".")
        if not visitor_id.startswith(_ID_PREFIX):
            return None
        if not hmac.compare_digest(mac.encode(), self._sign(visitor_id).encode()):
            return None
        return visitor_id

    async def issue(self) -> tuple[str, str]:
        """Create a visitor; return (visitor_id, token)."""
        visitor_id = new_id(_ID_PREFIX)
        now = now_ms()

        def insert(conn: sqlite3.Connection) -> None:
            visitor_store.upsert(conn, visitor_id, now)

        await self._db.write(insert)
        return visitor_id, f"{visitor_id}.{self._sign(visitor_id)}"

    async def set_tier(self, visitor_id: str, tier: Any) -> str:
        """Set a visitor's customer tier (vip, member, new); queue priority follows.

        A visitor who is a known customer passes it to the customer, and so to every
        device of theirs."""
        if tier not in TIERS:
            raise InvalidInput(f"tier must be one of {', '.join(TIERS)}")

        def update(conn: sqlite3.Connection) -> list[str]:
            found = visitor_store.set_tier(conn, visitor_id, tier)
            if found is None:
                raise NotFound("no such visitor")
            customer_id = found[0]
            if customer_id is None:
                return [visitor_id]
            customer_store.update(conn, customer_id, {"tier": tier}, now_ms())
            return visitor_store.spread_tier(conn, customer_id, tier)

        await self._db.write(update, on_commit=self._on_change)
        return str(tier)
