"""The OpenAPI 3 description of every HTTP endpoint the widget and the console use."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance import __version__


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _obj(required: list[str] | None = None, **props: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


_STR = {"type": "string"}
_INT = {"type": "integer"}
_TIME = {"type": "string", "format": "date-time"}
_ERR = {"$ref": "#/components/responses/Error"}
_CONV_ID = {"name": "conv_id", "in": "path", "required": True, "schema": _STR}
_AFTER = {
    "name": "after_seq",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 0, "default": 0},
}


def _op(
    summary: str,
    tag: str,
    ok: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    errors: tuple[int, ...] = (),
    security: str | None = None,
    status: str = "200",
    also: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {status: ok, **(also or {})},
    }
    for code in errors:
        op["responses"][str(code)] = _ERR
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    if params:
        op["parameters"] = params
    if security == "visitor":
        op["security"] = [{"visitorToken": []}]
    elif security == "console":
        op["security"] = [{"consoleSession": []}]
    return op


def _csrf(op: dict[str, Any]) -> dict[str, Any]:
    op.setdefault("parameters", []).append(
        {"name": "X-CSRF-Token", "in": "header", "required": True, "schema": _STR}
    )
    return op


_WS = {"description": "Switching Protocols: WebSocket, see docs/api.md"}
_HTML = {"description": "HTML page", "content": {"text/html": {"schema": _STR}}}
_REDIRECT = {"description": "Redirect (See Other / Found)"}
_FORM = {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}


def _form(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["pages"],
        "requestBody": {"required": True, "content": _FORM},
        "responses": {"302": _REDIRECT, "401": _HTML, "403": _ERR, "422": _HTML, "429": _HTML},
    }


def _page(summary: str, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": ["pages"], "responses": {"200": _HTML}}
    if params:
        op["parameters"] = params
    return op


def build_openapi() -> dict[str, Any]:
    """Return the OpenAPI document of the appliance's HTTP API."""
    identity = _obj(["visitor_id", "token"], visitor_id=_STR, token=_STR)
    conv = _obj(conversation=_ref("Conversation"))
    conv_console = _obj(conversation=_ref("ConsoleConversation"))
    message = _obj(message=_ref("Message"))
    messages = _obj(messages={"type": "array", "items": _ref("Message")})
    send = _obj(
        ["client_msg_id", "body"],
        client_msg_id={"type": "string", "minLength": 1, "maxLength": 64},
        body={"type": "string", "description": "at most 4096 bytes of UTF-8"},
    )
    paths: dict[str, Any] = {
        "/widget.js": {
            "get": {
                "summary": "The visitor widget script",
                "tags": ["visitor"],
                "responses": {
                    "200": {
                        "description": "JavaScript",
                        "content": {"application/javascript": {"schema": _STR}},
                    }
                },
            }
        },
        "/api/visitor/session": {
            "post": _op(
                "Keep a visitor token or issue a new anonymous identity",
                "visitor",
                _json(identity, "token kept"),
                body=_obj(token=_STR),
                errors=(413, 422, 429),
                also={"201": _json(identity, "new visitor")},
            )
        },
        "/api/visitor/conversations": {
            "post": _op(
                "Start a conversation, or return the visitor's open one",
                "visitor",
                _json(conv, "already open"),
                body=_obj(name=_STR, page_url=_STR, lang=_STR),
                errors=(401, 413, 422, 429),
                security="visitor",
                also={"201": _json(conv, "started")},
            )
        },
        "/api/visitor/conversations/{conv_id}": {
            "get": _op(
                "One of the visitor's conversations",
                "visitor",
                _json(conv),
                params=[_CONV_ID],
                errors=(401, 404),
                security="visitor",
            )
        },
        "/api/visitor/conversations/{conv_id}/messages": {
            "get": _op(
                "Messages after a sequence number",
                "visitor",
                _json(messages),
                params=[_CONV_ID, _AFTER],
                errors=(401, 404, 422),
                security="visitor",
            ),
            "post": _op(
                "Send a message (idempotent by client_msg_id)",
                "visitor",
                _json(message, "stored"),
                body=send,
                params=[_CONV_ID],
                errors=(401, 404, 409, 413, 422, 429),
                security="visitor",
                status="201",
                also={"200": _json(message, "client_msg_id seen before: the original")},
            ),
        },
        "/api/visitor/conversations/{conv_id}/close": {
            "post": _op(
                "End the conversation",
                "visitor",
                _json(conv),
                params=[_CONV_ID],
                errors=(401, 404),
                security="visitor",
            )
        },
        "/api/visitor/ws": {
            "get": {
                "summary": "Visitor WebSocket (docs/api.md)",
                "tags": ["visitor"],
                "responses": {"101": _WS},
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["meta"],
                "responses": {"200": _json({"type": "object"})},
            }
        },
        "/api/console/me": {
            "get": _op(
                "The logged-in user and their CSRF token",
                "console",
                _json(_obj(["user", "csrf_token"], user=_ref("User"), csrf_token=_STR)),
                errors=(401,),
                security="console",
            )
        },
        "/api/console/presence": {
            "post": _csrf(
                _op(
                    "Set presence",
                    "console",
                    _json(_obj(["status"], status=_ref("Presence"))),
                    body=_obj(["status"], status=_ref("Presence")),
                    errors=(401, 403, 422),
                    security="console",
                )
            )
        },
        "/api/console/conversations": {
            "get": _op(
                "List own, waiting or closed conversations",
                "console",
                _json(_obj(conversations={"type": "array", "items": _ref("ConsoleConversation")})),
                params=[
                    {
                        "name": "scope",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["mine", "waiting", "closed"]},
                    },
                    {"name": "before", "in": "query", "required": False, "schema": _TIME},
                ],
                errors=(400, 401),
                security="console",
            )
        },
        "/api/console/conversations/{conv_id}": {
            "get": _op(
                "One conversation",
                "console",
                _json(conv_console),
                params=[_CONV_ID],
                errors=(401, 404),
                security="console",
            )
        },
        "/api/console/conversations/{conv_id}/messages": {
            "get": _op(
                "Messages after a sequence number",
                "console",
                _json(messages),
                params=[_CONV_ID, _AFTER],
                errors=(401, 404),
                security="console",
            ),
            "post": _csrf(
                _op(
                    "Send a message as the assigned agent",
                    "console",
                    _json(message, "stored"),
                    body=send,
                    params=[_CONV_ID],
                    errors=(401, 403, 404, 409, 413, 422),
                    security="console",
                    status="201",
                )
            ),
        },
        "/api/console/conversations/{conv_id}/accept": {
            "post": _csrf(
                _op(
                    "Take a waiting conversation",
                    "console",
                    _json(conv_console),
                    params=[_CONV_ID],
                    errors=(401, 403, 404, 409),
                    security="console",
                )
            )
        },
        "/api/console/conversations/{conv_id}/close": {
            "post": _csrf(
                _op(
                    "Close a conversation",
                    "console",
                    _json(conv_console),
                    params=[_CONV_ID],
                    errors=(401, 403, 404),
                    security="console",
                )
            )
        },
        "/api/console/ws": {
            "get": {
                "summary": "Console WebSocket (docs/api.md)",
                "tags": ["console"],
                "security": [{"consoleSession": []}],
                "responses": {"101": _WS},
            }
        },
        "/": {
            "get": {
                "summary": "Redirect to the console or the login",
                "tags": ["pages"],
                "responses": {"302": _REDIRECT},
            }
        },
        "/login": {"get": _page("Login form"), "post": _form("Log in")},
        "/logout": {"post": _form("Log out")},
        "/setup": {
            "get": _page(
                "First-boot form (one-time link)",
                [{"name": "token", "in": "query", "required": True, "schema": _STR}],
            ),
            "post": _form("Create the first administrator"),
        },
        "/lang": {"post": _form("Choose the page language")},
        "/console": {"get": _page("The live console")},
        "/console/history": {"get": _page("Closed conversations")},
        "/console/history/{conv_id}": {"get": _page("A transcript", [_CONV_ID])},
        "/admin": {"get": _page("Tunnel health and staff devices (LAN only, admins)")},
    }
    conversation_props = {
        "id": _STR,
        "status": {"type": "string", "enum": ["waiting", "active", "closed"]},
        "agent": {
            "oneOf": [
                {"type": "null"},
                _obj(["id", "display_name"], id=_INT, display_name=_STR),
            ]
        },
        "created_at": _TIME,
        "closed_at": {"oneOf": [{"type": "null"}, _TIME]},
        "last_seq": _INT,
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Callbox appliance API",
            "version": __version__,
            "description": "HTTP API of the Callbox appliance. The WebSocket protocol "
            "is in docs/api.md. Times are local to the box, with their offset.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "visitorToken": {"type": "http", "scheme": "bearer"},
                "consoleSession": {"type": "apiKey", "in": "cookie", "name": "callbox_session"},
            },
            "responses": {
                "Error": _json(
                    _obj(
                        ["error"],
                        error=_obj(["code", "message"], code=_STR, message=_STR, retry_after=_INT),
                    ),
                    "Error",
                )
            },
            "schemas": {
                "Presence": {"type": "string", "enum": ["online", "away", "offline"]},
                "User": _obj(
                    ["id", "username", "display_name", "role", "status", "max_chats"],
                    id=_INT,
                    username=_STR,
                    display_name=_STR,
                    role={"type": "string", "enum": ["admin", "supervisor", "agent"]},
                    status=_ref("Presence"),
                    max_chats=_INT,
                ),
                "Conversation": _obj(list(conversation_props), **conversation_props),
                "ConsoleConversation": _obj(
                    [*conversation_props, "visitor"],
                    **conversation_props,
                    visitor=_obj(["id", "name"], id=_STR, name=_STR),
                    page_url=_STR,
                    lang=_STR,
                ),
                "Message": _obj(
                    ["id", "conversation_id", "seq", "sender_type", "body", "created_at"],
                    id=_STR,
                    conversation_id=_STR,
                    seq=_INT,
                    client_msg_id={"oneOf": [{"type": "null"}, _STR]},
                    sender_type={"type": "string", "enum": ["visitor", "agent", "system"]},
                    sender_name=_STR,
                    body=_STR,
                    event={
                        "oneOf": [
                            {"type": "null"},
                            {"type": "string", "enum": ["assigned", "closed"]},
                        ]
                    },
                    created_at=_TIME,
                ),
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    """Serve the OpenAPI document."""
    return web.json_response(build_openapi(), headers={"Access-Control-Allow-Origin": "*"})
