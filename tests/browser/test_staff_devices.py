"""Staff devices on the admin page, in Debian's Chromium, against the relay's real
tunnel API on loopback: the administrator adds a device, sees its WireGuard profile
and QR code once, hides them, finds only the list after a reload, renews the device
and revokes it (after confirming); the relay has it no more."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import PASSWORD, Running
from tests.loopback_relay import LoopbackRelay

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20_000  # ms, the longest any single wait may take


def cb(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-cb="{name}"]')


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LoopbackRelay]:
    served = LoopbackRelay(tmp_path / "relay")
    await served.start()
    try:
        yield served
    finally:
        await served.close()


async def test_add_show_once_renew_and_revoke_a_device(
    chromium: Browser, running: Running, relay: LoopbackRelay
) -> None:
    expect.set_options(timeout=WAIT)
    relay.enrol_box(running.box.settings.data_dir)
    await running.box.accounts.create_user("root", PASSWORD, "admin")
    ctx = await chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
    ctx.set_default_timeout(WAIT)
    errors: list[str] = []
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(running.url("/login"))
        await page.locator('input[name="username"]').fill("root")
        await page.locator('input[name="password"]').fill(PASSWORD)
        await page.locator('[data-cb="login-form"] button[type="submit"]').click()
        await page.wait_for_url("**/console")
        await page.goto(running.url("/admin"))
        await expect(cb(page, "dev-profile")).to_be_hidden()

        # A name the server refuses: the error shows and nothing is added.
        await cb(page, "dev-name").fill("bad/name")
        await cb(page, "dev-name").evaluate("e => e.removeAttribute('pattern')")
        await cb(page, "dev-submit").click()
        await expect(cb(page, "dev-error")).to_contain_text("失败")
        assert relay.registry.staff() == []

        await cb(page, "dev-name").fill("li-laptop")
        await cb(page, "dev-owner").fill("<b>李雷</b>")
        await cb(page, "dev-days").fill("30")
        await cb(page, "dev-submit").click()
        await expect(cb(page, "dev-result")).to_have_text("已添加:li-laptop")
        await expect(cb(page, "dev-profile")).to_be_visible()
        config = await cb(page, "dev-config").text_content()
        assert config is not None and "PrivateKey = " in config
        assert "Address = 100.64.1.2/32" in config
        qr = cb(page, "dev-qr")
        assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml;base64,")
        assert await qr.evaluate("img => img.complete && img.naturalWidth > 0")
        href = await cb(page, "dev-download").get_attribute("href") or ""
        assert (
            href.startswith("data:text/plain")
            and await cb(page, "dev-download").get_attribute("download") == "li-laptop.conf"
        )
        row = page.locator('tr[data-device="li-laptop"]')
        await expect(row.locator("td").nth(2)).to_have_text("<b>李雷</b>")  # as text
        await expect(row.locator('[data-cb="dev-state"]')).to_have_text("有效")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "staff-device-added.png"), full_page=True)

        # Done: the profile leaves the page; a reload shows only the list.
        await cb(page, "dev-profile-done").click()
        await expect(cb(page, "dev-profile")).to_be_hidden()
        assert await cb(page, "dev-config").text_content() == ""
        await page.reload()
        await expect(cb(page, "dev-profile")).to_be_hidden()
        assert await cb(page, "dev-config").text_content() == ""
        assert "PrivateKey" not in await page.content()
        await expect(row.locator('[data-cb="dev-state"]')).to_have_text("有效")
        # The relay's handshake of the device shows in the list.
        assert relay.tenant is not None
        [at_relay] = relay.registry.staff(relay.tenant)
        relay.handshakes[at_relay.public_key] = 1_900_000_000
        await page.reload()
        await expect(row.locator('[data-cb="dev-handshake"]')).to_have_text(
            re.compile(r"^2030-03-1\d \d\d:\d\d$")
        )

        # Renew, then revoke after confirming.
        before = at_relay.expires_at
        await cb(page, "dev-days").fill("60")
        await row.locator('[data-cb="dev-renew"]').click()
        await expect(cb(page, "dev-result")).to_contain_text("已续期:li-laptop")
        assert (relay.registry.staff(relay.tenant)[0].expires_at or 0) > (before or 0)
        prompts: list[str] = []

        async def accept(dialog) -> None:  # type: ignore[no-untyped-def]
            prompts.append(dialog.message)
            await dialog.accept()

        page.on("dialog", accept)
        await row.locator('[data-cb="dev-revoke"]').click()
        await expect(row.locator('[data-cb="dev-state"]')).to_have_text("已吊销")
        await expect(row.locator('[data-cb="dev-revoke"]')).to_have_count(0)
        assert prompts and "li-laptop" in prompts[0]
        assert relay.registry.staff() == []
        await page.screenshot(path=str(ARTIFACTS / "staff-device-revoked.png"), full_page=True)
    finally:
        await ctx.close()
    assert not errors, errors
