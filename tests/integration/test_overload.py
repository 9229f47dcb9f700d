"""Overload (issue 18): a socket's sends run side by side but keep each conversation's
order; a busy box refuses new conversations, a saturated one new lines, each with a
clear `busy` and a retry, and loses nothing it acknowledged; a socket that stops
reading is closed and counted.

The writer is made slow for real: a write job that sleeps in the writer thread holds
every job queued behind it, as a slow disk or a huge batch would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from appliance.core.actors import Staff
from appliance.webui import ws as ws_module
from appliance.webui.keys import HUB
from tests.conftest import Agent, Running, Visitor, receive_until
from tests.integration.test_metrics import scrape

_BOSS = Staff(0, "boss", "admin")  # reads any conversation's history


async def _chat(
    agent: Agent, visitor: Visitor
) -> tuple[str, aiohttp.ClientWebSocketResponse, aiohttp.ClientWebSocketResponse]:
    """Open a conversation the agent gets; both sockets joined."""
    agent_ws = await agent.ws()
    conv = await visitor.open()
    await receive_until(
        agent_ws,
        lambda f: (
            f["type"] == "conversation"
            and f["conversation"]["id"] == conv["id"]
            and f["conversation"]["status"] == "active"
        ),
    )
    vws = await visitor.ws()
    for sock in (vws, agent_ws):
        await sock.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": 0})
    await receive_until(vws, lambda f: f["type"] == "message")
    return conv["id"], agent_ws, vws


async def _hold_writer(running: Running, seconds: float) -> asyncio.Task[Any]:
    """Occupy the writer thread for `seconds`; return the holding job's task."""
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def hold(_conn: Any) -> None:
        loop.call_soon_threadsafe(started.set)
        time.sleep(seconds)

    task = asyncio.create_task(running.box.db.write(hold))
    await started.wait()
    return task


