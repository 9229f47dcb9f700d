"""Staff devices: a WireGuard profile (file + QR) made on the box, registered at the
relay over the tunnel with its expiry. The relay never sees a device's private key
or its config; the admin page shows the profile once and keeps no copy."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import segno

from appliance.core.audit import Actor
from appliance.core.box import write_private
from appliance.core.devices import Device, Devices, check_owner
from appliance.relay.state import RelayState
from appliance.relay.tls import CA_CERT, TLS_DIR, console_ca
from appliance.relay.tunnel import KEEPALIVE
from appliance.relay.wireguard import generate_private_key, public_key

CONSOLE_TLS_PORT = 8443  # the only port the relay forwards staff traffic to
STAFF_DIR = "staff"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TIMEOUT = aiohttp.ClientTimeout(total=10)
_LIST_TIMEOUT = aiohttp.ClientTimeout(total=3)  # the admin page waits no longer


class StaffError(RuntimeError):
    """A staff device operation that failed, with a clear reason."""


@dataclass(frozen=True, slots=True)
class Profile:
    """A new device's profile, made once: the private key is in `text` only."""

    name: str
    address: str
    text: str  # the WireGuard app's profile (it holds the device's private key)
    qr: segno.QRCode
    console_url: str
    expires_at: int  # UTC ms

    def qr_svg(self) -> str:
        """Return the QR code as an SVG data URI (for an <img>)."""
        out = io.BytesIO()
        self.qr.save(out, kind="svg", scale=5, border=2, xmldecl=False)
        return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()

    def qr_terminal(self) -> str:
        """Return the QR code drawn with characters, for a terminal."""
        out = io.StringIO()
        self.qr.terminal(out=out, compact=True)
        return out.getvalue()


@dataclass(frozen=True, slots=True)
class RelayDevice:
    """What the relay says of one device: its expiry and latest handshake."""

    name: str
    expires_at: int | None  # Unix seconds
    active: bool
    latest_handshake: int  # Unix seconds, 0 = never


def render_config(private_key: str, address: str, relay: RelayState) -> str:
    """Return a stock WireGuard app profile for a staff device (pure)."""
    return (
        "[Interface]\n"
        f"PrivateKey = {private_key}\n"
        f"Address = {address}/32\n"
        "\n"
        "[Peer]\n"
        f"PublicKey = {relay.relay_public_key}\n"
        f"AllowedIPs = {relay.address}/32\n"
        f"Endpoint = {relay.endpoint}\n"
        f"PersistentKeepalive = {KEEPALIVE}\n"
    )


