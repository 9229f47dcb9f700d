"""The console's teamwork API: transfer, conference, notes, whispers, take-over, canned
answers, overflow work items, the colleagues list and the supervisor board."""

from __future__ import annotations

import msgspec
from aiohttp import web

from appliance.core.board import agent_board, board
from appliance.core.conversation import Conversation
from appliance.webui.console_views import staff as actor
from appliance.webui.console_views import visible
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.wire import chat, team
from appliance.webui.wire.chat import console_conversation_out, message_out


def _conversation(conv: Conversation) -> web.Response:
    return reply(chat.OneConsoleConversation(console_conversation_out(conv)))


async def transfer(request: web.Request) -> web.Response:
    """Hand the conversation to an agent, a group or an expert, with a note."""
    session = current_session(request)
    conv = await visible(request, session)
    target = await read_body(request, team.Transfer)
    moved = await request.app[BOX].teamwork.transfer(
        conv.id, await actor(request, session), **msgspec.to_builtins(target)
    )
    return _conversation(moved)


async def cancel_transfer(request: web.Request) -> web.Response:
    """Withdraw a pending transfer."""
    session = current_session(request)
    conv = await visible(request, session)
    return _conversation(
        await request.app[BOX].teamwork.cancel_transfer(conv.id, await actor(request, session))
    )


async def invite(request: web.Request) -> web.Response:
    """Invite a colleague into the conversation (conference)."""
    session = current_session(request)
    conv = await visible(request, session)
    colleague = await read_body(request, team.Colleague)
    joined = await request.app[BOX].teamwork.invite(
        conv.id, await actor(request, session), colleague.agent_id
    )
    return _conversation(joined)


async def leave(request: web.Request) -> web.Response:
    """Leave a conference one was invited into."""
    session = current_session(request)
    conv = await visible(request, session)
    return _conversation(
        await request.app[BOX].teamwork.leave(conv.id, await actor(request, session))
    )


async def take_over(request: web.Request) -> web.Response:
    """Take a live conversation from its agent (supervisors)."""
    session = current_session(request)
    conv = await visible(request, session)
    return _conversation(
        await request.app[BOX].teamwork.take_over(conv.id, await actor(request, session))
    )


async def add_note(request: web.Request) -> web.Response:
    """Add an internal note, or a supervisor's whisper; the visitor never sees either."""
    session = current_session(request)
    conv = await visible(request, session)
    note = await read_body(request, team.NoteInput)
    message = await request.app[BOX].teamwork.note(
        conv.id, await actor(request, session), note.body, whisper=note.whisper
    )
    return reply(chat.OneMessage(message_out(message)), 201)


async def list_canned(request: web.Request) -> web.Response:
    """Return the user's and the shared canned answers."""
    session = current_session(request)
    answers = await request.app[BOX].canned.list_for(session.user.staff)
    return reply(team.CannedAnswers([team.canned_answer_out(a) for a in answers]))


async def add_canned(request: web.Request) -> web.Response:
    """Add a canned answer: personal, or shared by a supervisor."""
    session = current_session(request)
    new = await read_body(request, team.CannedAnswerInput)
    answer = await request.app[BOX].canned.create(session.user.staff, msgspec.to_builtins(new))
    return reply(team.OneCannedAnswer(team.canned_answer_out(answer)), 201)


def int_path(request: web.Request, name: str) -> int:
    """Parse a numeric id from the path; anything else is simply not found."""
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 15:
        raise web.HTTPNotFound()
    return int(raw)


async def delete_canned(request: web.Request) -> web.Response:
    """Delete a canned answer."""
    session = current_session(request)
    await request.app[BOX].canned.delete(session.user.staff, int_path(request, "answer_id"))
    return reply({"deleted": True})


async def colleagues(request: web.Request) -> web.Response:
    """Return the team (status, load, groups) and the groups, for transfer and invite."""
    box = request.app[BOX]
    groups = [chat.GroupRef(g.id, g.name) for g in await box.routing.list_groups()]
    agents = [team.agent_status_out(a) for a in await agent_board(box.db)]
    return reply(team.Colleagues(agents, groups))


async def supervisor_board(request: web.Request) -> web.Response:
    """Return the live board: queues and agents."""
    return reply(team.board_out(await board(request.app[BOX].db)))


