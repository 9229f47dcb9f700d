"""The relay's two small HTTP APIs.

- Enrolment (public, HTTPS with the relay's pinned certificate): an appliance spends
  its one-time token and registers its WireGuard public key.
- Tunnel API (plain HTTP bound to 100.64.0.1, so reachable only through WireGuard):
  the appliance registers and revokes staff devices. WireGuard's cryptokey routing
  only accepts a packet whose source address is inside the sending peer's allowed
  IPs, so a request from 100.64.N.1 was sent with tenant N's appliance key: the
  source address *is* the authentication.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from relay_server.keys import valid_public_key
from relay_server.registry import (
    MAX_EXPIRY,
    OVERLAY,
    RELAY_ADDRESS,
    KeyInUseError,
    Registry,
    RegistryError,
    Tenant,
)

_LOGGER = logging.getLogger(__name__)
_MAX_BODY = 4096  # bytes
_ENROL_ATTEMPTS = 10  # per address per window
_ENROL_WINDOW = 600.0  # s
_NAME_MAX = 64

REGISTRY: web.AppKey[Registry] = web.AppKey("registry", Registry)
ON_CHANGE: web.AppKey[Callable[[], Awaitable[None]]] = web.AppKey("on_change")
RELAY_INFO: web.AppKey[dict[str, Any]] = web.AppKey("relay_info", dict)
# Latest handshake (Unix seconds, 0 = never) of every peer, by public key.
HANDSHAKES: web.AppKey[Callable[[], dict[str, int]]] = web.AppKey("handshakes")


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > _MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=_MAX_BODY, actual_size=request.content_length)
    raw = await request.content.read(_MAX_BODY + 1)
    if len(raw) > _MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=_MAX_BODY, actual_size=len(raw))
    try:
        data = json.loads(raw or b"{}")
    except ValueError as err:
        raise web.HTTPBadRequest(reason="body is not JSON") from err
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(reason="body must be a JSON object")
    return data


class _Attempts:
    """Failed enrolments per address in a sliding window (bounds token guessing)."""

    def __init__(self) -> None:
        self._seen: dict[str, list[float]] = {}

    def blocked(self, address: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self._seen.get(address, []) if now - t < _ENROL_WINDOW]
        self._seen[address] = recent
        if len(self._seen) > 10_000:
            self._seen = {k: v for k, v in self._seen.items() if v}
        return len(recent) >= _ENROL_ATTEMPTS

    def failed(self, address: str) -> None:
        self._seen.setdefault(address, []).append(time.monotonic())


ATTEMPTS: web.AppKey[_Attempts] = web.AppKey("attempts", _Attempts)


async def enrol(request: web.Request) -> web.Response:
    """Redeem a one-time token against the appliance's public key."""
    address = request.remote or ""
    attempts = request.app[ATTEMPTS]
    if attempts.blocked(address):
        return _error(429, "rate_limited", "too many failed enrolments; try later")
    data = await _body(request)
    secret, key = data.get("secret"), data.get("public_key")
    if not isinstance(secret, str) or not valid_public_key(key):
        attempts.failed(address)
        return _error(422, "invalid", "secret and a WireGuard public_key are required")
    assert isinstance(key, str)
    try:
        tenant = request.app[REGISTRY].redeem(secret, key)
    except KeyInUseError as err:
        # The secret was right (the token stays unspent): not a guess to count.
        return _error(409, "key_in_use", str(err))
    except RegistryError as err:
        attempts.failed(address)
        return _error(403, "token_refused", str(err))
    _LOGGER.info("tenant %s enrolled an appliance", tenant.name)
    await request.app[ON_CHANGE]()
    info = request.app[RELAY_INFO]
    return web.json_response(
        {
            "tenant": tenant.name,
            "hostname": tenant.hostname,
            "network": str(tenant.network),
            "address": tenant.appliance_address,
            "overlay": str(OVERLAY),
            "relay_address": RELAY_ADDRESS,
            "relay_public_key": info["public_key"],
            "endpoint": info["endpoint"],
            "tunnel_api": info["tunnel_api"],
        }
    )


def _calling_tenant(request: web.Request) -> Tenant:
    tenant = request.app[REGISTRY].tenant_by_address(request.remote or "")
    if tenant is None:
        raise web.HTTPForbidden(reason="only a tenant's appliance may call this")
    return tenant


