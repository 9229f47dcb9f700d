"""The ticket list's bulk actions in Debian's Chromium: a supervisor picks rows with the
keyboard (X) and with the page's box, assigns them to an agent, adds a tag and moves
them to waiting on the customer; the ticket the rules refuse is named with the reason,
stays picked, and the others change in the list."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, BrowserContext, expect

from tests.browser.conftest import Appliance
from tests.browser.test_tickets import API_JS, ROWS
from tests.browser.test_transfer import A_NAME, S_NAME, WAIT, add_user, console_for

pytestmark = pytest.mark.browser

GET_JS = "async (path) => (await fetch(path)).json()"


async def test_bulk_assign_tag_and_move(chromium: Browser, appliance: Appliance) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "wangfang", A_NAME)
    await add_user(appliance, "chen", S_NAME, role="supervisor")
    await appliance.start()
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    try:
        ctx, s = await console_for(chromium, appliance, "chen", errors, online=False)
        contexts.append(ctx)
        numbers = []
        for subject in ("宽带断线", "路由器重启", "发票抬头"):
            body = {"subject": subject, "channel": "phone"}
            made = await s.evaluate(API_JS, ["POST", "/api/console/tickets", body])
            numbers.append(made["ticket"]["number"])
        resolved = await s.evaluate(GET_JS, "/api/console/tickets?view=all")
        third = next(t for t in resolved["tickets"] if t["subject"] == "发票抬头")
        await s.evaluate(
            API_JS, ["POST", f"/api/console/tickets/{third['id']}/state", {"to": "resolved"}]
        )

        await s.goto(appliance.origin + "/console/tickets?view=all&sort=created_at%20ASC")
        rows = s.locator(ROWS)
        await expect(rows).to_have_count(3)
        bar = s.locator('[data-cb="bulk-bar"]')
        await expect(bar).to_be_hidden()
        # The keyboard: from the search box down to the first row, X picks it.
        await s.locator('[data-cb="ticket-q"]').focus()
        await s.keyboard.press("ArrowDown")
        await s.keyboard.press("x")
        await expect(bar).to_be_visible()
        await expect(s.locator('[data-cb="bulk-count"]')).to_have_text("已选 1 个工单")
        # The page's box picks the rest; the rows stay put (no page opens).
        await s.locator('[data-cb="bulk-all"]').check()
        await expect(s.locator('[data-cb="bulk-count"]')).to_have_text("已选 3 个工单")
        assert s.url.endswith("/console/tickets?view=all&sort=created_at+ASC")

        await s.locator('[data-cb="bulk-owner"]').select_option(label=A_NAME)
        await s.locator('[data-cb="bulk-state"]').select_option(label="等待客户")
        await s.locator('[data-cb="bulk-tags"]').fill("回访")
        await s.locator('[data-cb="bulk-apply"]').click()
        outcome = s.locator('[data-cb="bulk-outcome"]')
        await expect(outcome).to_have_text(
            f"已更改 2 个工单 1 个未更改：{numbers[2]} (当前状态不允许此操作)"
        )
        # The refused ticket stays picked for another try; the others changed.
        await expect(s.locator('[data-cb="bulk-count"]')).to_have_text("已选 1 个工单")
        await expect(rows.nth(0).locator('[data-f="owner"]')).to_have_text(A_NAME)
        await expect(rows.nth(1).locator('[data-f="state"]')).to_have_text("等待客户")
        await expect(rows.nth(2).locator('[data-f="pick"]')).to_be_checked()
        await expect(rows.nth(2).locator('[data-f="owner"]')).to_have_text("未分配")
        listing = await s.evaluate(GET_JS, "/api/console/tickets?view=pending")
        assert sorted(t["number"] for t in listing["tickets"]) == numbers[:2]
        assert all(t["tags"] == ["回访"] for t in listing["tickets"])
        await s.locator('[data-cb="bulk-clear"]').click()
        await expect(bar).to_be_hidden()
        await expect(s.locator('[data-f="pick"]:checked')).to_have_count(0)
    finally:
        for ctx in contexts:
            await ctx.close()
    assert not errors, errors
