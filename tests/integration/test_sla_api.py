"""SLA policies over real HTTP: supervisors write them, agents read them and see every
clock of a ticket; bad input is a clear 422 that changes nothing."""

from __future__ import annotations

_POLICY = {
    "name": "VIP 客户",
    "conditions": {"tiers": ["vip"]},
    "targets": {"first_response": 60, "resolution": 960},
    "hours": {"mon": [["09:00", "18:00"]], "tue": [["09:00", "18:00"]]},
    "holidays": ["2026-10-01"],
    "warn_share": 0.75,
    "levels": [{"metric": "first_response", "offset_minutes": -10, "action": "notify_manager"}],
}


async def test_policies_and_clocks_over_http(make_agent):
    boss = await make_agent("boss", role="supervisor")
    agent = await make_agent("li")
    await agent.post("/api/console/sla-policies", _POLICY, status=403)
    made = await boss.post("/api/console/sla-policies", _POLICY, status=201)
    policy = made["policy"]
    assert policy["targets"] == {"first_response": 60, "next_response": None, "resolution": 960}
    assert policy["hours"]["mon"] == [["09:00", "18:00"]]
    await boss.post("/api/console/sla-policies", _POLICY, status=409)  # the name is taken
    for bad in (
        {**_POLICY, "name": "x", "warn_share": 1.5},
        {
            **_POLICY,
            "name": "y",
            "levels": [{"metric": "x", "offset_minutes": 0, "action": "notify"}],
        },
        {**_POLICY, "name": "z", "targets": {"first_response": 0}},
        {**_POLICY, "name": "w", "nope": 1},
    ):
        answer = await boss.post("/api/console/sla-policies", bad, status=422)
        assert answer["error"]["code"] == "invalid"
    everything = {"name": "全部", "targets": {"first_response": 30}}
    second = (await boss.post("/api/console/sla-policies", everything, status=201))["policy"]
    listed = await agent.get("/api/console/sla-policies")
    assert [p["name"] for p in listed["policies"]] == ["VIP 客户", "全部"]
    changed = await boss.call(
        "PATCH", f"/api/console/sla-policies/{policy['id']}", {"enabled": False}
    )
    assert changed["policy"]["enabled"] is False and changed["policy"]["name"] == "VIP 客户"
    order = await boss.call(
        "PUT", "/api/console/sla-policies/order", {"ids": [second["id"], policy["id"]]}
    )
    assert [p["name"] for p in order["policies"]] == ["全部", "VIP 客户"]

    ticket = (await agent.post("/api/console/tickets", {"subject": "慢"}, status=201))["ticket"]
    clocks = await agent.get(f"/api/console/tickets/{ticket['id']}/sla")
    first = next(c for c in clocks["clocks"] if c["metric"] == "first_response")
    assert first["target_minutes"] == 30 and first["running"] and first["due_at"]
    await agent.post(
        f"/api/console/tickets/{ticket['id']}/comments", {"body": "在处理", "public": True}, 201
    )
    clocks = await agent.get(f"/api/console/tickets/{ticket['id']}/sla")
    first = next(c for c in clocks["clocks"] if c["metric"] == "first_response")
    assert first["fulfilled_at"] is not None and not first["running"]
    await agent.get("/api/console/tickets/999999/sla", status=404)
    await boss.call("DELETE", f"/api/console/sla-policies/{policy['id']}")
    assert len((await agent.get("/api/console/sla-policies"))["policies"]) == 1
