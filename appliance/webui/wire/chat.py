"""Shapes shared by the chat areas: presence, users, people and groups named in a chat,
messages and the visitor's and the console's forms of a conversation."""

from __future__ import annotations

import enum
from typing import Annotated, Literal

import msgspec

from appliance.core.validate import INT_MAX
from appliance.webui.wire import Time


class Presence(enum.Enum):
    """Whether a console user takes chats."""

    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


Role = Literal["admin", "supervisor", "agent"]
Tier = Literal["vip", "member", "new"]  # core.routing.TIERS
Id = Annotated[int, msgspec.Meta(ge=1)]
MessageText = Annotated[
    str, msgspec.Meta(min_length=1, description="at most 4096 bytes of UTF-8, not only spaces")
]


class User(msgspec.Struct):
    """A console user."""

    id: int
    username: str
    display_name: str
    role: Role
    status: Presence
    max_chats: int


class AgentRef(msgspec.Struct):
    id: int
    display_name: str


class GroupRef(msgspec.Struct):
    id: int
    name: str


Event = Literal[
    "assigned",
    "transferred",
    "transfer_requested",
    "joined",
    "left",
    "closed",
    "missed",
    "transfer_cancelled",
    "note",
    "whisper",
]


class Message(msgspec.Struct):
    """One message of a conversation, as stored."""

    id: str
    conversation_id: str
    seq: int
    sender_type: Literal["visitor", "agent", "system"]
    body: str
    created_at: Time
    visibility: Annotated[
        Literal["public", "staff"],
        msgspec.Meta(
            description="staff: notes, whispers, missed and transfer_cancelled; "
            "never sent to the visitor"
        ),
    ]
    client_msg_id: str | None = None
    sender_name: str = ""
    event: Annotated[
        Event | None,
        msgspec.Meta(description="system events; note and whisper are staff messages of agents"),
    ] = None


class OneMessage(msgspec.Struct):
    message: Message


class Messages(msgspec.Struct):
    messages: list[Message]


class NewMessage(msgspec.Struct):
    """A message to send; resending the same client_msg_id stores it once."""

    client_msg_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    body: MessageText


class MessagesQuery(msgspec.Struct):
    """Where to resume reading a conversation."""

    after_seq: Annotated[int, msgspec.Meta(ge=0, le=INT_MAX)] = 0


class ConversationVisitor(msgspec.Struct):
    id: str
    name: str


class Conversation(msgspec.Struct):
    """A conversation as its visitor sees it."""

    id: str
    status: Literal["waiting", "active", "closed"]
    agent: AgentRef | None
    created_at: Time
    closed_at: Time | None
    last_seq: Annotated[
        int,
        msgspec.Meta(
            description="the latest seq of the conversation; for visitors it may be a "
            "staff-only message they never receive"
        ),
    ]


class OneConversation(msgspec.Struct):
    conversation: Conversation


class ConsoleConversation(Conversation):
    """A conversation as the console sees it."""

    visitor: ConversationVisitor
    page_url: str
    lang: str
    group: GroupRef | None
    topic: Annotated[str, msgspec.Meta(description="the pre-chat topic key, or empty")]
    region: Annotated[str, msgspec.Meta(description="the visitor's region, or empty")]
    tier: Annotated[Tier, msgspec.Meta(description="the visitor's tier")]
    expert: Annotated[bool, msgspec.Meta(description="only expert-tier agents may take it")]
    transfer_pending: Annotated[
        bool,
        msgspec.Meta(
            description="a warm transfer waits for a colleague; the agent stays meanwhile"
        ),
    ]
    queued_at: Time | None
    answered_at: Time | None
    participants: Annotated[
        list[AgentRef],
        msgspec.Meta(description="colleagues invited into the conversation (the owner is agent)"),
    ]
    transfer_group_id: Annotated[
        int | None, msgspec.Meta(description="the group a pending warm transfer waits in")
    ] = None
    position: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(
            description="scope=waiting lists only: place in its group's queue, in serving "
            "order; null until the router has placed it"
        ),
    ] = None


class OneConsoleConversation(msgspec.Struct):
    conversation: ConsoleConversation
