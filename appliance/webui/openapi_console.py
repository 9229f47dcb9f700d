"""The OpenAPI paths and schemas of the console's teamwork and routing API.

The second half of the document `openapi.build_openapi` serves: transfer, conference,
notes and take-over; canned answers; work items; the colleagues list and the board;
visitor tiers; the routing configuration; the supervisor pages. "Overseers" in the
descriptions are supervisors and admins. The rules behind it all are in docs/api.md.
"""

from __future__ import annotations

from typing import Any

from appliance.core.hours import DAYS
from appliance.core.routing import STRATEGIES, TIERS
from appliance.core.workitems import KINDS
from appliance.webui.openapi import (
    _BODY_TEXT,
    _BOOL,
    _CONV_CONSOLE,
    _CONV_ID,
    _ID,
    _INT,
    _STR,
    _TIME,
    _change,
    _console,
    _json,
    _list,
    _nullable,
    _obj,
    _page,
    _path,
    _ref,
    _text,
)

_GROUP_ID = _path("group_id", _ID)
_USER_ID = _path("user_id", _ID)
_ANSWER_ID = _path("answer_id", _ID)
_ITEM_ID = _path("item_id", _STR)
_VISITOR_ID = _path("visitor_id", _STR)
_WEEK = 7 * 24 * 3600  # s, the longest duration a group setting takes
_POINTS = {"type": "number", "minimum": -1e6, "maximum": 1e6}
_DELETED = _json(_obj(["deleted"], deleted={"const": True}))
_OVERSEERS = "Supervisors and admins only (else 403)."


