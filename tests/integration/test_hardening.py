"""What an attacker and a fuzzer found (issue 10, items 5 and 7-14), each fixed where
it starts: invalid text and numbers at the edge, malformed bodies, frames, schemas,
rate limits, contacts and the login redirect."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import jsonschema
import pytest
from yarl import URL

from appliance.webui.openapi import build_openapi
from tests.conftest import PASSWORD, Agent, csrf_in, receive_until

LONE = "\ud800"  # a lone surrogate: valid JSON ("\\ud800"), invalid Unicode text
TOO_BIG = 2**63  # past SQLite's integers


async def raw_http(running: Any, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client to clean them up); return the parsed answer."""
    reader, writer = await asyncio.open_connection(running.server.host, running.server.port)
    line, _, rest = request.partition(b"\r\n")
    writer.write(line + b"\r\nConnection: close\r\n" + rest)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def assert_json_error(status: int, body: Any, *allowed: int) -> None:
    assert status in allowed, (status, body)
    assert isinstance(body, dict) and isinstance(body["error"]["code"], str), body


# ---- 7. lone surrogates and NUL, wherever text enters --------------------------------


@pytest.mark.parametrize("bad", [LONE, "a\x00b"])
async def test_invalid_text_in_visitor_bodies_is_refused_clearly(make_agent, make_visitor, bad):
    await make_agent()
    visitor = await make_visitor()
    conv = await visitor.open()
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (
            "POST",
            f"/api/visitor/conversations/{conv['id']}/messages",
            {"client_msg_id": "a", "body": bad},
        ),
        (
            "POST",
            f"/api/visitor/conversations/{conv['id']}/messages",
            {"client_msg_id": bad, "body": "x"},
        ),
        ("POST", "/api/visitor/conversations", {"name": bad}),
        ("POST", "/api/visitor/conversations", {"topic": bad}),
        ("POST", "/api/visitor/conversations", {"contact": bad}),
        ("POST", "/api/visitor/pageviews", {"url": "https://shop.example/" + bad, "title": "t"}),
        ("POST", "/api/visitor/pageviews", {"url": "https://shop.example/", "title": bad}),
        ("POST", "/api/visitor/pageviews", {"url": "https://shop.example/", "referrer": bad}),
        ("POST", "/api/visitor/session", {"token": bad}),
        ("POST", "/api/visitor/work-items", {"kind": "message", "body": bad}),
        ("POST", "/api/visitor/conversations", {bad: "key"}),
    ]
    for method, path, body in cases:
        status, data, _ = await visitor.request(method, path, body)
        assert_json_error(status, data, 422)
        assert "surrogate" in data["error"]["message"] or "NUL" in data["error"]["message"]
    # The beacon (text/plain, token in the body).
    async with visitor.http.post(
        visitor.running.url("/api/visitor/pageviews/1/dwell"),
        data=f'{{"token": "{visitor.token}", "dwell_ms": 5, "x": "\\ud800"}}',
        headers={"Content-Type": "text/plain"},
    ) as r:
        assert_json_error(r.status, await r.json(), 422)
    # Nothing was stored, and the conversation still works.
    status, data, _ = await visitor.request(
        "POST",
        f"/api/visitor/conversations/{conv['id']}/messages",
        {"client_msg_id": "ok", "body": "好"},
    )
    assert status == 201


async def test_invalid_text_in_console_bodies_is_refused_clearly(make_agent):
    admin = await make_agent(role="admin")
    for method, path, body in (
        ("POST", "/api/console/canned", {"title": LONE, "body": "x"}),
        ("POST", "/api/console/groups", {"name": LONE}),
        ("POST", "/api/admin/sites", {"key": "shop", "name": LONE}),
        ("POST", "/api/console/presence", {"status": LONE}),
    ):
        data = await admin.call(method, path, body, status=422)
        assert "surrogate" in data["error"]["message"]


