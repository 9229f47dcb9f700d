"""Shapes shared by the chat areas: presence, users, people and groups named in a chat,
messages and the visitor's and the console's forms of a conversation."""

from __future__ import annotations

import enum
from typing import Annotated, Literal

import msgspec

from appliance.core import conversation as core
from appliance.core.validate import INT_MAX
from appliance.webui.wire import Time, wire_time
from appliance.webui.wire.files import FileRef, file_out


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
    file: (
        Annotated[
            FileRef,
            msgspec.Meta(description="a picture or document sent; the body is then its name"),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET


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
    position: (
        Annotated[
            Annotated[int, msgspec.Meta(ge=1)] | None,
            msgspec.Meta(
                description="scope=waiting lists only: place in its group's queue, in "
                "serving order; null until the router has placed it"
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    rating: Annotated[
        int | None,
        msgspec.Meta(description="the visitor's score (1-5) once they rated the ended chat"),
    ] = None


class OneConsoleConversation(msgspec.Struct):
    conversation: ConsoleConversation


def message_out(message: core.Message) -> Message:
    """Return the wire form of a message."""
    return Message(
        id=message.id,
        conversation_id=message.conversation_id,
        seq=message.seq,
        sender_type=message.sender_type,  # type: ignore[arg-type]
        body=message.body,
        created_at=wire_time(message.created_at),
        visibility=message.visibility,  # type: ignore[arg-type]
        client_msg_id=message.client_msg_id,
        sender_name=message.sender_name,
        event=message.event,  # type: ignore[arg-type]
        file=msgspec.UNSET if message.file is None else file_out(message.file),
    )


def _agent(conv: core.Conversation) -> AgentRef | None:
    agent = conv.agent
    return None if agent is None else AgentRef(agent.id, agent.name)


def conversation_out(conv: core.Conversation) -> Conversation:
    """Return what a visitor sees of a conversation."""
    return Conversation(
        id=conv.id,
        status=conv.status,  # type: ignore[arg-type]
        agent=_agent(conv),
        created_at=wire_time(conv.created_at),
        closed_at=wire_time(conv.closed_at),
        last_seq=conv.last_seq,
    )


def console_conversation_out(
    conv: core.Conversation, position: int | msgspec.UnsetType | None = msgspec.UNSET
) -> ConsoleConversation:
    """Return what the console sees of a conversation; position for waiting lists."""
    return ConsoleConversation(
        id=conv.id,
        status=conv.status,  # type: ignore[arg-type]
        agent=_agent(conv),
        created_at=wire_time(conv.created_at),
        closed_at=wire_time(conv.closed_at),
        last_seq=conv.last_seq,
        visitor=ConversationVisitor(conv.visitor_id, conv.visitor_name),
        page_url=conv.page_url,
        lang=conv.lang,
        group=GroupRef(conv.group_id, conv.group_name or "") if conv.group_id else None,
        topic=conv.topic,
        region=conv.region,
        tier=conv.tier,  # type: ignore[arg-type]
        expert=conv.expert,
        transfer_pending=conv.transfer_pending,
        queued_at=wire_time(conv.queued_at),
        answered_at=wire_time(conv.answered_at),
        participants=[AgentRef(p.id, p.name) for p in conv.participants],
        transfer_group_id=conv.transfer_group_id,
        position=position,
        rating=conv.rating,
    )
