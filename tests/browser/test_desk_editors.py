"""The service desk's editors in Debian's Chromium, against a real appliance.

A supervisor makes an SLA policy through its page (conditions, targets in hours and
minutes, a group's opening hours, holidays, a warning share and two escalation
levels); a target of no time at all shows the API's refusal in the form first; the
API then returns the policy as entered, and the list reorders it. On the rules page
the supervisor writes a trigger, previews it (the one ticket it matches, linked),
saves it, and a new ticket that matches gets its actions; a timed rule that would act
again every minute is refused as a loop, in the form, and saved once per ticket.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Dialog, Locator, Page, expect

from tests.browser.conftest import Appliance
from tests.browser.test_transfer import ARTIFACTS, S_NAME, TOPBAR, WAIT, add_user, console_for

pytestmark = pytest.mark.browser

GROUP = "售后"
WEEKDAYS = {
    day: [["09:00", "12:00"], ["13:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
}
FORM = '[data-cb="policy-form"]'
# The console's own API client is not on the page's window; set-up and check calls go
# through fetch with the page's CSRF token, as the console's scripts send them.
API_JS = """async ([method, path, body]) => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const init = {method, headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token}};
  if (method !== 'GET') init.body = JSON.stringify(body);
  const r = await fetch(path, init);
  if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
  return r.json();
}"""
RULE_FORM = '[data-cb="rule-form"]'


async def call(page: Page, method: str, path: str, body: Any = None) -> Any:
    """A set-up or check call through the page's session, as the console makes them."""
    return await page.evaluate(API_JS, [method, path, body])


async def tick(container: Locator, label: str) -> None:
    await container.locator("label.check", has_text=label).locator("input").check()


