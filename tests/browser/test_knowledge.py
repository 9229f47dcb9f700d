"""The knowledge base in Debian's Chromium, against a real appliance.

An agent writes an article on its page (a zh-CN version, then an English one in the
other tab), saves a second version and submits it; a supervisor approves it, sees the
diff of the versions and votes; the agent's search box finds the article by a
traditional-character query with the hit marked, and a ticket by a 2-character word;
a title with markup stays text. The agent never gets an approve button.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, BrowserContext, expect

from tests.browser.conftest import Appliance
from tests.browser.test_desk_editors import call
from tests.browser.test_transfer import ARTIFACTS, S_NAME, TOPBAR, WAIT, add_user, console_for

pytestmark = pytest.mark.browser

TITLE = "宽带断线 <b>怎么办</b>"
BODY = "先重启光猫。\n再检查网线。"
BODY2 = "先重启光猫。\n看看指示灯是否常亮。\n再检查网线。"


def cb(name: str) -> str:
    return f'[data-cb="{name}"]'


async def test_an_article_is_written_reviewed_and_found(
    chromium: Browser, appliance: Appliance
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    await add_user(appliance, "chen", S_NAME, role="supervisor")
    await add_user(appliance, "wang", "王芳")
    await appliance.start()
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    try:
        ctx, a = await console_for(chromium, appliance, "wang", errors, online=False)
        contexts.append(ctx)
        await call(a, "POST", "/api/console/tickets", {"subject": "客户要求退款"})
        await a.locator(f"{TOPBAR}[href='/console/knowledge']").click()
        await a.wait_for_url("**/console/knowledge")
        await expect(a.locator(cb("knowledge"))).to_have_attribute("data-ready", "1")
        await expect(a.locator(cb("kb-empty"))).to_be_visible()

        # ---- a new article: Chinese first, then English in its tab ----
        await a.locator(cb("kb-new")).click()
        await a.locator(cb("kb-title")).fill(TITLE)
        await a.locator(cb("kb-body")).fill(BODY)
        await a.locator(cb("kb-tab-en")).click()
        await expect(a.locator(cb("kb-pane-zh"))).to_be_hidden()
        await a.locator(cb("kb-title-en")).fill("Broadband drops")
        await a.locator(cb("kb-body-en")).fill("Restart the modem.")
        await a.locator(cb("kb-save")).click()
        await expect(a.locator(cb("kb-flash"))).to_have_text("已保存为版本 1")
        link = a.locator(f"{cb('kb-articles')} a")
        await expect(link).to_have_text(TITLE)  # markup in a title is text
        await expect(a.locator(f"{cb('kb-articles')} b")).to_have_count(0)

        # ---- a second version, then submit; no approve button for an agent ----
        await a.locator(cb("kb-tab-zh")).click()
        await a.locator(cb("kb-body")).fill(BODY2)
        await a.locator(cb("kb-note")).fill("加一步")
        await a.locator(cb("kb-save")).click()
        await expect(a.locator(cb("kb-flash"))).to_have_text("已保存为版本 2")
        await expect(a.locator(f"{cb('kb-versions')} li")).to_have_count(2)
        await a.locator(f"{cb('kb-moves')} [data-to='review']").click()
        await expect(a.locator(cb("kb-status"))).to_contain_text("审核中")
        await expect(a.locator(f"{cb('kb-moves')} button")).to_have_count(0)

        # ---- the supervisor approves, reads the diff and votes ----
        ctx2, s = await console_for(chromium, appliance, "chen", errors, online=False)
        contexts.append(ctx2)
        await s.goto(appliance.origin + "/console/knowledge")
        await expect(s.locator(cb("knowledge"))).to_have_attribute("data-ready", "1")
        await s.locator(cb("kb-filter-state")).select_option("review")
        await s.locator(f"{cb('kb-articles')} a", has_text="宽带断线").click()
        await expect(s.locator(cb("kb-title"))).to_have_value(TITLE)
        await s.locator(f"{cb('kb-moves')} [data-to='published']").click()
        await expect(s.locator(cb("kb-status"))).to_contain_text("已发布")
        await s.locator(f"{cb('kb-versions')} [data-version='2']").click()
        diff = s.locator(cb("kb-diff"))
        await expect(diff.locator(".kb-add")).to_contain_text("+看看指示灯是否常亮。")
        await s.locator(f"{cb('kb-vote')}[data-helpful='1']").click()
        await expect(s.locator(cb("kb-counts"))).to_contain_text("有帮助 1")
        await s.screenshot(path=ARTIFACTS / "knowledge-review.png", full_page=True)

        # ---- the agent's search: traditional query, a ticket by a 2-character word ----
        await a.locator(cb("kb-q")).fill("寬帶")
        await a.locator(f"{cb('kb-search')} button").click()
        hit = a.locator(f"{cb('kb-hits')} li")
        await expect(hit).to_have_count(1)
        await expect(hit.locator("a")).to_have_text(TITLE)
        await expect(hit.locator("mark").first).to_have_text("宽带")
        await a.locator(cb("kb-q")).fill("退款")
        await a.locator(f"{cb('kb-search')} button").click()
        await expect(hit).to_have_count(1)
        await expect(hit.locator(".kb-kind")).to_have_text("工单")
        await expect(hit.locator("a")).to_have_attribute("href", "/console/tickets/1")
        await a.locator(cb("kb-q")).fill("？！")
        await a.locator(f"{cb('kb-search')} button").click()
        await expect(a.locator(cb("kb-results-note"))).to_have_text("请输入文字或数字再搜索。")
        points = a.locator(f"{cb('kb-points')} li")
        await a.reload()
        await expect(points.first).to_have_text("王芳：11 分")
        await a.screenshot(path=ARTIFACTS / "knowledge-search.png", full_page=True)
        assert errors == []
    finally:
        for ctx in contexts:
            await ctx.close()
