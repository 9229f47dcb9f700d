"""Scorecards and quality review in Debian's Chromium: a supervisor adds a checklist,
draws a sample of an agent's unreviewed chats, reviews one beside its transcript,
reviews it again (the earlier review is marked as no longer counted), corrects the
later review and deletes the earlier one after a confirmation, adds a scorecard and
sees the agent ranked with the chart beside its table; the agent then sees their own
review (and who corrected it) and line, read only.

The finished chat and its report event are written into the box's database before it
starts (as the chat service and the triggers would have); it folds them at start.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time

import pytest
from playwright.async_api import Browser, Dialog, expect

from appliance.core.report_rollup import ReportEvent
from appliance.core.store import reports as report_store
from tests.browser.conftest import Appliance
from tests.browser.test_transfer import A_NAME, S_NAME, add_user, console_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CONV = "c_qa0001"
ASKED = "你好，我的宽带断了"
ANSWERED = "您好，我马上为您报修"


def _seed(appliance: Appliance) -> None:
    """One finished chat of the agent, answered (an event the rollups count)."""
    now = time.time_ns() // 1_000_000
    with contextlib.closing(sqlite3.connect(appliance.data_dir / "callbox.db")) as conn, conn:
        (agent_id,) = conn.execute("SELECT id FROM users WHERE username = 'wangfang'").fetchone()
        conn.execute(
            "INSERT INTO visitors (id, created_at, last_seen_at) VALUES ('v_qa0001', ?, ?)",
            (now - 120_000, now),
        )
        conn.execute(
            "INSERT INTO conversations (id, visitor_id, status, agent_id, last_seq,"
            " visitor_name, created_at, assigned_at, closed_at, closed_by)"
            " VALUES (?, 'v_qa0001', 'closed', ?, 2, '李雷', ?, ?, ?, 'agent')",
            (CONV, agent_id, now - 120_000, now - 110_000, now - 60_000),
        )
        for seq, (kind, name, body) in enumerate(
            [("visitor", "李雷", ASKED), ("agent", A_NAME, ANSWERED)], start=1
        ):
            conn.execute(
                "INSERT INTO messages (id, conversation_id, seq, sender_type, sender_name,"
                " body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (f"m_qa{seq}", CONV, seq, kind, name, body, now - 100_000 + seq),
            )
        report_store.add_event(
            conn,
            ReportEvent(
                0, now - 120_000, "chat_answered", agent_id, None, "", "chat", "", CONV, 20_000, ""
            ),
        )


async def test_review_a_chat_and_rank_the_agent(chromium: Browser, appliance: Appliance) -> None:
    await add_user(appliance, "chen", S_NAME, role="supervisor")
    await add_user(appliance, "wangfang", A_NAME)
    _seed(appliance)
    await appliance.start()
    errors: list[str] = []
    ctx, page = await console_for(chromium, appliance, "chen", errors, online=False)
    confirms: list[str] = []
    accept = [True]

    async def on_dialog(dialog: Dialog) -> None:
        confirms.append(dialog.message)
        await (dialog.accept() if accept[0] else dialog.dismiss())

    page.on("dialog", on_dialog)

    # A checklist: two items, the second critical.
    await page.goto(appliance.origin + "/console/scorecards")
    form = page.locator('[data-cb="qa-form"]')
    await form.locator('[data-cb="qa-name"]').fill("标准质检")
    await form.locator('[data-cb="qa-item-label"]').fill("问候语规范")
    await form.locator('[data-cb="qa-add-item"]').click()
    await form.locator('[data-cb="qa-item-label"]').nth(1).fill("解决方案正确")
    await form.locator('[data-cb="qa-item-points"]').nth(1).fill("15")
    await form.locator('[data-cb="qa-item-critical"]').nth(1).check()
    await form.locator('[data-cb="qa-save"]').click()
    await expect(page.locator('[data-cb="qa-checklists"] tbody tr')).to_have_count(1)
    await expect(page.locator('[data-cb="qa-checklists"]')).to_contain_text("解决方案正确")

    # A sample of the agent's unreviewed chats: the one chat; open its review.
    sample = page.locator('[data-cb="qa-sample-form"]')
    await sample.locator('[data-cb="qa-agent"]').select_option(label=A_NAME)
    await sample.locator('button[type="submit"]').click()
    await expect(page.locator('[data-cb="qa-sample"] tbody tr')).to_have_count(1)
    await page.locator('[data-cb="qa-review-link"]').click()
    await page.wait_for_url(f"**/console/history/{CONV}/review")
    await expect(page.locator('[data-cb="transcript"]')).to_contain_text(ASKED)
    await expect(page.locator('[data-cb="transcript"]')).to_contain_text(ANSWERED)
    given = page.locator('[data-cb="qa-given"]')
    await expect(given).to_have_count(2)
    await given.first.fill("0")  # no greeting: 15 of 20 points
    await expect(page.locator('[data-cb="qa-total"]')).to_have_text("得分：75")
    await page.locator('[data-cb="qa-comment"]').fill("解决及时，缺少问候语")
    await page.locator('[data-cb="qa-submit"]').click()
    await expect(page.locator('[data-cb="qa-status"]')).to_have_text("质检已保存。")
    done = page.locator('[data-cb="qa-done-item"]')
    await expect(done).to_have_count(1)
    await expect(done.first).to_contain_text("75")

    # Reviewed again with full points: the new review counts, the first one is listed
    # as no longer counted.
    await expect(page.locator('[data-cb="qa-total"]')).to_have_text("得分：100")
    await page.locator('[data-cb="qa-comment"]').fill("复核")
    await page.locator('[data-cb="qa-submit"]').click()
    await expect(done).to_have_count(2)
    await expect(done.nth(0)).to_contain_text("100")
    await expect(done.nth(0).locator('[data-cb="qa-superseded"]')).to_have_count(0)
    await expect(done.nth(1).locator('[data-cb="qa-superseded"]')).to_contain_text("不计分")

    # Correct the new review: the sheet shows its own items, scores and comment.
    await done.nth(0).locator('[data-cb="qa-done-edit"]').click()
    await expect(page.locator('[data-cb="qa-editing"]')).to_contain_text("按该次质检当时的评分项")
    await expect(page.locator('[data-cb="qa-checklist"]')).to_be_disabled()
    await expect(page.locator('[data-cb="qa-submit"]')).to_have_text("保存修改")
    await expect(given.first).to_have_value("5")
    await expect(given.nth(1)).to_have_value("15")
    await expect(page.locator('[data-cb="qa-comment"]')).to_have_value("复核")
    await given.first.fill("0")
    await expect(page.locator('[data-cb="qa-total"]')).to_have_text("得分：75")
    await page.locator('[data-cb="qa-comment"]').fill("解决及时，缺少问候语")
    await page.locator('[data-cb="qa-submit"]').click()
    await expect(page.locator('[data-cb="qa-status"]')).to_have_text("质检已修改。")
    await expect(page.locator('[data-cb="qa-editing"]')).to_be_hidden()
    await expect(page.locator('[data-cb="qa-submit"]')).to_have_text("保存质检")
    await expect(page.locator('[data-cb="qa-checklist"]')).to_be_enabled()
    await expect(done).to_have_count(2)
    await expect(done.nth(0)).to_contain_text("75")
    await expect(done.nth(0)).to_contain_text("解决及时，缺少问候语")
    edited = done.nth(0).locator('[data-cb="qa-edited"]')
    await expect(edited).to_contain_text(f"已由 {S_NAME} 于")

    # Editing can be called off; the sheet is a new review again.
    await done.nth(1).locator('[data-cb="qa-done-edit"]').click()
    await expect(page.locator('[data-cb="qa-cancel-edit"]')).to_be_visible()
    await page.locator('[data-cb="qa-cancel-edit"]').click()
    await expect(page.locator('[data-cb="qa-editing"]')).to_be_hidden()
    await expect(page.locator('[data-cb="qa-cancel-edit"]')).to_be_hidden()
    await expect(page.locator('[data-cb="qa-comment"]')).to_have_value("")

    # Delete the first review: a refused confirmation keeps it, an accepted one deletes.
    accept[0] = False
    async with page.expect_event("dialog"):
        await done.nth(1).locator('[data-cb="qa-done-delete"]').click()
    assert confirms[0].startswith("确定删除这条质检记录吗")
    await expect(done).to_have_count(2)
    accept[0] = True
    await done.nth(1).locator('[data-cb="qa-done-delete"]').click()
    await expect(page.locator('[data-cb="qa-status"]')).to_have_text("质检已删除。")
    await expect(done).to_have_count(1)  # the refused one deleted nothing
    await expect(done.first).to_contain_text("75")
    await expect(done.first.locator('[data-cb="qa-superseded"]')).to_have_count(0)
    assert len(confirms) == 2

    # The history list opens the same review page for an ended chat.
    await page.goto(appliance.origin + "/console/history")
    review = page.locator('[data-cb="history"] tbody tr [data-cb="qa-open"]')
    await expect(review).to_have_count(1)
    await expect(review).to_have_text("质检评分")
    await review.click()
    await page.wait_for_url(f"**/console/history/{CONV}/review")
    await expect(page.locator('[data-cb="qa-done"] li')).to_contain_text("75")

    # A scorecard: answered (target 2) 50 %, quality (target 100) 50 %.
    await page.goto(appliance.origin + "/console/scorecards")
    card = page.locator('[data-cb="sc-card-form"]')
    await card.locator('[data-cb="sc-name"]').fill("周考核")
    await card.locator('[data-cb="sc-item-weight"]').fill("50")
    await card.locator('[data-cb="sc-item-target"]').fill("2")
    await card.locator('[data-cb="sc-add-item"]').click()
    await card.locator('[data-cb="sc-item-figure"]').nth(1).select_option("quality")
    await card.locator('[data-cb="sc-item-weight"]').nth(1).fill("50")
    await card.locator('[data-cb="sc-item-target"]').nth(1).fill("100")
    await expect(card.locator('[data-cb="sc-weight-sum"]')).to_contain_text("100%")
    await card.locator('[data-cb="sc-save"]').click()
    # Ranked: answered 1 of 2 -> 50, quality 75 -> 75: (50*50 + 75*50) / 100 = 62.5.
    side = page.locator('[data-cb="sc-pair"] [data-cb="table"] tbody tr')
    await expect(side).to_have_count(1)
    await expect(side.first.locator("td")).to_have_text(["1", A_NAME, "62.5"])
    await expect(page.locator('[data-cb="sc-pair"] canvas').first).to_be_visible()
    drawn = await page.evaluate(
        """() => {
          const el = document.querySelector('[data-cb="sc-pair"] [data-cb="chart"]');
          const opt = echarts.getInstanceByDom(el).getOption();
          return [opt.xAxis[0].data, opt.series[0].data];
        }"""
    )
    assert drawn == [[A_NAME], [62.5]]
    csv_link = await page.locator('[data-cb="sc-csv"]').get_attribute("href")
    assert csv_link and "/standings.csv?period=w" in csv_link
    await ctx.close()

    # The agent: their review and their line, and no editors.
    ctx, page = await console_for(chromium, appliance, "wangfang", errors, online=False)
    await page.locator('[data-cb="nav-scorecards"]').click()
    await page.wait_for_url("**/console/scorecards")
    reviews = page.locator('[data-cb="qa-reviews"]')
    await expect(reviews).to_have_attribute("data-count", "1")
    await expect(reviews).to_contain_text("解决及时，缺少问候语")
    await expect(reviews).to_contain_text("75")
    await expect(reviews).to_contain_text(f"已由 {S_NAME} 于")
    await expect(page.locator('[data-cb="qa-form"]')).to_have_count(0)
    await expect(page.locator('[data-cb="sc-card-form"]')).to_have_count(0)
    own = page.locator('[data-cb="sc-pair"] [data-cb="table"] tbody tr')
    await expect(own).to_have_count(1)
    await expect(own.first.locator("td")).to_have_text(["1", A_NAME, "62.5"])
    # Their chat in the history list, without the review link (overseers only).
    await page.goto(appliance.origin + "/console/history")
    await expect(page.locator('[data-cb="history"] tbody tr')).to_have_count(1)
    await expect(page.locator('[data-cb="qa-open"]')).to_have_count(0)
    await ctx.close()
    assert errors == []
