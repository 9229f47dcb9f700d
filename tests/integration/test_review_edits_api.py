"""Correcting and deleting quality reviews over HTTP on a real appliance, and the rule
that a chat reviewed twice counts once (the review saved last): the scores are checked
against the review's own copy of the checklist, agents may do neither, every change is
in the audit log, and a scorecard's quality figure follows a hand-computed mean."""

from __future__ import annotations

import json
from typing import Any

from appliance.core.store import audit as audit_store
from tests.integration.test_reports_api import _today, closed_chat
from tests.integration.test_scorecards_api import CHECKLIST

QUALITY_ONLY = {
    "name": "质检考核",
    "items": [{"figure": "quality", "weight": 100, "target": 100, "direction": "higher"}],
}


async def _audit(running: Any, action: str) -> list[Any]:
    return await running.box.db.read(
        lambda c: audit_store.newest_first(c, audit_store.Filter(action=action), 10)
    )


async def _review(boss: Any, conv_id: str, checklist: dict[str, Any], scores: list[int]) -> Any:
    body = {
        "conversation_id": conv_id,
        "checklist_id": checklist["id"],
        "checklist_version": checklist["version"],
        "scores": scores,
    }
    return (await boss.call("POST", "/api/console/qa/reviews", body, status=201))["review"]


async def test_a_review_is_corrected_and_deleted(running, make_agent, make_visitor) -> None:
    agent = await make_agent("wangfang")
    conv_id, _ = await closed_chat(agent, make_visitor)
    boss = await make_agent("boss", role="supervisor", status=None)
    chen = await make_agent("chen", role="supervisor", status=None)
    made = (await boss.call("POST", "/api/console/qa/checklists", CHECKLIST, status=201))[
        "checklist"
    ]
    done = await _review(boss, conv_id, made, [5, 10, 15, 0, 0])  # 30 of 40: 75
    assert (done["score"], done["edited_at"], done["editor_name"]) == (75.0, None, "")
    assert done["counts"] is True
    path = f"/api/console/qa/reviews/{done['id']}"

    # The checklist moves on to version 2 (the last item now worth 45 points); the
    # correction is still scored against the review's own version 1 items.
    changed = {**CHECKLIST, "items": [*CHECKLIST["items"][:4], {"label": "结束语", "points": 45}]}
    await boss.call("PUT", f"/api/console/qa/checklists/{made['id']}", changed)

    # An agent may neither correct nor delete, not even a review of their own chat.
    await agent.call("PUT", path, {"scores": [5, 10, 15, 5, 5]}, status=403)
    await agent.call("DELETE", path, status=403)

    # Refused input: a clear 4xx, and the review unchanged.
    for bad, code in (
        ({"scores": [5, 10, 15, 5, 6]}, "bad_scores"),  # 6 of 5 (version 2 would allow it)
        ({"scores": [5, 10, 15, 5]}, "bad_scores"),  # one score per item
        ({"scores": [5, 10, 15, 5, 5, 5]}, "bad_scores"),
    ):
        answer = await chen.call("PUT", path, bad, status=422)
        assert answer["error"]["message"].startswith(code), bad
    for bad in (
        {"scores": [5, 10, 15, 5, -1]},
        {"scores": [5, 10, 15, 5, "5"]},
        {"scores": [5, 10, 15, 5, 5], "comment": "长" * 2001},
        {"scores": [5, 10, 15, 5, 5], "checklist_version": 2},
        {"comment": "no scores"},
        [5, 10, 15, 5, 5],
    ):
        answer = await chen.call("PUT", path, bad, status=422)
        assert answer["error"]["code"] == "invalid", bad
    async with chen.http.put(
        running.url(path), data=b"{not json", headers={"X-CSRF-Token": chen.csrf}
    ) as r:
        assert 400 <= r.status < 500
    await chen.call("PUT", "/api/console/qa/reviews/999999", {"scores": [1]}, status=404)
    await chen.call("PUT", "/api/console/qa/reviews/abc", {"scores": [1]}, status=404)
    await chen.call("DELETE", "/api/console/qa/reviews/0", status=404)
    kept = (await boss.get(f"/api/console/qa/reviews?conversation_id={conv_id}"))["reviews"]
    assert [(r["score"], r["edited_at"]) for r in kept] == [(75.0, None)]

    # Another supervisor corrects it: 40 of 40 against version 1 -> 100 (against
    # version 2 it would be 40 of 80 -> 50).
    fixed = (await chen.call("PUT", path, {"scores": [5, 10, 15, 5, 5], "comment": "补上结束语"}))[
        "review"
    ]
    assert (fixed["id"], fixed["score"], fixed["critical_failed"]) == (done["id"], 100.0, False)
    assert fixed["checklist_version"] == 1 and [i["given"] for i in fixed["items"]] == [
        5,
        10,
        15,
        5,
        5,
    ]
    assert [i["points"] for i in fixed["items"]] == [5, 10, 15, 5, 5]
    assert (fixed["reviewer_name"], fixed["editor_name"]) == ("boss", "chen")
    assert fixed["edited_at"] and fixed["comment"] == "补上结束语"
    # A critical item corrected to 0 fails the review: 0.
    failed = (await chen.call("PUT", path, {"scores": [5, 10, 0, 5, 5]}))["review"]
    assert (failed["score"], failed["critical_failed"], failed["comment"]) == (0.0, True, "")
    # The agent sees the correction among their reviews.
    mine = (await agent.get("/api/console/qa/reviews"))["reviews"]
    assert [(r["id"], r["score"], r["editor_name"]) for r in mine] == [(done["id"], 0.0, "chen")]

    updates = await _audit(running, "qa_review.update")
    assert [e.user_name for e in updates] == ["chen", "chen"]
    assert updates[1].target == conv_id
    first = json.loads(updates[1].detail)
    assert first["id"] == done["id"] and first["agent_id"] == agent.user_id
    assert (first["score_before"], first["score"]) == (75.0, 100.0)
    assert (first["given_before"], first["given"]) == ([5, 10, 15, 0, 0], [5, 10, 15, 5, 5])
    assert first["comment_changed"] is True
    assert "补上结束语" not in updates[1].detail  # somebody's words stay out of the log

    # Deleting: once; then it is gone from the lists, and the chat may be sampled again.
    await boss.call("DELETE", path)
    await boss.call("DELETE", path, status=404)
    await chen.call("PUT", path, {"scores": [5, 10, 15, 5, 5]}, status=404)
    assert (await boss.get(f"/api/console/qa/reviews?conversation_id={conv_id}"))["reviews"] == []
    sample = await boss.get(f"/api/console/qa/sample?agent_id={agent.user_id}")
    assert [c["id"] for c in sample["chats"]] == [conv_id]
    deletes = await _audit(running, "qa_review.delete")
    assert [(e.user_name, e.target) for e in deletes] == [("boss", conv_id)]
    gone = json.loads(deletes[0].detail)
    assert gone["id"] == done["id"] and gone["score"] == 0.0 and gone["reviewer"] == "boss"
    assert gone["given"] == [5, 10, 0, 5, 5] and gone["checklist_version"] == 1


