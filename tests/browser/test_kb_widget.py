"""Self-service before a chat, in Debian's Chromium against a real appliance.

A visitor on a company's page opens the widget: before any chat it offers the articles
suggested for that page and a search box. The visitor searches, opens an article
(Markdown rendered by the box, with a table, and a script an editor pasted that stays
text), votes it helpful and leaves without starting a chat: once the deflection window
(shrunk to a few seconds by its setting) is over, the supervisors' figure counts the
visitor as deflected. An internal article is never suggested nor found. The public
/help pages are read with JavaScript turned off.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any
from urllib.parse import urlencode

import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, expect

from tests.browser.conftest import Appliance
from tests.browser.test_queue_overflow import console_api
from tests.browser.test_transfer import ARTIFACTS, WAIT, add_user, console_for
from tests.conftest import Agent

pytestmark = pytest.mark.browser

_KB = "/api/console/kb"
WINDOW = 3  # s: the deflection window for this test (10 minutes in production)
BODY = (
    "先重启**光猫**，等待两分钟。\n\n<script>window.__kb=1</script>\n\n"
    "| 指示灯 | 含义 |\n|---|---|\n| 红灯 | 光纤断了 |\n\n[报修](https://example.com/repair)"
)
NO_SCRIPT_JS = "() => window.__kb === undefined"


async def publish(boss: Agent, **fields: Any) -> int:
    body = {"title": "宽带断线怎么办", "body": BODY, "audience": "public", **fields}
    made = await boss.post(f"{_KB}/articles", body, status=201)
    article_id: int = made["article"]["id"]
    await boss.post(f"{_KB}/articles/{article_id}/move", {"to": "review"})
    await boss.post(f"{_KB}/articles/{article_id}/move", {"to": "published"})
    return article_id


async def test_a_visitor_reads_an_article_votes_and_is_deflected(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    appliance.env["CALLBOX_KB_DEFLECTION_WINDOW"] = str(WINDOW)
    await add_user(appliance, "chen", "陈主管", role="supervisor")
    await appliance.start()
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    async with console_api(appliance, "chen") as boss:
        broadband = await publish(boss, title_en="Broadband drops", body_en="Restart the modem.")
        await publish(boss, title="内部：光猫报修单", body="内部流程 光猫", audience="internal")
        await publish(boss, title="退款多久到账", body="三个工作日内退回原账户。")
        await boss.call(
            "PUT", f"{_KB}/articles/{broadband}/pages", {"prefixes": ["/host_page.html"]}
        )
        try:
            ctx = await chromium.new_context(locale="zh-CN")
            contexts.append(ctx)
            page = await ctx.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            query = urlencode({"box": appliance.origin, "shadow": "open"})
            await page.goto(f"{host_origin}/host_page.html?{query}")
            await page.locator('[data-cb="launcher"]').click()
            kb = page.locator('[data-cb="kb"]')
            await expect(kb).to_be_visible()
            # Suggested for this page: the article placed on it first; never the internal one.
            opens = kb.locator('[data-cb="kb-open"]')
            await expect(opens.first).to_have_text("宽带断线怎么办")
            await expect(opens).to_have_count(2)
            await expect(kb).not_to_contain_text("内部")

            await kb.locator('[data-cb="kb-q"]').fill("光猫")
            await kb.locator('[data-cb="kb-go"]').click()
            await expect(kb.locator('[data-cb="kb-list-title"]')).to_have_text("搜索结果")
            await expect(opens).to_have_count(1)
            await expect(kb.locator("mark").first).to_have_text("光猫")
            await opens.first.click()
            article = kb.locator('[data-cb="kb-article"]')
            await expect(article.locator('[data-cb="kb-title"]')).to_have_text("宽带断线怎么办")
            body = article.locator('[data-cb="kb-body"]')
            await expect(body.locator("td").nth(1)).to_have_text("光纤断了")
            await expect(body.locator("strong")).to_have_text("光猫")
            await expect(body).to_contain_text("<script>window.__kb=1</script>")  # as text
            assert await body.locator("script").count() == 0
            link = body.locator("a")
            await expect(link).to_have_attribute("href", "https://example.com/repair")
            await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
            await article.locator('[data-cb="kb-helpful"]').click()
            await expect(article.locator('[data-cb="kb-voted"]')).to_have_text("谢谢您的反馈！")
            await page.screenshot(path=str(ARTIFACTS / "kb-widget.png"))
            assert await page.evaluate(NO_SCRIPT_JS)
            await expect(page.locator('[data-cb="status"]')).to_have_attribute("data-state", "idle")

            read = await boss.get(f"{_KB}/articles/{broadband}")
            assert read["article"]["helpful"] == 1
            # No chat was started: once the window is over the visitor counts as deflected.
            figure: dict[str, Any] = {}
            for _ in range(WAIT // 250):
                figure = await boss.get(f"{_KB}/deflection")
                if figure["pending"] == 0:
                    break
                await asyncio.sleep(0.25)
            assert (figure["visitors"], figure["deflected"], figure["chatted"]) == (1, 1, 0)
            assert figure["rate"] == 1.0 and figure["window_seconds"] == WINDOW

            assert not errors, errors
        finally:
            for c in contexts:
                await c.close()


async def test_help_pages_work_without_javascript(chromium: Browser, appliance: Appliance) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "chen", "陈主管", role="supervisor")
    await appliance.start()
    async with console_api(appliance, "chen") as boss:
        cat = await boss.post(f"{_KB}/categories", {"name": "宽带", "name_en": "Broadband"}, 201)
        await publish(
            boss,
            category_id=cat["category"]["id"],
            title_en="Broadband drops",
            body_en="Restart the **modem**.",
        )
        await publish(boss, title="内部：光猫报修单", body="内部流程", audience="internal")
    ctx = await chromium.new_context(
        locale="zh-CN", java_script_enabled=False, viewport={"width": 390, "height": 844}
    )
    try:
        page = await ctx.new_page()
        await page.goto(appliance.origin + "/help")
        assert await page.locator("html").get_attribute("lang") == "zh-CN"
        await expect(page.locator("h2")).to_have_text(["宽带"])
        await expect(page.locator("main")).not_to_contain_text("内部")
        await page.locator('input[name="q"]').fill("光猫")
        await page.locator('form.search button[type="submit"]').click()
        await expect(page.locator("ol.hits mark").first).to_have_text("光猫")
        await page.locator("ol.hits a").first.click()
        await expect(page.locator("h1")).to_have_text("宽带断线怎么办")
        await expect(page.locator("article td").nth(1)).to_have_text("光纤断了")
        assert await page.locator("article script").count() == 0
        canonical = await page.locator('link[rel="canonical"]').get_attribute("href")
        assert canonical is not None and "/help/a/" in canonical
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390  # nothing wider than a phone's screen
        await page.screenshot(path=str(ARTIFACTS / "help-article-nojs.png"), full_page=True)
        await page.locator("a.switch").click()
        assert await page.locator("html").get_attribute("lang") == "en"
        await expect(page.locator("h1")).to_have_text("Broadband drops")
        await expect(page.locator("article strong")).to_have_text("modem")
    finally:
        await ctx.close()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 32), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


async def test_console_inserts_a_picture_and_previews_the_article(
    chromium: Browser, appliance: Appliance
) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "chen", "陈主管", role="supervisor")
    await appliance.start()
    async with console_api(appliance, "chen") as boss:
        article = await publish(boss)
    errors: list[str] = []
    ctx, s = await console_for(chromium, appliance, "chen", errors, online=False)
    try:
        await s.goto(f"{appliance.origin}/console/knowledge#article-{article}")
        await expect(s.locator('[data-cb="knowledge"]')).to_have_attribute("data-ready", "1")
        # The supervisor sees the deflection figure (nobody has self-served yet).
        await expect(s.locator('[data-cb="kb-deflection"]')).to_contain_text("0 位访客")
        await expect(s.locator('[data-cb="kb-pages-box"]')).to_be_visible()
        await s.locator('[data-cb="kb-pages"]').fill("/shop/, /help")
        await s.locator('[data-cb="kb-pages-save"]').click()
        await expect(s.locator('[data-cb="kb-pages-save"]')).to_have_text("已保存")
        async with console_api(appliance, "chen") as boss:
            placed = await boss.get(f"{_KB}/articles/{article}/pages")
        assert placed["prefixes"] == ["/help", "/shop"]

        files = s.locator('[data-cb="kb-image-file"]')
        await files.set_input_files({"name": "光猫.png", "mimeType": "image/png", "buffer": _png()})
        await expect(s.locator('[data-cb="kb-media-note"]')).to_have_text("图片已插入正文")
        body = await s.locator('[data-cb="kb-body"]').input_value()
        assert "![光猫](/help/images/" in body
        await s.locator('[data-cb="kb-preview"]').click()
        preview = s.locator('[data-cb="kb-preview-out"]')
        await expect(preview.locator("td").nth(1)).to_have_text("光纤断了")
        picture = preview.locator("img")
        await expect(picture).to_have_attribute("alt", "光猫")
        await expect(picture).to_have_js_property("naturalWidth", 64)  # served as a PNG
        assert await preview.locator("script").count() == 0
        assert not errors, errors
    finally:
        await ctx.close()


async def test_no_public_article_no_self_service(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    """A box without public articles shows the chat as before: nothing to search."""
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "chen", "陈主管", role="supervisor")
    await appliance.start()
    async with console_api(appliance, "chen") as boss:
        await publish(boss, title="内部：光猫报修单", body="内部流程", audience="internal")
    ctx = await chromium.new_context(locale="zh-CN")
    try:
        page = await ctx.new_page()
        query = urlencode({"box": appliance.origin, "shadow": "open"})
        async with page.expect_response("**/api/visitor/kb/suggested*") as answer:
            await page.goto(f"{host_origin}/host_page.html?{query}")
            await page.locator('[data-cb="launcher"]').click()
        assert (await (await answer.value).json()) == {"articles": []}
        await expect(page.locator('[data-cb="kb"]')).to_have_attribute("data-empty", "")
        await expect(page.locator('[data-cb="kb"]')).to_be_hidden()
        await expect(page.locator('[data-cb="input"]')).to_be_visible()
    finally:
        await ctx.close()
