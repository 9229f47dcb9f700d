"""Two-factor login in Debian's Chromium: a user enrols from their account page (the
test reads the key off the page and computes codes with pyotp, as a phone would), logs
out, logs in with password and code, then with a recovery code, which the next time
is refused; an admin resets their two-factor login from the admin page, and the
password alone gets them in again."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from tests.conftest import PASSWORD, Running

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

WAIT = 20_000  # ms, the longest any single wait may take


def cb(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-cb="{name}"]')


async def log_in(page: Page, running: Running, username: str) -> None:
    await page.goto(running.url("/login"))
    await page.locator('input[name="username"]').fill(username)
    await page.locator('input[name="password"]').fill(PASSWORD)
    await page.locator('[data-cb="login-form"] button[type="submit"]').click()


async def code_step(page: Page, code: str) -> None:
    await expect(cb(page, "login-step")).to_have_attribute("data-stage", "code")
    await cb(page, "login-code").fill(code)
    await cb(page, "login-step").locator('button[type="submit"]').click()


async def log_out(page: Page) -> None:
    await cb(page, "logout").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.locator('[data-cb="login-form"]')).to_be_visible()


async def test_enrol_log_in_with_a_code_and_a_recovery_code_then_an_admin_reset(
    chromium: Browser, running: Running
) -> None:
    expect.set_options(timeout=WAIT)
    await running.box.accounts.create_user("root", PASSWORD, "admin", display_name="管理员")
    await running.box.accounts.create_user("lina", PASSWORD, "agent", display_name="李娜")
    errors: list[str] = []
    ctx = await chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(WAIT)
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))

        # ---- enrol from the account page, reached from the top bar ----
        await log_in(page, running, "lina")
        await expect(page).to_have_url(re.compile(r"/console$"))
        await cb(page, "account").click()
        await page.wait_for_url("**/console/account")
        await expect(cb(page, "tf-state")).to_have_text("两步验证未开启。")
        await cb(page, "tf-start").click()
        await expect(cb(page, "tf-qr")).to_have_attribute(
            "src", re.compile(r"^data:image/svg\+xml")
        )
        secret = (await cb(page, "tf-secret").inner_text()).replace(" ", "")
        assert len(secret) == 32
        totp = pyotp.TOTP(secret)
        await cb(page, "tf-confirm-code").fill("000000" if totp.now() != "000000" else "111111")
        await cb(page, "tf-confirm").click()
        await expect(cb(page, "tf-error")).to_contain_text("验证码不正确")
        await cb(page, "tf-confirm-code").fill(totp.now())
        await cb(page, "tf-confirm").click()
        codes_list = cb(page, "recovery-codes").locator("li")
        await expect(codes_list).to_have_count(10)
        codes = [c.strip() for c in await codes_list.all_inner_texts()]
        assert len(set(codes)) == 10
        await cb(page, "tf-codes-saved").click()
        await expect(cb(page, "recovery-codes").locator("li")).to_have_count(0)  # gone
        await expect(cb(page, "tf-state")).to_contain_text("两步验证已开启")
        await expect(cb(page, "tf-state")).to_contain_text("10")
        assert await running.box.two_factor.is_on((await running.box.user_admin.named("lina")).id)
        await log_out(page)

        # ---- password, then the authenticator's code ----
        await log_in(page, running, "lina")
        # The enrolling code's step is spent: the next step's code (within the drift).
        await code_step(page, totp.at(int(time.time()) + 30))
        await expect(page).to_have_url(re.compile(r"/console$"))
        await log_out(page)

        # ---- password, then a recovery code: once ----
        await log_in(page, running, "lina")
        await code_step(page, codes[0])
        await expect(page).to_have_url(re.compile(r"/console$"))
        await log_out(page)
        await log_in(page, running, "lina")
        await code_step(page, codes[0])
        await expect(cb(page, "login-error")).to_be_visible()
        await expect(cb(page, "login-step")).to_have_attribute("data-stage", "code")
        assert "/console" not in page.url

        # ---- the admin resets her two-factor login from the admin page ----
        admin_ctx = await chromium.new_context(
            locale="zh-CN", viewport={"width": 1280, "height": 900}
        )
        admin_ctx.set_default_timeout(WAIT)
        try:
            admin = await admin_ctx.new_page()
            admin.on("pageerror", lambda e: errors.append(str(e)))
            await log_in(admin, running, "root")
            await admin.wait_for_url("**/console")
            await admin.goto(running.url("/admin"))
            row = admin.locator('tr[data-username="lina"]')
            await expect(row.locator('[data-cb="two-factor"]')).to_have_text("已开启")
            asked: list[str] = []

            async def accept(dialog: Dialog) -> None:
                asked.append(dialog.message)
                await dialog.accept()

            admin.on("dialog", accept)
            await row.locator('[data-cb="reset-two-factor"]').click()
            await expect(row.locator('[data-cb="two-factor"]')).to_have_text("未开启")
            await expect(row.locator('[data-cb="reset-two-factor"]')).to_have_count(0)
            assert asked and "lina" in asked[0]
        finally:
            await admin_ctx.close()

        # ---- the password alone gets her in again ----
        await log_in(page, running, "lina")
        await expect(page).to_have_url(re.compile(r"/console$"))
        assert not errors, errors
    finally:
        await ctx.close()