async def _acks(sock: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    acks: list[dict[str, Any]] = []
    while len(acks) < count:
        frame = await sock.receive_json(timeout=15)
        assert frame["type"] != "error", frame
        if frame["type"] == "ack":
            acks.append(frame)
    return acks


async def test_a_consoles_sends_in_two_chats_share_commits_and_keep_each_chats_order(
    make_agent: Callable[..., Awaitable[Agent]],
    make_visitor: Callable[..., Awaitable[Visitor]],
    running: Running,
) -> None:
    agent = await make_agent(max_chats=5)
    first, agent_ws, vws1 = await _chat(agent, await make_visitor())
    second_visitor = await make_visitor()
    conv2 = await second_visitor.open()
    await receive_until(  # assigned: the first frame may still show it queued
        agent_ws,
        lambda f: (
            f["type"] == "conversation"
            and f["conversation"]["id"] == conv2["id"]
            and f["conversation"]["status"] == "active"
        ),
    )
    await agent_ws.send_json({"type": "join", "conversation_id": conv2["id"], "after_seq": 0})
    vws2 = await second_visitor.ws()
    await vws2.send_json({"type": "join", "conversation_id": conv2["id"], "after_seq": 0})

    # With the writer held, 2 x 20 sends arrive. Handled one at a time, each would wait
    # for its own commit: 40 transactions. In lanes they queue together.
    held = await _hold_writer(running, 0.5)
    before = running.box.db.stats.transactions
    for i in range(20):
        for conv_id in (first, conv2["id"]):
            await agent_ws.send_json(
                {
                    "type": "send",
                    "conversation_id": conv_id,
                    "client_msg_id": f"{conv_id}-{i}",
                    "body": f"第{i}条",
                }
            )
    await held
    acks = await _acks(agent_ws, 40)
    assert running.box.db.stats.transactions - before < 10

    for conv_id, vws in ((first, vws1), (conv2["id"], vws2)):
        mine = [a for a in acks if a["message"]["conversation_id"] == conv_id]
        # Stored in the order sent: seq grows with the line's number.
        by_number = sorted(mine, key=lambda a: int(a["client_msg_id"].rsplit("-", 1)[1]))
        seqs = [a["message"]["seq"] for a in by_number]
        assert seqs == sorted(seqs) and len(set(seqs)) == 20
        # The visitor hears them in that order too.
        bodies: list[str] = []
        while len(bodies) < 20:
            frame = await vws.receive_json(timeout=10)
            if frame["type"] == "message" and frame["message"]["sender_type"] == "agent":
                bodies.append(frame["message"]["body"])
        assert bodies == [f"第{i}条" for i in range(20)]
    for sock in (agent_ws, vws1, vws2):
        await sock.close()


async def test_frames_in_flight_per_socket_are_bounded_and_all_land_in_order(
    make_agent: Callable[..., Awaitable[Agent]],
    make_visitor: Callable[..., Awaitable[Visitor]],
    running: Running,
) -> None:
    agent = await make_agent()
    conv_id, agent_ws, vws = await _chat(agent, await make_visitor())
    total = ws_module._IN_FLIGHT * 3
    held = await _hold_writer(running, 1.0)
    for i in range(total):
        frame = {"type": "send", "conversation_id": conv_id, "client_msg_id": f"m{i}"}
        await agent_ws.send_json({**frame, "body": str(i)})
    await asyncio.sleep(0.5)
    # The socket stopped being read once _IN_FLIGHT sends were running: no more are
    # queued for the writer than that (plus the holder's neighbours).
    assert running.box.db.queue_depth <= ws_module._IN_FLIGHT + 2
    await held
    acks = await _acks(agent_ws, total)
    assert [a["client_msg_id"] for a in acks] == [f"m{i}" for i in range(total)]
    stored = await running.box.chats.history(conv_id, _BOSS, 0, 1000)
    bodies = [m.body for m in stored if m.sender_type == "agent"]
    assert bodies == [str(i) for i in range(total)]
    await agent_ws.close()
    await vws.close()


async def test_a_busy_box_refuses_new_conversations_and_serves_open_ones(
    make_app: Callable[..., Awaitable[Running]],
    http_sessions: Callable[[], aiohttp.ClientSession],
) -> None:
    running = await make_app(overload_writer_wait=0.2, overload_writer_saturated=30.0)
    chatting, newcomer = Visitor(running, http_sessions()), Visitor(running, http_sessions())
    for visitor in (chatting, newcomer):
        await visitor.start()
    open_one = await chatting.open()

    held = await _hold_writer(running, 1.5)
    queued = asyncio.create_task(running.box.db.write(lambda _c: None))
    while running.box.load.writer_wait < 0.3:
        await asyncio.sleep(0.05)
    status, body, response = await newcomer.request("POST", "/api/visitor/conversations", {})
    assert status == 503
    assert body["error"]["code"] == "busy"
    assert body["error"]["retry_after"] == 5 and response.headers["Retry-After"] == "5"
    # A visitor already in a conversation still gets it.
    status, body, _ = await chatting.request("POST", "/api/visitor/conversations", {})
    assert status == 200 and body["conversation"]["id"] == open_one["id"]
    assert running.box.load.shed["conversation"] == 1

    await held
    await queued
    created = await newcomer.open()
    assert created["status"] in ("waiting", "active")
    assert running.box.load.reason() is None


async def test_a_saturated_box_refuses_new_lines_with_busy_and_stores_them_when_sent_again(
    make_app: Callable[..., Awaitable[Running]],
    http_sessions: Callable[[], aiohttp.ClientSession],
) -> None:
    running = await make_app(overload_writer_wait=0.2, overload_writer_saturated=0.4)
    visitor = Visitor(running, http_sessions())
    await visitor.start()
    conv = await visitor.open()
    vws = await visitor.ws()
    await vws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": 0})
    line = {"type": "send", "conversation_id": conv["id"], "client_msg_id": "c1", "body": "在吗"}

    held = await _hold_writer(running, 1.5)
    queued = asyncio.create_task(running.box.db.write(lambda _c: None))
    while running.box.load.writer_wait < 0.5:
        await asyncio.sleep(0.05)
    await vws.send_json(line)
    refused = await receive_until(vws, lambda f: f["type"] in ("error", "ack"))
    assert refused["type"] == "error"
    assert refused["code"] == "busy" and refused["ref"] == "c1"
    assert refused["retry_after"] == 5
    await held
    await queued
    # Nothing was stored under the refused line; sent again, it is, once.
    stored = await running.box.chats.history(conv["id"], _BOSS, 0, 100)
    assert not [m for m in stored if m.sender_type == "visitor"]
    await vws.send_json(line)
    ack = await receive_until(vws, lambda f: f["type"] in ("error", "ack"))
    assert ack["type"] == "ack" and ack["message"]["body"] == "在吗"
    assert running.box.load.shed["line"] == 1
    await vws.close()


async def test_a_socket_that_stops_reading_is_closed_and_counted(
    make_visitor: Callable[..., Awaitable[Visitor]], running: Running
) -> None:
    visitor = await make_visitor()
    vws = await visitor.ws()
    hub = running.server.app[HUB]
    (conn,) = hub.visitors[visitor.visitor_id]
    # The client reads nothing while far more than the send queue's bound is sent.
    frame = '{"type":"pong","pad":"' + "x" * 8000 + '"}'
    for _ in range(4000):
        conn.send(frame)
        if conn.overflowed:
            break
        await asyncio.sleep(0)
    assert conn.overflowed
    assert hub.stats.slow_closed == 1
    deadline = time.monotonic() + 10
    while visitor.visitor_id in hub.visitors and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert visitor.visitor_id not in hub.visitors
    await vws.close()


async def test_metrics_show_load_queues_and_shed_work(
    make_app: Callable[..., Awaitable[Running]],
) -> None:
    from tests.browser.conftest import free_port

    port = free_port()
    running = await make_app(metrics_port=port, overload_writer_wait=0.2)
    held = await _hold_writer(running, 1.0)
    queued = asyncio.create_task(running.box.db.write(lambda _c: None))
    while running.box.load.writer_wait < 0.3:
        await asyncio.sleep(0.05)
    with_busy = running.box.load
    try:
        with_busy.admit_conversation()
    except Exception as err:
        assert getattr(err, "code", "") == "busy"
    _, values = await scrape(port)
    assert values["callbox_busy"] == 1
    assert values["callbox_db_oldest_wait_seconds"] >= 0.3
    assert values['callbox_shed_total{what="conversation"}'] == 1
    assert values['callbox_shed_total{what="line"}'] == 0
    assert values['callbox_ws_send_queue_frames{of="all"}'] == 0
    assert values["callbox_ws_slow_closed_total"] == 0
    assert "callbox_loop_lag_seconds" in values
    await held
    await queued
    _, values = await scrape(port)
    assert values["callbox_busy"] == 0


async def test_a_bad_frame_in_a_lane_closes_the_socket_with_its_error(
    make_agent: Callable[..., Awaitable[Agent]],
    make_visitor: Callable[..., Awaitable[Visitor]],
) -> None:
    agent = await make_agent()
    conv_id, agent_ws, vws = await _chat(agent, await make_visitor())
    # A console may not send what a visitor types (peek): refused like any bad frame,
    # after the line before it in the same conversation was stored and acknowledged.
    await agent_ws.send_json(
        {"type": "send", "conversation_id": conv_id, "client_msg_id": "ok", "body": "好"}
    )
    await agent_ws.send_json({"type": "peek", "conversation_id": conv_id, "text": "x"})
    ack = await receive_until(agent_ws, lambda f: f["type"] in ("ack", "error"))
    assert ack["type"] == "ack"
    refused = await receive_until(agent_ws, lambda f: f["type"] == "error")
    assert refused["code"] == "bad_frame"
    closing = await agent_ws.receive(timeout=5)
    while closing.type == aiohttp.WSMsgType.TEXT:
        closing = await agent_ws.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert agent_ws.close_code == 1007
    await vws.close()
