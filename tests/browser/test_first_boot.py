"""First boot in Debian's Chromium, through to a chat: the real `appliance run` on an
empty data dir prints its one-time setup link; IT opens it, creates the administrator,
names the company, the public chat host name, the time zone and the language, tries a
relay token that is no token (a clear error in place), installs a certificate for the
host name, then goes to the console, logs in again after logging out, goes online,
and answers a visitor who writes from the widget on a company page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Appliance
from tests.testca import make_ca_and_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20_000  # ms, the longest any single wait may take
PASSWORD = "correct horse battery"
HOST = "chat.example.test"


def cb(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-cb="{name}"]')


async def test_first_boot_through_to_a_chat(
    chromium: Browser, appliance: Appliance, host_origin: str, tmp_path: Path
) -> None:
    expect.set_options(timeout=WAIT)
    await appliance.start()
    assert appliance.proc is not None
    printed = "".join(appliance.proc.output)
    link = re.search(r"http://\S+(/setup\?token=\S+)", printed)
    assert link, printed
    _, cert, key = make_ca_and_server(tmp_path / "pki", [HOST])

    ctx = await chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    visitor_ctx = await chromium.new_context(locale="zh-CN")
    for context in (ctx, visitor_ctx):
        context.set_default_timeout(WAIT)
    errors: list[str] = []
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(f"setup: {e}"))
        await page.goto(appliance.origin + link.group(1))

        # ---- step 1: the administrator (a mismatch first: the error, in place) ----
        await expect(page.locator(".setup-steps li").first).to_have_class("current")
        await page.locator('input[name="username"]').fill("it")
        await page.locator('input[name="display_name"]').fill("信息部")
        await page.locator('input[name="password"]').fill(PASSWORD)
        await page.locator('input[name="password2"]').fill(PASSWORD + "x")
        await cb(page, "admin-submit").click()
        await expect(cb(page, "admin-error")).to_have_text("两次输入的密码不一致")
        await page.locator('input[name="password"]').fill(PASSWORD)
        await page.locator('input[name="password2"]').fill(PASSWORD)
        await cb(page, "admin-submit").click()
        await page.wait_for_url("**/setup")
        await expect(cb(page, "admin-result")).to_have_text("管理员“it”已创建并登录。")
        await expect(page.locator(".setup-steps li").first).to_have_class("done")

        # ---- step 2: company, host name, zone, language ----
        await cb(page, "box-company").fill("示例科技")
        await cb(page, "box-host").fill("chat example")
        await cb(page, "box-submit").click()
        await expect(cb(page, "box-error")).to_contain_text("full host name")
        await cb(page, "box-host").fill(HOST)
        await cb(page, "box-zone").fill("Asia/Shanghai")
        await cb(page, "box-lang").select_option("zh-CN")
        await cb(page, "box-submit").click()
        await expect(cb(page, "box-result")).to_contain_text("已保存")
        await expect(cb(page, "box-error")).to_be_hidden()

        # ---- step 3: a relay token that is none: the error says so ----
        await cb(page, "relay-token").fill("not-a-token")
        await cb(page, "relay-submit").click()
        await expect(cb(page, "relay-error")).to_contain_text("not a Callbox enrolment token")
        await expect(cb(page, "relay-form")).to_be_visible()

        # ---- step 4: the certificate for the host name ----
        await cb(page, "cert-submit").click()
        await expect(cb(page, "cert-result")).to_have_text("请先选择证书及其私钥。")
        await cb(page, "cert-file").set_input_files(key)  # the wrong file: refused
        await cb(page, "key-file").set_input_files(key)
        await cb(page, "cert-submit").click()
        await expect(cb(page, "cert-error")).to_contain_text("cannot read")
        await cb(page, "cert-file").set_input_files(cert)
        await cb(page, "key-file").set_input_files(key)
        await cb(page, "cert-submit").click()
        await expect(cb(page, "cert-state")).to_contain_text(f"证书适用于 {HOST}")
        await expect(cb(page, "cert-error")).to_be_hidden()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "first-boot.png"), full_page=True)

        # ---- finished: the console; the link is spent; log out and back in ----
        await cb(page, "setup-finish").click()
        await page.wait_for_url("**/console")
        other = await visitor_ctx.new_page()
        response = await other.goto(appliance.origin + link.group(1))
        assert response is not None and response.status == 404
        await other.close()
        await cb(page, "logout").click()
        await page.wait_for_url("**/login")
        await page.locator('input[name="username"]').fill("it")
        await page.locator('input[name="password"]').fill(PASSWORD)
        await page.locator('[data-cb="login-form"] button[type="submit"]').click()
        await page.wait_for_url("**/console")
        root = cb(page, "console")
        await expect(root).to_have_attribute("data-conn", "online")
        await cb(page, "presence").select_option("online")
        await expect(root).to_have_attribute("data-status", "online")

        # ---- a visitor writes from the widget on a company page; the admin answers ----
        widget = await visitor_ctx.new_page()
        widget.on("pageerror", lambda e: errors.append(f"widget: {e}"))
        query = urlencode({"box": appliance.origin, "shadow": "open"})
        await widget.goto(f"{host_origin}/host_page.html?{query}")
        await cb(widget, "launcher").click()
        await cb(widget, "input").fill("你好，我想咨询一下")
        await cb(widget, "input").press("Enter")
        mine = page.locator('[data-cb="mine-list"] [data-cb="conv"]')
        await expect(mine).to_have_count(1)
        await mine.click()
        question = page.locator('[data-cb="message"][data-sender="visitor"] .body')
        await expect(question).to_have_text("你好，我想咨询一下")
        await cb(page, "input").fill("您好，请讲。")
        await cb(page, "input").press("Enter")
        answer = widget.locator('[data-cb="message"][data-sender="agent"] .body')
        await expect(answer).to_have_text("您好，请讲。")
        await expect(cb(widget, "status")).to_contain_text("信息部")
    finally:
        await visitor_ctx.close()
        await ctx.close()
    assert not errors, errors
