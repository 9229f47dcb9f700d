"""The service desk's console pages in Debian's Chromium, the widget on a foreign page.

A visitor chats with an agent, who turns the chat into a ticket from the console; the
ticket page shows the transcript as a folded internal note and the linked chat; the
agent replies in public, adds a note and moves the ticket to waiting on the customer.
A supervisor finds it in the list's "等待客户" view with the keyboard, opens it and
assigns it to another agent, and reads the page again in English. A phone call's
ticket is made from a template (what the agent typed wins) and merged by number.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Appliance
from tests.browser.test_transfer import (
    A1,
    A_NAME,
    ARTIFACTS,
    B_NAME,
    S_NAME,
    TOPBAR,
    V1,
    WAIT,
    add_user,
    answer_first_chat,
    console_for,
    visitor_chat,
)

pytestmark = pytest.mark.browser

REPLY = "您好，已为您登记修改银行账号，请提供开户行名称。"
NOTE = "内部备注：需核实身份证后四位"
ROWS = '[data-cb="ticket-rows"] [data-cb="ticket-row"]'
HISTORY = '[data-cb="ticket-history"] [data-cb="history-entry"]'


def watch(page: Page, who: str, errors: list[str]) -> Page:
    """Collect the page's script errors; the test fails on any."""
    page.on("pageerror", lambda e: errors.append(f"{who}: {e}"))
    return page


async def make_ticket_from_chat(console: Page, errors: list[str]) -> tuple[Page, str]:
    """In the open chat: 转工单 with the visitor's first line as subject; open the ticket."""
    button = console.locator('[data-cb="make-ticket"]')
    await expect(button).to_have_text("转工单")
    await button.click()
    dialog = console.locator('[data-cb="ticket-dialog"]')
    await expect(dialog.locator("h2")).to_have_text("把会话转为工单")
    subject = dialog.locator('[data-cb="ticket-subject"]')
    await expect(subject).to_have_value(V1)
    await expect(subject).to_be_focused()
    await dialog.locator('[data-cb="ticket-type"]').select_option(label="投诉")
    await dialog.locator('[data-cb="ticket-priority"]').select_option(label="高")
    await dialog.locator('[data-cb="ticket-form-ok"]').click()
    made = dialog.locator('[data-cb="ticket-made"]')
    await expect(made).to_have_text(re.compile(r"^已创建工单 \d{8}-\d{4}$"))
    number = (await made.text_content() or "").split()[-1]
    link = dialog.locator('[data-cb="ticket-made-link"]')
    await console.screenshot(path=ARTIFACTS / "console-ticket-made.png")
    await expect(link).to_have_attribute("target", "_blank")
    async with console.context.expect_page() as opened:
        await link.click()
    ticket = watch(await opened.value, "ticket tab", errors)
    await ticket.wait_for_url(re.compile(r"/console/tickets/\d+$"))
    return ticket, number


