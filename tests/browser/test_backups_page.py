"""The admin page's backups card in Debian's Chromium: the emergency kit is shown once,
"back up now" shows its progress and result, and the kit's key opens the archive."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from appliance.core import backup
from appliance.core.backup_archive import Progress, read_identity, unpack
from tests.conftest import PASSWORD, Running

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20_000  # ms, the longest any single wait may take


def cb(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-cb="{name}"]')


async def test_the_kit_is_shown_once_and_back_up_now_shows_progress(
    chromium: Browser, running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expect.set_options(timeout=WAIT)
    # A few MiB of uploads, read with a pause per MiB: the run lasts long enough to watch.
    data = running.box.settings.data_dir
    (data / "uploads").mkdir()
    (data / "uploads" / "big").write_bytes(os.urandom(6 * 1024 * 1024))
    monkeypatch.setattr(backup, "PAUSE", 0.4)
    await running.box.accounts.create_user("root", PASSWORD, "admin", display_name="管理员")
    errors: list[str] = []
    ctx = await chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(WAIT)
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda dialog: dialog.accept())
        await page.goto(running.url("/login"))
        await page.locator('input[name="username"]').fill("root")
        await page.locator('input[name="password"]').fill(PASSWORD)
        await page.locator('[data-cb="login-form"] button[type="submit"]').click()
        await page.wait_for_url("**/console")
        await page.goto(running.url("/admin"))

        await expect(cb(page, "bk-key-state")).to_have_text("尚未创建：创建密钥之前不能备份")
        await expect(cb(page, "bk-run")).to_be_disabled()
        await expect(cb(page, "bk-next")).to_have_text("未开启")
        await cb(page, "bk-make-key").click()
        await expect(cb(page, "bk-kit")).to_be_visible()
        await expect(cb(page, "bk-kit-key")).to_have_text(
            re.compile(r"^AGE-SECRET-KEY-1[0-9A-Z]{58}$")
        )
        key = await cb(page, "bk-kit-key").text_content()
        assert key
        await expect(cb(page, "bk-kit-box")).to_have_text(running.box.backups.box)
        await expect(cb(page, "bk-kit-recipient")).to_have_text(re.compile(r"^age1"))
        await expect(cb(page, "bk-key-state")).to_contain_text("已创建")
        ARTIFACTS.mkdir(exist_ok=True)
        await cb(page, "bk-kit").screenshot(path=str(ARTIFACTS / "backup-kit.png"))
        await cb(page, "bk-kit-done").click()
        await expect(cb(page, "bk-kit")).to_be_hidden()

        # Once closed, nothing brings it back: not the page, not the API.
        await page.reload()
        await expect(cb(page, "bk-key-state")).to_contain_text("已创建")
        await expect(cb(page, "bk-kit")).to_be_hidden()
        assert key not in await page.content()
        api = await page.request.get(running.url("/api/admin/backups"))
        assert key not in await api.text()
        await expect(cb(page, "bk-make-key")).to_be_hidden()
        await expect(cb(page, "bk-replace-key")).to_be_visible()

        await cb(page, "bk-run").click()
        await expect(cb(page, "bk-progress")).to_be_visible()
        await expect(cb(page, "bk-phase")).to_contain_text(
            re.compile(r"打包并加密 · \d+\.\d MB / 6\.\d MB")
        )
        await expect(cb(page, "bk-run")).to_be_disabled()
        await expect(cb(page, "bk-last")).to_contain_text("成功", timeout=60_000)
        await expect(cb(page, "bk-progress")).to_be_hidden()
        await expect(cb(page, "bk-runs").locator("tr")).to_have_count(1)
        await expect(cb(page, "bk-runs").locator("tr td").nth(1)).to_have_text("手动")
        await cb(page, "backups").screenshot(path=str(ARTIFACTS / "backup-card.png"))
        assert errors == []
    finally:
        await ctx.close()

    # The key from the kit opens the archive the button made.
    (archive,) = (data / "backups").glob("*.tar.age")
    manifest = unpack(archive, read_identity(key), tmp_path / "opened", Progress())
    assert manifest.box == running.box.backups.box
    assert (tmp_path / "opened" / "uploads" / "big").stat().st_size == 6 * 1024 * 1024
