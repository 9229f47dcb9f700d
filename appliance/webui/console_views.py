"""The agent console: its page, its history pages and its JSON API."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from aiohttp import web

from appliance.core.accounts import OVERSEERS, Session
from appliance.core.actors import Staff
from appliance.core.clock import local_text, utc_offset_minutes
from appliance.core.conversation import Conversation, Message
from appliance.webui.contract import Contract, Operation, read_body, read_query, reply
from appliance.webui.keys import BOX
from appliance.webui.pages import render
from appliance.webui.security import current_session
from appliance.webui.visitor_views import after_seq
from appliance.webui.wire import account, chat, console, wire_time
from appliance.webui.wire.chat import console_conversation_out, message_out
from appliance.webui.ws import agent_ws

_HISTORY_PAGE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _sees_all(session: Session) -> bool:
    return session.user.role in OVERSEERS


_ACTOR: web.RequestKey[Staff] = web.RequestKey("console_actor")


async def staff(request: web.Request, session: Session) -> Staff:
    """Return the signed-in console user as the actor of a use case, with the scope
    core reads for them (once per request)."""
    found: Staff | None = request.get(_ACTOR)
    if found is None:
        user = session.user
        found = await request.app[BOX].routing.actor(user.id, user.display_name, user.role)
        request[_ACTOR] = found
    return found


def wire_ms(text: str) -> int:
    """Read a wire time (ISO 8601; without an offset, the box's zone) as UTC ms; 400 if off."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.astimezone()
        return (moment - _EPOCH) // timedelta(milliseconds=1)
    except (ValueError, OverflowError, OSError) as err:
        raise web.HTTPBadRequest(reason="before must be an ISO 8601 time") from err


async def visible(request: web.Request, session: Session) -> Conversation:
    """Return the conversation in the path if this user may see it (core decides by
    their scope), else 404."""
    actor = await staff(request, session)
    return await request.app[BOX].chats.get_for(request.match_info["conv_id"], actor)


# -- pages --------------------------------------------------------------------


async def console_page(request: web.Request) -> web.Response:
    """Show the live console."""
    return render(request, "console.html")


async def history_page(request: web.Request) -> web.Response:
    """List closed conversations: an agent's own, or everyone's for supervisors."""
    session = current_session(request)
    chats = request.app[BOX].chats
    query = read_query(request, console.HistoryQuery)
    rows = await chats.list_closed(
        before=wire_ms(query.before) if isinstance(query.before, str) else None,
        agent_id=None if _sees_all(session) else session.user.id,
        limit=_HISTORY_PAGE,
    )
    files = await request.app[BOX].files.counts([conv.id for conv in rows])
    items = [
        {
            "conv": conv,
            "started": local_text(conv.created_at),
            "ended": local_text(conv.closed_at),
            "files": files.get(conv.id, 0),
        }
        for conv in rows
    ]
    older = None
    if len(rows) == _HISTORY_PAGE:  # the next page's link, as a query value
        older = quote(wire_time(rows[-1].closed_at) or "", safe="")
    return render(request, "history.html", {"items": items, "older": older})


_TRANSCRIPT_PAGE = 1000  # messages read at a time for a whole transcript


async def whole_transcript(request: web.Request, conv_id: str) -> list[Message]:
    """Return every message of a conversation, notes included, page by page."""
    chats = request.app[BOX].chats
    messages: list[Message] = []
    cursor = 0
    while True:
        page = await chats.messages_after(conv_id, cursor, _TRANSCRIPT_PAGE, staff=True)
        messages.extend(page)
        if len(page) < _TRANSCRIPT_PAGE:
            return messages
        cursor = page[-1].seq


async def transcript_page(request: web.Request) -> web.Response:
    """Show one conversation's whole transcript."""
    session = current_session(request)
    conv = await visible(request, session)
    messages = await whole_transcript(request, conv.id)
    lines = [{**asdict(m), "time": local_text(m.created_at)[-5:]} for m in messages]  # HH:MM
    feedback = await request.app[BOX].ratings.of(conv)
    return render(
        request,
        "transcript.html",
        {
            "conv": conv,
            "messages": lines,
            "started": local_text(conv.created_at),
            "rating": feedback.rating,
            "transcript_request": feedback.transcript,
            "requested": local_text(feedback.transcript.requested_at)
            if feedback.transcript
            else "",
            "transcript_sent": local_text(feedback.transcript.sent_at)
            if feedback.transcript and feedback.transcript.sent_at
            else "",
        },
    )


# -- JSON API -----------------------------------------------------------------


async def me(request: web.Request) -> web.Response:
    """Return the logged-in user and their CSRF token."""
    session = current_session(request)
    user = await request.app[BOX].accounts.get_user(session.user.id)
    assert user is not None
    return reply(console.Me(account.user_out(user), session.csrf_token, utc_offset_minutes()))


async def set_presence(request: web.Request) -> web.Response:
    """Set the agent's presence: online, away or offline."""
    session = current_session(request)
    data = await read_body(request, console.PresenceChange)
    status = await request.app[BOX].accounts.set_status(session.user.id, data.status.value)
    return reply({"status": status})


async def list_conversations(request: web.Request) -> web.Response:
    """List the agent's own, the waiting, or closed conversations."""
    session = current_session(request)
    chats = request.app[BOX].chats
    query = read_query(request, console.ConversationsQuery)
    scope = query.scope
    if scope == "mine":
        rows = await chats.list_active(session.user.id)
    elif scope == "waiting":
        groups = (await staff(request, session)).queues
        rows = await chats.list_waiting(None if groups is None else set(groups))
        places = request.app[BOX].dispatcher.places
        data = []
        for conv in rows:
            place = places.get(conv.id)
            data.append(console_conversation_out(conv, place.position if place else None))
        return reply(console.Conversations(data))
    elif scope == "live":
        if not _sees_all(session):
            raise web.HTTPForbidden(reason="supervisors only")
        rows = await chats.list_live()
    else:  # closed
        stamp = wire_ms(query.before) if isinstance(query.before, str) else None
        rows = await chats.list_closed(
            before=stamp, agent_id=None if _sees_all(session) else session.user.id
        )
    return reply(console.Conversations([console_conversation_out(c) for c in rows]))


async def get_conversation(request: web.Request) -> web.Response:
    """Return one conversation the user may see."""
    conv = await visible(request, current_session(request))
    return reply(chat.OneConsoleConversation(console_conversation_out(conv)))


async def list_messages(request: web.Request) -> web.Response:
    """Return a conversation's messages after a sequence number."""
    session = current_session(request)
    conv = await visible(request, session)
    messages = await request.app[BOX].chats.history(
        conv.id, await staff(request, session), after_seq(request)
    )
    return reply(chat.Messages([message_out(m) for m in messages]))


async def post_message(request: web.Request) -> web.Response:
    """Send an agent's message to a conversation assigned to them."""
    session = current_session(request)
    conv = await visible(request, session)
    data = await read_body(request, chat.NewMessage)
    message, repeat = await request.app[BOX].chats.post(
        conv.id, await staff(request, session), client_msg_id=data.client_msg_id, body=data.body
    )
    return reply(chat.OneMessage(message_out(message)), 200 if repeat else 201)


async def accept(request: web.Request) -> web.Response:
    """Take a waiting conversation."""
    session = current_session(request)
    conv = await request.app[BOX].dispatcher.accept(
        request.match_info["conv_id"], session.user.id, overseer=_sees_all(session)
    )
    return reply(chat.OneConsoleConversation(console_conversation_out(conv)))


async def close(request: web.Request) -> web.Response:
    """Close a conversation the user handles (or oversees)."""
    session = current_session(request)
    conv = await visible(request, session)
    closed = await request.app[BOX].chats.close(conv.id, await staff(request, session))
    return reply(chat.OneConsoleConversation(console_conversation_out(closed)))


_READ = (401,)  # a console read: the session cookie
_CHANGE = (401, 403)  # a console change: the session cookie and the CSRF header

CONTRACT = Contract(
    [
        Operation("GET", "/console", console_page, "The live console", "pages", media="text/html"),
        Operation(
            "GET",
            "/console/history",
            history_page,
            "Closed conversations",
            "pages",
            media="text/html",
            query=console.HistoryQuery,
        ),
        Operation(
            "GET",
            "/console/history/{conv_id}",
            transcript_page,
            "A transcript",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            "/api/console/me",
            me,
            "The logged-in user and their CSRF token",
            "console",
            console.Me,
            errors=_READ,
        ),
        Operation(
            "POST",
            "/api/console/presence",
            set_presence,
            "Set presence",
            "console",
            console.PresenceChange,
            body=console.PresenceChange,
            errors=(*_CHANGE, 413, 422),
        ),
        Operation(
            "GET",
            "/api/console/conversations",
            list_conversations,
            "List own, waiting, live or closed conversations",
            "console",
            console.Conversations,
            query=console.ConversationsQuery,
            errors=(400, 401, 403, 422),
            description="403: scope=live for an agent. 400: before is not an ISO 8601 time.",
        ),
        Operation(
            "GET",
            "/api/console/conversations/{conv_id}",
            get_conversation,
            "One conversation the user may see",
            "console",
            chat.OneConsoleConversation,
            errors=(401, 404),
        ),
        Operation(
            "GET",
            "/api/console/conversations/{conv_id}/messages",
            list_messages,
            "Every message after a sequence number, staff-only ones included",
            "console",
            chat.Messages,
            query=chat.MessagesQuery,
            errors=(401, 404, 422),
        ),
        Operation(
            "POST",
            "/api/console/conversations/{conv_id}/messages",
            post_message,
            "Send a message as the assigned agent or an invited colleague",
            "console",
            chat.OneMessage,
            status=201,
            body=chat.NewMessage,
            also={200: chat.OneMessage},
            errors=(*_CHANGE, 404, 409, 413, 422),
            description="201: stored; 200: client_msg_id seen before, the original. "
            "413 message_too_large: body over 4096 bytes.",
        ),
        Operation(
            "POST",
            "/api/console/conversations/{conv_id}/accept",
            accept,
            "Take a waiting conversation or a pending transfer",
            "console",
            chat.OneConsoleConversation,
            errors=(*_CHANGE, 404, 409),
            description="409 codes: not_waiting, limit_reached, out_of_scope (it waits "
            "for a group the user is not in).",
        ),
        Operation(
            "POST",
            "/api/console/conversations/{conv_id}/close",
            close,
            "Close a conversation",
            "console",
            chat.OneConsoleConversation,
            errors=(*_CHANGE, 404),
        ),
        Operation(
            "GET",
            "/api/console/ws",
            agent_ws,
            "Console WebSocket (docs/api.md)",
            "console",
            status=101,
            errors=(401, 403),
            description="WebSocket (docs/api.md)",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the console routes."""
    CONTRACT.install(app)
