"""Visitor tracking in Debian's Chromium: the widget's one tag on a shop of another origin.

A visitor comes from a Baidu search: the box files the page view with its source and
keyword. Time on page counts only while the page is visible and arrives by beacon when
the tab is hidden and when the visitor leaves; a single-page-app route is a second page
view, and the shop's own router still works. After leaving and coming back (a new page
load, session storage gone, local storage kept) the visitor has the same id. A campaign
landing keeps its UTM parameters. When the admin honours Do-Not-Track, a DNT browser's
page view is refused and nothing follows it; data-track="off" sends nothing at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import inspect
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, Request, expect

from tests.browser.conftest import Appliance
from tests.browser.test_queue_overflow import add_user, console_api

pytestmark = pytest.mark.browser

SHOP_PAGE = Path(__file__).resolve().parents[1] / "fixtures" / "shop_page.html"
WAIT = 20_000  # ms, the longest any single wait may take
KEYWORD = "蓝牙耳机"
BAIDU = f"https://www.baidu.com/s?wd={quote(KEYWORD)}&ie=utf-8"
SHOP_TITLE = "Acme 商城 — 蓝牙耳机"
CASE_TITLE = "Acme 商城 — 耳机保护套"
AWAY_PAGE = "<!doctype html><title>别处</title><p>别的网站</p>"

# Make the page look hidden to itself, as a switch to another tab does, and back.
HIDE_JS = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW_JS = """() => {
  delete document.visibilityState;
  delete document.hidden;
  document.dispatchEvent(new Event("visibilitychange"));
}"""


@dataclass
class Shop:
    """A company website on its own origin; each page carries the widget tag it is given."""

    origin: str
    box: str = ""
    attrs: dict[str, str] = field(default_factory=dict)

    def tag(self) -> str:
        """Return the one tag a company pastes, with the attributes the test chose."""
        extra = "".join(f' {k}="{html.escape(v)}"' for k, v in self.attrs.items())
        src = html.escape(self.box + "/widget.js")
        return f'<script src="{src}" async data-shadow="open"{extra}></script>'


@contextlib.asynccontextmanager
async def serve_shop() -> AsyncIterator[Shop]:
    """Serve the shop page at any /shop/… path, and a page without the widget to leave to."""
    template = SHOP_PAGE.read_text(encoding="utf-8")
    state = Shop("")

    async def page(_request: web.Request) -> web.Response:
        body = template.replace("<!--WIDGET-->", state.tag())
        return web.Response(text=body, content_type="text/html")

    async def away(_request: web.Request) -> web.Response:
        return web.Response(text=AWAY_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/shop/{tail:.*}", page)
    app.router.add_get("/away.html", away)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    state.origin = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    async with serve_shop() as served:
        yield served


def _read(db: Path, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


async def rows(appliance: Appliance, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Read the box's own SQLite file (WAL: readers never block its writer)."""
    return await asyncio.to_thread(_read, appliance.data_dir / "callbox.db", sql, params)


async def eventually(
    probe: Callable[[], Any], ok: Callable[[Any], bool], what: str, timeout: float = WAIT / 1000
) -> Any:
    """Poll a probe (plain or async) until its value is ok; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: last saw {value!r}")
        await asyncio.sleep(0.1)


async def visitor_id_of(page: Page) -> str:
    """Return the visitor id the widget keeps in the host page's localStorage."""
    handle = await page.wait_for_function(
        "() => { try { return JSON.parse(localStorage.getItem('callbox.visitor')).visitor_id; }"
        " catch (e) { return null; } }"
    )
    return str(await handle.json_value())


async def page_views(appliance: Appliance, vid: str) -> list[dict[str, Any]]:
    return await rows(appliance, "SELECT * FROM page_views WHERE visitor_id = ? ORDER BY id", vid)


async def visit_of(appliance: Appliance, visit_id: int) -> dict[str, Any]:
    found = await rows(appliance, "SELECT * FROM visits WHERE id = ?", visit_id)
    assert len(found) == 1, visit_id
    return found[0]


def box_requests(page: Page, box: str) -> list[str]:
    """Collect the paths of every request the page makes to the box."""
    seen: list[str] = []

    def on_request(request: Request) -> None:
        if request.url.startswith(box):
            seen.append(request.method + " " + request.url[len(box) :])

    page.on("request", on_request)
    page.on("websocket", lambda ws: seen.append("WS " + ws.url))
    return seen


