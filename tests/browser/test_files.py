"""Pictures, files and emoji in Debian's Chromium: the widget on a foreign host page and
the agent console, against a real appliance process.

A visitor sends a photo (with a GPS position in its EXIF) and a PDF; a page named
photo.png is refused as a type lie; the stored photo has no GPS any more; the agent
sees the thumbnail and opens the viewer; a stranger's request for the file gets 404; an
upload cut by the box going away fails clearly, leaves nothing, and goes through on
retry; the agent pastes a picture the visitor then sees; both emoji pickers insert an
emoji, and load only when first opened.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from PIL import ExifTags, Image
from playwright.async_api import Browser, Page, expect

from tests import file_samples as samples
from tests.browser.conftest import Appliance
from tests.conftest import Running
from tests.system.processes import cli

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20_000  # ms, the longest any single wait may take
USERNAME = "lina"
PASSWORD = "correct horse battery"
MESSAGES = '[data-cb="message"]'


def _kept(data_dir: Path) -> list[Path]:
    folder = data_dir / "uploads"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def _login(page: Page, origin: str) -> None:
    await page.goto(origin + "/login")
    await page.locator('input[name="username"]').fill(USERNAME)
    await page.locator('input[name="password"]').fill(PASSWORD)
    await page.locator('[data-cb="login-form"] button[type="submit"]').click()
    await page.wait_for_url("**/console")
    await expect(page.locator('[data-cb="console"]')).to_have_attribute("data-conn", "online")
    await page.locator('[data-cb="presence"]').select_option("online")


async def _token(page: Page) -> str:
    return str(
        await page.evaluate("() => JSON.parse(localStorage.getItem('callbox.visitor')).token")
    )


async def _status_of(page: Page, box: str, path: str, token: str) -> int:
    """Fetch a box URL from the page with a visitor token; return the HTTP status."""
    return int(
        await page.evaluate(
            """([url, token]) => fetch(url, {headers: {Authorization: 'Bearer ' + token}})
                .then(r => r.status)""",
            [box + path, token],
        )
    )


async def test_pictures_files_and_emoji_both_ways(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    added = await asyncio.to_thread(
        cli,
        appliance.data_dir,
        "user",
        "add",
        USERNAME,
        "--role",
        "agent",
        "--display-name",
        "李娜",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stdout + added.stderr
    await appliance.start()
    desktop = {"width": 1280, "height": 800}
    agent_ctx = await chromium.new_context(locale="zh-CN", viewport=desktop)
    visitor_ctx = await chromium.new_context(locale="zh-CN", viewport=desktop)
    stranger_ctx = await chromium.new_context(locale="zh-CN", viewport=desktop)
    errors: list[str] = []
    asked: list[str] = []
    try:
        console = await agent_ctx.new_page()
        console.on("pageerror", lambda e: errors.append(f"console: {e}"))
        console.on("request", lambda r: asked.append(r.url))
        await _login(console, appliance.origin)

        widget = await visitor_ctx.new_page()
        widget.on("pageerror", lambda e: errors.append(f"widget: {e}"))
        widget.on("request", lambda r: asked.append(r.url))
        query = urlencode({"box": appliance.origin, "shadow": "open"})
        await widget.goto(f"{host_origin}/host_page.html?{query}")
        await widget.locator('[data-cb="launcher"]').click()
        await widget.locator('[data-cb="input"]').fill("你好，铭牌照片如下")
        await widget.locator('[data-cb="input"]').press("Enter")
        mine = console.locator('[data-cb="mine-list"] [data-cb="conv"]')
        await expect(mine).to_have_count(1)
        await mine.click()
        # Nothing of the file machinery was loaded for a page view that did not need it.
        assert not [
            u for u in asked if re.search(r"(widget-files|emoji-picker|image-viewer)\.js", u)
        ]

        # ---- the visitor sends a photo and a PDF, and a page that calls itself a PNG ----
        file_input = widget.locator('[data-cb="file-input"]')
        await file_input.set_input_files(
            [
                {
                    "name": "铭牌.jpg",
                    "mimeType": "image/jpeg",
                    "buffer": samples.jpeg_with_gps(1600, 1200),
                },
                {"name": "发票.pdf", "mimeType": "application/pdf", "buffer": samples.pdf()},
            ]
        )
        thumb = widget.locator(f'{MESSAGES} [data-cb="thumb"]')
        await expect(thumb).to_have_count(1)
        await expect(thumb).to_have_attribute("src", re.compile(r"^blob:"))
        assert await thumb.evaluate("img => img.decode().then(() => img.naturalWidth)") == 480
        await expect(widget.locator(f'{MESSAGES} [data-cb="file-link"]')).to_have_text(
            "📎 发票.pdf"
        )
        await file_input.set_input_files(
            [{"name": "photo.png", "mimeType": "image/png", "buffer": samples.html_page()}]
        )
        refused = widget.locator('[data-cb="upload"][data-failed]')
        await expect(refused).to_have_count(1)
        await expect(refused.locator(".meta")).to_contain_text("文件内容与文件名不符")
        await expect(refused.locator('[data-cb="retry"]')).to_have_count(0)  # it would fail again

        # ---- what is on disk has no GPS position; the lie left nothing ----
        kept = _kept(appliance.data_dir)
        photos = [p for p in kept if p.read_bytes().startswith(b"\xff\xd8")]
        assert len(photos) == 1 and len(kept) == 3  # the photo, its thumbnail, the PDF
        stored = Image.open(io.BytesIO(photos[0].read_bytes()))
        assert stored.size == (1600, 1200)
        assert not stored.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert samples.SECRET not in photos[0].read_bytes()
        assert not list((appliance.data_dir / "uploads").glob(".part-*"))

        # ---- the agent sees the thumbnail and opens the viewer (loaded on first use) ----
        agent_thumb = console.locator(f'{MESSAGES} [data-cb="thumb"]')
        await expect(agent_thumb).to_have_count(1)
        await expect(agent_thumb).to_have_attribute("src", re.compile(r"\?thumb=1$"))
        assert await agent_thumb.evaluate("img => img.decode().then(() => img.naturalWidth)") == 480
        await expect(console.locator(f'{MESSAGES} [data-cb="file-link"]')).to_have_text(
            "📎 发票.pdf"
        )
        assert not [
            u for u in asked if u.startswith(appliance.origin + "/static/") and "image-viewer" in u
        ]
        await agent_thumb.click()
        viewer = console.locator('[data-cb="viewer"]')
        await expect(viewer).to_be_visible()
        big = viewer.locator('[data-cb="viewer-image"]')
        assert await big.evaluate("img => img.decode().then(() => img.naturalWidth)") == 1600
        await expect(viewer.locator('[data-cb="viewer-download"]')).to_have_attribute(
            "download", "铭牌.jpg"
        )
        await console.keyboard.press("Escape")
        await expect(viewer).to_have_count(0)

        # ---- the visitor's viewer too, from the box's origin onto the host page ----
        await thumb.click()
        visitor_viewer = widget.locator('[data-cb="viewer"]')
        await expect(visitor_viewer).to_be_visible()
        await widget.locator('[data-cb="viewer-close"]').click()
        await expect(visitor_viewer).to_have_count(0)

        # ---- a stranger's request for the file gets 404; the visitor's own gets 200 ----
        src = await agent_thumb.get_attribute("src")
        assert src is not None
        path = src.split("?")[0].replace("/api/console/", "/api/visitor/")
        stranger = await stranger_ctx.new_page()
        await stranger.goto(f"{host_origin}/host_page.html?{query}")
        await expect(stranger.locator('[data-cb="launcher"]')).to_be_visible()
        await stranger.wait_for_function("() => localStorage.getItem('callbox.visitor')")
        assert await _status_of(stranger, appliance.origin, path, await _token(stranger)) == 404
        assert await _status_of(widget, appliance.origin, path, await _token(widget)) == 200

        # ---- the agent pastes a picture; the visitor sees it ----
        png = base64.b64encode(samples.small_png(120, 90)).decode()
        await console.locator('[data-cb="input"]').evaluate(
            """(input, data) => {
                const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
                const dt = new DataTransfer();
                dt.items.add(new File([bytes], '截图.png', {type: 'image/png'}));
                const paste = new ClipboardEvent('paste', {clipboardData: dt, bubbles: true});
                input.dispatchEvent(paste);
            }""",
            png,
        )
        await expect(thumb).to_have_count(2)
        await expect(thumb.nth(1)).to_have_attribute("src", re.compile(r"^blob:"))
        assert (
            await thumb.nth(1).evaluate("img => img.decode().then(() => img.naturalWidth)") == 120
        )

        # ---- emoji pickers on both sides, loaded on first use ----
        assert not [u for u in asked if "emoji-picker" in u]
        await widget.locator('[data-cb="emoji"]').click()
        picker = widget.locator('[data-cb="emoji-picker"]')
        await expect(picker).to_be_visible()
        await widget.locator('[data-cb="emoji-search"]').fill("赞")
        await picker.locator('button[data-emoji="👍"]').click()
        await expect(widget.locator('[data-cb="input"]')).to_have_value("👍")
        await widget.locator('[data-cb="input"]').type(" 好的:smile:")
        await widget.locator('[data-cb="input"]').press("Enter")
        await expect(
            console.locator(f"{MESSAGES} .body").filter(has_text="👍 好的😄")
        ).to_have_count(1)
        await expect(
            widget.locator(f"{MESSAGES} .body").filter(has_text="👍 好的😄")
        ).to_have_count(1)
        assert [u for u in asked if u.endswith("/api/visitor/assets/emoji-picker.js")]

        await console.locator('[data-cb="emoji"]').click()
        console_picker = console.locator('[data-cb="emoji-picker"]')
        await expect(console_picker).to_be_visible()
        await console_picker.locator('[data-cb="emoji-search"]').fill("谢谢")
        await console_picker.locator('button[data-emoji="🙏"]').click()
        await expect(console.locator('[data-cb="input"]')).to_have_value("🙏")
        await console.keyboard.press("Escape")
        await expect(console_picker).to_have_count(0)
        ARTIFACTS.mkdir(exist_ok=True)
        await expect(picker).to_be_visible()  # it stays open for more picks
        await widget.screenshot(path=ARTIFACTS / "widget-files.png")
        await console.screenshot(path=ARTIFACTS / "console-files.png")
    finally:
        for ctx in (stranger_ctx, visitor_ctx, agent_ctx):
            await ctx.close()
    assert not errors, errors


async def test_an_upload_cut_by_a_lost_connection_fails_clearly_and_retries(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    await appliance.start()
    ctx = await chromium.new_context(locale="zh-CN")
    errors: list[str] = []
    try:
        widget = await ctx.new_page()
        widget.on("pageerror", lambda e: errors.append(str(e)))
        query = urlencode({"box": appliance.origin, "shadow": "open"})
        await widget.goto(f"{host_origin}/host_page.html?{query}")
        await widget.locator('[data-cb="launcher"]').click()
        # A slow uplink, so the upload is still going when the box goes away.
        cdp = await ctx.new_cdp_session(widget)
        await cdp.send("Network.enable")
        await cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 20,
                "downloadThroughput": -1,
                "uploadThroughput": 256 * 1024,
            },
        )
        big = samples.pdf() + bytes(3 * 1024 * 1024)
        await widget.locator('[data-cb="file-input"]').set_input_files(
            [{"name": "说明书.pdf", "mimeType": "application/pdf", "buffer": big}]
        )
        upload = widget.locator('[data-cb="upload"]')
        meta = upload.locator(".meta")
        await expect(meta).to_have_text(re.compile(r"^上传中 [1-9]\d?%$"))  # progress is shown
        await appliance.kill()
        await expect(upload).to_have_attribute("data-failed", "1")
        await expect(meta).to_contain_text("上传中断")
        assert not [p for p in _kept(appliance.data_dir) if p.stat().st_size > 1024 * 1024]

        await appliance.start()
        # Nothing was stored: no half file, no message.
        assert _kept(appliance.data_dir) == []
        await cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        await upload.locator('[data-cb="retry"]').click()
        await expect(widget.locator(f'{MESSAGES} [data-cb="file-link"]')).to_have_text(
            "📎 说明书.pdf"
        )
        await expect(widget.locator('[data-cb="upload"]')).to_have_count(0)
        kept = _kept(appliance.data_dir)
        assert [p.stat().st_size for p in kept] == [len(big)]
    finally:
        await ctx.close()
    assert not errors, errors


async def test_the_admin_sets_the_limits_on_the_admin_page(
    chromium: Browser, running: Running
) -> None:
    expect.set_options(timeout=WAIT)
    await running.box.accounts.create_user("root", PASSWORD, "admin", display_name="管理员")
    ctx = await chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
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
        card = page.locator('[data-cb="file-limits"]')
        await expect(card.locator("h2")).to_have_text("对话中的图片和文件")
        size = card.locator('[data-cb="files-max-mb"]')
        await expect(size).to_have_value("10")
        for kind, on in (
            ("image", True),
            ("pdf", True),
            ("office", True),
            ("zip", True),
            ("text", False),
        ):
            box = card.locator(f'[data-cb="files-kind-{kind}"]')
            await (expect(box).to_be_checked() if on else expect(box).not_to_be_checked())
        await size.fill("3")
        await card.locator('[data-cb="files-kind-zip"]').uncheck()
        await card.locator('[data-cb="files-kind-text"]').check()
        await card.locator('[data-cb="files-submit"]').click()
        await expect(card.locator('[data-cb="files-result"]')).to_have_text("已保存")
        limits = running.box.files.limits
        assert (limits.max_mb, limits.kinds) == (3, ("image", "pdf", "office", "text"))
        # The browser's own check lets 0 through when the field is edited by script; the
        # box refuses it and the card says so.
        await size.evaluate("el => { el.min = ''; el.value = '0'; }")
        await card.locator('[data-cb="files-submit"]').click()
        await expect(card.locator('[data-cb="files-error"]')).to_contain_text("max_mb")
        assert running.box.files.limits.max_mb == 3
        await page.reload()
        await expect(size).to_have_value("3")
        await expect(card.locator('[data-cb="files-kind-zip"]')).not_to_be_checked()
    finally:
        await ctx.close()
    assert not errors, errors
