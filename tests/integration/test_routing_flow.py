"""Routing end to end: scope, priority, queue places, ring-out and overflow."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from appliance.core import assignment
from tests.conftest import receive_until


@pytest.fixture(autouse=True)
def fast_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the timed routing pass often, so time-driven rules show within a test."""
    monkeypatch.setattr(assignment, "_TICK", 0.1)


def queue_frame(pred=lambda f: True):  # type: ignore[no-untyped-def]
    return lambda f: f["type"] == "queue" and pred(f)


async def join(visitor, conv_id):  # type: ignore[no-untyped-def]
    ws = await visitor.ws()
    await ws.send_json({"type": "join", "conversation_id": conv_id, "after_seq": 0})
    return ws


async def test_agents_see_and_get_only_their_groups_and_regions(make_agent, make_visitor):
    boss = await make_agent("boss", role="supervisor", status=None)
    sales = (await boss.post("/api/console/groups", {"name": "销售"}, 201))["group"]
    await boss.call(
        "PUT",
        "/api/console/topics",
        {"topics": [{"key": "buy", "label": "购买咨询", "group_id": sales["id"]}]},
    )
    beijing = await make_agent("bj", status=None)
    await boss.call(
        "PATCH",
        f"/api/console/agents/{beijing.user_id}",
        {"groups": [sales["id"]], "regions": ["北京"]},
    )
    other = await make_agent("other")  # default group only

    visitor = await make_visitor()
    topics = (await visitor.request("GET", "/api/visitor/topics"))[1]["topics"]
    assert topics == [{"key": "buy", "label": "购买咨询"}]
    conv = await visitor.open(topic="buy", region="上海")
    await boss.running.box.dispatcher.dispatch()
    # Not the default group's agent, and not the Beijing agent for a Shanghai visitor.
    assert (await other.get("/api/console/conversations?scope=waiting"))["conversations"] == []
    await other.get(f"/api/console/conversations/{conv['id']}", status=404)
    await other.post(f"/api/console/conversations/{conv['id']}/accept", status=409)
    await beijing.post("/api/console/presence", {"status": "online"})
    await boss.running.box.dispatcher.dispatch()
    waiting = (await beijing.get("/api/console/conversations?scope=waiting"))["conversations"]
    assert [c["id"] for c in waiting] == [conv["id"]]
    assert waiting[0]["group"]["name"] == "销售" and waiting[0]["region"] == "上海"

    vws = await join(visitor, conv["id"])
    place = await receive_until(vws, queue_frame())
    # Only a Beijing agent serves this group: nobody in scope for Shanghai.
    assert place["position"] == 1 and place["overflow"] == "no_agent"
    beijinger = await make_visitor()
    served = await beijinger.open(topic="buy", region="北京")
    await boss.running.box.dispatcher.dispatch()
    got = await beijing.get(f"/api/console/conversations/{served['id']}")
    assert got["conversation"]["agent"]["id"] == beijing.user_id
    await vws.close()


async def test_vip_goes_first_and_places_update_live(make_agent, make_visitor):
    agent = await make_agent("solo", max_chats=1)
    first = await make_visitor()
    busy = await first.open()
    await agent.running.box.dispatcher.dispatch()
    assert (await agent.get(f"/api/console/conversations/{busy['id']}"))["conversation"][
        "status"
    ] == "active"

    newcomer = await make_visitor()
    early = await newcomer.open()
    vip = await make_visitor()
    late = await vip.open()
    nws, vws = await join(newcomer, early["id"]), await join(vip, late["id"])
    await receive_until(nws, queue_frame(lambda f: f["position"] == 1))
    await receive_until(vws, queue_frame(lambda f: f["position"] == 2))

    await agent.call("PUT", f"/api/console/visitors/{vip.visitor_id}/tier", {"tier": "vip"})
    # The VIP who came later now stands first; the newcomer moves back, both told live.
    await receive_until(vws, queue_frame(lambda f: f["position"] == 1), timeout=3)
    moved = await receive_until(nws, queue_frame(lambda f: f["position"] == 2), timeout=3)
    assert moved["eta"] is not None and moved["overflow"] is None

    await agent.post(f"/api/console/conversations/{busy['id']}/close")
    assigned = await receive_until(
        vws, lambda f: f["type"] == "message" and f["message"]["event"] == "assigned"
    )
    assert assigned["message"]["sender_name"] == "solo"
    await nws.close()
    await vws.close()


