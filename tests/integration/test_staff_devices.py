"""Staff devices through the admin API, against the relay's real tunnel API on loopback.

Add (the profile and QR code in the answer only: the private key is nowhere on the
box), list with the relay's handshake, renew, revoke, the default validity, and the
expiry on an injected clock: the box calls a device expired the moment its time
passes, and the relay was told the same expiry (it judges it on its own clock:
tests/relay/test_staff_expiry.py, tests/network/test_relay_hub.py).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from appliance.core.devices import DAY_MS
from tests.conftest import Agent, Running
from tests.loopback_relay import LoopbackRelay


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LoopbackRelay]:
    served = LoopbackRelay(tmp_path / "relay")
    await served.start()
    try:
        yield served
    finally:
        await served.close()


@pytest.fixture
async def admin(make_agent: Callable[..., Awaitable[Agent]]) -> Agent:
    return await make_agent("it", role="admin", status=None)


class Clock:
    """An injectable clock for the box's devices (UTC ms)."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def _everything_on_the_box(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


async def test_add_list_renew_revoke_and_expire(
    running: Running, relay: LoopbackRelay, admin: Agent
) -> None:
    data_dir = running.box.settings.data_dir
    relay.enrol_box(data_dir)
    clock = Clock(1_900_000_000_000)
    running.box.devices.clock = clock

    added = await admin.call(
        "POST", "/api/admin/devices", {"name": "li-laptop", "owner": "李雷", "days": 30}, 201
    )
    device, profile = added["device"], added["profile"]
    assert (device["name"], device["owner"], device["address"]) == (
        "li-laptop",
        "李雷",
        "100.64.1.2",
    )
    assert device["state"] == "active" and device["revoked_at"] is None
    config = profile["config"]
    assert "Address = 100.64.1.2/32" in config and "AllowedIPs = 100.64.1.1/32" in config
    private = next(line for line in config.splitlines() if line.startswith("PrivateKey = "))
    svg = base64.b64decode(profile["qr_svg"].removeprefix("data:image/svg+xml;base64,"))
    assert svg.startswith(b"<svg") and b"</svg>" in svg
    assert profile["console_url"] == "https://100.64.1.1:8443/console"
    assert profile["console_ca"].startswith("-----BEGIN CERTIFICATE-----")
    # Shown once: neither the database nor any file of the box holds the private key.
    assert private.split(" = ")[1].encode() not in _everything_on_the_box(data_dir)

    # The relay got the device with the same expiry, in its Unix seconds.
    assert relay.tenant is not None
    [at_relay] = relay.registry.staff(relay.tenant)
    assert at_relay.expires_at == (clock.now + 30 * DAY_MS) // 1000

    # The list carries the relay's latest handshake of the device.
    relay.handshakes[at_relay.public_key] = 1_900_000_100
    listing = await admin.get("/api/admin/devices")
    assert listing["enrolled"] is True and listing["relay_error"] == ""
    assert listing["expiry_days"] == 90
    [row] = listing["devices"]
    assert row["latest_handshake"] is not None and row["latest_handshake"].startswith("2030-")
    assert row["expires_at"] == device["expires_at"]

    # Thirty days on, the device has expired on the box's clock.
    clock.now += 30 * DAY_MS
    [row] = (await admin.get("/api/admin/devices"))["devices"]
    assert row["state"] == "expired"
    assert "100.64.1.2" not in (await running.box.devices.allowed()).addresses

    # Renewed: valid again for the default validity from now, at the relay too.
    renewed = (await admin.post("/api/admin/devices/li-laptop/renew", {}))["device"]
    assert renewed["state"] == "active" and renewed["renewed_at"] is not None
    assert relay.registry.staff(relay.tenant)[0].expires_at == (clock.now + 90 * DAY_MS) // 1000
    assert "100.64.1.2" in (await running.box.devices.allowed()).addresses

    # Revoked: gone from the relay, refused by the box, and no renewal brings it back.
    revoked = (await admin.call("DELETE", "/api/admin/devices/li-laptop"))["device"]
    assert revoked["state"] == "revoked" and revoked["revoked_at"] is not None
    assert relay.registry.staff(relay.tenant) == []
    assert "100.64.1.2" not in (await running.box.devices.allowed()).addresses
    refused = await admin.call("POST", "/api/admin/devices/li-laptop/renew", {}, 422)
    assert "was revoked" in refused["error"]["message"]
    await admin.call("DELETE", "/api/admin/devices/nobody", status=404)
    [row] = (await admin.get("/api/admin/devices"))["devices"]
    assert row["state"] == "revoked" and row["latest_handshake"] is None
    # Each change is in the admin audit log, once, under the admin who made it.
    entries = (await admin.get("/api/admin/audit?action=device."))["entries"]
    assert [(e["action"], e["target"]) for e in reversed(entries)] == [
        ("device.add", "li-laptop"),
        ("device.renew", "li-laptop"),
        ("device.revoke", "li-laptop"),
    ]
    assert {e["user_id"] for e in entries} == {admin.user_id}


