"""Shapes of the routing configuration API: groups and their hours, agents' scope,
pre-chat topics, routing rules and priority points."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core import routing_config as core
from appliance.core.hours import hours_json
from appliance.webui.wire.chat import Id, Presence, Role, Tier
from appliance.webui.wire.team import AgentTier, text

_WEEK = 7 * 24 * 3600  # s, the longest duration a group setting takes
_LIST_MAX = 200  # topics, rules, an agent's groups

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


def _seconds(low: int, description: str) -> msgspec.Meta:
    return msgspec.Meta(ge=low, le=_WEEK, description=description)


HhMm = Annotated[
    str,
    msgspec.Meta(
        pattern="^([01][0-9]|2[0-4]):[0-5][0-9]$",
        description="a time of day as HH:MM (24:00 at the latest)",
    ),
]
Span = Annotated[
    tuple[HhMm, HhMm],
    msgspec.Meta(description="[open, close): open before close, 24:00 at the latest"),
]
Spans = Annotated[list[Span], msgspec.Meta(max_length=8)]


class Hours(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Opening times per weekday in the box's local time zone. A day left out is closed;
    null or {} means always open."""

    # core.hours.DAYS
    mon: Spans | Unset = UNSET
    tue: Spans | Unset = UNSET
    wed: Spans | Unset = UNSET
    thu: Spans | Unset = UNSET
    fri: Spans | Unset = UNSET
    sat: Spans | Unset = UNSET
    sun: Spans | Unset = UNSET


Name = Annotated[str, text(64, 1)]
Strategy = Annotated[
    Literal["least_busy", "longest_idle", "round_robin"],  # core.routing.STRATEGIES
    msgspec.Meta(extra_json_schema={"default": "least_busy"}),
]
TargetWait = Annotated[int, _seconds(1, "s: the service-level target and the unit of wait points")]
AnswerTimeout = Annotated[int, _seconds(1, "s an assigned agent has to answer before the requeue")]
MaxWait = Annotated[int, _seconds(1, "s of estimated wait above which overflow is offered")]
Fallback = Annotated[
    Id | None,
    msgspec.Meta(description="its agents may take the chat too after fallback_after"),
]
FallbackAfter = Annotated[int, _seconds(0, "s waited before the fallback group may take it")]
Sticky = Annotated[
    bool, msgspec.Meta(description="a returning visitor goes back to their last agent")
]
Holidays = Annotated[
    list[Annotated[str, msgspec.Meta(extra_json_schema={"format": "date"})]],
    msgspec.Meta(
        max_length=366, description="box-local dates (YYYY-MM-DD) on which the group is closed"
    ),
]


LineUser = Annotated[
    int | None,
    msgspec.Meta(description="the group's lead or manager (a user id), for ticket escalation"),
]


class GroupSettings(msgspec.Struct, omit_defaults=True):
    """A group's settings; a change names only the fields it changes."""

    name: Name | Unset = UNSET
    strategy: Strategy | Unset = UNSET
    target_wait: TargetWait | Unset = UNSET
    answer_timeout: AnswerTimeout | Unset = UNSET
    max_wait: MaxWait | Unset = UNSET
    fallback_group_id: Fallback | Unset = UNSET
    fallback_after: FallbackAfter | Unset = UNSET
    sticky: Sticky | Unset = UNSET
    hours: Hours | Unset | None = UNSET
    holidays: Holidays | Unset = UNSET
    lead_id: LineUser | Unset = UNSET
    manager_id: LineUser | Unset = UNSET


NewGroup = Annotated[GroupSettings, msgspec.Meta(extra_json_schema={"required": ["name"]})]


class Group(msgspec.Struct):
    """A group: its settings, whether it is the default, its members."""

    id: int
    name: Name
    strategy: Strategy
    target_wait: TargetWait
    answer_timeout: AnswerTimeout
    max_wait: MaxWait
    fallback_group_id: Fallback
    fallback_after: FallbackAfter
    sticky: Sticky
    hours: Hours | None
    holidays: Holidays
    is_default: Annotated[bool, msgspec.Meta(description="new users join it; it cannot be deleted")]
    members: Annotated[list[int], msgspec.Meta(description="user ids")]
    lead_id: LineUser
    manager_id: LineUser


class Groups(msgspec.Struct):
    groups: list[Group]


class OneGroup(msgspec.Struct):
    group: Group


class GroupMembers(msgspec.Struct):
    """Who is in a group."""

    members: Annotated[list[Id], msgspec.Meta(max_length=10_000, description="user ids")]


class AgentScope(msgspec.Struct):
    """A user with what routing needs of them."""

    id: int
    username: str
    display_name: str
    role: Role
    status: Presence
    max_chats: int
    tier: AgentTier
    skills: list[str]
    regions: list[str]
    groups: Annotated[list[int], msgspec.Meta(description="group ids")]
    dispatcher: Annotated[
        bool, msgspec.Meta(description="调度员: sees every ticket and assigns them to others")
    ]


Tags = Annotated[list[Annotated[str, text(32, 1)]], msgspec.Meta(max_length=32)]


