"""The console's teamwork API: transfer, conference, notes, whispers, take-over, canned
answers, overflow work items, the colleagues list and the supervisor board."""

from __future__ import annotations

from aiohttp import web

from appliance.core.accounts import OVERSEERS, Session
from appliance.core.board import agent_board, board
from appliance.core.chats import Conversation
from appliance.core.errors import InvalidInput
from appliance.core.teamwork import Actor
from appliance.webui.console_views import visible
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.visitor_views import read_json


def actor(session: Session) -> Actor:
    """Return the acting console user."""
    user = session.user
    return Actor(user.id, user.display_name, overseer=user.role in OVERSEERS)


def _conversation(conv: Conversation) -> web.Response:
    return web.json_response({"conversation": conv.public(console=True)})


async def transfer(request: web.Request) -> web.Response:
    """Hand the conversation to an agent, a group or an expert, with a note."""
    session = current_session(request)
    conv = await visible(request, session)
    data = await read_json(request)
    expert = data.get("expert", False)
    if not isinstance(expert, bool):
        raise InvalidInput("expert must be true or false")
    moved = await request.app[BOX].teamwork.transfer(
        conv.id,
        actor(session),
        agent_id=data.get("agent_id"),
        group_id=data.get("group_id"),
        expert=expert,
        note=data.get("note"),
    )
    return _conversation(moved)


async def cancel_transfer(request: web.Request) -> web.Response:
    """Withdraw a pending transfer."""
    session = current_session(request)
    conv = await visible(request, session)
    return _conversation(await request.app[BOX].teamwork.cancel_transfer(conv.id, actor(session)))


async def invite(request: web.Request) -> web.Response:
    """Invite a colleague into the conversation (conference)."""
    session = current_session(request)
    conv = await visible(request, session)
    data = await read_json(request)
    joined = await request.app[BOX].teamwork.invite(conv.id, actor(session), data.get("agent_id"))
    return _conversation(joined)


async def leave(request: web.Request) -> web.Response:
    """Leave a conference one was invited into."""
    session = current_session(request)
    conv = await visible(request, session)
    return _conversation(await request.app[BOX].teamwork.leave(conv.id, actor(session)))


async def take_over(request: web.Request) -> web.Response:
    """Take a live conversation from its agent (supervisors)."""
    session = current_session(request)
    conv = await visible(request, session)
    return _conversation(await request.app[BOX].teamwork.take_over(conv.id, actor(session)))


async def add_note(request: web.Request) -> web.Response:
    """Add an internal note, or a supervisor's whisper; the visitor never sees either."""
    session = current_session(request)
    conv = await visible(request, session)
    data = await read_json(request)
    whisper = data.get("whisper", False)
    if not isinstance(whisper, bool):
        raise InvalidInput("whisper must be true or false")
    message = await request.app[BOX].teamwork.note(
        conv.id, actor(session), data.get("body"), whisper=whisper
    )
    return web.json_response({"message": message}, status=201)


async def list_canned(request: web.Request) -> web.Response:
    """Return the user's and the shared canned answers."""
    session = current_session(request)
    answers = await request.app[BOX].canned.list_for(session.user.id)
    return web.json_response({"answers": answers})


async def add_canned(request: web.Request) -> web.Response:
    """Add a canned answer: personal, or shared by a supervisor."""
    session = current_session(request)
    data = await read_json(request)
    answer = await request.app[BOX].canned.create(
        session.user.id, data, overseer=session.user.role in OVERSEERS
    )
    return web.json_response({"answer": answer}, status=201)


def int_path(request: web.Request, name: str) -> int:
    """Parse a numeric id from the path; anything else is simply not found."""
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 15:
        raise web.HTTPNotFound()
    return int(raw)


async def delete_canned(request: web.Request) -> web.Response:
    """Delete a canned answer."""
    session = current_session(request)
    await request.app[BOX].canned.delete(
        session.user.id, int_path(request, "answer_id"), overseer=session.user.role in OVERSEERS
    )
    return web.json_response({"deleted": True})


async def list_work_items(request: web.Request) -> web.Response:
    """Return left messages and call-back requests."""
    items = await request.app[BOX].work_items.list(request.query.get("status", "open"))
    return web.json_response({"items": items})


async def close_work_item(request: web.Request) -> web.Response:
    """Mark a left message or call-back request done."""
    session = current_session(request)
    item = await request.app[BOX].work_items.close(request.match_info["item_id"], session.user.id)
    return web.json_response({"item": item})


async def colleagues(request: web.Request) -> web.Response:
    """Return the team (status, load, groups) and the groups, for transfer and invite."""
    box = request.app[BOX]
    groups = [{"id": g["id"], "name": g["name"]} for g in await box.routing.list_groups()]
    return web.json_response({"agents": await agent_board(box.db), "groups": groups})


async def supervisor_board(request: web.Request) -> web.Response:
    """Return the live board: queues and agents."""
    return web.json_response(await board(request.app[BOX].db))


async def set_visitor_tier(request: web.Request) -> web.Response:
    """Mark a visitor as VIP, member or new (their priority in the queue follows)."""
    data = await read_json(request)
    tier = await request.app[BOX].visitors.set_tier(
        request.match_info["visitor_id"], data.get("tier")
    )
    return web.json_response({"tier": tier})


def add_routes(app: web.Application) -> None:
    """Register the teamwork routes."""
    conv = "/api/console/conversations/{conv_id}"
    app.router.add_post(conv + "/transfer", transfer)
    app.router.add_post(conv + "/transfer/cancel", cancel_transfer)
    app.router.add_post(conv + "/invite", invite)
    app.router.add_post(conv + "/leave", leave)
    app.router.add_post(conv + "/takeover", take_over)
    app.router.add_post(conv + "/notes", add_note)
    app.router.add_get("/api/console/canned", list_canned)
    app.router.add_post("/api/console/canned", add_canned)
    app.router.add_delete("/api/console/canned/{answer_id}", delete_canned)
    app.router.add_get("/api/console/work-items", list_work_items)
    app.router.add_post("/api/console/work-items/{item_id}/close", close_work_item)
    app.router.add_get("/api/console/colleagues", colleagues)
    app.router.add_get("/api/console/board", supervisor_board)
    app.router.add_put("/api/console/visitors/{visitor_id}/tier", set_visitor_tier)
