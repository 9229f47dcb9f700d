"""The visitor surface: widget script, identity, conversations, messages."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance.core.customers import split_contact
from appliance.core.errors import InvalidInput
from appliance.core.validate import INT_MAX
from appliance.core.workitems import validate as validate_work_item
from appliance.webui.assets import Asset, widget_script
from appliance.webui.inputs import decode_json, query_int
from appliance.webui.keys import BOX, WIDGET
from appliance.webui.ws import visitor_ws

_MAX_JSON = 16 * 1024  # bytes of a visitor request body
_WIDGET_CACHE = "public, max-age=300"  # s: an upgrade reaches visitors within minutes


async def read_json(request: web.Request) -> dict[str, Any]:
    """Read a bounded JSON object body; raise a clear 4xx otherwise."""
    if request.content_length is not None and request.content_length > _MAX_JSON:
        raise web.HTTPRequestEntityTooLarge(max_size=_MAX_JSON, actual_size=request.content_length)
    raw = await request.content.read(_MAX_JSON + 1)
    if len(raw) > _MAX_JSON:
        raise web.HTTPRequestEntityTooLarge(max_size=_MAX_JSON, actual_size=len(raw))
    if not raw.strip():
        return {}
    data = decode_json(raw)
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object")
    return data


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


def load_widget() -> Asset:
    """Join the widget script from its parts once; keep it with its gzip form and ETags."""
    return Asset.of(widget_script(), "text/javascript; charset=utf-8")


async def widget_js(request: web.Request) -> web.Response:
    """Serve the widget script; revalidated by ETag so upgrades reach visitors soon."""
    return request.config_dict[WIDGET].respond(request, _WIDGET_CACHE)


async def create_session(request: web.Request) -> web.Response:
    """Keep a valid visitor token, or issue a new anonymous identity."""
    box = request.app[BOX]
    data = await read_json(request)
    token = data.get("token")
    if isinstance(token, str):
        known = box.visitors.verify(token)
        if known is not None:
            return web.json_response({"visitor_id": known, "token": token})
    box.limits.session(client_address(request))
    new_id, new_token = await box.visitors.issue()
    return web.json_response({"visitor_id": new_id, "token": new_token}, status=201)


async def open_conversation(request: web.Request) -> web.Response:
    """Start a conversation, or return the visitor's open one."""
    box = request.app[BOX]
    vid = visitor_id(request)
    data = await read_json(request)
    existing = await box.chats.list_open_for_visitor(vid)
    if existing is not None:
        return web.json_response({"conversation": existing.public()})
    split_contact(data.get("contact"))  # a typo is a 422 before the allowance is spent
    box.limits.conversation(vid, client_address(request))
    name = data.get("name")
    if data.get("contact"):
        await box.customers.from_prechat(
            vid, name if isinstance(name, str) else "", data["contact"]
        )
    live = box.insight.live.get(vid)
    conv, created = await box.chats.open(
        vid,
        name=name,
        page_url=data.get("page_url"),
        lang=data.get("lang"),
        ip=client_address(request),
        topic=data.get("topic"),
        # Where the visitor is, from their address; a pre-chat choice when it is unknown.
        region=(live and live.region.get("label")) or data.get("region"),
    )
    return web.json_response({"conversation": conv.public()}, status=201 if created else 200)


async def get_conversation(request: web.Request) -> web.Response:
    """Return one of the visitor's conversations."""
    conv = await request.app[BOX].chats.get_for_visitor(
        request.match_info["conv_id"], visitor_id(request)
    )
    return web.json_response({"conversation": conv.public()})


def after_seq(request: web.Request) -> int:
    """Parse the after_seq query parameter."""
    return query_int(request, "after_seq", 0, INT_MAX)


async def list_messages(request: web.Request) -> web.Response:
    """Return the visitor's messages after a sequence number."""
    box = request.app[BOX]
    conv = await box.chats.get_for_visitor(request.match_info["conv_id"], visitor_id(request))
    messages = await box.chats.messages_after(conv.id, after_seq(request))
    return web.json_response({"messages": messages})


async def post_message(request: web.Request) -> web.Response:
    """Store a visitor's message (idempotent by client_msg_id)."""
    box = request.app[BOX]
    vid = visitor_id(request)
    conv = await box.chats.get_for_visitor(request.match_info["conv_id"], vid)
    data = await read_json(request)
    message, repeat = await box.visitor_message(
        conv.id,
        vid,
        client_address(request),
        name=conv.visitor_name,
        client_msg_id=data.get("client_msg_id"),
        body=data.get("body"),
    )
    return web.json_response({"message": message}, status=200 if repeat else 201)


async def close_conversation(request: web.Request) -> web.Response:
    """Let the visitor end their conversation."""
    box = request.app[BOX]
    conv = await box.chats.get_for_visitor(request.match_info["conv_id"], visitor_id(request))
    closed = await box.chats.close(conv.id, by="visitor")
    return web.json_response({"conversation": closed.public()})


async def list_topics(request: web.Request) -> web.Response:
    """Return the pre-chat topics a visitor may choose from."""
    topics = await request.app[BOX].routing.get_topics()
    return web.json_response({"topics": [{"key": t["key"], "label": t["label"]} for t in topics]})


async def leave_work_item(request: web.Request) -> web.Response:
    """Leave a message or ask for a call back when nobody can take the chat now."""
    box = request.app[BOX]
    vid = visitor_id(request)
    data = await read_json(request)
    validate_work_item(data)  # a typo must not use up the visitor's allowance
    box.limits.conversation(vid, client_address(request))
    item = await box.work_items.create(vid, data, data.get("conversation_id"))
    return web.json_response({"item": {"id": item["id"], "kind": item["kind"]}}, status=201)


def add_routes(app: web.Application) -> None:
    """Register the visitor routes."""
    app.router.add_get("/widget.js", widget_js)
    app.router.add_post("/api/visitor/session", create_session)
    app.router.add_post("/api/visitor/conversations", open_conversation)
    app.router.add_get("/api/visitor/conversations/{conv_id}", get_conversation)
    app.router.add_get("/api/visitor/conversations/{conv_id}/messages", list_messages)
    app.router.add_post("/api/visitor/conversations/{conv_id}/messages", post_message)
    app.router.add_post("/api/visitor/conversations/{conv_id}/close", close_conversation)
    app.router.add_get("/api/visitor/ws", visitor_ws)
    app.router.add_get("/api/visitor/topics", list_topics)
    app.router.add_post("/api/visitor/work-items", leave_work_item)
