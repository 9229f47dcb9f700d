"""Transfer, conference, notes and whispers over real HTTP and WebSocket on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.conftest import receive_until


def event(name: str):  # type: ignore[no-untyped-def]
    return lambda f: f["type"] == "message" and f["message"]["event"] == name


def conv_frame(pred):  # type: ignore[no-untyped-def]
    return lambda f: f["type"] == "conversation" and pred(f["conversation"])


async def drain(ws: aiohttp.ClientWebSocketResponse, seconds: float = 0.5) -> list[dict[str, Any]]:
    """Collect every frame that arrives within a short window."""
    frames = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            frames.append(await ws.receive_json(timeout=left))
        except TimeoutError:
            break
    return frames


async def chat_with(make_agent, make_visitor, agent_name: str = "alice"):  # type: ignore[no-untyped-def]
    """An agent online with a visitor's conversation assigned to them; both sockets joined."""
    agent = await make_agent(agent_name)
    aws = await agent.ws()
    visitor = await make_visitor()
    conv = await visitor.open(name="李雷")
    await receive_until(aws, conv_frame(lambda c: c["status"] == "active"))
    vws = await visitor.ws()
    for ws in (vws, aws):
        await ws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": 0})
    await receive_until(vws, event("assigned"))
    return agent, aws, visitor, vws, conv


async def send(ws: aiohttp.ClientWebSocketResponse, conv_id: str, cid: str, body: str) -> None:
    await ws.send_json(
        {"type": "send", "conversation_id": conv_id, "client_msg_id": cid, "body": body}
    )
    ack = await receive_until(ws, lambda f: f["type"] in ("ack", "error"))
    assert ack["type"] == "ack", ack


async def test_direct_transfer_carries_history_and_note_and_tells_the_visitor(
    make_agent, make_visitor
):
    alice, aws, visitor, vws, conv = await chat_with(make_agent, make_visitor)
    cid = conv["id"]
    await send(vws, cid, "v1", "我想改银行账号")
    await send(aws, cid, "a1", "好的,我请专家来")
    bob = await make_agent("bob")
    bws = await bob.ws()

    moved = await alice.post(
        f"/api/console/conversations/{cid}/transfer",
        {"agent_id": bob.user_id, "note": "VIP 客户,改账号需核实身份"},
    )
    assert moved["conversation"]["agent"]["id"] == bob.user_id

    told = await receive_until(vws, event("transferred"))
    assert told["message"]["sender_name"] == "bob"
    await receive_until(bws, conv_frame(lambda c: c["agent"]["id"] == bob.user_id))

    # Bob's replay holds the whole history and the note; the visitor's never the note.
    await bws.send_json({"type": "join", "conversation_id": cid, "after_seq": 0})
    replay = [f["message"] for f in await drain(bws) if f["type"] == "message"]
    bodies = [m["body"] for m in replay]
    assert "我想改银行账号" in bodies and "好的,我请专家来" in bodies
    note = next(m for m in replay if m["event"] == "note")
    assert note["visibility"] == "staff" and note["sender_name"] == "alice"
    status, data, _ = await visitor.request("GET", f"/api/visitor/conversations/{cid}/messages")
    assert status == 200
    assert all(m["visibility"] == "public" for m in data["messages"])
    assert "VIP 客户,改账号需核实身份" not in str(data)

    # Alice's socket stops following it: no more of the visitor's words or Bob's notes.
    await receive_until(aws, lambda f: f["type"] == "left" and f["conversation_id"] == cid)
    await send(vws, cid, "v2", "还在吗")
    assert not any(f["type"] == "message" for f in await drain(aws, 0.4))
    # Alice no longer speaks in it; Bob does, and the visitor hears him.
    await alice.post(
        f"/api/console/conversations/{cid}/messages", {"client_msg_id": "a2", "body": "x"}, 404
    )
    await send(bws, cid, "b1", "您好,我是专家 bob")
    heard = await receive_until(
        vws, lambda f: f["type"] == "message" and f["message"]["body"] == "您好,我是专家 bob"
    )
    assert heard["message"]["sender_name"] == "bob"
    mine = await alice.get("/api/console/conversations?scope=mine")
    assert mine["conversations"] == []
    for ws in (vws, aws, bws):
        await ws.close()


