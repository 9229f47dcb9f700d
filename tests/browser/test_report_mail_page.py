"""Scheduled mail on the reports page in Debian's Chromium: a supervisor adds a
subscription (its name shown as text, never HTML), sees it listed, turns it off, and
edits it; a bad address is refused with the form kept."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import Appliance
from tests.browser.test_transfer import S_NAME, add_user, console_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

HOSTILE = "<img src=x onerror=alert(1)>周报"


async def test_a_supervisor_schedules_a_report(chromium: Browser, appliance: Appliance) -> None:
    await add_user(appliance, "chen", S_NAME, role="supervisor")
    await appliance.start()
    errors: list[str] = []
    ctx, page = await console_for(chromium, appliance, "chen", errors, online=False)
    await page.goto(appliance.origin + "/console/reports")
    section = page.locator('[data-cb="rep-mail"]')
    await expect(section.locator("h2")).to_have_text("定时发送")
    rows = section.locator('[data-cb="rm-rows"] tr')
    await expect(rows).to_have_text(["还没有定时报表。"])
    await expect(section.locator('[data-cb="rm-no-mail"]')).to_be_visible()

    form = section.locator('[data-cb="rm-form"]')
    await form.locator('input[name="name"]').fill(HOSTILE)
    await form.locator('textarea[name="recipients"]').fill("boss@example.com\nnot-an-address")
    await form.locator('select[name="frequency"]').select_option("weekly")
    await form.locator('input[name="hour"]').fill("9")
    await form.locator('select[name="period"]').select_option("d")
    await form.locator('select[name="dim"]').select_option("agent")
    await section.locator('[data-cb="rm-submit"]').click()
    await expect(section.locator('[data-cb="rm-error"]')).to_contain_text("bad_address")
    await expect(rows).to_have_text(["还没有定时报表。"])

    await form.locator('textarea[name="recipients"]').fill("boss@example.com, ops@example.com")
    await section.locator('[data-cb="rm-submit"]').click()
    await expect(rows).to_have_count(1)
    cells = rows.first.locator("td")
    await expect(cells.nth(0)).to_have_text(HOSTILE)  # as text: no image was made
    assert await section.locator("img").count() == 0
    await expect(cells.nth(1)).to_have_text("boss@example.com, ops@example.com")
    await expect(cells.nth(2)).to_have_text("每周一 09:00")
    await expect(cells.nth(4)).to_have_text("尚未发送")
    await expect(section.locator('[data-cb="rm-error"]')).to_be_hidden()

    await rows.first.locator('[data-cb="rm-toggle"]').click()
    await expect(cells.nth(4)).to_have_text("已停用")
    await rows.first.locator('[data-cb="rm-edit"]').click()
    await expect(form.locator('input[name="name"]')).to_have_value(HOSTILE)
    await form.locator('input[name="name"]').fill("周报")
    await form.locator('input[name="enabled"]').check()
    await section.locator('[data-cb="rm-submit"]').click()
    await expect(cells.nth(0)).to_have_text("周报")
    await expect(cells.nth(4)).to_have_text("尚未发送")

    # Send now without outgoing mail: nothing is queued, and the page says so.
    await rows.first.locator('[data-cb="rm-send"]').click()
    await expect(section.locator('[data-cb="rm-status"]')).to_have_text(
        "未发送：尚未设置发信服务器。"
    )
    assert errors == []
    await ctx.close()
