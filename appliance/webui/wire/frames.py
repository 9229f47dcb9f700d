"""The WebSocket frames, as types: what clients send (decoded and checked by these
types on every frame) and what the box sends (built as these types and encoded by
`encode_frame`). docs/api.md says what each does; the OpenAPI document carries these
as components."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from appliance.core.validate import INT_MAX
from appliance.webui.wire import feedback, insight, notifications, tickets
from appliance.webui.wire.chat import (
    AgentRef,
    ConsoleConversation,
    Conversation,
    Message,
    Presence,
    User,
)

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


class Read(_Frame, tag="read", frozen=True):
    """The sender has seen every message up to `seq` of a joined conversation; answered
    with nothing, or `error` (`not_joined`, `seq_beyond_last`)."""

    conversation_id: Id
    seq: Annotated[int, msgspec.Meta(ge=1, le=INT_MAX)]


PEEK_MAX = 200  # characters of a sneak peek


class Peek(_Frame, tag="peek", frozen=True):
    """Visitor socket only, when `ready` said `peek`: what is in the composer now (up to
    200 characters, "" when emptied); relayed to the agents, never stored. At most 4
    a second are relayed; more are dropped."""

    conversation_id: Id
    text: Annotated[str, msgspec.Meta(max_length=PEEK_MAX)]


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


ClientFrame = (
    Auth | Ping | Join | Leave | Send | Typing | WatchVisitors | UnwatchVisitors | Read | Peek
)


class VisitorReady(_Frame, tag="ready", frozen=True, omit_defaults=True):
    """Visitor socket: the token was accepted; `peek` (sent when true): the box shows
    agents what the visitor types, so the widget sends `peek` frames."""

    visitor_id: str
    peek: bool = False


class ConsoleReady(_Frame, tag="ready", frozen=True):
    """Console socket: who is signed in, and the box's offset from UTC in minutes."""

    user: User
    utc_offset: int


class Ack(_Frame, tag="ack", frozen=True):
    """A `send` was committed (or had been: a resend).

    `stream`: the ack stands in the conversation's stream at the message's `seq`, in
    place of the `message` frame the socket would otherwise get of its own line (seq
    order holds). False: sent apart from the stream (a resend, a socket that had not
    joined the conversation or was replaying it); a `message` frame may then come too.
    """

    client_msg_id: str
    message: Message
    stream: bool = False


class MessageFrame(_Frame, tag="message", frozen=True):
    """A message in a joined conversation (replayed or live)."""

    message: Message


class ConversationFrame(_Frame, tag="conversation", frozen=True):
    """Visitor socket: one of the visitor's conversations changed."""

    conversation: Conversation


class ConsoleConversationFrame(_Frame, tag="conversation", frozen=True):
    """Console socket: a conversation the console shows was opened, moved or closed."""

    conversation: ConsoleConversation


class Queue(_Frame, tag="queue", frozen=True):
    """Visitor socket: the visitor's place in the queue changed."""

    conversation_id: str
    position: int
    eta: Annotated[float | None, msgspec.Meta(description="s; null when nobody could take it")]
    overflow: Annotated[
        str | None, msgspec.Meta(description="closed, no_agent, long_wait, or null")
    ]


class Left(_Frame, tag="left", frozen=True):
    """Console socket: the console no longer hears of a conversation."""

    conversation_id: str


class Viewers(_Frame, tag="viewers", frozen=True):
    """Console socket: which colleagues have a conversation open."""

    conversation_id: str
    viewers: list[AgentRef]


class TypingNow(_Frame, tag="typing", frozen=True):
    """Someone else in a joined conversation started or stopped typing."""

    conversation_id: str
    sender_type: str
    sender_name: str
    active: bool
    internal: bool


class ReadNow(_Frame, tag="read", frozen=True):
    """Someone in a joined conversation has read up to `seq`: `reader` visitor (to the
    consoles) or agent (the chat's agent or an invited colleague). Sent after a join's
    replay too, with the mark as it stands."""

    conversation_id: str
    reader: Literal["visitor", "agent"]
    seq: int


class PeekNow(_Frame, tag="peek", frozen=True):
    """Console socket: what the visitor is typing, not yet sent ("" when they cleared
    it or sent it)."""

    conversation_id: str
    text: str


class PresenceNow(_Frame, tag="presence", frozen=True):
    """Console socket: the user's own presence changed."""

    status: Presence


class Pong(_Frame, tag="pong", frozen=True):
    """The answer to `ping`."""


class ErrorFrame(_Frame, tag="error", frozen=True):
    """A frame refused: `bad_frame` (the socket then closes with 1007) or a rule's code."""

    code: str
    message: str
    ref: str | msgspec.UnsetType = msgspec.UNSET
    conversation_id: str | msgspec.UnsetType = msgspec.UNSET
    retry_after: int | msgspec.UnsetType = msgspec.UNSET


# The frames the box sends; `ready` and `conversation` differ by socket, so they are
# listed, not a union to decode.
SERVER_FRAMES: tuple[type[_Frame], ...] = (
    VisitorReady,
    ConsoleReady,
    Ack,
    MessageFrame,
    ConversationFrame,
    ConsoleConversationFrame,
    Queue,
    Left,
    Viewers,
    TypingNow,
    ReadNow,
    PeekNow,
    PresenceNow,
    Pong,
    ErrorFrame,
)

_encoder = msgspec.json.Encoder()


def encode_frame(frame: Any) -> str:
    """Encode one server frame (compact JSON, UTF-8 kept as is)."""
    return _encoder.encode(frame).decode()


_decoder = msgspec.json.Decoder(ClientFrame)


def decode_frame(data: str) -> ClientFrame:
    """Decode and check a client frame; raise msgspec errors for anything else."""
    return _decoder.decode(data)


def frame_schemas() -> dict[str, Any]:
    """Return the frames' schema components for the OpenAPI document: the chat frames
    above and the other areas' (visitors and invitations, tickets, notifications)."""
    others = (
        insight.VisitorsFrame,
        insight.OfferFrame,
        insight.InvitationFrame,
        insight.InvitationClosedFrame,
        tickets.TicketFrame,
        notifications.NoticeFrame,
        feedback.FeedbackFrame,
    )
    types = [*ClientFrame.__args__, *SERVER_FRAMES, *others]
    _, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    return components
