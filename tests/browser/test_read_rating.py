"""Read state, sneak peek, the minimised notice and the rating in Debian's Chromium.

A visitor on a company page of another origin chats with an agent in the console. Each
side sees when the other has read its messages (已读). While the box's sneak-peek
switch is off the console shows only that the visitor types; switched on, it shows the
words before they are sent. With the widget minimised, a new message brings a badge,
one beep (observed through a wrapped AudioContext) and a flashing page title, until the
visitor opens the widget. When the chat ends the visitor rates it and asks for the
transcript (the form loads on first use); the console shows both in the chat, the
history page and the visitor's profile.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Appliance
from tests.browser.test_queue_overflow import add_user, console_api
from tests.browser.test_tracking import rows

pytestmark = pytest.mark.browser

WAIT = 20_000  # ms, the longest any single wait may take
DESKTOP = {"width": 1280, "height": 760}
HOST_TITLE = "Acme Widgets Ltd. — Contact"
V1 = "你好，我想开发票"
A1 = "好的，请提供抬头"
A2 = "以及税号"
PEEK_OFF = "不该被看到的草稿"
PEEK_ON = "抬头是某某科技"
COMMENT = "回复很快 <b>赞</b>"
EMAIL = "li@example.cn"

# Counts oscillators started: the widget's beep, without listening to the speakers.
COUNT_BEEPS = """
window.__beeps = 0;
const Real = window.AudioContext;
if (Real) window.AudioContext = class extends Real {
  createOscillator() {
    const o = super.createOscillator();
    const start = o.start.bind(o);
    o.start = (...a) => { window.__beeps += 1; return start(...a); };
    return o;
  }
};
"""


async def login(page: Page, appliance: Appliance, username: str) -> None:
    await page.goto(appliance.origin + "/login")
    await page.locator('input[name="username"]').fill(username)
    await page.locator('input[name="password"]').fill("correct horse battery")
    await page.locator('[data-cb="login-form"] button[type="submit"]').click()
    await page.wait_for_url("**/console")
    await expect(page.locator('[data-cb="console"]')).to_have_attribute("data-conn", "online")


async def agent_says(console: Page, text: str) -> None:
    await console.locator('[data-cb="input"]').fill(text)
    await console.locator('[data-cb="input"]').press("Enter")
    confirmed = console.locator('[data-cb="messages"] .msg.agent[data-seq]', has_text=text)
    await expect(confirmed).to_be_visible()


async def test_read_peek_notice_and_rating(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "wangfang", "--role", "agent", "--display-name", "王芳")
    await add_user(appliance, "root", "--role", "admin")
    await appliance.start()
    errors: list[str] = []
    agent_ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
    visitor_ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
    await visitor_ctx.add_init_script(COUNT_BEEPS)
    for ctx in (agent_ctx, visitor_ctx):
        ctx.set_default_timeout(WAIT)
    try:
        console = await agent_ctx.new_page()
        console.on("pageerror", lambda e: errors.append(f"console: {e}"))
        await login(console, appliance, "wangfang")
        await console.locator('[data-cb="presence"]').select_option("online")

        widget = await visitor_ctx.new_page()
        widget.on("pageerror", lambda e: errors.append(f"widget: {e}"))
        query = urlencode({"box": appliance.origin, "shadow": "open"})
        await widget.goto(f"{host_origin}/host_page.html?{query}")
        await widget.locator('[data-cb="launcher"]').click()
        await widget.locator('[data-cb="input"]').fill(V1)
        await widget.locator('[data-cb="input"]').press("Enter")

        # ---- read state: the agent has the chat on screen, so the visitor sees 已读 ----
        in_console = console.locator('[data-cb="messages"] .msg.visitor', has_text=V1)
        await expect(in_console).to_be_visible()
        mine = widget.locator('[data-cb="message"][data-sender="visitor"]', has_text=V1)
        await expect(mine).to_have_attribute("data-read", "已读")

        # ---- minimised: badge, one beep, the title flashes; nothing read meanwhile ----
        await widget.locator('[data-cb="minimize"]').click()
        await expect(widget.locator('[data-cb="panel"]')).to_be_hidden()
        await agent_says(console, A1)
        badge = widget.locator('[data-cb="unread"]')
        await expect(badge).to_have_text("1")
        await widget.wait_for_function("() => document.title === '1 条未读消息'")
        await agent_says(console, A2)
        await expect(badge).to_have_text("2")
        await widget.wait_for_function("() => document.title === '2 条未读消息'")
        assert await widget.evaluate("() => window.__beeps") == 1  # once per unseen burst
        sent = console.locator('[data-cb="messages"] .msg.agent')
        await expect(sent).to_have_count(2)
        assert await console.locator('[data-cb="messages"] .msg.agent[data-read]').count() == 0

        # The visitor opens the widget: the notice stops, and the console sees 已读.
        await widget.locator('[data-cb="launcher"]').click()
        await expect(badge).to_be_hidden()
        await expect(widget).to_have_title(HOST_TITLE)
        await widget.wait_for_timeout(1200)  # past a flash period: it stays put
        await expect(widget).to_have_title(HOST_TITLE)
        for text in (A1, A2):
            read = console.locator('[data-cb="messages"] .msg.agent', has_text=text)
            await expect(read).to_have_attribute("data-read", "1")
            await expect(read.locator(".read")).to_have_text("已读")

        # ---- sneak peek, off (the default): the console only knows they type ----
        typing = console.locator('[data-cb="typing"]')
        await widget.locator('[data-cb="input"]').press_sequentially(PEEK_OFF, delay=30)
        await expect(typing).to_have_text("访客正在输入…")
        await widget.wait_for_timeout(800)
        assert PEEK_OFF not in (await typing.text_content() or "")
        await widget.locator('[data-cb="input"]').fill("")

        # ---- switched on by the admin: the widget sends it after its next connect ----
        async with console_api(appliance, "root") as admin:
            changed = await admin.call("PUT", "/api/admin/privacy", {"sneak_peek": True})
            assert changed["sneak_peek"] is True
        await widget.reload()
        await widget.locator('[data-cb="launcher"]').click()
        await expect(widget.locator('[data-cb="status"]')).to_have_attribute("data-state", "active")
        await widget.locator('[data-cb="input"]').press_sequentially(PEEK_ON, delay=30)
        await expect(typing).to_have_text(f"正在输入：{PEEK_ON}")
        await expect(typing).to_have_attribute("data-peek", "1")
        await widget.locator('[data-cb="input"]').press("Enter")
        await expect(
            console.locator('[data-cb="messages"] .msg.visitor', has_text=PEEK_ON)
        ).to_be_visible()
        await expect(typing).to_be_hidden()
        peeked = await rows(
            appliance, "SELECT count(*) AS n FROM messages WHERE body = ?", PEEK_OFF
        )
        assert peeked[0]["n"] == 0  # a draft is never stored

        # ---- the agent ends the chat; the visitor rates it and asks for the transcript ----
        console.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
        await console.locator('[data-cb="close-conv"]').click()
        form = widget.locator('[data-cb="rating"]')
        await expect(form).to_be_visible()
        await form.locator('[data-cb="rate-send"]').click()
        await expect(form.locator('[data-cb="rate-error"]')).to_have_text("请选择 1 到 5 分")
        await form.locator('[data-cb="rate-score"][value="4"]').check()
        await form.locator('[data-cb="rate-comment"]').fill(COMMENT)
        await form.locator('[data-cb="rate-transcript"]').check()
        await form.locator('[data-cb="rate-email"]').fill("not-an-address")
        await form.locator('[data-cb="rate-send"]').click()
        await expect(form.locator('[data-cb="rate-error"]')).to_have_text("请填写有效的邮箱地址")
        await form.locator('[data-cb="rate-email"]').fill(EMAIL)
        await form.locator('[data-cb="rate-send"]').click()
        thanks = form.locator('[data-cb="rate-thanks"]')
        await expect(thanks).to_contain_text("感谢您的评价！")
        await expect(thanks).to_contain_text("我的评分：4/5")
        await expect(thanks).to_contain_text(EMAIL)
        stored = await rows(appliance, "SELECT score, comment FROM chat_ratings")
        assert stored == [{"score": 4, "comment": COMMENT}]
        asked = await rows(appliance, "SELECT email, sent_at FROM transcript_requests")
        assert asked == [{"email": EMAIL, "sent_at": None}]

        # Changed within the window: still one rating.
        await form.locator('[data-cb="rate-change"]').click()
        await form.locator('[data-cb="rate-score"][value="5"]').check()
        await form.locator('[data-cb="rate-transcript"]').uncheck()
        await form.locator('[data-cb="rate-send"]').click()
        await expect(thanks).to_contain_text("我的评分：5/5")
        stored = await rows(appliance, "SELECT score FROM chat_ratings")
        assert stored == [{"score": 5}]

        # ---- the console: in the ended chat, on the history page, in the profile ----
        shown = console.locator('[data-cb="feedback-rating"]')
        await expect(shown).to_have_text("访客评分：5/5")
        await expect(console.locator('[data-cb="feedback-comment"]')).to_have_text(COMMENT)
        await expect(console.locator('[data-cb="feedback-transcript"]')).to_contain_text(EMAIL)

        history = await agent_ctx.new_page()
        history.on("pageerror", lambda e: errors.append(f"history: {e}"))
        await history.goto(appliance.origin + "/console/history")
        cell = history.locator('[data-cb="history"] [data-cb="rating"]').first
        await expect(cell).to_have_attribute("data-score", "5")
        await expect(cell).to_contain_text("5/5 分")
        await history.locator('[data-cb="history"] a').first.click()
        await expect(history.locator('p[data-cb="rating"]')).to_contain_text("5/5 分")
        await expect(history.locator('[data-cb="rating-comment"]')).to_have_text(COMMENT)
        await expect(history.locator('[data-cb="transcript-request"]')).to_contain_text(EMAIL)

        await console.locator('[data-cb="view-visitors"]').click()
        await console.locator('[data-cb="visitor-row"]').first.click()
        await expect(console.locator('[data-cb="chat-rating"]').first).to_have_text("5/5 分")
        assert errors == []
    finally:
        await agent_ctx.close()
        await visitor_ctx.close()