async def set_visitor_tier(request: web.Request) -> web.Response:
    """Mark a visitor as VIP, member or new (their priority in the queue follows)."""
    change = await read_body(request, team.VisitorTier)
    tier = await request.app[BOX].visitors.set_tier(request.match_info["visitor_id"], change.tier)
    return reply({"tier": tier})


_CONV = "/api/console/conversations/{conv_id}"
_OVERSEERS = "Supervisors and admins only (else 403)."
_TAG = "teamwork"

CONTRACT = Contract(
    [
        Operation(
            "POST",
            _CONV + "/transfer",
            transfer,
            "Hand the conversation to an agent, a group or an expert",
            _TAG,
            chat.OneConsoleConversation,
            body=team.TransferBody,
            errors=(401, 403, 404, 409, 413, 422),
            description="Exactly one of agent_id, group_id, expert. To an agent the "
            "conversation moves at once (409 not_available: not online; 409 "
            "limit_reached: at their limit). To a group or an expert it is a warm "
            "transfer: transfer_pending is true and the current agent stays until the "
            "router assigns a colleague. 403: not the conversation's agent (overseers "
            "may); 409: not active.",
        ),
        Operation(
            "POST",
            _CONV + "/transfer/cancel",
            cancel_transfer,
            "Withdraw a pending warm transfer",
            _TAG,
            chat.OneConsoleConversation,
            errors=(401, 403, 404, 409),
            description="409: not active, or no transfer is pending.",
        ),
        Operation(
            "POST",
            _CONV + "/invite",
            invite,
            "Invite an online colleague into the conversation (conference)",
            _TAG,
            chat.OneConsoleConversation,
            body=team.Colleague,
            errors=(401, 403, 404, 409, 413, 422),
            description="By its agent, a guest or an overseer. The colleague's chat limit "
            "does not apply. 409: not active, not_available, or already in it.",
        ),
        Operation(
            "POST",
            _CONV + "/leave",
            leave,
            "Leave a conversation one was invited into",
            _TAG,
            chat.OneConsoleConversation,
            errors=(401, 403, 404, 409),
            description="409: not active, or the user is not a guest of it.",
        ),
        Operation(
            "POST",
            _CONV + "/takeover",
            take_over,
            "Take a conversation over from its agent",
            _TAG,
            chat.OneConsoleConversation,
            errors=(401, 403, 404, 409),
            description=_OVERSEERS + " 409: closed, or already the user's.",
        ),
        Operation(
            "POST",
            _CONV + "/notes",
            add_note,
            "Add an internal note, or whisper to the agent",
            _TAG,
            chat.OneMessage,
            status=201,
            body=team.NoteInput,
            errors=(401, 403, 404, 413, 422),
            description="Stored with visibility staff. Notes: the agent, a guest or an "
            "overseer; whispers: overseers. Neither ever reaches the visitor.",
        ),
        Operation(
            "GET",
            "/api/console/canned",
            list_canned,
            "The user's own and the shared canned answers",
            _TAG,
            team.CannedAnswers,
            errors=(401,),
        ),
        Operation(
            "POST",
            "/api/console/canned",
            add_canned,
            "Add a canned answer",
            _TAG,
            team.OneCannedAnswer,
            status=201,
            body=team.CannedAnswerInput,
            errors=(401, 403, 409, 413, 422),
            description="403: shared answers are for overseers; 409: the shortcut is "
            "taken, or 500 answers exist already.",
        ),
        Operation(
            "DELETE",
            "/api/console/canned/{answer_id}",
            delete_canned,
            "Delete one's own answer, or a shared one (overseers)",
            _TAG,
            team.Deleted,
            path_types={"answer_id": chat.Id},
            errors=(401, 403, 404),
        ),
        Operation(
            "GET",
            "/api/console/colleagues",
            colleagues,
            "The team and the groups, for transfer and invite",
            _TAG,
            team.Colleagues,
            errors=(401,),
        ),
        Operation(
            "GET",
            "/api/console/board",
            supervisor_board,
            "The supervisor board: queues and agents now",
            "supervisor",
            team.Board,
            errors=(401, 403),
            description=_OVERSEERS,
        ),
        Operation(
            "PUT",
            "/api/console/visitors/{visitor_id}/tier",
            set_visitor_tier,
            "Set a visitor's tier; their place in the queue follows",
            _TAG,
            team.VisitorTier,
            body=team.VisitorTier,
            errors=(401, 403, 404, 413, 422),
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the teamwork routes."""
    CONTRACT.install(app)
