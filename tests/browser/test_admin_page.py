"""The admin page's IP table, privacy and sites cards, in Debian's Chromium.

An administrator imports an IP table through the file input (a bad file first: its
line number shows and the table stays), saves privacy settings (a value out of range
is refused by the server and shown), reveals a site secret, rotates it after
confirming, and adds a site; the page is in Chinese, then in English.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import PASSWORD, Running

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WAIT = 20_000  # ms, the longest any single wait may take


def cb(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-cb="{name}"]')


async def test_admin_imports_sets_privacy_and_rotates_a_secret(
    chromium: Browser, running: Running, tmp_path: Path
) -> None:
    expect.set_options(timeout=WAIT)
    await running.box.accounts.create_user("root", PASSWORD, "admin", display_name="管理员")
    errors: list[str] = []
    ctx = await chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(WAIT)
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(running.url("/login"))
        await page.locator('input[name="username"]').fill("root")
        await page.locator('input[name="password"]').fill(PASSWORD)
        await page.locator('[data-cb="login-form"] button[type="submit"]').click()
        await page.wait_for_url("**/console")
        await page.goto(running.url("/admin"))
        await expect(cb(page, "ip-imported")).to_have_text("尚未导入")
        await expect(cb(page, "ip-ranges")).to_have_text("0")

        # A bad file: the line shows, nothing changes.
        bad = tmp_path / "bad.txt"
        bad.write_text("1.0.0.0|1.0.0.255|澳大利亚|0|0|0|0\n1.0.1.0|oops|中国|0|0|0|0\n")
        await cb(page, "ip-file").set_input_files(bad)
        await cb(page, "ip-submit").click()
        await expect(cb(page, "ip-error")).to_contain_text("line 2:")
        await expect(cb(page, "ip-ranges")).to_have_text("0")

        await cb(page, "ip-file").set_input_files(FIXTURES / "ip2region_v2.txt")
        await cb(page, "ip-format-choice").select_option("ip2region")
        await cb(page, "ip-submit").click()
        await expect(cb(page, "ip-result")).to_have_text("已导入 5 个地址段")
        await expect(cb(page, "ip-error")).to_be_hidden()
        await expect(cb(page, "ip-ranges")).to_have_text("5")
        await expect(cb(page, "ip-format")).to_have_text("ip2region")
        await expect(cb(page, "ip-imported")).to_have_text(
            re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$")
        )
        assert running.box.iptable.lookup("1.0.1.1").label == "福建省"

        # Privacy: the server refuses a value out of range, then saves good ones.
        await cb(page, "honour-dnt").check()
        await cb(page, "page-view-days").fill("5000")
        await cb(page, "page-view-days").evaluate("e => e.removeAttribute('max')")
        await cb(page, "privacy-submit").click()
        await expect(cb(page, "privacy-error")).to_contain_text("between 1 and 3650")
        assert running.box.box_settings.honour_dnt is False
        await cb(page, "page-view-days").fill("30")
        await expect(cb(page, "portal-organisation")).not_to_be_checked()
        await cb(page, "portal-organisation").check()
        await cb(page, "privacy-submit").click()
        await expect(cb(page, "privacy-result")).to_have_text("已保存")
        await expect(cb(page, "privacy-error")).to_be_hidden()
        assert running.box.box_settings.honour_dnt is True
        assert running.box.box_settings.page_view_days == 30
        assert running.box.box_settings.portal_organisation is True

        # Sites: reveal, rotate (after confirming), add.
        default = page.locator('tr[data-site="default"]')
        secret = await running.box.sites.secret("default")
        await expect(default.locator('[data-cb="secret"]')).not_to_have_text(secret or "")
        await default.locator('[data-cb="reveal"]').click()
        await expect(default.locator('[data-cb="secret"]')).to_have_text(secret or "")
        await default.locator('[data-cb="reveal"]').click()
        await expect(default.locator('[data-cb="secret"]')).not_to_have_text(secret or "")
        messages: list[str] = []

        async def accept(dialog) -> None:  # type: ignore[no-untyped-def]
            messages.append(dialog.message)
            await dialog.accept()

        page.on("dialog", accept)
        await default.locator('[data-cb="rotate"]').click()
        await expect(cb(page, "sites-result")).to_contain_text("default")
        rotated = await running.box.sites.secret("default")
        assert rotated != secret
        await expect(default.locator('[data-cb="secret"]')).to_have_text(rotated or "")
        assert messages and "default" in messages[0]
        await expect(default.locator('[data-cb="embed"]')).to_contain_text(
            f'<script src="{running.url("/widget.js")}" async data-site="default"></script>'
        )

        await cb(page, "site-key").fill("shop")
        await cb(page, "site-name").fill("商城")
        await cb(page, "site-submit").click()
        shop = page.locator('tr[data-site="shop"]')
        await expect(cb(page, "sites-result")).to_contain_text("shop")
        await expect(shop.locator('[data-cb="secret"]')).to_have_text(
            await running.box.sites.secret("shop") or "missing"
        )
        await expect(shop.locator('[data-cb="embed"]')).to_contain_text('data-site="shop"')
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "admin.png"), full_page=True)

        # The same page in English, after a reload: what was saved is shown.
        await cb(page, "lang").click()
        await expect(cb(page, "ip-imported")).to_have_text(re.compile(r"^\d{4}-"))
        await expect(page.locator("h2", has_text="IP address table")).to_be_visible()
        await expect(cb(page, "honour-dnt")).to_be_checked()
        await expect(cb(page, "page-view-days")).to_have_value("30")
        await expect(cb(page, "portal-organisation")).to_be_checked()
        await expect(page.locator('tr[data-site="shop"]')).to_be_visible()
        assert errors == []
    finally:
        await ctx.close()