def _expiry(data: dict[str, Any], *, required: bool) -> int | None:
    """Return the body's `expires_at` (Unix seconds); None when absent and optional."""
    value = data.get("expires_at")
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < MAX_EXPIRY:
        raise ValueError("expires_at must be a positive whole number of Unix seconds")
    return value


async def list_staff(request: web.Request) -> web.Response:
    """List the calling tenant's staff devices, with expiry and latest handshake."""
    tenant = _calling_tenant(request)
    staff = request.app[REGISTRY].staff(tenant)
    handshakes = request.app[HANDSHAKES]()
    now = time.time()
    return web.json_response(
        {
            "staff": [
                {
                    "name": s.name,
                    "public_key": s.public_key,
                    "address": s.address,
                    "expires_at": s.expires_at,
                    "active": s.active(now),
                    "latest_handshake": handshakes.get(s.public_key, 0),
                }
                for s in staff
            ]
        }
    )


async def add_staff(request: web.Request) -> web.Response:
    """Register a staff device of the calling tenant."""
    tenant = _calling_tenant(request)
    data = await _body(request)
    name, key = data.get("name"), data.get("public_key")
    if not isinstance(name, str) or not 0 < len(name) <= _NAME_MAX or not valid_public_key(key):
        return _error(422, "invalid", "name (1-64 chars) and a WireGuard public_key are required")
    assert isinstance(key, str)
    try:
        expires_at = _expiry(data, required=False)
    except ValueError as err:
        return _error(422, "invalid", str(err))
    try:
        device = request.app[REGISTRY].add_staff(tenant, name, key, expires_at)
    except KeyInUseError as err:
        return _error(409, "key_in_use", str(err))
    except RegistryError as err:
        return _error(409, "conflict", str(err))
    await request.app[ON_CHANGE]()
    return web.json_response(
        {"name": device.name, "address": device.address, "expires_at": device.expires_at},
        status=201,
    )


async def renew_staff(request: web.Request) -> web.Response:
    """Set when a staff device expires; a renewed expired device is let in again."""
    tenant = _calling_tenant(request)
    data = await _body(request)
    try:
        expires_at = _expiry(data, required=True)
    except ValueError as err:
        return _error(422, "invalid", str(err))
    name = request.match_info["name"]
    if not request.app[REGISTRY].set_staff_expiry(tenant, name, expires_at):
        return _error(404, "not_found", "no such staff device")
    await request.app[ON_CHANGE]()
    return web.json_response({"name": name, "expires_at": expires_at})


async def remove_staff(request: web.Request) -> web.Response:
    """Revoke a staff device: its peer is removed before this answers."""
    tenant = _calling_tenant(request)
    if not request.app[REGISTRY].remove_staff(tenant, request.match_info["name"]):
        return _error(404, "not_found", "no such staff device")
    await request.app[ON_CHANGE]()
    return web.json_response({"revoked": request.match_info["name"]})


async def status(request: web.Request) -> web.Response:
    """Answer the appliance's tunnel health check."""
    tenant = _calling_tenant(request)
    return web.json_response({"tenant": tenant.name, "time": int(time.time())})


def enrolment_app(
    registry: Registry, on_change: Callable[[], Awaitable[None]], info: dict[str, Any]
) -> web.Application:
    """Return the public enrolment app."""
    app = web.Application(client_max_size=_MAX_BODY)
    app[REGISTRY] = registry
    app[ON_CHANGE] = on_change
    app[RELAY_INFO] = info
    app[ATTEMPTS] = _Attempts()
    app.router.add_post("/v1/enrol", enrol)
    return app


def tunnel_app(
    registry: Registry,
    on_change: Callable[[], Awaitable[None]],
    handshakes: Callable[[], dict[str, int]] = dict,
) -> web.Application:
    """Return the tunnel-only API app."""
    app = web.Application(client_max_size=_MAX_BODY)
    app[REGISTRY] = registry
    app[ON_CHANGE] = on_change
    app[HANDSHAKES] = handshakes
    app.router.add_get("/v1/status", status)
    app.router.add_get("/v1/staff", list_staff)
    app.router.add_post("/v1/staff", add_staff)
    app.router.add_put("/v1/staff/{name}", renew_staff)
    app.router.add_delete("/v1/staff/{name}", remove_staff)
    return app
