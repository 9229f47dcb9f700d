"""The ticket list's bulk actions over real HTTP: each ticket is changed by the rules of
one change, a refused ticket is reported with its code while the others are done, and
a bad request changes nothing."""

from __future__ import annotations

from typing import Any


async def _tickets(boss: Any, n: int, **fields: Any) -> list[int]:
    ids = []
    for i in range(n):
        body = {"subject": f"宽带故障 {i}", "channel": "phone", **fields}
        made = await boss.post("/api/console/tickets", body, status=201)
        ids.append(made["ticket"]["id"])
    return ids


async def test_a_supervisor_assigns_tags_and_moves_many_tickets(make_agent):
    boss = await make_agent("boss", role="supervisor")
    agent = await make_agent("li")
    ids = await _tickets(boss, 3, tags=["宽带"])
    answer = await boss.post(
        "/api/console/tickets/bulk",
        {
            "ids": ids,
            "change": {"owner_id": agent.user_id, "priority": "high"},
            "add_tags": ["上门", "宽带"],
            "to": "pending",
        },
    )
    assert answer["done"] == 3
    assert [r["id"] for r in answer["results"]] == ids
    for result in answer["results"]:
        ticket = result["ticket"]
        assert result["ok"] and ticket["owner_id"] == agent.user_id
        assert ticket["priority"] == "high" and ticket["state"] == "pending"
        assert ticket["tags"] == ["宽带", "上门"]
    # One change event, the opening a new owner brings, then the move: in that order.
    page = await boss.get(f"/api/console/tickets/{ids[0]}")
    tail = [(h["kind"], h["data"].get("to")) for h in page["history"]][-3:]
    assert tail == [("changed", None), ("state", "open"), ("state", "pending")]
    mine = await agent.get("/api/console/tickets?view=pending")
    assert sorted(t["id"] for t in mine["tickets"]) == sorted(ids)
    # Tags taken away; a ticket already pending stays so and counts as done.
    answer = await boss.post(
        "/api/console/tickets/bulk", {"ids": ids, "remove_tags": ["宽带"], "to": "pending"}
    )
    assert answer["done"] == 3
    assert all(r["ticket"]["tags"] == ["上门"] for r in answer["results"])


async def test_each_refusal_is_reported_and_the_rest_is_done(make_agent):
    boss = await make_agent("boss", role="supervisor")
    agent = await make_agent("li")
    other = await make_agent("zhao")
    ids = await _tickets(boss, 3)
    await boss.post(f"/api/console/tickets/{ids[1]}/state", {"to": "resolved"})
    # The agent takes all three and moves them on: the resolved one cannot become
    # pending, so it is refused with 409 and the others are done.
    answer = await agent.post(
        "/api/console/tickets/bulk",
        {"ids": ids, "change": {"owner_id": agent.user_id}, "to": "pending"},
    )
    assert answer["done"] == 2
    refused = answer["results"][1]
    assert refused == {"id": ids[1], "ok": False, "code": "conflict", "message": refused["message"]}
    assert "pending" in refused["message"]
    page = await boss.get(f"/api/console/tickets/{ids[1]}")
    assert page["ticket"]["owner_id"] is None and page["ticket"]["state"] == "resolved"
    # An agent may not assign tickets to someone else: each is refused with 403.
    answer = await agent.post(
        "/api/console/tickets/bulk",
        {"ids": [ids[0], ids[2]], "change": {"owner_id": other.user_id}},
    )
    assert answer["done"] == 0
    assert {r["code"] for r in answer["results"]} == {"forbidden"}
    # A ticket the user cannot see, or none at all, is 404 in its result: no leak.
    group = await boss.post("/api/console/groups", {"name": "专家组"}, status=201)
    hidden = await _tickets(boss, 1, group_id=group["group"]["id"])
    answer = await agent.post(
        "/api/console/tickets/bulk", {"ids": [hidden[0], 987654], "change": {"priority": "low"}}
    )
    assert [r["code"] for r in answer["results"]] == ["not_found", "not_found"]
    assert (await boss.get(f"/api/console/tickets/{hidden[0]}"))["ticket"]["priority"] == "normal"


async def test_a_bad_bulk_request_is_refused_whole(make_agent):
    boss = await make_agent("boss", role="supervisor")
    ids = await _tickets(boss, 2)
    for body in [
        {"ids": []},
        {"ids": ids},  # nothing to change
        {"ids": [ids[0], ids[0]], "change": {"priority": "low"}},
        {"ids": list(range(1, 102)), "change": {"priority": "low"}},
        {"ids": ids, "to": "merged"},
        {"ids": ids, "to": "gone"},
        {"ids": ids, "change": {"priority": "asap"}},
        {"ids": ids, "change": {"subject": "x"}},
        {"ids": [0], "change": {"priority": "low"}},
        {"ids": ids, "add_tags": [""]},
        {"ids": ids, "change": {"due_at": "tomorrow"}},
    ]:
        answer = await boss.post("/api/console/tickets/bulk", body, status=422)
        assert answer["error"]["code"] == "invalid", body
    listing = await boss.get("/api/console/tickets?view=all")
    assert {t["priority"] for t in listing["tickets"]} == {"normal"}
    assert {t["state"] for t in listing["tickets"]} == {"new"}
