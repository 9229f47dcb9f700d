"""Staff devices on the admin page: add (the profile and QR code shown once), list with
the latest handshake the relay saw, renew, revoke, and the default validity."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding

from appliance.core.errors import Conflict, InvalidInput
from appliance.relay import staff
from appliance.relay import state as relay_state
from appliance.relay.tls import console_ca
from appliance.webui.audit_views import admin_actor
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.keys import BOX, SETTINGS, STAFF_GUARD
from appliance.webui.security import json_error
from appliance.webui.wire import devices as wire

_LOGGER = logging.getLogger(__name__)


class NotEnrolled(Conflict):
    code = "not_enrolled"


def _relay_failed(err: staff.StaffError) -> web.Response:
    return json_error(502, "relay_error", str(err))


async def _enrolled(request: web.Request) -> relay_state.RelayState:
    state = await asyncio.to_thread(relay_state.load, request.app[SETTINGS].data_dir)
    if state is None:
        raise NotEnrolled("this box has not joined a relay yet: join one first")
    return state


async def list_devices(request: web.Request) -> web.Response:
    """Return every device with its state and latest handshake."""
    devices = request.app[BOX].devices
    state = await asyncio.to_thread(relay_state.load, request.app[SETTINGS].data_dir)
    seen: dict[str, staff.RelayDevice] = {}
    error = ""
    if state is not None:
        try:
            seen = await staff.at_relay(state)
        except staff.StaffError as err:
            error = str(err)
    now = devices.clock()
    listed = []
    for device in await devices.list():
        there = seen.get(device.name)
        # A name reused after a revoke: the relay's entry is the new key's.
        handshake = there.latest_handshake if there and device.revoked_at is None else 0
        listed.append(wire.device_out(device, now, handshake))
    return reply(wire.DeviceList(listed, await devices.expiry_days(), state is not None, error))


async def add_device(request: web.Request) -> web.Response:
    """Register a device at the relay; answer its profile, which the box keeps nowhere."""
    new = await read_body(request, wire.NewDevice)
    state = await _enrolled(request)
    box = request.app[BOX]
    try:
        profile = await staff.add(
            state, box.devices, new.name, owner=new.owner, days=new.days, by=admin_actor(request)
        )
    except staff.StaffError as err:
        return _relay_failed(err)
    await request.app[STAFF_GUARD].refresh()
    device = await box.devices.get(new.name)
    assert device is not None
    ca, _ = await asyncio.to_thread(console_ca, request.app[SETTINGS].data_dir)
    body = wire.AddedDevice(
        wire.device_out(device, box.devices.clock()),
        wire.Profile(
            config=profile.text,
            qr_svg=profile.qr_svg(),
            console_url=profile.console_url,
            console_ca=ca.public_bytes(Encoding.PEM).decode(),
        ),
    )
    _LOGGER.info("staff device %s added", new.name)
    return reply(body, 201)


async def renew_device(request: web.Request) -> web.Response:
    """Extend a device's validity from now (an expired one is let in again)."""
    renewal = await read_body(request, wire.Renewal)
    state = await _enrolled(request)
    devices = request.app[BOX].devices
    name = request.match_info["name"]
    current = await devices.get(name)
    if current is None:
        return json_error(404, "not_found", f"no staff device named {name!r}")
    if current.revoked_at is not None:
        raise InvalidInput(f"{name!r} was revoked: add the device again instead")
    try:
        device = await staff.renew(state, devices, name, renewal.days, by=admin_actor(request))
    except staff.StaffError as err:
        return _relay_failed(err)
    await request.app[STAFF_GUARD].refresh()
    return reply(wire.OneDevice(wire.device_out(device, devices.clock())))


async def revoke_device(request: web.Request) -> web.Response:
    """Cut a device off at the relay and on the box, for good (again: no change)."""
    state = await _enrolled(request)
    devices = request.app[BOX].devices
    name = request.match_info["name"]
    current = await devices.get(name)
    if current is None:
        return json_error(404, "not_found", f"no staff device named {name!r}")
    if current.revoked_at is None:
        try:
            await staff.revoke(state, devices, name, by=admin_actor(request))
        except staff.StaffError as err:
            return _relay_failed(err)
        await request.app[STAFF_GUARD].refresh()
    device = await devices.get(name)
    assert device is not None
    return reply(wire.OneDevice(wire.device_out(device, devices.clock())))


async def put_settings(request: web.Request) -> web.Response:
    """Change how many days new and renewed devices stay valid."""
    change = await read_body(request, wire.DeviceSettings)
    box = request.app[BOX]
    days = await box.devices.set_expiry_days(change.expiry_days)
    await box.audit.add(admin_actor(request), "devices.expiry_days", "", {"days": days})
    return reply(wire.DeviceSettings(days))


async def guard_ctx(app: web.Application) -> AsyncIterator[None]:
    """Keep the box's own list of admitted staff addresses while the app runs."""
    guard = app[STAFF_GUARD]
    await guard.start(app[BOX].devices, app[SETTINGS].data_dir)
    try:
        yield
    finally:
        await guard.stop()


_ADMINS = "Admins only (else 403), from the LAN only."
_TAG = "admin"
_RELAY = (
    "409 `not_enrolled` before the box joined a relay; 502 `relay_error` when the relay "
    "cannot be reached through the tunnel or refuses (the message says which)."
)

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/admin/devices",
            list_devices,
            "Staff devices with their state, expiry and latest handshake",
            _TAG,
            wire.DeviceList,
            errors=(401, 403),
            description=f"{_ADMINS} The latest handshake is the relay's (it is the "
            "devices' WireGuard peer); when the relay cannot be asked, `relay_error` says "
            "why and every handshake is null.",
        ),
        Operation(
            "POST",
            "/api/admin/devices",
            add_device,
            "Add a staff device; its WireGuard profile and QR code are in this answer only",
            _TAG,
            wire.AddedDevice,
            status=201,
            body=wire.NewDevice,
            errors=(401, 403, 409, 413, 422, 502),
            description=f"{_ADMINS} The private key is made on the box and exists only in "
            "`profile.config` (and its QR code): the box keeps the public key. The device "
            "expires `days` days from now (default: the `expiry_days` setting); the relay "
            f"is told the expiry and enforces it on its own clock. {_RELAY} 502 also when "
            "the relay refuses the name (one in use) or the key.",
        ),
        Operation(
            "POST",
            "/api/admin/devices/{name}/renew",
            renew_device,
            "Renew a staff device: valid for `days` from now",
            _TAG,
            wire.OneDevice,
            body=wire.Renewal,
            errors=(401, 403, 404, 409, 413, 422, 502),
            description=f"{_ADMINS} An expired device is let in again; a revoked one "
            f"cannot be renewed (422); 404 for an unknown name. {_RELAY}",
        ),
        Operation(
            "DELETE",
            "/api/admin/devices/{name}",
            revoke_device,
            "Revoke a staff device: cut off at once, for good",
            _TAG,
            wire.OneDevice,
            errors=(401, 403, 404, 409, 502),
            description=f"{_ADMINS} The relay removes the device's peer before it answers; "
            f"revoking a revoked device changes nothing. {_RELAY}",
        ),
        Operation(
            "PUT",
            "/api/admin/device-settings",
            put_settings,
            "Set how many days new and renewed staff devices stay valid",
            _TAG,
            wire.DeviceSettings,
            body=wire.DeviceSettings,
            errors=(401, 403, 413, 422),
            description=f"{_ADMINS} 1 to 3650 days; 90 until changed.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the staff device routes."""
    CONTRACT.install(app)
