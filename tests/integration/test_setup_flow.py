"""The first-boot steps: the administrator through the one-time link, then the box's
identity, joining a relay (the relay's real enrolment API over TLS on loopback) and
the visitor certificate, each step's answer and its errors."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from appliance.core.clock import utc_offset_minutes
from appliance.relay.state import load
from appliance.relay.tunnel import Tunnel
from appliance.webui.keys import BOX_PROFILE, JOINER, SETUP_TOKEN, TUNNEL
from tests.conftest import PASSWORD, Agent, Running, csrf_in
from tests.loopback_relay import HOSTNAME, LoopbackRelay
from tests.testca import make_ca_and_server


async def _first_admin(running: Running, http: aiohttp.ClientSession) -> Agent:
    """Create the administrator through the setup link, as a browser without scripts."""
    token = running.server.app[SETUP_TOKEN][0]
    async with http.get(running.url(f"/setup?token={token}")) as r:
        assert r.status == 200
        page = await r.text()
    assert 'data-cb="step-admin"' in page and 'action="/setup"' in page
    form = {
        "csrf_token": csrf_in(page),
        "token": token,
        "username": "it",
        "password": PASSWORD,
        "password2": PASSWORD,
    }
    async with http.post(running.url("/setup"), data=form, allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/setup"
    admin = Agent(running, http, 0)
    me = await admin.get("/api/console/me")
    admin.csrf = me["csrf_token"]
    return admin


@pytest.fixture
async def setup_admin(
    running: Running, http_sessions: Callable[[], aiohttp.ClientSession]
) -> Agent:
    return await _first_admin(running, http_sessions())


async def test_the_steps_after_the_administrator(
    running: Running, setup_admin: Agent, http_sessions: Callable[[], aiohttp.ClientSession]
) -> None:
    admin = setup_admin
    # The same page now shows the next steps, to this administrator only.
    async with admin.http.get(running.url("/setup")) as r:
        assert r.status == 200
        page = await r.text()
    for step in ("admin-result", "box-form", "relay-form", "cert-form", "acme-form"):
        assert f'data-cb="{step}"' in page, step
    assert 'name="username"' not in page  # the administrator step is closed
    async with http_sessions().get(running.url("/setup")) as r:
        assert r.status == 404  # anyone else: the link is used up

    box = await admin.get("/api/admin/box")
    assert box["company_name"] == "" and box["restart_needed"] is False
    saved = await admin.call(
        "PUT",
        "/api/admin/box",
        {
            "company_name": "示例科技",
            "public_host": "Chat.Example.COM.",
            "time_zone": "Asia/Tokyo",
            "default_lang": "en",
        },
    )
    assert saved["company_name"] == "示例科技"
    assert saved["public_host"] == "chat.example.com"
    assert saved["time_zone"] == "Asia/Tokyo"
    assert saved["restart_needed"] is True  # the zone applies from the next start
    # The default language serves people who chose none.
    async with http_sessions().get(running.url("/login")) as r:
        assert '<html lang="en">' in await r.text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"public_host": "localhost"}, "full host name"),
        ({"public_host": "chat example.com"}, "full host name"),
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"time_zone": "../../etc/passwd"}, "zone name"),
        ({"default_lang": "fr"}, ""),
        ({"company_name": "a\nb"}, "one line"),
        ({"company_name": "x" * 101}, ""),
        ({"colour": "red"}, ""),
    ],
)
async def test_a_bad_identity_changes_nothing(
    running: Running, setup_admin: Agent, change: dict[str, Any], message: str
) -> None:
    before = await setup_admin.get("/api/admin/box")
    answer = await setup_admin.call("PUT", "/api/admin/box", {"company_name": "ok", **change}, 422)
    assert answer["error"]["code"] == "invalid"
    assert message in answer["error"]["message"]
    assert await setup_admin.get("/api/admin/box") == before


async def test_the_chosen_zone_is_the_appliances_from_its_next_start(
    make_app: Callable[..., Awaitable[Running]], tmp_path: Path
) -> None:
    before = os.environ.get("TZ")
    data_dir = tmp_path / "zoned"
    first = await make_app(data_dir=data_dir)
    await first.server.app[BOX_PROFILE].update({"time_zone": "America/New_York"})
    await first.server.close()
    second = await make_app(data_dir=data_dir)
    assert os.environ.get("TZ") == "America/New_York"
    assert utc_offset_minutes() in (-300, -240)
    await second.server.close()
    assert os.environ.get("TZ") == before  # put back when the app stops


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LoopbackRelay]:
    served = LoopbackRelay(tmp_path / "relay")
    await served.start()
    await served.start_enrolment()
    try:
        yield served
    finally:
        await served.close()


async def test_joining_a_relay_and_installing_the_certificate(
    running: Running, setup_admin: Agent, relay: LoopbackRelay, tmp_path: Path
) -> None:
    admin = setup_admin
    app = running.server.app
    brought_up: list[Tunnel] = []

    async def bring_up(tunnel: Tunnel) -> str:
        # No WireGuard interface in a test's own network namespace: the tests of the
        # tunnel itself are in tests/network/.
        brought_up.append(tunnel)
        return "up"

    app[JOINER].bring_up = bring_up  # type: ignore[method-assign]

    # Errors first: not a token, a refused token, an unreachable relay.
    bad = await admin.post("/api/admin/relay/join", {"token": "hello"}, 422)
    assert "not a Callbox enrolment token" in bad["error"]["message"]
    refused = await admin.post(
        "/api/admin/relay/join", {"token": relay.token("x", "", secret="wrong")}, 502
    )
    assert refused["error"]["code"] == "relay_error"
    assert "unknown, used or expired" in refused["error"]["message"]
    token = relay.token("gamma", HOSTNAME.replace("acme", "gamma"))
    away = await admin.post("/api/admin/relay/join", {"token": token, "relay": "127.0.0.1:9"}, 502)
    assert "cannot reach the relay" in away["error"]["message"]
    assert load(running.box.settings.data_dir) is None and app[TUNNEL][0] is None

    # Without a relay, ACME cannot be answered; the certificate can still be uploaded.
    assert (await admin.post("/api/admin/certificate/acme", {}, 409))["error"][
        "code"
    ] == "not_enrolled"

    joined = await admin.post("/api/admin/relay/join", {"token": token})
    assert joined["tenant"] == "gamma" and joined["hostname"] == "chat.gamma.test"
    assert joined["address"] == "100.64.2.1"
    assert joined["tunnel"] == "up"
    assert "restart" in joined["sites"]  # no `appliance run` here to open the listeners
    assert [t.relay.tenant for t in brought_up] == ["gamma"]
    assert load(running.box.settings.data_dir) is not None
    assert (await admin.get("/api/admin/box"))["public_host"] == "chat.gamma.test"
    again = await admin.post("/api/admin/relay/join", {"token": token}, 409)
    assert again["error"]["code"] == "already_joined"

    # The certificate: it must carry the joined host name and match its key.
    assert (await admin.get("/api/admin/certificate"))["present"] is False
    _, other_cert, other_key = make_ca_and_server(tmp_path / "other", ["chat.other.test"])
    _, cert, key = make_ca_and_server(tmp_path / "pki", ["chat.gamma.test"])

    async def upload(cert_path: Path, key_path: Path, status: int) -> dict[str, Any]:
        body = {"cert_pem": cert_path.read_text(), "key_pem": key_path.read_text()}
        return await admin.post("/api/admin/certificate", body, status)  # type: ignore[no-any-return]

    assert (
        "does not name chat.gamma.test"
        in (await upload(other_cert, other_key, 422))["error"]["message"]
    )
    assert "does not belong" in (await upload(cert, other_key, 422))["error"]["message"]
    garbage = await admin.post("/api/admin/certificate", {"cert_pem": "x", "key_pem": "y"}, 422)
    assert "cannot read" in garbage["error"]["message"]
    installed = await upload(cert, key, 200)
    assert installed["present"] is True and installed["names"] == ["chat.gamma.test"]
    assert re.match(r"^\d{4}-\d\d-\d\dT", installed["not_after"])
    assert await admin.get("/api/admin/certificate") == installed


async def test_the_steps_are_for_administrators_on_the_lan(
    running: Running, make_agent: Callable[..., Awaitable[Agent]]
) -> None:
    agent = await make_agent(status=None)
    for method, path, body in (
        ("PUT", "/api/admin/box", {"company_name": "x"}),
        ("POST", "/api/admin/relay/join", {"token": "cbr1.x"}),
        ("POST", "/api/admin/certificate", {"cert_pem": "x", "key_pem": "y"}),
    ):
        await agent.call(method, path, body, 403)
    # An agent's session does not open the setup page either.
    async with agent.http.get(running.url("/setup")) as r:
        assert r.status == 404
    assert json.dumps(await agent.get("/api/console/me")).count('"role": "agent"') == 1