async def test_the_default_validity_is_a_setting(
    running: Running, relay: LoopbackRelay, admin: Agent
) -> None:
    relay.enrol_box(running.box.settings.data_dir)
    clock = Clock(1_900_000_000_000)
    running.box.devices.clock = clock
    for bad in (0, 3651, "30", True, None):
        await admin.call("PUT", "/api/admin/device-settings", {"expiry_days": bad}, 422)
    assert await admin.call("PUT", "/api/admin/device-settings", {"expiry_days": 7}) == {
        "expiry_days": 7
    }
    added = await admin.call("POST", "/api/admin/devices", {"name": "wang"}, 201)
    assert relay.tenant is not None
    assert relay.registry.staff(relay.tenant)[0].expires_at == (clock.now + 7 * DAY_MS) // 1000
    assert added["device"]["owner"] == ""
    assert (await admin.get("/api/admin/devices"))["expiry_days"] == 7


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "../etc"},
        {"name": "a" * 65},
        {"name": "ok", "days": 0},
        {"name": "ok", "days": 3651},
        {"name": "ok", "owner": "x" * 101},
        {"name": "ok", "owner": "line\nbreak"},
        {"name": "ok", "extra": 1},
    ],
)
async def test_bad_devices_are_refused_clearly(
    running: Running, relay: LoopbackRelay, admin: Agent, body: dict[str, Any]
) -> None:
    relay.enrol_box(running.box.settings.data_dir)
    answer = await admin.call("POST", "/api/admin/devices", body, 422)
    assert answer["error"]["code"] == "invalid"
    assert relay.registry.staff() == []
    assert await running.box.devices.list() == []


async def test_without_a_relay_the_errors_say_what_to_do(
    running: Running, relay: LoopbackRelay, admin: Agent
) -> None:
    answer = await admin.call("POST", "/api/admin/devices", {"name": "li"}, 409)
    assert answer["error"]["code"] == "not_enrolled"
    listing = await admin.get("/api/admin/devices")
    assert listing == {"devices": [], "expiry_days": 90, "enrolled": False, "relay_error": ""}

    relay.enrol_box(running.box.settings.data_dir)
    await admin.call("POST", "/api/admin/devices", {"name": "li"}, 201)
    # The name is the relay's key for the device: a second one is refused there.
    taken = await admin.call("POST", "/api/admin/devices", {"name": "li"}, 502)
    assert taken["error"]["code"] == "relay_error"
    assert "already registered" in taken["error"]["message"]

    await relay.close()  # the relay (or the tunnel) is down
    down = await admin.call("POST", "/api/admin/devices", {"name": "wang"}, 502)
    assert "not reachable" in down["error"]["message"]
    listing = await admin.get("/api/admin/devices")
    assert "not reachable" in listing["relay_error"]
    assert [d["name"] for d in listing["devices"]] == ["li"]
    assert listing["devices"][0]["latest_handshake"] is None
    await admin.call("POST", "/api/admin/devices/li/renew", {"days": 5}, 502)
    await admin.call("DELETE", "/api/admin/devices/li", status=502)
    assert (await running.box.devices.list())[0].state(running.box.devices.clock()) == "active"


async def test_agents_may_not_manage_devices(
    running: Running, relay: LoopbackRelay, make_agent: Callable[..., Awaitable[Agent]]
) -> None:
    relay.enrol_box(running.box.settings.data_dir)
    agent = await make_agent(status=None)
    await agent.call("GET", "/api/admin/devices", status=403)
    await agent.call("POST", "/api/admin/devices", {"name": "li"}, 403)
    assert relay.registry.staff() == []
