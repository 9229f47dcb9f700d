"""The OpenAPI 3 document of the appliance's HTTP API, assembled from the contracts.

Every operation and shape is declared once, on an area's `CONTRACT` and in `wire/`;
this module only joins them with what holds for all of them: the security schemes,
the shared error answer and the statuses any operation may give.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiohttp import web

from appliance import __version__
from appliance.webui import (
    account_views,
    admin_views,
    audit_views,
    auth_views,
    backup_views,
    brand_views,
    console_views,
    desk_editor_pages,
    desk_settings_pages,
    device_views,
    feedback_views,
    file_views,
    health_views,
    help_views,
    insight_views,
    kb_tools_views,
    knowledge_views,
    login_steps,
    mail_notice_views,
    mail_ticket_views,
    mail_views,
    notification_views,
    portal_views,
    quality_views,
    report_mail_views,
    report_views,
    routing_views,
    rule_views,
    scorecard_views,
    selfservice_views,
    setup_views,
    sla_views,
    supervisor_views,
    team_views,
    ticket_file_views,
    ticket_pages,
    ticket_views,
    user_admin_views,
    visitor_ticket_views,
    visitor_views,
    webhook_views,
)
from appliance.webui.contract import Contract, Operation, openapi_schemas
from appliance.webui.wire import ErrorBody
from appliance.webui.wire.frames import frame_schemas

_REF = "#/components/schemas/{name}"
_ERROR = {"$ref": "#/components/responses/Error"}
_CHANGES = ("post", "put", "patch", "delete")
_INFO = {
    "title": "Callbox appliance API",
    "version": __version__,
    "description": "HTTP API of the Callbox appliance. The WebSocket protocol and the "
    "routing rules are in docs/api.md. Times are local to the box, with their offset. "
    "Overseers are supervisors and admins.",
}
_SECURITY = {
    "visitorToken": {"type": "http", "scheme": "bearer"},
    "consoleSession": {"type": "apiKey", "in": "cookie", "name": "callbox_session"},
}


_DOCUMENT = web.AppKey("openapi_document", bytes)


async def openapi_json(request: web.Request) -> web.Response:
    """Serve the OpenAPI document (built once, at start)."""
    return web.Response(
        body=request.app[_DOCUMENT],
        content_type="application/json",
        headers={"Access-Control-Allow-Origin": "*"},
    )


async def _prepare(app: web.Application) -> None:
    # Building it takes ~0.2 s of Python: done once, off the event loop, so neither the
    # start nor a request stalls the chats in progress.
    app[_DOCUMENT] = await asyncio.to_thread(lambda: msgspec.json.encode(build_openapi()))


CONTRACT = Contract(
    [Operation("GET", "/api/openapi.json", openapi_json, "This document", "meta", dict[str, Any])]
)


def _contracts() -> list[Contract]:
    return [
        visitor_views.CONTRACT,
        feedback_views.CONTRACT,
        CONTRACT,
        console_views.CONTRACT,
        admin_views.CONTRACT,
        health_views.CONTRACT,
        audit_views.CONTRACT,
        backup_views.CONTRACT,
        mail_views.CONTRACT,
        mail_ticket_views.CONTRACT,
        mail_notice_views.CONTRACT,
        insight_views.CONTRACT,
        team_views.CONTRACT,
        routing_views.CONTRACT,
        supervisor_views.CONTRACT,
        ticket_views.CONTRACT,
        sla_views.CONTRACT,
        visitor_ticket_views.CONTRACT,
        rule_views.CONTRACT,
        ticket_pages.CONTRACT,
        desk_editor_pages.CONTRACT,
        desk_settings_pages.CONTRACT,
        auth_views.CONTRACT,
        webhook_views.CONTRACT,
        notification_views.CONTRACT,
        device_views.CONTRACT,
        setup_views.CONTRACT,
        login_steps.CONTRACT,
        account_views.CONTRACT,
        user_admin_views.CONTRACT,
        brand_views.CONTRACT,
        file_views.CONTRACT,
        knowledge_views.CONTRACT,
        portal_views.CONTRACT,
        ticket_file_views.CONTRACT,
        selfservice_views.CONTRACT,
        help_views.CONTRACT,
        report_views.CONTRACT,
        kb_tools_views.CONTRACT,
        report_mail_views.CONTRACT,
        scorecard_views.CONTRACT,
        quality_views.CONTRACT,
    ]


def build_openapi() -> dict[str, Any]:
    """Return the OpenAPI document of the appliance's HTTP API."""
    contracts = _contracts()
    paths: dict[str, Any] = {}
    for contract in contracts:
        for path, item in contract.openapi_paths().items():
            paths.setdefault(path, {}).update(item)
    # What any operation may answer, whatever it does (docs/api.md, "Conventions"):
    # 400 for input that cannot be read (a broken form, invalid text in a header),
    # and for changes 503 while the disk is full.
    for item in paths.values():
        for method, operation in item.items():
            operation["responses"].setdefault("400", _ERROR)
            if method in _CHANGES:
                operation["responses"].setdefault("503", _ERROR)
    (error,), error_schemas = msgspec.json.schema_components([ErrorBody], ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": _INFO,
        "paths": paths,
        "components": {
            "securitySchemes": _SECURITY,
            "responses": {
                "Error": {
                    "description": "Error",
                    "content": {"application/json": {"schema": error}},
                }
            },
            "schemas": {**error_schemas, **openapi_schemas(contracts), **frame_schemas()},
        },
    }


def add_routes(app: web.Application) -> None:
    """Register this document's route, and build the document at start."""
    CONTRACT.install(app)
    app.on_startup.append(_prepare)
