"""The agent console: its page, its history pages and its JSON API."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from appliance.core.accounts import OVERSEERS, Session
from appliance.core.chats import Conversation
from appliance.core.clock import local_text, utc_offset_minutes
from appliance.core.errors import NotFound
from appliance.core.validate import INT_MAX
from appliance.webui.contract import Contract, Operation, read_body, read_query, reply
from appliance.webui.inputs import whole_text
from appliance.webui.keys import BOX
from appliance.webui.pages import render
from appliance.webui.security import current_session
from appliance.webui.visitor_views import after_seq
from appliance.webui.wire import account, chat, console
from appliance.webui.ws import agent_ws

_HISTORY_PAGE = 50


def _sees_all(session: Session) -> bool:
    return session.user.role in OVERSEERS


async def scope_of(request: web.Request, session: Session) -> frozenset[int] | None:
    """Return the groups whose queues the user sees; None for overseers (all)."""
    if _sees_all(session):
        return None
    return await request.app[BOX].routing.groups_of(session.user.id)


async def visible(request: web.Request, session: Session) -> Conversation:
    """Return the conversation in the path if this user may see it, else 404."""
    conv = await request.app[BOX].chats.get(request.match_info["conv_id"])
    if conv is None or not conv.visible_to(session.user.id, await scope_of(request, session)):
        raise NotFound("no such conversation")
    return conv


# -- pages --------------------------------------------------------------------


async def console_page(request: web.Request) -> web.Response:
    """Show the live console."""
    return render(request, "console.html")


def _before(request: web.Request) -> int | None:
    raw = request.query.get("before")
    if raw is None:
        return None
    return whole_text(raw, "before", INT_MAX)


async def history_page(request: web.Request) -> web.Response:
    """List closed conversations: an agent's own, or everyone's for supervisors."""
    session = current_session(request)
    chats = request.app[BOX].chats
    rows = await chats.list_closed(
        before=_before(request),
        agent_id=None if _sees_all(session) else session.user.id,
        limit=_HISTORY_PAGE,
    )
    items = [
        {
            "conv": conv,
            "started": local_text(conv.created_at),
            "ended": local_text(conv.closed_at),
        }
        for conv in rows
    ]
    older = rows[-1].closed_at if len(rows) == _HISTORY_PAGE else None
    return render(request, "history.html", {"items": items, "older": older})


async def transcript_page(request: web.Request) -> web.Response:
    """Show one conversation's whole transcript."""
    session = current_session(request)
    conv = await visible(request, session)
    chats = request.app[BOX].chats
    messages = []
    cursor = 0
    while True:
        page = await chats.messages_after(conv.id, cursor, 1000, staff=True)
        messages.extend(page)
        if len(page) < 1000:
            break
        cursor = page[-1]["seq"]
    for message in messages:
        message["time"] = datetime.fromisoformat(message["created_at"]).strftime("%H:%M")
    return render(
        request,
        "transcript.html",
        {"conv": conv, "messages": messages, "started": local_text(conv.created_at)},
    )


# -- JSON API -----------------------------------------------------------------


async def me(request: web.Request) -> web.Response:
    """Return the logged-in user and their CSRF token."""
    session = current_session(request)
    user = await request.app[BOX].accounts.get_user(session.user.id)
    assert user is not None
    return reply(
        {
            "user": account.user_out(user),
            "csrf_token": session.csrf_token,
            # Insight times are UTC ms; the console shows them in the box's time.
            "utc_offset": utc_offset_minutes(),
        }
    )


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
        groups = await scope_of(request, session)
        rows = await chats.list_waiting(None if groups is None else set(groups))
        places = request.app[BOX].dispatcher.places
        data = []
        for conv in rows:
            item = conv.public(console=True)
            place = places.get(conv.id)
            item["position"] = place.position if place else None
            data.append(item)
        return reply({"conversations": data})
    elif scope == "live":
        if not _sees_all(session):
            raise web.HTTPForbidden(reason="supervisors only")
        rows = await chats.list_live()
    else:  # closed
        before = query.before if isinstance(query.before, str) else ""
        stamp = None
        if before:
            try:
                stamp = int(datetime.fromisoformat(before).timestamp() * 1000)
            except (ValueError, OverflowError, OSError) as err:
                raise web.HTTPBadRequest(reason="before must be an ISO 8601 time") from err
        rows = await chats.list_closed(
            before=stamp, agent_id=None if _sees_all(session) else session.user.id
        )
    return reply({"conversations": [c.public(console=True) for c in rows]})


async def get_conversation(request: web.Request) -> web.Response:
    """Return one conversation the user may see."""
    conv = await visible(request, current_session(request))
    return reply({"conversation": conv.public(console=True)})


async def list_messages(request: web.Request) -> web.Response:
    """Return a conversation's messages after a sequence number."""
    conv = await visible(request, current_session(request))
    messages = await request.app[BOX].chats.messages_after(conv.id, after_seq(request), staff=True)
    return reply({"messages": messages})


async def post_message(request: web.Request) -> web.Response:
    """Send an agent's message to a conversation assigned to them."""
    session = current_session(request)
    conv = await visible(request, session)
    data = await read_body(request, chat.NewMessage)
    message, repeat = await request.app[BOX].chats.post(
        conv.id,
        sender_type="agent",
        sender_id=str(session.user.id),
        sender_name=session.user.display_name,
        client_msg_id=data.client_msg_id,
        body=data.body,
    )
    return reply({"message": message}, 200 if repeat else 201)


async def accept(request: web.Request) -> web.Response:
    """Take a waiting conversation."""
    session = current_session(request)
    conv = await request.app[BOX].dispatcher.accept(
        request.match_info["conv_id"], session.user.id, overseer=_sees_all(session)
    )
    return reply({"conversation": conv.public(console=True)})


async def close(request: web.Request) -> web.Response:
    """Close a conversation the user handles (or oversees)."""
    session = current_session(request)
    conv = await visible(request, session)
    if conv.status == "waiting" and not _sees_all(session):
        raise NotFound("no such conversation")
    closed = await request.app[BOX].chats.close(conv.id, by=f"agent:{session.user.id}")
    return reply({"conversation": closed.public(console=True)})


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
