"""The widget on strict or odd host pages, in Debian's Chromium.

A page greyed for mourning (`body{filter:grayscale(1)}`) or with a transform on its
<body> or <html> still shows the launcher and the panel at the corner of the screen,
clickable. Under a Content-Security-Policy that allows the box's origin but no inline
style, a visitor chats with an agent end to end and the page reports no violation.
Under one without ws: in connect-src, the visitor is told the chat cannot connect and
their message becomes a left message (a ticket). A page view, first or returning,
costs no CORS preflight.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    FloatRect,
    Page,
    ViewportSize,
    WebSocketRoute,
    expect,
)

from tests import file_samples as samples
from tests.browser.conftest import Appliance
from tests.browser.test_queue_overflow import add_user
from tests.browser.test_read_rating import agent_says, login
from tests.browser.test_tracking import eventually, rows

pytestmark = pytest.mark.browser

WAIT = 20_000  # ms, the longest any single wait may take
DESKTOP: ViewportSize = {"width": 1280, "height": 760}
GAP = 20  # px, the launcher's default distance from the side and the bottom
LAUNCHER = 56  # px

# Records what the page's Content-Security-Policy refused, from the first script on.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
}, true);
"""


def page_html(box: str, *, style: str = "", body: str = "") -> str:
    """A company page with the widget's one tag (and, for the test, an open shadow root)."""
    head = f"<style>{style}</style>" if style else ""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>Acme</title>{head}</head><body><main><h1>Acme</h1>{body}</main>"
        f'<script src="{box}/widget.js" async data-shadow="open"></script></body></html>'
    )