async def test_transfer_to_an_offline_or_full_colleague_is_refused(make_agent, make_visitor):
    alice, aws, _visitor, vws, conv = await chat_with(make_agent, make_visitor)
    carol = await make_agent("carol", status="offline")
    refused = await alice.post(
        f"/api/console/conversations/{conv['id']}/transfer", {"agent_id": carol.user_id}, 409
    )
    assert refused["error"]["code"] == "not_available"
    dave = await make_agent("dave", max_chats=0)
    full = await alice.post(
        f"/api/console/conversations/{conv['id']}/transfer", {"agent_id": dave.user_id}, 409
    )
    assert full["error"]["code"] == "limit_reached"
    both = await alice.post(
        f"/api/console/conversations/{conv['id']}/transfer",
        {"agent_id": dave.user_id, "group_id": 1},
        422,
    )
    assert both["error"]["code"] == "invalid"
    await vws.close()
    await aws.close()


async def test_warm_transfer_to_a_group_keeps_the_agent_until_a_colleague_joins(
    make_agent, make_visitor
):
    alice, aws, _visitor, vws, conv = await chat_with(make_agent, make_visitor)
    cid = conv["id"]
    boss = await make_agent("boss", role="supervisor")
    group = (await boss.post("/api/console/groups", {"name": "售后"}, 201))["group"]
    erin = await make_agent("erin", status="offline")
    await boss.call("PATCH", f"/api/console/agents/{erin.user_id}", {"groups": [group["id"]]})

    pending = await alice.post(
        f"/api/console/conversations/{cid}/transfer",
        {"group_id": group["id"], "note": "退货问题"},
    )
    assert pending["conversation"]["transfer_pending"] is True
    assert pending["conversation"]["agent"]["id"] == alice.user_id
    await receive_until(vws, event("transfer_requested"))
    # Nobody in the group is online: Alice stays and can still talk.
    await send(aws, cid, "a1", "请稍等,同事马上来")

    await erin.post("/api/console/presence", {"status": "online"})
    told = await receive_until(vws, event("transferred"), timeout=8)
    assert told["message"]["sender_name"] == "erin"
    gone = await receive_until(aws, conv_frame(lambda c: c["id"] == cid))
    assert gone["conversation"]["agent"]["id"] == erin.user_id
    assert gone["conversation"]["transfer_pending"] is False
    await vws.close()
    await aws.close()


async def test_conference_guest_speaks_and_the_visitor_is_told_who_joined_and_left(
    make_agent, make_visitor
):
    alice, aws, _visitor, vws, conv = await chat_with(make_agent, make_visitor)
    cid = conv["id"]
    bob = await make_agent("bob")
    bws = await bob.ws()
    invited = await alice.post(
        f"/api/console/conversations/{cid}/invite", {"agent_id": bob.user_id}
    )
    assert invited["conversation"]["participants"] == [{"id": bob.user_id, "display_name": "bob"}]
    assert invited["conversation"]["agent"]["id"] == alice.user_id
    joined = await receive_until(vws, event("joined"))
    assert joined["message"]["sender_name"] == "bob"
    await receive_until(bws, conv_frame(lambda c: c["id"] == cid))
    assert [
        c["id"] for c in (await bob.get("/api/console/conversations?scope=mine"))["conversations"]
    ] == [cid]

    await bws.send_json({"type": "join", "conversation_id": cid, "after_seq": 0})
    await send(bws, cid, "b1", "我是技术支持")
    await receive_until(
        vws, lambda f: f["type"] == "message" and f["message"]["body"] == "我是技术支持"
    )
    await alice.post(f"/api/console/conversations/{cid}/invite", {"agent_id": bob.user_id}, 409)

    await bob.post(f"/api/console/conversations/{cid}/leave")
    left = await receive_until(vws, event("left"))
    assert left["message"]["sender_name"] == "bob"
    await bob.post(
        f"/api/console/conversations/{cid}/messages", {"client_msg_id": "b2", "body": "x"}, 404
    )
    for ws in (vws, aws, bws):
        await ws.close()


