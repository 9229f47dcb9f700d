"""The customer portal's sign-in: a one-time e-mailed link, or the host site's signed
identity; and the sessions that follow (docs/portal.md).

The link's answer never says whether an address is known (no account enumeration):
the caller gets the same answer, and a mail is queued only for a known customer. A
link works once, for LINK_TTL; its token, like a session's, is kept only as its
SHA-256, so a copy of the database signs nobody in. What a signed-in customer may see
and do is the ticket rules' (core/tickets.py, with a `PortalCustomer`), not this
module's.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance.core.actors import PortalCustomer
from appliance.core.clock import now_ms
from appliance.core.contact import normal_email
from appliance.core.customers import Customers
from appliance.core.db import Database
from appliance.core.errors import InvalidInput, NotFound, Replayed
from appliance.core.mail_out import MailOut
from appliance.core.ratelimit import RateLimited, RateLimiter
from appliance.core.store import customers as customer_store
from appliance.core.store import mail as mail_store
from appliance.core.store import portal as store
from appliance.core.visitor_records import Customer

_LOGGER = logging.getLogger(__name__)

LINK_TTL = 30 * 60_000  # ms an e-mailed sign-in link works
SESSION_TTL = 24 * 3600_000  # ms a portal session lasts
# Links mailed to one address: at most this many per window (counted in the database,
# so a restart does not reset it); more asks get the same answer and no mail.
ADDRESS_MAILS, ADDRESS_WINDOW = 3, 15 * 60_000  # mails, ms
# Link requests per client address: a burst, then one a minute (per second below).
CLIENT_RATE, CLIENT_BURST = 1 / 60, 5
_TOKEN_BYTES = 32
_TOKEN_MAX = 64  # characters of a token a client may present
_PRUNE_EVERY = 3600_000  # ms between sweeps of expired tokens and sessions
_SIGNED_IN = "portal"  # who used a site's signature, in identity_proofs (no visitor's id)


class InvalidEmail(InvalidInput):
    code = "email_invalid"


class LinkInvalid(NotFound):
    """A sign-in link that is unknown, used or expired: one answer for all three."""

    code = "link_invalid"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _plausible(token: Any) -> bool:
    return isinstance(token, str) and 0 < len(token) <= _TOKEN_MAX and token.isascii()


@dataclass(frozen=True, slots=True)
class PortalSession:
    """A signed-in customer: who they are, and their session's CSRF token."""

    actor: PortalCustomer
    customer: Customer
    csrf_token: str


