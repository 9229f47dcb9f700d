"""The WebSocket frames, as types: what clients send (decoded and checked by these
types on every frame) and the chat's frames the box sends. docs/api.md says what each
does; the OpenAPI document carries these as components."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from appliance.core.validate import INT_MAX

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=INT_MAX)]
FilterText = Annotated[str, msgspec.Meta(max_length=100)]


class _Frame(msgspec.Struct, tag_field="type", frozen=True):
    """Every frame is a JSON object whose `type` names it."""


class Auth(_Frame, tag="auth", frozen=True):
    """Visitor socket only, the first frame: the visitor's token."""

    token: Annotated[str, msgspec.Meta(max_length=512)]


class Ping(_Frame, tag="ping", frozen=True):
    """Answered by `pong`."""


class Join(_Frame, tag="join", frozen=True):
    """Subscribe: every message with seq > after_seq is replayed, then live ones follow."""

    conversation_id: Id
    after_seq: Seq


class Leave(_Frame, tag="leave", frozen=True):
    """Unsubscribe from one conversation."""

    conversation_id: Id


class Send(_Frame, tag="send", frozen=True):
    """A message: answered by `ack` once committed; a resend gets the same `ack`."""

    conversation_id: Id
    client_msg_id: Id
    body: Annotated[str, msgspec.Meta(description="at most 4096 bytes of UTF-8")]


class Typing(_Frame, tag="typing", frozen=True):
    """Relayed, not stored; `internal` (agents): a note or whisper, consoles only."""

    conversation_id: Id
    active: bool
    internal: bool = False


class VisitorFilter(msgspec.Struct, frozen=True):
    """Which live visitors a console watches (all fields optional)."""

    q: FilterText = ""
    region: FilterText = ""
    source: FilterText = ""
    status: FilterText = ""


class WatchVisitors(_Frame, tag="watch_visitors", frozen=True):
    """Agent socket only: this page of the live visitor list, now and on every change."""

    filter: VisitorFilter = VisitorFilter()
    offset: Annotated[int, msgspec.Meta(ge=0, le=10**6)] = 0
    limit: Annotated[int, msgspec.Meta(ge=0, le=200)] = 50


class UnwatchVisitors(_Frame, tag="unwatch_visitors", frozen=True):
    """Agent socket only: stop the `visitors` frames."""


ClientFrame = Auth | Ping | Join | Leave | Send | Typing | WatchVisitors | UnwatchVisitors


class Ack(_Frame, tag="ack", frozen=True):
    """A `send` was committed (or had been: a resend)."""

    client_msg_id: str
    message: Any


class MessageFrame(_Frame, tag="message", frozen=True):
    """A message in a joined conversation (replayed or live)."""

    message: Any


class Pong(_Frame, tag="pong", frozen=True):
    """The answer to `ping`."""


class ErrorFrame(_Frame, tag="error", frozen=True):
    """A frame refused: `bad_frame` (the socket then closes with 1007) or a rule's code."""

    code: str
    message: str
    ref: str | msgspec.UnsetType = msgspec.UNSET
    conversation_id: str | msgspec.UnsetType = msgspec.UNSET
    retry_after: int | msgspec.UnsetType = msgspec.UNSET


ServerFrame = Ack | MessageFrame | Pong | ErrorFrame

_decoder = msgspec.json.Decoder(ClientFrame)


def decode_frame(data: str) -> ClientFrame:
    """Decode and check a client frame; raise msgspec errors for anything else."""
    return _decoder.decode(data)


def frame_schemas() -> dict[str, Any]:
    """Return the frames' schema components for the OpenAPI document."""
    types = [*ClientFrame.__args__, *ServerFrame.__args__]
    _, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    return components