async def test_unanswered_chat_rings_out_to_the_next_agent_and_is_recorded(
    make_agent, make_visitor
):
    boss = await make_agent("boss", role="supervisor", status=None)
    await boss.call("PATCH", "/api/console/groups/1", {"answer_timeout": 1})
    slow = await make_agent("slow")
    visitor = await make_visitor()
    conv = await visitor.open()
    await boss.running.box.dispatcher.dispatch()
    first = await boss.get(f"/api/console/conversations/{conv['id']}")
    assert first["conversation"]["agent"]["id"] == slow.user_id
    # A silent visitor rings nobody out: the clock starts with their first words.
    await asyncio.sleep(1.5)
    await boss.running.box.dispatcher.dispatch()
    still_slow = await boss.get(f"/api/console/conversations/{conv['id']}")
    assert still_slow["conversation"]["agent"]["id"] == slow.user_id
    status, _, _ = await visitor.request(
        "POST",
        f"/api/visitor/conversations/{conv['id']}/messages",
        {"client_msg_id": "v1", "body": "有人吗?"},
    )
    assert status == 201
    quick = await make_agent("quick")
    # The ring-out may come before or after Quick is online (argon2 logins take their
    # time on a loaded machine): read the store rather than wait for a frame.
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        taken = await boss.get(f"/api/console/conversations/{conv['id']}")
        if (taken["conversation"]["agent"] or {}).get("id") == quick.user_id:
            break
        assert asyncio.get_running_loop().time() < deadline, "the chat never rang out to Quick"
        await asyncio.sleep(0.05)
    assert taken["conversation"]["status"] == "active"
    board = await boss.get("/api/console/board")
    by_name = {a["display_name"]: a for a in board["agents"]}
    assert by_name["slow"]["missed_today"] == 1
    assert by_name["slow"]["status"] == "away"  # stops getting chats until they return
    general = board["queues"][0]
    assert general["offered"] == 1 and general["service_level"] == 1.0  # assigned within 60 s
    # Quick answers in time: the chat stays.
    await quick.post(
        f"/api/console/conversations/{conv['id']}/messages",
        {"client_msg_id": "q1", "body": "您好"},
        201,
    )
    await boss.running.box.dispatcher.dispatch()
    still = await boss.get(f"/api/console/conversations/{conv['id']}")
    assert still["conversation"]["agent"]["id"] == quick.user_id


async def test_outside_hours_the_visitor_may_leave_a_call_back_request(make_agent, make_visitor):
    boss = await make_agent("boss", role="supervisor", status=None)
    today = datetime.now().astimezone().date().isoformat()
    await boss.call("PATCH", "/api/console/groups/1", {"holidays": [today]})
    agent = await make_agent("night")  # online, but the group is closed today
    aws = await agent.ws()
    visitor = await make_visitor()
    conv = await visitor.open(name="张三")
    vws = await join(visitor, conv["id"])
    closed = await receive_until(vws, queue_frame())
    assert closed["overflow"] == "closed"
    assert (await agent.get(f"/api/console/conversations/{conv['id']}"))["conversation"][
        "status"
    ] == "waiting"

    status, bad, _ = await visitor.request(
        "POST", "/api/visitor/work-items", {"kind": "callback", "contact": "not a phone"}
    )
    assert status == 422 and bad["error"]["code"] == "phone_required"
    status, left, _ = await visitor.request(
        "POST",
        "/api/visitor/work-items",
        {
            "kind": "callback",
            "name": "张三",
            "contact": "+86 138-0000-0000",
            "preferred_time": "明天上午",
            "conversation_id": conv["id"],
        },
    )
    assert status == 201 and left["item"]["kind"] == "callback"
    ended = await receive_until(
        vws, lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "closed"
    )
    assert ended["conversation"]["id"] == conv["id"]

    # The request is a ticket of channel callback: the agent's socket hears of it, it
    # is in the "left" view, and the visitor can follow it from the widget.
    number = left["item"]["number"]
    live = await receive_until(aws, lambda f: f["type"] == "ticket")
    assert (live["ticket"]["number"], live["ticket"]["channel"]) == (number, "callback")
    assert live["ticket"]["state"] == "new"
    listed = (await agent.get("/api/console/tickets?view=left"))["tickets"]
    assert [(t["number"], t["channel"], t["subject"]) for t in listed] == [
        (number, "callback", "请回电 张三 +86 138-0000-0000")
    ]
    ticket_id = listed[0]["id"]
    assert str(ticket_id) == left["item"]["id"]
    page = await agent.get(f"/api/console/tickets/{ticket_id}")
    assert "希望回电时间：明天上午" in page["ticket"]["description"]
    assert page["requester"]["phone"] == "+86 138-0000-0000" and page["requester"]["name"] == "张三"
    assert page["conversations"] == [conv["id"]]
    status, mine, _ = await visitor.request("GET", "/api/visitor/tickets")
    assert status == 200 and [t["number"] for t in mine["tickets"]] == [number]
    # Taking it out of "new" (the agent answers it) takes it off the count.
    await agent.post(f"/api/console/tickets/{ticket_id}/state", {"to": "open"})
    taken = await receive_until(
        aws, lambda f: f["type"] == "ticket" and f["ticket"]["state"] == "open"
    )
    assert taken["ticket"]["id"] == ticket_id
    await vws.close()
    await aws.close()