class Portal:
    """Sign customers in to the portal by e-mailed link or signed identity."""

    def __init__(
        self,
        db: Database,
        customers: Customers,
        mail_out: MailOut,
        *,
        clock: Callable[[], int] = now_ms,
        monotonic: Callable[[], float] = time.monotonic,
        share_organisation: Callable[[], bool] = lambda: False,
    ) -> None:
        self._share_organisation = share_organisation  # the admin's switch, read each time
        self._db = db
        self._customers = customers
        self._mail = mail_out
        self._now = clock
        self._clients = RateLimiter(CLIENT_RATE, CLIENT_BURST, monotonic)
        self._pruned_at = 0

    async def request_link(self, email: Any, client: str, origin: str, lang: str) -> bool:
        """Mail a one-time sign-in link to a known customer's address. The caller
        answers the same whatever this returns (whether a mail was queued: for tests
        and logs only)."""
        if not isinstance(email, str) or len(email) > 254:
            raise InvalidEmail("email must be an e-mail address")
        address = normal_email(email.strip()) if email.strip() else None
        if address is None:
            raise InvalidEmail("email is not a valid e-mail address")
        wait = self._clients.hit(client)
        if wait > 0:
            raise RateLimited(wait)
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        now = self._now()

        def job(conn: sqlite3.Connection) -> bool:
            self._prune(conn, now)
            # Mail systems treat the local part without regard to case, and so do we.
            customer = customer_store.by_contact(conn, address, "") or customer_store.by_contact(
                conn, address.lower(), ""
            )
            if customer is None:
                return False
            key = customer.email.lower()
            if store.recent_tokens(conn, key, now - ADDRESS_WINDOW) >= ADDRESS_MAILS:
                return False
            smtp = mail_store.smtp(conn)
            if not smtp.from_address:
                return False
            store.add_token(conn, _hash(token), customer.id, key, now, now + LINK_TTL)
            values = {
                "name": customer.name,
                "link": f"{origin}/portal/sign-in/{token}",
                "minutes": str(LINK_TTL // 60_000),
            }
            self._mail.queue(
                conn, smtp, "portal_link", None, customer.email, values, now, lang=lang
            )
            return True

        queued: bool = await self._db.write(job)
        if queued:
            self._mail.wake()
        return queued

    async def link_is_live(self, token: Any) -> bool:
        """Tell whether a sign-in link would still work (for the page that asks to use
        it; a mail scanner's GET must not spend it)."""
        if not _plausible(token):
            return False
        digest, now = _hash(token), self._now()
        return await self._db.read(lambda conn: store.link_state(conn, digest, now))

    async def redeem_link(self, token: Any) -> str:
        """Spend a sign-in link and start a session; return the session's token."""
        if not _plausible(token):
            raise LinkInvalid("this sign-in link is not valid any more; ask for a new one")
        digest, now = _hash(token), self._now()
        session = secrets.token_urlsafe(_TOKEN_BYTES)

        def job(conn: sqlite3.Connection) -> None:
            row = store.use_token(conn, digest, now)
            if row is None:
                raise LinkInvalid("this sign-in link is not valid any more; ask for a new one")
            customer = customer_store.get(conn, row.customer_id)
            email = customer.email if customer is not None else ""
            self._start(conn, session, row.customer_id, email, now)

        await self._db.write(job)
        return session

    async def check_signed(self, data: dict[str, Any]) -> None:
        """Check the host site's signed identity without spending it (for the page that
        asks to use it); raise as `redeem_signed` would."""
        proof = await self._customers.check_proof(data)
        used = await self._db.read(lambda conn: customer_store.proof_user(conn, proof.sig))
        if used is not None:
            raise Replayed("this signed link was already used; ask the site for a new one")

    async def redeem_signed(self, data: dict[str, Any]) -> str:
        """Sign in with the host site's signed identity (once per signature); return
        the session's token."""
        proof = await self._customers.check_proof(data)
        now = self._now()
        session = secrets.token_urlsafe(_TOKEN_BYTES)

        def job(conn: sqlite3.Connection) -> None:
            # Recorded with the widget's: one signature, one use, in either.
            if customer_store.proof_user(conn, proof.sig) is not None:
                raise Replayed("this signed link was already used; ask the site for a new one")
            customer = customer_store.vouched(
                conn, proof.customer_id, proof.site, proof.name, proof.email, proof.phone, now
            )
            customer_store.add_proof(conn, proof.sig, _SIGNED_IN, customer.id, proof.expires_at)
            self._start(conn, session, customer.id, "", now)

        await self._db.write(job)
        return session

    def _start(
        self, conn: sqlite3.Connection, session: str, customer_id: int, email: str, now: int
    ) -> None:
        csrf = secrets.token_urlsafe(24)
        store.add_session(conn, _hash(session), customer_id, email, csrf, now, now + SESSION_TTL)

    async def session(self, token: Any, address: str) -> PortalSession | None:
        """Return the signed-in customer of a session token, or None."""
        if not _plausible(token):
            return None
        digest, now = _hash(token), self._now()

        def read(conn: sqlite3.Connection) -> PortalSession | None:
            row = store.session(conn, digest, now)
            if row is None:
                return None
            customer = customer_store.get(conn, row.customer_id)
            if customer is None:
                return None
            organisation = customer.organisation if self._share_organisation() else ""
            actor = PortalCustomer(row.customer_id, row.email, address, organisation)
            return PortalSession(actor, customer, row.csrf_token)

        return await self._db.read(read)

    async def sign_out(self, token: Any) -> None:
        """End a session."""
        if _plausible(token):
            digest = _hash(token)
            await self._db.write(lambda conn: store.end_session(conn, digest))

    def _prune(self, conn: sqlite3.Connection, now: int) -> None:
        if now - self._pruned_at >= _PRUNE_EVERY:
            self._pruned_at = now
            gone = store.prune(conn, now)
            if gone:
                _LOGGER.info("removed %d expired portal tokens and sessions", gone)
