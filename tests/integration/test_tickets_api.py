"""The service desk over real HTTP: every way in the API has, the saved views, state
moves, comments, merges, types and templates; refusals are clear and change nothing."""

from __future__ import annotations

from tests.conftest import receive_until


async def test_an_agent_turns_their_chat_into_a_ticket(make_agent, make_visitor):
    agent = await make_agent("wangfang")
    agent_ws = await agent.ws()
    visitor = await make_visitor()
    conv = await visitor.open(name="李雷")
    await receive_until(
        agent_ws,
        lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "active",
    )
    status, _, _ = await visitor.request(
        "POST",
        f"/api/visitor/conversations/{conv['id']}/messages",
        {"client_msg_id": "m1", "body": "打印机卡纸了"},
    )
    assert status in (200, 201)
    made = await agent.post(
        "/api/console/tickets/from-chat",
        {"conversation_id": conv["id"], "subject": "打印机卡纸", "type": "报修"},
        status=201,
    )
    ticket = made["ticket"]
    assert ticket["channel"] == "chat" and ticket["owner_id"] == agent.user_id
    assert ticket["state"] == "open" and ticket["type"] == "报修"
    assert "+" in ticket["created_at"] or ticket["created_at"].endswith("Z")
    page = await agent.get(f"/api/console/tickets/{ticket['id']}")
    assert page["conversations"] == [conv["id"]]
    assert page["requester"]["name"] == "李雷"
    note = next(h for h in page["history"] if h["kind"] == "note")
    assert "打印机卡纸了" in note["data"]["body"]
    assert page["moves"] == ["pending", "resolved", "merged"]
    mine = await agent.get("/api/console/tickets?view=mine")
    assert [t["id"] for t in mine["tickets"]] == [ticket["id"]]
    await agent_ws.close()


async def test_ticket_life_over_http(make_agent):
    boss = await make_agent("boss", role="supervisor")
    agent = await make_agent("li")
    made = await boss.post(
        "/api/console/tickets",
        {
            "subject": "宽带报修",
            "channel": "phone",
            "priority": "high",
            "tags": ["宽带"],
            "due_at": "2030-01-02T09:00:00+08:00",
            "requester": {"name": "王芳", "phone": "13800138000"},
        },
        status=201,
    )
    ticket = made["ticket"]
    tid = ticket["id"]
    assert ticket["state"] == "new" and ticket["number"].count("-") == 1
    assert ticket["due_at"].startswith("2030-01-02T")
    unassigned = await agent.get("/api/console/tickets?view=unassigned")
    assert [t["id"] for t in unassigned["tickets"]] == [tid]
    # An agent takes it; assigning opens it.
    changed = await agent.call("PATCH", f"/api/console/tickets/{tid}", {"owner_id": agent.user_id})
    assert changed["ticket"]["state"] == "open"
    await agent.post(
        f"/api/console/tickets/{tid}/comments", {"body": "已派工程师", "public": True}, status=201
    )
    await agent.post(f"/api/console/tickets/{tid}/state", {"to": "pending"})
    pending = await boss.get("/api/console/tickets?view=pending")
    assert pending["total"] == 1
    await agent.post(f"/api/console/tickets/{tid}/state", {"to": "resolved"})
    refused = await agent.post(f"/api/console/tickets/{tid}/state", {"to": "closed"}, status=403)
    assert refused["error"]["code"] == "forbidden"
    page = await agent.get(f"/api/console/tickets/{tid}")
    kinds = [h["kind"] for h in page["history"]]
    assert kinds == ["created", "changed", "state", "reply", "state", "state"]
    assert page["ticket"]["first_reply_at"] is not None


async def test_bad_input_gets_a_clear_error_and_changes_nothing(make_agent):
    boss = await make_agent("boss", role="supervisor")
    for body, code in [
        ({"subject": ""}, "invalid"),
        ({"subject": "x", "priority": "asap"}, "invalid"),
        ({"subject": "x", "nope": 1}, "invalid"),
        ({"subject": "x", "due_at": "tomorrow"}, "invalid"),
        ({"subject": "x", "requester": {"email": "not-mail"}}, "invalid"),
        ({"subject": "x" * 201}, "invalid"),
    ]:
        answer = await boss.post("/api/console/tickets", body, status=422)
        assert answer["error"]["code"] == code, body
    assert (await boss.get("/api/console/tickets?view=all"))["total"] == 0
    await boss.get("/api/console/tickets?view=everything", status=422)
    await boss.get("/api/console/tickets/99", status=404)
    await boss.get("/api/console/tickets/abc", status=404)


async def test_types_and_templates_are_for_overseers(make_agent):
    boss = await make_agent("boss", role="supervisor")
    agent = await make_agent("li")
    types = await agent.get("/api/console/ticket-types")
    assert [t["name"] for t in types["types"]][:2] == ["咨询", "故障"]
    await agent.call("PUT", "/api/console/ticket-types", {"names": ["咨询"]}, status=403)
    await agent.post("/api/console/ticket-templates", {"name": "t"}, status=403)
    made = await boss.post(
        "/api/console/ticket-templates",
        {"name": "上门维修", "subject": "上门维修", "type": "报修", "priority": "urgent"},
        status=201,
    )
    template_id = made["template"]["id"]
    await boss.post("/api/console/ticket-templates", {"name": "上门维修"}, status=409)
    ticket = await agent.post(
        "/api/console/tickets", {"channel": "phone", "template_id": template_id}, status=201
    )
    assert ticket["ticket"]["subject"] == "上门维修"
    assert ticket["ticket"]["priority"] == "urgent"
    await boss.call("DELETE", f"/api/console/ticket-templates/{template_id}")
    listed = await agent.get("/api/console/ticket-templates")
    assert listed["templates"] == []


