"""Decode + validate + encode cost of the hot frames with each candidate contract library.

The typed contract (issue 11) puts a codec on every frame of the chat's hot path: a
visitor's `send` is decoded and validated, then an `ack` and a `message` frame are
encoded for each recipient. This measures, per frame, the stdlib `json` module with
today's hand checks (the baseline), msgspec Structs and pydantic v2 models, as the
median of repeats in one process. Run: `python bench/contract_codec.py`.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
import pydantic

_REPEATS = 9
_LOOPS = 20_000
_INT_MAX = 2**53 - 1

SEND = json.dumps(
    {
        "type": "send",
        "conversation_id": "c_Zk3mQ9xYw2LpTa",
        "client_msg_id": "m-1733450000-42",
        "body": "你好，我的宽带从昨天开始断断续续，X200 型号的路由器一直闪红灯，请问怎么处理？",
    },
    ensure_ascii=False,
).encode()
MESSAGE = {
    "id": "m_4Q2w8Zk3mQ9xYw",
    "conversation_id": "c_Zk3mQ9xYw2LpTa",
    "seq": 1842,
    "client_msg_id": "m-1733450000-42",
    "sender_type": "visitor",
    "sender_id": "v_8dK2mQ9xYw2LpT",
    "sender_name": "访客 8812",
    "body": "你好，我的宽带从昨天开始断断续续，X200 型号的路由器一直闪红灯，请问怎么处理？",
    "event": None,
    "created_at": "2026-12-06T08:30:05.123+08:00",
}


# ---- msgspec ------------------------------------------------------------------------
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=_INT_MAX)]


class SendM(msgspec.Struct, tag_field="type", tag="send", forbid_unknown_fields=True):
    conversation_id: Id
    client_msg_id: Id
    body: str


class MessageM(msgspec.Struct):
    id: str
    conversation_id: str
    seq: int
    client_msg_id: str | None
    sender_type: str
    sender_id: str
    sender_name: str
    body: str
    event: str | None
    created_at: str


class AckM(msgspec.Struct, tag_field="type", tag="ack"):
    client_msg_id: str
    message: MessageM


class MessageFrameM(msgspec.Struct, tag_field="type", tag="message"):
    conversation_id: str
    message: MessageM


_decoder = msgspec.json.Decoder(SendM)
_encoder = msgspec.json.Encoder()


def with_msgspec() -> None:
    frame = _decoder.decode(SEND)
    message = MessageM(**MESSAGE)
    _encoder.encode(AckM(frame.client_msg_id, message))
    _encoder.encode(MessageFrameM(frame.conversation_id, message))


# ---- pydantic -----------------------------------------------------------------------
IdP = Annotated[str, pydantic.StringConstraints(min_length=1, max_length=64)]
SeqP = Annotated[int, pydantic.Field(ge=0, le=_INT_MAX)]


class SendP(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    type: Literal["send"]
    conversation_id: IdP
    client_msg_id: IdP
    body: str


class MessageP(pydantic.BaseModel):
    id: str
    conversation_id: str
    seq: int
    client_msg_id: str | None
    sender_type: str
    sender_id: str
    sender_name: str
    body: str
    event: str | None
    created_at: str


class AckP(pydantic.BaseModel):
    type: Literal["ack"] = "ack"
    client_msg_id: str
    message: MessageP


class MessageFrameP(pydantic.BaseModel):
    type: Literal["message"] = "message"
    conversation_id: str
    message: MessageP


def with_pydantic() -> None:
    frame = SendP.model_validate_json(SEND)
    message = MessageP(**MESSAGE)
    AckP(client_msg_id=frame.client_msg_id, message=message).model_dump_json()
    MessageFrameP(conversation_id=frame.conversation_id, message=message).model_dump_json()


# ---- baseline: today's json + hand checks ----------------------------------------------
def with_stdlib() -> None:
    frame = json.loads(SEND)
    for name in ("conversation_id", "client_msg_id"):
        value = frame.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= 64:
            raise ValueError(name)
    if not isinstance(frame.get("body"), str):
        raise ValueError("body")
    message = dict(MESSAGE)
    json.dumps({"type": "ack", "client_msg_id": frame["client_msg_id"], "message": message})
    json.dumps({"type": "message", "conversation_id": frame["conversation_id"], "message": message})


def measure(fn: Callable[[], None]) -> float:
    """Return the median µs per frame exchange (decode send, encode ack and message)."""
    runs = []
    for _ in range(_REPEATS):
        start = time.perf_counter()
        for _ in range(_LOOPS):
            fn()
        runs.append((time.perf_counter() - start) / _LOOPS * 1e6)
    return statistics.median(runs)


def main() -> None:
    """Print the figures and their ratios against the stdlib baseline."""
    load = os.getloadavg()[0]
    results: dict[str, Any] = {}
    for name, fn in (
        ("stdlib json", with_stdlib),
        ("msgspec", with_msgspec),
        ("pydantic", with_pydantic),
    ):
        fn()  # warm up, and fail loudly if a model is wrong
        results[name] = measure(fn)
    base = results["stdlib json"]
    print(f"load average (1 min) at start: {load:.2f}; {_REPEATS} repeats x {_LOOPS} loops")
    for name, micros in results.items():
        print(f"{name:12s} {micros:6.2f} µs per send+ack+message  ({micros / base:4.2f}x stdlib)")
    print(f"msgspec {msgspec.__version__}, pydantic {pydantic.VERSION}")


if __name__ == "__main__":
    main()