async def test_invalid_text_in_frames_gets_an_error_frame(make_agent, make_visitor):
    await make_agent()
    visitor = await make_visitor()
    conv = await visitor.open()
    send = f'{{"type": "send", "conversation_id": "{conv["id"]}", '
    for frame in (
        send + '"client_msg_id": "a", "body": "\\ud800"}',
        send + '"client_msg_id": "\\udfff", "body": "x"}',
        '{"type": "ping", "x": "a\\u0000b"}',
    ):
        ws = await visitor.ws()
        await ws.send_str(frame)
        err = await receive_until(ws, lambda f: f["type"] == "error")
        assert err["code"] == "bad_frame"
        closing = await ws.receive(timeout=5)
        assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1007
        await ws.close()
    # The auth frame with a bad token: a clear refusal, not a dropped socket.
    ws = await visitor.http.ws_connect(visitor.running.ws_base + "/api/visitor/ws")
    await ws.send_str('{"type": "auth", "token": "v_\\ud800"}')
    err = await ws.receive_json(timeout=5)
    assert err["code"] == "not_authenticated"
    await ws.close()


async def test_invalid_text_in_urls_and_headers_is_refused(running, make_visitor):
    visitor = await make_visitor()
    conv = await visitor.open()
    host = f"{running.server.host}:{running.server.port}"
    requests = [
        # Not UTF-8 in the query, in a path segment, in Authorization.
        f"GET /api/visitor/conversations/{conv['id']}/messages?after_seq=%ff HTTP/1.1\r\n".encode()
        + f"Host: {host}\r\nAuthorization: Bearer {visitor.token}\r\n\r\n".encode(),
        f"GET /api/visitor/conversations/%ed%a0%80/messages HTTP/1.1\r\nHost: {host}\r\n".encode()
        + f"Authorization: Bearer {visitor.token}\r\n\r\n".encode(),
        f"GET /api/visitor/topics HTTP/1.1\r\nHost: {host}\r\n".encode()
        + b"Authorization: Bearer v_\xff\xfe\r\n\r\n",
        f"GET /api/visitor/conversations/{conv['id']} HTTP/1.1\r\nHost: {host}\r\n".encode()
        + b"Authorization: Bearer \xe4\xbd\xa0\xed\xa0\x80\r\n\r\n",
    ]
    # URLs: aiohttp decodes invalid UTF-8 there with U+FFFD, so these are only wrong
    # values (422, 404); headers keep the bytes, which must be refused (400).
    for raw, expected in zip(requests, (422, 404, 400, 400), strict=True):
        status, headers, body = await raw_http(running, raw)
        assert status == expected, body
        assert headers["content-type"].startswith("application/json")


# ---- 8. integers bounded at the edge --------------------------------------------------


async def test_huge_and_odd_integers_are_refused_clearly(make_agent, make_visitor):
    agent = await make_agent(role="supervisor")
    visitor = await make_visitor()
    conv = await visitor.open()
    for query in (f"after_seq={TOO_BIG}", "after_seq=²", "after_seq=-1", "after_seq=1e3"):
        status, data, _ = await visitor.request(
            "GET", f"/api/visitor/conversations/{conv['id']}/messages?{query}"
        )
        assert_json_error(status, data, 422)
    for body in ({"rules": [{"message": "hi", "min_seconds": TOO_BIG}]},):
        await agent.call("PUT", "/api/console/invite-rules", body, status=422)
    await agent.call(
        "PATCH", f"/api/console/agents/{agent.user_id}", {"max_chats": TOO_BIG}, status=422
    )
    await agent.call(
        "PATCH", f"/api/console/agents/{agent.user_id}", {"max_chats": 1e400}, status=422
    )
    for path in (f"/api/console/groups/{TOO_BIG}", "/api/console/groups/²"):
        await agent.call("PATCH", path, {"name": "x"}, status=404)
    ws = await visitor.ws()
    await ws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": TOO_BIG})
    err = await receive_until(ws, lambda f: f["type"] == "error")
    assert err["code"] == "bad_frame"
    await ws.close()


# ---- 9. malformed forms: who you are first, then a 400 --------------------------------

_BAD_MULTIPART = (
    b'--B\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'  # no closing boundary
)


