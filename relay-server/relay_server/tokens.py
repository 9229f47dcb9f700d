"""Enrolment tokens: everything an appliance needs to find and trust the relay, once.

`cbr1.` + base64url(JSON) with the relay's enrolment address, the SHA-256 fingerprint
of its API certificate (the appliance pins it, no public CA needed), the tenant's
one-time secret and the expiry. The relay stores only the secret's hash.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

PREFIX = "cbr1."


class TokenError(ValueError):
    """Not a token this version understands."""


@dataclass(frozen=True, slots=True)
class EnrolmentToken:
    """The parts of an enrolment token."""

    api: str  # host:port of the relay's enrolment endpoint
    fingerprint: str  # hex SHA-256 of the relay's API certificate (DER)
    secret: str
    expires: int  # Unix time

    def encode(self) -> str:
        """Return the printable token."""
        data = {"a": self.api, "f": self.fingerprint, "s": self.secret, "e": self.expires}
        raw = json.dumps(data, separators=(",", ":")).encode()
        return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> EnrolmentToken:
    """Parse a printed token."""
    token = token.strip()
    if not token.startswith(PREFIX) or len(token) > 1024:
        raise TokenError("not a Callbox enrolment token")
    body = token[len(PREFIX) :]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        parsed = EnrolmentToken(str(data["a"]), str(data["f"]), str(data["s"]), int(data["e"]))
    except (ValueError, KeyError, TypeError) as err:
        raise TokenError("the enrolment token is damaged") from err
    if len(parsed.fingerprint) != 64:
        raise TokenError("the enrolment token is damaged")
    return parsed
