"""Untrusted visitor input: clear errors, nothing else breaks, nothing leaks."""

from __future__ import annotations

import aiohttp
from aiohttp import WSMsgType

from tests.conftest import receive_until


async def test_message_over_the_size_limit_is_refused_clearly(make_agent, make_visitor):
    await make_agent()
    visitor = await make_visitor()
    conv = await visitor.open()
    path = f"/api/visitor/conversations/{conv['id']}/messages"
    status, body, _ = await visitor.request(
        "POST",
        path,
        {"client_msg_id": "big", "body": "好" * 1366},  # 4098 bytes
    )
    assert status == 413
    assert body["error"]["code"] == "message_too_large"
    status, _, _ = await visitor.request(
        "POST",
        path,
        {"client_msg_id": "fits", "body": "好" * 1365},  # 4095 bytes
    )
    assert status == 201

    ws = await visitor.ws()
    await ws.send_json(
        {"type": "send", "conversation_id": conv["id"], "client_msg_id": "w1", "body": "x" * 5000}
    )
    err = await receive_until(ws, lambda f: f["type"] == "error")
    assert err == {
        "type": "error",
        "code": "message_too_large",
        "message": "message is longer than 4096 bytes",
        "ref": "w1",
    }
    # The socket is still usable.
    await ws.send_json(
        {"type": "send", "conversation_id": conv["id"], "client_msg_id": "w2", "body": "ok"}
    )
    ack = await receive_until(ws, lambda f: f["type"] == "ack")
    assert ack["client_msg_id"] == "w2"
    await ws.close()


async def test_another_visitors_conversation_is_simply_not_found(make_visitor):
    owner, other = await make_visitor(), await make_visitor()
    conv = await owner.open()
    missing = "c_doesnotexist00"
    answers = []
    for conv_id in (conv["id"], missing):
        for method, suffix, body in (
            ("GET", "", None),
            ("GET", "/messages", None),
            ("POST", "/messages", {"client_msg_id": "x", "body": "hi"}),
            ("POST", "/close", None),
        ):
            status, data, _ = await other.request(
                method, f"/api/visitor/conversations/{conv_id}{suffix}", body
            )
            answers.append((status, data))
    # Same answer for "someone else's" and "does not exist": nothing revealed.
    assert {s for s, _ in answers} == {404}
    assert {d["error"]["message"] for _, d in answers} == {"no such conversation"}
    ws = await other.ws()
    await ws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": 0})
    err = await receive_until(ws, lambda f: f["type"] == "error")
    assert err["code"] == "not_found"
    await ws.close()
    status, data, _ = await owner.request("GET", f"/api/visitor/conversations/{conv['id']}")
    assert status == 200 and data["conversation"]["status"] == "waiting"


async def test_requests_without_a_valid_token_are_refused(running, http_sessions):
    http = http_sessions()
    for header in ({}, {"Authorization": "Bearer v_forged.AAAA"}, {"Authorization": "Basic x"}):
        async with http.post(
            running.url("/api/visitor/conversations"), json={}, headers=header
        ) as r:
            assert r.status == 401
            assert (await r.json())["error"]["code"] == "not_authenticated"


async def test_message_flood_gets_429_with_retry_after(make_app, http_sessions):
    from tests.conftest import Visitor

    running = await make_app(visitor_msg_rate=0.5, visitor_msg_burst=3)
    visitor = Visitor(running, http_sessions())
    await visitor.start()
    conv = await visitor.open()
    path = f"/api/visitor/conversations/{conv['id']}/messages"
    statuses = []
    for i in range(5):
        status, body, response = await visitor.request(
            "POST", path, {"client_msg_id": f"m{i}", "body": "spam"}
        )
        statuses.append(status)
    assert statuses == [201, 201, 201, 429, 429]
    assert int(response.headers["Retry-After"]) >= 1
    assert body["error"]["code"] == "rate_limited"

    ws = await visitor.ws()
    await ws.send_json(
        {"type": "send", "conversation_id": conv["id"], "client_msg_id": "w", "body": "more"}
    )
    err = await receive_until(ws, lambda f: f["type"] == "error")
    assert err["code"] == "rate_limited" and err["retry_after"] >= 1 and err["ref"] == "w"
    await ws.close()


async def test_per_address_limits_cover_new_identities_and_conversations(make_app, http_sessions):
    from tests.conftest import Visitor

    running = await make_app(ip_conv_rate=0.01, ip_conv_burst=2)
    http = http_sessions()
    statuses = []
    for _ in range(3):
        async with http.post(running.url("/api/visitor/session"), json={}) as r:
            statuses.append(r.status)
            retry = r.headers.get("Retry-After")
    assert statuses == [201, 201, 429] and retry is not None

    running2 = await make_app(visitor_conv_rate=0.01, visitor_conv_burst=1)
    visitor = Visitor(running2, http_sessions())
    await visitor.start()
    conv = await visitor.open()
    await visitor.request("POST", f"/api/visitor/conversations/{conv['id']}/close")
    status, _, response = await visitor.request("POST", "/api/visitor/conversations", {})
    assert status == 429 and "Retry-After" in response.headers


