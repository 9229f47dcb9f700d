"""The supervisor's routing API: groups and their hours, agents' scope, topics, rules,
priority points. Every handler is for supervisors and admins only."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.keys import BOX
from appliance.webui.team_views import int_path
from appliance.webui.wire import routing as wire
from appliance.webui.wire.chat import Id
from appliance.webui.wire.team import Deleted


async def list_groups(request: web.Request) -> web.Response:
    """Return every group."""
    groups = await request.app[BOX].routing.list_groups()
    return reply(wire.Groups([wire.group_out(g) for g in groups]))


async def create_group(request: web.Request) -> web.Response:
    """Create a group."""
    settings = await read_body(request, wire.GroupSettings)
    group = await request.app[BOX].routing.create_group(msgspec.to_builtins(settings))
    return reply(wire.OneGroup(wire.group_out(group)), 201)


async def update_group(request: web.Request) -> web.Response:
    """Change a group's settings, hours or holidays."""
    group_id = int_path(request, "group_id")
    change = await read_body(request, wire.GroupSettings)
    group = await request.app[BOX].routing.update_group(group_id, msgspec.to_builtins(change))
    return reply(wire.OneGroup(wire.group_out(group)))


async def delete_group(request: web.Request) -> web.Response:
    """Delete a group; its open conversations move to the default group."""
    await request.app[BOX].routing.delete_group(int_path(request, "group_id"))
    return reply({"deleted": True})


async def set_members(request: web.Request) -> web.Response:
    """Replace a group's members."""
    group_id = int_path(request, "group_id")
    members = await read_body(request, wire.GroupMembers)
    group = await request.app[BOX].routing.set_members(group_id, members.members)
    return reply(wire.OneGroup(wire.group_out(group)))


async def list_agents(request: web.Request) -> web.Response:
    """Return every user with their routing scope."""
    agents = await request.app[BOX].routing.list_agents()
    return reply(wire.Agents([wire.agent_out(a) for a in agents]))


async def update_agent(request: web.Request) -> web.Response:
    """Change an agent's skills, regions, tier, chat limit or groups."""
    user_id = int_path(request, "user_id")
    change = await read_body(request, wire.AgentScopeInput)
    agent = await request.app[BOX].routing.update_agent(user_id, msgspec.to_builtins(change))
    return reply(wire.OneAgent(wire.agent_out(agent)))


async def get_topics(request: web.Request) -> web.Response:
    """Return the pre-chat topics."""
    topics = await request.app[BOX].routing.get_topics()
    return reply(wire.Topics([wire.topic_out(t) for t in topics]))


async def put_topics(request: web.Request) -> web.Response:
    """Replace the pre-chat topics."""
    topics = await read_body(request, wire.Topics)
    routing = request.app[BOX].routing
    saved = await routing.set_topics(msgspec.to_builtins(topics.topics))
    return reply(wire.Topics([wire.topic_out(t) for t in saved]))


async def get_routes(request: web.Request) -> web.Response:
    """Return the routing rules."""
    rules = await request.app[BOX].routing.get_routes()
    return reply(wire.Routes([wire.rule_out(r) for r in rules]))


async def put_routes(request: web.Request) -> web.Response:
    """Replace the routing rules."""
    routes = await read_body(request, wire.Routes)
    routing = request.app[BOX].routing
    saved = await routing.set_routes(msgspec.to_builtins(routes.routes))
    return reply(wire.Routes([wire.rule_out(r) for r in saved]))


async def get_priority(request: web.Request) -> web.Response:
    """Return the priority points."""
    points = await request.app[BOX].routing.get_points()
    return reply(wire.OnePriority(wire.priority_out(points)))


async def put_priority(request: web.Request) -> web.Response:
    """Replace the priority points."""
    change = await read_body(request, wire.PriorityChange)
    points = await request.app[BOX].routing.set_points(msgspec.to_builtins(change))
    return reply(wire.OnePriority(wire.priority_out(points)))