async def test_chat_to_ticket_reply_pending_and_assign(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    await add_user(appliance, "wangfang", A_NAME)
    await add_user(appliance, "lijun", B_NAME)
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
        conv_id = await a.locator('[data-cb="mine-list"] [data-cb="conv"]').get_attribute("data-id")
        # Everyone has the tickets in the top bar.
        await expect(a.locator(f"{TOPBAR}[href='/console/tickets']")).to_have_text("工单")

        # ---- the agent makes a ticket of the chat and opens it ----
        t, number = await make_ticket_from_chat(a, errors)
        await expect(t.locator('[data-cb="ticket-number"]')).to_have_text(number)
        await expect(t.locator('[data-cb="ticket-subject"]')).to_have_text(V1)
        await expect(t.locator('[data-cb="field-channel"]')).to_have_text("在线对话")
        await expect(t.locator('[data-cb="ticket-state"]')).to_have_text("处理中")
        await expect(t.locator('[data-cb="field-priority"]')).to_have_value("high")
        await expect(t.locator('[data-cb="field-type"]')).to_have_value("投诉")
        await expect(t.locator('[data-cb="owner-name"]')).to_have_text(A_NAME)
        await expect(t.locator('[data-cb="assign-me"]')).to_be_hidden()
        # The moves are the API's: from open, waiting on the customer or resolved.
        moves = t.locator('[data-cb="move"]')
        await expect(moves).to_have_text(["等待客户回复", "标记已解决"])
        await expect(t.locator('[data-cb="merge"]')).to_be_visible()

        # The transcript is an internal note, folded; it holds the whole chat.
        transcript = t.locator('[data-cb="thread-entry"][data-transcript="1"]')
        await expect(transcript).to_have_attribute("data-kind", "note")
        await expect(transcript.locator(".label")).to_have_text("内部备注")
        fold = transcript.locator('[data-cb="transcript"]')
        await expect(fold.locator("summary")).to_have_text(re.compile(r"^会话记录（\d+ 行）$"))
        await expect(fold.locator(".text")).to_be_hidden()
        await fold.locator("summary").click()
        await expect(fold.locator(".text")).to_be_visible()
        await expect(fold.locator(".text")).to_contain_text(V1)
        await expect(fold.locator(".text")).to_contain_text(A1)
        # The linked chat leads to its transcript page.
        chat = t.locator('[data-cb="linked-chat"]')
        await expect(chat).to_have_count(1)
        await expect(chat).to_have_attribute("href", f"/console/history/{conv_id}")
        await expect(t.locator('[data-cb="requester-body"] strong')).to_have_text("未留姓名")

        # ---- a public reply (Ctrl+Enter), then an internal note ----
        body = t.locator('[data-cb="reply-body"]')
        await t.locator("h1").click()  # focus out of any field: R is the page's key
        await t.keyboard.press("r")
        await expect(body).to_be_focused()
        await expect(t.locator('[data-cb="reply-public"]')).to_be_checked()
        await body.fill(REPLY)
        await body.press("Control+Enter")
        reply = t.locator('[data-cb="thread-entry"][data-kind="reply"]')
        await expect(reply).to_have_count(1)
        await expect(reply.locator(".text")).to_have_text(REPLY)
        await expect(reply.locator(".label")).to_have_text("公开回复")
        await expect(reply.locator(".who")).to_have_text(A_NAME)
        await expect(body).to_have_value("")
        await t.locator('[data-cb="reply-note"]').check()
        await expect(t.locator('[data-cb="reply-form"]')).to_have_attribute("data-mode", "note")
        await body.fill(NOTE)
        await t.locator('[data-cb="reply-send"]').click()
        note = t.locator('[data-cb="thread-entry"][data-kind="note"]').filter(has_text=NOTE)
        await expect(note).to_have_count(1)
        await expect(note).to_have_class(re.compile(r"\bnote\b"))
        await expect(reply).to_have_class(re.compile(r"\breply\b"))

        # ---- waiting on the customer ----
        await moves.filter(has_text="等待客户回复").click()
        await expect(t.locator('[data-cb="ticket-state"]')).to_have_text("等待客户")
        await expect(moves).to_have_text(["设为处理中", "标记已解决"])
        newest = t.locator(HISTORY).first
        await expect(newest).to_have_attribute("data-kind", "state")
        await expect(newest).to_contain_text(f"{A_NAME} 将状态从「处理中」改为「等待客户」")
        await t.screenshot(path=ARTIFACTS / "ticket-page.png", full_page=True)

        # ---- a supervisor finds it in the "waiting on the customer" view ----
        ctx, s = await console_for(chromium, appliance, "chen", errors, online=False)
        contexts.append(ctx)
        await s.locator(f"{TOPBAR}[href='/console/tickets']").click()
        await s.wait_for_url("**/console/tickets?view=open")
        pending_tab = s.locator('[data-cb="ticket-views"] [data-view="pending"]')
        await expect(pending_tab).to_have_text("等待客户")
        await pending_tab.click()
        await expect(pending_tab).to_have_attribute("aria-selected", "true")
        await s.wait_for_url("**/console/tickets?view=pending")
        row = s.locator(ROWS)
        await expect(row).to_have_count(1)
        await expect(s.locator('[data-cb="tickets-total"]')).to_have_text("共 1 个工单")
        await expect(row.locator('[data-f="number"]')).to_have_text(number)
        await expect(row.locator('[data-f="subject"]')).to_have_text(V1)
        await expect(row.locator('[data-f="state"]')).to_have_text("等待客户")
        await expect(row.locator('[data-f="priority"]')).to_have_text("高")
        await expect(row.locator('[data-f="type"]')).to_have_text("投诉")
        await expect(row.locator('[data-f="owner"]')).to_have_text(A_NAME)
        await expect(row.locator('[data-f="requester"]')).to_have_text("未留姓名")
        await expect(row.locator('[data-f="updated"]')).to_have_text(
            re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")
        )
        await s.screenshot(path=ARTIFACTS / "ticket-list.png")
        # The keyboard: / searches, ArrowDown reaches the row, Enter opens it.
        await s.locator("h1").click()
        await s.keyboard.press("/")
        search = s.locator('[data-cb="ticket-q"]')
        await expect(search).to_be_focused()
        await search.press_sequentially("不存在的主题")
        await expect(s.locator('[data-cb="tickets-empty"]')).to_be_visible()
        await search.fill(number)
        await search.press("Enter")
        await expect(row).to_have_count(1)
        await search.press("ArrowDown")
        await expect(row.locator('[data-f="number"]')).to_be_focused()
        await s.keyboard.press("Enter")
        await s.wait_for_url(re.compile(r"/console/tickets/\d+$"))

        # ---- and assigns it to another agent ----
        owner = s.locator('[data-cb="field-owner"]')
        await expect(owner).to_be_visible()
        await expect(owner.locator("option:checked")).to_have_text(A_NAME)
        await owner.select_option(label=B_NAME)
        change = s.locator(f'{HISTORY}[data-kind="changed"] [data-field="owner_id"]')
        await expect(change).to_have_text(f"负责人：{A_NAME} → {B_NAME}")
        await expect(s.locator(HISTORY).first).to_contain_text(S_NAME)
        await expect(s.locator('[data-cb="fields-saved"]')).to_have_text("已保存")

        # ---- the same page in English ----
        await s.locator('header.topbar [data-cb="lang"]').click()
        await s.wait_for_url(re.compile(r"/console/tickets/\d+$"))
        await expect(s.locator("html")).to_have_attribute("lang", "en")
        await expect(s.locator('[data-cb="ticket-state"]')).to_have_text("Waiting on customer")
        await expect(s.locator('[data-cb="move"]')).to_have_text(["Set open", "Mark resolved"])
        await expect(change).to_have_text(f"Owner: {A_NAME} → {B_NAME}")
        await expect(s.locator('[data-cb="reply-send"]')).to_have_text("Send")
        await expect(s.locator('[data-cb="ticket-thread"] .label').first).to_have_text(
            "Internal note"
        )
        await expect(s.locator(f"{TOPBAR}[href='/console/tickets']")).to_have_text("Tickets")
    finally:
        for ctx in contexts:
            await ctx.close()
    assert not errors, errors


TEMPLATE = {
    "name": "宽带报修",
    "subject": "宽带报修",
    "description": "请记录：宽带账号、故障现象、上门时间。",
    "type": "报修",
    "priority": "urgent",
    "tags": ["宽带"],
}
CALL_SUBJECT = "家里宽带无法上网"
# Markup typed by an agent (or a customer, later) is text on every page.
SECOND_CALL = '宽带又断了 <img src=x onerror="window.__xss=1">'
PHONE = "13800138000"
# The console's own API client is not on the page's window; a supervisor's set-up call
# goes through fetch with the page's CSRF token, as the console's scripts send it.
API_JS = """async ([method, path, body]) => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const r = await fetch(path, {method, body: JSON.stringify(body),
    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token}});
  if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
  return r.json();
}"""


async def new_phone_ticket(page: Page, subject: str, *, template: bool) -> str:
    """From the list, press N and fill the form for a call; return the new ticket's number."""
    await page.locator("h1").click()
    await page.keyboard.press("n")
    dialog = page.locator('[data-cb="new-ticket-dialog"]')
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("h2")).to_have_text("来电开单")
    await page.locator('[data-cb="nt-subject"]').fill(subject)
    if template:
        # The template fills what the agent has not typed; the typed subject stays.
        await page.locator('[data-cb="nt-template"]').select_option(label=TEMPLATE["name"])
        await expect(page.locator('[data-cb="nt-subject"]')).to_have_value(subject)
        await expect(page.locator('[data-cb="nt-description"]')).to_have_value(
            str(TEMPLATE["description"])
        )
        await expect(page.locator('[data-cb="nt-type"]')).to_have_value("报修")
        await expect(page.locator('[data-cb="nt-priority"]')).to_have_value("urgent")
        await expect(page.locator('[data-cb="nt-tags"]')).to_have_value("宽带")
        # Set back to normal by the agent, the priority stays normal.
        await page.locator('[data-cb="nt-priority"]').select_option(label="普通")
    await page.locator('[data-cb="nt-name"]').fill("张伟")
    await page.locator('[data-cb="nt-phone"]').fill(PHONE)
    await page.locator('[data-cb="nt-create"]').click()
    await page.wait_for_url(re.compile(r"/console/tickets/\d+$"))
    number = page.locator('[data-cb="ticket-number"]')
    await expect(number).to_have_text(re.compile(r"^\d{8}-\d{4}$"))
    await expect(page.locator('[data-cb="ticket-subject"]')).to_have_text(subject)
    return await number.text_content() or ""


