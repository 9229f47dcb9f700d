"""Visitor insight over real HTTP and WebSockets: tracking, beacons, Do-Not-Track, the
live list pushed to watching consoles, invitations end to end, signed identities, and
the region of a visitor who comes through the relay."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from appliance.core.customers import sign
from appliance.webui.keys import BOX
from tests.conftest import Agent, Running, Visitor, receive_until
from tests.integration.test_relay_listener import _raw_https, proxy_v4, relayed  # noqa: F401

PAGE = "https://shop.example/pricing"
BAIDU = "https://www.baidu.com/s?wd=%E5%AE%A2%E6%9C%8D&ie=utf-8"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")

MakeAgent = Callable[..., Awaitable[Agent]]
MakeVisitor = Callable[..., Awaitable[Visitor]]


async def page_view(visitor: Visitor, url: str = PAGE, **extra: Any) -> tuple[int, Any]:
    headers = {**visitor.auth, **extra.pop("headers", {})}
    body = {"url": url, "title": "价格", "referrer": BAIDU, **extra}
    async with visitor.http.post(
        visitor.running.url("/api/visitor/pageviews"), json=body, headers=headers
    ) as r:
        return r.status, await r.json()


async def test_page_views_and_beacons(running: Running, make_visitor: MakeVisitor) -> None:
    visitor = await make_visitor()
    status, data = await page_view(visitor)
    assert status == 201 and data["tracked"] is True
    view_id = data["page_view"]["id"]
    beacon = running.url(f"/api/visitor/pageviews/{view_id}/dwell")
    # sendBeacon: text/plain, the token in the body, no Authorization header.
    body = json.dumps({"token": visitor.token, "dwell_ms": 1500})
    async with visitor.http.post(
        beacon, data=body, headers={"Content-Type": "text/plain;charset=UTF-8"}
    ) as r:
        assert r.status == 204
    for bad, code in (
        (json.dumps({"token": "v_forged.x", "dwell_ms": 1}), 401),
        (json.dumps({"token": visitor.token, "dwell_ms": "long"}), 422),
        ("not json", 422),
        ("x" * 5000, 413),
    ):
        async with visitor.http.post(beacon, data=bad) as r:
            assert r.status == code, (bad[:40], await r.text())
    async with visitor.http.post(
        running.url("/api/visitor/pageviews/999999/dwell"),
        data=json.dumps({"token": visitor.token, "dwell_ms": 5}),
    ) as r:
        assert r.status == 404
    row = await running.box.db.fetchone("SELECT dwell_ms, title FROM page_views")
    assert row[0] > 0 and row[1] == "价格"
    status, data = await page_view(visitor, "javascript:alert(1)")
    assert status == 422 and data["error"]["code"] == "invalid"
    async with visitor.http.post(running.url("/api/visitor/pageviews"), json={"url": PAGE}) as r:
        assert r.status == 401
    # The widget's origin differs from the box's: the preflight must pass.
    async with visitor.http.options(
        running.url("/api/visitor/pageviews"),
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    ) as r:
        assert r.status in (200, 204) and r.headers["Access-Control-Allow-Origin"] == "*"


async def test_do_not_track(running: Running, make_visitor: MakeVisitor) -> None:
    visitor = await make_visitor()
    status, data = await page_view(visitor, headers={"DNT": "1"})
    assert status == 201  # the admin has not turned it on: tracked
    view_id = data["page_view"]["id"]
    await running.box.box_settings.update({"honour_dnt": True})
    for header in ({"DNT": "1"}, {"Sec-GPC": "1"}):
        other = await make_visitor()
        status, data = await page_view(other, headers=header)
        assert (status, data) == (200, {"tracked": False})
        assert running.box.insight.live.get(other.visitor_id) is None
    # A beacon that asks not to be tracked is answered and stores nothing.
    async with visitor.http.post(
        running.url(f"/api/visitor/pageviews/{view_id}/dwell"),
        data=json.dumps({"token": visitor.token, "dwell_ms": 1500}),
        headers={"DNT": "1"},
    ) as r:
        assert r.status == 204
    count = await running.box.db.fetchone("SELECT count(*), max(dwell_ms) FROM page_views")
    assert tuple(count) == (1, 0)
    await running.box.box_settings.update({"honour_dnt": False})
    status, data = await page_view(visitor, headers={"DNT": "1"})
    assert status == 201 and data["tracked"] is True  # turned off again: tracked


async def test_live_list_reaches_watching_consoles_in_scope(
    running: Running, make_agent: MakeAgent, make_visitor: MakeVisitor
) -> None:
    supervisor = await make_agent(role="supervisor")
    limited = await make_agent()
    await supervisor.call("PATCH", f"/api/console/agents/{limited.user_id}", {"regions": ["北京"]})
    visitor = await make_visitor()
    vws = await visitor.ws()
    await page_view(visitor)
    sws, lws = await supervisor.ws(), await limited.ws()
    for ws in (sws, lws):
        await ws.send_json({"type": "watch_visitors", "filter": {}, "offset": 0, "limit": 20})
    seen = await receive_until(sws, lambda f: f["type"] == "visitors" and f["total"] == 1)
    row = seen["visitors"][0]
    assert row["id"] == visitor.visitor_id and row["online"] is True
    assert row["source"]["engine"] == "baidu" and row["source"]["keyword"] == "客服"
    assert row["region"]["status"] == "private"  # loopback: said so, not guessed
    # The Beijing-only agent does not see a visitor of unknown region.
    empty = await receive_until(lws, lambda f: f["type"] == "visitors")
    assert empty["total"] == 0
    await page_view(visitor, "https://shop.example/cart", title="购物车")
    moved = await receive_until(
        sws, lambda f: f["type"] == "visitors" and f["visitors"][0]["pages"] == 2
    )
    assert moved["visitors"][0]["current"]["url"] == "https://shop.example/cart"
    # Times are wire times, as everywhere: ISO 8601 in the box's zone (docs/api.md).
    row = moved["visitors"][0]
    for at in (row["first_seen_at"], row["last_seen_at"], row["current"]["since"]):
        assert ISO.match(at), at
    # Server-side filtering, and bad filters close nothing but the offender.
    await sws.send_json({"type": "watch_visitors", "filter": {"source": "direct"}})
    assert (await receive_until(sws, lambda f: f["type"] == "visitors"))["total"] == 0
    status = await supervisor.get("/api/console/visitors?q=购物车")
    assert status["total"] == 1
    await supervisor.get("/api/console/visitors?status=sleeping", status=422)
    await limited.get(f"/api/console/visitors/{visitor.visitor_id}", status=404)
    detail = await supervisor.get(f"/api/console/visitors/{visitor.visitor_id}")
    assert [s["url"] for s in detail["visitor"]["trail"]] == [PAGE, "https://shop.example/cart"]
    seen = detail["visitor"]
    times = [seen["first_seen_at"], *(s["started_at"] for s in seen["trail"])]
    times += [at for v in seen["visits"] for at in (v["started_at"], v["last_seen_at"])]
    assert all(ISO.match(at) for at in times), times
    await sws.send_json({"type": "watch_visitors", "filter": {"status": "sleeping"}})
    bad = await receive_until(sws, lambda f: f["type"] == "error")
    assert bad["code"] == "bad_frame"
    for ws in (vws, sws, lws):
        await ws.close()


async def test_invitation_end_to_end(
    running: Running, make_agent: MakeAgent, make_visitor: MakeVisitor
) -> None:
    agent = await make_agent("fang")
    visitor, shy = await make_visitor(), await make_visitor()
    vws, shy_ws, aws = await visitor.ws(), await shy.ws(), await agent.ws()
    await page_view(visitor)
    await page_view(shy)
    sent = await agent.post(
        f"/api/console/visitors/{visitor.visitor_id}/invite", {"message": "您好！"}, status=201
    )
    invitation = sent["invitation"]
    frame = await receive_until(vws, lambda f: f["type"] == "invitation")
    assert frame["invitation"]["message"] == "您好！"
    assert frame["invitation"]["agent"] == {"display_name": "fang"}
    assert ISO.match(frame["invitation"]["created_at"])
    again = await agent.post(
        f"/api/console/visitors/{visitor.visitor_id}/invite", {"message": "?"}, status=409
    )
    assert again["error"]["code"] == "already_invited"
    # A second socket of the same visitor (another tab) gets it on connect.
    tab = await visitor.ws()
    assert (await receive_until(tab, lambda f: f["type"] == "invitation"))["invitation"]["id"]
    status, data, _ = await visitor.request(
        "POST", f"/api/visitor/invitations/{invitation['id']}/accept", {"lang": "zh-CN"}
    )
    assert status == 201
    conv = data["conversation"]
    assert conv["status"] == "active" and conv["agent"]["display_name"] == "fang"
    closed = await receive_until(tab, lambda f: f["type"] == "invitation_closed")
    assert closed["status"] == "accepted"
    # The agent hears of the invitation's fate and gets the chat, as their own.
    statuses, chats = [], []
    while "accepted" not in statuses or not chats:
        frame = await receive_until(aws, lambda f: f["type"] in ("invitation", "conversation"))
        if frame["type"] == "invitation":
            statuses.append(frame["invitation"]["status"])
        elif frame["conversation"]["id"] == conv["id"]:
            chats.append(frame["conversation"])
    assert statuses == ["pending", "accepted"]
    assert chats[-1]["agent"]["id"] == agent.user_id
    messages = (await visitor.request("GET", f"/api/visitor/conversations/{conv['id']}/messages"))[
        1
    ]
    assert [m["body"] for m in messages["messages"] if m["sender_type"] == "agent"] == ["您好！"]

    sent = await agent.post(
        f"/api/console/visitors/{shy.visitor_id}/invite", {"message": "Hi"}, status=201
    )
    status, data, _ = await shy.request(
        "POST", f"/api/visitor/invitations/{sent['invitation']['id']}/decline"
    )
    assert (status, data["invitation"]["status"]) == (200, "declined")
    told = await receive_until(
        aws, lambda f: f["type"] == "invitation" and f["invitation"]["status"] == "declined"
    )
    assert told["invitation"]["visitor_id"] == shy.visitor_id
    assert all(ISO.match(told["invitation"][k]) for k in ("created_at", "answered_at"))
    status, data, _ = await shy.request(
        "POST", f"/api/visitor/invitations/{sent['invitation']['id']}/accept"
    )
    assert (status, data["error"]["code"]) == (409, "invitation_closed")
    status, _, _ = await visitor.request(
        "POST", f"/api/visitor/invitations/{sent['invitation']['id']}/decline"
    )
    assert status == 404  # not theirs
    for ws in (vws, shy_ws, aws, tab):
        await ws.close()


async def test_signed_identity_over_http(
    running: Running, make_agent: MakeAgent, make_visitor: MakeVisitor
) -> None:
    secret = await running.box.sites.secret("default")
    assert secret
    owner, thief = await make_visitor(), await make_visitor()
    ts = int(time.time())
    proof = {"customer_id": "c-7", "ts": ts, "sig": sign(secret, "c-7", ts), "name": "张伟"}
    status, data, _ = await owner.request("POST", "/api/visitor/identify", proof)
    assert status == 200 and data["customer"]["name"] == "张伟"
    status, data, _ = await thief.request("POST", "/api/visitor/identify", proof)
    assert (status, data["error"]["code"]) == (409, "replayed")
    status, data, _ = await thief.request(
        "POST", "/api/visitor/identify", {**proof, "sig": "0" * 64}
    )
    assert (status, data["error"]["code"]) == (403, "bad_signature")
    old = ts - 3600
    status, data, _ = await thief.request(
        "POST", "/api/visitor/identify", {**proof, "ts": old, "sig": sign(secret, "c-7", old)}
    )
    assert (status, data["error"]["code"]) == (403, "expired")
    agent = await make_agent()
    found = await agent.get("/api/console/customers?q=张")
    customer_id = found["customers"][0]["id"]
    profile = await agent.call(
        "PATCH", f"/api/console/customers/{customer_id}", {"tier": "vip", "notes": "老客户"}
    )
    assert profile["customer"]["tier"] == "vip"
    assert [v["id"] for v in profile["customer"]["visitors"]] == [owner.visitor_id]
    await agent.call("PATCH", f"/api/console/customers/{customer_id}", {"tier": "gold"}, 422)
    row = await running.box.db.fetchone(
        "SELECT tier FROM visitors WHERE id = ?", (owner.visitor_id,)
    )
    assert row[0] == "vip"  # the queue sees the new tier


async def test_prechat_contact_over_http(running: Running, make_visitor: MakeVisitor) -> None:
    visitor = await make_visitor()
    status, data, _ = await visitor.request(
        "POST", "/api/visitor/conversations", {"name": "李雷", "contact": "not-a-contact"}
    )
    assert status == 422 and data["error"]["code"] == "contact_invalid"
    assert await running.box.chats.list_open_for_visitor(visitor.visitor_id) is None
    conv = await visitor.open(name="李雷", contact="13800138000")
    assert conv["status"] == "waiting"
    row = await running.box.db.fetchone(
        "SELECT c.name, c.phone, c.verified FROM customers c JOIN visitors v"
        " ON v.customer_id = c.id WHERE v.id = ?",
        (visitor.visitor_id,),
    )
    assert tuple(row) == ("李雷", "13800138000", 0)


async def test_region_comes_from_the_address_the_relay_reports(relayed) -> None:  # noqa: F811
    app, port, ca = relayed
    box = app[BOX]
    table = "203.0.113.0|203.0.113.255|中国|0|北京市|北京市|电信\n"
    await box.iptable.import_csv(table.encode(), "ip2region")
    vid, token = await box.visitors.issue()
    body = json.dumps({"url": PAGE, "title": "t"}).encode()
    raw = await _raw_https(
        port,
        ca,
        proxy_v4("203.0.113.9", 40000, "198.51.100.1", 443),
        b"POST /api/visitor/pageviews HTTP/1.1\r\nHost: chat.acme.test\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body,
    )
    assert raw.startswith(b"HTTP/1.1 201"), raw[:200]
    live = box.insight.live.get(vid)
    assert live is not None and live.region["label"] == "北京"
    row = await box.db.fetchone("SELECT ip, province FROM visits WHERE visitor_id = ?", (vid,))
    assert tuple(row) == ("203.0.113.9", "北京市")


async def test_console_writes_need_login_and_rules_need_a_supervisor(
    running: Running, make_agent: MakeAgent, http_sessions: Callable[[], aiohttp.ClientSession]
) -> None:
    agent = await make_agent()
    await agent.call("PUT", "/api/console/invite-rules", {"rules": []}, 403)
    supervisor = await make_agent(role="supervisor")
    rules = await supervisor.call(
        "PUT",
        "/api/console/invite-rules",
        {"rules": [{"message": "需要帮忙吗？", "min_seconds": 20}]},
    )
    assert rules["rules"][0]["min_seconds"] == 20
    assert (await agent.get("/api/console/invite-rules"))["rules"] == rules["rules"]
    refused = await supervisor.call(
        "PUT",
        "/api/console/invite-rules",
        {"rules": [rules["rules"][0], {"message": "x", "source": "tv"}]},
        422,
    )
    # Named by its place, so the editor shows the refusal next to that rule.
    assert refused["error"]["message"].startswith("rule 2: source must be one of any, ")
    assert (await agent.get("/api/console/invite-rules"))["rules"] == rules["rules"]
    async with http_sessions().get(running.url("/api/console/visitors")) as r:
        assert r.status == 401
    await agent.get("/api/console/invitations", status=403)
    assert (await supervisor.get("/api/console/invitations"))["invitations"] == []
