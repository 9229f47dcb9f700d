"""Scorecards and quality review over HTTP on a real appliance: a real chat is closed,
reviewed against a checklist, the checklist is edited (the review keeps its version
and score), and a scorecard ranks the agent from the report rollups and the review;
roles, 422s, the audit log and the CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from appliance.core.store import audit as audit_store
from tests.conftest import receive_until
from tests.integration.test_reports_api import _today, closed_chat

CHECKLIST = {
    "name": "标准质检",
    "items": [
        {"label": "问候语规范", "points": 5},
        {"label": "准确理解问题", "points": 10},
        {"label": "解决方案正确", "points": 15, "critical": True},
        {"label": "礼貌用语", "points": 5},
        {"label": "结束语", "points": 5},
    ],
}
CARD = {
    "name": "月度考核",
    "items": [
        {"figure": "answered", "weight": 50, "target": 2, "direction": "higher"},
        {"figure": "quality", "weight": 30, "target": 100, "direction": "higher"},
        {"figure": "rating_mean", "weight": 20, "target": 5, "direction": "higher"},
    ],
}


async def _closed_chat(agent: Any, make_visitor: Any) -> str:
    conv_id, _ = await closed_chat(agent, make_visitor)
    return conv_id


async def _actions(running: Any) -> list[str]:
    found = await running.box.db.read(
        lambda c: audit_store.newest_first(c, audit_store.Filter(), 100)
    )
    return [e.action for e in found]


async def test_review_a_chat_and_rank_the_agent(running, make_agent, make_visitor) -> None:
    agent = await make_agent("wangfang")
    conv_id = await _closed_chat(agent, make_visitor)
    boss = await make_agent("boss", role="supervisor", status=None)
    # A colleague with a chat of their own and no review, who ranks below.
    await agent.post("/api/console/presence", {"status": "away"})
    other = await make_agent("lisi")
    other_conv = await _closed_chat(other, make_visitor)

    # Agents may not keep checklists, review or draw samples.
    await agent.call("POST", "/api/console/qa/checklists", CHECKLIST, status=403)
    await agent.get("/api/console/qa/checklists", status=403)
    await agent.get(f"/api/console/qa/sample?agent_id={agent.user_id}", status=403)

    made = (await boss.call("POST", "/api/console/qa/checklists", CHECKLIST, status=201))[
        "checklist"
    ]
    assert made["version"] == 1 and made["items"][2]["critical"] is True

    # The finished chat's transcript offers the review to overseers only.
    for who, offered in ((boss, True), (agent, False)):
        async with who.http.get(running.url(f"/console/history/{conv_id}")) as r:
            assert r.status == 200
            assert ('data-cb="qa-open"' in await r.text()) is offered

    sample = await boss.get(f"/api/console/qa/sample?agent_id={agent.user_id}&n=5")
    assert [c["id"] for c in sample["chats"]] == [conv_id]  # not the colleague's chat
    assert other_conv != conv_id

    review = {
        "conversation_id": conv_id,
        "checklist_id": made["id"],
        "checklist_version": 1,
        "scores": [5, 10, 15, 0, 0],
        "comment": "回答准确，结束语缺失",
    }
    await agent.call("POST", "/api/console/qa/reviews", review, status=403)
    done = (await boss.call("POST", "/api/console/qa/reviews", review, status=201))["review"]
    assert done["score"] == 75.0 and done["critical_failed"] is False
    assert done["agent_id"] == agent.user_id and done["reviewer_name"] == "boss"
    sample = await boss.get(f"/api/console/qa/sample?agent_id={agent.user_id}")
    assert sample["chats"] == []  # reviewed: out of the sample

    # A score beyond an item's points, or a score list of the wrong length: 422.
    for scores in ([6, 10, 15, 5, 5], [5, 10]):
        answer = await boss.call(
            "POST", "/api/console/qa/reviews", {**review, "scores": scores}, status=422
        )
        assert answer["error"]["message"].startswith("bad_scores")

    # Editing the checklist moves it to version 2; the review keeps version 1 and 75.
    changed = {**CHECKLIST, "items": [*CHECKLIST["items"][:4], {"label": "结束语", "points": 45}]}
    again = await boss.call("PUT", f"/api/console/qa/checklists/{made['id']}", changed)
    assert again["checklist"]["version"] == 2
    stale = await boss.call("POST", "/api/console/qa/reviews", review, status=409)
    assert stale["error"]["code"] == "checklist_changed"
    kept = (await boss.get(f"/api/console/qa/reviews?conversation_id={conv_id}"))["reviews"]
    assert [(r["checklist_version"], r["score"]) for r in kept] == [(1, 75.0)]
    assert [i["points"] for i in kept[0]["items"]] == [5, 10, 15, 5, 5]

    # The agent reads their own reviews only, whatever they ask for.
    mine = await agent.get(f"/api/console/qa/reviews?agent_id={other.user_id}")
    assert [r["id"] for r in mine["reviews"]] == [done["id"]]
    assert (await other.get("/api/console/qa/reviews"))["reviews"] == []

    # The scorecard: answered 1 of 2 -> 50, quality 75 -> 75, no rating -> left out:
    # (50*50 + 75*30) / 80 = 59.375 -> 59.4.
    await agent.call("POST", "/api/console/scorecards", CARD, status=403)
    card = (await boss.call("POST", "/api/console/scorecards", CARD, status=201))["scorecard"]
    await running.box.reports.roll()
    today = _today()
    page = await boss.get(f"/api/console/scorecards/{card['id']}/standings?period=m&day={today}")
    assert page["label"] == today[:7]
    line = next(x for x in page["lines"] if x["agent_id"] == agent.user_id)
    assert line["values"] == [1, 75.0, None]
    assert line["points"] == [50.0, 75.0, None]
    assert line["excluded"] == ["rating_mean"] and line["score"] == 59.4
    assert line["rank"] == 1
    # The colleague: answered 1 of 2 -> 50, no review, no rating: 50 alone.
    second = page["lines"][1]
    assert (second["agent_id"], second["score"], second["rank"]) == (other.user_id, 50.0, 2)
    assert second["excluded"] == ["quality", "rating_mean"]

    # Each agent sees their own line alone, with its rank among all.
    own = await agent.get(f"/api/console/scorecards/{card['id']}/standings?period=m")
    assert [(x["agent_id"], x["rank"]) for x in own["lines"]] == [(agent.user_id, 1)]
    theirs = await other.get(f"/api/console/scorecards/{card['id']}/standings?period=m")
    assert [(x["agent_id"], x["rank"]) for x in theirs["lines"]] == [(other.user_id, 2)]

    async with boss.http.get(
        running.url(f"/api/console/scorecards/{card['id']}/standings.csv?period=m")
    ) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
        body = await r.read()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["排名", "坐席", "总分"] and "质检得分" in rows[0]
    assert rows[1][:3] == ["1", "wangfang", "59.4"] and rows[2][:3] == ["2", "lisi", "50.0"]

    actions = await _actions(running)
    for action in ("qa_checklist.create", "qa_checklist.update", "qa_review.create"):
        assert action in actions
    assert "scorecard.create" in actions


async def test_scorecard_edits_are_checked_and_audited(running, make_agent) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    card = (await boss.call("POST", "/api/console/scorecards", CARD, status=201))["scorecard"]
    path = f"/api/console/scorecards/{card['id']}"
    bad_weights = {**CARD, "items": CARD["items"][:2]}  # 80, not 100
    answer = await boss.call("PUT", path, bad_weights, status=422)
    assert answer["error"]["message"].startswith("bad_weights")
    for bad in (
        {**CARD, "name": "x" * 101},
        {**CARD, "name": "坏\u0000名"},
        {**CARD, "items": [{**CARD["items"][0], "figure": "salary", "weight": 100}]},
        {**CARD, "items": [{**CARD["items"][0], "weight": 100, "target": -1}]},
        {**CARD, "items": [CARD["items"][0]] * 31},
        {**CARD, "extra": 1},
    ):
        answer = await boss.call("PUT", path, bad, status=422)
        assert answer["error"]["code"] == "invalid", bad
    renamed = await boss.call("PUT", path, {**CARD, "name": "周考核"})
    assert renamed["scorecard"]["name"] == "周考核"
    await boss.call("DELETE", path)
    await boss.call("DELETE", path, status=404)
    await boss.get(f"{path}/standings", status=404)
    actions = await _actions(running)
    assert {"scorecard.create", "scorecard.update", "scorecard.delete"} <= set(actions)
    updated = await running.box.db.read(
        lambda c: audit_store.newest_first(c, audit_store.Filter(action="scorecard.update"), 5)
    )
    assert '"name_before":"月度考核"' in updated[0].detail and updated[0].user_name == "boss"


async def test_an_open_chat_is_not_reviewed(running, make_agent, make_visitor) -> None:
    agent = await make_agent("wangfang")
    aws = await agent.ws()
    visitor = await make_visitor()
    conv = await visitor.open(name="韩梅梅")
    await receive_until(
        aws, lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "active"
    )
    await aws.close()
    boss = await make_agent("boss", role="supervisor", status=None)
    made = (await boss.call("POST", "/api/console/qa/checklists", CHECKLIST, status=201))[
        "checklist"
    ]
    review = {
        "conversation_id": conv["id"],
        "checklist_id": made["id"],
        "checklist_version": 1,
        "scores": [5, 10, 15, 5, 5],
    }
    answer = await boss.call("POST", "/api/console/qa/reviews", review, status=409)
    assert answer["error"]["code"] == "conflict"
    missing = {**review, "conversation_id": "c_nope"}
    await boss.call("POST", "/api/console/qa/reviews", missing, status=404)
    # The review page is for overseers; an agent gets 403.
    async with agent.http.get(running.url(f"/console/history/{conv['id']}/review")) as r:
        assert r.status == 403
    async with boss.http.get(running.url(f"/console/history/{conv['id']}/review")) as r:
        assert r.status == 200 and 'data-cb="qa-sheet"' in await r.text()


async def test_an_agent_with_nothing_in_the_period_still_has_a_line(
    running, make_agent, make_visitor
) -> None:
    agent = await make_agent("wangfang")
    await _closed_chat(agent, make_visitor)
    idle = await make_agent("zhaoliu", status=None)  # signed up, no chat, no presence
    boss = await make_agent("boss", role="supervisor", status=None)
    card = (await boss.call("POST", "/api/console/scorecards", CARD, status=201))["scorecard"]
    await running.box.reports.roll()
    page = await boss.get(f"/api/console/scorecards/{card['id']}/standings?period=m")
    lines = {x["agent_id"]: x for x in page["lines"]}
    assert boss.user_id not in lines  # a supervisor is not ranked
    assert lines[agent.user_id]["rank"] == 1 and lines[agent.user_id]["score"] is not None
    last = lines[idle.user_id]
    assert last["rank"] == 2 and last["score"] is None  # no figure at all: no score
    assert last["values"] == [None, None, None]