def check_name(name: object) -> str:
    """Validate a device name (it becomes a file name)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise StaffError("a device name is 1-64 letters, digits, '.', '_' or '-'")
    return name


def _seconds(ms: int) -> int:
    """UTC ms -> the relay's Unix seconds, rounded up (never earlier than the box's)."""
    return -(-ms // 1000)


async def _call(
    method: str, url: str, limit: aiohttp.ClientTimeout = _TIMEOUT, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    try:
        async with (
            aiohttp.ClientSession(timeout=limit) as session,
            session.request(method, url, **kwargs) as response,
        ):
            data = await response.json(content_type=None)
            return response.status, data if isinstance(data, dict) else {}
    except (aiohttp.ClientError, TimeoutError, ValueError) as err:
        raise StaffError(f"the relay is not reachable through the tunnel: {err}") from err


def _refusal(status: int, data: dict[str, Any]) -> str:
    error = data.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or f"status {status}")


async def add(
    relay: RelayState,
    devices: Devices,
    name: str,
    *,
    owner: str = "",
    days: int | None = None,
    by: Actor | None = None,
) -> Profile:
    """Register a device at the relay with its expiry; record it (and, with `by`, who
    added it in the admin audit log); return its profile."""
    check_name(name)
    owner = check_owner(owner)  # checked before the relay hears of the device
    expires_at = await devices.expiry(days)
    private = generate_private_key()
    status, data = await _call(
        "POST",
        f"{relay.tunnel_api}/v1/staff",
        json={"name": name, "public_key": public_key(private), "expires_at": _seconds(expires_at)},
    )
    if status != 201:
        raise StaffError(f"the relay refused the device: {_refusal(status, data)}")
    address = str(data["address"])
    await devices.add(name, public_key(private), address, owner=owner, expires_at=expires_at, by=by)
    text = render_config(private, address, relay)
    return Profile(
        name=name,
        address=address,
        text=text,
        qr=segno.make(text, error="m"),
        console_url=f"https://{relay.address}:{CONSOLE_TLS_PORT}/console",
        expires_at=expires_at,
    )


async def save_profile(data_dir: Path, profile: Profile) -> tuple[Path, Path, Path]:
    """Write a profile and its QR code (0600) for the CLI; return them and the CA file."""
    config, png = await asyncio.to_thread(_write_profile, data_dir, profile)
    return config, png, data_dir / TLS_DIR / CA_CERT


def _write_profile(data_dir: Path, profile: Profile) -> tuple[Path, Path]:
    folder = data_dir / STAFF_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = folder / f"{profile.name}.conf"
    write_private(config, profile.text.encode())
    png = folder / f"{profile.name}.png"
    image = io.BytesIO()
    profile.qr.save(image, kind="png", scale=6, border=2)
    write_private(png, image.getvalue())
    console_ca(data_dir)  # the CA staff install to trust the console
    return config, png


async def renew(
    relay: RelayState, devices: Devices, name: str, days: int | None, by: Actor | None = None
) -> Device:
    """Extend a device's validity at the relay, then on the box (`by`: who, for the
    admin audit log)."""
    check_name(name)
    current = await devices.get(name)
    if current is None or current.revoked_at is not None:
        raise StaffError(f"no staff device named {name!r} that is not revoked")
    expires_at = await devices.expiry(days)
    await push_expiry(relay, name, expires_at)
    return await devices.renew(name, expires_at, by=by)


async def push_expiry(relay: RelayState, name: str, expires_at: int) -> None:
    """Tell the relay when a device expires."""
    status, data = await _call(
        "PUT", f"{relay.tunnel_api}/v1/staff/{name}", json={"expires_at": _seconds(expires_at)}
    )
    if status != 200:
        raise StaffError(f"the relay did not take the new expiry: {_refusal(status, data)}")


async def revoke(relay: RelayState, devices: Devices, name: str, by: Actor | None = None) -> None:
    """Remove the device at the relay (cut off at once) and mark it revoked.

    `by`: who revokes it, recorded in the admin audit log when the box had it active.
    """
    check_name(name)
    status, _ = await _call("DELETE", f"{relay.tunnel_api}/v1/staff/{name}")
    if status not in (200, 404):
        raise StaffError(f"the relay did not revoke the device (status {status})")
    if not await devices.revoke(name, by=by) and status == 404:
        raise StaffError(f"no staff device named {name!r}")


async def at_relay(relay: RelayState) -> dict[str, RelayDevice]:
    """Return the relay's view of this box's devices, by name."""
    status, data = await _call("GET", f"{relay.tunnel_api}/v1/staff", _LIST_TIMEOUT)
    if status != 200:
        raise StaffError(f"the relay did not list the devices: {_refusal(status, data)}")
    found = {}
    for item in data.get("staff", []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        expires = item.get("expires_at")
        found[item["name"]] = RelayDevice(
            name=item["name"],
            expires_at=expires if isinstance(expires, int) else None,
            active=bool(item.get("active", True)),
            latest_handshake=int(item.get("latest_handshake") or 0),
        )
    return found


async def reconcile(relay: RelayState, devices: Devices) -> int:
    """Send the relay every expiry it lacks (an upgrade, a renewal it missed); count them."""
    listed = await at_relay(relay)
    sent = 0
    for device in await devices.list():
        there = listed.get(device.name)
        if device.revoked_at is not None or device.expires_at is None or there is None:
            continue
        if there.expires_at != _seconds(device.expires_at):
            await push_expiry(relay, device.name, device.expires_at)
            sent += 1
    return sent
