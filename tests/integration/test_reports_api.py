"""Reports over HTTP on a real appliance: a chat, a rating, a ticket and a presence go
through the real services, the triggers record them, a pass folds them, and the API,
the CSV and the staffing plan give them back to supervisors only."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from typing import Any

from tests.conftest import receive_until


def _today() -> str:
    return datetime.now(tz=UTC).astimezone().date().isoformat()


async def closed_chat(agent: Any, make_visitor: Any) -> tuple[str, Any]:
    """A visitor's chat the agent answered and closed; its id and the visitor."""
    aws = await agent.ws()
    visitor = await make_visitor()
    conv = await visitor.open(name="李雷")
    await receive_until(
        aws, lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "active"
    )
    await aws.send_json(
        {"type": "send", "conversation_id": conv["id"], "client_msg_id": "a1", "body": "您好"}
    )
    await receive_until(aws, lambda f: f["type"] == "ack")
    await agent.post(f"/api/console/conversations/{conv['id']}/close")
    await aws.close()
    return str(conv["id"]), visitor


async def _one_chat(make_agent: Any, make_visitor: Any) -> Any:
    agent = await make_agent("wangfang")
    conv_id, visitor = await closed_chat(agent, make_visitor)
    status, _, _ = await visitor.request(
        "POST", f"/api/visitor/conversations/{conv_id}/rating", {"score": 5}
    )
    assert status in (200, 201)
    return agent


async def test_a_day_of_real_work_in_the_report(running, make_agent, make_visitor) -> None:
    agent = await _one_chat(make_agent, make_visitor)
    boss = await make_agent("boss", role="supervisor", status=None)
    made = await boss.post(
        "/api/console/tickets", {"subject": "宽带报修", "channel": "phone"}, status=201
    )
    tid = made["ticket"]["id"]
    await boss.call("PATCH", f"/api/console/tickets/{tid}", {"owner_id": agent.user_id})
    await agent.post(f"/api/console/tickets/{tid}/state", {"to": "resolved"})
    await agent.post("/api/console/presence", {"status": "away"})
    await running.box.reports.roll()

    today = _today()
    page = await boss.get(f"/api/console/reports?period=d&start={today}&end={today}")
    assert [r["bucket"] for r in page["rows"]] == [today]
    values = page["rows"][0]["values"]
    assert (values["offered"], values["answered"], values["abandoned"]) == (1, 1, 0)
    assert values["first_response"] is not None and values["handling"] is not None
    assert (values["rating_count"], values["rating_mean"], values["rating_good"]) == (1, 5.0, 100.0)
    assert (values["tickets_created"], values["tickets_resolved"], values["backlog"]) == (1, 1, 0)
    assert values["fcr"] == 100.0  # resolved without a public reply
    assert values["online_hours"] >= 0 and page["rolled_at"] is not None
    assert {f["id"] for f in page["figures"]} >= {"offered", "queue_wait_p90", "occupancy"}

    per_agent = await boss.get(f"/api/console/reports?dim=agent&start={today}&end={today}")
    mine = next(r for r in per_agent["rows"] if r["key"] == str(agent.user_id))
    assert mine["name"] == "wangfang" and mine["values"]["answered"] == 1
    per_channel = await boss.get(f"/api/console/reports?dim=channel&period=m&end={today}")
    assert {r["key"] for r in per_channel["rows"]} == {"chat", "phone"}

    # Agents may not see reports; a bad question is a 422 with a code.
    await agent.get("/api/console/reports", status=403)
    await agent.get("/console/reports".replace("/console", "/api/console") + ".csv", status=403)
    for bad in ("period=y", "dim=planet", "start=2026-02-30", "start=2026-03-02&end=2026-03-01"):
        answer = await boss.get(f"/api/console/reports?{bad}", status=422)
        assert answer["error"]["code"] == "invalid", bad


async def test_csv_is_excel_ready_and_defuses_formulas(running, make_agent) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    evil = await running.box.accounts.create_user("evil", "x" * 12, "agent", display_name="=cmd|x")
    # A presence change gives the agent a row: the online time is folded at the next one.
    # (Two changes in the same millisecond would leave no online time: 20 ms apart.)
    for status in ("online", "away"):
        await running.box.accounts.set_status(evil.id, status)
        await asyncio.sleep(0.02)
    await running.box.reports.roll()
    async with boss.http.get(running.url("/api/console/reports.csv?dim=agent")) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert "attachment" in r.headers["Content-Disposition"]
        body = await r.read()
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["时段", "坐席", "进线会话"]  # the page's language: zh-CN
    assert "'=cmd|x" in [r[1] for r in rows[1:]]  # the formula is text, whoever else has a row
    assert "=cmd|x" not in [r[1] for r in rows[1:]]
    assert {len(r) for r in rows} == {31}  # period, key, 29 figures


async def test_the_staffing_plan_and_its_csv(running, make_agent) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    plan = await boss.get("/api/console/reports/plan?level=80&target=20&concurrency=2&aht=180")
    assert len(plan["slots"]) == 14 * 48
    assert plan["aht"] == 180 and plan["aht_from_history"] is False
    assert plan["wape"] is None  # no history yet to hold out
    assert all(s["agents"] == 0 and s["expected"] == 0 for s in plan["slots"])
    await boss.get("/api/console/reports/plan?level=100", status=422)
    async with boss.http.get(running.url("/api/console/reports/plan.csv")) as r:
        body = await r.read()
    assert body.startswith(b"\xef\xbb\xbf") and body.count(b"\r\n") == 14 * 48 + 1


async def test_the_funnel_over_http(running, make_agent) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    page = await boss.get("/api/console/reports/funnel?by=landing")
    assert page["by"] == "landing" and page["rows"] == []
    answer = await boss.get("/api/console/reports/funnel?by=planet", status=422)
    assert answer["error"]["code"] == "invalid"
    async with boss.http.get(running.url("/api/console/reports/funnel.csv")) as r:
        assert (
            await r.read()
        ) == "\ufeff来源、关键词或页面,访问,已邀请,会话,工单,线索\r\n".encode()
    agent = await make_agent("li", status=None)
    await agent.get("/api/console/reports/funnel", status=403)


async def test_the_page_is_for_overseers(running, make_agent) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    async with boss.http.get(running.url("/console/reports")) as r:
        assert r.status == 200
        page = await r.text()
    assert "echarts-6.1.0.common.min.js" in page and 'data-cb="rep-figures"' in page
    assert "首次响应" in page  # a figure's name, and its definition beside it
    agent = await make_agent("li", status=None)
    async with agent.http.get(running.url("/console/reports"), allow_redirects=False) as r:
        assert r.status == 403