async def test_with_nobody_online_the_visitor_is_offered_to_leave_a_message(make_visitor):
    visitor = await make_visitor()
    conv = await visitor.open()
    vws = await join(visitor, conv["id"])
    offer = await receive_until(vws, queue_frame())
    assert offer["overflow"] == "no_agent" and offer["eta"] is None
    status, _left, _ = await visitor.request(
        "POST",
        "/api/visitor/work-items",
        {
            "kind": "message",
            "contact": "li@example.cn",
            "body": "请回电",
            "conversation_id": conv["id"],
        },
    )
    assert status == 201
    status, _empty, _ = await visitor.request(
        "POST", "/api/visitor/work-items", {"kind": "message", "body": " "}
    )
    assert status == 422
    await vws.close()


async def test_a_group_widens_to_its_fallback_after_the_delay(make_agent, make_visitor):
    boss = await make_agent("boss", role="supervisor", status=None)
    vip_desk = (await boss.post("/api/console/groups", {"name": "VIP"}, 201))["group"]
    await boss.call(
        "PATCH",
        f"/api/console/groups/{vip_desk['id']}",
        {"fallback_group_id": 1, "fallback_after": 1},
    )
    await boss.call(
        "PUT",
        "/api/console/topics",
        {"topics": [{"key": "vip", "label": "贵宾", "group_id": vip_desk["id"]}]},
    )
    general = await make_agent("general")  # default group only
    gws = await general.ws()
    visitor = await make_visitor()
    conv = await visitor.open(topic="vip")
    await boss.running.box.dispatcher.dispatch()
    assert (await boss.get(f"/api/console/conversations/{conv['id']}"))["conversation"][
        "status"
    ] == "waiting"
    taken = await receive_until(
        gws,
        lambda f: (
            f["type"] == "conversation"
            and f["conversation"]["id"] == conv["id"]
            and f["conversation"]["status"] == "active"
        ),
        timeout=10,
    )
    assert taken["conversation"]["agent"]["id"] == general.user_id
    await gws.close()


async def test_routing_configuration_rejects_bad_input(make_agent):
    boss = await make_agent("boss", role="supervisor", status=None)
    agent = await make_agent("agent", status=None)
    bad = await boss.call(
        "PATCH", "/api/console/groups/1", {"hours": {"mon": [["25:00", "26:00"]]}}, 422
    )
    assert (
        bad["error"]["message"] == "mon must be a time of day as HH:MM (24:00 at the latest)"
    )  # the contract's wording
    await boss.call("PATCH", "/api/console/groups/1", {"strategy": "random"}, 422)
    await boss.call("PATCH", "/api/console/groups/1", {"fallback_group_id": 1}, 422)
    await boss.call("DELETE", "/api/console/groups/1", status=409)
    await boss.call("PUT", "/api/console/priority", {"tier": {"gold": 5}}, 422)
    await agent.call("PATCH", "/api/console/groups/1", {"strategy": "round_robin"}, 403)
    await agent.get("/api/console/board", status=403)
    ok = await boss.call(
        "PATCH",
        "/api/console/groups/1",
        {"hours": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]]}, "strategy": "round_robin"},
    )
    assert ok["group"]["hours"] == {"mon": [["09:00", "12:00"], ["13:00", "18:00"]]}