async def test_malformed_forms_never_give_500(running, make_agent, http_sessions):
    agent = await make_agent(role="admin")
    anonymous = http_sessions()
    bodies: list[tuple[bytes, str]] = [
        (_BAD_MULTIPART, "multipart/form-data; boundary=B"),
        (b"garbage", "multipart/form-data"),  # no boundary at all
        (b"username=\xff\xfe&password=x", "application/x-www-form-urlencoded"),
    ]
    # Every state-changing console and admin operation the API documents (ids: 1).
    paths = (await asyncio.to_thread(build_openapi))["paths"]  # 0.3 s: off the loop
    changes = [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, item in paths.items()
        for method in item
        if method in ("post", "put", "patch", "delete")
        and not path.startswith("/api/visitor/")
        and path not in ("/login", "/setup", "/lang")
        and not path.startswith("/login/")  # the login's later steps: anonymous forms
        and not path.startswith("/portal")  # the customer portal: pages, below
    ]
    portal = [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, item in paths.items()
        for method in item
        if method in ("post", "put", "patch", "delete") and path.startswith("/portal")
    ]
    login_steps = [p for p in paths if p.startswith("/login/")]
    assert len(changes) >= 30
    console_ops = [path for method, path in changes if method == "POST"]
    # The customer portal answers its forms with pages, for a browser: a malformed form
    # is a 4xx page there (or the contract's JSON refusal, for a body no browser
    # sends), never a 500.
    assert len(portal) >= 5
    for data, ctype in bodies:
        for method, path in portal:
            async with anonymous.request(
                method, running.url(path), data=data, headers={"Content-Type": ctype}
            ) as r:
                assert 400 <= r.status < 500, (method, path, r.status, await r.text())
                if r.content_type == "application/json":
                    assert isinstance((await r.json())["error"]["code"], str)
                else:
                    assert r.content_type == "text/html", (method, path)
    for data, ctype in bodies:
        # With the token in a header the form is not needed for CSRF: the handler
        # refuses the body clearly (never 500), and nothing of it is taken.
        for method, path in changes:
            if path == "/logout":
                continue
            async with agent.http.request(
                method,
                running.url(path),
                data=data,
                headers={"Content-Type": ctype, "X-CSRF-Token": agent.csrf},
            ) as r:
                assert 400 <= r.status < 500, (method, path, r.status, await r.text())
                assert isinstance((await r.json())["error"]["code"], str)
        # Nobody logged in: refused for who they are, before the body is read; the
        # anonymous forms without their double-submit cookie are refused as CSRF.
        for path, status, code in (
            *((p, 401, "not_authenticated") for m, p in changes if p != "/logout"),
            *((p, 403, "csrf") for p in ("/login", "/setup", "/lang", "/logout", *login_steps)),
        ):
            async with http_sessions().request(
                dict((p, m) for m, p in changes).get(path, "POST"),
                running.url(path),
                data=data,
                headers={"Content-Type": ctype},
            ) as r:
                assert r.status == status, (path, r.status, await r.text())
                assert (await r.json())["error"]["code"] == code
        # Logged in, token in the form: the form cannot be read, so a clear 400.
        for path in console_ops:
            async with agent.http.post(
                running.url(path), data=data, headers={"Content-Type": ctype}
            ) as r:
                assert r.status == 400, (path, r.status, await r.text())
                assert (await r.json())["error"]["code"] == "bad_request"
        # The login, setup and language forms carry the anonymous double-submit token.
        async with anonymous.get(running.url("/login")) as page:
            csrf_in(await page.text())
        for path in ("/login", "/setup", "/lang"):
            async with anonymous.post(
                running.url(path), data=data, headers={"Content-Type": ctype}
            ) as r:
                assert r.status == 400, (path, r.status, await r.text())
                assert (await r.json())["error"]["code"] == "bad_request"
    # A file where a field belongs is refused too.
    form = aiohttp.FormData()
    form.add_field("csrf_token", agent.csrf)
    form.add_field("status", b"away", filename="x.txt")
    async with agent.http.post(running.url("/api/console/presence"), data=form) as r:
        assert r.status == 400


