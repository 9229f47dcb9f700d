"""The OpenAPI paths and schemas of visitor insight and proactive chat: tracking and
invitations for the widget; live visitors, customers and invitation rules for the
console. The rules behind them are in docs/api.md ("Visitor insight")."""

from __future__ import annotations

from typing import Any

from appliance.core.invitations import AUDIENCES, MESSAGE_MAX, RULES_MAX
from appliance.core.live import SOURCE_KINDS, STATUSES
from appliance.core.routing import TIERS
from appliance.webui.openapi import (
    _BOOL,
    _CONV,
    _ID,
    _INT,
    _STR,
    _change,
    _console,
    _json,
    _list,
    _nullable,
    _obj,
    _op,
    _path,
    _ref,
    _text,
)

_MS = {"type": "integer", "description": "UTC milliseconds since the epoch"}
_VISITOR_ID = _path("visitor_id", _STR)
_INVITATION_ID = _path("invitation_id", _ID)
_CUSTOMER_ID = _path("customer_id", _ID)
_OVERSEERS = "Supervisors and admins only (else 403)."


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _visitor(summary: str, ok: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return _op(summary, "insight", ok, security="visitor", **kwargs)


def paths() -> dict[str, Any]:
    """Return the insight paths."""
    invitation_brief = _obj(["id", "status"], id=_INT, status=_STR)
    return {
        "/api/visitor/pageviews": {
            "post": _visitor(
                "Record a page view (a visit starts after 30 quiet minutes)",
                _json(
                    _obj(["tracked"], tracked={"const": False}),
                    "Not tracked: Do-Not-Track / GPC honoured",
                ),
                status="200",
                also={
                    "201": _json(
                        _obj(
                            ["tracked", "page_view"],
                            tracked={"const": True},
                            page_view=_ref("PageViewRef"),
                        ),
                        "Recorded",
                    )
                },
                body=_obj(
                    ["url"],
                    url=_text(2048, 1, description="http(s) page address"),
                    title=_text(10_000, description="cut to 256 characters"),
                    referrer=_text(10_000, description="document.referrer"),
                    site={**_text(32), "default": "default"},
                ),
                errors=(401, 413, 422, 429),
            )
        },
        "/api/visitor/pageviews/{view_id}/dwell": {
            "post": {
                "summary": "Report a page's visible time (navigator.sendBeacon, text/plain)",
                "tags": ["insight"],
                "description": "The body carries the visitor token, so no Authorization "
                "header (and no CORS preflight) is needed. The largest report wins, "
                "bounded by the time since the page view.",
                "parameters": [_path("view_id", _ID)],
                "requestBody": {
                    "required": True,
                    "content": {
                        "text/plain": {
                            "schema": _obj(
                                ["token", "dwell_ms"],
                                token=_STR,
                                dwell_ms={"type": "integer", "minimum": 0},
                            )
                        }
                    },
                },
                "responses": {
                    "204": {"description": "Recorded"},
                    **{
                        str(c): {"$ref": "#/components/responses/Error"}
                        for c in (401, 404, 413, 422, 429)
                    },
                },
            }
        },
        "/api/visitor/identify": {
            "post": _visitor(
                "Identify the visitor as the customer the host site signed for",
                _json(_obj(["customer"], customer=_obj(["id", "name"], id=_INT, name=_STR))),
                body=_obj(
                    ["customer_id", "ts", "sig"],
                    site=_text(32),
                    customer_id=_text(128, 1),
                    ts={"type": "integer", "description": "unix seconds of signing"},
                    sig={
                        "type": "string",
                        "pattern": "^[0-9a-fA-F]{64}$",
                        "description": "hex HMAC-SHA256(site secret, id:ts)",
                    },
                    name=_text(64),
                    email=_text(254),
                    phone=_text(32),
                ),
                errors=(401, 403, 409, 413, 422, 429),
                description="403 bad_signature or expired (older than 10 minutes); "
                "409 replayed (the signature was already used by another visitor).",
            )
        },
        "/api/visitor/invitations/{invitation_id}/accept": {
            "post": _visitor(
                "Accept an invitation: the chat opens, with the inviting agent if they can",
                _json(_CONV),
                status="201",
                params=[_INVITATION_ID],
                body=_obj(lang=_text(16)),
                errors=(401, 404, 409, 413, 422),
            )
        },
        "/api/visitor/invitations/{invitation_id}/decline": {
            "post": _visitor(
                "Decline an invitation (recorded)",
                _json(_obj(["invitation"], invitation=invitation_brief)),
                params=[_INVITATION_ID],
                errors=(401, 404, 409),
            )
        },
        "/api/console/visitors": {
            "get": _console(
                "One page of the live visitors in the user's scope, filtered",
                "insight",
                _json(
                    _obj(
                        ["total", "offset", "limit", "visitors"],
                        total=_INT,
                        offset=_INT,
                        limit=_INT,
                        visitors=_list(_ref("LiveVisitor"), 200),
                    )
                ),
                params=[
                    _query("q", _text(100), "page, title, keyword, customer, region, site"),
                    _query("region", _text(100)),
                    _query("source", {"type": "string", "enum": list(SOURCE_KINDS)}),
                    _query("status", {"type": "string", "enum": list(STATUSES)}),
                    _query("offset", {"type": "integer", "minimum": 0}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
                ],
                errors=(401, 422),
            )
        },
        "/api/console/visitors/{visitor_id}": {
            "get": _console(
                "A visitor: live row, trail with dwell times, visits, conversations, customer",
                "insight",
                _json(_obj(["visitor"], visitor=_ref("VisitorDetail"))),
                params=[_VISITOR_ID],
                errors=(401, 404),
            )
        },
        "/api/console/visitors/{visitor_id}/invite": {
            "post": _change(
                "Invite a visitor on the site to chat with you",
                "insight",
                _json(_obj(["invitation"], invitation=_ref("Invitation"))),
                status="201",
                params=[_VISITOR_ID],
                body=_obj(["message"], message=_text(MESSAGE_MAX, 1)),
                errors=(401, 403, 404, 409, 413, 422),
                description="404: the visitor left or is outside your scope; 409 chatting "
                "or already_invited.",
            )
        },
        "/api/console/customers": {
            "get": _console(
                "Find customers by name, e-mail, phone or external id",
                "insight",
                _json(_obj(["customers"], customers=_list(_ref("Customer"), 200))),
                params=[_query("q", _text(100))],
                errors=(401, 422),
            )
        },
        "/api/console/customers/{customer_id}": {
            "get": _console(
                "A customer profile with visits and conversations across devices",
                "insight",
                _json(_obj(["customer"], customer=_ref("CustomerProfile"))),
                params=[_CUSTOMER_ID],
                errors=(401, 404),
            ),
            "patch": _change(
                "Edit a customer's contact data, tier or notes",
                "insight",
                _json(_obj(["customer"], customer=_ref("CustomerProfile"))),
                params=[_CUSTOMER_ID],
                body=_obj(
                    name=_text(64),
                    email=_text(254),
                    phone=_text(32),
                    tier={"type": "string", "enum": list(TIERS)},
                    notes=_text(4000),
                ),
                errors=(401, 403, 404, 413, 422),
            ),
        },
        "/api/console/invite-rules": {
            "get": _console(
                "The automatic invitation rules, in the order they are tried",
                "insight",
                _json(_obj(["rules"], rules=_list(_ref("InviteRule"), RULES_MAX))),
            ),
            "put": _change(
                "Replace the automatic invitation rules",
                "insight",
                _json(_obj(["rules"], rules=_list(_ref("InviteRule"), RULES_MAX))),
                body=_obj(["rules"], rules=_list(_ref("InviteRule"), RULES_MAX)),
                errors=(401, 403, 413, 422),
                description=_OVERSEERS,
            ),
        },
        "/api/console/invitations": {
            "get": _console(
                "The latest invitations and how they ended",
                "insight",
                _json(_obj(["invitations"], invitations=_list(_ref("Invitation"), 500))),
                errors=(401, 403),
                description=_OVERSEERS,
            )
        },
    }


def schemas() -> dict[str, Any]:
    """Return the insight schemas."""
    region = _obj(
        ["label", "status"],
        label=_STR,
        country=_STR,
        province=_STR,
        city=_STR,
        status={"type": "string", "enum": ["found", "private", "unknown", "invalid"]},
    )
    source = _obj(
        ["kind"],
        kind={"type": "string", "enum": list(SOURCE_KINDS)},
        engine=_STR,
        keyword=_STR,
        site=_STR,
        campaign=_STR,
    )
    step = _obj(
        ["url", "title", "started_at", "dwell_ms"],
        id=_INT,
        url=_STR,
        title=_STR,
        started_at=_MS,
        dwell_ms=_INT,
    )
    brief = _obj(["id", "name", "tier", "verified"], id=_INT, name=_STR, tier=_STR, verified=_BOOL)
    live = _obj(
        ["id", "online", "region", "source", "visits", "pages", "status"],
        id=_STR,
        online=_BOOL,
        site=_STR,
        region=region,
        source=source,
        visits=_INT,
        returning=_BOOL,
        pages=_INT,
        current=_nullable(_obj(url=_STR, title=_STR, since=_MS)),
        customer=_nullable(brief),
        tier=_STR,
        device=_obj(browser=_STR, os=_STR, kind=_STR),
        first_seen_at=_MS,
        last_seen_at=_MS,
        status={"type": "string", "enum": list(STATUSES)},
        conversation_id=_nullable(_STR),
        invitation=_nullable(_obj(id=_INT, status=_STR)),
        group_id=_nullable(_INT),
    )
    visit = _obj(
        id=_INT,
        site=_STR,
        started_at=_MS,
        last_seen_at=_MS,
        region=region,
        source=source,
        landing_url=_STR,
        device={"type": "object"},
        pages=_INT,
    )
    customer = _obj(
        ["id", "name", "tier", "verified"],
        id=_INT,
        external_id=_nullable(_STR),
        site=_STR,
        name=_STR,
        email=_STR,
        phone=_STR,
        tier={"type": "string", "enum": list(TIERS)},
        notes=_STR,
        verified=_BOOL,
        created_at=_MS,
    )
    history = _obj(
        id=_STR,
        status=_STR,
        created_at=_MS,
        closed_at=_nullable(_MS),
        agent_id=_nullable(_INT),
        agent=_nullable(_STR),
    )
    return {
        "PageViewRef": _obj(
            ["id", "visit_id", "visit_number"], id=_INT, visit_id=_INT, visit_number=_INT
        ),
        "LiveVisitor": live,
        # The live row, except that `visits` is the list of visits (not their count)
        # and `customer` the whole profile: an allOf with LiveVisitor would demand both.
        "VisitorDetail": _obj(
            live["required"],
            **{
                **live["properties"],
                "trail": _list(step, 50),
                "visits": _list(visit, 20),
                "conversations": _list(history, 20),
                "customer": _nullable(_ref("CustomerProfile")),
            },
        ),
        "Customer": customer,
        "CustomerProfile": {
            "allOf": [
                _ref("Customer"),
                _obj(
                    visitors=_list(
                        _obj(
                            id=_STR,
                            first_seen_at=_MS,
                            last_seen_at=_MS,
                            visits=_INT,
                            device={"type": "object"},
                        ),
                        1000,
                    ),
                    visits=_list(visit, 50),
                    conversations=_list(history, 50),
                ),
            ]
        },
        "Invitation": _obj(
            ["id", "visitor_id", "status", "message"],
            id=_INT,
            visitor_id=_STR,
            agent_id=_nullable(_INT),
            agent=_nullable(_obj(display_name=_STR)),
            rule_id=_nullable(_INT),
            group_id=_nullable(_INT),
            message=_STR,
            status={"type": "string", "enum": ["pending", "accepted", "declined", "expired"]},
            created_at=_MS,
            answered_at=_nullable(_MS),
            conversation_id=_nullable(_STR),
        ),
        "InviteRule": _obj(
            ["message"],
            id=_INT,
            name=_text(64),
            enabled={**_BOOL, "default": True},
            url_pattern={**_text(256), "description": "fnmatch pattern; empty: any page"},
            min_seconds={"type": "integer", "minimum": 0, "maximum": 86400},
            min_visits={"type": "integer", "minimum": 0, "maximum": 1000},
            audience={"type": "string", "enum": list(AUDIENCES)},
            source={"type": "string", "enum": ["any", *SOURCE_KINDS]},
            message=_text(MESSAGE_MAX, 1),
            group_id=_nullable(_ID),
        ),
    }
