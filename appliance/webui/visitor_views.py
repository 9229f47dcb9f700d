"""The visitor surface: widget script, identity, conversations, messages."""

from __future__ import annotations

import msgspec
from aiohttp import web

from appliance.core.actors import Visitor
from appliance.core.brand import Look
from appliance.core.conversation import Conversation
from appliance.core.customers import split_contact
from appliance.core.validate import INT_MAX
from appliance.core.workitems import validate as validate_work_item
from appliance.webui.assets import Asset, widget_script
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.i18n import Catalog
from appliance.webui.inputs import query_int
from appliance.webui.keys import BOX, WIDGET
from appliance.webui.wire import chat, team, visitor
from appliance.webui.wire.brand import widget_look
from appliance.webui.wire.chat import conversation_out, message_out
from appliance.webui.ws import visitor_ws

_WIDGET_CACHE = "public, max-age=300"  # s: an upgrade reaches visitors within minutes


def visitor_id(request: web.Request) -> str:
    """Return the visitor proven by the bearer token, or raise 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    found = request.app[BOX].visitors.verify(token.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise web.HTTPUnauthorized(reason="a valid visitor token is required")
    return found


def client_address(request: web.Request) -> str:
    """The visitor's address: through the relay, the one its PROXY header gave."""
    return request.remote or ""


def visitor_actor(request: web.Request) -> Visitor:
    """Return the visitor proven by the bearer token, with their address; or raise 401."""
    return Visitor(visitor_id(request), client_address(request))


def _conversation(conv: Conversation, status: int = 200) -> web.Response:
    return reply(chat.OneConversation(conversation_out(conv)), status)


def load_widget(catalog: Catalog) -> Asset:
    """Join the widget script from its parts once; keep it with its gzip form and ETags."""
    return Asset.of(widget_script(catalog), "text/javascript; charset=utf-8")


async def widget_js(request: web.Request) -> web.Response:
    """Serve the widget script; revalidated by ETag so upgrades reach visitors soon."""
    return request.config_dict[WIDGET].respond(request, _WIDGET_CACHE)


async def create_session(request: web.Request) -> web.Response:
    """Keep a valid visitor token, or issue a new anonymous identity."""
    box = request.app[BOX]
    held = await read_body(request, visitor.SessionRequest)
    # The company's look and the reply-time hint ride on this call, which every page
    # view makes anyway: no request (and no preflight) of their own.
    current = box.brand.current()
    look = widget_look(current) if current != Look() else None  # null: the defaults
    within = await box.reply_time.seconds()
    if held.token:
        known = box.visitors.verify(held.token)
        if known is not None:
            return reply(visitor.VisitorIdentity(known, held.token, look, within))
    box.limits.session(client_address(request))
    new_id, new_token = await box.visitors.issue()
    return reply(visitor.VisitorIdentity(new_id, new_token, look, within), 201)


async def open_conversation(request: web.Request) -> web.Response:
    """Start a conversation, or return the visitor's open one."""
    box = request.app[BOX]
    vid = visitor_id(request)
    data = await read_body(request, visitor.NewConversation)
    existing = await box.chats.list_open_for_visitor(vid)
    if existing is not None:
        return _conversation(existing)
    split_contact(data.contact)  # a typo is a 422 before the allowance is spent
    box.load.admit_conversation()  # too busy: 503 busy with a retry, nothing spent
    box.limits.conversation(vid, client_address(request))
    if data.contact:
        await box.customers.from_prechat(vid, data.name, data.contact)
    live = box.insight.live.get(vid)
    conv, created = await box.chats.open(
        vid,
        name=data.name,
        page_url=data.page_url,
        lang=data.lang,
        ip=client_address(request),
        topic=data.topic,
        # Where the visitor is, from their address; a pre-chat choice when it is unknown.
        region=(live and live.region.get("label")) or data.region,
    )
    return _conversation(conv, 201 if created else 200)


async def get_conversation(request: web.Request) -> web.Response:
    """Return one of the visitor's conversations."""
    conv = await request.app[BOX].chats.get_for(
        request.match_info["conv_id"], visitor_actor(request)
    )
    return _conversation(conv)


def after_seq(request: web.Request) -> int:
    """Parse the after_seq query parameter (`chat.MessagesQuery`).

    Digits only: msgspec would read "1e3" or "1.0" as a whole number too.
    """
    return query_int(request, "after_seq", 0, INT_MAX)


async def list_messages(request: web.Request) -> web.Response:
    """Return the visitor's messages after a sequence number."""
    messages = await request.app[BOX].chats.history(
        request.match_info["conv_id"], visitor_actor(request), after_seq(request)
    )
    return reply(chat.Messages([message_out(m) for m in messages]))


async def post_message(request: web.Request) -> web.Response:
    """Store a visitor's message (idempotent by client_msg_id)."""
    box = request.app[BOX]
    actor = visitor_actor(request)
    conv = await box.chats.get_for(request.match_info["conv_id"], actor)
    data = await read_body(request, chat.NewMessage)
    message, repeat = await box.visitor_message(
        conv.id, actor, client_msg_id=data.client_msg_id, body=data.body
    )
    return reply(chat.OneMessage(message_out(message)), 200 if repeat else 201)


