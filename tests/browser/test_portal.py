"""The customer portal in Debian's Chromium on a phone-sized screen, with a real SMTP
server on loopback (aiosmtpd): a customer asks for a sign-in link, the test reads the
mail the box sent, the customer opens the link, signs in, finds their ticket (the
agent's public reply, never the internal note), replies with a PDF attached, and once
the agent has resolved the ticket confirms the resolution and rates it; then reads it
all in English. Markup in the subject stays text."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from appliance.core.audit import Actor
from tests.conftest import Agent, Running
from tests.file_samples import pdf
from tests.mail_servers import SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

WAIT = 20_000  # ms, the longest any single wait may take
PHONE = {"width": 390, "height": 740}
EMAIL = "zhou.min@example.com"
SUBJECT = '发票抬头错误 <img src=x onerror="window.__xss=1">'
NOTE = "内部：此客户曾多次投诉"
ANSWER = "您好，请上传原发票的照片或 PDF。"
MINE = "附件是原发票，请查收。"
_LINK = re.compile(r"(https?://\S+/portal/sign-in/[A-Za-z0-9_-]+)")


def portal(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-portal="{name}"]')


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(auth=False)
    server.start()
    yield server
    server.stop()


async def _link_mail(smtp: SmtpServer) -> str:
    deadline = time.monotonic() + WAIT / 1000
    while True:
        for mail in smtp.sink.messages:
            found = _LINK.search(str(mail.get_body(("plain",)).get_content()))
            if found:
                assert mail["To"] == EMAIL
                return found.group(1)
        assert time.monotonic() < deadline, "the sign-in mail did not come"
        await asyncio.sleep(0.1)


async def _fits(page: Page) -> None:
    """Nothing is wider than the phone's screen."""
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0


async def test_customer_signs_in_by_mail_replies_with_a_file_and_confirms_on_a_phone(
    chromium: Browser,
    running: Running,
    make_agent: Callable[..., Awaitable[Agent]],
    smtp: SmtpServer,
    tmp_path: Any,
) -> None:
    expect.set_options(timeout=WAIT)
    await running.box.mail.change_smtp(
        Actor(None, "test", "127.0.0.1"),
        {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "from_address": "help@example.com",
            "from_name": "客服中心",
        },
    )
    agent = await make_agent(role="supervisor")
    made = await agent.post(
        "/api/console/tickets",
        {
            "subject": SUBJECT,
            "description": "发票抬头写成了旧公司名",
            "requester": {"email": EMAIL},
        },
        status=201,
    )
    ticket = made["ticket"]
    base = f"/api/console/tickets/{ticket['id']}"
    await agent.post(base + "/comments", {"body": NOTE, "public": False}, status=201)
    await agent.post(base + "/comments", {"body": ANSWER, "public": True}, status=201)
    errors: list[str] = []
    ctx = await chromium.new_context(
        locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    ctx.set_default_timeout(WAIT)
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(running.url("/portal"))
        await expect(page.locator("h1")).to_have_text("登录查看您的工单")
        await expect(page.locator('a[href="/help"]')).to_have_count(1)
        await _fits(page)
        await portal(page, "ask-link").locator('input[name="email"]').fill(EMAIL)
        await portal(page, "ask-link").locator('button[type="submit"]').click()
        await expect(portal(page, "message")).to_contain_text("登录链接已发送")
        link = await _link_mail(smtp)
        assert link.startswith(running.url("/portal/sign-in/"))
        await page.goto(link)
        await portal(page, "use-link").locator("button").click()
        await page.wait_for_url("**/portal")
        row = portal(page, "tickets").locator("li")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text(SUBJECT)  # the markup, as text
        await _fits(page)
        await row.locator("a").click()
        await page.wait_for_url(f"**/portal/tickets/{ticket['id']}")
        thread = portal(page, "thread")
        await expect(thread).to_contain_text(ANSWER)
        await expect(thread).not_to_contain_text(NOTE)
        await _fits(page)
        # Reply with a PDF attached.
        reply = portal(page, "reply")
        await reply.locator('textarea[name="body"]').fill(MINE)
        document = tmp_path / "原发票.pdf"
        document.write_bytes(pdf())
        await reply.locator('input[name="file"]').set_input_files(str(document))
        await reply.locator('button[type="submit"]').click()
        await expect(thread.locator(".entry.by-customer")).to_contain_text(MINE)
        await expect(thread.locator(".file a")).to_have_text("原发票.pdf")
        # The agent sees the reply and its file in the ticket's history, and resolves.
        detail = await agent.get(base)
        replies = [e["data"] for e in detail["history"] if e["kind"] == "reply"]
        assert replies[-1]["body"] == MINE
        assert replies[-1]["files"][0]["name"] == "原发票.pdf"
        # …and on the ticket's page in the console, a download link by the file's name.
        console = await ctx.browser.new_context(locale="zh-CN") if ctx.browser else None
        assert console is not None
        try:
            await console.add_cookies(
                [
                    {"name": c.key, "value": c.value, "url": running.url("/")}
                    for c in agent.http.cookie_jar
                ]
            )
            desk = await console.new_page()
            desk.on("pageerror", lambda e: errors.append(str(e)))
            await desk.goto(running.url(f"/console/tickets/{ticket['id']}"))
            await expect(desk.locator('[data-cb="thread-file"]')).to_have_text("原发票.pdf")
        finally:
            await console.close()
        await agent.post(base + "/state", {"to": "resolved"})
        await page.reload()
        await expect(portal(page, "state")).to_have_text("已解决，待确认")
        await portal(page, "confirm").locator("button").click()
        await expect(portal(page, "state")).to_have_text("已关闭")
        await expect(portal(page, "reply")).to_have_count(0)
        rate = portal(page, "rate")
        await rate.locator('input[name="score"][value="5"]').check()
        await rate.locator('textarea[name="comment"]').fill("处理得很快")
        await rate.locator('button[type="submit"]').click()
        await expect(thread).to_contain_text("5 / 5")
        await expect(portal(page, "rate")).to_have_count(0)
        await _fits(page)
        # The same page in English.
        await portal(page, "lang").locator('button[value="en"]').click()
        await expect(portal(page, "state")).to_have_text("Closed")
        await expect(page.locator('a[href="/help"]')).to_have_text("Help center")
        assert await page.evaluate("window.__xss") is None
        detail = await agent.get(base)
        assert detail["ticket"]["state"] == "closed"
        assert [e["data"]["score"] for e in detail["history"] if e["kind"] == "rating"] == [5]
        # Signing out ends the session.
        await portal(page, "sign-out").click()
        await page.goto(running.url(f"/portal/tickets/{ticket['id']}"))
        await page.wait_for_url("**/portal")
        await expect(portal(page, "ask-link")).to_have_count(1)
        assert errors == []
    finally:
        await ctx.close()
