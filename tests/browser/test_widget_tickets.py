"""The customer's side of the service desk in the widget, in Debian's Chromium.

A visitor on a hostile company page chats with an agent, who makes the chat a ticket
(with markup in its subject and description), replies in public and resolves it. The
widget's header then offers 我的工单: the visitor finds the ticket, reads the agent's
reply, says it is still a problem (the reply reopens the ticket), and once the agent has
resolved it again, confirms and rates it 4 with a comment; the console API shows both.
The same visitor on a phone, in English, finds the closed and rated ticket full-screen.
A left message's confirmation names its ticket when the box gives the number.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Appliance
from tests.browser.test_e2e import send
from tests.browser.test_queue_overflow import console_api, open_widget
from tests.browser.test_transfer import (
    A_NAME,
    ARTIFACTS,
    WAIT,
    add_user,
    answer_first_chat,
    console_for,
    visitor_chat,
)

pytestmark = pytest.mark.browser

SUBJECT = '账号改不了 <img src=x onerror="window.__xss=1">'
DESCRIPTION = "客户说：<script>window.__xss=2</script> 页面报错 <b>500</b>"
REPLY = "您好，已为您修改完成，请重新登录试试。"
STILL = "重新登录后还是显示旧账号。"
REPLY_2 = "已清除缓存，请再试一次。"
COMMENT = "第二次就好了，谢谢！"
ENTRIES_JS = """els => els.map(e => ({
  kind: e.getAttribute('data-kind'),
  by: e.getAttribute('data-by'),
  look: ['visitor', 'agent', 'system'].find(c => e.classList.contains(c)),
  hidden: e.hidden,
  text: e.querySelector('.body').textContent,
}))"""
NO_MARKUP_JS = """() => {
  const root = document.querySelector('callbox-widget').shadowRoot;
  return window.__xss === undefined && !root.querySelector('img, script, b');
}"""


async def entries(page: Page) -> list[dict[str, Any]]:
    """The visible entries of the ticket's thread in the widget, in page order."""
    items = await page.locator('[data-cb="tk-entry"]').evaluate_all(ENTRIES_JS)
    return [{k: v for k, v in e.items() if k != "hidden"} for e in items if not e["hidden"]]


def local_minute(wire_time: str) -> str:
    """2026-12-06T10:21:51.123+08:00 as the widget shows it: 2026-12-06 10:21."""
    return f"{wire_time[:10]} {wire_time[11:16]}"