async def close_conversation(request: web.Request) -> web.Response:
    """Let the visitor end their conversation."""
    closed = await request.app[BOX].chats.close(
        request.match_info["conv_id"], visitor_actor(request)
    )
    return _conversation(closed)


async def list_topics(request: web.Request) -> web.Response:
    """Return the pre-chat topics a visitor may choose from."""
    topics = await request.app[BOX].routing.get_topics()
    offered = [visitor.PrechatTopic(t.key, t.label) for t in topics]
    return reply(visitor.PrechatTopics(offered))


async def leave_work_item(request: web.Request) -> web.Response:
    """Leave a message or ask for a call back when nobody can take the chat now: it
    becomes a ticket (channel message or callback) the visitor can follow."""
    box = request.app[BOX]
    vid = visitor_id(request)
    left = await read_body(request, team.NewWorkItem)
    data = msgspec.to_builtins(left)
    # Checked before the allowance is counted: a typo must not use it up.
    fields = validate_work_item(data)
    box.limits.conversation(vid, client_address(request))
    ticket = await box.tickets.leave(
        Visitor(vid, client_address(request)),
        fields,
        left.conversation_id or None,
        lang=box.settings.lang,
    )
    ref = visitor.WorkItemRef(str(ticket.id), left.kind, ticket.fields["number"])
    return reply(visitor.LeftWorkItem(ref), 201)


_WS = "WebSocket; the first frame carries the visitor's token (docs/api.md)"

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/widget.js",
            widget_js,
            "The visitor widget script",
            "visitor",
            media="text/javascript",
            token=False,
        ),
        Operation(
            "POST",
            "/api/visitor/session",
            create_session,
            "Keep a visitor token or issue a new anonymous identity",
            "visitor",
            visitor.VisitorIdentity,
            body=visitor.SessionRequest,
            upload=("application/json", "text/plain"),
            also={201: visitor.VisitorIdentity},
            errors=(413, 422, 429),
            description="200: the token is kept; 201: a new visitor. The widget sends the "
            "JSON as text/plain: a simple request, no CORS preflight on a page view.",
            token=False,
        ),
        Operation(
            "GET",
            "/api/visitor/topics",
            list_topics,
            "The pre-chat topics to offer (no token needed; may be empty)",
            "visitor",
            visitor.PrechatTopics,
            token=False,
        ),
        Operation(
            "POST",
            "/api/visitor/conversations",
            open_conversation,
            "Start a conversation, or return the visitor's open one",
            "visitor",
            chat.OneConversation,
            body=visitor.NewConversation,
            also={201: chat.OneConversation},
            errors=(401, 413, 422, 429, 503),
            description="200: the visitor's open conversation; 201: started. 422 "
            "contact_invalid: contact is neither a phone number nor an e-mail address. "
            "503 busy (with Retry-After): the box is overloaded and takes no new "
            "conversation now; a visitor's open one is still returned.",
        ),
        Operation(
            "GET",
            "/api/visitor/conversations/{conv_id}",
            get_conversation,
            "One of the visitor's conversations",
            "visitor",
            chat.OneConversation,
            errors=(401, 404),
        ),
        Operation(
            "GET",
            "/api/visitor/conversations/{conv_id}/messages",
            list_messages,
            "Public messages after a sequence number (seqs may have gaps)",
            "visitor",
            chat.Messages,
            query=chat.MessagesQuery,
            errors=(401, 404, 422),
            description="Staff-only messages (notes, whispers, staff events) are never "
            "returned: their seqs are missing from the visitor's sequence.",
        ),
        Operation(
            "POST",
            "/api/visitor/conversations/{conv_id}/messages",
            post_message,
            "Send a message (idempotent by client_msg_id)",
            "visitor",
            chat.OneMessage,
            status=201,
            body=chat.NewMessage,
            also={200: chat.OneMessage},
            errors=(401, 404, 409, 413, 422, 429),
            description="201: stored; 200: client_msg_id seen before, the original. "
            "413 message_too_large: body over 4096 bytes.",
        ),
        Operation(
            "POST",
            "/api/visitor/conversations/{conv_id}/close",
            close_conversation,
            "End the conversation",
            "visitor",
            chat.OneConversation,
            errors=(401, 404),
        ),
        Operation(
            "POST",
            "/api/visitor/work-items",
            leave_work_item,
            "Leave a message or ask for a call back (overflow)",
            "visitor",
            visitor.LeftWorkItem,
            status=201,
            body=team.NewWorkItem,
            errors=(401, 404, 413, 422, 429),
            description="When conversation_id names the visitor's waiting conversation, "
            "that conversation is closed (closed_by overflow). 404: conversation_id is "
            "not the visitor's. Counts against the new-conversation rate limit. 422 "
            "phone_required, contact_invalid, message_empty: what the kind needs is missing.",
        ),
        Operation(
            "GET",
            "/api/visitor/ws",
            visitor_ws,
            "Visitor WebSocket (docs/api.md)",
            "visitor",
            status=101,
            description=_WS,
            token=False,
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the visitor routes."""
    CONTRACT.install(app)