class AgentScopeInput(msgspec.Struct, omit_defaults=True):
    """Any of an agent's routing fields; the others stay as they are."""

    skills: Tags | Unset = UNSET
    regions: (
        Annotated[
            list[Annotated[str, text(32, 1)]],
            msgspec.Meta(
                max_length=32,
                description="empty: every region; else only visitors of these regions",
            ),
        ]
        | Unset
    ) = UNSET
    tier: AgentTier | Unset = UNSET
    dispatcher: bool | Unset = UNSET
    max_chats: Annotated[int, msgspec.Meta(ge=0, le=50)] | Unset = UNSET
    groups: (
        Annotated[
            list[Id],
            msgspec.Meta(max_length=_LIST_MAX, description="replaces the agent's groups"),
        ]
        | Unset
    ) = UNSET


class Agents(msgspec.Struct):
    agents: list[AgentScope]


class OneAgent(msgspec.Struct):
    agent: AgentScope


Skill = Annotated[str, text(32, description="the skill an agent needs, or empty")]


class Topic(msgspec.Struct):
    """A pre-chat topic the visitor may choose, and where it queues."""

    key: Annotated[str, text(32, 1)]
    label: Annotated[str, text(64, 1)]
    group_id: Id
    skill: Skill = ""


class Topics(msgspec.Struct):
    topics: Annotated[
        list[Topic],
        msgspec.Meta(max_length=_LIST_MAX, description="in display order; keys are unique"),
    ]


class Route(msgspec.Struct):
    """A routing rule for chats without a topic."""

    group_id: Id
    url_pattern: Annotated[
        str, text(512, description="shell-style glob (*, ?, [...]) on the page URL; empty: any")
    ] = ""
    region: Annotated[str, text(32, description="the visitor's region exactly; empty: any")] = ""
    skill: Skill = ""


class Routes(msgspec.Struct):
    routes: Annotated[
        list[Route],
        msgspec.Meta(max_length=_LIST_MAX, description="tried in order; the first match wins"),
    ]


Points = Annotated[float, msgspec.Meta(ge=-1e6, le=1e6)]
TierPoints = Annotated[
    dict[Tier, Points],
    msgspec.Meta(description="points per visitor tier (defaults vip 60, member 20, new 0)"),
]
TopicPoints = Annotated[
    dict[str, Points],
    msgspec.Meta(max_length=_LIST_MAX, description="points per topic key"),
]
WaitPoints = Annotated[
    float,
    msgspec.Meta(ge=-1e6, le=1e6, description="points per target wait waited (default 30)"),
]
TransferPoints = Annotated[
    float, msgspec.Meta(ge=-1e6, le=1e6, description="bonus of a warm transfer (default 40)")
]


class Priority(msgspec.Struct):
    """The priority points: who is served first."""

    tier: TierPoints
    topic: TopicPoints
    wait: WaitPoints
    transfer: TransferPoints


class PriorityChange(msgspec.Struct, omit_defaults=True):
    """New priority points: the tier and topic tables are replaced as given (a table left
    out means no points); wait and transfer keep their value when left out."""

    tier: TierPoints | Unset = UNSET
    topic: TopicPoints | Unset = UNSET
    wait: WaitPoints | Unset = UNSET
    transfer: TransferPoints | Unset = UNSET


class OnePriority(msgspec.Struct):
    priority: Priority


def group_out(group: core.GroupConfig) -> Group:
    """Return the wire form of a group."""
    schedule = hours_json(group.hours)
    return Group(
        id=group.id,
        name=group.name,
        strategy=group.strategy,
        target_wait=group.target_wait,
        answer_timeout=group.answer_timeout,
        max_wait=group.max_wait,
        fallback_group_id=group.fallback_group_id,
        fallback_after=group.fallback_after,
        sticky=group.sticky,
        hours=None if schedule is None else msgspec.convert(schedule, Hours),
        holidays=[day.isoformat() for day in group.holidays],
        is_default=group.is_default,
        members=list(group.members),
        lead_id=group.lead_id,
        manager_id=group.manager_id,
    )


def agent_out(agent: core.AgentScope) -> AgentScope:
    """Return the wire form of an agent's routing scope."""
    return AgentScope(
        id=agent.id,
        username=agent.username,
        display_name=agent.display_name,
        role=agent.role,
        status=Presence(agent.status),
        max_chats=agent.max_chats,
        tier=agent.tier,
        skills=agent.skills,
        regions=agent.regions,
        groups=agent.groups,
        dispatcher=agent.dispatcher,
    )


def topic_out(topic: core.Topic) -> Topic:
    """Return the wire form of a pre-chat topic."""
    return Topic(topic.key, topic.label, topic.group_id, topic.skill)


def rule_out(rule: core.Rule) -> Route:
    """Return the wire form of a routing rule."""
    return Route(rule.group_id, rule.url_pattern, rule.region, rule.skill)


def priority_out(points: core.PriorityPoints) -> Priority:
    """Return the wire form of the priority points."""
    # The tiers stored are those the input type allowed (core.routing.TIERS).
    tier: dict[Tier, float] = dict(points.tier)  # type: ignore[assignment]
    return Priority(tier, dict(points.topic), points.wait, points.transfer)
