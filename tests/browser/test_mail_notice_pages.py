"""In Debian's Chromium: a console user chooses SLA notices by mail on their account
page, and a customer rates a resolved ticket from a mailed link (the page asks, the
button records, once)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from playwright.async_api import Browser, expect

from appliance.core import mail_notices
from appliance.core.clock import now_ms
from appliance.core.store import tickets as ticket_store
from tests.conftest import PASSWORD, Running
from tests.mail_servers import idle_mailbox

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

WAIT = 20_000  # ms


async def test_account_card_sets_sla_mail(chromium: Browser, running: Running) -> None:
    expect.set_options(timeout=WAIT)
    await running.box.accounts.create_user("li", PASSWORD, "agent", display_name="李雷")
    errors: list[str] = []
    ctx = await chromium.new_context(locale="zh-CN")
    ctx.set_default_timeout(WAIT)
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(running.url("/login"))
        await page.locator('input[name="username"]').fill("li")
        await page.locator('input[name="password"]').fill(PASSWORD)
        await page.locator('[data-cb="login-form"] button[type="submit"]').click()
        await page.wait_for_url("**/console")
        await page.goto(running.url("/console/account"))
        card = page.locator('[data-cb="mail-notices"]')
        await expect(card.locator("h2")).to_have_text("SLA 邮件提醒")
        await expect(card.locator('[data-cb="mn-breach"]')).to_be_checked()  # the default
        await expect(card.locator('[data-cb="mn-warning"]')).not_to_be_checked()
        await card.locator('[data-cb="mn-address"]').fill("li@corp.example.com")
        await card.locator('[data-cb="mn-warning"]').check()
        await card.locator('[data-cb="mn-save"]').click()
        await expect(card.locator('[data-cb="mn-result"]')).to_have_text("已保存")
        await page.reload()
        await expect(card.locator('[data-cb="mn-address"]')).to_have_value("li@corp.example.com")
        await expect(card.locator('[data-cb="mn-warning"]')).to_be_checked()
        assert errors == []
    finally:
        await ctx.close()


async def test_a_customer_rates_from_the_mailed_link(chromium: Browser, running: Running) -> None:
    expect.set_options(timeout=WAIT)
    box = running.box
    row = await idle_mailbox(box)
    msg = EmailMessage()
    msg["From"] = "wang@example.com"
    msg["Subject"] = "网络断了"
    msg["Message-ID"] = "<net@example.com>"
    msg.set_content("办公室网络断了")
    outcome = await box.mail_in.import_message(row, 1, 1, bytes(msg))
    ticket_id = outcome.ticket_id
    assert ticket_id is not None
    user = await box.accounts.create_user("boss", PASSWORD, "supervisor")
    staff = await box.routing.actor(user.id, user.display_name, user.role)
    await box.tickets.move(staff, ticket_id, "resolved")
    token = mail_notices.rating_token(box.mail_in._threading, ticket_id, now_ms() + 60_000)
    ctx = await chromium.new_context(locale="zh-CN", viewport={"width": 390, "height": 800})
    ctx.set_default_timeout(WAIT)
    try:
        page = await ctx.new_page()
        await page.goto(running.url(f"/api/visitor/mail-rating?t={token}&score=2"))
        await expect(page.locator("h1")).to_have_text("服务评价")
        await expect(page.locator('input[name="score"][value="2"]')).to_be_checked()
        assert not await box.db.read(lambda c: ticket_store.has_entry(c, ticket_id, "rating"))
        await page.locator('input[name="score"][value="5"]').check()
        await page.locator('[data-cb="mr-comment"]').fill("修得很快")
        await page.locator('[data-cb="mr-send"]').click()
        await expect(page.locator('[data-cb="mr-outcome"]')).to_have_text("谢谢您的评价！")
        await page.go_back()
        await page.locator('[data-cb="mr-send"]').click()
        await expect(page.locator('[data-cb="mr-outcome"]')).to_have_text(
            "这张工单已经评价过了，谢谢。"
        )
        events = await box.db.read(lambda c: ticket_store.events(c, ticket_id))
        assert [e.data for e in events if e.kind == "rating"] == [
            {"score": 5, "comment": "修得很快", "via": "mail"}
        ]
    finally:
        await ctx.close()
