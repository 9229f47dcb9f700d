"""Staff device expiry at the relay: stored with the device, judged on the relay's own
clock (the routing version changes the moment a device expires), renewable, upgraded
into a registry made before devices expired, and carried by the tunnel API."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from relay_server.api import tunnel_app
from relay_server.keys import generate_private_key, public_key
from relay_server.registry import Registry, Staff, Tenant

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _enrolled(tmp_path: Path) -> tuple[Registry, Tenant]:
    registry = Registry(tmp_path / "registry.db")
    _, secret = registry.add_tenant("acme", "chat.acme.cn", 3600)
    return registry, registry.redeem(secret, public_key(generate_private_key()))


def test_a_device_expires_on_the_relays_clock(tmp_path: Path) -> None:
    registry, acme = _enrolled(tmp_path)
    now = 1_800_000_000
    registry.add_staff(acme, "li", public_key(generate_private_key()), expires_at=now + 60)
    registry.add_staff(acme, "old", public_key(generate_private_key()))  # no expiry sent
    [li, old] = registry.staff(acme)
    assert (li.expires_at, old.expires_at) == (now + 60, None)
    assert li.active(now) and li.active(now + 59.9)
    assert not li.active(now + 60)
    assert old.active(now + 10**9)
    # What is routed changes when the expiry passes, with nothing else changed: the
    # hub's next look (every second) drops the peer, whoever can reach the relay.
    assert registry.version(now) == registry.version(now + 59)
    assert registry.version(now + 59) != registry.version(now + 60)
    assert registry.version(now + 60) == registry.version(now + 600)

    assert registry.set_staff_expiry(acme, "li", now + 3600)
    assert registry.version(now + 60) == registry.version(now)  # renewed: routed again
    assert registry.staff(acme)[0].expires_at == now + 3600
    assert not registry.set_staff_expiry(acme, "nobody", now)


def test_a_registry_from_before_expiry_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE tenants (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        " hostname TEXT NOT NULL UNIQUE, subnet INTEGER NOT NULL UNIQUE,"
        " appliance_key TEXT UNIQUE, created_at INTEGER NOT NULL);"
        "CREATE TABLE staff (tenant_id INTEGER NOT NULL, name TEXT NOT NULL,"
        " public_key TEXT NOT NULL UNIQUE, host INTEGER NOT NULL,"
        " PRIMARY KEY (tenant_id, name), UNIQUE (tenant_id, host));"
        "INSERT INTO tenants VALUES (1, 'acme', 'chat.acme.cn', 1, 'k', 0);"
    )
    key = public_key(generate_private_key())
    conn.execute("INSERT INTO staff VALUES (1, 'li', ?, 2)", (key,))
    conn.commit()
    conn.close()
    registry = Registry(path)
    assert registry.staff() == [Staff(1, "li", key, "100.64.1.2", None)]
    Registry(path)  # a second open finds the column and changes nothing


@pytest.fixture
async def tunnel(tmp_path: Path) -> AsyncIterator[tuple[str, Registry, Tenant, list[int]]]:
    """The relay's real tunnel API on loopback, called as tenant acme's appliance."""
    registry, acme = _enrolled(tmp_path)
    changes: list[int] = []

    async def changed() -> None:
        changes.append(1)

    @web.middleware
    async def as_appliance(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Loopback cannot carry the overlay source the tunnel would give the request.
        return await handler(request.clone(remote=acme.appliance_address))

    app = tunnel_app(registry, changed, lambda: {})
    app.middlewares.insert(0, as_appliance)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/v1")), registry, acme, changes
    finally:
        await server.close()


async def test_the_tunnel_api_carries_expiry(
    tunnel: tuple[str, Registry, Tenant, list[int]],
) -> None:
    base, registry, acme, changes = tunnel
    key = public_key(generate_private_key())
    soon = int(time.time()) + 3600
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/staff", json={"name": "li", "public_key": key, "expires_at": soon}
        ) as r:
            assert r.status == 201
            assert await r.json() == {"name": "li", "address": "100.64.1.2", "expires_at": soon}
        async with http.get(f"{base}/staff") as r:
            [li] = (await r.json())["staff"]
        assert (li["expires_at"], li["active"], li["latest_handshake"]) == (soon, True, 0)
        async with http.put(f"{base}/staff/li", json={"expires_at": soon + 86400}) as r:
            assert r.status == 200 and await r.json() == {"name": "li", "expires_at": soon + 86400}
        assert registry.staff(acme)[0].expires_at == soon + 86400
        # Renewing into the past is how a box would expire a device early: allowed.
        async with http.put(f"{base}/staff/li", json={"expires_at": 1}) as r:
            assert r.status == 200
        async with http.get(f"{base}/staff") as r:
            assert (await r.json())["staff"][0]["active"] is False
        for bad in ({}, {"expires_at": "soon"}, {"expires_at": True}, {"expires_at": 0},
                    {"expires_at": -5}, {"expires_at": 2**40}, {"expires_at": 1.5}):  # fmt: skip
            async with http.put(f"{base}/staff/li", json=bad) as r:
                assert r.status == 422, bad
                assert (await r.json())["error"]["code"] == "invalid"
        async with http.put(f"{base}/staff/nobody", json={"expires_at": soon}) as r:
            assert r.status == 404
        other = public_key(generate_private_key())
        async with http.post(
            f"{base}/staff", json={"name": "wang", "public_key": other, "expires_at": "x"}
        ) as r:
            assert r.status == 422
        assert [s.name for s in registry.staff(acme)] == ["li"]
    assert len(changes) == 3  # the add and the two renewals: each re-syncs the hub
