"""Hypothesis-made bad frames on both sockets (visitor and console): each is answered
(an error frame, or the socket keeps working) or closed with a documented code after
an error frame, never dropped silently, and the box logs no traceback."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import receive_until

_RESENDS = 5  # sends of the last real message while rate-limited
_REPLY = 15.0  # s for the box's answer to a frame (a loaded CI machine is slow)

_FRAMES = 250  # per socket kind
# The box's own frame types ("notice") among them: a client that sends one is refused.
_TYPES = [
    "ping",
    "leave",
    "join",
    "send",
    "watch_visitors",
    "unwatch_visitors",
    "typing",
    "auth",
    "notice",
    "read",
    "peek",
]
_FIELDS = [
    "conversation_id",
    "after_seq",
    "client_msg_id",
    "body",
    "active",
    "internal",
    "filter",
    "offset",
    "limit",
    "token",
    "notice",
    "seq",
    "text",
    "file",  # what a message carries; a client's frame cannot set it (docs/files.md)
]
# Close codes docs/api.md documents: 1007 a bad frame (after a bad_frame error), 1003 a
# binary frame, 1008 a visitor without a valid auth frame.
_DOCUMENTED = {1003, 1007, 1008}

# Any Unicode, lone surrogates included (json.dumps escapes them: still valid JSON).
_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    _TEXT,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=8,
)


def _frames(conv_ids: list[str]) -> st.SearchStrategy[str]:
    known = st.sampled_from(conv_ids) if conv_ids else _TEXT
    fields = st.dictionaries(st.sampled_from(_FIELDS), st.one_of(_VALUES, known), max_size=5)
    objects = st.builds(
        lambda kind, rest: json.dumps({"type": kind, **rest}),
        st.one_of(st.sampled_from(_TYPES), _TEXT),
        fields,
    )
    # Well-typed frames with odd values reach the rules behind the type checks.
    short = st.text(st.characters(codec=None, exclude_categories=()), min_size=1, max_size=64)
    seq = st.integers(min_value=0, max_value=2**53 - 1)
    typed = st.one_of(
        st.builds(
            lambda c, m, b: json.dumps(
                {"type": "send", "conversation_id": c, "client_msg_id": m, "body": b}
            ),
            known,
            short,
            _TEXT,
        ),
        st.builds(
            lambda c, s: json.dumps({"type": "join", "conversation_id": c, "after_seq": s}),
            known,
            seq,
        ),
        st.builds(
            lambda c, a, i: json.dumps(
                {"type": "typing", "conversation_id": c, "active": a, "internal": i}
            ),
            known,
            st.booleans(),
            st.booleans(),
        ),
        st.builds(
            lambda f, o, n: json.dumps(
                {"type": "watch_visitors", "filter": f, "offset": o, "limit": n}
            ),
            st.dictionaries(st.sampled_from(["q", "region", "source", "status"]), _TEXT),
            st.integers(0, 10**6),
            st.integers(0, 200),
        ),
        st.builds(lambda c: json.dumps({"type": "leave", "conversation_id": c}), known),
        st.builds(
            lambda c, s: json.dumps({"type": "read", "conversation_id": c, "seq": s}), known, seq
        ),
        st.builds(
            lambda c, t: json.dumps({"type": "peek", "conversation_id": c, "text": t}),
            known,
            _TEXT,
        ),
    )
    raw = st.one_of(
        _TEXT,
        _VALUES.map(json.dumps),
        st.sampled_from(['{"type": "send"', "[]", "null", '{"type": 1}', "1e999", "-"]),
    )
    return st.one_of(typed, typed, objects, raw)


def collect(strategy: st.SearchStrategy[str], count: int) -> list[str]:
    """Draw `count` frames with Hypothesis (deterministically), to send from async code."""
    drawn: list[str] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def draw(frame: str) -> None:
        drawn.append(frame)

    draw()
    return drawn


_KNOWN = "c_knownconv00000"  # the test's own conversation id, swapped in when sent


@pytest.fixture(scope="module")
def drawn() -> dict[str, list[str]]:
    """Draw the frames before any loop runs: drawing is a second or so of pure CPU."""
    ids = [_KNOWN, "c_doesnotexist00"]
    return {
        "visitor": collect(_frames(ids), _FRAMES),
        "console": collect(_frames(ids), _FRAMES),
        "first": collect(_frames(ids), 40),
    }


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.name.startswith(("appliance", "aiohttp")):
            self.records.append(self.format(record))


async def _exchange(ws: aiohttp.ClientWebSocketResponse, frame: str) -> tuple[str, Any]:
    """Send a frame and a ping; return ("ok", frames) or ("closed", (code, frames))."""
    await ws.send_str(frame)
    await ws.send_str('{"type": "ping"}')
    seen: list[dict[str, Any]] = []
    while True:
        msg = await ws.receive(timeout=_REPLY)
        if msg.type == aiohttp.WSMsgType.TEXT:
            data = json.loads(msg.data)
            if data.get("type") == "pong":
                return "ok", seen
            seen.append(data)
        elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return "closed", (ws.close_code, seen)
        else:
            raise AssertionError(f"unexpected message {msg.type} after {frame!r}")


async def _fuzz(open_socket: Any, frames: list[str]) -> dict[str, int]:
    figures = {"frames": 0, "errors": 0, "closes": 0}
    ws = await open_socket()
    try:
        for frame in frames:
            outcome, detail = await _exchange(ws, frame)
            figures["frames"] += 1
            if outcome == "ok":
                for data in detail:
                    if data.get("type") == "error":
                        figures["errors"] += 1
                        assert isinstance(data.get("code"), str), (frame, data)
                        assert data["code"] != "internal", (frame, data)
                continue
            code, seen = detail
            figures["closes"] += 1
            figures["errors"] += sum(d.get("type") == "error" for d in seen)
            assert code in _DOCUMENTED, (frame, code, seen)
            assert any(d.get("type") == "error" for d in seen), (frame, code, seen)
            await ws.close()
            ws = await open_socket()
    finally:
        await ws.close()
    return figures


async def test_bad_frames_get_error_frames_never_a_traceback(make_agent, make_visitor, drawn):
    handler = _Tracebacks()
    logging.getLogger().addHandler(handler)
    try:
        agent = await make_agent(role="supervisor")
        visitor = await make_visitor()
        conv = await visitor.open()
        mine = {k: [f.replace(_KNOWN, conv["id"]) for f in v] for k, v in drawn.items()}
        visitor_figures = await _fuzz(visitor.ws, mine["visitor"])
        agent_figures = await _fuzz(agent.ws, mine["console"])

        # The visitor's first frame: anything but a valid auth frame is refused clearly.
        for frame in mine["first"]:
            ws = await visitor.http.ws_connect(visitor.running.ws_base + "/api/visitor/ws")
            await ws.send_str(frame)
            first = await ws.receive(timeout=_REPLY)
            if first.type == aiohttp.WSMsgType.TEXT:
                assert json.loads(first.data)["code"] == "not_authenticated", frame
                closing = await ws.receive(timeout=_REPLY)
                assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1008
            else:
                raise AssertionError(f"closed without an error frame after {frame!r}")
            await ws.close()
        # Both sockets still serve real work afterwards. The fuzz may have spent this
        # visitor's message allowance: a `rate_limited` answer says when to send again
        # (the same client_msg_id, so it is stored once).
        ws = await visitor.ws()
        send = {"type": "send", "conversation_id": conv["id"], "client_msg_id": "z", "body": "还在"}
        for _ in range(_RESENDS):
            await ws.send_json(send)
            answer = await receive_until(
                ws,
                lambda f: (
                    f["type"] == "ack" or (f["type"] == "error" and f.get("code") == "rate_limited")
                ),
                _REPLY,
            )
            if answer["type"] == "ack":
                break
            await asyncio.sleep(answer.get("retry_after", 1))
        assert answer["type"] == "ack" and answer["client_msg_id"] == "z", answer
        await ws.close()
    finally:
        logging.getLogger().removeHandler(handler)
    print(f"\nframe fuzz: visitor {visitor_figures}, console {agent_figures}")
    assert visitor_figures["frames"] == agent_figures["frames"] == _FRAMES
    assert visitor_figures["closes"] > 0 and agent_figures["errors"] > 0
    assert not handler.records, handler.records[0]
