"""The supervisor's routing API: groups and their hours, agents' scope, topics, rules,
priority points. Every handler is for supervisors and admins only."""

from __future__ import annotations

from aiohttp import web

from appliance.webui.keys import BOX
from appliance.webui.team_views import int_path
from appliance.webui.visitor_views import read_json


async def list_groups(request: web.Request) -> web.Response:
    """Return every group."""
    return web.json_response({"groups": await request.app[BOX].routing.list_groups()})


async def create_group(request: web.Request) -> web.Response:
    """Create a group."""
    group = await request.app[BOX].routing.create_group(await read_json(request))
    return web.json_response({"group": group}, status=201)


async def update_group(request: web.Request) -> web.Response:
    """Change a group's settings, hours or holidays."""
    routing = request.app[BOX].routing
    group = await routing.update_group(int_path(request, "group_id"), await read_json(request))
    return web.json_response({"group": group})


async def delete_group(request: web.Request) -> web.Response:
    """Delete a group; its open conversations move to the default group."""
    await request.app[BOX].routing.delete_group(int_path(request, "group_id"))
    return web.json_response({"deleted": True})


async def set_members(request: web.Request) -> web.Response:
    """Replace a group's members."""
    data = await read_json(request)
    group = await request.app[BOX].routing.set_members(
        int_path(request, "group_id"), data.get("members")
    )
    return web.json_response({"group": group})


async def list_agents(request: web.Request) -> web.Response:
    """Return every user with their routing scope."""
    return web.json_response({"agents": await request.app[BOX].routing.list_agents()})


async def update_agent(request: web.Request) -> web.Response:
    """Change an agent's skills, regions, tier, chat limit or groups."""
    routing = request.app[BOX].routing
    agent = await routing.update_agent(int_path(request, "user_id"), await read_json(request))
    return web.json_response({"agent": agent})


async def get_topics(request: web.Request) -> web.Response:
    """Return the pre-chat topics."""
    return web.json_response({"topics": await request.app[BOX].routing.get_topics()})


async def put_topics(request: web.Request) -> web.Response:
    """Replace the pre-chat topics."""
    data = await read_json(request)
    return web.json_response(
        {"topics": await request.app[BOX].routing.set_topics(data.get("topics"))}
    )


async def get_routes(request: web.Request) -> web.Response:
    """Return the routing rules."""
    return web.json_response({"routes": await request.app[BOX].routing.get_routes()})


async def put_routes(request: web.Request) -> web.Response:
    """Replace the routing rules."""
    data = await read_json(request)
    return web.json_response(
        {"routes": await request.app[BOX].routing.set_routes(data.get("routes"))}
    )


async def get_priority(request: web.Request) -> web.Response:
    """Return the priority points."""
    return web.json_response({"priority": await request.app[BOX].routing.get_points()})


async def put_priority(request: web.Request) -> web.Response:
    """Replace the priority points."""
    data = await read_json(request)
    return web.json_response({"priority": await request.app[BOX].routing.set_points(data)})


def add_routes(app: web.Application) -> None:
    """Register the routing configuration routes."""
    app.router.add_get("/api/console/groups", list_groups)
    app.router.add_post("/api/console/groups", create_group)
    app.router.add_patch("/api/console/groups/{group_id}", update_group)
    app.router.add_delete("/api/console/groups/{group_id}", delete_group)
    app.router.add_put("/api/console/groups/{group_id}/members", set_members)
    app.router.add_get("/api/console/agents", list_agents)
    app.router.add_patch("/api/console/agents/{user_id}", update_agent)
    app.router.add_get("/api/console/topics", get_topics)
    app.router.add_put("/api/console/topics", put_topics)
    app.router.add_get("/api/console/routes", get_routes)
    app.router.add_put("/api/console/routes", put_routes)
    app.router.add_get("/api/console/priority", get_priority)
    app.router.add_put("/api/console/priority", put_priority)
