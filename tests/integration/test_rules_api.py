"""Ticket rules over real HTTP: supervisors save the documented examples, list, reorder,
change and delete them, preview a draft over real tickets; refusals say why and change
nothing; agents are refused every rule route; a saved trigger acts on a ticket entered
through the API."""

from __future__ import annotations

import copy
import re
from typing import Any

RULES = "/api/console/ticket-rules"
_OFFSET = re.compile(r"[+-]\d\d:\d\d$")


def vip_complaints(group_id: int) -> dict[str, Any]:
    """docs/ticket-rules.md, the first example."""
    return {
        "name": "VIP 投诉转客服主管",
        "kind": "trigger",
        "on": ["created", "updated"],
        "conditions": {
            "all": [
                {"field": "type", "op": "is", "value": "投诉"},
                {"field": "customer_tier", "op": "is", "value": "vip"},
                {"field": "priority", "op": "is_not", "value": "urgent"},
            ]
        },
        "actions": [
            {"type": "set_field", "field": "priority", "value": "urgent"},
            {"type": "assign", "group_id": group_id},
            {"type": "notify", "to": ["group"], "text": "VIP 客户投诉，请尽快处理"},
        ],
    }


def pending_72_hours() -> dict[str, Any]:
    """docs/ticket-rules.md, the second example."""
    return {
        "name": "待客户回复 72 小时",
        "kind": "timed",
        "conditions": {
            "all": [
                {"field": "state", "op": "is", "value": "pending"},
                {"field": "hours_in_state", "op": "gt", "value": 72},
                {"field": "tags", "op": "not_contains", "value": ["超时未回复"]},
            ]
        },
        "actions": [
            {"type": "set_field", "field": "add_tags", "value": ["超时未回复"]},
            {"type": "add_note", "text": "客户 72 小时未回复，请确认后解决工单。"},
            {"type": "notify", "to": ["owner"], "text": "工单等待客户回复已超过 72 小时"},
        ],
    }


def note_trigger(name: str, **changes: Any) -> dict[str, Any]:
    """A small valid trigger: a note on urgent tickets when they change."""
    return {
        "name": name,
        "kind": "trigger",
        "on": ["updated"],
        "conditions": {"all": [{"field": "priority", "op": "is", "value": "urgent"}]},
        "actions": [{"type": "add_note", "text": "看一下"}],
        **changes,
    }


def definition(rule: dict[str, Any]) -> dict[str, Any]:
    """What a saved rule says of itself that its input said too."""
    return {
        k: v for k, v in rule.items() if k not in ("id", "position", "created_at", "updated_at")
    }


async def make_group(boss: Any, name: str = "客服主管") -> int:
    made = await boss.post("/api/console/groups", {"name": name}, status=201)
    group_id: int = made["group"]["id"]
    return group_id


