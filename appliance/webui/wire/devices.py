"""Shapes of the staff devices API (admin page)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core.devices import EXPIRY_DAYS_RANGE, OWNER_MAX, Device
from appliance.webui.wire import Time, wire_time

DeviceName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern="^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="1-64 letters, digits, '.', '_' or '-' (it names the profile file)",
    ),
]
Days = Annotated[
    int,
    msgspec.Meta(
        ge=EXPIRY_DAYS_RANGE[0],
        le=EXPIRY_DAYS_RANGE[1],
        description="days the device stays valid from now (default: expiry_days)",
    ),
]
Owner = Annotated[str, msgspec.Meta(max_length=OWNER_MAX, description="who carries it")]


class StaffDevice(msgspec.Struct):
    """A staff device as the admin page lists it."""

    name: str
    owner: str
    address: str
    state: Literal["active", "expired", "revoked"]
    created_at: Time
    expires_at: Time | None
    renewed_at: Time | None
    revoked_at: Time | None
    latest_handshake: Annotated[
        Time | None,
        msgspec.Meta(description="the device's latest WireGuard handshake with the relay"),
    ]


class DeviceList(msgspec.Struct):
    """Every device, newest first, and what the relay said (its error, if unreachable)."""

    devices: list[StaffDevice]
    expiry_days: int
    enrolled: bool
    relay_error: str


class NewDevice(msgspec.Struct, forbid_unknown_fields=True):
    """A device to add."""

    name: DeviceName
    owner: Owner = ""
    days: Days | None = None


class Renewal(msgspec.Struct, forbid_unknown_fields=True):
    """How long a renewed device stays valid."""

    days: Days | None = None


class Profile(msgspec.Struct):
    """A new device's WireGuard profile: shown once, kept nowhere on the box."""

    config: Annotated[str, msgspec.Meta(description="the profile file; holds the private key")]
    qr_svg: Annotated[str, msgspec.Meta(description="the profile as a QR code: an SVG data URI")]
    console_url: str
    console_ca: Annotated[str, msgspec.Meta(description="PEM of the CA the device must trust")]


class AddedDevice(msgspec.Struct):
    device: StaffDevice
    profile: Profile


class OneDevice(msgspec.Struct):
    device: StaffDevice


class DeviceSettings(msgspec.Struct, forbid_unknown_fields=True):
    """How many days a new or renewed device stays valid (default 90)."""

    expiry_days: Annotated[int, msgspec.Meta(ge=EXPIRY_DAYS_RANGE[0], le=EXPIRY_DAYS_RANGE[1])]


def device_out(device: Device, now: int, handshake: int = 0) -> StaffDevice:
    """Return the wire form of a device; `handshake` in Unix seconds, 0 = never."""
    return StaffDevice(
        name=device.name,
        owner=device.owner,
        address=device.address,
        state=device.state(now),  # type: ignore[arg-type]
        created_at=wire_time(device.created_at),
        expires_at=wire_time(device.expires_at),
        renewed_at=wire_time(device.renewed_at),
        revoked_at=wire_time(device.revoked_at),
        latest_handshake=wire_time(handshake * 1000) if handshake else None,
    )