_OVERSEERS = "Supervisors and admins only (else 403)."
_TAG = "routing"
_GROUP = {"group_id": Id}
_READ: dict[str, Any] = {"errors": (401, 403), "description": _OVERSEERS}
_WRITE: dict[str, Any] = {"errors": (401, 403, 413, 422), "description": _OVERSEERS}

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/console/groups",
            list_groups,
            "Every group with its settings and members",
            _TAG,
            wire.Groups,
            **_READ,
        ),
        Operation(
            "POST",
            "/api/console/groups",
            create_group,
            "Create a group",
            _TAG,
            wire.OneGroup,
            status=201,
            body=wire.NewGroup,
            errors=(401, 403, 409, 413, 422),
            description=_OVERSEERS + " 409: the name is taken.",
        ),
        Operation(
            "PATCH",
            "/api/console/groups/{group_id}",
            update_group,
            "Change a group's settings, hours or holidays",
            _TAG,
            wire.OneGroup,
            body=wire.GroupSettings,
            path_types=_GROUP,
            errors=(401, 403, 404, 409, 413, 422),
            description=_OVERSEERS + " Only the fields given change. 409: the name is "
            "taken; 422: a group cannot fall back to itself.",
        ),
        Operation(
            "DELETE",
            "/api/console/groups/{group_id}",
            delete_group,
            "Delete a group; its open conversations move to the default group",
            _TAG,
            Deleted,
            path_types=_GROUP,
            errors=(401, 403, 404, 409),
            description=_OVERSEERS + " 409: the default group cannot be deleted.",
        ),
        Operation(
            "PUT",
            "/api/console/groups/{group_id}/members",
            set_members,
            "Replace a group's members",
            _TAG,
            wire.OneGroup,
            body=wire.GroupMembers,
            path_types=_GROUP,
            errors=(401, 403, 404, 413, 422),
            description=_OVERSEERS,
        ),
        Operation(
            "GET",
            "/api/console/agents",
            list_agents,
            "Every enabled user with their routing scope",
            _TAG,
            wire.Agents,
            **_READ,
        ),
        Operation(
            "PATCH",
            "/api/console/agents/{user_id}",
            update_agent,
            "Change an agent's skills, regions, tier, chat limit or groups",
            _TAG,
            wire.OneAgent,
            body=wire.AgentScopeInput,
            path_types={"user_id": Id},
            errors=(401, 403, 404, 413, 422),
            description=_OVERSEERS,
        ),
        Operation(
            "GET",
            "/api/console/topics",
            get_topics,
            "The pre-chat topics",
            _TAG,
            wire.Topics,
            **_READ,
        ),
        Operation(
            "PUT",
            "/api/console/topics",
            put_topics,
            "Replace the pre-chat topics",
            _TAG,
            wire.Topics,
            body=wire.Topics,
            **_WRITE,
        ),
        Operation(
            "GET",
            "/api/console/routes",
            get_routes,
            "The routing rules for chats without a topic",
            _TAG,
            wire.Routes,
            **_READ,
        ),
        Operation(
            "PUT",
            "/api/console/routes",
            put_routes,
            "Replace the routing rules",
            _TAG,
            wire.Routes,
            body=wire.Routes,
            **_WRITE,
        ),
        Operation(
            "GET",
            "/api/console/priority",
            get_priority,
            "The priority points",
            _TAG,
            wire.OnePriority,
            **_READ,
        ),
        Operation(
            "PUT",
            "/api/console/priority",
            put_priority,
            "Replace the priority points",
            _TAG,
            wire.OnePriority,
            body=wire.PriorityChange,
            errors=(401, 403, 413, 422),
            description=_OVERSEERS + " The tier and topic tables are replaced as given "
            "(a table left out means no points); wait and transfer keep their value "
            "when left out.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the routing configuration routes."""
    CONTRACT.install(app)