async def test_supervisors_save_list_reorder_change_and_delete_rules(make_agent):
    boss = await make_agent("boss", role="supervisor")
    leads = await make_group(boss)

    vip = (await boss.post(RULES, vip_complaints(leads), status=201))["rule"]
    assert definition(vip) == {
        **vip_complaints(leads),
        "enabled": True,
        "conditions": {**vip_complaints(leads)["conditions"], "any": []},
        "once_per_ticket": False,
    }
    assert _OFFSET.search(vip["created_at"]) and vip["created_at"] == vip["updated_at"]
    pending = (await boss.post(RULES, pending_72_hours(), status=201))["rule"]
    assert pending["kind"] == "timed" and pending["on"] == []
    assert pending["conditions"]["all"] == pending_72_hours()["conditions"]["all"]
    assert pending["actions"] == pending_72_hours()["actions"]
    note = (await boss.post(RULES, note_trigger("紧急单提醒"), status=201))["rule"]

    everything = await boss.get(RULES)
    assert [r["id"] for r in everything["rules"]] == [vip["id"], note["id"], pending["id"]]
    triggers = await boss.get(f"{RULES}?kind=trigger")
    assert [r["name"] for r in triggers["rules"]] == ["VIP 投诉转客服主管", "紧急单提醒"]
    assert (await boss.get(f"{RULES}?kind=timed"))["rules"] == [pending]
    assert (await boss.get(f"{RULES}/{vip['id']}"))["rule"] == vip

    # Reorder: the answer and every later read have the new order.
    order = {"kind": "trigger", "ids": [note["id"], vip["id"]]}
    reordered = await boss.call("PUT", f"{RULES}/order", order)
    assert [r["id"] for r in reordered["rules"]] == [note["id"], vip["id"]]
    positions = [r["position"] for r in reordered["rules"]]
    assert positions == sorted(positions)
    listed = await boss.get(f"{RULES}?kind=trigger")
    assert [r["id"] for r in listed["rules"]] == [note["id"], vip["id"]]

    # A change replaces the definition; id, kind and place stay.
    changed_input = note_trigger("紧急单提醒（停用）", enabled=False)
    changed = (await boss.call("PUT", f"{RULES}/{note['id']}", changed_input))["rule"]
    assert changed["id"] == note["id"] and changed["position"] == reordered["rules"][0]["position"]
    assert changed["name"] == "紧急单提醒（停用）" and changed["enabled"] is False
    assert changed["created_at"] == note["created_at"]
    assert (await boss.get(f"{RULES}/{note['id']}"))["rule"] == changed

    assert await boss.call("DELETE", f"{RULES}/{note['id']}") == {"deleted": True}
    await boss.get(f"{RULES}/{note['id']}", status=404)
    await boss.call("DELETE", f"{RULES}/{note['id']}", status=404)
    await boss.call("PUT", f"{RULES}/{note['id']}", changed_input, status=404)
    left = await boss.get(RULES)
    assert [r["id"] for r in left["rules"]] == [vip["id"], pending["id"]]


async def test_the_literal_paths_are_not_taken_for_a_rule_id(make_agent):
    boss = await make_agent("boss", role="supervisor")
    await boss.get(f"{RULES}/order", status=404)
    await boss.get(f"{RULES}/preview", status=404)
    await boss.call("DELETE", f"{RULES}/order", status=404)
    await boss.call("PUT", f"{RULES}/preview", note_trigger("x"), status=404)
    assert (await boss.call("PUT", f"{RULES}/order", {"kind": "timed", "ids": []})) == {"rules": []}


async def test_a_preview_lists_the_matching_tickets_and_saves_nothing(make_agent):
    boss = await make_agent("boss", role="supervisor")
    made = {}
    for subject, priority in [("紧急一", "urgent"), ("一般", "normal"), ("紧急二", "urgent")]:
        answer = await boss.post(
            "/api/console/tickets", {"subject": subject, "priority": priority}, status=201
        )
        made[subject] = answer["ticket"]["id"]
    preview = await boss.post(f"{RULES}/preview", note_trigger("预览"))
    assert sorted(preview["ticket_ids"]) == sorted([made["紧急一"], made["紧急二"]])
    assert preview["total_shown"] == 2
    # Each with its number and subject, so the page lists them without asking per ticket.
    assert {(t["id"], t["subject"]) for t in preview["tickets"]} == {
        (made["紧急一"], "紧急一"),
        (made["紧急二"], "紧急二"),
    }
    nothing = note_trigger(
        "没有",
        conditions={"all": [{"field": "subject", "op": "contains", "value": "打印机"}]},
    )
    assert await boss.post(f"{RULES}/preview", nothing) == {
        "ticket_ids": [],
        "total_shown": 0,
        "tickets": [],
    }
    assert (await boss.get(RULES))["rules"] == []
    # Nothing acted either: the tickets are as they were entered.
    page = await boss.get(f"/api/console/tickets/{made['紧急一']}")
    assert [h["kind"] for h in page["history"]] == ["created"]