async def test_search_visit_dwell_routes_and_return(
    chromium: Browser, appliance: Appliance, shop: Shop
) -> None:
    expect.set_options(timeout=WAIT)
    await appliance.start()
    shop.box = appliance.origin
    ctx = await chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 760})
    ctx.set_default_timeout(WAIT)
    errors: list[str] = []
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        landing = f"{shop.origin}/shop/earphones.html?color=black"
        assert shop.origin != appliance.origin
        # Upper bounds are taken before an action starts and after it ends, lower bounds
        # from waits inside: a slow machine cannot make a right dwell look wrong.
        loaded = time.monotonic()
        await page.goto(landing, referer=BAIDU)
        vid = await visitor_id_of(page)

        # ---- the page view, its visit and where it came from ----
        views = await eventually(
            lambda: page_views(appliance, vid), lambda v: len(v) == 1, "first page view"
        )
        assert views[0]["url"] == landing
        assert views[0]["title"] == SHOP_TITLE
        visit = (await rows(appliance, "SELECT * FROM visits WHERE id = ?", views[0]["visit_id"]))[
            0
        ]
        assert visit["visitor_id"] == vid
        assert visit["site"] == "default"
        assert (visit["source_kind"], visit["engine"], visit["keyword"]) == (
            "search",
            "baidu",
            KEYWORD,
        )
        assert visit["referrer"] == BAIDU
        assert visit["landing_url"] == landing

        # ---- visible for a second, then hidden: the beacon brings the visible time ----
        await page.wait_for_timeout(1000)
        await page.evaluate(HIDE_JS)
        hidden_at = time.monotonic()
        views = await eventually(
            lambda: page_views(appliance, vid), lambda v: v[0]["dwell_ms"] > 0, "dwell on hide"
        )
        first_dwell = views[0]["dwell_ms"]
        assert 800 <= first_dwell <= (hidden_at - loaded) * 1000, first_dwell

        # ---- two seconds in the background count for nothing ----
        await page.wait_for_timeout(2000)
        shown_again = time.monotonic()
        await page.evaluate(SHOW_JS)
        await page.wait_for_timeout(500)

        # ---- a single-page-app route: the old page's dwell, then a second page view ----
        routing = time.monotonic()
        await page.evaluate("go('/shop/case.html?from=earphones', '" + CASE_TITLE + "')")
        routed_at = time.monotonic()
        views = await eventually(
            lambda: page_views(appliance, vid),
            lambda v: len(v) == 2 and v[0]["dwell_ms"] > first_dwell,
            "the first page's final dwell and the route's page view",
        )
        final_dwell = views[0]["dwell_ms"]
        visible = (hidden_at - loaded) + (routed_at - shown_again)
        assert final_dwell >= first_dwell + 400, (first_dwell, final_dwell)
        assert final_dwell <= visible * 1000, (final_dwell, visible)
        # The two hidden seconds are not in it: well under the wall time of the page.
        assert final_dwell <= (routed_at - loaded) * 1000 - 1500, final_dwell
        second = views[1]
        assert second["url"] == f"{shop.origin}/shop/case.html?from=earphones"
        assert second["title"] == CASE_TITLE  # set by the router after its push
        assert second["visit_id"] == views[0]["visit_id"]
        # The shop's router saw its own push behave as always.
        routes = await page.evaluate("() => window.routes")
        assert routes == [
            {"path": "/shop/case.html?from=earphones", "grew": True, "result": "undefined"}
        ]
        # An in-page anchor is not a new page.
        await page.evaluate("() => history.pushState(null, '', '#reviews')")
        await page.wait_for_timeout(600)
        assert len(await page_views(appliance, vid)) == 2

        # ---- leaving the site: pagehide sends the route's dwell by beacon ----
        await page.wait_for_timeout(700)
        await page.locator("#away").click()
        await page.wait_for_url(f"{shop.origin}/away.html")
        left_at = time.monotonic()
        views = await eventually(
            lambda: page_views(appliance, vid),
            lambda v: v[1]["dwell_ms"] > 0,
            "dwell of the route after leaving",
        )
        assert 1000 <= views[1]["dwell_ms"] <= (left_at - routing) * 1000, views[1]

        # ---- coming back: a new page load, session storage gone, local storage kept ----
        await page.evaluate("() => sessionStorage.clear()")
        await page.goto(landing)
        assert await visitor_id_of(page) == vid
        views = await eventually(
            lambda: page_views(appliance, vid), lambda v: len(v) == 3, "the returning page view"
        )
        assert views[2]["url"] == landing
        visitors = await rows(appliance, "SELECT id FROM visitors")
        assert [v["id"] for v in visitors] == [vid]
        # Within 30 minutes it is the same visit; its source stays the search.
        assert views[2]["visit_id"] == views[0]["visit_id"]
    finally:
        await ctx.close()
    assert not errors, errors