async def test_a_policy_made_on_its_page_is_the_one_the_api_returns(
    chromium: Browser, appliance: Appliance
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
        group = (
            await call(
                s,
                "POST",
                "/api/console/groups",
                {"name": GROUP, "hours": WEEKDAYS, "holidays": ["2026-10-01"]},
            )
        )["group"]
        # The top bar leads there for a supervisor.
        await s.locator('[data-cb="nav-settings"] summary').click()
        await s.locator(f"{TOPBAR}[href='/console/sla-policies']").click()
        await s.wait_for_url("**/console/sla-policies")
        await expect(s.locator('[data-cb="policies-empty"]')).to_be_visible()

        # ---- N opens the form; the conditions come from the box's lists ----
        await s.locator("h1").click()
        await s.keyboard.press("n")
        form = s.locator(FORM)
        await expect(form).to_be_visible()
        await expect(s.locator('[data-cb="policy-form-title"]')).to_have_text("新建 SLA 策略")
        await expect(s.locator('[data-cb="policy-name"]')).to_be_focused()
        await s.locator('[data-cb="policy-name"]').fill("VIP 客户")
        await tick(s.locator('[data-cb="cond-groups"]'), GROUP)
        await tick(s.locator('[data-cb="cond-types"]'), "投诉")
        await tick(s.locator('[data-cb="cond-priorities"]'), "紧急")
        await tick(s.locator('[data-cb="cond-tiers"]'), "VIP")

        targets = s.locator('[data-cb="target"]')
        await expect(targets).to_have_count(3)
        first = s.locator('[data-cb="target"][data-metric="first_response"]')
        await expect(first.locator('[data-f="metric"]')).to_have_text("首次响应")
        # A bad value first: no time at all is no target the API takes.
        await first.locator('[name="h"]').fill("0")
        await first.locator('[name="m"]').fill("0")
        await s.locator('[data-cb="policy-save"]').click()
        error = s.locator('[data-cb="policy-error"]')
        await expect(error).to_be_visible()
        await expect(error.locator("strong")).to_have_text(
            "时效目标须在 1 分钟到 365 天之间（已标出）。"
        )
        await expect(error.locator(".detail")).to_have_text(
            re.compile(r"first_response .*between 1 and")
        )
        await expect(first).to_have_class(re.compile(r"\brefused\b"))
        await expect(s.locator('[data-cb="policies-empty"]')).to_be_visible()  # nothing saved
        await s.screenshot(path=ARTIFACTS / "sla-policy-refused.png", full_page=True)

        # ---- the targets in hours and minutes ----
        await first.locator('[name="h"]').fill("1")
        await s.locator('[data-cb="target"][data-metric="next_response"] [name="h"]').fill("2")
        resolution = s.locator('[data-cb="target"][data-metric="resolution"]')
        await resolution.locator('[name="h"]').fill("16")
        await resolution.locator('[name="m"]').fill("30")
        await s.locator('[data-cb="policy-warn"]').fill("75")

        # ---- the group's opening hours and holidays, one more holiday ----
        await s.locator('[data-cb="calendar-hours"]').check()
        await expect(s.locator('[data-cb="policy-days"]')).to_be_visible()
        await s.locator('[data-cb="copy-group"]').select_option(label=GROUP)
        await s.locator('[data-cb="copy-hours"]').click()
        await expect(form.locator('[name="day-mon"]')).to_have_value("09:00-12:00, 13:00-18:00")
        await expect(form.locator('[name="day-sat"]')).to_have_value("")
        holidays = form.locator('[name="holidays"]')
        await expect(holidays).to_have_value("2026-10-01")
        await holidays.fill("2026-10-01\n2026-10-02")
        await form.locator('[name="day-sat"]').fill("9:00-12:00")

        # ---- two escalation levels ----
        add = s.locator('[data-cb="level-add"]')
        await add.click()
        await add.click()
        levels = s.locator('[data-cb="level"]')
        await expect(levels).to_have_count(2)
        one, two = levels.nth(0), levels.nth(1)
        await one.locator('[name="metric"]').select_option(label="首次响应")
        await one.locator('[name="when"]').select_option(label="截止前")
        await one.locator('[name="m"]').fill("10")
        await one.locator('[name="action"]').select_option(label="通知组主管")
        await expect(one.locator('[name="group_id"]')).to_be_hidden()
        await two.locator('[name="metric"]').select_option(label="解决")
        await two.locator('[name="when"]').select_option(label="截止后")
        await two.locator('[name="h"]').fill("1")
        await two.locator('[name="m"]').fill("30")
        await two.locator('[name="action"]').select_option(label="转到客服组")
        await two.locator('[name="group_id"]').select_option(label=GROUP)

        await s.locator('[data-cb="policy-save"]').click()
        await expect(s.locator('[data-cb="policy-ok"]')).to_be_visible()
        await expect(error).to_be_hidden()
        await expect(first).not_to_have_class(re.compile(r"\brefused\b"))
        rows = s.locator('[data-cb="policy-row"]')
        await expect(rows).to_have_count(1)
        await expect(rows.locator('[data-f="targets"]')).to_have_text(
            "首次响应 1 小时 · 再次响应 2 小时 · 解决 16 小时 30 分钟"
        )
        await expect(rows.locator('[data-f="conditions"]')).to_have_text(
            f"客服组：{GROUP}；类型：投诉；优先级：紧急；客户等级：VIP"
        )
        await expect(rows.locator('[data-f="calendar"]')).to_have_text("营业时间内 · 2 个节假日")
        await expect(rows.locator('[data-f="levels"]')).to_have_text("2 级")

        # ---- the API returns it as entered ----
        (saved,) = (await call(s, "GET", "/api/console/sla-policies"))["policies"]
        assert saved["name"] == "VIP 客户" and saved["enabled"] is True
        assert saved["targets"] == {"first_response": 60, "next_response": 120, "resolution": 990}
        assert saved["warn_share"] == 0.75
        assert saved["conditions"] == {
            "group_ids": [group["id"]],
            "types": ["投诉"],
            "priorities": ["urgent"],
            "tiers": ["vip"],
        }
        assert saved["hours"] == {**WEEKDAYS, "sat": [["09:00", "12:00"]]}
        assert saved["holidays"] == ["2026-10-01", "2026-10-02"]
        assert saved["levels"] == [
            {"metric": "first_response", "offset_minutes": -10, "action": "notify_manager"},
            {
                "metric": "resolution",
                "offset_minutes": 90,
                "action": "reassign_group",
                "group_id": group["id"],
            },
        ]

        # ---- a catch-all, then the order: the arrows move a policy up ----
        await s.keyboard.press("Escape")
        await expect(form).to_be_hidden()
        await s.locator('[data-cb="policy-new"]').click()
        await s.locator('[data-cb="policy-name"]').fill("全部")
        await first.locator('[name="h"]').fill("4")
        await s.locator('[data-cb="policy-name"]').press("Control+Enter")
        await expect(rows).to_have_count(2)
        await expect(rows.locator('[data-f="name"]')).to_have_text(["VIP 客户", "全部"])
        await expect(rows.nth(1).locator('[data-f="conditions"]')).to_have_text("所有工单")
        await rows.nth(1).locator('[data-f="up"]').click()
        await expect(rows.locator('[data-f="name"]')).to_have_text(["全部", "VIP 客户"])
        # The keyboard stays on the moved policy (now first: its up arrow is off).
        await expect(rows.nth(0).locator('[data-f="down"]')).to_be_focused()
        listed = (await call(s, "GET", "/api/console/sla-policies"))["policies"]
        assert [p["name"] for p in listed] == ["全部", "VIP 客户"]

        # ---- editing shows what was saved; a taken name is said in words ----
        await rows.nth(1).locator('[data-f="edit"]').click()
        await expect(s.locator('[data-cb="policy-name"]')).to_have_value("VIP 客户")
        await expect(resolution.locator('[name="h"]')).to_have_value("16")
        await expect(resolution.locator('[name="m"]')).to_have_value("30")
        await expect(s.locator('[data-cb="policy-warn"]')).to_have_value("75")
        await expect(levels.nth(0).locator('[name="m"]')).to_have_value("10")
        await expect(levels.nth(1).locator('[name="group_id"]')).to_be_visible()
        await s.locator('[data-cb="policy-name"]').fill("全部")
        await s.locator('[data-cb="policy-save"]').click()
        await expect(error.locator("strong")).to_have_text("已有同名的策略，请换一个名称。")
        await expect(s.locator('[data-cb="policy-name"]')).to_have_attribute("aria-invalid", "true")
        await s.screenshot(path=ARTIFACTS / "sla-policies.png", full_page=True)

        # ---- the catch-all is deleted after a yes ----
        await s.locator('[data-cb="policy-cancel"]').click()
        await expect(form).to_be_hidden()
        await rows.nth(0).locator('[data-f="edit"]').click()
        await expect(s.locator('[data-cb="policy-name"]')).to_have_value("全部")
        asked: list[str] = []

        async def yes(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await dialog.accept()

        s.once("dialog", yes)
        await s.locator('[data-cb="policy-delete"]').click()
        await expect(form).to_be_hidden()
        await expect(rows.locator('[data-f="name"]')).to_have_text(["VIP 客户"])
        assert asked and "“全部”" in asked[0]
        listed = (await call(s, "GET", "/api/console/sla-policies"))["policies"]
        assert [p["name"] for p in listed] == ["VIP 客户"]
    finally:
        for ctx in contexts:
            await ctx.close()
    assert not errors, errors


async def add_condition(page: Page, field: str, op: str) -> Locator:
    """Add a condition to "all of these" and choose its field and comparison."""
    await page.locator('[data-cb="cond-all-add"]').click()
    row = page.locator('[data-cb="cond-all"] [data-cb="condition"]').last
    await row.locator('[name="field"]').select_option(label=field)
    await row.locator('[name="op"]').select_option(label=op)
    return row


async def test_a_rule_is_previewed_saved_and_acts_and_a_loop_is_refused(
    chromium: Browser, appliance: Appliance
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
        jammed = (await call(s, "POST", "/api/console/tickets", {"subject": "打印机卡纸"}))[
            "ticket"
        ]
        await call(s, "POST", "/api/console/tickets", {"subject": "网络很慢"})
        # The ticket list leads there for a supervisor.
        await s.goto(appliance.origin + "/console/tickets")
        await s.locator('[data-cb="desk-links"] a[href="/console/ticket-rules"]').click()
        await s.wait_for_url("**/console/ticket-rules")
        await expect(s.locator('[data-cb="triggers-empty"]')).to_be_visible()

        # ---- a trigger: printer tickets become urgent and tagged ----
        await s.locator('[data-cb="rule-new"]').click()
        form = s.locator(RULE_FORM)
        await expect(form).to_be_visible()
        await s.locator('[data-cb="rule-name"]').fill("打印机工单加急")
        await expect(s.locator('[data-cb="kind-trigger"]')).to_be_checked()
        on = s.locator('[data-cb="rule-on"] input:checked')
        await expect(on).to_have_count(1)  # on creation, to start with
        subject = await add_condition(s, "主题", "包含")
        await subject.locator('[name="value"]').fill("打印机")
        priority = await add_condition(s, "优先级", "不是")
        await priority.locator('[name="value"]').select_option(label="紧急")
        actions = s.locator('[data-cb="action"]')
        await expect(actions).to_have_count(1)
        await actions.nth(0).locator('[name="field"]').select_option(label="优先级")
        await actions.nth(0).locator('[name="value"]').select_option(label="紧急")
        await s.locator('[data-cb="action-add"]').click()
        await actions.nth(1).locator('[name="field"]').select_option(label="添加标签")
        await actions.nth(1).locator('[name="value"]').fill("打印机")

        # Preview: the one unfinished ticket it matches now, linked by its number.
        await s.locator('[data-cb="rule-preview"]').click()
        await expect(s.locator('[data-cb="preview-count"]')).to_have_text(
            "现在有 1 个未完结工单符合条件："
        )
        link = s.locator('[data-cb="preview-link"]')
        await expect(link).to_have_count(1)
        await expect(link).to_have_text(jammed["number"])
        await expect(link).to_have_attribute("href", f"/console/tickets/{jammed['id']}")
        await expect(s.locator('[data-cb="preview-ticket"] .subject')).to_have_text("打印机卡纸")
        assert (await call(s, "GET", "/api/console/ticket-rules"))["rules"] == []  # not saved

        await s.locator('[data-cb="rule-save"]').click()
        await expect(s.locator('[data-cb="rule-ok"]')).to_be_visible()
        triggers = s.locator('[data-cb="trigger-rows"] [data-cb="rule-row"]')
        await expect(triggers).to_have_count(1)
        await expect(triggers.locator('[data-f="when"]')).to_have_text("创建时")
        await expect(triggers.locator('[data-f="conditions"]')).to_have_text(
            "主题 包含 “打印机”，且 优先级 不是 紧急"
        )
        await expect(triggers.locator('[data-f="actions"]')).to_have_text(
            "优先级设为紧急；添加标签 打印机"
        )
        await expect(s.locator('[data-cb="kind-timed"]')).to_be_disabled()

        # A new ticket that matches gets the rule's actions, in its own creation.
        made = (await call(s, "POST", "/api/console/tickets", {"subject": "二楼打印机坏了"}))[
            "ticket"
        ]
        assert made["priority"] == "urgent" and made["tags"] == ["打印机"]
        other = (await call(s, "POST", "/api/console/tickets", {"subject": "网络又慢了"}))["ticket"]
        assert other["priority"] == "normal" and other["tags"] == []

        # ---- a timed rule that would act every minute is refused as a loop ----
        await s.keyboard.press("Escape")
        await expect(form).to_be_hidden()
        await s.locator("h1").click()
        await s.keyboard.press("n")
        await s.locator('[data-cb="rule-name"]').fill("等待客户提醒")
        await s.locator('[data-cb="kind-timed"]').check()
        await expect(s.locator('[data-cb="rule-events"]')).to_be_hidden()
        state = await add_condition(s, "状态", "是")
        await state.locator('[name="value"]').select_option(label="等待客户")
        hours = await add_condition(s, "处于当前状态", "大于")
        await hours.locator('[name="value"]').fill("72")
        note = actions.nth(0)
        await note.locator('[name="type"]').select_option(label="添加内部备注")
        await note.locator('[name="text"]').fill("客户 72 小时未回复，请跟进")
        await s.locator('[data-cb="rule-save"]').click()
        error = s.locator('[data-cb="rule-error"]')
        await expect(error).to_have_attribute("data-refusal", "ruleLoopsAlone")
        await expect(error.locator("strong")).to_have_text(
            re.compile(r"^已拒绝：这条定时规则会每分钟对同一个工单重复执行（循环）。")
        )
        await expect(error.locator(".detail")).to_contain_text("once_per_ticket")
        once = s.locator('[data-cb="rule-once"]')
        await expect(once).to_have_class(re.compile(r"\brefused\b"))
        await s.screenshot(path=ARTIFACTS / "ticket-rule-loop.png", full_page=True)
        assert len((await call(s, "GET", "/api/console/ticket-rules"))["rules"]) == 1
        # Once per ticket, it may act and stop.
        await once.locator("input").check()
        await s.locator('[data-cb="rule-save"]').click()
        await expect(s.locator('[data-cb="rule-ok"]')).to_be_visible()
        await expect(error).to_be_hidden()
        timed = s.locator('[data-cb="timed-rows"] [data-cb="rule-row"]')
        await expect(timed.locator('[data-f="when"]')).to_have_text("每分钟检查，每个工单一次")

        # ---- switched off in the list ----
        switch = triggers.locator('[data-f="enabled"]')
        await switch.uncheck()
        await expect(triggers.locator('[data-f="enabled-text"]')).to_have_text("已停用")
        await expect(triggers).to_have_class(re.compile(r"\boff\b"))
        rules = (await call(s, "GET", "/api/console/ticket-rules"))["rules"]
        assert [(r["name"], r["enabled"]) for r in rules] == [
            ("打印机工单加急", False),
            ("等待客户提醒", True),
        ]
        assert rules[1]["once_per_ticket"] is True
        assert rules[1]["conditions"]["all"] == [
            {"field": "state", "op": "is", "value": "pending"},
            {"field": "hours_in_state", "op": "gt", "value": 72},
        ]
        await s.screenshot(path=ARTIFACTS / "ticket-rules.png", full_page=True)
    finally:
        for ctx in contexts:
            await ctx.close()
    assert not errors, errors
