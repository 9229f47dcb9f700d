"""Join the box to a relay with a one-time token.

The token (made by `relay-server tenant add`) carries the relay's enrolment address,
the SHA-256 fingerprint of its certificate and a one-time secret. The box pins the
fingerprint, so no public certificate authority is involved, and sends only its new
WireGuard public key; the private key never leaves the box.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from appliance.core.box import write_private
from appliance.relay import state as relay_state
from appliance.relay.wireguard import generate_private_key, public_key

_TOKEN_PREFIX = "cbr1."  # noqa: S105 - a format marker, not a secret
_TIMEOUT = 20.0  # s for the enrolment request


class EnrolmentError(RuntimeError):
    """Enrolment failed; the message says why, without secrets."""


@dataclass(frozen=True, slots=True)
class Token:
    """The parts of an enrolment token (format documented in docs/relay-protocol.md)."""

    api: str
    fingerprint: str
    secret: str
    expires: int


def parse_token(text: str) -> Token:
    """Decode a printed enrolment token."""
    text = text.strip()
    if not text.startswith(_TOKEN_PREFIX) or len(text) > 1024:
        raise EnrolmentError("this is not a Callbox enrolment token")
    body = text[len(_TOKEN_PREFIX) :]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        token = Token(str(data["a"]), str(data["f"]), str(data["s"]), int(data["e"]))
        bytes.fromhex(token.fingerprint)
    except (ValueError, KeyError, TypeError) as err:
        raise EnrolmentError("the enrolment token is damaged") from err
    return token


def _api_address(token: Token, relay: str | None) -> str:
    """Use --relay HOST[:PORT] when given (DNS may not be set up yet), else the token's."""
    if not relay:
        return token.api
    if ":" in relay and not relay.startswith("["):
        return relay
    return f"{relay}:{token.api.rsplit(':', 1)[1]}"


async def enroll(data_dir: Path, token_text: str, relay: str | None) -> relay_state.RelayState:
    """Redeem the token with a new key pair; save the key and the relay's answer."""
    token = parse_token(token_text)
    private = generate_private_key()
    pinned = aiohttp.Fingerprint(bytes.fromhex(token.fingerprint))
    url = f"https://{_api_address(token, relay)}/v1/enrol"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_TIMEOUT)) as session,
            session.post(
                url, json={"secret": token.secret, "public_key": public_key(private)}, ssl=pinned
            ) as response,
        ):
            data = await response.json(content_type=None)
            if response.status != 200:
                message = data.get("error", {}).get("message", response.reason)
                raise EnrolmentError(f"the relay refused the enrolment: {message}")
    except aiohttp.ServerFingerprintMismatch as err:
        raise EnrolmentError("the relay's certificate does not match the token") from err
    except (aiohttp.ClientError, TimeoutError) as err:
        raise EnrolmentError(f"cannot reach the relay at {url}: {err}") from err
    try:
        state = relay_state.RelayState(
            tenant=data["tenant"],
            hostname=data["hostname"],
            network=data["network"],
            address=data["address"],
            overlay=data["overlay"],
            relay_address=data["relay_address"],
            relay_public_key=data["relay_public_key"],
            endpoint=_endpoint(data["endpoint"], relay),
            tunnel_api=data["tunnel_api"],
        )
    except (KeyError, TypeError) as err:
        raise EnrolmentError("the relay's answer is incomplete") from err
    await asyncio.to_thread(_store, data_dir, private, state)
    return state


def _store(data_dir: Path, private: str, state: relay_state.RelayState) -> None:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(data_dir / relay_state.KEY_FILE, private.encode())
    relay_state.save(data_dir, state)


def _endpoint(endpoint: str, relay: str | None) -> str:
    """Keep the relay's WireGuard port; use the --relay host if one was given."""
    if not relay:
        return endpoint
    host = relay.rsplit(":", 1)[0] if relay.count(":") == 1 else relay
    return f"{host}:{endpoint.rsplit(':', 1)[1]}"