async def test_recurring_tasks_over_http(make_agent):
    boss = await make_agent("boss", role="supervisor")
    agent = await make_agent("li")
    made = await boss.post(
        "/api/console/ticket-templates",
        {"name": "月度巡检", "subject": "月度机房巡检", "type": "报修"},
        status=201,
    )
    body = {
        "name": "每月第一个周一",
        "rule": "FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0",
        "template_id": made["template"]["id"],
    }
    await agent.post("/api/console/ticket-schedules", body, status=403)
    created = await boss.post("/api/console/ticket-schedules", body, status=201)
    schedule = created["schedule"]
    assert schedule["next_run_at"] is not None and schedule["last_ticket_id"] is None
    await boss.post("/api/console/ticket-schedules", body, status=409)  # the name is taken
    bad = await boss.post(
        "/api/console/ticket-schedules", {**body, "name": "y", "rule": "FREQ=HOURLY"}, status=422
    )
    assert "FREQ" in bad["error"]["message"]
    listed = await agent.get("/api/console/ticket-schedules")
    assert [s["name"] for s in listed["schedules"]] == ["每月第一个周一"]
    await boss.call("DELETE", f"/api/console/ticket-templates/{made['template']['id']}", status=409)
    await boss.call("DELETE", f"/api/console/ticket-schedules/{schedule['id']}")


async def test_work_log_over_http(make_agent):
    boss = await make_agent("boss", role="supervisor")
    agent = await make_agent("li")
    made = await agent.post(
        "/api/console/tickets",
        {"subject": "安装", "requester": {"name": "周", "phone": "13900139000"}},
        status=201,
    )
    tid = made["ticket"]["id"]
    logged = await agent.post(
        f"/api/console/tickets/{tid}/work",
        {"minutes": 120, "materials": "网线 20 米", "cost_cents": 6000},
        status=201,
    )
    assert logged["entry"]["minutes"] == 120 and "+" in logged["entry"]["at"]
    await agent.post(f"/api/console/tickets/{tid}/work", {"minutes": 10**9}, status=422)
    log = await agent.get(f"/api/console/tickets/{tid}/work")
    assert log["totals"] == {"entries": 1, "minutes": 120, "cost_cents": 6000}
    customer_id = made["ticket"]["requester_id"]
    await agent.get(f"/api/console/customers/{customer_id}/work", status=403)
    sums = await boss.get(f"/api/console/customers/{customer_id}/work")
    assert sums["totals"]["cost_cents"] == 6000


async def test_the_customer_follows_replies_confirms_and_rates(make_agent, make_visitor):
    agent = await make_agent("wangfang")
    agent_ws = await agent.ws()
    visitor = await make_visitor()
    stranger = await make_visitor()
    conv = await visitor.open(name="韩梅梅")
    await receive_until(
        agent_ws,
        lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "active",
    )
    made = await agent.post(
        "/api/console/tickets/from-chat",
        {"conversation_id": conv["id"], "subject": "退款进度"},
        status=201,
    )
    tid = made["ticket"]["id"]
    await agent.post(
        f"/api/console/tickets/{tid}/comments", {"body": "内部：财务处理中"}, status=201
    )
    await agent.post(
        f"/api/console/tickets/{tid}/comments", {"body": "退款已提交", "public": True}, status=201
    )
    await agent.post(f"/api/console/tickets/{tid}/state", {"to": "resolved"})

    status, mine, _ = await visitor.request("GET", "/api/visitor/tickets")
    assert status == 200 and [t["id"] for t in mine["tickets"]] == [tid]
    status, other, _ = await stranger.request("GET", "/api/visitor/tickets")
    assert status == 200 and other["tickets"] == []
    status, _, _ = await stranger.request("GET", f"/api/visitor/tickets/{tid}")
    assert status == 404
    status, page, _ = await visitor.request("GET", f"/api/visitor/tickets/{tid}")
    bodies = [e.get("body", "") for e in page["thread"]]
    assert "退款已提交" in bodies and not any("内部" in b for b in bodies)  # no notes
    assert page["ticket"]["state"] == "resolved"

    # A reply reopens it; resolved again, the customer confirms, then rates once.
    status, answer, _ = await visitor.request(
        "POST", f"/api/visitor/tickets/{tid}/replies", {"body": "还没到账"}
    )
    assert status == 201 and answer["ticket"]["state"] == "open"
    await agent.post(f"/api/console/tickets/{tid}/state", {"to": "resolved"})
    status, answer, _ = await visitor.request("POST", f"/api/visitor/tickets/{tid}/confirm")
    assert status == 200 and answer["ticket"]["state"] == "closed"
    status, _, _ = await visitor.request(
        "POST", f"/api/visitor/tickets/{tid}/replies", {"body": "谢谢"}
    )
    assert status == 409
    status, _, _ = await visitor.request("POST", f"/api/visitor/tickets/{tid}/rating", {"score": 6})
    assert status == 422
    status, _, _ = await visitor.request(
        "POST", f"/api/visitor/tickets/{tid}/rating", {"score": 5, "comment": "很快"}
    )
    assert status == 201
    status, _, _ = await visitor.request("POST", f"/api/visitor/tickets/{tid}/rating", {"score": 1})
    assert status == 409
    history = await agent.get(f"/api/console/tickets/{tid}")
    rating = next(h for h in history["history"] if h["kind"] == "rating")
    assert rating["data"] == {"score": 5, "comment": "很快"} and rating["by"] == "customer"
    await agent_ws.close()