async def test_a_chat_reviewed_twice_counts_once(running, make_agent, make_visitor) -> None:
    agent = await make_agent("wangfang")
    chat_a, _ = await closed_chat(agent, make_visitor)
    chat_b, _ = await closed_chat(agent, make_visitor)
    boss = await make_agent("boss", role="supervisor", status=None)
    made = (await boss.call("POST", "/api/console/qa/checklists", CHECKLIST, status=201))[
        "checklist"
    ]
    card = (await boss.call("POST", "/api/console/scorecards", QUALITY_ONLY, status=201))[
        "scorecard"
    ]
    standings = f"/api/console/scorecards/{card['id']}/standings?period=m&day={_today()}"

    async def quality() -> Any:
        page = await boss.get(standings)
        line = next(x for x in page["lines"] if x["agent_id"] == agent.user_id)
        return line["values"][0]

    first_a = await _review(boss, chat_a, made, [5, 5, 10, 0, 0])  # 20 of 40: 50
    await _review(boss, chat_b, made, [5, 10, 15, 5, 5])  # 100
    last_a = await _review(boss, chat_a, made, [5, 10, 15, 2, 0])  # 32 of 40: 80
    assert (first_a["score"], last_a["score"]) == (50.0, 80.0)
    # Chat a counts with its last review: (80 + 100) / 2 = 90, not (50 + 100 + 80) / 3.
    assert await quality() == 90.0
    listed = (await boss.get(f"/api/console/qa/reviews?agent_id={agent.user_id}"))["reviews"]
    assert len(listed) == 3  # the earlier review stays in the history...
    counts = {r["id"]: r["counts"] for r in listed}
    assert counts[first_a["id"]] is False  # ...marked as not counted
    assert counts[last_a["id"]] is True and sum(counts.values()) == 2
    mine = (await agent.get("/api/console/qa/reviews"))["reviews"]
    assert {r["id"]: r["counts"] for r in mine} == counts

    # Correcting the earlier review does not make it count: still 90.
    await boss.call("PUT", f"/api/console/qa/reviews/{first_a['id']}", {"scores": [5, 10, 0, 5, 5]})
    assert await quality() == 90.0
    # Deleting the last one: the earlier (corrected to 0, a critical item failed)
    # counts again: (0 + 100) / 2 = 50.
    await boss.call("DELETE", f"/api/console/qa/reviews/{last_a['id']}")
    assert await quality() == 50.0
    left = (await boss.get(f"/api/console/qa/reviews?conversation_id={chat_a}"))["reviews"]
    assert [(r["id"], r["counts"]) for r in left] == [(first_a["id"], True)]
