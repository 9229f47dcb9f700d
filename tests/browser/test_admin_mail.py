"""The admin page's E-mail card, in Debian's Chromium: an administrator sets up the
SMTP server and a mailbox (dovecot on loopback), tests both, sees a wrong password
reported clearly, and a customer's mail show up under recent mail in."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from playwright.async_api import Browser, Page, expect

from appliance.core.store import mail as mail_store
from tests.conftest import PASSWORD, Running
from tests.mail_servers import PASSWORD as IMAP_PASSWORD
from tests.mail_servers import USER, Dovecot, SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

WAIT = 20_000  # ms, the longest any single wait may take


def cb(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-cb="{name}"]')


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


async def test_admin_sets_up_mail_and_sees_tests_and_traffic(
    chromium: Browser, running: Running, dovecot: Dovecot, smtp: SmtpServer
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

        smtp_form = cb(page, "ml-smtp")
        await smtp_form.locator('[name="host"]').fill("127.0.0.1")
        await smtp_form.locator('[name="port"]').fill(str(smtp.port))
        await smtp_form.locator('[name="security"]').select_option("none")
        await smtp_form.locator('[name="user"]').fill(smtp.user)
        await smtp_form.locator('[name="password"]').fill("wrong")
        await smtp_form.locator('[name="from_address"]').fill("help@example.com")
        await smtp_form.locator('button[type="submit"]').click()
        await expect(cb(page, "ml-smtp-result")).to_have_text("已保存")
        await expect(smtp_form.locator('[name="password"]')).to_have_attribute(
            "placeholder", "（已保存；输入新密码即可更改）"
        )
        await cb(page, "ml-smtp-test").click()
        await expect(cb(page, "ml-smtp-result")).to_contain_text("连接失败（auth_failed）")
        await smtp_form.locator('[name="password"]').fill(smtp.password)
        await smtp_form.locator('button[type="submit"]').click()
        await expect(cb(page, "ml-smtp-result")).to_have_text("已保存")
        await cb(page, "ml-smtp-test").click()
        await expect(cb(page, "ml-smtp-result")).to_contain_text("连接正常")

        # A bad port is refused by the server, with its code.
        add = cb(page, "ml-add")
        await add.locator('[name="name"]').fill("客服邮箱")
        await add.locator('[name="address"]').fill("help@example.com")
        await add.locator('[name="host"]').fill("127.0.0.1")
        await add.locator('[name="port"]').evaluate("e => e.removeAttribute('max')")
        await add.locator('[name="port"]').fill("70000")
        await add.locator('[name="security"]').select_option("none")
        await add.locator('[name="username"]').fill(USER)
        await add.locator('[name="password"]').fill(IMAP_PASSWORD)
        await add.locator('button[type="submit"]').click()
        await expect(cb(page, "ml-add-result")).to_contain_text("bad_port")
        await add.locator('[name="port"]').fill(str(dovecot.port))
        await add.locator('button[type="submit"]').click()
        await expect(cb(page, "ml-add-result")).to_have_text("已保存")
        row = cb(page, "ml-boxes").locator("tr", has_text="客服邮箱")
        await row.get_by_role("button", name="测试连接").click()
        await expect(cb(page, "ml-box-result")).to_contain_text("连接正常：INBOX")

        msg = EmailMessage()
        msg["From"] = "王小明 <wang@example.com>"
        msg["To"] = "help@example.com"
        msg["Subject"] = "<b>订单</b>没到"
        msg.set_content("请查一下")
        await asyncio.to_thread(dovecot.append, bytes(msg))
        for _ in range(200):  # the box imports it (IDLE wakes the watcher)
            if await running.box.db.read(lambda c: mail_store.recent(c, 5)):
                break
            await asyncio.sleep(0.05)
        await page.reload()
        await expect(row).to_contain_text("ok")  # the watcher's last outcome
        inbox = cb(page, "ml-inbox")
        await expect(inbox).to_contain_text("<b>订单</b>没到")  # text, never markup
        await expect(inbox.locator("b")).to_have_count(0)
        await expect(cb(page, "ml-outbox")).to_contain_text("wang@example.com")
        assert errors == []
    finally:
        await ctx.close()
