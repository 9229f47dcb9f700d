"""The service desk settings page in Debian's Chromium, against a real appliance.

A supervisor adds a ticket type (and retires, moves and restores others) and a
template that uses it, and the ticket list's new-ticket form offers both; builds a
weekly recurring task (the API then has the RRULE the builder wrote, and its next run
is the first the page listed), after a rule the box refuses is shown in the form; and
adds a webhook against a real receiver on loopback (a bad URL refused in the form
first): the secret shown once signs what the receiver gets, a ping the receiver
refuses shows as failed with its next try, and a new ticket's delivery appears in the
page's log as delivered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Dialog, Page, expect

from tests.browser.conftest import Appliance
from tests.browser.test_desk_editors import call
from tests.browser.test_transfer import ARTIFACTS, S_NAME, TOPBAR, WAIT, add_user, console_for

pytestmark = pytest.mark.browser

WEEKLY = "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=14;BYMINUTE=30"
TYPE = "上门维修"
TEMPLATE = "打印机巡检"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answer: int


@dataclass
class Receiver:
    """A company system on loopback: answers the statuses in `script`, then 200."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        answer = self.script.pop(0) if self.script else 200
        self.got.append(Received(dict(request.headers), await request.read(), answer))
        return web.Response(status=answer, text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    found.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield found
    finally:
        await runner.cleanup()


def signed_by(secret: str, got: Received) -> bool:
    """Check a delivery as docs/webhooks.md tells a receiver to."""
    stamp = got.headers["X-Callbox-Timestamp"]
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + got.body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), got.headers["X-Callbox-Signature"])


def with_id(receiver: Receiver, delivery_id: str | None) -> list[Received]:
    """What the receiver got of one delivery, attempts and redeliveries."""
    return [g for g in receiver.got if g.headers.get("X-Callbox-Delivery") == delivery_id]


