"""Knowledge-base suggestions beside a chat, in Debian's Chromium, against a real
appliance: a visitor writes about 宽带 in the widget; the agent's console suggests the
published articles on it (an internal one marked so, never a draft), and Alt+1 puts
the first one into the reply, which reaches the visitor. Enter on a focused
suggestion inserts too. Titles and snippets stay text. A resolved ticket becomes a
draft article with one button, and a zip of Markdown files imports with a progress
bar and a report."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, expect

from tests.browser.conftest import Appliance
from tests.browser.test_desk_editors import call
from tests.browser.test_e2e import bodies_become, send
from tests.browser.test_transfer import (
    A1,
    A_NAME,
    ARTIFACTS,
    S_NAME,
    V1,
    WAIT,
    add_user,
    answer_first_chat,
    console_for,
    visitor_chat,
)

pytestmark = pytest.mark.browser

PUBLIC_TITLE = "宽带总是掉线 <b>怎么办</b>"
PUBLIC_BODY = "先重启光猫，等指示灯常亮。\n\n仍然掉线请报修。"
INTERNAL_BODY = "工程师上门前先核对宽带地址。"
ASK = "我家宽带从昨天开始一直掉线"


def cb(name: str) -> str:
    return f'[data-cb="{name}"]'


async def test_an_agent_inserts_a_suggested_article_with_one_key(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    await add_user(appliance, "chen", S_NAME, role="supervisor")
    await add_user(appliance, "wangfang", A_NAME)
    await appliance.start()
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    try:
        ctx, s = await console_for(chromium, appliance, "chen", errors, online=False)
        contexts.append(ctx)
        for title, body, audience in (
            (PUBLIC_TITLE, PUBLIC_BODY, "public"),
            ("宽带报修内部流程", INTERNAL_BODY, "internal"),
        ):
            made = await call(
                s,
                "POST",
                "/api/console/kb/articles",
                {"title": title, "body": body, "audience": audience},
            )
            one = made["article"]["id"]
            await call(s, "POST", f"/api/console/kb/articles/{one}/move", {"to": "review"})
            await call(s, "POST", f"/api/console/kb/articles/{one}/move", {"to": "published"})
        await call(s, "POST", "/api/console/kb/articles", {"title": "宽带草稿", "body": "宽带掉线"})

        ctx, a = await console_for(chromium, appliance, "wangfang", errors, online=True)
        contexts.append(ctx)
        ctx, widget = await visitor_chat(chromium, appliance, host_origin, errors)
        contexts.append(ctx)
        await answer_first_chat(a, widget)
        panel = a.locator(cb("kb-suggest"))
        await expect(panel).to_be_hidden()  # the first line is about an order: no article

        # ---- the visitor writes about 宽带: the published articles come up ----
        await send(widget, ASK)
        items = a.locator(cb("kb-suggestion"))
        await expect(items).to_have_count(2)  # the draft is never suggested
        await expect(panel).to_be_visible()
        first = items.nth(0)
        await expect(first.locator("strong")).to_have_text(PUBLIC_TITLE)  # markup is text
        await expect(a.locator(f"{cb('kb-suggest')} b")).to_have_count(0)
        await expect(first.locator("kbd")).to_have_text("Alt+1")
        await expect(first.locator("mark").first).to_have_text("掉线")  # in the body
        await expect(items.nth(1).locator(".badge")).to_have_text("内部")
        await a.screenshot(path=ARTIFACTS / "kb-suggest.png")

        # ---- Alt+1 in the composer puts the first article in; it is sent as typed ----
        box = a.locator(cb("input"))
        await box.fill("您好，")
        await box.press("Alt+1")
        await expect(box).to_have_value("您好，先重启光猫，等指示灯常亮。")
        await expect(box).to_be_focused()
        await box.press("Enter")
        reply = "您好，先重启光猫，等指示灯常亮。"
        await bodies_become(widget, [V1, A1, ASK, reply])

        # ---- Enter on a focused suggestion inserts it too ----
        await items.nth(1).focus()
        await items.nth(1).press("Enter")
        await expect(box).to_have_value(INTERNAL_BODY)
        assert errors == []
    finally:
        for ctx in contexts:
            await ctx.close()


async def test_a_resolved_ticket_becomes_a_draft_and_a_zip_imports_with_progress(
    chromium: Browser, appliance: Appliance, tmp_path: Path
) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "chen", S_NAME, role="supervisor")
    await appliance.start()
    errors: list[str] = []
    ctx, s = await console_for(chromium, appliance, "chen", errors, online=False)
    try:
        made = await call(s, "POST", "/api/console/tickets", {"subject": "光猫指示灯红色闪烁"})
        tid = made["ticket"]["id"]
        body = {"body": "把光纤插紧后重启光猫即可。", "public": True}
        await call(s, "POST", f"/api/console/tickets/{tid}/comments", body)
        await s.goto(f"{appliance.origin}/console/tickets/{tid}")
        button = s.locator(cb("ticket-to-article"))
        await expect(button).to_be_hidden()  # not resolved yet
        await call(s, "POST", f"/api/console/tickets/{tid}/state", {"to": "resolved"})
        await s.reload()
        await expect(button).to_have_text("转为知识库文章")
        await button.click()
        await s.wait_for_url("**/console/knowledge#article-*")
        await expect(s.locator(cb("kb-title"))).to_have_value("光猫指示灯红色闪烁")
        await expect(s.locator(cb("kb-body"))).to_have_value("把光纤插紧后重启光猫即可。")
        await expect(s.locator(cb("kb-status"))).to_contain_text("草稿")

        # ---- a zip of Markdown files: the progress bar, then the report ----
        archive = tmp_path / "帮助中心.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for i in range(25):
                zf.writestr(
                    f"宽带/第{i}篇.md", f"---\ntitle: 宽带问题{i}\nstate: published\n---\n正文{i}"
                )
            zf.writestr("坏的.md", "---\nstate: gone\n---\nx")
        await s.locator(cb("kb-import-file")).set_input_files(archive)
        report = s.locator(cb("kb-import-text"))
        await expect(report).to_have_text("导入完成：新建 25，更新 0，未变 0，失败 1")
        bar = s.locator(cb("kb-import-bar"))
        assert await bar.evaluate("b => [b.value, b.max]") == [26, 26]
        await expect(s.locator(f"{cb('kb-import-errors')} li")).to_contain_text("坏的.md")
        await expect(s.locator(f"{cb('kb-articles')} a", has_text="宽带问题")).to_have_count(25)
        await s.screenshot(path=ARTIFACTS / "kb-import.png", full_page=True)
        assert errors == []
    finally:
        await ctx.close()
