"""The company's look in Debian's Chromium: set on the settings page, seen on a shop.

An admin opens the look's settings page: the preview's widget follows the colour as it
is typed (before anything is saved), a yellow brand with white text is warned about and
then refused by the box, a logo goes up through the file input. Saved, the look reaches
a shop of another origin on its next page view: colour, company name, logo, welcome,
the launcher's label on the left at the chosen offsets, the chat opening by itself, the
reply-time hint; once the agent answers, their photo and name. Another shop tag's
data-* attributes override the look (and a hostile label shows as text). Screenshots
of the branded widget on a desktop and a phone go to tests/artifacts/.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from PIL import Image, ImageDraw
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.test_e2e import send
from tests.browser.test_tracking import Shop, serve_shop
from tests.conftest import PASSWORD, Agent, Running

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20_000  # ms, the longest any single wait may take
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 740}
TEAL = "rgb(15, 118, 110)"  # #0f766e
AGENT_NAME = "王芳"
COMPANY = "Acme 客服"
WELCOME = "您好！我们是 Acme 的客服团队，有问题随时问我们。"
LABEL = "联系我们"
LOADED = "e => e.complete && e.naturalWidth === 256"  # a stored photo, decoded by the browser


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    async with serve_shop() as served:
        yield served


def cb(where: Page | Locator, name: str) -> Locator:
    return where.locator(f'[data-cb="{name}"]')


def logo_file(tmp_path: Path) -> Path:
    """A small wide logo: white letters on a transparent ground, made here."""
    img = Image.new("RGBA", (360, 100), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 10, 80, 90), radius=16, fill=(255, 255, 255, 255))
    draw.rectangle((100, 30, 340, 70), fill=(255, 255, 255, 255))
    path = tmp_path / "logo.png"
    img.save(path)
    return path


def face() -> bytes:
    out = io.BytesIO()
    img = Image.new("RGB", (400, 400), (251, 191, 36))
    ImageDraw.Draw(img).ellipse((100, 80, 300, 280), fill=(120, 53, 15))
    img.save(out, "JPEG")
    return out.getvalue()


async def style(el: Locator, prop: str) -> str:
    return str(await el.evaluate(f"e => getComputedStyle(e).{prop}"))


async def gaps(page: Page, el: Locator) -> tuple[float, float, float]:
    """Return an element's distance from the viewport's left, right and bottom edges."""
    box = await el.bounding_box()
    assert box is not None
    width, height = await page.evaluate("() => [innerWidth, innerHeight]")
    return box["x"], width - box["x"] - box["width"], height - box["y"] - box["height"]


async def test_a_brand_set_on_the_settings_page_reaches_the_widget(
    chromium: Browser,
    running: Running,
    shop: Shop,
    http_sessions: Callable[[], aiohttp.ClientSession],
    tmp_path: Path,
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    # Online: the reply-time hint and the answer need someone.
    user = await running.box.accounts.create_user(
        "wangfang", PASSWORD, "agent", display_name=AGENT_NAME
    )
    agent = Agent(running, http_sessions(), user.id)
    assert (await agent.login("wangfang")).status == 302
    await agent.post("/api/console/presence", {"status": "online"})
    await running.box.brand.set_avatar(agent.user_id, face())
    await running.box.accounts.create_user("root", PASSWORD, "admin", display_name="管理员")
    shop.box = running.url("").rstrip("/")
    errors: list[str] = []
    ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
    ctx.set_default_timeout(WAIT)
    try:
        # ---- the settings page ----
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(f"settings: {e}"))
        await page.goto(running.url("/login"))
        await page.locator('input[name="username"]').fill("root")
        await page.locator('input[name="password"]').fill(PASSWORD)
        await page.locator('[data-cb="login-form"] button[type="submit"]').click()
        await page.wait_for_url("**/console")
        await page.goto(running.url("/console/brand"))
        preview = page.frame_locator('[data-cb="brand-preview"]')
        launcher = cb(preview, "launcher")
        await expect(launcher).to_be_visible()
        await expect(cb(page, "brand-contrast")).to_have_text("使用聊天窗口自带的蓝色和白色文字。")
        assert await style(launcher, "backgroundColor") == "rgb(37, 99, 235)"

        # Yellow: automatic text turns black, and says why; white is warned, then refused.
        await cb(page, "brand-color").fill("#ffd400")
        await expect(cb(page, "brand-contrast")).to_contain_text("改用黑色文字")
        await expect(launcher).to_have_css("background-color", "rgb(255, 212, 0)")
        await expect(launcher).to_have_css("color", "rgb(0, 0, 0)")
        await cb(page, "brand-text-color").select_option("white")
        await expect(cb(page, "brand-contrast")).to_have_attribute("data-state", "warn")
        await expect(cb(page, "brand-contrast")).to_contain_text("保存将被拒绝")
        await cb(page, "brand-save").click()
        await expect(cb(page, "brand-error")).to_contain_text("对比度不足 4.5:1")
        assert running.box.brand.current().color == ""

        # The look the company wants; the preview follows before anything is saved.
        await cb(page, "brand-text-color").select_option("auto")
        await cb(page, "brand-color").fill("#0f766e")
        await expect(launcher).to_have_css("background-color", TEAL)
        await cb(page, "brand-name").fill(COMPANY)
        await cb(page, "brand-welcome-zh-CN").fill(WELCOME)
        await cb(page, "brand-welcome-en").fill("Hi! Ask us anything.")
        await cb(page, "brand-label-zh-CN").fill(LABEL)
        await cb(page, "brand-label-en").fill("Chat with us")
        await cb(page, "brand-position").select_option("left")
        await cb(page, "brand-offset-x").fill("32")
        await cb(page, "brand-offset-y").fill("96")
        await cb(page, "brand-auto-open").check()
        await cb(page, "brand-open-after").fill("1")
        await expect(cb(launcher, "launcher-label")).to_have_text(LABEL)
        await cb(page, "brand-logo").set_input_files(logo_file(tmp_path))
        await expect(cb(page, "brand-saved")).to_have_text("Logo 已保存。")
        await expect(cb(page, "brand-logo-img")).to_be_visible()
        await cb(page, "brand-save").click()
        await expect(cb(page, "brand-saved")).to_have_text("已保存。新打开的页面即显示新外观。")
        await expect(cb(page, "brand-error")).to_be_hidden()
        await cb(page, "brand-preview-open").click()
        await expect(cb(preview, "brand-name")).to_have_text(COMPANY)
        await page.screenshot(path=str(ARTIFACTS / "brand-settings.png"))
        look = running.box.brand.current()
        assert (look.color, look.position, look.offset_x, look.offset_y) == (
            "#0f766e",
            "left",
            32,
            96,
        )
        assert look.open_after == 1 and look.logo

        # ---- a visitor on the shop, a new page view ----
        tab = await ctx.new_page()
        tab.on("pageerror", lambda e: errors.append(f"shop: {e}"))
        await tab.goto(f"{shop.origin}/shop/earphones.html")
        launcher = cb(tab, "launcher")
        await expect(launcher).to_be_visible()
        await expect(launcher).to_have_css("background-color", TEAL)
        await expect(launcher).to_have_css("color", "rgb(255, 255, 255)")
        await expect(cb(launcher, "launcher-label")).to_have_text(LABEL)
        left, _, bottom = await gaps(tab, launcher)
        assert (left, bottom) == (32, 96)
        # It opens by itself, without taking the page's focus.
        panel = cb(tab, "panel")
        await expect(panel).to_be_visible()
        assert await tab.evaluate("() => document.activeElement === document.body")
        await expect(cb(tab, "brand-name")).to_have_text(COMPANY)
        await expect(cb(tab, "brand-sub")).to_have_text("通常在 1 分钟内回复")
        await expect(cb(tab, "welcome")).to_have_text(WELCOME)
        pic = cb(tab, "brand-pic")
        await expect(pic).to_be_visible()
        await expect(pic).to_have_attribute("src", running.url(f"/api/visitor/logo/{look.logo}"))
        await tab.wait_for_function(
            "e => e.complete && e.naturalWidth > 0", arg=await pic.element_handle()
        )
        head = tab.locator(".head")
        await expect(head).to_have_css("background-color", TEAL)
        panel_left, _, _ = await gaps(tab, panel)
        assert panel_left == 32
        await tab.screenshot(path=str(ARTIFACTS / "brand-desktop.png"))

        # ---- the agent answers: their photo and name, the company's under it ----
        await send(tab, "耳机支持降噪吗？")
        await expect(cb(tab, "status")).to_have_attribute("data-state", "active")
        await expect(cb(tab, "brand-name")).to_have_text(AGENT_NAME)
        await expect(cb(tab, "brand-sub")).to_have_text(COMPANY)
        await expect(pic).to_have_attribute(
            "src", running.url(f"/api/visitor/avatars/{agent.user_id}")
        )
        await expect(pic).to_have_css("border-radius", "50%")  # a round photo, not the logo
        await tab.wait_for_function(LOADED, arg=await pic.element_handle())
        await expect(cb(tab, "welcome")).to_be_hidden()
        await tab.screenshot(path=str(ARTIFACTS / "brand-desktop-agent.png"))

        # ---- the tag's attributes override the look for one site ----
        shop.attrs = {
            "data-color": "#7c3aed",
            "data-position": "right",
            "data-offset-x": "10",
            "data-offset-y": "150",
            "data-label": '<img src=x onerror="window.hacked=1">',
            "data-open": "off",
        }
        other = await ctx.new_page()
        other.on("pageerror", lambda e: errors.append(f"override: {e}"))
        await other.goto(f"{shop.origin}/shop/case.html")
        launcher = cb(other, "launcher")
        await expect(launcher).to_have_css("background-color", "rgb(124, 58, 237)")
        await expect(cb(launcher, "launcher-label")).to_have_text(
            '<img src=x onerror="window.hacked=1">'
        )
        _, right, bottom = await gaps(other, launcher)
        assert (right, bottom) == (10, 150)
        await other.wait_for_timeout(1500)  # past the look's 1 s: it must not open
        await expect(cb(other, "panel")).to_be_hidden()
        assert await other.evaluate("() => window.hacked") is None
        await other.close()

        # ---- a phone: the launcher clears the bottom bar; no opening by itself ----
        shop.attrs = {}
        phone_ctx = await chromium.new_context(
            locale="zh-CN", viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
        )
        phone_ctx.set_default_timeout(WAIT)
        try:
            phone = await phone_ctx.new_page()
            phone.on("pageerror", lambda e: errors.append(f"phone: {e}"))
            await phone.goto(f"{shop.origin}/shop/earphones.html")
            launcher = cb(phone, "launcher")
            await expect(cb(launcher, "launcher-label")).to_have_text(LABEL)
            left, _, bottom = await gaps(phone, launcher)
            assert (left, bottom) == (32, 96)
            await phone.wait_for_timeout(1500)
            await expect(cb(phone, "panel")).to_be_hidden()
            await phone.screenshot(path=str(ARTIFACTS / "brand-phone-launcher.png"))
            await launcher.click()
            await expect(cb(phone, "panel")).to_be_visible()
            await expect(cb(phone, "brand-name")).to_have_text(COMPANY)
            await expect(cb(phone, "welcome")).to_have_text(WELCOME)
            await phone.screenshot(path=str(ARTIFACTS / "brand-phone.png"))
        finally:
            await phone_ctx.close()
    finally:
        await ctx.close()
    assert errors == []
    for name in ("brand-desktop.png", "brand-phone.png", "brand-settings.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000, name


async def test_an_agent_sets_their_photo_on_their_account_page(
    chromium: Browser, running: Running, tmp_path: Path
) -> None:
    expect.set_options(timeout=WAIT)
    user = await running.box.accounts.create_user("lina", PASSWORD, "agent", display_name="李娜")
    photo = tmp_path / "me.jpg"
    photo.write_bytes(face())
    liar = tmp_path / "me.png"  # a name that lies about what is inside
    liar.write_text("<html><script>alert(1)</script></html>")
    errors: list[str] = []
    ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
    ctx.set_default_timeout(WAIT)
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(running.url("/login"))
        await page.locator('input[name="username"]').fill("lina")
        await page.locator('input[name="password"]').fill(PASSWORD)
        await page.locator('[data-cb="login-form"] button[type="submit"]').click()
        await page.wait_for_url("**/console")
        await page.goto(running.url("/console/account"))
        await expect(cb(page, "avatar-img")).to_be_hidden()
        await cb(page, "avatar-file").set_input_files(liar)
        await expect(cb(page, "avatar-error")).to_have_text(
            "未保存：该文件不是 PNG、JPEG 或 WebP 图片（不论文件名如何）。"
        )
        assert running.box.brand.avatar(user.id) is None
        await cb(page, "avatar-file").set_input_files(photo)
        await expect(cb(page, "avatar-result")).to_have_text("头像已保存。")
        await expect(cb(page, "avatar-error")).to_be_hidden()
        img = cb(page, "avatar-img")
        await expect(img).to_be_visible()
        await page.wait_for_function(LOADED, arg=await img.element_handle())
        assert running.box.brand.avatar(user.id) is not None
        await cb(page, "avatar-remove").click()
        await expect(cb(page, "avatar-result")).to_have_text("头像已移除。")
        await expect(img).to_be_hidden()
        assert running.box.brand.avatar(user.id) is None
    finally:
        await ctx.close()
    assert errors == []
