"""A visitor and an agent chat over real HTTP and WebSocket on loopback."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp

from tests.conftest import receive_until


def is_message(body: str):  # type: ignore[no-untyped-def]
    return lambda f: f["type"] == "message" and f["message"]["body"] == body


async def test_visitor_and_agent_exchange_messages_in_real_time(make_agent, make_visitor):
    agent = await make_agent("wangfang")
    agent_ws = await agent.ws()
    visitor = await make_visitor()
    conv = await visitor.open(name="李雷", page_url="https://example.cn/pricing")

    # Assignment is automatic: the only online agent gets it and hears of it.
    assigned = await receive_until(
        agent_ws,
        lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "active",
    )
    assert assigned["conversation"]["agent"]["id"] == agent.user_id
    assert assigned["conversation"]["visitor"]["name"] == "李雷"

    vws = await visitor.ws()
    await vws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": 0})
    await agent_ws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": 0})
    joined = await receive_until(vws, lambda f: f["type"] == "message")
    assert joined["message"]["event"] == "assigned"
    assert joined["message"]["sender_name"] == "wangfang"

    await vws.send_json(
        {"type": "send", "conversation_id": conv["id"], "client_msg_id": "v1", "body": "你好"}
    )
    ack = await receive_until(vws, lambda f: f["type"] == "ack")
    assert ack["client_msg_id"] == "v1"
    got = await receive_until(agent_ws, is_message("你好"))
    assert got["message"]["sender_type"] == "visitor"
    assert got["message"]["seq"] == ack["message"]["seq"]

    await agent_ws.send_json({"type": "typing", "conversation_id": conv["id"], "active": True})
    typing = await receive_until(vws, lambda f: f["type"] == "typing")
    assert typing["sender_type"] == "agent" and typing["active"] is True

    await agent_ws.send_json(
        {"type": "send", "conversation_id": conv["id"], "client_msg_id": "a1", "body": "您好!"}
    )
    reply = await receive_until(vws, is_message("您好!"))
    assert reply["message"]["sender_type"] == "agent"
    assert reply["message"]["seq"] == ack["message"]["seq"] + 1

    await vws.close()
    await agent_ws.close()


async def test_resend_is_idempotent_and_resume_replays_exactly_what_was_missed(
    make_agent, make_visitor
):
    agent = await make_agent()
    visitor = await make_visitor()
    conv = await visitor.open()
    vws = await visitor.ws()
    await vws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": 0})
    # The agent's assignment is its own system message: wait for it, so that it comes
    # before the visitor's line and not among the messages the resume must replay
    # (CI: it landed after the line once, and the replay began with it).
    await receive_until(
        vws, lambda f: f["type"] == "message" and f["message"].get("event") == "assigned"
    )
    frame = {"type": "send", "conversation_id": conv["id"], "client_msg_id": "dup", "body": "x"}
    await vws.send_json(frame)
    first = await receive_until(vws, lambda f: f["type"] == "ack")
    await vws.send_json(frame)
    second = await receive_until(vws, lambda f: f["type"] == "ack")
    assert first["message"]["id"] == second["message"]["id"]
    seen = first["message"]["seq"]
    await vws.close()

    # While the visitor is away the agent writes three messages.
    for i in range(3):
        await agent.post(
            f"/api/console/conversations/{conv['id']}/messages",
            {"client_msg_id": f"a{i}", "body": f"reply {i}"},
            status=201,
        )
    vws = await visitor.ws()
    await vws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": seen})
    replayed = [await receive_until(vws, lambda f: f["type"] == "message") for _ in range(3)]
    assert [m["message"]["body"] for m in replayed] == ["reply 0", "reply 1", "reply 2"]
    assert [m["message"]["seq"] for m in replayed] == [seen + 1, seen + 2, seen + 3]
    await vws.send_json({"type": "ping"})
    assert (await vws.receive_json(timeout=5)) == {"type": "pong"}  # nothing else queued
    status, body, _ = await visitor.request(
        "GET", f"/api/visitor/conversations/{conv['id']}/messages?after_seq=0"
    )
    assert status == 200
    bodies = [m["body"] for m in body["messages"] if m["sender_type"] != "system"]
    assert bodies.count("x") == 1
    await vws.close()


async def test_live_messages_during_replay_arrive_once_and_in_order(make_agent, make_visitor):
    agent = await make_agent()
    visitor = await make_visitor()
    conv = await visitor.open()
    # The dispatcher gives the chat to the agent in its own pass: wait for it, or the
    # agent's first message is refused (403, not theirs yet) on a busy machine.
    for _ in range(100):
        current = await agent.get(f"/api/console/conversations/{conv['id']}")
        if current["conversation"]["status"] == "active":
            break
        await asyncio.sleep(0.05)
    path = f"/api/console/conversations/{conv['id']}/messages"
    for i in range(30):
        await agent.post(path, {"client_msg_id": f"pre{i}", "body": f"m{i}"}, status=201)
    vws = await visitor.ws()
    await vws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": 0})
    writer = asyncio.gather(
        *(agent.post(path, {"client_msg_id": f"live{i}", "body": f"l{i}"}, 201) for i in range(20))
    )
    seqs = []
    last = conv["last_seq"] + 1 + 30 + 20  # assigned event, 30 earlier, 20 live
    while not seqs or seqs[-1] < last:
        frame = await receive_until(vws, lambda f: f["type"] == "message")
        seqs.append(frame["message"]["seq"])
    await writer
    assert seqs == list(range(1, last + 1))
    await vws.close()


async def test_visitor_messages_wait_in_queue_until_an_agent_comes_online(make_agent, make_visitor):
    agent = await make_agent(status="offline")
    visitor = await make_visitor()
    conv = await visitor.open()
    assert conv["status"] == "waiting"
    status, _, _ = await visitor.request(
        "POST",
        f"/api/visitor/conversations/{conv['id']}/messages",
        {"client_msg_id": "q1", "body": "anyone there?"},
    )
    assert status == 201
    waiting = await agent.get("/api/console/conversations?scope=waiting")
    assert [c["id"] for c in waiting["conversations"]] == [conv["id"]]
    agent_ws = await agent.ws()
    await agent.post("/api/console/presence", {"status": "online"})
    await receive_until(
        agent_ws,
        lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "active",
    )
    mine = await agent.get("/api/console/conversations?scope=mine")
    assert [c["id"] for c in mine["conversations"]] == [conv["id"]]
    await agent_ws.close()


async def test_close_notifies_both_sides_and_frees_the_agent(make_agent, make_visitor):
    agent = await make_agent(max_chats=1)
    first, second = await make_visitor(), await make_visitor()
    conv1 = await first.open()
    conv2 = await second.open()
    await agent.running.box.dispatcher.wait_idle()  # assignment runs after the answer
    mine = await agent.get("/api/console/conversations?scope=mine")
    assert [c["id"] for c in mine["conversations"]] == [conv1["id"]]
    vws = await second.ws()
    await agent.post(f"/api/console/conversations/{conv1['id']}/close")
    # The freed place goes to the waiting visitor at once.
    update = await receive_until(vws, lambda f: f["type"] == "conversation")
    assert update["conversation"]["id"] == conv2["id"]
    assert update["conversation"]["status"] == "active"
    status, body, _ = await first.request("GET", f"/api/visitor/conversations/{conv1['id']}")
    assert body["conversation"]["status"] == "closed"
    status, body, _ = await first.request(
        "POST",
        f"/api/visitor/conversations/{conv1['id']}/messages",
        {"client_msg_id": "late", "body": "hello?"},
    )
    assert status == 409
    await vws.close()


async def test_several_chats_at_once_respect_the_agents_limit(make_agent, make_visitor):
    agent = await make_agent(max_chats=2)
    visitors = [await make_visitor() for _ in range(3)]
    convs = [await v.open() for v in visitors]
    await agent.running.box.dispatcher.wait_idle()
    mine = await agent.get("/api/console/conversations?scope=mine")
    assert {c["id"] for c in mine["conversations"]} == {convs[0]["id"], convs[1]["id"]}
    await agent.post(f"/api/console/conversations/{convs[2]['id']}/accept", status=409)
    other = await make_agent()
    await other.running.box.dispatcher.wait_idle()
    mine = await other.get("/api/console/conversations?scope=mine")
    assert [c["id"] for c in mine["conversations"]] == [convs[2]["id"]]


async def test_agent_cannot_write_to_someone_elses_conversation(make_agent, make_visitor):
    owner = await make_agent()
    conv = await (await make_visitor()).open()
    intruder = await make_agent()
    await intruder.post(
        f"/api/console/conversations/{conv['id']}/messages",
        {"client_msg_id": "x", "body": "hi"},
        status=404,
    )
    ws = await intruder.ws()
    await ws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": 0})
    err = await receive_until(ws, lambda f: f["type"] == "error")
    assert err["code"] == "not_found"
    await ws.close()
    assert owner.user_id != intruder.user_id


async def test_agent_socket_refuses_another_origin(running, make_agent):
    agent = await make_agent()
    try:
        await agent.http.ws_connect(
            running.ws_base + "/api/console/ws", origin="https://evil.example"
        )
    except aiohttp.WSServerHandshakeError as err:
        assert err.status == 403
    else:
        raise AssertionError("cross-origin console socket was accepted")


async def test_agent_socket_needs_a_session(running, http_sessions):
    http = http_sessions()
    try:
        await http.ws_connect(running.ws_base + "/api/console/ws")
    except aiohttp.WSServerHandshakeError as err:
        assert err.status == 401
    else:
        raise AssertionError("console socket without session was accepted")


async def test_unique_client_ids_from_many_senders_all_land_once(make_agent, make_visitor):
    agent = await make_agent()
    visitor = await make_visitor()
    conv = await visitor.open()
    path = f"/api/console/conversations/{conv['id']}/messages"
    ids = [uuid.uuid4().hex for _ in range(40)]
    await asyncio.gather(
        *(agent.post(path, {"client_msg_id": i, "body": i}, 201) for i in ids),
        *(agent.post(path, {"client_msg_id": i, "body": i}) for i in ids[:10]),
        return_exceptions=True,
    )
    got = await agent.get(path + "?after_seq=0")
    bodies = [m["body"] for m in got["messages"] if m["sender_type"] == "agent"]
    assert sorted(bodies) == sorted(ids)
    seqs = [m["seq"] for m in got["messages"]]
    assert seqs == list(range(1, len(seqs) + 1))


async def _collect(ws: aiohttp.ClientWebSocketResponse, done) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    """Return the frames that come until one for which done() is true, that one last."""
    frames = []
    while not frames or not done(frames[-1]):
        frames.append(await ws.receive_json(timeout=5))
    return frames


async def _until_pong(ws: aiohttp.ClientWebSocketResponse) -> list[dict]:  # type: ignore[type-arg]
    """Return every frame that comes before the answer to a ping sent now."""
    await ws.send_json({"type": "ping"})
    return (await _collect(ws, lambda f: f["type"] == "pong"))[:-1]


def _lines(frames: list[dict]) -> list[tuple[str, int, bool | None]]:  # type: ignore[type-arg]
    """The message and ack frames among frames: type, seq, and an ack's `stream`."""
    return [
        (f["type"], f["message"]["seq"], f.get("stream"))
        for f in frames
        if f["type"] in ("message", "ack")
    ]