async def test_a_looping_timed_rule_is_refused_saying_why(make_agent):
    boss = await make_agent("boss", role="supervisor")
    loop = pending_72_hours()
    del loop["conditions"]["all"][2]  # the tag no longer stops it
    loop["actions"] = loop["actions"][1:]
    refused = await boss.post(RULES, loop, status=422)
    assert refused["error"]["code"] == "rule_loops"
    message = refused["error"]["message"]
    assert "a timed rule must change something its conditions test" in message
    assert "acts again every minute" in message and "once_per_ticket" in message
    # A preview refuses it the same way, and so does a change that would make it so.
    assert await boss.post(f"{RULES}/preview", loop, status=422) == refused
    saved = (await boss.post(RULES, pending_72_hours(), status=201))["rule"]
    assert await boss.call("PUT", f"{RULES}/{saved['id']}", loop, status=422) == refused
    assert (await boss.get(f"{RULES}/{saved['id']}"))["rule"] == saved
    # Acting once per ticket is what the message offers, and it is accepted.
    once = (await boss.post(RULES, {**loop, "once_per_ticket": True}, status=201))["rule"]
    assert once["once_per_ticket"] is True


async def test_rules_that_would_undo_each_other_are_refused_naming_them(make_agent):
    boss = await make_agent("boss", role="supervisor")
    raise_it = {
        "name": "升级",
        "kind": "timed",
        "conditions": {
            "all": [
                {"field": "hours_since_created", "op": "gt", "value": 1},
                {"field": "priority", "op": "is", "value": "low"},
            ]
        },
        "actions": [{"type": "set_field", "field": "priority", "value": "high"}],
    }
    await boss.post(RULES, raise_it, status=201)
    lower = note_trigger(
        "新客户降级",
        conditions={
            "all": [
                {"field": "priority", "op": "is", "value": "high"},
                {"field": "customer_tier", "op": "is", "value": "new"},
            ]
        },
        actions=[{"type": "set_field", "field": "priority", "value": "low"}],
    )
    refused = await boss.post(RULES, lower, status=422)
    assert "'新客户降级' → '升级' → '新客户降级'" in refused["error"]["message"]
    assert [r["name"] for r in (await boss.get(RULES))["rules"]] == ["升级"]


async def test_bad_shapes_get_a_clear_422_and_change_nothing(make_agent):
    boss = await make_agent("boss", role="supervisor")
    leads = await make_group(boss)
    saved = (await boss.post(RULES, vip_complaints(leads), status=201))["rule"]
    before = await boss.get(RULES)

    def changed(path: list[Any], value: Any) -> dict[str, Any]:
        body = copy.deepcopy(vip_complaints(leads))
        target = body
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        return body

    bodies: list[tuple[Any, str]] = [
        ([1, 2], "body must be a JSON object"),
        ({"kind": "trigger", "on": ["created"], "actions": []}, "name"),
        (changed(["colour"], "red"), "colour"),
        (changed(["kind"], "macro"), "kind must be one of trigger, timed"),
        (changed(["on"], ["closed"]), "on must be one of"),
        (changed(["on"], []), "on must be a list of 1 to 5 items"),
        (changed(["actions"], []), "actions must be a list of 1 to 10 items"),
        (changed(["actions", 0, "type"], "email"), "actions[0].type must be one of"),
        (changed(["actions", 1], {"type": "assign"}), "assign takes owner_id or group_id"),
        (changed(["actions", 1, "group_id"], 999), "there is no group with id 999"),
        (
            changed(["conditions", "all", 2, "value"], 5),
            "conditions.all[2].value must be one of low, normal, high, urgent",
        ),
        (
            changed(["conditions", "all", 0, "op"], "gt"),
            "conditions.all[0]: type takes the operators is, is_not, in",
        ),
        (
            changed(
                ["conditions", "all", 0], {"field": "hours_since_created", "op": "gt", "value": 1}
            ),
            "conditions.all[0]: hours_since_created is for timed rules",
        ),
        (changed(["conditions", "all", 1, "value"], 1.5), "conditions.all[1].value"),
        (changed(["conditions", "all", 1, "value"], {"tier": "vip"}), "conditions.all[1].value"),
        (changed(["conditions", "any"], "all"), "conditions.any must be a list"),
        (changed(["name"], "长" * 65), "name"),
        (changed(["once_per_ticket"], True), "once_per_ticket is for timed rules"),
    ]
    for body, words in bodies:
        for method, path in [("POST", RULES), ("POST", f"{RULES}/preview")]:
            if "no group" in words and path.endswith("preview"):
                continue  # a preview reads no ids: the save checks them
            answer = await boss.call(method, path, body, status=422)
            assert answer["error"]["code"] == "invalid", (body, answer)
            assert words in answer["error"]["message"], (words, answer)
        answer = await boss.call("PUT", f"{RULES}/{saved['id']}", body, status=422)
        assert words in answer["error"]["message"], (words, answer)
    # A rule's kind cannot change: a new rule is a new rule.
    answer = await boss.call("PUT", f"{RULES}/{saved['id']}", pending_72_hours(), status=422)
    assert "kind cannot change" in answer["error"]["message"]
    for order, words in [
        ({"kind": "trigger", "ids": []}, "give the id of every trigger rule once"),
        ({"kind": "trigger", "ids": [saved["id"], saved["id"]]}, "every trigger rule once"),
        ({"kind": "trigger", "ids": ["1"]}, "ids"),
        ({"kind": "manual", "ids": [saved["id"]]}, "kind must be one of"),
    ]:
        answer = await boss.call("PUT", f"{RULES}/order", order, status=422)
        assert answer["error"]["code"] == "invalid" and words in answer["error"]["message"]
    answer = await boss.get(f"{RULES}?kind=macro", status=422)
    assert answer["error"]["message"].startswith("kind must be one of")
    assert await boss.get(RULES) == before