async def test_whispers_and_notes_never_reach_the_visitor(make_agent, make_visitor):
    alice, aws, visitor, vws, conv = await chat_with(make_agent, make_visitor)
    cid = conv["id"]
    boss = await make_agent("boss", role="supervisor")
    sws = await boss.ws()
    await sws.send_json({"type": "join", "conversation_id": cid, "after_seq": 0})
    viewers = await receive_until(aws, lambda f: f["type"] == "viewers" and len(f["viewers"]) == 2)
    assert {v["display_name"] for v in viewers["viewers"]} == {"alice", "boss"}

    await drain(vws, 0.2)
    whisper = await boss.post(
        f"/api/console/conversations/{cid}/notes", {"body": "先核实身份", "whisper": True}, 201
    )
    assert whisper["message"]["event"] == "whisper"
    got = await receive_until(
        aws, lambda f: f["type"] == "message" and f["message"]["body"] == "先核实身份"
    )
    assert got["message"]["visibility"] == "staff"
    await alice.post(f"/api/console/conversations/{cid}/notes", {"body": "客户很急"}, 201)
    await alice.post(f"/api/console/conversations/{cid}/notes", {"body": "x", "whisper": True}, 403)
    # Typing a note is internal too.
    await aws.send_json(
        {"type": "typing", "conversation_id": cid, "active": True, "internal": True}
    )
    await receive_until(sws, lambda f: f["type"] == "typing" and f["internal"] is True)
    await send(aws, cid, "a1", "公开回复")

    frames = await drain(vws, 0.6)
    bodies = [f["message"]["body"] for f in frames if f["type"] == "message"]
    assert bodies == ["公开回复"]
    assert not any(f["type"] == "typing" for f in frames)
    # A visitor replaying from the start does not get them either.
    vws2 = await visitor.ws()
    await vws2.send_json({"type": "join", "conversation_id": cid, "after_seq": 0})
    replay = await drain(vws2, 0.5)
    assert all(f["message"]["visibility"] == "public" for f in replay if f["type"] == "message")
    assert "先核实身份" not in str(replay) and "客户很急" not in str(replay)

    # Only a supervisor takes over; then the visitor is told and the agent loses it.
    await alice.post(f"/api/console/conversations/{cid}/takeover", status=403)
    taken = await boss.post(f"/api/console/conversations/{cid}/takeover")
    assert taken["conversation"]["agent"]["id"] == boss.user_id
    told = await receive_until(vws, event("transferred"))
    assert told["message"]["sender_name"] == "boss"
    await alice.get(f"/api/console/conversations/{cid}", status=404)
    for ws in (vws, vws2, aws, sws):
        await ws.close()


async def test_canned_answers_are_personal_or_shared_by_supervisors(make_agent):
    alice = await make_agent("alice")
    bob = await make_agent("bob")
    boss = await make_agent("boss", role="supervisor")
    mine = await alice.post(
        "/api/console/canned", {"shortcut": "hi", "title": "问候", "body": "您好!"}, 201
    )
    await alice.post("/api/console/canned", {"shortcut": "hi", "body": "again"}, 409)
    await alice.post("/api/console/canned", {"shortcut": "bad shortcut", "body": "x"}, 422)
    await alice.post("/api/console/canned", {"shortcut": "s", "body": "x", "shared": True}, 403)
    await boss.post("/api/console/canned", {"shortcut": "bye", "body": "再见", "shared": True}, 201)
    assert [a["shortcut"] for a in (await alice.get("/api/console/canned"))["answers"]] == [
        "bye",
        "hi",
    ]
    assert [a["shortcut"] for a in (await bob.get("/api/console/canned"))["answers"]] == ["bye"]
    await bob.call("DELETE", f"/api/console/canned/{mine['answer']['id']}", status=404)
    await alice.call("DELETE", f"/api/console/canned/{mine['answer']['id']}")
