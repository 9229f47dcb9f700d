"""The reports page in Debian's Chromium: a supervisor sees a chart drawn (a canvas)
beside a table of the same numbers, switches to weeks, opens a figure's definition and
downloads the CSV, whose numbers are the table's.

The box's events are written into its database before it starts (as the triggers would
have written them); it folds them at start.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import sqlite3
import time
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, expect

from appliance.core.report_rollup import ReportEvent
from appliance.core.store import reports as report_store
from tests.browser.conftest import Appliance
from tests.browser.test_transfer import S_NAME, add_user, console_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def _seed(appliance: Appliance) -> None:
    now = time.time_ns() // 1_000_000
    events = [
        *(("chat_offered", None, None) for _ in range(3)),
        ("chat_answered", 1, 30_000),
        ("chat_answered", 1, 50_000),
        ("chat_abandoned", None, 90_000),
        ("rating", 1, 5),
    ]
    with contextlib.closing(sqlite3.connect(appliance.data_dir / "callbox.db")) as conn, conn:
        for kind, agent, value in events:
            report_store.add_event(
                conn, ReportEvent(0, now, kind, agent, 1, "", "chat", "", "c1", value, "")
            )


async def test_reports_chart_table_week_definition_and_csv(
    chromium: Browser, appliance: Appliance
) -> None:
    await add_user(appliance, "chen", S_NAME, role="supervisor")
    _seed(appliance)
    await appliance.start()
    errors: list[str] = []
    ctx, page = await console_for(chromium, appliance, "chen", errors, online=False)
    await page.goto(appliance.origin + "/console/reports")
    root = page.locator('[data-cb="reports"]')
    await expect(root).to_have_attribute("data-loaded", "1")
    volume = page.locator('[data-cb="rep-volume"]')
    await expect(volume.locator("canvas").first).to_be_visible()
    today = datetime.now(tz=UTC).astimezone().date().isoformat()
    row = volume.locator('[data-cb="table"] tbody tr', has_text=today)
    await expect(row.locator("td")).to_have_text([today, "3", "2", "1"])
    # The chart draws the numbers of its table (ECharts' own model of the option).
    drawn = await page.evaluate(
        """(day) => {
          const el = document.querySelector('[data-cb="rep-volume"] [data-cb="chart"]');
          const opt = echarts.getInstanceByDom(el).getOption();
          const i = opt.xAxis[0].data.indexOf(day);
          return opt.series.map((s) => s.data[i]);
        }""",
        today,
    )
    assert drawn == [3, 2, 1]
    share = page.locator('[data-cb="rep-share"]')
    await expect(share.locator("canvas").first).to_be_visible()
    await expect(share.locator('[data-cb="table"] tbody tr').first.locator("td")).to_have_text(
        ["已接待", "2"]
    )

    # Weeks: the buckets become ISO weeks.
    await page.locator('[data-cb="rep-period"]').select_option("w")
    await expect(root).to_have_attribute("data-loaded", "2")
    this_week = volume.locator('[data-cb="table"] tbody tr').last.locator("td")
    await expect(this_week).to_have_text([re.compile(r"^\d{4}-W\d{2}$"), "3", "2", "1"])
    week_label = await this_week.first.text_content()

    # A figure's definition is one click away.
    await page.locator('[data-cb="rep-all"] button[data-figure="first_response"]').click()
    definition = page.locator('[data-cb="rep-def"]')
    await expect(definition).to_be_visible()
    await expect(definition).to_contain_text("首次回复")
    await page.locator('[data-cb="rep-all"] button[data-figure="concurrent_avg"]').click()
    await expect(definition).to_contain_text("时间加权平均")

    # The CSV has the table's numbers, with the BOM Excel needs.
    async with page.expect_download() as info:
        await page.locator('[data-cb="rep-csv"]').click()
    download = await info.value
    path = await download.path()
    body = path.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf") and b"\r\n" in body
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["时段", "整个中心", "进线会话"]
    week = next(r for r in rows[1:] if r[0] == week_label)
    assert week[2:6] == ["3", "2", "0", "1"]  # offered, answered, missed, abandoned
    assert errors == []
    await ctx.close()
