"""Staff devices: a WireGuard profile (file + QR) made on the box, registered at the
relay over the tunnel. The relay never sees a device's private key or its config."""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import segno

from appliance.core.audit import Actor
from appliance.core.box import write_private
from appliance.core.devices import Devices
from appliance.relay.state import RelayState
from appliance.relay.tls import CA_CERT, TLS_DIR, console_ca
from appliance.relay.tunnel import KEEPALIVE
from appliance.relay.wireguard import generate_private_key, public_key

CONSOLE_TLS_PORT = 8443  # the only port the relay forwards staff traffic to
STAFF_DIR = "staff"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TIMEOUT = aiohttp.ClientTimeout(total=10)


class StaffError(RuntimeError):
    """A staff device operation that failed, with a clear reason."""


@dataclass(frozen=True, slots=True)
class Profile:
    """Where a new device's files were written."""

    name: str
    address: str
    config: Path
    qr_png: Path
    qr_text: str
    console_url: str
    ca: Path


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


def check_name(name: str) -> str:
    """Validate a device name (it becomes a file name)."""
    if not _NAME.match(name):
        raise StaffError("a device name is 1-64 letters, digits, '.', '_' or '-'")
    return name


async def _call(method: str, url: str, **kwargs: object) -> tuple[int, dict[str, object]]:
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            session.request(
                method,
                url,
                **kwargs,  # type: ignore[arg-type]
            ) as response,
        ):
            return response.status, await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as err:
        raise StaffError(f"the relay is not reachable through the tunnel: {err}") from err


async def add(
    data_dir: Path, relay: RelayState, devices: Devices, name: str, by: Actor | None = None
) -> Profile:
    """Register a device at the relay and write its profile and QR code (0600).

    `by`: who adds it, recorded in the admin audit log with the device.
    """
    check_name(name)
    private = generate_private_key()
    status, data = await _call(
        "POST",
        f"{relay.tunnel_api}/v1/staff",
        json={"name": name, "public_key": public_key(private)},
    )
    if status != 201:
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else status
        raise StaffError(f"the relay refused the device: {message}")
    address = str(data["address"])
    await devices.add(name, public_key(private), address, by=by)
    text = render_config(private, address, relay)
    qr = segno.make(text, error="m")
    config, png = await asyncio.to_thread(_write_profile, data_dir, name, text, qr)
    return Profile(
        name=name,
        address=address,
        config=config,
        qr_png=png,
        qr_text=_terminal(qr),
        console_url=f"https://{relay.address}:{CONSOLE_TLS_PORT}/console",
        ca=data_dir / TLS_DIR / CA_CERT,
    )


def _write_profile(data_dir: Path, name: str, text: str, qr: segno.QRCode) -> tuple[Path, Path]:
    folder = data_dir / STAFF_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = folder / f"{name}.conf"
    write_private(config, text.encode())
    png = folder / f"{name}.png"
    image = io.BytesIO()
    qr.save(image, kind="png", scale=6, border=2)
    write_private(png, image.getvalue())
    console_ca(data_dir)  # the CA staff install to trust the console
    return config, png


def _terminal(qr: segno.QRCode) -> str:
    out = io.StringIO()
    qr.terminal(out=out, compact=True)
    return out.getvalue()


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
