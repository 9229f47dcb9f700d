"""Shapes of the teamwork API: transfer, conference, notes, canned answers, work items,
the colleagues list, the supervisor board and visitor tiers."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core import board
from appliance.core.canned import Answer
from appliance.webui.wire.chat import GroupRef, Id, MessageText, Presence, Role, Tier

AgentTier = Literal["normal", "expert"]
WorkKind = Literal["message", "callback"]  # core.workitems.KINDS


def text(high: int, low: int = 0, description: str | None = None) -> msgspec.Meta:
    """Return the rule of a text field: at most `high` characters, at least `low`."""
    return msgspec.Meta(min_length=low or None, max_length=high, description=description)


class Transfer(msgspec.Struct, omit_defaults=True):
    """Where the conversation goes: exactly one of agent_id, group_id, expert."""

    agent_id: (
        Annotated[int, msgspec.Meta(ge=1, description="direct: the colleague gets it at once")]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    group_id: (
        Annotated[int, msgspec.Meta(ge=1, description="warm: the group's router finds a colleague")]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    expert: (
        Annotated[bool, msgspec.Meta(description="warm: an expert-tier agent of the same group")]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    note: (
        Annotated[str, text(2000, description="kept as a staff-only note before the transfer")]
        | msgspec.UnsetType
    ) = msgspec.UNSET


# The rule JSON Schema can state and a Struct cannot: one target, named once.
TransferBody = Annotated[
    Transfer,
    msgspec.Meta(
        extra_json_schema={
            "oneOf": [
                {"required": ["agent_id"]},
                {"required": ["group_id"]},
                {"required": ["expert"], "properties": {"expert": {"const": True}}},
            ]
        }
    ),
]


class Colleague(msgspec.Struct):
    """The colleague to invite."""

    agent_id: Id


class NoteInput(msgspec.Struct):
    """An internal note, or a supervisor's whisper to the agent."""

    body: MessageText
    whisper: Annotated[bool, msgspec.Meta(description="supervisors and admins only")] = False


class CannedAnswer(msgspec.Struct):
    id: int
    shortcut: str
    title: str
    body: str
    shared: Annotated[bool, msgspec.Meta(description="the team's, not the user's own")]


class CannedAnswers(msgspec.Struct):
    answers: list[CannedAnswer]


class OneCannedAnswer(msgspec.Struct):
    answer: CannedAnswer


class CannedAnswerInput(msgspec.Struct):
    shortcut: Annotated[str, text(32, 1, "letters of any script, digits, _ or -")]
    body: Annotated[str, text(4000, 1)]
    title: Annotated[str, text(100, description="defaults to the shortcut")] = ""
    shared: Annotated[bool, msgspec.Meta(description="for the team (overseers)")] = False


class Deleted(msgspec.Struct):
    deleted: Literal[True]


class WorkItemInput(msgspec.Struct):
    """What a visitor leaves: a message, or a request to be called back."""

    kind: WorkKind
    name: Annotated[str, text(64)] = ""
    contact: Annotated[
        str, text(254, description="callback: a phone number; message: phone or e-mail, optional")
    ] = ""
    preferred_time: Annotated[str, text(64, description="free text, e.g. tomorrow after 14:00")] = (
        ""
    )
    body: Annotated[str, text(4000, description="required for a message")] = ""
    conversation_id: Annotated[
        str, text(64, description="the waiting conversation this replaces")
    ] = ""


def _needs(kind: str, field: str) -> dict[str, object]:
    return {"if": {"properties": {"kind": {"const": kind}}}, "then": {"required": [field]}}


# A call back needs a contact, a message a body: stated where the body is taken.
NewWorkItem = Annotated[
    WorkItemInput,
    msgspec.Meta(
        extra_json_schema={"allOf": [_needs("callback", "contact"), _needs("message", "body")]}
    ),
]


class AgentStatus(msgspec.Struct):
    """A colleague now: presence, load, missed chats today, groups."""

    id: int
    display_name: str
    role: Role
    status: Presence
    tier: AgentTier
    load: Annotated[int, msgspec.Meta(description="active chats they own")]
    max_chats: int
    missed_today: Annotated[int, msgspec.Meta(description="chats let ring out since midnight")]
    groups: Annotated[list[int], msgspec.Meta(description="group ids")]


class Colleagues(msgspec.Struct):
    agents: list[AgentStatus]
    groups: list[GroupRef]


class QueueStats(msgspec.Struct):
    """A group's queue now and its service level over the last hour."""

    id: int
    name: str
    waiting: int
    transfers: Annotated[int, msgspec.Meta(description="warm transfers pending")]
    longest_wait: Annotated[int, msgspec.Meta(description="s the oldest waiting chat waited")]
    target_wait: int
    service_level: Annotated[
        Annotated[float, msgspec.Meta(ge=0, le=1)] | None,
        msgspec.Meta(
            description="share of the last hour's chats given to an agent within target_wait"
        ),
    ]
    offered: Annotated[int, msgspec.Meta(description="the last hour's chats counted")]


class Board(msgspec.Struct):
    queues: list[QueueStats]
    agents: list[AgentStatus]


class VisitorTier(msgspec.Struct):
    tier: Tier


def agent_status_out(agent: board.AgentNow) -> AgentStatus:
    """Return the wire form of a colleague now."""
    return AgentStatus(
        id=agent.id,
        display_name=agent.display_name,
        role=agent.role,  # type: ignore[arg-type]
        status=Presence(agent.status),
        tier=agent.tier,  # type: ignore[arg-type]
        load=agent.load,
        max_chats=agent.max_chats,
        missed_today=agent.missed_today,
        groups=list(agent.groups),
    )


def board_out(now: board.Board) -> Board:
    """Return the wire form of the supervisor board."""
    queues = [
        QueueStats(
            id=q.id,
            name=q.name,
            waiting=q.waiting,
            transfers=q.transfers,
            longest_wait=q.longest_wait,
            target_wait=q.target_wait,
            service_level=q.service_level,
            offered=q.offered,
        )
        for q in now.queues
    ]
    return Board(queues, [agent_status_out(a) for a in now.agents])


def canned_answer_out(answer: Answer) -> CannedAnswer:
    """Return the wire form of a canned answer."""
    return CannedAnswer(answer.id, answer.shortcut, answer.title, answer.body, answer.shared)
