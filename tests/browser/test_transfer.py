"""Teamwork in the console, in Debian's Chromium, with the widget on a foreign host page.

Agent A, auto-assigned a visitor's chat (it opens by itself), writes an internal note
and transfers the chat to agent B with a note: the visitor is told B joined and never
receives either note, B's console opens the chat with the whole history and both notes,
B's reply reaches the visitor, and A's console keeps the chat only as a read-only
record. A conference (invite, collision, leave) and a supervisor who watches, whispers,
takes over and answers with a canned answer follow.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Appliance
from tests.browser.test_e2e import bodies_become, send
from tests.system.processes import cli

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20_000  # ms, the longest any single wait may take
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 760}

A_NAME = "王芳"
B_NAME = "李军"
C_NAME = "赵敏"
S_NAME = "陈主管"

V1 = "你好，我想修改绑定的银行账号"
A1 = "好的，请稍等，我帮您请负责账户的同事。"
NOTE = "内部备注：客户上周投诉过一次"
HANDOVER = "转接备注：VIP 客户，改账号需核实身份"
B1 = "您好，我是李军，我来帮您修改账号。"
C1 = "我是赵敏，也来协助您。"
WHISPER = "悄悄话：先核实身份证后四位"
CANNED = "感谢您的耐心等待，祝您生活愉快！"

MINE = '[data-cb="mine-list"] [data-cb="conv"]'
TOPBAR = "header.topbar nav a"
STAFF = '[data-cb="message"][data-visibility="staff"]'
# Everything a page holds, open shadow roots included: a note must be nowhere in it.
ALL_TEXT_JS = """() => {
  const parts = [document.documentElement.outerHTML];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) { parts.push(el.shadowRoot.innerHTML); walk(el.shadowRoot); }
    }
  };
  walk(document);
  return parts.join('\\n');
}"""


async def add_user(appliance: Appliance, username: str, name: str, role: str = "agent") -> None:
    """Create a console user with the CLI, as IT would."""
    added = await asyncio.to_thread(
        cli,
        appliance.data_dir,
        "user",
        "add",
        username,
        "--role",
        role,
        "--display-name",
        name,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stdout + added.stderr


async def console_for(
    chromium: Browser, appliance: Appliance, username: str, errors: list[str], *, online: bool
) -> tuple[BrowserContext, Page]:
    """Log a user into the console (Chinese UI), optionally going online."""
    ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
    ctx.set_default_timeout(WAIT)
    page = await ctx.new_page()
    page.on("pageerror", lambda e: errors.append(f"{username}: {e}"))
    await page.goto(appliance.origin + "/login")
    await page.locator('input[name="username"]').fill(username)
    await page.locator('input[name="password"]').fill(PASSWORD)
    await page.locator('[data-cb="login-form"] button[type="submit"]').click()
    await page.wait_for_url("**/console")
    root = page.locator('[data-cb="console"]')
    await expect(root).to_have_attribute("data-conn", "online")
    if online:
        await page.locator('[data-cb="presence"]').select_option("online")
        await expect(root).to_have_attribute("data-status", "online")
    return ctx, page


async def visitor_chat(
    chromium: Browser, appliance: Appliance, host_origin: str, errors: list[str]
) -> tuple[BrowserContext, Page]:
    """Open the widget on the company page of another origin and say the first line."""
    ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
    ctx.set_default_timeout(WAIT)
    page = await ctx.new_page()
    page.on("pageerror", lambda e: errors.append(f"widget: {e}"))
    query = urlencode({"box": appliance.origin, "shadow": "open"})
    await page.goto(f"{host_origin}/host_page.html?{query}")
    await page.locator('[data-cb="launcher"]').click()
    await send(page, V1)
    return ctx, page


async def assert_nowhere(page: Page, *texts: str) -> None:
    """None of the texts is anywhere in the page's DOM, hidden parts included."""
    everything = await page.evaluate(ALL_TEXT_JS)
    for text in texts:
        assert text not in everything, f"{text!r} reached {page.url}"


async def answer_first_chat(console: Page, widget: Page) -> None:
    """The chat assigned to this agent opens by itself; the agent answers it."""
    mine = console.locator(MINE)
    await expect(mine).to_have_count(1)
    await expect(mine).to_have_class(re.compile(r"\bselected\b"))
    await bodies_become(console, [V1])
    await send(console, A1)
    await bodies_become(widget, [V1, A1])