async def test_visitor_follows_replies_confirms_and_rates_a_ticket(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    await add_user(appliance, "wangfang", A_NAME)
    await appliance.start()
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    try:
        ctx, console = await console_for(chromium, appliance, "wangfang", errors, online=True)
        contexts.append(ctx)
        ctx, w = await visitor_chat(chromium, appliance, host_origin, errors)
        contexts.append(ctx)
        await answer_first_chat(console, w)
        conv_id = await console.locator('[data-cb="mine-list"] [data-cb="conv"]').get_attribute(
            "data-id"
        )
        entry = w.locator('[data-cb="desk-open"]')
        await expect(entry).to_be_hidden()  # no ticket yet: nothing to offer

        async with console_api(appliance, "wangfang") as agent:
            # ---- the agent makes the chat a ticket, answers in public and resolves ----
            made = await agent.post(
                "/api/console/tickets/from-chat",
                {"conversation_id": conv_id, "subject": SUBJECT, "description": DESCRIPTION},
                status=201,
            )
            tid, number = made["ticket"]["id"], made["ticket"]["number"]
            path = f"/api/console/tickets/{tid}"
            await agent.post(f"{path}/comments", {"body": REPLY, "public": True}, status=201)
            await agent.post(f"{path}/state", {"to": "resolved"})
            ticket = (await agent.get(path))["ticket"]
            assert ticket["state"] == "resolved"

            # ---- the widget asks again when the panel opens: 我的工单 appears ----
            await w.locator('[data-cb="minimize"]').click()
            await w.locator('[data-cb="launcher"]').click()
            await expect(entry).to_have_text("我的工单")
            await entry.click()
            desk = w.locator('[data-cb="desk"]')
            await expect(desk).to_be_visible()
            await expect(desk.locator("h2")).to_be_focused()
            await expect(w.locator('[data-cb="messages"]')).to_be_hidden()
            await expect(w.locator('[data-cb="input"]')).to_be_hidden()
            rows = w.locator('[data-cb="tk-row"]')
            await expect(rows).to_have_count(1)
            await expect(rows.locator('[data-f="number"]')).to_have_text(number)
            await expect(rows.locator('[data-f="subject"]')).to_have_text(SUBJECT)
            await expect(rows.locator('[data-f="state"]')).to_have_text("已解决")
            await expect(rows.locator('[data-f="updated"]')).to_have_text(
                f"更新于 {local_minute(ticket['updated_at'])}"
            )
            # The keyboard opens it; the host page's Enter handler never sees the key.
            await rows.focus()
            await w.keyboard.press("Enter")
            assert await w.evaluate("() => window.hostSawEnter") is None
            subject = w.locator('[data-cb="tk-subject"]')
            await expect(subject).to_have_text(SUBJECT)
            await expect(subject).to_be_focused()
            await expect(w.locator('[data-cb="tk-number"]')).to_have_text(number)
            await expect(w.locator('[data-cb="tk-state"]')).to_have_text("已解决")
            await expect(w.locator('[data-cb="tk-entry"][data-kind="reply"]')).to_have_count(1)
            thread = await entries(w)
            assert thread[0] == {
                "kind": "created",
                "by": "agent",
                "look": "agent",
                "text": DESCRIPTION,
            }, thread
            assert {"kind": "reply", "by": "agent", "look": "agent", "text": REPLY} in thread
            assert thread[-1] == {
                "kind": "state",
                "by": "agent",
                "look": "system",
                "text": "状态：已解决",
            }, thread
            assert await w.evaluate(NO_MARKUP_JS)
            await w.screenshot(path=ARTIFACTS / "widget-ticket.png")

            # ---- still a problem: the reply reopens it ----
            ask = w.locator('[data-cb="tk-ask"]')
            await expect(ask).to_contain_text("问题解决了吗？")
            await w.locator('[data-cb="tk-still"]').click()
            box = w.locator('[data-cb="tk-reply"]')
            await expect(box).to_be_focused()
            await expect(box).to_have_attribute("placeholder", "请告诉我们还有什么问题")
            await expect(box).to_have_attribute("maxlength", "4000")
            send_button = w.locator('[data-cb="tk-reply-send"]')
            await send_button.click()  # empty: said before any round trip
            await expect(w.locator('[data-cb="tk-reply-error"]')).to_have_text("请填写留言内容")
            await box.fill(STILL)
            await expect(w.locator('[data-cb="tk-reply-error"]')).to_be_hidden()
            await box.press("Control+Enter")
            await expect(w.locator('[data-cb="tk-state"]')).to_have_text("处理中")
            await expect(ask).to_be_hidden()
            await expect(box).to_have_value("")
            await expect(send_button).to_have_text("发送")
            thread = await entries(w)
            assert thread[-2:] == [
                {"kind": "state", "by": "customer", "look": "system", "text": "状态：处理中"},
                {"kind": "reply", "by": "customer", "look": "visitor", "text": STILL},
            ], thread

            # ---- the agent sees the customer's reply, answers and resolves again ----
            history = (await agent.get(path))["history"]
            said = [e for e in history if e["kind"] == "reply" and e["by"] == "customer"]
            assert [e["data"]["body"] for e in said] == [STILL], history
            assert (await agent.get(path))["ticket"]["state"] == "open"
            await agent.post(f"{path}/comments", {"body": REPLY_2, "public": True}, status=201)
            await agent.post(f"{path}/state", {"to": "resolved"})

            # ---- back to the list, which asks again, and into the ticket ----
            await w.locator('[data-cb="tk-all"]').click()
            await expect(rows.locator('[data-f="state"]')).to_have_text("已解决")
            await expect(rows).to_be_focused()
            await rows.click()
            await expect(w.locator('[data-cb="tk-state"]')).to_have_text("已解决")
            await expect(w.locator('[data-cb="tk-entry"][data-kind="reply"]')).to_have_count(3)
            await expect(w.locator('[data-cb="tk-rate"]')).to_be_hidden()

            # ---- confirmed: closed, no more replies; the rating is asked for ----
            await w.locator('[data-cb="tk-confirm"]').click()
            await expect(w.locator('[data-cb="tk-state"]')).to_have_text("已关闭")
            await expect(ask).to_be_hidden()
            await expect(w.locator('[data-cb="tk-reply-form"]')).to_be_hidden()
            await expect(w.locator('[data-cb="tk-final"]')).to_be_visible()
            rate = w.locator('[data-cb="tk-rate"]')
            await expect(rate).to_be_visible()
            await expect(rate.locator("legend")).to_have_text(
                "请为本次服务评分（1 = 很差，5 = 很好）"
            )
            stars = w.locator('[data-cb="tk-score"]')
            await expect(stars).to_have_count(5)
            await expect(stars.first).to_be_focused()
            await w.locator('[data-cb="tk-rate-send"]').click()  # no score picked yet
            await expect(w.locator('[data-cb="tk-rate-error"]')).to_have_text("请选择 1 到 5 分")
            await w.keyboard.press("ArrowRight")  # a radio group: arrows pick the score
            await w.keyboard.press("ArrowRight")
            await w.keyboard.press("ArrowRight")
            await expect(w.locator('[data-cb="tk-score"][value="4"]')).to_be_checked()
            await w.locator('[data-cb="tk-comment"]').fill(COMMENT)
            await w.locator('[data-cb="tk-rate-send"]').click()
            thanks = w.locator('[data-cb="tk-thanks"]')
            await expect(thanks).to_have_text("感谢您的评价！")
            await expect(thanks).to_be_focused()
            await expect(rate).to_be_hidden()
            rating = w.locator('[data-cb="tk-entry"][data-kind="rating"] .body')
            await expect(rating).to_have_text(re.compile(f"^我的评分：4/5\\s+{COMMENT}$"))
            assert await w.evaluate(NO_MARKUP_JS)
            await w.screenshot(path=ARTIFACTS / "widget-ticket-rated.png")

            # ---- the API has the confirmation and the rating on the ticket ----
            page = await agent.get(path)
            assert page["ticket"]["state"] == "closed"
            ratings = [e for e in page["history"] if e["kind"] == "rating"]
            assert [(e["by"], e["data"]) for e in ratings] == [
                ("customer", {"score": 4, "comment": COMMENT})
            ], page["history"]

        # ---- back to the chat, as it was ----
        await w.locator('[data-cb="desk-back"]').click()
        await expect(desk).to_be_hidden()
        await expect(w.locator('[data-cb="input"]')).to_be_focused()
        await expect(w.locator('[data-cb="messages"]')).to_be_visible()
        await expect(entry).to_be_visible()

        # ---- the same visitor on a phone, in English ----
        phone_ctx = await chromium.new_context(
            locale="en-US",
            viewport={"width": 390, "height": 740},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            storage_state=await contexts[1].storage_state(),
        )
        contexts.append(phone_ctx)
        phone_ctx.set_default_timeout(WAIT)
        phone = await phone_ctx.new_page()
        phone.on("pageerror", lambda e: errors.append(f"phone: {e}"))
        query = urlencode({"box": appliance.origin, "shadow": "open", "lang": "en"})
        await phone.goto(f"{host_origin}/host_page.html?{query}")
        await phone.locator('[data-cb="launcher"]').click()
        await phone.locator('[data-cb="desk-open"]').click()
        await expect(phone.locator('[data-cb="desk"] h2')).to_have_text("My requests")
        row = phone.locator('[data-cb="tk-row"]')
        await expect(row.locator('[data-f="state"]')).to_have_text("Closed")
        panel = await phone.locator('[data-cb="panel"]').bounding_box()
        assert panel == {"x": 0, "y": 0, "width": 390, "height": 740}, panel
        box_of_row = await row.bounding_box()
        assert box_of_row is not None and box_of_row["x"] >= 0
        assert box_of_row["x"] + box_of_row["width"] <= 390
        assert box_of_row["height"] >= 44  # a thumb-sized target
        await row.tap()
        await expect(phone.locator('[data-cb="tk-state"]')).to_have_text("Closed")
        await expect(phone.locator('[data-cb="tk-thanks"]')).to_have_text(
            "Thank you for your rating!"
        )
        await expect(
            phone.locator('[data-cb="tk-entry"][data-kind="rating"] .body')
        ).to_contain_text("My rating: 4/5")
        await expect(phone.locator('[data-cb="tk-rate"]')).to_be_hidden()
        await expect(phone.locator('[data-cb="tk-final"]')).to_have_text(
            "This request is closed. For a new question, start a new chat."
        )
        assert await phone.evaluate(NO_MARKUP_JS)
        await phone.screenshot(path=ARTIFACTS / "widget-ticket-phone.png")
        await phone.locator('[data-cb="desk-back"]').tap()
        await expect(phone.locator('[data-cb="input"]')).to_be_visible()
    finally:
        for ctx in contexts:
            await ctx.close()
    assert not errors, errors


async def test_a_left_message_names_its_ticket(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    await appliance.start()
    errors: list[str] = []
    ctx = await chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 760})
    ctx.set_default_timeout(WAIT)
    try:
        page = await open_widget(ctx, appliance, host_origin, errors)
        await send(page, "想咨询一下发票")
        # Nobody is online: the box offers to take a message.
        await page.locator('[data-cb="overflow-message"]').click()
        await page.locator('[data-cb="wi-name"]').fill("李雷")
        await page.locator('[data-cb="wi-body"]').fill("请把发票寄到公司地址")
        async with page.expect_response("**/api/visitor/work-items") as answered:
            await page.locator('[data-cb="overflow-submit"]').click()
        item = (await (await answered.value).json())["item"]
        done = page.locator('[data-cb="overflow-done"]')
        # A box that files left messages as tickets gives the number; before, it did not.
        if "number" in item:
            await expect(done).to_have_text(
                f"留言已收到，工单号 {item['number']}。我们会尽快回复您。"
            )
            entry = page.locator('[data-cb="desk-open"]')
            await expect(entry).to_be_visible()  # asked again after the message was left
            await entry.click()
            row = page.locator('[data-cb="tk-row"]')
            await expect(row.locator('[data-f="number"]')).to_have_text(item["number"])
        else:
            await expect(done).to_have_text("留言已收到，我们会尽快回复您。")
            await expect(page.locator('[data-cb="desk-open"]')).to_be_hidden()
    finally:
        await ctx.close()
    assert not errors, errors
