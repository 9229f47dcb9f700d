"""What the widget sends on every page view is a CORS "simple" request (no preflight):
the session and the page view take their JSON as text/plain, the page view its token in
the body; the answers forbid caching, preflights may be kept, and the document says so.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import aiohttp

from appliance.webui.openapi import build_openapi
from tests.conftest import Running, Visitor

MakeVisitor = Callable[..., Awaitable[Visitor]]
PLAIN = {"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://shop.example"}
PAGE = "https://shop.example/pricing"


async def test_the_session_takes_its_json_as_text_plain(
    running: Running, http_sessions: Callable[[], aiohttp.ClientSession]
) -> None:
    http = http_sessions()
    url = running.url("/api/visitor/session")
    async with http.post(url, data="{}", headers=PLAIN) as r:
        assert r.status == 201, await r.text()
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert r.headers["Cache-Control"] == "no-store"
        token = (await r.json())["token"]
    async with http.post(url, data=json.dumps({"token": token}), headers=PLAIN) as r:
        assert r.status == 200 and (await r.json())["token"] == token
    # Still the typed contract: text that is not the JSON it names is refused.
    for bad in ("token=x", '{"token": 5}', '["x"]', '{"token": "x"'):
        async with http.post(url, data=bad, headers=PLAIN) as r:
            assert r.status == 422, (bad, await r.text())


async def test_a_page_view_carries_its_token_in_a_text_plain_body(
    running: Running, make_visitor: MakeVisitor
) -> None:
    visitor = await make_visitor()
    url = running.url("/api/visitor/pageviews")
    body = {"url": PAGE, "title": "价格", "site": "default"}
    async with visitor.http.post(
        url, data=json.dumps({**body, "token": visitor.token}), headers=PLAIN
    ) as r:
        assert r.status == 201, await r.text()
        assert (await r.json())["tracked"] is True
    row = await running.box.db.fetchone("SELECT visitor_id, url FROM page_views")
    assert row is not None and tuple(row) == (visitor.visitor_id, PAGE)
    # No token, a forged one, or a bearer header that is wrong (checked first, even when
    # the body's token is good): 401, and nothing is stored.
    other = await make_visitor()
    for data, headers in (
        (body, PLAIN),
        ({**body, "token": visitor.token + "x"}, PLAIN),
        (
            {**body, "token": visitor.token},
            {**PLAIN, "Authorization": "Bearer " + other.token[:-1]},
        ),
    ):
        async with visitor.http.post(url, data=json.dumps(data), headers=headers) as r:
            assert r.status == 401, await r.text()
    # The bearer header still works, and wins over a body's token.
    async with visitor.http.post(
        url, json={**body, "token": visitor.token}, headers=other.auth
    ) as r:
        assert r.status == 201
    count = await running.box.db.fetchone(
        "SELECT count(*) FROM page_views WHERE visitor_id = ?", (other.visitor_id,)
    )
    assert count is not None and count[0] == 1
    async with visitor.http.post(
        url, data=json.dumps({**body, "token": "t" * 513}), headers=PLAIN
    ) as r:
        assert r.status == 422


async def test_preflights_may_be_kept_two_hours_and_answers_are_not(
    running: Running, make_visitor: MakeVisitor
) -> None:
    visitor = await make_visitor()
    async with visitor.http.options(
        running.url("/api/visitor/conversations"),
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    ) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Max-Age"] == "7200"
    async with visitor.http.get(running.url("/api/visitor/topics")) as r:
        assert r.headers["Cache-Control"] == "no-store"
    # What sets its own lifetime keeps it.
    async with visitor.http.get(running.url("/widget.js")) as r:
        assert r.headers["Cache-Control"] == "public, max-age=300"


def test_the_document_lists_text_plain_where_the_box_takes_it() -> None:
    paths = build_openapi()["paths"]
    for path in ("/api/visitor/session", "/api/visitor/pageviews"):
        media = paths[path]["post"]["requestBody"]["content"]
        assert sorted(media) == ["application/json", "text/plain"], path
        assert media["text/plain"] == media["application/json"]
    conversations = paths["/api/visitor/conversations"]["post"]["requestBody"]["content"]
    assert list(conversations) == ["application/json"]
