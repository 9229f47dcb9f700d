"""Read state and sneak peek over the sockets, and the visitor's rating over HTTP, on a
real appliance on loopback: both sides see how far the other has read (one stored mark
per side, written only when it advances), a console sees what the visitor types only
while the box's switch is on (and the text is never stored), and an ended chat is rated
once by its visitor, changeable for a while, and shown wherever the console lists it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import WSMsgType

from appliance.core import audit
from tests.conftest import Agent, Running, Visitor, receive_until


async def _chat(make_agent: Any, make_visitor: Any) -> tuple[Agent, Visitor, str, Any, Any]:
    """An agent and a visitor in one active chat, both sockets joined."""
    agent = await make_agent("wangfang")
    aws = await agent.ws()
    visitor = await make_visitor()
    conv = await visitor.open(name="李雷")
    await receive_until(
        aws, lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "active"
    )
    vws = await visitor.ws()
    for ws in (vws, aws):
        await ws.send_json({"type": "join", "conversation_id": conv["id"], "after_seq": 0})
    await receive_until(vws, lambda f: f["type"] == "message")
    await receive_until(aws, lambda f: f["type"] == "message")
    return agent, visitor, conv["id"], vws, aws


async def _send(ws: Any, conv_id: str, msg_id: str, body: str) -> int:
    await ws.send_json(
        {"type": "send", "conversation_id": conv_id, "client_msg_id": msg_id, "body": body}
    )
    ack = await receive_until(ws, lambda f: f["type"] == "ack" and f["client_msg_id"] == msg_id)
    return int(ack["message"]["seq"])


async def _until_pong(ws: Any) -> list[dict[str, Any]]:
    """Ping and return every frame that came before the pong (frames are in order)."""
    await ws.send_json({"type": "ping"})
    seen = []
    while True:
        frame = await ws.receive_json(timeout=5)
        if frame["type"] == "pong":
            return seen
        seen.append(frame)


async def _refused(ws: Any, frame: str, code: str = "bad_frame") -> dict[str, Any]:
    """Send a frame that closes the socket: an error frame first, then close 1007."""
    await ws.send_str(frame)
    err = await ws.receive_json(timeout=5)
    assert err["type"] == "error" and err["code"] == code, err
    closing = await ws.receive(timeout=5)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    assert ws.close_code == 1007
    return err  # type: ignore[no-any-return]


async def _visitor_ws(running: Running, visitor: Visitor) -> tuple[Any, dict[str, Any]]:
    """A visitor socket and its ready frame as sent (it says whether to peek)."""
    ws = await visitor.http.ws_connect(running.ws_base + "/api/visitor/ws")
    await ws.send_json({"type": "auth", "token": visitor.token})
    return ws, await ws.receive_json(timeout=5)


async def test_read_state_both_ways_one_mark_per_side(running, make_agent, make_visitor):
    _agent, visitor, conv_id, vws, aws = await _chat(make_agent, make_visitor)
    v1 = await _send(vws, conv_id, "v1", "你好")
    await receive_until(aws, lambda f: f["type"] == "message" and f["message"]["seq"] == v1)
    a1 = await _send(aws, conv_id, "a1", "您好")
    await receive_until(vws, lambda f: f["type"] == "message" and f["message"]["seq"] == a1)

    # The agent read the visitor's message: the visitor hears of it, the console does not.
    await aws.send_json({"type": "read", "conversation_id": conv_id, "seq": v1})
    told = await receive_until(vws, lambda f: f["type"] == "read")
    assert told == {"type": "read", "conversation_id": conv_id, "reader": "agent", "seq": v1}
    assert not [f for f in await _until_pong(aws) if f["type"] == "read"]
    # And the other way.
    await vws.send_json({"type": "read", "conversation_id": conv_id, "seq": a1})
    told = await receive_until(aws, lambda f: f["type"] == "read")
    assert told == {"type": "read", "conversation_id": conv_id, "reader": "visitor", "seq": a1}

    # A mark that does not advance is news to nobody.
    await vws.send_json({"type": "read", "conversation_id": conv_id, "seq": v1})
    await vws.send_json({"type": "read", "conversation_id": conv_id, "seq": a1})
    assert not [f for f in await _until_pong(aws) if f["type"] == "read"]

    # One row per conversation, written by the coalescing flush.
    await running.box.read_marks.flush()
    stored = await running.box.db.fetchall(
        "SELECT conversation_id, visitor_seq, agent_seq FROM read_marks"
    )
    assert [tuple(r) for r in stored] == [(conv_id, a1, v1)]

    # A supervisor looking on reads without the visitor being told.
    boss = await make_agent("boss", role="supervisor")
    bws = await boss.ws()
    await bws.send_json({"type": "join", "conversation_id": conv_id, "after_seq": 0})
    joined = await receive_until(bws, lambda f: f["type"] == "read" and f["reader"] == "agent")
    assert joined["seq"] == v1  # a console joining hears both marks as they stand
    a2 = await _send(aws, conv_id, "a2", "还在吗？")
    await receive_until(bws, lambda f: f["type"] == "message" and f["message"]["seq"] == a2)
    await bws.send_json({"type": "read", "conversation_id": conv_id, "seq": a2})
    assert not [f for f in await _until_pong(bws) if f["type"] == "error"]
    assert not [f for f in await _until_pong(vws) if f["type"] == "read"]

    # A visitor back on a new socket hears how far the agents have read, after the replay.
    await vws.close()
    again = await visitor.ws()
    await again.send_json({"type": "join", "conversation_id": conv_id, "after_seq": 0})
    mark = await receive_until(again, lambda f: f["type"] == "read")
    assert mark["reader"] == "agent" and mark["seq"] == v1
    for ws in (again, aws, bws):
        await ws.close()


async def test_read_frames_out_of_bounds_are_refused_with_an_error(
    running, make_agent, make_visitor
):
    _agent, visitor, conv_id, vws, aws = await _chat(make_agent, make_visitor)
    last = (await running.box.chats.get(conv_id)).last_seq
    # Past the last message: an error, and the socket goes on.
    await vws.send_json({"type": "read", "conversation_id": conv_id, "seq": last + 1})
    err = await receive_until(vws, lambda f: f["type"] == "error")
    assert err["code"] == "seq_beyond_last"
    assert await _until_pong(vws) == []
    # A conversation not joined on this socket (another visitor's, or none): refused.
    other = await make_visitor()
    theirs = await other.open()
    for conv in (theirs["id"], "c_nope"):
        await vws.send_json({"type": "read", "conversation_id": conv, "seq": 1})
        err = await receive_until(vws, lambda f: f["type"] == "error")
        assert err["code"] == "not_joined" and err["conversation_id"] == conv
    assert (await running.box.read_marks.get(theirs["id"])) == (0, 0)
    # Malformed: not a whole number in range, or missing: the socket closes after saying so.
    for seq in (0, -1, 2**53, 1.5, "1", None, True):
        ws = await visitor.ws()
        frame = {"type": "read", "conversation_id": conv_id, "seq": seq}
        await _refused(ws, json.dumps(frame))
    ws = await visitor.ws()
    await _refused(ws, json.dumps({"type": "read", "seq": 1}))
    ws = await visitor.ws()
    await _refused(ws, json.dumps({"type": "read", "conversation_id": "", "seq": 1}))
    # None of it moved a mark.
    await running.box.read_marks.flush()
    assert (await running.box.read_marks.get(conv_id)) == (0, 0)
    for ws in (vws, aws):
        await ws.close()


async def test_sneak_peek_only_while_switched_on_and_never_stored(
    running, make_agent, make_visitor
):
    _agent, visitor, conv_id, vws, aws = await _chat(make_agent, make_visitor)
    # Off by default: the widget is not asked to send, and a frame sent anyway is dropped.
    await vws.send_json({"type": "peek", "conversation_id": conv_id, "text": "我的密码是"})
    assert not [f for f in await _until_pong(aws) if f["type"] == "peek"]

    admin = await make_agent("root", role="admin", status=None)
    await admin.call("PUT", "/api/admin/privacy", {"sneak_peek": True})
    ws, ready = await _visitor_ws(running, visitor)
    assert ready == {"type": "ready", "visitor_id": visitor.visitor_id, "peek": True}
    await ws.send_json({"type": "join", "conversation_id": conv_id, "after_seq": 0})
    await receive_until(ws, lambda f: f["type"] == "message")
    secret = "订单号 20261122，<b>急</b>"
    await ws.send_json({"type": "peek", "conversation_id": conv_id, "text": secret})
    peek = await receive_until(aws, lambda f: f["type"] == "peek")
    assert peek == {"type": "peek", "conversation_id": conv_id, "text": secret}
    # Never to the visitor side, never stored.
    assert not [f for f in await _until_pong(vws) if f["type"] == "peek"]
    rows = await running.box.db.fetchall(
        "SELECT count(*) AS n FROM messages WHERE body LIKE ?", ("%20261122%",)
    )
    assert rows[0]["n"] == 0

    # At most 4 a second per visitor: a burst of 12 relays 4 (within the second).
    for i in range(12):
        await ws.send_json({"type": "peek", "conversation_id": conv_id, "text": f"t{i}"})
    relayed = [f for f in await _until_pong_after(ws, aws) if f["type"] == "peek"]
    assert 1 <= len(relayed) <= 4, relayed

    # Not a joined conversation: an error naming it.
    await ws.send_json({"type": "peek", "conversation_id": "c_other", "text": "x"})
    err = await receive_until(ws, lambda f: f["type"] == "error")
    assert err["code"] == "not_joined" and err["conversation_id"] == "c_other"
    # Too long, NUL, a lone surrogate, the wrong type: refused, then closed.
    for text in ("字" * 201, "a\u0000b", 5, None):
        await _refused(ws, json.dumps({"type": "peek", "conversation_id": conv_id, "text": text}))
        ws, _ = await _visitor_ws(running, visitor)
    lone = '{"type": "peek", "conversation_id": "' + conv_id + '", "text": "\\ud800"}'
    await _refused(ws, lone)
    # Exactly 200 characters is fine.
    ws, _ = await _visitor_ws(running, visitor)
    await ws.send_json({"type": "join", "conversation_id": conv_id, "after_seq": 0})
    await _until_pong(ws)
    await asyncio.sleep(1.1)  # the burst above spent this second's allowance
    await ws.send_json({"type": "peek", "conversation_id": conv_id, "text": "字" * 200})
    got = await receive_until(
        aws, lambda f: f["type"] == "peek" and len(f["text"]) == 200, timeout=5
    )
    assert got["text"] == "字" * 200
    # A console cannot send a peek.
    await _refused(aws, json.dumps({"type": "peek", "conversation_id": conv_id, "text": "x"}))
    for sock in (ws, vws):
        await sock.close()


async def _until_pong_after(ws: Any, other: Any) -> list[dict[str, Any]]:
    """Frames `other` got for what `ws` sent: ws's frames are handled in order, so once
    ws has its pong, everything it caused has been queued to other too."""
    await _until_pong(ws)
    return await _until_pong(other)


async def _rate(visitor: Visitor, conv_id: str, body: Any) -> tuple[int, Any]:
    status, data, _ = await visitor.request(
        "POST", f"/api/visitor/conversations/{conv_id}/rating", body
    )
    return status, data


async def test_rating_an_ended_chat_once_and_changing_it(running, make_agent, make_visitor):
    agent, visitor, conv_id, vws, aws = await _chat(make_agent, make_visitor)
    # Not before it ended.
    status, data = await _rate(visitor, conv_id, {"score": 5})
    assert status == 409 and data["error"]["code"] == "not_ended"
    await visitor.request("POST", f"/api/visitor/conversations/{conv_id}/close")

    for body, words in [
        ({"score": 0}, "between 1 and 5"),
        ({"score": 6}, "between 1 and 5"),
        ({"score": "5"}, "whole number"),
        ({"score": 4, "comment": "长" * 1001}, "1000"),
        ({"score": 4, "comment": "a\u0000b"}, "NUL"),
        ({"score": 4, "extra": 1}, "unknown field"),
        ({}, "score is required"),
    ]:
        status, data = await _rate(visitor, conv_id, body)
        assert status == 422, (body, data)
        assert words in data["error"]["message"], (body, data)

    status, data = await _rate(visitor, conv_id, {"score": 4, "comment": "<b>很快</b>"})
    assert status == 201
    rating = data["feedback"]["rating"]
    assert rating["score"] == 4 and rating["comment"] == "<b>很快</b>"
    told = await receive_until(aws, lambda f: f["type"] == "feedback")
    assert told["feedback"]["rating"]["score"] == 4
    # Changed: one rating still, the first time kept.
    status, data = await _rate(visitor, conv_id, {"score": 2, "comment": ""})
    assert status == 200
    assert data["feedback"]["rating"]["rated_at"] == rating["rated_at"]
    rows = await running.box.db.fetchall("SELECT score FROM chat_ratings")
    assert [r["score"] for r in rows] == [2]

    # Only that conversation's visitor.
    stranger = await make_visitor()
    status, data = await _rate(stranger, conv_id, {"score": 1})
    assert status == 404
    async with stranger.http.post(
        running.url(f"/api/visitor/conversations/{conv_id}/rating"), json={"score": 1}
    ) as r:
        assert r.status == 401  # no token at all

    # The console: the chat, its feedback, the history page, the visitor's profile.
    conv = (await agent.get(f"/api/console/conversations/{conv_id}"))["conversation"]
    assert conv["rating"] == 2
    fb = (await agent.get(f"/api/console/conversations/{conv_id}/feedback"))["feedback"]
    assert fb["rating"]["score"] == 2 and fb["transcript"] is None
    async with agent.http.get(running.url("/console/history")) as page:
        html = await page.text()
    assert 'data-score="2"' in html
    detail = (await agent.get(f"/api/console/visitors/{visitor.visitor_id}"))["visitor"]
    assert [c["rating"] for c in detail["conversations"]] == [2]
    # What the console's list of earlier chats needs for its quality review link.
    assert [(c["id"], c["status"]) for c in detail["conversations"]] == [(conv_id, "closed")]
    closed = await agent.get("/api/console/conversations?scope=closed")
    assert [c["rating"] for c in closed["conversations"]] == [2]

    # 24 hours after the end it can no longer change.
    await running.box.db.write(
        lambda conn: conn.execute(
            "UPDATE conversations SET closed_at = closed_at - 86400001 WHERE id = ?", (conv_id,)
        )
    )
    status, data = await _rate(visitor, conv_id, {"score": 5})
    assert status == 409 and data["error"]["code"] == "rating_closed"
    for ws in (vws, aws):
        await ws.close()


async def test_transcript_request_is_kept_and_shown(running, make_agent, make_visitor):
    agent, visitor, conv_id, vws, aws = await _chat(make_agent, make_visitor)
    path = f"/api/visitor/conversations/{conv_id}/transcript"
    status, data, _ = await visitor.request("POST", path, {"email": "li@example.cn"})
    assert status == 409 and data["error"]["code"] == "not_ended"
    await visitor.request("POST", f"/api/visitor/conversations/{conv_id}/close")
    for bad in ("not-an-address", "a@b", "x" * 300 + "@example.cn", "li@exa\u0000mple.cn"):
        status, data, _ = await visitor.request("POST", path, {"email": bad})
        assert status == 422, (bad, data)
    status, data, _ = await visitor.request("POST", path, {"email": "li@example.cn"})
    assert status == 201
    assert data["feedback"]["transcript"]["email"] == "li@example.cn"
    assert data["feedback"]["transcript"]["sent_at"] is None  # no outgoing server set up
    told = await receive_until(aws, lambda f: f["type"] == "feedback")
    assert told["feedback"]["transcript"]["email"] == "li@example.cn"
    status, _, _ = await visitor.request("POST", path, {"email": "lei@example.cn"})
    assert status == 200
    fb = (await agent.get(f"/api/console/conversations/{conv_id}/feedback"))["feedback"]
    assert fb["transcript"]["email"] == "lei@example.cn" and fb["rating"] is None
    async with agent.http.get(running.url(f"/console/history/{conv_id}")) as page:
        html = await page.text()
    assert "lei@example.cn" in html and 'data-cb="transcript-request"' in html
    # Another agent who may not see the chat gets 404 for its feedback.
    other = await make_agent("zhao")
    await other.get(f"/api/console/conversations/{conv_id}/feedback", status=404)
    for ws in (vws, aws):
        await ws.close()


async def test_the_rating_form_loads_from_the_visitor_surface(running, http_sessions):
    http: aiohttp.ClientSession = http_sessions()
    async with http.get(running.url("/api/visitor/assets/rating.js")) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/javascript")
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        body = await r.text()
    # It hands itself over by an event, with its own strings filled in.
    assert '"callbox:rating"' in body and "把对话记录发到我的邮箱" in body
    async with http.get(running.url("/widget.js")) as r:
        assert "laterTranscript" not in await r.text()  # not in what every page loads
    for name in ("nope.js", "rating", "..%2Fwidget.js", "RATING.JS", "later%2Frating.js"):
        async with http.get(running.url(f"/api/visitor/assets/{name}")) as r:
            assert r.status == 404, name


async def test_the_old_part_route_sends_a_cached_widget_to_the_one_route(running, http_sessions):
    """A widget.js cached from before the routes were one (5 minutes) still finds its
    rating form: the old route answers 301 to the new one, and nothing else."""
    http: aiohttp.ClientSession = http_sessions()
    old = running.url("/api/visitor/widget/rating.js")
    async with http.get(old, allow_redirects=False) as r:
        assert r.status == 301
        assert r.headers["Location"] == "/api/visitor/assets/rating.js"
    async with http.get(old) as r:
        assert r.status == 200 and '"callbox:rating"' in await r.text()
    for name in ("RATING.JS", "..%2Fwidget.js", "rating"):
        async with http.get(running.url(f"/api/visitor/widget/{name}")) as r:
            assert r.status == 404, name


async def test_a_transcript_asked_for_is_mailed_once_without_staff_notes(
    running, make_agent, make_visitor
):
    """With an outgoing mail server set up, the request queues the transcript in the
    outbox in the same write, and a real SMTP server receives what the visitor saw."""
    from tests.mail_servers import SmtpServer

    smtp = SmtpServer()
    smtp.start()
    try:
        await running.box.mail.change_smtp(
            audit.Actor(None, "test", "127.0.0.1"),
            {
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "user": smtp.user,
                "password": smtp.password,
                "from_address": "help@example.com",
                "from_name": "客服中心",
            },
        )
        agent, visitor, conv_id, vws, aws = await _chat(make_agent, make_visitor)
        await _send(vws, conv_id, "v-1", "宽带断了，订单 X200")
        await _send(aws, conv_id, "a-1", "请重启光猫试试")
        await agent.post(
            f"/api/console/conversations/{conv_id}/notes", {"body": "内部：客户很急"}, status=201
        )
        await visitor.request("POST", f"/api/visitor/conversations/{conv_id}/close")
        path = f"/api/visitor/conversations/{conv_id}/transcript"
        status, data, _ = await visitor.request("POST", path, {"email": "li@example.cn"})
        assert status == 201, data
        assert data["feedback"]["transcript"]["sent_at"] is not None
        running.box.mail_out.wake()
        deadline = asyncio.get_running_loop().time() + 15
        while not smtp.sink.messages:
            assert asyncio.get_running_loop().time() < deadline, "no mail arrived"
            await asyncio.sleep(0.05)
        [mail] = smtp.sink.messages
        assert mail["To"] == "li@example.cn" and "对话记录" in mail["Subject"]
        text = mail.get_content()
        assert "宽带断了，订单 X200" in text and "请重启光猫试试" in text
        assert "内部" not in text  # a staff note never reaches the visitor
        assert text.index("宽带断了") < text.index("请重启光猫")
        # Asking again for the same address sends nothing more; a new address does.
        status, _, _ = await visitor.request("POST", path, {"email": "li@example.cn"})
        assert status == 200
        status, data, _ = await visitor.request("POST", path, {"email": "lei@example.cn"})
        assert status == 200 and data["feedback"]["transcript"]["sent_at"] is not None
        running.box.mail_out.wake()
        while len(smtp.sink.messages) < 2:
            assert asyncio.get_running_loop().time() < deadline + 15, "no second mail"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert [m["To"] for m in smtp.sink.messages] == ["li@example.cn", "lei@example.cn"]
        async with agent.http.get(running.url(f"/console/history/{conv_id}")) as page:
            assert "lei@example.cn" in await page.text()
        for ws in (vws, aws):
            await ws.close()
    finally:
        smtp.stop()