async def test_malformed_frame_closes_only_that_socket(make_agent, make_visitor):
    await make_agent()
    good, bad = await make_visitor(), await make_visitor()
    conv = await good.open()
    good_ws = await good.ws()
    await good_ws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": 0})
    for payload in ("{not json", "[1,2]", '{"type": "send"}', '{"type": "join", "after_seq": -1}'):
        bad_ws = await bad.ws()
        await bad_ws.send_str(payload)
        err = await bad_ws.receive_json(timeout=5)
        assert err["type"] == "error" and err["code"] == "bad_frame"
        closing = await bad_ws.receive(timeout=5)
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert bad_ws.close_code == 1007
    bad_ws = await bad.ws()
    await bad_ws.send_bytes(b"\x00\x01")
    await bad_ws.receive(timeout=5)
    assert bad_ws.close_code == 1003
    # The other visitor's socket never noticed.
    await good_ws.send_json(
        {"type": "send", "conversation_id": conv["id"], "client_msg_id": "g", "body": "still here"}
    )
    ack = await receive_until(good_ws, lambda f: f["type"] == "ack")
    assert ack["message"]["body"] == "still here"
    await good_ws.close()


async def test_oversized_frame_closes_with_1009(make_visitor):
    visitor = await make_visitor()
    ws = await visitor.ws()
    await ws.send_str("x" * (70 * 1024))
    message = await ws.receive(timeout=5)
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert ws.close_code == 1009


async def test_visitor_socket_without_auth_is_closed(running, http_sessions):
    http = http_sessions()
    ws = await http.ws_connect(running.ws_base + "/api/visitor/ws")
    await ws.send_json({"type": "auth", "token": "v_x.forged"})
    err = await ws.receive_json(timeout=5)
    assert err["code"] == "not_authenticated"
    await ws.receive(timeout=5)
    assert ws.close_code == 1008


async def test_html_in_fields_is_stored_verbatim_and_escaped_in_pages(make_agent, make_visitor):
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    agent = await make_agent()
    visitor = await make_visitor()
    conv = await visitor.open(name=payload[:60], page_url="javascript:" + payload)
    await visitor.request(
        "POST",
        f"/api/visitor/conversations/{conv['id']}/messages",
        {"client_msg_id": "x", "body": payload},
    )
    got = await agent.get(f"/api/console/conversations/{conv['id']}/messages?after_seq=0")
    # Data is kept as typed (the dispatcher may add its "assigned" event after it).
    typed = [m["body"] for m in got["messages"] if m["client_msg_id"] == "x"]
    assert typed == [payload]
    await agent.post(f"/api/console/conversations/{conv['id']}/close")
    for path in ("/console/history", f"/console/history/{conv['id']}"):
        async with agent.http.get(agent.running.url(path)) as r:
            html = await r.text()
        assert "<img src=x" not in html and "<script>alert" not in html
        assert "&lt;img src=x" in html


async def test_bad_json_bodies_get_clear_errors(make_visitor):
    visitor = await make_visitor()
    http: aiohttp.ClientSession = visitor.http
    url = visitor.running.url("/api/visitor/conversations")
    async with http.post(url, data=b"{oops", headers=visitor.auth) as r:
        assert r.status == 422 and (await r.json())["error"]["code"] == "invalid"
    async with http.post(url, data=b"x" * 20000, headers=visitor.auth) as r:
        assert r.status == 413
    async with http.post(url, json={"name": "n" * 200}, headers=visitor.auth) as r:
        assert r.status == 422


async def test_cors_lets_any_site_embed_the_widget_but_not_the_console(
    running, http_sessions, make_visitor
):
    http = http_sessions()
    async with http.options(
        running.url("/api/visitor/conversations"),
        headers={
            "Origin": "https://shop.example.cn",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    ) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    _, _, response = await (await make_visitor()).request("GET", "/api/visitor/nothing")
    assert response.headers["Access-Control-Expose-Headers"] == "Retry-After"
    async with http.get(running.url("/widget.js")) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "javascript" in r.headers["Content-Type"]
    async with http.get(running.url("/login")) as r:
        assert "Access-Control-Allow-Origin" not in r.headers
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


async def test_widget_script_is_revalidated_by_etag(running, http_sessions):
    http = http_sessions()
    async with http.get(running.url("/widget.js")) as r:
        etag = r.headers["ETag"]
        assert "attachShadow" in await r.text()
    async with http.get(running.url("/widget.js"), headers={"If-None-Match": etag}) as r:
        assert r.status == 304
