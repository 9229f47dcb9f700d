"""Queue place and overflow in Debian's Chromium, with the widget on a foreign host page.

With nobody online, a visitor who picked a pre-chat topic is offered leave-a-message or
call back, gets a clear error for a bad phone number without losing what they typed, and
leaves a call-back request: the box files it and closes the waiting chat. With one agent
at their one-chat limit, later visitors see their place and wait live (the one whose wait
is too long is offered the same choices and may keep waiting), and move up when the agent
ends a chat. Internal notes leave gaps in the visitor's seqs: the widget shows every
public message once, also after a reload and across an acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Appliance
from tests.browser.test_e2e import bodies_become, send, transcript
from tests.conftest import Agent
from tests.system.processes import cli

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20_000  # ms, the longest any single wait may take
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 760}
AGENT_NAME = "王芳"
PHONE = "+86 138 0013 8000"
WHEN = "明天下午 2 点以后"
NOTE = "内部备注：老客户，优先处理"


async def add_user(appliance: Appliance, username: str, *args: str) -> None:
    """Create a console user with the CLI, as IT would."""
    added = await asyncio.to_thread(
        cli,
        appliance.data_dir,
        "user",
        "add",
        username,
        *args,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stdout + added.stderr


@contextlib.asynccontextmanager
async def console_api(appliance: Appliance, username: str) -> AsyncIterator[Agent]:
    """A console user logged in over HTTP, for the API calls the console page would make."""
    assert appliance.proc is not None
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for a bare IP address
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        user = Agent(appliance.proc, http, 0)  # the process has the url() a Running has
        response = await user.login(username, PASSWORD)
        assert response.status == 302
        yield user


async def open_widget(
    ctx: BrowserContext, appliance: Appliance, host_origin: str, errors: list[str]
) -> Page:
    """Open the company page of another origin and the chat panel on it."""
    page = await ctx.new_page()
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    query = urlencode({"box": appliance.origin, "shadow": "open"})
    await page.goto(f"{host_origin}/host_page.html?{query}")
    await page.locator('[data-cb="launcher"]').click()
    await expect(page.locator('[data-cb="status"]')).to_have_attribute("data-state", "idle")
    return page


def seqs_of(items: list[dict[str, Any]]) -> list[int]:
    return [int(m["seq"]) for m in items]


async def test_no_agent_visitor_asks_for_a_call_back(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    await add_user(appliance, "lihua", "--role", "supervisor", "--display-name", "李华")
    await appliance.start()
    errors: list[str] = []
    async with console_api(appliance, "lihua") as lead:
        groups = (await lead.get("/api/console/groups"))["groups"]
        default = next(g["id"] for g in groups if g["is_default"])
        topics = [
            {"key": "billing", "label": "账单与发票", "group_id": default},
            {"key": "sales", "label": "购买咨询", "group_id": default},
        ]
        await lead.call("PUT", "/api/console/topics", {"topics": topics})

        ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
        ctx.set_default_timeout(WAIT)
        try:
            page = await open_widget(ctx, appliance, host_origin, errors)
            # ---- pre-chat: a name and one of the box's topics ----
            prechat = page.locator('[data-cb="prechat"]')
            await expect(prechat).to_be_visible()
            topic = page.locator('[data-cb="topic"] option')
            await expect(topic).to_have_text(["请选择（选填）", "账单与发票", "购买咨询"])
            await page.locator('[data-cb="name"]').fill("李雷")
            await page.locator('[data-cb="topic"]').select_option("billing")
            await send(page, "我的发票抬头开错了")
            await expect(prechat).to_be_hidden()

            # ---- nobody is online: the offer, no queue place ----
            overflow = page.locator('[data-cb="overflow"]')
            await expect(overflow).to_have_attribute("data-reason", "no_agent")
            await expect(page.locator('[data-cb="overflow-reason"]')).to_have_text(
                "暂时没有客服可以接待您。"
            )
            await expect(page.locator('[data-cb="overflow-wait"]')).to_be_hidden()
            await expect(page.locator('[data-cb="queue"]')).to_be_hidden()
            status = page.locator('[data-cb="status"]')
            await expect(status).to_have_attribute("data-state", "waiting")
            await page.screenshot(path=ARTIFACTS / "widget-overflow.png")

            # ---- a bad phone number: the box's 422, said clearly; nothing typed is lost ----
            await page.locator('[data-cb="overflow-callback"]').click()
            form = page.locator('[data-cb="overflow-form"]')
            await expect(form).to_have_attribute("data-kind", "callback")
            await expect(page.locator('[data-cb="wi-name"]')).to_have_value("李雷")
            await expect(page.locator('[data-cb="wi-body"]')).to_be_hidden()
            contact = page.locator('[data-cb="wi-contact"]')
            when = page.locator('[data-cb="wi-time"]')
            await contact.fill("138-abc")
            await when.fill(WHEN)
            await page.locator('[data-cb="overflow-submit"]').click()
            error = page.locator('[data-cb="overflow-error"]')
            await expect(error).to_have_text("请填写有效的电话号码")
            await expect(contact).to_have_value("138-abc")
            await expect(when).to_have_value(WHEN)
            await expect(contact).to_be_focused()

            # ---- a good one: filed, confirmed, and the waiting chat ends ----
            await contact.fill(PHONE)
            await contact.press("Enter")
            done = page.locator('[data-cb="overflow-done"]')
            # The request is a ticket: the visitor gets its number to quote on the phone.
            phone = re.escape(PHONE)
            await expect(done).to_have_text(
                re.compile(rf"^回电请求已收到，工单号 \d{{8}}-\d{{4}}。我们会尽快致电 {phone}。$")
            )
            await expect(overflow).to_be_hidden()
            await expect(status).to_have_attribute("data-state", "closed")
            closed = page.locator('[data-cb="message"][data-event="closed"]')
            await expect(closed).to_have_text("对话已结束")
            await expect(page.locator('[data-cb="new-chat"]')).to_be_visible()
        finally:
            await ctx.close()

        # The request is a ticket in the "left" view, for a customer with that phone.
        items = (await lead.get("/api/console/tickets?view=left"))["tickets"]
        assert len(items) == 1, items
        item = items[0]
        assert (item["channel"], item["state"], item["group_id"]) == ("callback", "new", default)
        detail = await lead.get(f"/api/console/tickets/{item['id']}")
        assert detail["requester"]["phone"] == PHONE and detail["requester"]["name"] == "李雷"
        assert WHEN in detail["ticket"]["description"]
        (conv_id,) = detail["conversations"]
        path = f"/api/console/conversations/{conv_id}"
        conv = (await lead.get(path))["conversation"]
        assert conv["status"] == "closed"
        assert conv["topic"] == "billing"
        assert conv["visitor"]["name"] == "李雷"
    assert not errors, errors


async def test_queue_place_live_until_assigned(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    await add_user(
        appliance,
        "wangfang",
        "--role",
        "agent",
        "--display-name",
        AGENT_NAME,
        "--max-chats",
        "1",
    )
    await add_user(appliance, "lihua", "--role", "supervisor", "--display-name", "李华")
    await appliance.start()
    errors: list[str] = []
    async with (
        console_api(appliance, "wangfang") as agent,
        console_api(appliance, "lihua") as lead,
    ):
        # Without history a chat is assumed to take 5 minutes: the second in line waits
        # about 10, over this limit; the first about 5, under it.
        groups = (await lead.get("/api/console/groups"))["groups"]
        default = next(g["id"] for g in groups if g["is_default"])
        await lead.call("PATCH", f"/api/console/groups/{default}", {"max_wait": 450})
        await agent.post("/api/console/presence", {"status": "online"})
        contexts: list[BrowserContext] = []
        try:
            for _ in range(3):
                ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
                ctx.set_default_timeout(WAIT)
                contexts.append(ctx)
            first, second, third = [
                await open_widget(ctx, appliance, host_origin, errors) for ctx in contexts
            ]
            # No topics configured: no pre-chat step, as before.
            await expect(first.locator('[data-cb="prechat"]')).to_be_hidden()

            # ---- the first visitor takes the agent's only slot ----
            await send(first, "你好，第一位")
            await expect(first.locator('[data-cb="status"]')).to_have_attribute(
                "data-state", "active"
            )
            await expect(first.locator('[data-cb="queue"]')).to_be_hidden()
            mine = (await agent.get("/api/console/conversations?scope=mine"))["conversations"]
            assert len(mine) == 1, mine
            chat1 = mine[0]["id"]

            # ---- a note (staff only) before the answer: a gap in the visitor's seqs ----
            conv_path = f"/api/console/conversations/{chat1}"
            await agent.post(conv_path + "/notes", {"body": NOTE}, status=201)
            await agent.post(
                conv_path + "/messages",
                {"client_msg_id": str(uuid.uuid4()), "body": "您好，请讲"},
                status=201,
            )
            items = await bodies_become(first, ["你好，第一位", "您好，请讲"])
            seqs = seqs_of(items)
            assert seqs == sorted(set(seqs)) and max(seqs) == len(seqs) + 1, items

            # ---- two more visitors wait: their places, live ----
            await send(second, "你好，第二位")
            queue2 = second.locator('[data-cb="queue"]')
            await expect(queue2).to_have_attribute("data-position", "1")
            await expect(queue2).to_have_text(
                re.compile(r"^下一位就是您，预计等待(约 \d+ 分钟|不到 1 分钟)$")
            )
            await expect(second.locator('[data-cb="status"]')).to_have_text("正在排队，请稍候…")
            await expect(second.locator('[data-cb="overflow"]')).to_be_hidden()
            await send(third, "你好，第三位")
            queue3 = third.locator('[data-cb="queue"]')
            await expect(queue3).to_have_attribute("data-position", "2")
            await expect(queue3).to_have_text(re.compile(r"^您前面还有 1 位，预计等待约 \d+ 分钟$"))
            await second.screenshot(path=ARTIFACTS / "widget-queue.png")
            # The third may leave a message instead, or keep waiting.
            offer = third.locator('[data-cb="overflow"]')
            await expect(offer).to_have_attribute("data-reason", "long_wait")
            await expect(third.locator('[data-cb="overflow-reason"]')).to_have_text(
                "目前咨询人数较多，等待时间可能较长。"
            )
            await third.locator('[data-cb="overflow-wait"]').click()
            await expect(offer).to_be_hidden()
            await expect(queue3).to_be_visible()

            # ---- the first visitor reloads: a replay with a gap, nothing doubled ----
            await first.reload()
            await first.locator('[data-cb="launcher"]').click()
            assert seqs_of(await bodies_become(first, ["你好，第一位", "您好，请讲"])) == seqs
            # A note after what the visitor saw: their next ack skips a seq.
            await agent.post(conv_path + "/notes", {"body": NOTE}, status=201)
            await send(first, "我的订单号是 20261122")
            await agent.post(
                conv_path + "/messages",
                {"client_msg_id": str(uuid.uuid4()), "body": "收到，马上为您查询"},
                status=201,
            )
            expected = ["你好，第一位", "您好，请讲", "我的订单号是 20261122", "收到，马上为您查询"]
            await bodies_become(first, expected)
            await first.wait_for_timeout(500)  # a late duplicate would show up here
            items = await bodies_become(first, expected)
            seqs = seqs_of(items)
            assert seqs == sorted(set(seqs)) and max(seqs) == len(seqs) + 2, items
            assert not any(m["failed"] for m in items), items
            assert NOTE not in (await first.locator('[data-cb="messages"]').text_content() or "")

            # ---- the agent ends the first chat: the second visitor is assigned ----
            await agent.post(conv_path + "/close")
            await expect(queue2).to_be_hidden()
            assigned = second.locator('[data-cb="message"][data-event="assigned"]')
            await expect(assigned).to_have_text(f"客服 {AGENT_NAME} 已接入")
            await expect(second.locator('[data-cb="status"]')).to_have_text(
                f"客服 {AGENT_NAME} 正在为您服务"
            )
            await expect(queue3).to_have_attribute("data-position", "1")
            await expect(queue3).to_have_text(re.compile(r"^下一位就是您"))
            await expect(first.locator('[data-cb="status"]')).to_have_attribute(
                "data-state", "closed"
            )
            assert [m["sender"] for m in await transcript(second)].count("system") == 1
        finally:
            for ctx in contexts:
                await ctx.close()
    assert not errors, errors
