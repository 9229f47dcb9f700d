"""Which ticket an incoming mail belongs to, in the order of trust:

1. our own token, in the Message-ID of every mail the box sends, come back in the
   reply's In-Reply-To or References: `<cb.TICKET.NONCE.SIG@domain>`, SIG an HMAC
   under a key derived from the box's secret, so a forged id names no ticket;
2. the ticket's tag in the subject, `[#T20261206-0007]`, only when the sender is the
   ticket's requester (anyone can type a tag; only the requester may use it);
3. the marker the box puts in the body of what it sends, `[ref:cb.TICKET.SIG]`, found
   in the quoted text of a reply whose client dropped the threading headers or whose
   provider rewrote our Message-ID.
"""

from __future__ import annotations

import hmac
import re
import secrets
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"callbox mail threading v1"
_SIG = 20  # hex characters of a signature (80 bits)
_TOKEN = re.compile(r"^cb\.(\d{1,12})\.([0-9a-z]{1,32})\.([0-9a-f]{20})@", re.IGNORECASE)
_MARKER = re.compile(r"\[ref:cb\.(\d{1,12})\.([0-9a-f]{20})\]", re.IGNORECASE)
_TAG = re.compile(r"\[#T?(\d{8}-\d{4,6})\]")


class Threading:
    """Signs and reads the box's threading tokens and markers."""

    def __init__(self, secret: bytes) -> None:
        self._key = HKDF(hashes.SHA256(), 32, salt=None, info=_INFO).derive(secret)

    def _sig(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), sha256).hexdigest()[:_SIG]

    def sign(self, purpose: str, text: str) -> str:
        """Return the signature of a text for a purpose other than threading (a rating
        link: core/mail_notices.py); the purpose keeps the two from standing in for
        each other."""
        return self._sig(f"{purpose}:{text}")

    def message_id(self, ticket_id: int, domain: str) -> str:
        """Return a new signed Message-ID (with its angle brackets) for a ticket's mail."""
        nonce = secrets.token_hex(8)
        return f"<cb.{ticket_id}.{nonce}.{self._sig(f'{ticket_id}.{nonce}')}@{domain}>"

    def ticket_of_id(self, message_id: str) -> int | None:
        """Return the ticket a signed Message-ID (without brackets) names, else None."""
        found = _TOKEN.match(message_id)
        if found is None:
            return None
        ticket, nonce, sig = found.groups()
        good = hmac.compare_digest(self._sig(f"{int(ticket)}.{nonce.lower()}"), sig.lower())
        return int(ticket) if good else None

    def ticket_of_ids(self, ids: tuple[str, ...]) -> int | None:
        """Return the ticket the newest signed id of a list names (References are oldest
        first), else None."""
        for one in reversed(ids):
            ticket = self.ticket_of_id(one)
            if ticket is not None:
                return ticket
        return None

    def marker(self, ticket_id: int) -> str:
        """Return the body marker of a ticket."""
        return f"[ref:cb.{ticket_id}.{self._sig(f'marker.{ticket_id}')}]"

    def ticket_of_marker(self, text: str) -> int | None:
        """Return the ticket of the last valid marker in a body, else None."""
        for found in reversed(list(_MARKER.finditer(text))):
            ticket = int(found.group(1))
            if hmac.compare_digest(self._sig(f"marker.{ticket}"), found.group(2).lower()):
                return ticket
        return None


def subject_tag(number: str) -> str:
    """Return the tag of a ticket number for a subject."""
    return f"[#T{number}]"


def number_in_subject(subject: str) -> str | None:
    """Return the ticket number tagged in a subject, else None."""
    found = _TAG.search(subject)
    return found.group(1) if found else None