def _seconds(minimum: int, description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": _WEEK, "description": description}


def _wrapped(key: str, schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    """A response {key: schema}."""
    return _json(_obj([key], **{key: schema}), description)


def _team_paths() -> dict[str, Any]:
    conv = "/api/console/conversations/{conv_id}"
    transfer = _obj(
        agent_id={**_ID, "description": "direct: the colleague gets it at once"},
        group_id={**_ID, "description": "warm: the group's router finds a colleague"},
        expert={**_BOOL, "description": "warm: an expert-tier agent of the same group"},
        note=_text(2000, description="kept as a staff-only note before the transfer"),
    )
    transfer["oneOf"] = [
        {"required": ["agent_id"]},
        {"required": ["group_id"]},
        {"required": ["expert"], "properties": {"expert": {"const": True}}},
    ]
    agent = _obj(["agent_id"], agent_id=_ID)
    note = _obj(
        ["body"],
        body=_BODY_TEXT,
        whisper={**_BOOL, "default": False, "description": "supervisors and admins only"},
    )
    return {
        conv + "/transfer": {
            "post": _change(
                "Hand the conversation to an agent, a group or an expert",
                "teamwork",
                _json(_CONV_CONSOLE),
                body=transfer,
                params=[_CONV_ID],
                errors=(401, 403, 404, 409, 413, 422),
                description="Exactly one of agent_id, group_id, expert. To an agent the "
                "conversation moves at once (409 not_available: not online; 409 "
                "limit_reached: at their limit). To a group or an expert it is a warm "
                "transfer: transfer_pending is true and the current agent stays until the "
                "router assigns a colleague. 403: not the conversation's agent (overseers "
                "may); 409: not active.",
            )
        },
        conv + "/transfer/cancel": {
            "post": _change(
                "Withdraw a pending warm transfer",
                "teamwork",
                _json(_CONV_CONSOLE),
                params=[_CONV_ID],
                errors=(401, 403, 404, 409),
                description="409: not active, or no transfer is pending.",
            )
        },
        conv + "/invite": {
            "post": _change(
                "Invite an online colleague into the conversation (conference)",
                "teamwork",
                _json(_CONV_CONSOLE),
                body=agent,
                params=[_CONV_ID],
                errors=(401, 403, 404, 409, 413, 422),
                description="By its agent, a guest or an overseer. The colleague's chat limit "
                "does not apply. 409: not active, not_available, or already in it.",
            )
        },
        conv + "/leave": {
            "post": _change(
                "Leave a conversation one was invited into",
                "teamwork",
                _json(_CONV_CONSOLE),
                params=[_CONV_ID],
                errors=(401, 403, 404, 409),
                description="409: not active, or the user is not a guest of it.",
            )
        },
        conv + "/takeover": {
            "post": _change(
                "Take a conversation over from its agent",
                "teamwork",
                _json(_CONV_CONSOLE),
                params=[_CONV_ID],
                errors=(401, 403, 404, 409),
                description=_OVERSEERS + " 409: closed, or already the user's.",
            )
        },
        conv + "/notes": {
            "post": _change(
                "Add an internal note, or whisper to the agent",
                "teamwork",
                _wrapped("message", _ref("Message"), "stored (visibility staff)"),
                body=note,
                params=[_CONV_ID],
                errors=(401, 403, 404, 413, 422),
                status="201",
                description="Notes: the agent, a guest or an overseer; whispers: overseers. "
                "Neither ever reaches the visitor.",
            )
        },
        "/api/console/canned": {
            "get": _console(
                "The user's own and the shared canned answers",
                "teamwork",
                _wrapped("answers", {"type": "array", "items": _ref("CannedAnswer")}),
            ),
            "post": _change(
                "Add a canned answer",
                "teamwork",
                _wrapped("answer", _ref("CannedAnswer"), "stored"),
                body=_ref("CannedAnswerInput"),
                errors=(401, 403, 409, 413, 422),
                status="201",
                description="403: shared answers are for overseers; 409: the shortcut is "
                "taken, or 500 answers exist already.",
            ),
        },
        "/api/console/canned/{answer_id}": {
            "delete": _change(
                "Delete one's own answer, or a shared one (overseers)",
                "teamwork",
                _DELETED,
                params=[_ANSWER_ID],
                errors=(401, 403, 404),
            )
        },
        "/api/console/work-items": {
            "get": _console(
                "Left messages and call-back requests (at most 100)",
                "teamwork",
                _wrapped("items", {"type": "array", "items": _ref("WorkItem")}),
                params=[
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "description": "open: oldest first; closed: newest first",
                        "schema": {"type": "string", "enum": ["open", "closed"], "default": "open"},
                    }
                ],
                errors=(401, 422),
            )
        },
        "/api/console/work-items/{item_id}/close": {
            "post": _change(
                "Mark a work item done",
                "teamwork",
                _wrapped("item", _ref("WorkItem")),
                params=[_ITEM_ID],
                errors=(401, 403, 404, 409),
                description="409: already closed.",
            )
        },
        "/api/console/colleagues": {
            "get": _console(
                "The team and the groups, for transfer and invite",
                "teamwork",
                _json(
                    _obj(
                        ["agents", "groups"],
                        agents={"type": "array", "items": _ref("AgentStatus")},
                        groups={"type": "array", "items": _ref("GroupRef")},
                    )
                ),
            )
        },
        "/api/console/board": {
            "get": _console(
                "The supervisor board: queues and agents now",
                "supervisor",
                _json(_ref("Board")),
                errors=(401, 403),
                description=_OVERSEERS,
            )
        },
        "/api/console/visitors/{visitor_id}/tier": {
            "put": _change(
                "Set a visitor's tier; their place in the queue follows",
                "teamwork",
                _wrapped("tier", {"type": "string", "enum": list(TIERS)}),
                body=_obj(["tier"], tier={"type": "string", "enum": list(TIERS)}),
                params=[_VISITOR_ID],
                errors=(401, 403, 404, 413, 422),
            )
        },
    }


def _routing_paths() -> dict[str, Any]:
    def read(summary: str, key: str, schema: dict[str, Any]) -> dict[str, Any]:
        return _console(
            summary, "routing", _wrapped(key, schema), errors=(401, 403), description=_OVERSEERS
        )

    def write(
        summary: str,
        key: str,
        schema: dict[str, Any],
        *,
        errors: tuple[int, ...] = (401, 403, 413, 422),
        description: str = _OVERSEERS,
        **kwargs: Any,
    ) -> dict[str, Any]:
        return _change(
            summary,
            "routing",
            _wrapped(key, schema),
            errors=errors,
            description=description,
            **kwargs,
        )

    groups = {"type": "array", "items": _ref("Group")}
    topics = _list(_ref("Topic"), 200, description="in display order; keys are unique")
    routes = _list(_ref("Route"), 200, description="tried in order; the first match wins")
    new_group = {"allOf": [_ref("GroupSettings")], "required": ["name"]}
    return {
        "/api/console/groups": {
            "get": read("Every group with its settings and members", "groups", groups),
            "post": write(
                "Create a group",
                "group",
                _ref("Group"),
                body=new_group,
                errors=(401, 403, 409, 413, 422),
                status="201",
                description=_OVERSEERS + " 409: the name is taken.",
            ),
        },
        "/api/console/groups/{group_id}": {
            "patch": write(
                "Change a group's settings, hours or holidays",
                "group",
                _ref("Group"),
                body=_ref("GroupSettings"),
                params=[_GROUP_ID],
                errors=(401, 403, 404, 409, 413, 422),
                description=_OVERSEERS + " Only the fields given change. 409: the name is "
                "taken; 422: a group cannot fall back to itself.",
            ),
            "delete": _change(
                "Delete a group; its open conversations move to the default group",
                "routing",
                _DELETED,
                params=[_GROUP_ID],
                errors=(401, 403, 404, 409),
                description=_OVERSEERS + " 409: the default group cannot be deleted.",
            ),
        },
        "/api/console/groups/{group_id}/members": {
            "put": write(
                "Replace a group's members",
                "group",
                _ref("Group"),
                body=_obj(["members"], members=_list(_ID, 10_000, description="user ids")),
                params=[_GROUP_ID],
                errors=(401, 403, 404, 413, 422),
            )
        },
        "/api/console/agents": {
            "get": read(
                "Every enabled user with their routing scope",
                "agents",
                {"type": "array", "items": _ref("AgentScope")},
            )
        },
        "/api/console/agents/{user_id}": {
            "patch": write(
                "Change an agent's skills, regions, tier, chat limit or groups",
                "agent",
                _ref("AgentScope"),
                body=_ref("AgentScopeInput"),
                params=[_USER_ID],
                errors=(401, 403, 404, 413, 422),
            )
        },
        "/api/console/topics": {
            "get": read("The pre-chat topics", "topics", topics),
            "put": write(
                "Replace the pre-chat topics",
                "topics",
                topics,
                body=_obj(["topics"], topics=topics),
            ),
        },
        "/api/console/routes": {
            "get": read("The routing rules for chats without a topic", "routes", routes),
            "put": write(
                "Replace the routing rules", "routes", routes, body=_obj(["routes"], routes=routes)
            ),
        },
        "/api/console/priority": {
            "get": read("The priority points", "priority", _ref("Priority")),
            "put": write(
                "Replace the priority points",
                "priority",
                _ref("Priority"),
                body=_ref("Priority"),
                description=_OVERSEERS + " The tier and topic tables are replaced as given "
                "(a table left out means no points); wait and transfer keep their value "
                "when left out.",
            ),
        },
    }


def paths() -> dict[str, Any]:
    """Return the teamwork, supervisor and routing configuration paths."""
    return {**_team_paths(), **_routing_paths()}


def pages() -> dict[str, Any]:
    """Return the supervisor pages (HTML, console session)."""
    return {
        "/console/board": {"get": _page("Live wallboard: queues and agents (overseers)")},
        "/console/routing": {
            "get": _page(
                "Routing settings: groups, hours, agents, topics, rules, points (overseers)"
            )
        },
        "/console/work-items": {"get": _page("Left messages and call-back requests")},
    }


def _group_schemas() -> dict[str, Any]:
    settings = {
        "name": _text(64, 1),
        "strategy": {"type": "string", "enum": list(STRATEGIES), "default": "least_busy"},
        "target_wait": _seconds(1, "s: the service-level target and the unit of wait points"),
        "answer_timeout": _seconds(1, "s an assigned agent has to answer before the requeue"),
        "max_wait": _seconds(1, "s of estimated wait above which overflow is offered"),
        "fallback_group_id": {
            **_nullable(_ID),
            "description": "its agents may take the chat too after fallback_after",
        },
        "fallback_after": _seconds(0, "s waited before the fallback group may take it"),
        "sticky": {**_BOOL, "description": "a returning visitor goes back to their last agent"},
        "hours": _nullable(_ref("Hours")),
        "holidays": _list(
            {"type": "string", "format": "date"},
            366,
            description="box-local dates (YYYY-MM-DD) on which the group is closed",
        ),
    }
    hhmm = {"type": "string", "pattern": "^([01][0-9]|2[0-4]):[0-5][0-9]$"}
    span = {
        "type": "array",
        "prefixItems": [hhmm, hhmm],
        "minItems": 2,
        "maxItems": 2,
        "description": "[open, close): open before close, 24:00 at the latest",
    }
    return {
        "GroupSettings": {"type": "object", "properties": settings},
        "Group": _obj(
            ["id", *settings, "is_default", "members"],
            id=_INT,
            **settings,
            is_default={**_BOOL, "description": "new users join it; it cannot be deleted"},
            members={"type": "array", "items": _INT, "description": "user ids"},
        ),
        "Hours": {
            "type": "object",
            "description": "Opening times per weekday in the box's local time zone. A day "
            "left out is closed; null or {} means always open.",
            "propertyNames": {"enum": list(DAYS)},
            "additionalProperties": _list(span, 8),
        },
    }


def _agent_schemas() -> dict[str, Any]:
    tag = _text(32, 1)
    tier = {"type": "string", "enum": ["normal", "expert"]}
    groups = {"type": "array", "items": _INT, "description": "group ids"}
    return {
        "AgentScope": _obj(
            [
                "id",
                "username",
                "display_name",
                "role",
                "status",
                "max_chats",
                "tier",
                "skills",
                "regions",
                "groups",
            ],
            id=_INT,
            username=_STR,
            display_name=_STR,
            role={"type": "string", "enum": ["admin", "supervisor", "agent"]},
            status=_ref("Presence"),
            max_chats=_INT,
            tier=tier,
            skills={"type": "array", "items": _STR},
            regions={"type": "array", "items": _STR},
            groups=groups,
        ),
        "AgentScopeInput": _obj(
            skills=_list(tag, 32),
            regions=_list(
                tag,
                32,
                description="empty: every region; else only visitors of these regions",
            ),
            tier=tier,
            max_chats={"type": "integer", "minimum": 0, "maximum": 50},
            groups=_list(_ID, 200, description="replaces the agent's groups"),
        ),
        "AgentStatus": _obj(
            [
                "id",
                "display_name",
                "role",
                "status",
                "tier",
                "load",
                "max_chats",
                "missed_today",
                "groups",
            ],
            id=_INT,
            display_name=_STR,
            role={"type": "string", "enum": ["admin", "supervisor", "agent"]},
            status=_ref("Presence"),
            tier=tier,
            load={"type": "integer", "description": "active chats they own"},
            max_chats=_INT,
            missed_today={"type": "integer", "description": "chats let ring out since midnight"},
            groups=groups,
        ),
    }


def _rule_schemas() -> dict[str, Any]:
    skill = _text(32, description="the skill an agent needs, or empty")
    return {
        "Topic": _obj(
            ["key", "label", "group_id"],
            key=_text(32, 1),
            label=_text(64, 1),
            group_id=_ID,
            skill=skill,
        ),
        "Route": _obj(
            ["group_id"],
            url_pattern=_text(
                512, description="shell-style glob (*, ?, [...]) on the page URL; empty: any"
            ),
            region=_text(32, description="the visitor's region exactly; empty: any"),
            group_id=_ID,
            skill=skill,
        ),
        "Priority": _obj(
            ["tier", "topic", "wait", "transfer"],
            tier={
                "type": "object",
                "propertyNames": {"enum": list(TIERS)},
                "additionalProperties": _POINTS,
                "description": "points per visitor tier (defaults vip 60, member 20, new 0)",
            },
            topic={
                "type": "object",
                "maxProperties": 200,
                "additionalProperties": _POINTS,
                "description": "points per topic key",
            },
            wait={**_POINTS, "description": "points per target wait waited (default 30)"},
            transfer={**_POINTS, "description": "bonus of a warm transfer (default 40)"},
        ),
    }


def _work_schemas() -> dict[str, Any]:
    def needs(kind: str, field: str) -> dict[str, Any]:
        return {"if": {"properties": {"kind": {"const": kind}}}, "then": {"required": [field]}}

    work_input = _obj(
        ["kind"],
        kind={"type": "string", "enum": list(KINDS)},
        name=_text(64),
        contact=_text(
            254, description="callback: a phone number; message: phone or e-mail, optional"
        ),
        preferred_time=_text(64, description="free text, e.g. tomorrow after 14:00"),
        body=_text(4000, description="required for a message"),
        conversation_id=_text(64, description="the waiting conversation this replaces"),
    )
    work_input["allOf"] = [needs("callback", "contact"), needs("message", "body")]
    item_fields = ["id", "kind", "visitor_id", "conversation_id", "group_id", "name", "contact"]
    queue_fields = ["id", "name", "waiting", "transfers", "longest_wait", "target_wait"]
    return {
        "CannedAnswer": _obj(
            ["id", "shortcut", "title", "body", "shared"],
            id=_INT,
            shortcut=_STR,
            title=_STR,
            body=_STR,
            shared={**_BOOL, "description": "the team's, not the user's own"},
        ),
        "CannedAnswerInput": _obj(
            ["shortcut", "body"],
            shortcut=_text(32, 1, description="letters of any script, digits, _ or -"),
            title=_text(100, description="defaults to the shortcut"),
            body=_text(4000, 1),
            shared={**_BOOL, "default": False, "description": "for the team (overseers)"},
        ),
        "WorkItemInput": work_input,
        "WorkItem": _obj(
            [*item_fields, "preferred_time", "body", "status", "created_at", "closed_at"],
            id=_STR,
            kind={"type": "string", "enum": list(KINDS)},
            visitor_id=_STR,
            conversation_id=_nullable(_STR),
            group_id=_nullable(_INT),
            name=_STR,
            contact=_STR,
            preferred_time=_STR,
            body=_STR,
            status={"type": "string", "enum": ["open", "closed"]},
            created_at=_TIME,
            closed_at=_nullable(_TIME),
            closed_by={**_nullable(_INT), "description": "the user who closed it"},
        ),
        "QueueStats": _obj(
            [*queue_fields, "service_level", "offered"],
            id=_INT,
            name=_STR,
            waiting=_INT,
            transfers={"type": "integer", "description": "warm transfers pending"},
            longest_wait={"type": "integer", "description": "s the oldest waiting chat waited"},
            target_wait=_INT,
            service_level={
                **_nullable({"type": "number", "minimum": 0, "maximum": 1}),
                "description": "share of the last hour's chats given to an agent within"
                " target_wait",
            },
            offered={"type": "integer", "description": "the last hour's chats counted"},
        ),
        "Board": _obj(
            ["queues", "agents"],
            queues={"type": "array", "items": _ref("QueueStats")},
            agents={"type": "array", "items": _ref("AgentStatus")},
        ),
    }


def schemas() -> dict[str, Any]:
    """Return the component schemas of these paths."""
    return {**_group_schemas(), **_agent_schemas(), **_rule_schemas(), **_work_schemas()}
