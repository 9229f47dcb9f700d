"""An e-mail ticket's mails on its page, in Debian's Chromium: the HTML shown on demand
in a sandboxed frame (no script runs, remote images never load, the inline image
does), and the attachment offered as a download."""

from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, expect

from tests.conftest import PASSWORD, Running
from tests.file_samples import small_png
from tests.mail_servers import free_port, idle_mailbox

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

WAIT = 20_000  # ms


async def _pixel_server() -> tuple[web.AppRunner, str, list[str]]:
    """A 'remote' image host on loopback that records every request it gets."""
    hits: list[str] = []

    async def pixel(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=small_png(1, 1), content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", pixel)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}", hits


async def _mail_ticket(running: Running, remote: str) -> int:
    box = running.box
    row = await idle_mailbox(box)
    msg = EmailMessage()
    msg["From"] = "李雷 <li@example.com>"
    msg["Subject"] = "打印机卡纸"
    msg["Message-ID"] = "<html-view@example.com>"
    msg.set_content("见截图")
    msg.add_alternative(
        "<p id='hello'>您好，<b>打印机</b>又卡纸了。</p>"
        f"<img id='remote' src='{remote}/track.png' alt='logo'>"
        "<img id='inline' src='cid:shot@example.com' alt='截图'>"
        "<script>document.title='pwned'</script>"
        "<a href='https://example.com/help'>帮助</a>",
        subtype="html",
    )
    html = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html, EmailMessage)
    html.add_related(small_png(40, 30), "image", "png", cid="<shot@example.com>")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf",
                       filename="保修卡.pdf")  # fmt: skip
    outcome = await box.mail_in.import_message(row, 1, 1, bytes(msg))
    assert outcome.outcome == "opened" and outcome.ticket_id is not None
    return outcome.ticket_id


async def test_a_mail_reads_in_a_sandboxed_frame_with_its_files(
    chromium: Browser, running: Running
) -> None:
    expect.set_options(timeout=WAIT)
    runner, remote, hits = await _pixel_server()
    await running.box.accounts.create_user("root", PASSWORD, "admin", display_name="管理员")
    ticket_id = await _mail_ticket(running, remote)
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
        await page.goto(running.url(f"/console/tickets/{ticket_id}"))

        card = page.locator('[data-cb="ticket-mails"]')
        await expect(card).to_be_visible()
        mail = card.locator('[data-cb="mail"]')
        await expect(mail).to_have_count(1)
        await expect(mail.locator(".who")).to_have_text("li@example.com")
        files = mail.locator('[data-cb="mail-file"]')
        await expect(files).to_have_count(2)  # the attachment and the inline image
        pdf = files.filter(has_text="保修卡.pdf")
        await expect(pdf).to_have_attribute("download", "保修卡.pdf")
        async with page.expect_download() as download:
            await pdf.click()
        saved = await (await download.value).path()
        assert saved is not None
        assert await asyncio.to_thread(saved.read_bytes) == b"%PDF-1.4 fake"

        await expect(page.locator('[data-cb="mail-frame"]')).to_have_count(0)  # on demand
        await mail.locator('[data-cb="mail-html"] summary').click()
        frame_el = page.locator('[data-cb="mail-frame"]')
        await expect(frame_el).to_have_attribute(
            "sandbox", "allow-popups allow-popups-to-escape-sandbox"
        )
        await expect(mail.locator('[data-cb="mail-blocked"]')).to_have_text(
            "已阻止 1 张外部图片（保护隐私，不会加载）"
        )
        frame = page.frame_locator('[data-cb="mail-frame"]')
        # (the sanitiser keeps no id attributes: found by content)
        await expect(frame.locator("p").first).to_have_text("您好，打印机又卡纸了。")
        await expect(frame.locator("p b")).to_have_text("打印机")  # formatted
        inline = frame.locator("img[alt='截图']")
        await expect(inline).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
        width: Any = await inline.evaluate("i => i.complete && i.naturalWidth")
        assert width == 40
        await expect(frame.locator("img")).to_have_count(1)  # the remote one is gone
        await expect(frame.locator("body")).to_contain_text("[logo]")
        # The sanitiser took the script; the frame could not run one anyway.
        assert await page.title() != "pwned"
        await asyncio.sleep(0.5)
        assert hits == []  # the remote image was never asked for
        assert errors == []
    finally:
        await ctx.close()
        await runner.cleanup()