# ---- 10. frame fields are type-checked -----------------------------------------------


async def test_watch_visitors_with_wrong_types_gets_bad_frame(make_agent):
    agent = await make_agent(role="supervisor")
    for frame in (
        {"type": "watch_visitors", "filter": [1]},
        {"type": "watch_visitors", "filter": "x"},
        {"type": "watch_visitors", "filter": {"q": 5}},
        {"type": "watch_visitors", "offset": "1"},
        {"type": "watch_visitors", "limit": TOO_BIG},
    ):
        ws = await agent.ws()
        await ws.send_json(frame)
        err = await receive_until(ws, lambda f: f["type"] == "error")
        assert err["code"] == "bad_frame", frame
        await ws.close()


# ---- 12. a visitor without page views matches the documented schema -------------------


async def test_visitor_detail_without_page_views_matches_its_schema(make_agent, make_visitor):
    agent = await make_agent(role="supervisor")
    visitor = await make_visitor()
    await visitor.open()  # a chat, but no page view ever
    doc = await agent.get("/api/openapi.json")
    detail = await agent.get(f"/api/console/visitors/{visitor.visitor_id}")
    schema = {**doc, "$ref": "#/components/schemas/VisitorDetail"}
    jsonschema.validate(detail["visitor"], schema)
    assert detail["visitor"]["region"]["status"] == "unknown"
    assert detail["visitor"]["source"]["kind"] == "direct"


# ---- 13. rate limits count accepted new messages; resends get their ack ---------------


async def test_refused_messages_cost_nothing_and_resends_always_get_their_ack(
    make_app, http_sessions
):
    running = await make_app(visitor_msg_burst=3, visitor_msg_rate=0.01)
    from tests.conftest import Visitor

    visitor = Visitor(running, http_sessions())
    await visitor.start()
    conv = await visitor.open()
    path = f"/api/visitor/conversations/{conv['id']}/messages"
    for i in range(5):  # refused: empty and too large; none of them counts
        body = "" if i % 2 else "x" * 5000
        status, _, _ = await visitor.request(
            "POST", path, {"client_msg_id": f"bad{i}", "body": body}
        )
        assert status in (413, 422)
    for i in range(3):
        status, _, _ = await visitor.request("POST", path, {"client_msg_id": f"m{i}", "body": "hi"})
        assert status == 201
    status, data, r = await visitor.request("POST", path, {"client_msg_id": "m3", "body": "hi"})
    assert status == 429 and int(r.headers["Retry-After"]) >= 1
    # Out of allowance, a resend of a stored message still gets its ack, over both paths.
    status, data, _ = await visitor.request("POST", path, {"client_msg_id": "m1", "body": "hi"})
    assert status == 200 and data["message"]["client_msg_id"] == "m1"
    ws = await visitor.ws()
    await ws.send_json(
        {"type": "send", "conversation_id": conv["id"], "client_msg_id": "m2", "body": "hi"}
    )
    ack = await receive_until(ws, lambda f: f["type"] in ("ack", "error"))
    assert ack["type"] == "ack" and ack["message"]["client_msg_id"] == "m2"
    await ws.close()


async def test_an_overlong_request_line_gets_the_json_error(running):
    host = f"{running.server.host}:{running.server.port}"
    raw = f"GET /api/visitor/topics?q={'a' * 9000} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    status, headers, body = await raw_http(running, raw)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert b'"code": "bad_request"' in body
    raw = f"GET / HTTP/1.1\r\nHost: {host}\r\nX-Big: {'b' * 9000}\r\n\r\n".encode()
    status, headers, _ = await raw_http(running, raw)
    assert status in (400, 431) and headers["content-type"].startswith("application/json")


# ---- 14. contacts are real e-mail addresses and phone numbers -------------------------