async def test_campaign_landing_do_not_track_and_tracking_off(
    chromium: Browser, appliance: Appliance, shop: Shop
) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "root", "--role", "admin", "--display-name", "管理员")
    await appliance.start()
    shop.box = appliance.origin
    errors: list[str] = []

    # ---- a campaign link from WeChat: the UTM parameters are the source ----
    ctx = await chromium.new_context(locale="zh-CN")
    ctx.set_default_timeout(WAIT)
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        landing = (
            f"{shop.origin}/shop/earphones.html?utm_source=weixin&utm_medium=social"
            f"&utm_campaign={quote('双十一')}&utm_term={quote('降噪耳机')}"
        )
        await page.goto(landing)
        vid = await visitor_id_of(page)
        views = await eventually(
            lambda: page_views(appliance, vid), lambda v: len(v) == 1, "campaign page view"
        )
        visit = (await rows(appliance, "SELECT * FROM visits WHERE id = ?", views[0]["visit_id"]))[
            0
        ]
        assert (visit["source_kind"], visit["keyword"]) == ("campaign", "降噪耳机")
        utm = json.loads(visit["utm"])
        assert utm["utm_source"] == "weixin"
        assert utm["utm_campaign"] == "双十一"
    finally:
        await ctx.close()

    # ---- Do-Not-Track, honoured by the admin's choice: one refused page view, then nothing ----
    async with console_api(appliance, "root") as admin:
        await admin.call("PUT", "/api/admin/privacy", {"honour_dnt": True})
    ctx = await chromium.new_context(locale="zh-CN", extra_http_headers={"DNT": "1"})
    ctx.set_default_timeout(WAIT)
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        sent = box_requests(page, appliance.origin)
        async with page.expect_response(lambda r: r.url.endswith("/api/visitor/pageviews")) as a:
            await page.goto(f"{shop.origin}/shop/earphones.html", referer=BAIDU)
        assert await (await a.value).json() == {"tracked": False}
        vid = await visitor_id_of(page)
        await page.evaluate(HIDE_JS)
        await page.evaluate("go('/shop/case.html', '" + CASE_TITLE + "')")
        await page.wait_for_timeout(1000)
        assert [r for r in sent if "pageviews" in r or r.startswith("WS")] == [
            "POST /api/visitor/pageviews"
        ], sent
        assert await page_views(appliance, vid) == []
    finally:
        await ctx.close()

    # ---- data-track="off": the session, and nothing else until the visitor chats ----
    shop.attrs = {"data-track": "off"}
    ctx = await chromium.new_context(locale="zh-CN")
    ctx.set_default_timeout(WAIT)
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        sent = box_requests(page, appliance.origin)
        await page.goto(f"{shop.origin}/shop/earphones.html", referer=BAIDU)
        vid = await visitor_id_of(page)
        await page.wait_for_timeout(1500)
        await page.evaluate(HIDE_JS)
        await page.evaluate("go('/shop/case.html', '" + CASE_TITLE + "')")
        await page.wait_for_timeout(1000)
        assert not [r for r in sent if "pageviews" in r or r.startswith("WS")], sent
        assert await page_views(appliance, vid) == []
        assert await rows(appliance, "SELECT id FROM visits WHERE visitor_id = ?", vid) == []
        # The chat itself still works.
        await page.evaluate(SHOW_JS)
        await page.locator('[data-cb="launcher"]').click()
        await expect(page.locator('[data-cb="status"]')).to_have_attribute("data-state", "idle")
    finally:
        await ctx.close()
    assert not errors, errors