async def test_phone_ticket_from_a_template_then_merged(
    chromium: Browser, appliance: Appliance
) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "wangfang", A_NAME)
    await add_user(appliance, "chen", S_NAME, role="supervisor")
    await appliance.start()
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    try:
        ctx, s = await console_for(chromium, appliance, "chen", errors, online=False)
        contexts.append(ctx)
        await s.evaluate(API_JS, ["POST", "/api/console/ticket-templates", TEMPLATE])
        sla = {"name": "全部", "targets": {"first_response": 60, "resolution": 480}}
        await s.evaluate(API_JS, ["POST", "/api/console/sla-policies", sla])
        ctx, a = await console_for(chromium, appliance, "wangfang", errors, online=False)
        contexts.append(ctx)
        await a.goto(appliance.origin + "/console/tickets")
        await expect(a.locator('[data-cb="ticket-views"] [aria-selected="true"]')).to_have_text(
            "我的"
        )
        await expect(a.locator('[data-cb="tickets-empty"]')).to_be_visible()

        # ---- a call: the form from a template, the agent's input over it ----
        first = await new_phone_ticket(a, CALL_SUBJECT, template=True)
        first_url = a.url
        await expect(a.locator('[data-cb="ticket-state"]')).to_have_text("新建")
        await expect(a.locator('[data-cb="field-priority"]')).to_have_value("normal")
        await expect(a.locator('[data-cb="field-type"]')).to_have_value("报修")
        await expect(a.locator('[data-cb="field-tags"]')).to_have_value("宽带")
        await expect(a.locator('[data-cb="ticket-description"]')).to_have_text(
            str(TEMPLATE["description"])
        )
        await expect(a.locator('[data-cb="requester-body"] strong')).to_have_text("张伟")
        await expect(a.locator('[data-cb="requester-phone"]')).to_contain_text(PHONE)
        await expect(a.locator('[data-cb="thread-empty"]')).to_be_visible()
        await expect(a.locator('[data-cb="owner-name"]')).to_have_text("未分配")
        # Every SLA target of the ticket, each with its deadline (not only the nearest).
        clocks = a.locator('[data-cb="sla-clocks"] li')
        await expect(clocks).to_have_count(2)
        await expect(clocks.nth(0)).to_contain_text("首次响应: 截止 ")
        await expect(
            a.locator('[data-cb="sla-clocks"] li[data-metric="resolution"]')
        ).to_contain_text("解决: 截止 ")

        # The agent takes it (the box opens it) and sets a due time, box-local.
        await a.locator('[data-cb="assign-me"]').click()
        await expect(a.locator('[data-cb="owner-name"]')).to_have_text(A_NAME)
        await expect(a.locator('[data-cb="ticket-state"]')).to_have_text("处理中")
        await expect(a.locator('[data-cb="assign-me"]')).to_be_hidden()
        owner = a.locator(f'{HISTORY}[data-kind="changed"] [data-field="owner_id"]')
        await expect(owner).to_have_text(f"负责人：未分配 → {A_NAME}")
        await a.locator('[data-cb="field-due"]').fill("2030-01-02T09:00")
        await a.locator('[data-cb="field-due"]').press("Enter")
        due = a.locator(f'{HISTORY}[data-kind="changed"] [data-field="due_at"]')
        await expect(due).to_have_text("截止时间：无 → 2030-01-02 09:00")
        await expect(a.locator('[data-cb="field-due"]')).to_have_value("2030-01-02T09:00")

        # ---- the same customer calls again; the new ticket is merged into the first ----
        await a.goto(appliance.origin + "/console/tickets?view=all")
        second = await new_phone_ticket(a, SECOND_CALL, template=False)
        await expect(a.locator('[data-cb="field-type"]')).to_have_value("")
        assert await a.evaluate(
            "() => window.__xss === undefined && !document.querySelector('main img')"
        )
        await a.locator('[data-cb="merge-number"]').fill(first)
        await a.locator('[data-cb="merge-find"]').click()
        await expect(a.locator('[data-cb="merge-target"]')).to_have_text(
            f"合并到工单 {first}「{CALL_SUBJECT}」？"
        )
        await a.locator('[data-cb="merge-go"]').click()
        await expect(a.locator('[data-cb="ticket-state"]')).to_have_text("已合并")
        await expect(a.locator('[data-cb="move"]')).to_have_count(0)
        await expect(a.locator('[data-cb="reply-body"]')).to_be_disabled()
        await expect(a.locator('[data-cb="field-priority"]')).to_be_disabled()
        await expect(a.locator('[data-cb="merge"]')).to_be_hidden()
        await a.locator('[data-cb="merged-into"]').click()
        await a.wait_for_url(first_url)
        merged_note = a.locator('[data-cb="thread-entry"][data-kind="note"]')
        await expect(merged_note).to_have_text(re.compile(f"工单 {second} 已合并到此工单"))

        # ---- the list: filters, and the row opens with a click ----
        await a.goto(appliance.origin + "/console/tickets?view=all")
        rows = a.locator(ROWS)
        await expect(rows).to_have_count(2)
        await expect(a.locator('[data-cb="tickets-total"]')).to_have_text("共 2 个工单")
        await expect(rows.filter(has_text=second).locator('[data-f="subject"]')).to_have_text(
            SECOND_CALL
        )
        assert await a.evaluate(
            "() => window.__xss === undefined && !document.querySelector('main img')"
        )
        await a.locator('[data-cb="ticket-type"]').select_option(label="报修")
        await expect(rows).to_have_count(1)
        await expect(rows.locator('[data-f="requester"]')).to_have_text("张伟")
        await expect(rows.locator('[data-f="due"]')).to_have_text("2030-01-02 09:00")
        await a.locator('[data-cb="ticket-priority"]').select_option(label="紧急")
        await expect(a.locator('[data-cb="tickets-empty"]')).to_be_visible()
        await a.wait_for_url(re.compile(r"view=all&priority=urgent&type="))
        await a.locator('[data-cb="ticket-priority"]').select_option(value="")
        await expect(rows).to_have_count(1)
        await rows.locator('[data-f="subject"]').click()
        await a.wait_for_url(first_url)
        await a.screenshot(path=ARTIFACTS / "ticket-phone.png", full_page=True)
    finally:
        for ctx in contexts:
            await ctx.close()
    assert not errors, errors