async def test_a_senders_socket_gets_its_line_once_as_the_ack_in_its_place(
    make_agent, make_visitor
):
    """Issue 18: the sender's own copy of a line is its ack, in seq order; the other
    sockets (the agent, the visitor's second tab) get the message frame."""
    agent = await make_agent()
    agent_ws = await agent.ws()
    visitor = await make_visitor()
    conv = await visitor.open()
    await receive_until(
        agent_ws,
        lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "active",
    )
    tab, other_tab = await visitor.ws(), await visitor.ws()
    for ws in (tab, other_tab, agent_ws):
        await ws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": 0})
        await receive_until(
            ws, lambda f: f["type"] == "message" and f["message"].get("event") == "assigned"
        )
    line = {"type": "send", "conversation_id": conv["id"], "client_msg_id": "v1", "body": "在吗"}
    await tab.send_json(line)
    seq = (await receive_until(agent_ws, is_message("在吗")))["message"]["seq"]
    reply = {"type": "send", "conversation_id": conv["id"], "client_msg_id": "a1", "body": "在"}
    await agent_ws.send_json(reply)

    # The sender's tab: its line once, as the ack standing in the stream, then the reply.
    mine = await _collect(tab, is_message("在"))
    assert _lines(mine) == [("ack", seq, True), ("message", seq + 1, None)]
    ack = next(f for f in mine if f["type"] == "ack")
    assert ack["client_msg_id"] == "v1" and ack["message"]["body"] == "在吗"
    # The visitor's other tab: both as messages, in order.
    theirs = await _collect(other_tab, is_message("在"))
    assert _lines(theirs) == [("message", seq, None), ("message", seq + 1, None)]
    # The agent: its own reply only as the ack in the stream, no copy after it.
    agents = await _collect(agent_ws, lambda f: f["type"] == "ack")
    assert _lines(agents) == [("ack", seq + 1, True)]
    assert _lines(await _until_pong(agent_ws)) == []

    # A resend is answered apart from the stream, and stores nothing new.
    await tab.send_json(line)
    assert _lines(await _until_pong(tab)) == [("ack", seq, False)]
    # A console that sends into a chat it has not joined gets its ack apart too.
    await agent_ws.send_json({"type": "leave", "conversation_id": conv["id"]})
    await agent_ws.send_json({**reply, "client_msg_id": "a2", "body": "还在"})
    got = await _collect(agent_ws, lambda f: f["type"] == "ack")
    assert _lines(got) == [("ack", seq + 2, False)]
    for ws in (tab, other_tab, agent_ws):
        await ws.close()
