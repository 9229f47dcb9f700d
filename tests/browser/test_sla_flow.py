"""An SLA runs its course in Debian's Chromium, on a box whose timed pass runs every
second (CALLBOX_TICKET_PASS_SECONDS=1; business minutes cannot be shorter than one).

A supervisor sets a 1-minute first-response target (always open, warning at half)
with two levels at the deadline: tell the group's manager, then move the ticket to the
second line. An agent turns a visitor's chat into a ticket (转工单): its page counts
the target down, shows the warning, and the agent's bell rings with it; then the
breach. The supervisor, the group's manager, finds the breach in the bell, opens the
ticket from it, sees the breached clock and the ticket moved to the second line, and
gives it to another agent. The ticket's history holds the warning, the breach, the
escalation and the reassignment.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Appliance
from tests.browser.test_tickets import make_ticket_from_chat
from tests.browser.test_transfer import (
    A_NAME,
    ARTIFACTS,
    B_NAME,
    S_NAME,
    WAIT,
    add_user,
    answer_first_chat,
    console_for,
    visitor_chat,
)

# The minute of the target, and the set-up around it (a chat, a ticket, four pages).
pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

TARGET = 60_000  # ms: the first-response target, one business minute
# Longest wait for one SLA mark: half the target plus a pass, a page's reading and slack.
MARK_WAIT = TARGET // 2 + 15_000
CLOCK = '[data-cb="sla-clocks"] li[data-metric="first_response"]'
BELL = '[data-cb="bell"]'
HISTORY = '[data-cb="ticket-history"] [data-cb="history-entry"]'
# The console's API from the page, with its session and CSRF token (a GET sends no body).
API_JS = """async ([method, path, body]) => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const init = {method, headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token}};
  if (method !== 'GET') init.body = JSON.stringify(body);
  const r = await fetch(path, init);
  if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
  return r.json();
}"""


async def call(page: Page, method: str, path: str, body: Any = None) -> Any:
    """The console's API with the page's session and CSRF token."""
    return await page.evaluate(API_JS, [method, path, body])


async def set_up(s: Page) -> tuple[int, int]:
    """As the supervisor: manager of the default group, a second line, the SLA policy.
    Return the two groups' ids."""
    me = await call(s, "GET", "/api/console/me")
    groups = (await call(s, "GET", "/api/console/groups"))["groups"]
    first = next(g["id"] for g in groups if g["is_default"])
    await call(s, "PATCH", f"/api/console/groups/{first}", {"manager_id": me["user"]["id"]})
    second = (await call(s, "POST", "/api/console/groups", {"name": "二线"}))["group"]["id"]
    policy = {
        "name": "一分钟响应",
        "targets": {"first_response": TARGET // 60_000},
        "warn_share": 0.5,
        "levels": [
            {"metric": "first_response", "offset_minutes": 0, "action": "notify_manager"},
            {
                "metric": "first_response",
                "offset_minutes": 0,
                "action": "reassign_group",
                "group_id": second,
            },
        ],
    }
    await call(s, "POST", "/api/console/sla-policies", policy)
    return first, second


async def open_bell(page: Page) -> None:
    await page.locator(f'{BELL} [data-cb="bell-button"]').click()
    await expect(page.locator(f'{BELL} [data-cb="bell-panel"]')).to_be_visible()


async def test_warning_breach_escalation_and_reassignment(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    await add_user(appliance, "wangfang", A_NAME)
    await add_user(appliance, "lijun", B_NAME)
    await add_user(appliance, "chen", S_NAME, role="supervisor")
    appliance.env = {"CALLBOX_TICKET_PASS_SECONDS": "1"}
    await appliance.start()
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    try:
        ctx, s = await console_for(chromium, appliance, "chen", errors, online=False)
        contexts.append(ctx)
        _, second = await set_up(s)
        ctx, a = await console_for(chromium, appliance, "wangfang", errors, online=True)
        contexts.append(ctx)
        ctx, widget = await visitor_chat(chromium, appliance, host_origin, errors)
        contexts.append(ctx)
        await answer_first_chat(a, widget)
        # Nobody has been told anything yet.
        await expect(a.locator(f'{BELL} [data-cb="bell-count"]')).to_be_hidden()
        await expect(s.locator(f'{BELL} [data-cb="bell-count"]')).to_be_hidden()

        # ---- the agent makes a ticket of the chat: its first response is due in a minute ----
        t, number = await make_ticket_from_chat(a, errors)
        ticket_id = int(t.url.rsplit("/", 1)[1])
        await a.locator('[data-cb="ticket-dialog"] [data-cb="dialog-close"]').click()
        clock = t.locator(CLOCK)
        await expect(clock).to_have_attribute("data-state", "running")
        await expect(clock).to_contain_text(re.compile(r"^首次响应: 截止 .* · 剩余 0:[0-5]\d$"))
        # It counts down on the page between readings.
        first_text = await clock.text_content()
        await expect(clock).not_to_have_text(first_text or "")

        # ---- half the minute: the warning, on the page and in the agent's bell ----
        await expect(clock).to_have_attribute("data-state", "warned", timeout=MARK_WAIT)
        await expect(clock).to_have_attribute("data-tone", "warn")
        await expect(clock).to_contain_text("⚠ 即将超时")
        warned = t.locator(f'{HISTORY}[data-kind="sla"]').filter(has_text="即将超时")
        await expect(warned).to_have_count(1, timeout=MARK_WAIT)
        count = a.locator(f'{BELL} [data-cb="bell-count"]')  # the console: live, by socket
        await expect(count).to_have_text("1", timeout=MARK_WAIT)
        # The ticket's own page has no socket: its bell asks, here as soon as the page
        # sees the box record the warning.
        await expect(t.locator(f'{BELL} [data-cb="bell-count"]')).to_have_text("1")
        await open_bell(a)
        item = a.locator(f'{BELL} [data-cb="notice"]')
        await expect(item).to_have_count(1)
        await expect(item).to_have_attribute("data-kind", "sla_warning")
        await expect(item.locator('[data-cb="notice-text"]')).to_have_text("首次响应即将超时")
        await expect(item.locator('[data-cb="notice-ticket"]')).to_contain_text(number)
        await a.screenshot(path=ARTIFACTS / "notices-warning.png")
        await a.keyboard.press("Escape")

        # ---- the deadline: breached, escalated to the manager, moved to the second line ----
        await expect(clock).to_have_attribute("data-state", "breached", timeout=MARK_WAIT)
        await expect(clock).to_have_attribute("data-tone", "late")
        await expect(clock).to_contain_text(re.compile(r"✕ 已超时 · 超出 0:\d\d"))
        await expect(count).to_have_text("2", timeout=MARK_WAIT)  # the breach too
        bell = s.locator(f'{BELL} [data-cb="bell-count"]')
        await expect(bell).to_have_text("1", timeout=MARK_WAIT)
        await open_bell(s)
        told = s.locator(f'{BELL} [data-cb="notice"]')
        await expect(told).to_have_count(1)
        await expect(told).to_have_attribute("data-read", "0")
        await expect(told.locator('[data-cb="notice-text"]')).to_have_text(
            "SLA 升级：首次响应已超时"
        )
        await s.screenshot(path=ARTIFACTS / "notices-breach.png")

        # ---- the supervisor opens the ticket from the bell ----
        await told.locator('[data-cb="notice-link"]').click()
        await s.wait_for_url(re.compile(rf"/console/tickets/{ticket_id}$"))
        await expect(s.locator('[data-cb="ticket-number"]')).to_have_text(number)
        await expect(bell).to_be_hidden()  # read
        breached = s.locator(CLOCK)
        await expect(breached).to_have_attribute("data-state", "breached")
        await expect(breached).to_contain_text("已超时")
        await expect(s.locator('[data-cb="field-group"]')).to_have_value(str(second))
        await s.screenshot(path=ARTIFACTS / "ticket-sla-breached.png", full_page=True)
        owner = s.locator('[data-cb="field-owner"]')
        await expect(owner.locator("option:checked")).to_have_text(A_NAME)
        await owner.select_option(label=B_NAME)
        change = s.locator(f'{HISTORY}[data-kind="changed"] [data-field="owner_id"]')
        await expect(change).to_have_text(f"负责人：{A_NAME} → {B_NAME}")

        # ---- the history, as the API gives it ----
        detail = await call(s, "GET", f"/api/console/tickets/{ticket_id}")
        events = detail["history"]
        marks = [e["data"].get("change") for e in events if e["kind"] == "sla"]
        assert marks.count("warning") == 1 and marks.count("breach") == 1, marks
        levels = [e["data"]["action"] for e in events if e["data"].get("change") == "level"]
        assert levels == ["notify_manager", "reassign_group"]
        changes = [e for e in events if e["kind"] == "changed"]
        assert changes[-2]["data"] == {"group_id": second}
        assert changes[-1]["data"]["owner_id"] != changes[-2]["data"].get("owner_id")
        assert detail["ticket"]["group_id"] == second
        assert detail["ticket"]["owner_id"] == changes[-1]["data"]["owner_id"]
        order = [e["seq"] for e in events if e["kind"] in ("sla", "changed")]
        assert order == sorted(order)
    finally:
        for ctx in contexts:
            await ctx.close()
    assert not errors, errors
