"""The OpenAPI 3 description of every HTTP endpoint the widget and the console use.

This module holds the building blocks and the operations not yet declared on a typed
contract (the visitor API, the core console API, the login pages); the areas' contracts
(`*_views.CONTRACT`) add their paths and the schemas of their types.
"""

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


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [{"type": "null"}, schema]}


def _text(max_length: int, min_length: int = 0, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length, **extra}
    if min_length:
        schema["minLength"] = min_length
    return schema


def _list(items: dict[str, Any], max_items: int, **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, "maxItems": max_items, **extra}


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_ID = {"type": "integer", "minimum": 1}
_TIME = {"type": "string", "format": "date-time"}
_ERR = {"$ref": "#/components/responses/Error"}
_CONV_ID = _path("conv_id", _STR)
_BODY_TEXT = {
    "type": "string",
    "minLength": 1,
    "description": "at most 4096 bytes of UTF-8, not only spaces",
}
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
    description: str | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {status: ok, **(also or {})},
    }
    if description:
        op["description"] = description
    for code in errors:
        op["responses"][str(code)] = _ERR
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    if params:
        op["parameters"] = list(params)
    if security == "visitor":
        op["security"] = [{"visitorToken": []}]
    elif security == "console":
        op["security"] = [{"consoleSession": []}]
    return op


def _csrf(op: dict[str, Any]) -> dict[str, Any]:
    """Mark a console state change: it needs the session's CSRF token (else 403 csrf)."""
    op.setdefault("parameters", []).append(
        {
            "name": "X-CSRF-Token",
            "in": "header",
            "required": True,
            "description": "the session's CSRF token, from GET /api/console/me",
            "schema": _STR,
        }
    )
    return op


def _console(
    summary: str,
    tag: str,
    ok: dict[str, Any],
    *,
    errors: tuple[int, ...] = (401,),
    **kwargs: Any,
) -> dict[str, Any]:
    """A console read (session cookie)."""
    return _op(summary, tag, ok, errors=errors, security="console", **kwargs)


def _change(
    summary: str,
    tag: str,
    ok: dict[str, Any],
    *,
    errors: tuple[int, ...] = (401, 403),
    **kwargs: Any,
) -> dict[str, Any]:
    """A console state change (session cookie and CSRF header)."""
    return _csrf(_op(summary, tag, ok, errors=errors, security="console", **kwargs))


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


_CONV = _obj(["conversation"], conversation=_ref("Conversation"))
_CONV_CONSOLE = _obj(["conversation"], conversation=_ref("ConsoleConversation"))
_MESSAGE = _obj(["message"], message=_ref("Message"))
_MESSAGES = _obj(["messages"], messages={"type": "array", "items": _ref("Message")})
_SEND = _obj(
    ["client_msg_id", "body"],
    client_msg_id={"type": "string", "minLength": 1, "maxLength": 64},
    body=_BODY_TEXT,
)


def build_openapi() -> dict[str, Any]:
    """Return the OpenAPI document of the appliance's HTTP API."""
    # Imported here: that module builds on the helpers above.
    from appliance.webui import (
        admin_views,
        auth_views,
        console_views,
        insight_views,
        routing_views,
        supervisor_views,
        team_views,
        visitor_views,
    )
    from appliance.webui.contract import openapi_schemas
    from appliance.webui.wire.frames import frame_schemas

    contracts = [visitor_views.CONTRACT, console_views.CONTRACT]
    contracts += [admin_views.CONTRACT, insight_views.CONTRACT]
    contracts += [team_views.CONTRACT, routing_views.CONTRACT, supervisor_views.CONTRACT]
    contracts += [auth_views.CONTRACT]
    paths = {
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["meta"],
                "responses": {"200": _json({"type": "object"})},
            }
        },
        **{k: v for c in contracts for k, v in c.openapi_paths().items()},
    }
    # What any operation may answer, whatever it does (docs/api.md, "Conventions"):
    # 400 for input that cannot be read (a broken form, invalid text in a header),
    # and for changes 503 while the disk is full.
    for item in paths.values():
        for method, operation in item.items():
            operation["responses"].setdefault("400", _ERR)
            if method in ("post", "put", "patch", "delete"):
                operation["responses"].setdefault("503", _ERR)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Callbox appliance API",
            "version": __version__,
            "description": "HTTP API of the Callbox appliance. The WebSocket protocol "
            "and the routing rules are in docs/api.md. Times are local to the box, with "
            "their offset. Overseers are supervisors and admins.",
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
                **openapi_schemas(contracts),
                **frame_schemas(),
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    """Serve the OpenAPI document."""
    return web.json_response(build_openapi(), headers={"Access-Control-Allow-Origin": "*"})
