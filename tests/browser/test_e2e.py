"""End to end in Debian's Chromium: widget on a foreign host page, agent console, restart.

A visitor on a hostile company page (another origin) chats with an agent logged into the
console; an XSS payload is shown as text on both sides; the box is SIGKILLed mid-chat,
the visitor writes during the outage, and after the restart both pages reconnect on their
own and end with the same transcript: nothing lost, nothing doubled.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Appliance
from tests.system.processes import cli

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20_000  # ms, the longest any single wait may take
USERNAME = "wangfang"
DISPLAY_NAME = "王芳"
PASSWORD = "correct horse battery"
XSS = '<img src=x onerror="window.__xss=1">'

# Every message body of the chat, in order; system messages (the assignment) aside.
V1 = "你好，我想查询一下订单状态"
A1 = "您好，我是王芳，请问订单号是多少？"
V_XSS = XSS
A_XSS = "您发来的是：" + XSS
V_OUTAGE = "断线期间发送：订单号 20261122"
A2 = "收到，订单 20261122 已发货。"

MESSAGES = '[data-cb="message"]'
# Widget and console both mark a message's text with class "body".
SNAPSHOT_JS = """els => els.map(e => ({
  seq: e.getAttribute('data-seq'),
  sender: e.getAttribute('data-sender'),
  pending: e.hasAttribute('data-pending'),
  failed: e.hasAttribute('data-failed'),
  body: (e.querySelector('.body') || {}).textContent,
}))"""


async def transcript(page: Page) -> list[dict[str, Any]]:
    """Every message bubble on a page (piercing the widget's open shadow root)."""
    return await page.locator(MESSAGES).evaluate_all(SNAPSHOT_JS)  # type: ignore[no-any-return]


def bodies(items: list[dict[str, Any]]) -> list[str]:
    return [m["body"] for m in items if m["sender"] != "system"]


async def bodies_become(page: Page, expected: list[str]) -> list[dict[str, Any]]:
    """Wait until the confirmed message bodies on a page are exactly the expected ones."""
    deadline = time.monotonic() + WAIT / 1000
    while True:
        items = await transcript(page)
        if bodies(items) == expected and not any(m["pending"] for m in items):
            return items
        if time.monotonic() > deadline:
            raise AssertionError(f"{page.url}: wanted bodies {expected!r}, have {items!r}")
        await asyncio.sleep(0.1)


def assert_clean_sequence(items: list[dict[str, Any]], where: str) -> None:
    """Seqs are 1..n in order, once each; nothing pending or failed."""
    seqs = [int(m["seq"]) for m in items]
    assert seqs == list(range(1, len(items) + 1)), f"{where}: seqs {seqs}"
    assert not any(m["pending"] or m["failed"] for m in items), f"{where}: {items}"
    assigned = [m for m in items if m["sender"] == "system"]
    assert len(assigned) == 1, f"{where}: system messages {assigned}"


async def assert_no_xss(page: Page) -> None:
    """The payload is text: no <img> was built from it and its handler never ran."""
    await page.wait_for_timeout(300)  # an <img src=x> would have failed and fired by now
    assert await page.evaluate("() => window.__xss") is None
    assert await page.locator(f"{MESSAGES} img").count() == 0


async def send(page: Page, text: str, *, typing_on: tuple[Page, str] | None = None) -> None:
    """Type a message and press Enter; optionally see the other side's typing indicator first."""
    box = page.locator('[data-cb="input"]')
    await box.fill(text)
    if typing_on is not None:
        other, indicator = typing_on
        await expect(other.locator('[data-cb="typing"]')).to_have_text(indicator)
    await box.press("Enter")
    if typing_on is not None:
        await expect(other.locator('[data-cb="typing"]')).to_be_hidden()


def exactly(text: str) -> re.Pattern[str]:
    return re.compile(f"^{re.escape(text)}$")


async def test_chat_across_a_restart(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    added = await asyncio.to_thread(
        cli,
        appliance.data_dir,
        "user",
        "add",
        USERNAME,
        "--role",
        "agent",
        "--display-name",
        DISPLAY_NAME,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stdout + added.stderr
    await appliance.start()

    desktop = {"width": 1280, "height": 760}
    agent_ctx = await chromium.new_context(locale="zh-CN", viewport=desktop)
    visitor_ctx = await chromium.new_context(locale="zh-CN", viewport=desktop)
    for ctx in (agent_ctx, visitor_ctx):
        ctx.set_default_timeout(WAIT)
    errors: list[str] = []
    try:
        # ---- the agent logs in (Chinese UI by default) and goes online ----
        console = await agent_ctx.new_page()
        console.on("pageerror", lambda e: errors.append(f"console: {e}"))
        await console.goto(appliance.origin + "/login")
        await expect(console.locator("html")).to_have_attribute("lang", "zh-CN")
        await console.locator('input[name="username"]').fill(USERNAME)
        await console.locator('input[name="password"]').fill(PASSWORD)
        await console.locator('[data-cb="login-form"] button[type="submit"]').click()
        await console.wait_for_url("**/console")
        root = console.locator('[data-cb="console"]')
        await expect(root).to_have_attribute("data-conn", "online")
        await expect(console.locator('label[for="cb-presence"]')).to_have_text("状态")
        await console.locator('[data-cb="presence"]').select_option("online")
        await expect(root).to_have_attribute("data-status", "online")

        # ---- a visitor on a company page of another origin opens the widget ----
        widget = await visitor_ctx.new_page()
        widget.on("pageerror", lambda e: errors.append(f"widget: {e}"))
        query = urlencode({"box": appliance.origin, "shadow": "open"})
        await widget.goto(f"{host_origin}/host_page.html?{query}")
        assert host_origin != appliance.origin
        await widget.locator('[data-cb="launcher"]').click()
        status = widget.locator('[data-cb="status"]')
        await expect(status).to_have_text("您好，有什么可以帮您？")
        await send(widget, V1)
        # The host page swallows Enter on document; the widget must keep it to itself.
        assert await widget.evaluate("() => window.hostSawEnter") is None

        # ---- an online agent gets it at once (auto-assignment); the agent opens it ----
        mine = console.locator('[data-cb="mine-list"] [data-cb="conv"]')
        await expect(mine).to_have_count(1)
        await expect(console.locator('[data-cb="waiting-list"] [data-cb="conv"]')).to_have_count(0)
        # A new chat raises the title badge (with the beep); opening it clears the badge.
        await expect(console).to_have_title(re.compile(r"^\(\d+\) Callbox 控制台$"))
        await mine.click()
        await expect(mine).to_have_class(re.compile(r"\bselected\b"))
        await expect(console).to_have_title("Callbox 控制台")
        await bodies_become(console, [V1])
        await expect(status).to_have_attribute("data-state", "active")
        await expect(status).to_have_text(f"客服 {DISPLAY_NAME} 正在为您服务")
        await send(console, A1)
        await bodies_become(widget, [V1, A1])

        # ---- the XSS payload both ways is shown as text ----
        await send(widget, V_XSS, typing_on=(console, "访客正在输入…"))
        await send(console, A_XSS)
        expected = [V1, A1, V_XSS, A_XSS]
        for page in (widget, console):
            await bodies_become(page, expected)
            shown = page.locator(f"{MESSAGES} .body").filter(has_text=exactly(XSS))
            await expect(shown).to_have_count(1)
            await expect(shown).to_be_visible()
            await assert_no_xss(page)

        # ---- the box is killed; the visitor writes during the outage ----
        for page in (widget, console):  # gone if a page reloads instead of reconnecting
            await page.evaluate("() => { window.__sameDocument = true; }")
        await appliance.kill()
        await expect(status).to_have_attribute("data-state", "reconnecting")
        await expect(root).to_have_attribute("data-conn", "lost")
        await send(widget, V_OUTAGE)
        pending = widget.locator(f"{MESSAGES}[data-pending]")
        await expect(pending).to_have_count(1)
        await expect(pending.locator(".body")).to_have_text(V_OUTAGE)
        await widget.wait_for_timeout(500)  # still nothing to deliver it to
        await expect(pending).to_have_count(1)

        # ---- restart in place: both pages come back on their own ----
        await appliance.start()
        await expect(root).to_have_attribute("data-conn", "online")
        expected.append(V_OUTAGE)
        await bodies_become(console, expected)
        await bodies_become(widget, expected)
        await expect(status).to_have_attribute("data-state", "active")

        for page in (widget, console):
            assert await page.evaluate("() => window.__sameDocument") is True
        await send(console, A2, typing_on=(widget, "客服正在输入…"))
        expected.append(A2)
        await bodies_become(widget, expected)
        # Settle: a late duplicate from a replay or an outbox resend would show up here.
        await widget.wait_for_timeout(1000)
        for page, where in ((widget, "widget"), (console, "console")):
            items = await bodies_become(page, expected)
            assert bodies(items) == expected, where
            assert_clean_sequence(items, where)
            await assert_no_xss(page)

        await widget.screenshot(path=ARTIFACTS / "widget.png")
        await console.screenshot(path=ARTIFACTS / "console.png")
        # At 1024 px the chat's buttons wrap below the visitor's name, never crush it.
        await console.set_viewport_size({"width": 1024, "height": 760})
        name = await console.locator('[data-role="chat-name"]').bounding_box()
        assert name is not None and name["width"] >= 60, name
        await console.set_viewport_size(desktop)

        # ---- the same visitor on a phone: the transcript is replayed from the box ----
        phone_ctx = await chromium.new_context(
            locale="zh-CN",
            viewport={"width": 390, "height": 740},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            storage_state=await visitor_ctx.storage_state(),
        )
        try:
            phone = await phone_ctx.new_page()
            phone.on("pageerror", lambda e: errors.append(f"phone: {e}"))
            await phone.goto(f"{host_origin}/host_page.html?{query}")
            await phone.locator('[data-cb="launcher"]').click()
            items = await bodies_become(phone, expected)
            assert_clean_sequence(items, "phone")
            await assert_no_xss(phone)
            # End chat and × are thumb-sized and apart, so minimising never ends the chat.
            end = await phone.locator('[data-cb="close"]').bounding_box()
            cross = await phone.locator('[data-cb="minimize"]').bounding_box()
            assert end is not None and cross is not None
            assert cross["x"] - (end["x"] + end["width"]) >= 20, (end, cross)
            assert min(end["height"], cross["height"], cross["width"]) >= 44, (end, cross)
            await phone.screenshot(path=ARTIFACTS / "widget-phone.png")
        finally:
            await phone_ctx.close()
    finally:
        await visitor_ctx.close()
        await agent_ctx.close()
    assert not errors, errors