@pytest.mark.parametrize(
    "contact",
    [
        "a@b.cn<script>alert(1)</script>",
        "javascript:alert(1)//@x.cn",
        "a@b",
        "@x.cn",
        "138-abc",
        "12345",
        "1((((((((",
        '"><img src=x>@x.cn',
    ],
)
async def test_bad_contacts_are_refused_and_nothing_is_stored(make_visitor, contact):
    visitor = await make_visitor()
    status, data, _ = await visitor.request(
        "POST", "/api/visitor/conversations", {"contact": contact}
    )
    assert status == 422 and data["error"]["code"] == "contact_invalid"
    status, data, _ = await visitor.request(
        "POST", "/api/visitor/work-items", {"kind": "message", "body": "hi", "contact": contact}
    )
    assert status == 422 and data["error"]["code"] == "contact_invalid"
    count = await visitor.running.box.db.fetchone("SELECT count(*) FROM customers")
    assert count is not None and count[0] == 0


async def test_good_contacts_are_kept(make_agent, make_visitor):
    await make_agent()
    for contact, email, phone in (
        ("lilei@example.cn", "lilei@example.cn", ""),
        ("张三@例子.中国", "张三@例子.中国", ""),
        ("+86 138-0013-8000", "", "+86 138-0013-8000"),
        ("010-12345678", "", "010-12345678"),
    ):
        visitor = await make_visitor()
        status, _, _ = await visitor.request(
            "POST", "/api/visitor/conversations", {"contact": contact}
        )
        assert status in (200, 201)
        row = await visitor.running.box.db.fetchone(
            "SELECT email, phone FROM customers ORDER BY id DESC LIMIT 1"
        )
        assert row is not None and (row["email"], row["phone"]) == (email, phone)


# ---- 5. the redirect after login stays on this box ------------------------------------

REDIRECT_TRICKS = [
    "//example.org/",
    "/\t/example.org/",
    "/\n/example.org/",
    "/\r\n/example.org/",
    "/\\example.org/",
    "/\\/example.org/",
    "\\\\example.org/",
    "/ /example.org/",
    "https://example.org/",
    "http:example.org",
    "javascript:alert(1)",
    "data:text/html,x",
    "%2F%2Fexample.org",
    "/%09/example.org",
    "///example.org",
    "/\x00/example.org",
    "/\u3000/example.org",
    "//example.org@box/",
    "\x7f//example.org",
]


async def test_login_redirects_only_to_paths_on_this_box(running, http_sessions):
    await running.box.accounts.create_user("wei", PASSWORD, "agent")
    for target in [*REDIRECT_TRICKS, "/console/chats?x=1"]:
        http = http_sessions()
        async with http.get(running.url("/login")) as page:
            token = csrf_in(await page.text())
        async with http.post(
            running.url("/login"),
            data={"username": "wei", "password": PASSWORD, "csrf_token": token, "next": target},
            allow_redirects=False,
        ) as r:
            if "\x00" in target:  # not text at all: refused before anything else
                assert r.status == 400 and (await r.json())["error"]["code"] == "bad_request"
                continue
            assert r.status == 302
            location = r.headers["Location"]
        base = URL(running.url("/"))
        resolved = base.join(URL(location))
        assert resolved.origin() == base.origin(), (target, location)
        assert location.startswith("/") and not location.startswith(("//", "/\\"))
        if target.startswith("/console/chats"):
            assert location == target
        elif not target.startswith(("/%09", "/\u3000")):  # those two are paths here
            assert location == "/console", (target, location)
        # Already logged in, the login page's own ?next= follows the same rule.
        async with http.get(
            running.url("/login"), params={"next": target}, allow_redirects=False
        ) as r:
            if r.status == 302:
                assert base.join(URL(r.headers["Location"])).origin() == base.origin()


# ---- 6. nobody on the LAN can lock an agent out -----------------------------------------


async def test_failing_from_one_address_does_not_lock_the_user_out_elsewhere(
    running, http_sessions
):
    await running.box.accounts.create_user("lina", PASSWORD, "agent")
    attacker = Agent(running, http_sessions(), 0)
    statuses = [(await attacker.login("lina", "wrong password")).status for _ in range(7)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    # The real user, from another address (the core sees the address the app passes).
    step = await running.box.login.password("lina", PASSWORD, "192.0.2.7")
    assert step is not None and step.user is not None and step.user.username == "lina"
