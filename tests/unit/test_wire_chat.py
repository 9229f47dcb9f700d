"""The chat's wire forms: built from the core's objects, times through wire_time, and
every frame the box sends matches its declared schema."""

from __future__ import annotations

import json

import jsonschema

from appliance.core.conversation import Conversation, Message, Person
from appliance.webui.wire import frames, wire_time
from appliance.webui.wire.chat import console_conversation_out, conversation_out, message_out

_AT = 1_765_000_000_123  # ms

MESSAGE = Message("m_1", "c_1", 3, "k1", "agent", "7", "Ann", "hi", None, _AT, "public")
CONV = Conversation(
    id="c_1",
    visitor_id="v_1",
    status="active",
    agent_id=7,
    agent_name="Ann",
    last_seq=3,
    visitor_name="Li",
    page_url="https://shop.example/",
    lang="zh",
    visitor_ip="10.0.0.9",
    created_at=_AT,
    assigned_at=_AT,
    closed_at=None,
    group_id=2,
    group_name="Sales",
    transfer_pending=True,
    transfer_group_id=3,
    participants=(Person(8, "Bo"),),
)


def _json(value: object) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(frames.encode_frame(value))
    return decoded


def test_a_message_keeps_its_wire_shape() -> None:
    assert _json(message_out(MESSAGE)) == {
        "id": "m_1",
        "conversation_id": "c_1",
        "seq": 3,
        "client_msg_id": "k1",
        "sender_type": "agent",
        "sender_name": "Ann",
        "body": "hi",
        "event": None,
        "created_at": wire_time(_AT),
        "visibility": "public",
    }


def test_the_visitor_sees_less_of_a_conversation_than_the_console() -> None:
    assert set(_json(conversation_out(CONV))) == {
        "id",
        "status",
        "agent",
        "created_at",
        "closed_at",
        "last_seq",
    }
    console = _json(console_conversation_out(CONV))
    assert console["agent"] == {"id": 7, "display_name": "Ann"}
    assert console["participants"] == [{"id": 8, "display_name": "Bo"}]
    assert console["group"] == {"id": 2, "name": "Sales"}
    assert console["created_at"] == wire_time(_AT) and console["closed_at"] is None
    assert "position" not in console  # only waiting lists carry it (console-lists.js)
    assert _json(console_conversation_out(CONV, None))["position"] is None


def test_server_frames_match_their_schemas() -> None:
    components = frames.frame_schemas()
    sent = [
        frames.Ack("k1", message_out(MESSAGE)),
        frames.MessageFrame(message_out(MESSAGE)),
        frames.ConversationFrame(conversation_out(CONV)),
        frames.ConsoleConversationFrame(console_conversation_out(CONV)),
        frames.Queue("c_1", 2, 30.0, None),
        frames.ErrorFrame("not_found", "no such conversation", ref="k1"),
    ]
    for frame in sent:
        name = type(frame).__name__
        schema = {**components[name], "components": {"schemas": components}}
        jsonschema.Draft202012Validator(schema).validate(_json(frame))
