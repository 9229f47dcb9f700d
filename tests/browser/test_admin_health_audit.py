"""The admin page's health and audit log cards, in Debian's Chromium.

The health card fills itself and refreshes (a warning logged after the page opened
shows up, scrubbed); an administrator's change appears in the audit log, the filters
narrow it, and the export link downloads a CSV with the byte-order mark and Chinese.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from appliance import __version__
from appliance.webui import health_views
from tests.conftest import PASSWORD, Running

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20_000  # ms, the longest any single wait may take


def cb(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-cb="{name}"]')


async def test_health_refreshes_and_the_audit_log_filters_and_exports(
    chromium: Browser, running: Running, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    expect.set_options(timeout=WAIT)
    monkeypatch.setattr(health_views, "REFRESH_MS", 500)
    await running.box.accounts.create_user("王芳", PASSWORD, "admin", display_name="王芳")
    errors: list[str] = []
    ctx = await chromium.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    ctx.set_default_timeout(WAIT)
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(running.url("/login"))
        await page.locator('input[name="username"]').fill("王芳")
        await page.locator('input[name="password"]').fill(PASSWORD)
        await page.locator('[data-cb="login-form"] button[type="submit"]').click()
        await page.wait_for_url("**/console")
        await page.goto(running.url("/admin"))

        # Health: filled at once, then again by itself.
        await expect(cb(page, "health-version")).to_have_text(__version__)
        await expect(cb(page, "health-status")).to_have_text("一切正常")
        await expect(cb(page, "health-disk")).to_contain_text("可用")
        await expect(cb(page, "health-tunnel")).to_have_text("本机尚未加入中继。")
        await expect(cb(page, "health-backup")).to_have_text("尚无备份")
        await expect(page.locator('[data-warning="disk_low"]')).to_be_hidden()
        secret = "tok_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
        logging.getLogger("appliance.relay.tunnel").warning("relay refused %s", secret)
        row = cb(page, "health-log").locator("tr", has_text="relay refused ‹str›")
        await expect(row).to_be_visible()
        await expect(row).to_contain_text("appliance.relay.tunnel")
        assert secret not in await cb(page, "health").inner_text()

        # An admin action, then the audit log shows it (newest first) with who and where.
        await cb(page, "page-view-days").fill("45")
        await cb(page, "privacy-submit").click()
        await expect(cb(page, "privacy-result")).to_have_text("已保存")
        await cb(page, "site-key").fill("shop")
        await cb(page, "site-name").fill("上海门店")
        await cb(page, "site-submit").click()
        await expect(cb(page, "sites-result")).to_contain_text("shop")
        await cb(page, "audit-apply").click()
        rows = cb(page, "audit-list").locator("tr")
        await expect(rows).to_have_count(2)
        await expect(rows.nth(0)).to_contain_text("site.create")
        await expect(rows.nth(0)).to_contain_text("上海门店")
        await expect(rows.nth(1)).to_contain_text("settings.privacy")
        await expect(rows.nth(1)).to_contain_text("page_view_days: [90,45]")
        await expect(rows.nth(1)).not_to_contain_text("honour_dnt")  # unchanged: not listed
        await expect(rows.nth(1)).to_contain_text("王芳")
        await expect(rows.nth(1)).to_contain_text("127.0.0.1")

        # Filters: the action family and the user come from what the log holds.
        await page.reload()
        await expect(cb(page, "audit-list").locator("tr")).to_have_count(2)
        await cb(page, "audit-action").select_option("settings.")
        await cb(page, "audit-user").select_option("王芳")
        await cb(page, "audit-apply").click()
        await expect(cb(page, "audit-list").locator("tr")).to_have_count(1)
        await expect(cb(page, "audit-export")).to_have_attribute(
            "href", re.compile(r"^/api/admin/audit\.csv\?action=settings\.&user=")
        )
        await cb(page, "audit-since").fill("2999-01-01")
        await cb(page, "audit-apply").click()
        await expect(cb(page, "audit-empty")).to_be_visible()
        await cb(page, "audit-since").fill("")
        await cb(page, "audit-action").select_option("")
        await cb(page, "audit-user").select_option("")
        await cb(page, "audit-apply").click()
        await expect(cb(page, "audit-list").locator("tr")).to_have_count(2)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "admin-health-audit.png"), full_page=True)

        # The export link downloads the CSV: BOM, Chinese headers and names intact.
        async with page.expect_download() as info:
            await cb(page, "audit-export").click()
        download = await info.value
        assert re.match(r"callbox-audit-\d{8}-\d{4}\.csv$", download.suggested_filename)
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
        raw = saved.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert table[0][:2] == ["时间", "用户"]
        assert [r[4] for r in table[1:]] == ["site.create", "settings.privacy"]
        assert table[1][1] == "王芳" and "上海门店" in table[1][6]
        assert errors == []
    finally:
        await ctx.close()