async def test_transfer_with_note_to_a_colleague(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    await add_user(appliance, "wangfang", A_NAME)
    await add_user(appliance, "lijun", B_NAME)
    await appliance.start()
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    try:
        ctx, a = await console_for(chromium, appliance, "wangfang", errors, online=True)
        contexts.append(ctx)
        ctx, widget = await visitor_chat(chromium, appliance, host_origin, errors)
        contexts.append(ctx)
        await answer_first_chat(a, widget)

        # ---- a note typed in note mode: colleagues only, no typing shown to the visitor ----
        await a.locator('[data-cb="note-mode"]').check()
        await expect(a.locator('[data-role="composer"]')).to_have_attribute("data-mode", "note")
        await a.locator('[data-cb="input"]').fill(NOTE)
        await widget.wait_for_timeout(700)  # a typing frame would have arrived by now
        await expect(widget.locator('[data-cb="typing"]')).to_be_hidden()
        await a.locator('[data-cb="input"]').press("Enter")
        note = a.locator(STAFF).filter(has_text=NOTE)
        await expect(note).to_have_count(1)
        await expect(note).to_have_attribute("data-event", "note")
        await expect(note.locator(".label")).to_have_text("备注")
        await a.locator('[data-cb="note-mode"]').uncheck()
        await expect(a.locator('[data-role="composer"]')).to_have_attribute("data-mode", "message")

        # ---- a warm transfer to an expert waits (none is online); A withdraws it ----
        await a.locator('[data-cb="transfer"]').click()
        dialog = a.locator('[data-cb="transfer-dialog"]')
        await dialog.locator('[data-cb="pick-expert"]').check()
        await dialog.locator('[data-cb="transfer-form-ok"]').click()
        pending = a.locator('[data-cb="transfer-pending"]')
        await expect(pending).to_contain_text("正在转接给专家")
        await expect(a.locator('[data-cb="transfer"]')).to_be_hidden()
        await expect(widget.locator('[data-event="transfer_requested"]')).to_contain_text(A_NAME)
        await a.locator('[data-cb="transfer-cancel"]').click()
        await expect(pending).to_be_hidden()
        cancelled = a.locator('[data-cb="message"][data-event="transfer_cancelled"]')
        await expect(cancelled).to_have_text(re.compile(f"^{A_NAME} 取消了转接"))

        # ---- B comes online only now, so the router gave the chat to A ----
        ctx, b = await console_for(chromium, appliance, "lijun", errors, online=True)
        contexts.append(ctx)
        await expect(b.locator(MINE)).to_have_count(0)

        # ---- A transfers to B with a note ----
        await a.locator('[data-cb="transfer"]').click()
        dialog = a.locator('[data-cb="transfer-dialog"]')
        await expect(dialog).to_be_visible()
        colleague = dialog.locator('[data-cb="colleague"]').filter(has_text=B_NAME)
        await expect(colleague).to_have_attribute("data-status", "online")
        await expect(colleague.locator(".load")).to_have_text("接待 0/5")
        await colleague.locator("input").check()
        await dialog.locator('[data-cb="transfer-note"]').fill(HANDOVER)
        await dialog.locator('[data-cb="transfer-form-ok"]').click()
        await expect(dialog).to_be_hidden()

        # The visitor is told B joined, and sees neither note, not even hidden.
        joined = widget.locator('[data-cb="message"][data-event="transferred"]')
        await expect(joined).to_have_count(1)
        await expect(joined).to_contain_text(B_NAME)
        await bodies_become(widget, [V1, A1])
        await assert_nowhere(widget, NOTE, HANDOVER)

        # B's console opens it by itself, with the history and both notes.
        mine_b = b.locator(MINE)
        await expect(mine_b).to_have_count(1)
        await expect(mine_b).to_have_class(re.compile(r"\bselected\b"))
        await bodies_become(b, [V1, A1, NOTE, HANDOVER])
        await expect(b.locator(f'{STAFF}[data-event="note"]')).to_have_count(2)
        await expect(b.locator(f'{STAFF}[data-event="transfer_cancelled"]')).to_have_count(1)
        await expect(b.locator(STAFF).filter(has_text=HANDOVER).locator(".who")).to_have_text(
            A_NAME
        )

        # A no longer has it as theirs: gone from the list, read-only, handed over.
        await expect(a.locator(MINE)).to_have_count(0)
        await expect(a.locator('[data-role="chat-sub"]')).to_have_text(f"已转交给 {B_NAME}，只读")
        await expect(a.locator('[data-cb="input"]')).to_be_disabled()
        await expect(a.locator('[data-cb="transfer"]')).to_be_hidden()

        # B answers; the visitor sees it; A's record stops at the hand-over.
        await send(b, B1)
        await bodies_become(widget, [V1, A1, B1])
        await bodies_become(b, [V1, A1, NOTE, HANDOVER, B1])
        await a.wait_for_timeout(300)
        await bodies_become(a, [V1, A1, NOTE, HANDOVER])
        await assert_nowhere(widget, NOTE, HANDOVER)

        await b.screenshot(path=ARTIFACTS / "console-transfer.png")

        # The transcript shows the notes to staff, marked apart.
        conv_id = await mine_b.get_attribute("data-id")
        page = await contexts[2].new_page()
        await page.goto(f"{appliance.origin}/console/history/{conv_id}")
        staff = page.locator(
            '[data-cb="transcript"] li[data-visibility="staff"][data-event="note"]'
        )
        await expect(staff).to_have_count(2)
        await expect(staff.first).to_contain_text(NOTE)
        await expect(staff.first.locator(".label")).to_have_text("备注")
        await expect(
            page.locator('[data-cb="transcript"] li[data-event="transferred"]')
        ).to_contain_text(B_NAME)
    finally:
        for ctx in contexts:
            await ctx.close()
    assert not errors, errors


async def test_conference_collision_and_supervisor(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "wangfang", A_NAME)
    await add_user(appliance, "zhaomin", C_NAME)
    await add_user(appliance, "chen", S_NAME, role="supervisor")
    await appliance.start()
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    try:
        ctx, a = await console_for(chromium, appliance, "wangfang", errors, online=True)
        contexts.append(ctx)
        ctx, widget = await visitor_chat(chromium, appliance, host_origin, errors)
        contexts.append(ctx)
        await answer_first_chat(a, widget)
        ctx, c = await console_for(chromium, appliance, "zhaomin", errors, online=True)
        contexts.append(ctx)
        # Agents have no live list and no supervisor links; everyone has the left messages.
        await expect(a.locator('[data-cb="live-list"]')).to_be_hidden()
        await expect(a.locator(f"{TOPBAR}[href='/console/board']")).to_have_count(0)
        await expect(a.locator(f"{TOPBAR}[href='/console/tickets?view=left']")).to_be_visible()

        # ---- A invites C: a conference ----
        await a.locator('[data-cb="invite"]').click()
        dialog = a.locator('[data-cb="invite-dialog"]')
        await (
            dialog.locator('[data-cb="colleague"]').filter(has_text=C_NAME).locator("input").check()
        )
        await dialog.locator('[data-cb="invite-form-ok"]').click()
        await expect(dialog).to_be_hidden()
        await expect(a.locator('[data-cb="participants"]')).to_have_text(
            f"参与：{A_NAME}（负责）、{C_NAME}"
        )
        await expect(widget.locator('[data-event="joined"]')).to_contain_text(C_NAME)
        guest = c.locator(MINE)
        await expect(guest).to_have_count(1)
        await expect(guest.locator(".badge.guest")).to_have_text("协助")
        await guest.click()
        await bodies_become(c, [V1, A1])
        # Collision: A sees C looking, then C writing a note.
        await expect(a.locator('[data-cb="collision"]')).to_contain_text(f"{C_NAME} 正在查看")
        await c.locator('[data-cb="note-mode"]').check()
        await c.locator('[data-cb="input"]').fill("草稿")
        await expect(a.locator('[data-cb="collision"]')).to_contain_text(f"{C_NAME} 正在写备注…")
        await c.locator('[data-cb="input"]').fill("")
        await c.locator('[data-cb="note-mode"]').uncheck()
        await send(c, C1)
        await bodies_become(widget, [V1, A1, C1])

        # ---- C leaves: read-only for C, gone from A's head ----
        await c.locator('[data-cb="leave"]').click()
        await expect(c.locator(MINE)).to_have_count(0)
        await expect(c.locator('[data-role="chat-sub"]')).to_have_text("您已离开此会话，只读")
        await expect(a.locator('[data-cb="participants"]')).to_have_text("")
        await expect(widget.locator('[data-event="left"]')).to_contain_text(C_NAME)

        # ---- a supervisor watches from the live list and whispers ----
        ctx, s = await console_for(chromium, appliance, "chen", errors, online=False)
        contexts.append(ctx)
        await expect(s.locator(f"{TOPBAR}[href='/console/board']")).to_be_visible()
        # The settings pages sit under one menu, so the bar stays one line at 1280 px:
        # the first link, the last link and the logout button share a top.
        tops = await s.evaluate(
            """() => ['header.topbar nav > a', 'header.topbar nav > :last-child',
                      '[data-cb="logout"]'].map((q) => Math.round(
                        [...document.querySelectorAll(q)].pop().getBoundingClientRect().top))"""
        )
        assert len(set(tops)) == 1, tops
        await expect(s.locator(f"{TOPBAR}[href='/console/routing']")).to_be_hidden()
        await s.locator('[data-cb="nav-settings"] summary').click()
        await expect(s.locator(f"{TOPBAR}[href='/console/routing']")).to_be_visible()
        await s.keyboard.press("Escape")
        await expect(s.locator(f"{TOPBAR}[href='/console/routing']")).to_be_hidden()
        live = s.locator('[data-cb="live-list"] [data-cb="conv"]')
        await expect(live).to_have_count(1)
        await live.click()
        await bodies_become(s, [V1, A1, C1])
        await expect(s.locator('[data-role="chat-sub"]')).to_have_text("只读查看")
        await expect(s.locator('[data-role="composer"]')).to_have_attribute("data-mode", "whisper")
        await send(s, WHISPER)
        whisper = a.locator(STAFF).filter(has_text=WHISPER)
        await expect(whisper).to_have_attribute("data-event", "whisper")
        await expect(whisper.locator(".label")).to_have_text("悄悄话")
        await expect(a.locator('[data-cb="collision"]')).to_contain_text(f"{S_NAME} 正在查看")

        # ---- and takes over, marks the visitor VIP, answers with a canned answer ----
        await s.locator('[data-cb="takeover"]').click()
        await expect(s.locator(MINE)).to_have_count(1)
        await expect(s.locator('[data-role="composer"]')).to_have_attribute("data-mode", "message")
        await expect(a.locator(MINE)).to_have_count(0)
        await expect(a.locator('[data-role="chat-sub"]')).to_have_text(f"已转交给 {S_NAME}，只读")
        await expect(
            widget.locator('[data-cb="message"][data-event="transferred"]')
        ).to_contain_text(S_NAME)
        await s.locator('[data-cb="tier"]').select_option("vip")
        await expect(s.locator('[data-cb="chat-badges"] .tier-vip')).to_have_text("VIP")

        await s.locator('[data-cb="canned-manage"]').click()
        manager = s.locator('[data-cb="canned-dialog"]')
        await manager.locator('[data-cb="canned-shortcut"]').fill("thanks")
        await manager.locator('[data-cb="canned-title"]').fill("致谢")
        await manager.locator('[data-cb="canned-body"]').fill(CANNED)
        await manager.locator('[data-cb="canned-shared"]').check()
        await manager.locator('[data-cb="canned-form-ok"]').click()
        added = manager.locator('[data-cb="canned-answer"][data-shortcut="thanks"]')
        await expect(added.locator(".badge")).to_have_text("团队共享")
        await manager.locator('[data-cb="dialog-close"]').click()
        box = s.locator('[data-cb="input"]')
        await box.press_sequentially("/th")
        picked = s.locator('[data-cb="canned-list"] [data-cb="canned-item"]')
        await expect(picked).to_have_count(1)
        await expect(picked).to_have_class(re.compile(r"\bactive\b"))
        await box.press("Enter")
        await expect(box).to_have_value(CANNED)
        await expect(s.locator('[data-cb="canned-list"]')).to_be_hidden()
        await box.press("Enter")
        await bodies_become(widget, [V1, A1, C1, CANNED])
        await assert_nowhere(widget, WHISPER, "草稿")
    finally:
        for ctx in contexts:
            await ctx.close()
    assert not errors, errors
