"""The admin API over HTTP: IP table uploads, privacy settings and site secrets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from appliance.webui import admin_views
from tests.conftest import Agent, Running

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MakeAgent = Callable[..., Awaitable[Agent]]


async def upload(
    agent: Agent, body: bytes | AsyncIterator[bytes], query: str = "", csrf: bool = True
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "text/plain"}
    if csrf:
        headers["X-CSRF-Token"] = agent.csrf
    async with agent.http.post(
        agent.running.url("/api/admin/ip-table" + query), data=body, headers=headers
    ) as r:
        return r.status, await r.json()


async def test_upload_changes_lookups_and_a_bad_file_changes_nothing(
    running: Running, make_agent: MakeAgent
):
    admin = await make_agent(role="admin", status=None)
    assert await admin.get("/api/admin/ip-table") == {
        "ranges": 0,
        "format": "",
        "imported_at": None,
    }
    assert running.box.iptable.lookup("1.0.1.1").status == "unknown"

    status, table = await upload(admin, (FIXTURES / "ip2region_v2.txt").read_bytes())
    assert status == 200, table
    assert table["ranges"] == 5 and table["format"] == "ip2region"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", table["imported_at"])
    assert await admin.get("/api/admin/ip-table") == table
    assert running.box.iptable.lookup("1.0.1.1").label == "福建省"

    bad = b'"16777216","16777471","AU","Australia","-","-"\n"1","2","3"\n'
    status, error = await upload(admin, bad, "?format=ip2location")
    assert status == 422
    assert error["error"]["code"] == "invalid"
    assert error["error"]["message"].startswith("line 2:")
    assert await admin.get("/api/admin/ip-table") == table
    assert running.box.iptable.lookup("1.0.1.1").label == "福建省"

    status, table = await upload(
        admin, (FIXTURES / "ip2location_db3.csv").read_bytes(), "?format=auto"
    )
    assert status == 200 and table["format"] == "ip2location", table
    assert running.box.iptable.lookup("1.0.1.1").label == "Fujian"
    assert running.box.iptable.lookup("223.5.5.5").status == "unknown"

    status, error = await upload(admin, b"x", "?format=geoip")
    assert status == 422 and "format must be one of" in error["error"]["message"]


async def test_a_large_file_streams_past_the_body_limit(running: Running, make_agent: MakeAgent):
    # The app refuses JSON and form bodies over 1 MiB; this route streams its own.
    admin = await make_agent(role="admin", status=None)
    lines = [
        f"{a}.{b}.{c}.0|{a}.{b}.{c}.255|国家{c % 50}|0|省{b}|市{c}|0"
        for a in (1, 2)
        for b in range(64)
        for c in range(256)
    ]
    data = ("\n".join(lines) + "\n").encode()
    assert len(data) > 1024 * 1024 + 500_000

    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length
        for at in range(0, len(data), 100_000):
            yield data[at : at + 100_000]

    status, table = await upload(admin, chunks())
    assert status == 200, table
    assert table["ranges"] == len(lines)
    assert running.box.iptable.lookup("2.63.255.1").province == "省63"


async def test_upload_size_limit(
    running: Running, make_agent: MakeAgent, monkeypatch: pytest.MonkeyPatch
):
    admin = await make_agent(role="admin", status=None)
    monkeypatch.setattr(admin_views, "_UPLOAD_MAX", 1000)
    body = b"1.0.0.0|1.0.0.255|A|0|0|0\n" * 100  # 2,600 bytes
    status, error = await upload(admin, body)  # with Content-Length: refused up front
    assert status == 413 and error["error"]["code"] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:900]
        yield body[900:]

    status, error = await upload(admin, chunks())  # chunked: refused once past the limit
    assert status == 413 and error["error"]["code"] == "too_large"
    assert running.box.iptable.status().ranges == 0


async def test_admins_only_and_csrf(running: Running, make_agent: MakeAgent):
    agent = await make_agent()
    supervisor = await make_agent(role="supervisor")
    for who in (agent, supervisor):
        for path in ("/api/admin/ip-table", "/api/admin/privacy", "/api/admin/sites"):
            await who.get(path, status=403)
        status, _ = await upload(who, b"1.0.0.0|1.0.0.255|A|0|0|0\n")
        assert status == 403
        await who.call("PUT", "/api/admin/privacy", {"honour_dnt": True}, status=403)
        await who.post("/api/admin/sites/default/secret", status=403)
        await who.post("/api/admin/sites", {"key": "x"}, status=403)
    admin = await make_agent(role="admin", status=None)
    status, error = await upload(admin, b"1.0.0.0|1.0.0.255|A|0|0|0\n", csrf=False)
    assert status == 403 and error["error"]["code"] == "csrf"
    assert running.box.iptable.status().ranges == 0
    assert running.box.box_settings.honour_dnt is False


async def test_privacy_settings(running: Running, make_agent: MakeAgent):
    admin = await make_agent(role="admin", status=None)
    defaults = {
        "honour_dnt": False,
        "page_view_days": 90,
        "decline_quiet_days": 7,
        "sneak_peek": False,
        "portal_organisation": False,
    }
    assert await admin.get("/api/admin/privacy") == defaults
    changed = await admin.call("PUT", "/api/admin/privacy", {"honour_dnt": True})
    assert changed == {**defaults, "honour_dnt": True}
    assert running.box.box_settings.honour_dnt is True
    await admin.call("PUT", "/api/admin/privacy", {"page_view_days": 30, "decline_quiet_days": 0})
    assert running.box.box_settings.page_view_days == 30
    assert running.box.box_settings.decline_quiet_days == 0
    for body, words in [
        ({"page_view_days": 0}, "between 1 and 3650"),
        ({"page_view_days": "90"}, "whole number"),
        ({"honour_dnt": "yes"}, "true or false"),
        ({"keep_forever": True}, "unknown field: keep_forever"),
        ([1], "JSON object"),
    ]:
        error = await admin.call("PUT", "/api/admin/privacy", body, status=422)
        assert error["error"]["code"] == "invalid"
        assert words in error["error"]["message"]
    assert await admin.get("/api/admin/privacy") == {
        "honour_dnt": True,
        "page_view_days": 30,
        "decline_quiet_days": 0,
        "sneak_peek": False,
        "portal_organisation": False,
    }


async def test_sites_rotate_and_create(running: Running, make_agent: MakeAgent):
    admin = await make_agent(role="admin", status=None)
    sites = (await admin.get("/api/admin/sites"))["sites"]
    assert [s["key"] for s in sites] == ["default"]
    old = sites[0]["secret"]
    rotated = (await admin.post("/api/admin/sites/default/secret"))["site"]
    assert rotated["key"] == "default" and re.fullmatch(r"[0-9a-f]{64}", rotated["secret"])
    assert rotated["secret"] != old
    assert await running.box.sites.secret("default") == rotated["secret"]
    error = await admin.post("/api/admin/sites/nope/secret", status=404)
    assert error["error"]["code"] == "not_found"
    shop = (await admin.post("/api/admin/sites", {"key": "shop", "name": "商城"}, status=201))[
        "site"
    ]
    assert shop["name"] == "商城"
    assert await running.box.sites.secret("shop") == shop["secret"]
    await admin.post("/api/admin/sites", {"key": "shop"}, status=422)
    await admin.post("/api/admin/sites", {"key": "Bad Key"}, status=422)


async def test_admin_page_shows_the_cards_without_secrets(running: Running, make_agent: MakeAgent):
    admin = await make_agent(role="admin", status=None)
    await running.box.iptable.import_csv((FIXTURES / "ip2region_v2.txt").read_bytes())
    secret = await running.box.sites.secret("default")
    async with admin.http.get(running.url("/admin")) as r:
        assert r.status == 200
        html = await r.text()
    for mark in ('data-cb="ip-table"', 'data-cb="privacy"', 'data-cb="sites"', "admin.js"):
        assert mark in html
    assert 'data-cb="ip-ranges">5<' in html
    assert 'data-site="default"' in html
    assert f"{running.url('/widget.js')}" in html
    assert secret is not None and secret not in html
