"""An overloaded box in Debian's Chromium (issue 18): a new visitor is told to wait,
their line is kept, and it reaches the agent once the box can take it; a console's
line refused while the box is saturated is kept, said so, and sent again.

"Overloaded" is set through the limits (`CALLBOX_OVERLOAD_*` = 0: every moment counts
as busy), so the test does not depend on how fast this machine is; the box is then
restarted without them, as load that has passed.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import Appliance
from tests.browser.test_e2e import bodies_become, send
from tests.browser.test_queue_overflow import add_user, console_api, open_widget

pytestmark = pytest.mark.browser

WAIT = 30_000  # ms: the widget's retry comes after the box's retry_after (5 s) and backoff
DESKTOP = {"width": 1280, "height": 760}
LINE = "你好，我想咨询一下价格"


async def test_a_busy_box_asks_a_new_visitor_to_wait_and_loses_nothing(
    chromium: Browser, appliance: Appliance, host_origin: str
) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "wangfang", "--display-name", "王芳")
    appliance.env = {"CALLBOX_OVERLOAD_LOOP_LAG": "0"}  # busy: no new conversations
    await appliance.start()
    errors: list[str] = []
    ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
    ctx.set_default_timeout(WAIT)
    try:
        async with console_api(appliance, "wangfang") as agent:
            await agent.post("/api/console/presence", {"status": "online"})
        page = await open_widget(ctx, appliance, host_origin, errors)
        await send(page, LINE)
        notice = page.locator('[data-cb="notice"]')
        await expect(notice).to_have_text("咨询人数较多，请稍候，我们会自动为您重试")
        bubble = page.locator('[data-cb="message"][data-pending]')
        await expect(bubble).to_have_count(1)  # kept, waiting to go
        async with console_api(appliance, "wangfang") as agent:
            waiting = await agent.get("/api/console/conversations?scope=waiting")
            mine = await agent.get("/api/console/conversations?scope=mine")
            assert waiting["conversations"] == [] and mine["conversations"] == []

        # The load has passed: the same box, without the limits. The widget's own retry
        # opens the chat and sends the line, once.
        await appliance.kill()
        appliance.env = {}
        await appliance.start()
        await bodies_become(page, [LINE])
        async with console_api(appliance, "wangfang") as agent:
            deadline = time.monotonic() + WAIT / 1000
            while True:
                mine = (await agent.get("/api/console/conversations?scope=mine"))["conversations"]
                if mine or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert len(mine) == 1
            messages = await agent.get(f"/api/console/conversations/{mine[0]['id']}/messages")
            lines = [m["body"] for m in messages["messages"] if m["sender_type"] == "visitor"]
            assert lines == [LINE]
        assert not errors
    finally:
        await ctx.close()