@contextlib.asynccontextmanager
async def host_site(pages: dict[str, tuple[str, str]]) -> AsyncIterator[str]:
    """Serve pages (name -> (html, Content-Security-Policy or "")) from another origin."""

    async def page(request: web.Request) -> web.Response:
        if request.match_info["name"] not in pages:
            raise web.HTTPNotFound()  # the browser's /favicon.ico
        html, csp = pages[request.match_info["name"]]
        headers = {"Content-Security-Policy": csp} if csp else {}
        return web.Response(text=html, content_type="text/html", headers=headers)

    app = web.Application()
    app.router.add_get("/{name}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def strict_csp(box: str, *, ws: bool = True) -> str:
    """What docs/widget-guide.md tells a site to allow; no 'unsafe-inline' anywhere."""
    socket = " " + box.replace("http://", "ws://") if ws else ""
    return (
        f"default-src 'self'; script-src 'self' {box}; connect-src 'self' {box}{socket}; "
        f"img-src 'self' {box} blob:; style-src 'self'"
    )


async def csp_refusals(page: Page) -> list[str]:
    return await page.evaluate("() => window.__csp")  # type: ignore[no-any-return]


class Preflights:
    """Count the CORS preflights a page sends (DevTools reports them as their own
    requests, of type Preflight)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def watch(self, ctx: BrowserContext, page: Page) -> None:
        cdp = await ctx.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", self._sent)
        await cdp.send("Network.enable")

    def _sent(self, event: dict[str, Any]) -> None:
        if event.get("type") == "Preflight" or event["request"]["method"] == "OPTIONS":
            self.seen.append(event["request"]["url"])


async def at_corner(page: Page, selector: str, bottom: int) -> FloatRect:
    """The element's box, which must sit GAP from the viewport's right and `bottom` px
    from its bottom, on screen."""
    box = await page.locator(selector).bounding_box()
    assert box is not None, selector
    right = DESKTOP["width"] - (box["x"] + box["width"])
    under = DESKTOP["height"] - (box["y"] + box["height"])
    assert abs(right - GAP) <= 1 and abs(under - bottom) <= 1, (selector, box)
    return box


@pytest.mark.parametrize(
    "style",
    [
        "body{filter:grayscale(1)}",
        "html{filter:grayscale(100%)} body{transform:translateZ(0)}",
        "body{zoom:1.25; transform:scale(0.9)}",
    ],
)
async def test_a_greyed_or_transformed_page_keeps_the_widget_at_the_corner(
    chromium: Browser, appliance: Appliance, style: str
) -> None:
    expect.set_options(timeout=WAIT)
    await appliance.start()
    tall = "<p>正文</p>" * 200  # the body ends far below the screen
    pages = {"grey.html": (page_html(appliance.origin, style=style, body=tall), "")}
    errors: list[str] = []
    async with host_site(pages) as origin:
        ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
        ctx.set_default_timeout(WAIT)
        try:
            page = await ctx.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{origin}/grey.html")
            launcher = page.locator('[data-cb="launcher"]')
            await expect(launcher).to_be_visible()
            await at_corner(page, '[data-cb="launcher"]', GAP)
            # Clickable where it is drawn: Playwright clicks the point it sees it at,
            # and refuses if something else (the page) would get the click.
            await launcher.click()
            panel = page.locator('[data-cb="panel"]')
            await expect(panel).to_be_visible()
            await at_corner(page, '[data-cb="panel"]', GAP + LAUNCHER + 12)
            await page.locator('[data-cb="input"]').fill("你好")
            await page.locator('[data-cb="minimize"]').click()
            await expect(panel).to_be_hidden()
            # Scrolled to the end of the long page, it stays put.
            await page.mouse.wheel(0, 5000)
            await page.wait_for_function("() => scrollY > 0")
            await at_corner(page, '[data-cb="launcher"]', GAP)
            # Not greyed with the page: it is drawn outside the body's filter.
            top_layer = await page.evaluate(
                "() => document.querySelector('callbox-widget').matches(':popover-open')"
            )
            assert top_layer is True
        finally:
            await ctx.close()
    assert not errors, errors


async def test_a_strict_csp_chat_end_to_end_without_a_violation(
    chromium: Browser, appliance: Appliance
) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "wangfang", "--role", "agent", "--display-name", "王芳")
    await appliance.start()
    box = appliance.origin
    pages = {"strict.html": (page_html(box), strict_csp(box))}
    errors: list[str] = []
    async with host_site(pages) as origin:
        agent_ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
        visitor_ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
        await visitor_ctx.add_init_script(WATCH_CSP)
        for ctx in (agent_ctx, visitor_ctx):
            ctx.set_default_timeout(WAIT)
        try:
            console = await agent_ctx.new_page()
            await login(console, appliance, "wangfang")
            await console.locator('[data-cb="presence"]').select_option("online")

            widget = await visitor_ctx.new_page()
            widget.on("pageerror", lambda e: errors.append(str(e)))

            def said(message: ConsoleMessage) -> None:
                if "Content Security Policy" in message.text:
                    errors.append(message.text)

            widget.on("console", said)
            await widget.goto(f"{origin}/strict.html")
            await widget.locator('[data-cb="launcher"]').click()
            status = widget.locator('[data-cb="status"]')
            await expect(status).to_have_attribute("data-state", "idle")
            # Styled: the constructed sheet applies (a refused <style> would leave the
            # panel unstyled, static and white-on-nothing).
            panel = widget.locator('[data-cb="panel"]')
            await expect(panel).to_have_css("position", "fixed")
            await expect(widget.locator('[data-cb="send"]')).to_have_css(
                "background-color", "rgb(37, 99, 235)"
            )
            await widget.locator('[data-cb="input"]').fill("严格策略下你好")
            await widget.locator('[data-cb="input"]').press("Enter")
            mine = widget.locator('[data-cb="message"][data-sender="visitor"][data-seq]')
            await expect(mine).to_have_count(1)
            await expect(status).to_have_attribute("data-state", "active")
            await console.locator('[data-cb="mine-list"] [data-cb="conv"]').click()
            await agent_says(console, "您好，请讲")
            theirs = widget.locator('[data-cb="message"][data-sender="agent"]')
            await expect(theirs.locator(".body")).to_have_text("您好，请讲")
            # A picture (uploaded, its thumbnail and the viewer from blob: URLs) and the
            # emoji picker (lazy ES modules with their own sheets), under the same policy.
            await widget.locator('[data-cb="file-input"]').set_input_files(
                [
                    {
                        "name": "铭牌.jpg",
                        "mimeType": "image/jpeg",
                        "buffer": samples.jpeg_with_gps(640, 480),
                    }
                ]
            )
            thumb = widget.locator('[data-cb="message"] [data-cb="thumb"]')
            await expect(thumb).to_have_attribute("src", re.compile(r"^blob:"))
            decoded = "img => img.decode().then(() => img.naturalWidth)"
            assert await thumb.evaluate(decoded) > 0
            await thumb.click()
            viewer = widget.locator('[data-cb="viewer"]')
            await expect(viewer).to_be_visible()
            assert await viewer.locator('[data-cb="viewer-image"]').evaluate(decoded) == 640
            await widget.keyboard.press("Escape")
            await expect(viewer).to_have_count(0)
            await widget.locator('[data-cb="emoji"]').click()
            await expect(widget.locator('[data-cb="emoji-picker"]')).to_be_visible()
            await widget.wait_for_timeout(300)
            assert await csp_refusals(widget) == []
            # The watch works: an inline style attribute is refused and seen.
            await widget.evaluate(
                "() => { document.body.innerHTML += '<b style=\"color:red\">x</b>'; }"
            )
            await eventually(lambda: csp_refusals(widget), bool, "a refusal to be seen")
            assert any("style-src" in r for r in await csp_refusals(widget))
        finally:
            await visitor_ctx.close()
            await agent_ctx.close()
    # Only the control's own refusal reached the console.
    assert all("inline style" in e for e in errors), errors


async def test_without_ws_in_the_csp_the_message_is_left_as_a_ticket(
    chromium: Browser, appliance: Appliance
) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "wangfang", "--role", "agent", "--display-name", "王芳")
    await appliance.start()
    box = appliance.origin
    pages = {"nows.html": (page_html(box), strict_csp(box, ws=False))}
    text = "发票抬头写错了，请帮我改一下"
    async with host_site(pages) as origin:
        ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
        ctx.set_default_timeout(WAIT)
        await ctx.add_init_script(WATCH_CSP)
        try:
            widget = await ctx.new_page()
            await widget.goto(f"{origin}/nows.html")
            await widget.locator('[data-cb="launcher"]').click()
            await widget.locator('[data-cb="input"]').fill(text)
            await widget.locator('[data-cb="input"]').press("Enter")
            status = widget.locator('[data-cb="status"]')
            await expect(status).to_have_attribute("data-state", "nosocket")
            await expect(status).to_have_text("无法建立实时连接，消息暂时发不出去")
            offer = widget.locator('[data-cb="overflow"]')
            await expect(offer).to_have_attribute("data-reason", "nosocket")
            await widget.locator('[data-cb="overflow-message"]').click()
            await expect(widget.locator('[data-cb="wi-body"]')).to_have_value(text)
            await widget.locator('[data-cb="wi-name"]').fill("李雷")
            await widget.locator('[data-cb="wi-contact"]').fill("lilei@example.cn")
            await widget.locator('[data-cb="overflow-submit"]').click()
            done = widget.locator('[data-cb="overflow-done"]')
            await expect(done).to_contain_text("工单号")
            mine = widget.locator('[data-cb="message"][data-sender="visitor"]')
            await expect(mine).to_have_attribute("data-left", "1")
            await expect(mine.locator(".meta")).to_have_text("已作为留言发送")
            assert await widget.evaluate("() => localStorage.getItem('callbox.outbox')") is None
            refused = await csp_refusals(widget)
            assert refused and all(r.startswith("connect-src ws://") for r in refused), refused
        finally:
            await ctx.close()
    tickets = await rows(appliance, "SELECT channel, description FROM tickets")
    assert len(tickets) == 1 and tickets[0]["channel"] == "message", tickets
    assert text in tickets[0]["description"]
    closed = await rows(appliance, "SELECT status, closed_by FROM conversations")
    assert closed == [{"status": "closed", "closed_by": "overflow"}], closed


async def test_a_page_view_costs_no_preflight(chromium: Browser, appliance: Appliance) -> None:
    """The session, the topics and the page view are simple requests: no preflight on
    a first visit nor on a returning one. A chat's calls (bearer token, JSON) do pay
    one; a positive control shows the counting sees them."""
    expect.set_options(timeout=WAIT)
    await appliance.start()
    pages = {"shop.html": (page_html(appliance.origin), "")}
    async with host_site(pages) as origin:
        ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
        ctx.set_default_timeout(WAIT)
        try:
            counts = []
            for _visit in ("first", "returning"):
                page = await ctx.new_page()
                preflights = Preflights()
                await preflights.watch(ctx, page)
                async with page.expect_response("**/api/visitor/pageviews") as answer:
                    await page.goto(f"{origin}/shop.html")
                assert (await answer.value).status == 201
                await page.wait_for_timeout(300)  # the topics' answer
                counts.append(list(preflights.seen))
                stored = await page.evaluate("() => localStorage.getItem('callbox.visitor')")
                assert json.loads(stored)["token"]
                if _visit == "first":
                    await page.close()
            # The control: a chat's first call carries the bearer token, and is seen.
            await page.locator('[data-cb="launcher"]').click()
            await page.locator('[data-cb="input"]').fill("你好")
            await page.locator('[data-cb="input"]').press("Enter")
            await eventually(lambda: len(preflights.seen), bool, "a preflight")
            assert counts[0] == [] and counts[1] == [], counts
        finally:
            await ctx.close()


# Records each state the widget's status line takes, from the moment it is called.
WATCH_STATES = """() => {
  const root = document.querySelector('callbox-widget').shadowRoot;
  const el = root.querySelector('[data-cb="status"]');
  window.__states = [el.getAttribute('data-state')];
  new MutationObserver(() => window.__states.push(el.getAttribute('data-state')))
    .observe(el, { attributes: true, attributeFilter: ['data-state'] });
}"""


async def test_a_blip_reconnects_and_a_long_refusal_clears_once_the_socket_is_back(
    chromium: Browser, appliance: Appliance
) -> None:
    """Two refused socket opens are a blip: the message goes once the third opens, and
    the visitor never sees "cannot connect". Four are not: the offer shows, and the
    fifth, which opens, takes it away and delivers the message all the same."""
    expect.set_options(timeout=WAIT)
    await appliance.start()
    pages = {"shop.html": (page_html(appliance.origin), "")}
    async with host_site(pages) as origin:
        for refused, expected in ((2, False), (4, True)):
            ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
            ctx.set_default_timeout(WAIT)
            opens = 0

            async def route(ws: WebSocketRoute, refused: int = refused) -> None:
                nonlocal opens
                opens += 1
                if opens <= refused:
                    await ws.close()  # opened, then closed before any "ready"
                else:
                    ws.connect_to_server()

            try:
                page = await ctx.new_page()
                await page.route_web_socket("**/api/visitor/ws", route)
                await page.goto(f"{origin}/shop.html")
                await page.locator('[data-cb="launcher"]').click()
                await page.evaluate(WATCH_STATES)
                await page.locator('[data-cb="input"]').fill(f"断了 {refused} 次")
                await page.locator('[data-cb="input"]').press("Enter")
                mine = page.locator('[data-cb="message"][data-sender="visitor"][data-seq]')
                await expect(mine).to_have_count(1)
                status = page.locator('[data-cb="status"]')
                await expect(status).to_have_attribute("data-state", "waiting")
                states = await page.evaluate("() => window.__states")
                assert ("nosocket" in states) is expected, states
                assert opens == refused + 1
                offer = page.locator('[data-cb="overflow"]')
                reason = await offer.get_attribute("data-reason")
                assert reason != "nosocket" or await offer.is_hidden(), reason
            finally:
                await ctx.close()