async def test_agents_are_refused_every_rule_route(make_agent):
    boss = await make_agent("boss", role="supervisor")
    agent = await make_agent("li")
    saved = (await boss.post(RULES, note_trigger("紧急单提醒"), status=201))["rule"]
    one = f"{RULES}/{saved['id']}"
    for method, path, body in [
        ("GET", RULES, None),
        ("GET", f"{RULES}?kind=trigger", None),
        ("POST", RULES, note_trigger("代理")),
        ("GET", one, None),
        ("PUT", one, note_trigger("代理")),
        ("DELETE", one, None),
        ("PUT", f"{RULES}/order", {"kind": "trigger", "ids": [saved["id"]]}),
        ("POST", f"{RULES}/preview", note_trigger("代理")),
        ("GET", f"{RULES}/order", None),
    ]:
        answer = await agent.call(method, path, body, status=403)
        assert answer["error"]["code"] == "forbidden", (method, path)
    assert (await boss.get(RULES))["rules"] == [saved]
    admin = await make_agent("root", role="admin")
    assert (await admin.get(RULES))["rules"] == [saved]


async def test_a_saved_trigger_acts_on_a_ticket_entered_over_http(make_agent):
    boss = await make_agent("boss", role="supervisor")
    agent = await make_agent("li")
    leads = await make_group(boss)
    await boss.post(RULES, vip_complaints(leads), status=201)
    # The customer becomes a VIP after their first ticket.
    first = await agent.post(
        "/api/console/tickets",
        {"subject": "发票抬头", "type": "咨询", "requester": {"name": "钱总"}},
        status=201,
    )
    customer_id = first["ticket"]["requester_id"]
    assert first["ticket"]["priority"] == "normal" and first["ticket"]["group_id"] is None
    await boss.call("PATCH", f"/api/console/customers/{customer_id}", {"tier": "vip"})

    made = await agent.post(
        "/api/console/tickets",
        {"subject": "发票错误", "type": "投诉", "requester": {"customer_id": customer_id}},
        status=201,
    )
    ticket = made["ticket"]
    assert ticket["priority"] == "urgent" and ticket["group_id"] == leads
    page = await boss.get(f"/api/console/tickets/{ticket['id']}")
    by_rule = [h for h in page["history"] if h["actor_id"].startswith("rule:")]
    assert by_rule and by_rule[-1]["data"]["name"] == "VIP 投诉转客服主管"
    assert by_rule[0]["data"]["priority"] == "urgent"
    # A ticket that is not a VIP complaint is left alone.
    plain = await agent.post(
        "/api/console/tickets", {"subject": "普通投诉", "type": "投诉"}, status=201
    )
    assert plain["ticket"]["priority"] == "normal" and plain["ticket"]["group_id"] is None