async def until(check: Callable[[], bool]) -> None:
    """Wait until check() holds, as long as a browser wait may take."""
    deadline = time.monotonic() + WAIT / 1000
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def type_names(page: Page) -> list[str]:
    """The active types as the draft list holds them."""
    names: list[str] = await page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-cb="type-row"] [data-f="name"]'),
                            (i) => i.value)"""
    )
    return names


async def agree(page: Page, asked: list[str]) -> None:
    """Say yes to the next confirm() and keep its question."""

    async def yes(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.once("dialog", yes)


async def test_types_templates_a_weekly_task_and_a_webhook_set_in_the_console(
    chromium: Browser, appliance: Appliance, receiver: Receiver
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    await add_user(appliance, "chen", S_NAME, role="supervisor")
    await appliance.start()
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    try:
        ctx, s = await console_for(chromium, appliance, "chen", errors, online=False)
        contexts.append(ctx)
        await s.locator('[data-cb="nav-settings"] summary').click()
        await s.locator(f"{TOPBAR}[href='/console/desk-settings']").click()
        await s.wait_for_url("**/console/desk-settings#types")
        await expect(s.locator('[role="tab"][data-area="types"]')).to_have_attribute(
            "aria-selected", "true"
        )

        # ---- ticket types: add one, retire one, move, save; a name twice is refused ----
        assert await type_names(s) == ["咨询", "故障", "投诉", "建议", "报修"]
        await s.locator("h1").click()
        await s.keyboard.press("n")
        new_type = s.locator('[data-cb="type-new"]')
        await expect(new_type).to_be_focused()
        await new_type.fill("咨询")
        await new_type.press("Enter")
        types_error = s.locator('[data-cb="types-error"]')
        await expect(types_error.locator("strong")).to_have_text("类型“咨询”出现了两次。")
        await expect(new_type).to_have_attribute("aria-invalid", "true")
        await new_type.fill(TYPE)
        await new_type.press("Enter")
        await expect(types_error).to_be_hidden()
        rows = s.locator('[data-cb="type-row"]')
        await expect(rows).to_have_count(6)
        await expect(rows.nth(5).locator('[data-f="was"]')).to_have_text("新增")
        await expect(s.locator('[data-cb="types-dirty"]')).to_be_visible()
        await rows.nth(5).locator('[data-f="up"]').click()  # before 报修
        await rows.nth(3).locator('[data-f="retire"]').click()  # 建议
        retired = s.locator('[data-cb="retired-row"]')
        await expect(retired.locator('[data-f="name"]')).to_have_text(["建议"])
        assert await type_names(s) == ["咨询", "故障", "投诉", TYPE, "报修"]
        await s.locator('[data-cb="types-save"]').click()
        await expect(s.locator('[data-cb="types-ok"]')).to_be_visible()
        await expect(s.locator('[data-cb="types-dirty"]')).to_be_hidden()
        saved = (await call(s, "GET", "/api/console/ticket-types"))["types"]
        active = sorted((t for t in saved if t["active"]), key=lambda t: t["position"])
        assert [t["name"] for t in active] == ["咨询", "故障", "投诉", TYPE, "报修"]
        assert [t["name"] for t in saved if not t["active"]] == ["建议"]
        # Restored, it comes back last, under its own name.
        await retired.locator('[data-f="restore"]').click()
        await expect(retired).to_have_count(0)
        await s.locator('[data-cb="type-row"] [data-f="name"]').last.press("Control+Enter")
        await expect(s.locator('[data-cb="types-ok"]')).to_be_visible()
        await s.screenshot(path=ARTIFACTS / "desk-types.png", full_page=True)
        saved = (await call(s, "GET", "/api/console/ticket-types"))["types"]
        assert all(t["active"] for t in saved)
        assert [t["name"] for t in sorted(saved, key=lambda t: t["position"])][-2:] == [
            "报修",
            "建议",
        ]

        # ---- a template that uses the new type ----
        await s.locator('[role="tab"][data-area="types"]').press("ArrowRight")
        await expect(s.locator('[data-cb="area-templates"]')).to_be_visible()
        await expect(s.locator('[role="tab"][data-area="templates"]')).to_be_focused()
        await s.wait_for_url("**/console/desk-settings#templates")
        await expect(s.locator('[data-cb="templates-empty"]')).to_be_visible()
        await s.locator("h1").click()
        await s.keyboard.press("n")
        tpl_form = s.locator('[data-cb="template-form"]')
        await expect(tpl_form).to_be_visible()
        await expect(s.locator('[data-cb="template-name"]')).to_be_focused()
        await s.locator('[data-cb="template-name"]').fill(TEMPLATE)
        await tpl_form.locator('[name="subject"]').fill("月度打印机巡检")
        await tpl_form.locator('[name="description"]').fill("检查各楼层打印机的耗材和卡纸情况")
        await s.locator('[data-cb="template-type"]').select_option(label=TYPE)
        await s.locator('[data-cb="template-priority"]').select_option(label="高")
        await tpl_form.locator('[name="tags"]').fill("巡检 打印机")
        await s.locator('[data-cb="template-save"]').click()
        await expect(s.locator('[data-cb="template-ok"]')).to_be_visible()
        tpl_row = s.locator('[data-cb="template-row"]')
        await expect(tpl_row).to_have_count(1)
        await expect(tpl_row.locator('[data-f="type"]')).to_have_text(TYPE)
        await expect(tpl_row.locator('[data-f="priority"]')).to_have_text("高")
        (template,) = (await call(s, "GET", "/api/console/ticket-templates"))["templates"]
        assert template["type"] == TYPE and template["tags"] == ["巡检", "打印机"]
        assert template["priority"] == "high" and template["group_id"] is None

        # ---- the ticket list's new-ticket form offers both ----
        await s.goto(appliance.origin + "/console/tickets")
        await s.locator('[data-cb="new-ticket"]').click()
        dialog = s.locator('[data-cb="new-ticket-dialog"]')
        await expect(dialog).to_be_visible()
        await expect(s.locator('[data-cb="nt-type"] option', has_text=TYPE)).to_have_count(1)
        await s.locator('[data-cb="nt-template"]').select_option(label=TEMPLATE)
        await expect(s.locator('[data-cb="nt-subject"]')).to_have_value("月度打印机巡检")
        await expect(s.locator('[data-cb="nt-type"]')).to_have_value(TYPE)
        await s.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()

        # ---- a recurring task: a refused rule first, then the weekly builder ----
        await s.locator('[data-cb="desk-links"] a[href="/console/desk-settings"]').click()
        await s.wait_for_url("**/console/desk-settings*")
        await s.locator('[role="tab"][data-area="schedules"]').click()
        await s.wait_for_url("**/console/desk-settings#schedules")
        await s.locator('[data-cb="schedule-new"]').click()
        sch_form = s.locator('[data-cb="schedule-form"]')
        await expect(sch_form).to_be_visible()
        await s.locator('[data-cb="schedule-name"]').fill("每周打印机巡检")
        await expect(s.locator('[data-cb="schedule-template"]')).to_have_value(str(template["id"]))
        rule = s.locator('[data-cb="schedule-rule"]')
        await expect(rule).to_have_value("FREQ=DAILY;BYHOUR=9;BYMINUTE=0")  # the builder's start
        await rule.fill("FREQ=HOURLY")
        await expect(s.locator('[data-cb="freq-custom"]')).to_be_checked()
        await expect(s.locator('[data-cb="builder"]')).to_be_hidden()
        note = s.locator('[data-cb="runs-note"]')
        await expect(note).to_contain_text("FREQ must be one of")
        await expect(s.locator('[data-cb="runs-zone"]')).to_have_text("")
        await s.locator('[data-cb="schedule-save"]').click()
        sch_error = s.locator('[data-cb="schedule-error"]')
        await expect(sch_error.locator("strong")).to_have_text("这条重复规则不能使用（已标出）。")
        await expect(sch_error.locator(".detail")).to_contain_text("FREQ must be one of")
        await expect(rule).to_have_attribute("aria-invalid", "true")
        await s.screenshot(path=ARTIFACTS / "desk-schedule-refused.png", full_page=True)
        assert (await call(s, "GET", "/api/console/ticket-schedules"))["schedules"] == []

        await s.locator('[data-cb="freq-weekly"]').check()
        await expect(s.locator('[data-cb="builder"]')).to_be_visible()
        await expect(s.locator('[data-cb="interval-unit"]')).to_have_text("周")
        weekdays = s.locator('[data-cb="weekdays"]')
        await weekdays.locator("label.check", has_text="周一").locator("input").check()
        await weekdays.locator("label.check", has_text="周四").locator("input").check()
        await s.locator('[data-cb="schedule-time"]').fill("14:30")
        await expect(rule).to_have_value(WEEKLY)
        runs = s.locator('[data-cb="schedule-runs"] li')
        await expect(runs).to_have_count(5)
        for text in await runs.all_inner_texts():
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2} 14:30 周[一四]", text), text
        await expect(s.locator('[data-cb="runs-zone"]')).to_have_text(
            re.compile(r"^（服务器时间，UTC[+-]\d{2}:\d{2}）$")
        )
        first_run = await runs.first.get_attribute("data-at")
        assert first_run
        await s.locator('[data-cb="schedule-save"]').click()
        await expect(s.locator('[data-cb="schedule-ok"]')).to_be_visible()
        await expect(sch_error).to_be_hidden()
        sch_row = s.locator('[data-cb="schedule-row"]')
        await expect(sch_row).to_have_count(1)
        await expect(sch_row.locator('[data-f="when"]')).to_have_text("每周 周一、周四 14:30")
        await expect(sch_row.locator('[data-f="template"]')).to_have_text(TEMPLATE)
        await expect(sch_row.locator('[data-f="next"]')).to_have_text(
            re.compile(r" 14:30 周[一四]$")
        )
        (schedule,) = (await call(s, "GET", "/api/console/ticket-schedules"))["schedules"]
        assert schedule["rule"] == WEEKLY
        assert schedule["template_id"] == template["id"] and schedule["enabled"] is True
        assert schedule["next_run_at"][:16] == first_run[:16]  # the first run listed
        # Editing shows the builder as saved; switched off in the list, it runs no more.
        await s.keyboard.press("Escape")
        await expect(sch_form).to_be_hidden()
        await sch_row.locator('[data-f="edit"]').click()
        await expect(s.locator('[data-cb="freq-weekly"]')).to_be_checked()
        await expect(weekdays.locator("input:checked")).to_have_count(2)
        await expect(s.locator('[data-cb="schedule-time"]')).to_have_value("14:30")
        await s.keyboard.press("Escape")
        await sch_row.locator('[data-f="enabled"]').uncheck()
        await expect(sch_row.locator('[data-f="enabled-text"]')).to_have_text("已停用")
        await expect(sch_row.locator('[data-f="next"]')).to_have_text("—")
        await s.screenshot(path=ARTIFACTS / "desk-schedules.png", full_page=True)
        (schedule,) = (await call(s, "GET", "/api/console/ticket-schedules"))["schedules"]
        assert schedule["enabled"] is False and schedule["rule"] == WEEKLY

        # ---- a webhook: a bad URL first, then the receiver on loopback ----
        await s.locator('[role="tab"][data-area="webhooks"]').click()
        await s.locator('[data-cb="webhook-new"]').click()
        wh_form = s.locator('[data-cb="webhook-form"]')
        await s.locator('[data-cb="webhook-name"]').fill("CRM")
        url = s.locator('[data-cb="webhook-url"]')
        await url.fill("ftp://crm.example.cn/hook")
        await (
            s.locator('[data-cb="webhook-events"] label.check', has_text="工单创建")
            .locator("input")
            .check()
        )
        await s.locator('[data-cb="webhook-save"]').click()
        wh_error = s.locator('[data-cb="webhook-error"]')
        await expect(wh_error.locator("strong")).to_have_text(
            re.compile(r"^接收地址须以 http:// 或 https:// 开头")
        )
        await expect(wh_error.locator(".detail")).to_have_text(
            "url must start with http:// or https://"
        )
        await expect(url).to_have_attribute("aria-invalid", "true")
        assert (await call(s, "GET", "/api/console/webhooks"))["webhooks"] == []

        await url.fill(receiver.url)
        await url.press("Control+Enter")
        secret_box = s.locator('[data-cb="secret-box"]')
        await expect(secret_box).to_be_visible()
        secret = await s.locator('[data-cb="secret-value"]').input_value()
        assert re.fullmatch(r"cbwh_[0-9a-f]{64}", secret)
        await expect(wh_error).to_be_hidden()
        wh_row = s.locator('[data-cb="webhook-row"]')
        await expect(wh_row.locator('[data-f="url"]')).to_have_text(receiver.url)
        await expect(wh_row.locator('[data-f="events"]')).to_have_text("工单创建")
        (hook,) = (await call(s, "GET", "/api/console/webhooks"))["webhooks"]
        assert hook["events"] == ["ticket.created"] and hook["enabled"] is True
        await s.screenshot(path=ARTIFACTS / "desk-webhook-secret.png", full_page=True)
        await s.locator('[data-cb="secret-done"]').click()
        await expect(secret_box).to_be_hidden()
        assert await s.locator('[data-cb="secret-value"]').input_value() == ""

        # A ping the receiver refuses: failed, with its next try, in the log.
        receiver.script = [500]
        await s.locator('[data-cb="webhook-ping"]').click()
        log = s.locator('[data-cb="log"]')
        await expect(log).to_be_visible()
        await expect(s.locator('[data-cb="log-title"]')).to_have_text("投递记录：CRM")
        ping = s.locator('[data-cb="delivery-row"][data-event="webhook.ping"]')
        await expect(ping.locator('[data-f="status"]')).to_have_attribute("data-status", "failed")
        await expect(ping.locator('[data-f="status"]')).to_have_text("失败，将重试")
        await expect(ping.locator('[data-f="attempts"]')).to_have_text("1")
        await expect(ping.locator('[data-f="answer"]')).to_have_text(
            re.compile(r"^HTTP 500 · 下次重试 \d{4}-\d{2}-\d{2} \d{2}:\d{2}$")
        )
        await expect(ping.locator('[data-f="redeliver"]')).to_be_hidden()

        # A new ticket: its delivery shows in the log by itself, delivered and signed.
        made = (await call(s, "POST", "/api/console/tickets", {"subject": "三楼打印机卡纸"}))[
            "ticket"
        ]
        created = s.locator('[data-cb="delivery-row"][data-event="ticket.created"]')
        await expect(created.locator('[data-f="status"]')).to_have_attribute(
            "data-status", "delivered"
        )
        await expect(created.locator('[data-f="event"]')).to_have_text("工单创建")
        await expect(created.locator('[data-f="answer"]')).to_have_text(re.compile(r"^HTTP 200 · "))
        delivered = [g for g in receiver.got if g.headers["X-Callbox-Event"] == "ticket.created"]
        assert len(delivered) == 1 and signed_by(secret, delivered[0])
        assert json.loads(delivered[0].body)["data"]["ticket"]["id"] == made["id"]
        await s.screenshot(path=ARTIFACTS / "desk-webhooks.png", full_page=True)
        # Sent again on request: the same delivery id, once more.
        delivery_id = await created.get_attribute("data-delivery-id")
        await created.locator('[data-f="redeliver"]').click()
        await until(lambda: len(with_id(receiver, delivery_id)) == 2)
        await expect(created.locator('[data-f="status"]')).to_have_attribute(
            "data-status", "delivered"
        )

        # Switched off, then deleted after a yes, its log with it.
        await wh_row.locator('[data-f="enabled"]').uncheck()
        await expect(wh_row.locator('[data-f="enabled-text"]')).to_have_text("已停用")
        assert (await call(s, "GET", "/api/console/webhooks"))["webhooks"][0]["enabled"] is False
        asked: list[str] = []
        await agree(s, asked)
        await s.locator('[data-cb="webhook-delete"]').click()
        await expect(wh_row).to_have_count(0)
        await expect(log).to_be_hidden()
        await expect(wh_form).to_be_hidden()
        assert asked and "“CRM”" in asked[0]
        assert (await call(s, "GET", "/api/console/webhooks"))["webhooks"] == []
    finally:
        for ctx in contexts:
            await ctx.close()
    assert not errors, errors
