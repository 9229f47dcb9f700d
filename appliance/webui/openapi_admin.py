"""The OpenAPI paths and schemas of the admin API: the IP table, privacy settings and
the sites' secrets. Admins only, and like /admin reachable from the LAN only."""

from __future__ import annotations

from typing import Any

from appliance.core.iptable import FORMATS
from appliance.webui.openapi import (
    _BOOL,
    _INT,
    _STR,
    _TIME,
    _change,
    _console,
    _json,
    _nullable,
    _obj,
    _path,
    _ref,
    _text,
)

_ADMINS = "Admins only (else 403), from the LAN only."
_TAG = "admin"


def paths() -> dict[str, Any]:
    """Return the admin API paths."""
    upload = _change(
        "Replace the IP table with an uploaded file",
        _TAG,
        _json(_ref("IpTable")),
        errors=(401, 403, 409, 413, 422),
        params=[
            {
                "name": "format",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": list(FORMATS), "default": "auto"},
            }
        ],
        description=f"{_ADMINS} The body is the file itself (at most 256 MiB, read as a "
        "stream): ip2region source text (start|end|country|region|province|city|isp, or "
        "the newer start|end|country|province|city|isp) or an IP2Location LITE CSV (DB1, "
        "DB3, DB5, DB9, DB11; IPv4 or IPv6 edition). 422 names the line of the first bad "
        "row (not an address, start after end, overlapping ranges, wrong field count, "
        "not UTF-8, a line over 4096 bytes); the table in use stays as it was. 409: "
        "another import is running.",
    )
    upload["requestBody"] = {
        "required": True,
        "content": {
            kind: {"schema": {"type": "string", "format": "binary"}}
            for kind in ("application/octet-stream", "text/plain", "text/csv")
        },
    }
    return {
        "/api/admin/health": {
            "get": _console(
                "Whether the box stores what it acknowledges, and whether its tunnel is up",
                _TAG,
                _json(_ref("Health")),
                errors=(401, 403),
                description=f"{_ADMINS} `storage.ok` is false while the disk is full or "
                "failing: writes are refused (503 `storage_full` with Retry-After on the "
                "API, an `error` frame with that code on sockets) and nothing acknowledged "
                "is lost. `relay` is null on a box that is not enrolled.",
            )
        },
        "/api/admin/ip-table": {
            "get": _console(
                "How many ranges the IP table holds, from which format, imported when",
                _TAG,
                _json(_ref("IpTable")),
                errors=(401, 403),
                description=_ADMINS,
            ),
            "post": upload,
        },
        "/api/admin/privacy": {
            "get": _console(
                "Privacy and retention settings",
                _TAG,
                _json(_ref("Privacy")),
                errors=(401, 403),
                description=_ADMINS,
            ),
            "put": _change(
                "Change privacy and retention settings",
                _TAG,
                _json(_ref("Privacy")),
                body=_privacy(required=False),
                errors=(401, 403, 413, 422),
                description=f"{_ADMINS} Any subset of the fields; an unknown field or a "
                "value out of range answers 422 and changes nothing.",
            ),
        },
        "/api/admin/sites": {
            "get": _console(
                "Every site with its signing secret",
                _TAG,
                _json(_obj(["sites"], sites={"type": "array", "items": _ref("Site")})),
                errors=(401, 403),
                description=_ADMINS,
            ),
            "post": _change(
                "Add a site with a new secret",
                _TAG,
                _json(_obj(["site"], site=_ref("Site")), "Created"),
                status="201",
                body=_obj(
                    ["key"],
                    key=_text(32, 1, pattern="^[a-z0-9][a-z0-9_-]{0,31}$"),
                    name=_text(100),
                ),
                errors=(401, 403, 413, 422),
                description=f"{_ADMINS} 422 when the key is taken or malformed.",
            ),
        },
        "/api/admin/sites/{key}/secret": {
            "post": _change(
                "Rotate a site's secret",
                _TAG,
                _json(_obj(["site"], site=_ref("Site"))),
                params=[_path("key", _STR)],
                errors=(401, 403, 404),
                description=f"{_ADMINS} Identities signed with the old secret stop working "
                "at once.",
            )
        },
    }


def _privacy(*, required: bool) -> dict[str, Any]:
    fields = {
        "honour_dnt": {
            **_BOOL,
            "description": "visitors sending Do-Not-Track or Global Privacy Control are "
            "not tracked (default false)",
        },
        "page_view_days": {
            **_INT,
            "minimum": 1,
            "maximum": 3650,
            "description": "days visits and page views are kept (default 90)",
        },
        "decline_quiet_days": {
            **_INT,
            "minimum": 0,
            "maximum": 365,
            "description": "the fewest days between two automatic invitations of one "
            "visitor, whatever the answer (default 7)",
        },
    }
    schema = _obj(list(fields) if required else None, **fields)
    schema["additionalProperties"] = False
    return schema


def schemas() -> dict[str, Any]:
    """Return the admin API's schemas."""
    return {
        "Health": _obj(
            ["status", "storage", "relay"],
            status={"type": "string", "enum": ["ok", "degraded"]},
            storage=_obj(
                ["ok", "error", "since", "failures"],
                ok=_BOOL,
                error=_STR,
                since=_nullable(_TIME),
                failures=_INT,
            ),
            relay=_nullable(
                _obj(
                    ["state", "error"],
                    state={"type": "string", "enum": ["down", "up", "degraded"]},
                    error=_STR,
                )
            ),
        ),
        "IpTable": _obj(
            ["ranges", "format", "imported_at"],
            ranges=_INT,
            format={"type": "string", "enum": ["", "ip2region", "ip2location"]},
            imported_at=_nullable(_TIME),
        ),
        "Privacy": _privacy(required=True),
        "Site": _obj(
            ["key", "name", "secret", "created_at"],
            key=_STR,
            name=_STR,
            secret={
                "type": "string",
                "description": "64 hex digits; the HMAC-SHA256 key is this text as ASCII: "
                'sig = hex(HMAC-SHA256(secret, "<customer_id>:<unix seconds>"))',
            },
            created_at=_TIME,
        ),
    }
