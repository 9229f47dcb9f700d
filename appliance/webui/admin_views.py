"""The local admin page and API: tunnel health, staff devices, the IP table, privacy
settings and the sites' secrets (LAN only by default, admins only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
from aiohttp import web

from appliance.core.clock import local_text
from appliance.core.files import MAX_MB
from appliance.core.iptable import FORMATS
from appliance.relay import state as relay_state
from appliance.webui import health_views
from appliance.webui.audit_views import admin_actor
from appliance.webui.contract import Contract, Operation, read_body, read_query, reply
from appliance.webui.keys import BOX, SETTINGS, TUNNEL
from appliance.webui.pages import render
from appliance.webui.wire import admin as wire
from appliance.webui.wire import wire_time

_UPLOAD_MAX = 256 * 1024 * 1024  # bytes of an IP table file
_UPLOAD_CHUNK = 64 * 1024  # bytes read from the socket at a time


def _table_status(request: web.Request) -> wire.IpTable:
    return wire.ip_table_out(request.app[BOX].iptable.status())


def widget_url(request: web.Request, public_host: str | None) -> str:
    """Return the widget's address as a host site should load it."""
    if public_host:
        return f"https://{public_host}/widget.js"
    return f"{request.scheme}://{request.host}/widget.js"


async def admin_page(request: web.Request) -> web.Response:
    """Show the tunnel, staff devices, IP table, privacy settings and sites."""
    box = request.app[BOX]
    settings = request.app[SETTINGS]
    tunnel = request.app[TUNNEL][0]
    info = await tunnel.describe() if tunnel is not None else None
    if info is not None:
        for field in ("latest_handshake", "last_ok"):
            stamp = info.get(field)
            info[field + "_text"] = local_text(int(stamp * 1000)) if stamp else "—"
    now = box.devices.clock()
    rows = [
        {
            "name": d.name,
            "address": d.address,
            "owner": d.owner,
            "state": d.state(now),
            "expires": local_text(d.expires_at),
        }
        for d in await box.devices.list()
    ]
    table = box.iptable.status()
    context = {
        **await health_views.page_context(request),
        "tunnel": info,
        "devices": rows,
        "devices_enrolled": await asyncio.to_thread(relay_state.load, settings.data_dir)
        is not None,
        "device_expiry_days": await box.devices.expiry_days(),
        "ip_table": {
            "ranges": table.ranges,
            "format": table.format,
            "imported": local_text(table.imported_at),
        },
        "privacy": box.box_settings.current(),
        # Secrets stay out of the page: the reveal button fetches them.
        "sites": [
            {"key": s.key, "name": s.name, "created": wire_time(s.created_at)}
            for s in await box.sites.list()
        ],
        "widget_url": widget_url(request, info.get("hostname") if info else None),
        "file_limits": box.files.limits,
        "file_max_mb": MAX_MB,
        "formats": FORMATS,
    }
    return render(request, "admin.html", context)


async def get_ip_table(request: web.Request) -> web.Response:
    """Return how many ranges the IP table holds, from which format, imported when."""
    return reply(_table_status(request))


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    # Streaming past request.content: the app's client_max_size bounds only read(),
    # post() and json(), so this route enforces its own, larger limit as it reads.
    size = 0
    async for chunk in request.content.iter_chunked(_UPLOAD_CHUNK):
        size += len(chunk)
        if size > _UPLOAD_MAX:
            raise web.HTTPRequestEntityTooLarge(max_size=_UPLOAD_MAX, actual_size=size)
        yield chunk


async def import_ip_table(request: web.Request) -> web.Response:
    """Replace the IP table with the uploaded file (raw body); a bad row changes nothing."""
    query = read_query(request, wire.IpTableQuery)
    length = request.content_length
    if length is not None and length > _UPLOAD_MAX:
        raise web.HTTPRequestEntityTooLarge(max_size=_UPLOAD_MAX, actual_size=length)
    await request.app[BOX].iptable.import_csv(_body(request), query.format, by=admin_actor(request))
    return reply(_table_status(request))


async def get_privacy(request: web.Request) -> web.Response:
    """Return the privacy and retention settings."""
    return reply(wire.privacy_out(request.app[BOX].box_settings.current()))


async def put_privacy(request: web.Request) -> web.Response:
    """Change some of the privacy and retention settings."""
    change = await read_body(request, wire.PrivacyChange)
    privacy = await request.app[BOX].box_settings.update(
        msgspec.to_builtins(change), by=admin_actor(request)
    )
    return reply(wire.privacy_out(privacy))


async def list_sites(request: web.Request) -> web.Response:
    """Return every site with its signing secret."""
    return reply(wire.Sites([wire.site_out(s) for s in await request.app[BOX].sites.list()]))


async def create_site(request: web.Request) -> web.Response:
    """Add a site with a new secret."""
    new = await read_body(request, wire.NewSite)
    site = await request.app[BOX].sites.create(new.key, new.name, by=admin_actor(request))
    return reply(wire.OneSite(wire.site_out(site)), 201)


async def rotate_secret(request: web.Request) -> web.Response:
    """Give a site a new secret; identities signed with the old one stop working."""
    site = await request.app[BOX].sites.rotate(request.match_info["key"], by=admin_actor(request))
    return reply(wire.OneSite(wire.site_out(site)))


_ADMINS = "Admins only (else 403), from the LAN only."
_TAG = "admin"

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/admin",
            admin_page,
            "Tunnel health, staff devices, IP table, privacy and sites (LAN only, admins)",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            "/api/admin/ip-table",
            get_ip_table,
            "How many ranges the IP table holds, from which format, imported when",
            _TAG,
            wire.IpTable,
            errors=(401, 403),
            description=_ADMINS,
        ),
        Operation(
            "POST",
            "/api/admin/ip-table",
            import_ip_table,
            "Replace the IP table with an uploaded file",
            _TAG,
            wire.IpTable,
            query=wire.IpTableQuery,
            upload=("application/octet-stream", "text/plain", "text/csv"),
            errors=(401, 403, 409, 413, 422),
            description=f"{_ADMINS} The body is the file itself (at most 256 MiB, read as "
            "a stream): ip2region source text (start|end|country|region|province|city|isp, "
            "or the newer start|end|country|province|city|isp) or an IP2Location LITE CSV "
            "(DB1, DB3, DB5, DB9, DB11; IPv4 or IPv6 edition). 422 names the line of the "
            "first bad row (not an address, start after end, overlapping ranges, wrong "
            "field count, not UTF-8, a line over 4096 bytes); the table in use stays as it "
            "was. 409: another import is running.",
        ),
        Operation(
            "GET",
            "/api/admin/privacy",
            get_privacy,
            "Privacy and retention settings",
            _TAG,
            wire.Privacy,
            errors=(401, 403),
            description=_ADMINS,
        ),
        Operation(
            "PUT",
            "/api/admin/privacy",
            put_privacy,
            "Change privacy and retention settings",
            _TAG,
            wire.Privacy,
            body=wire.PrivacyChange,
            errors=(401, 403, 413, 422),
            description=f"{_ADMINS} Any subset of the fields; an unknown field or a value "
            "out of range answers 422 and changes nothing.",
        ),
        Operation(
            "GET",
            "/api/admin/sites",
            list_sites,
            "Every site with its signing secret",
            _TAG,
            wire.Sites,
            errors=(401, 403),
            description=_ADMINS,
        ),
        Operation(
            "POST",
            "/api/admin/sites",
            create_site,
            "Add a site with a new secret",
            _TAG,
            wire.OneSite,
            status=201,
            body=wire.NewSite,
            errors=(401, 403, 413, 422),
            description=f"{_ADMINS} 422 when the key is taken or malformed.",
        ),
        Operation(
            "POST",
            "/api/admin/sites/{key}/secret",
            rotate_secret,
            "Rotate a site's secret",
            _TAG,
            wire.OneSite,
            errors=(401, 403, 404),
            description=f"{_ADMINS} Identities signed with the old secret stop working at once.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the admin routes."""
    CONTRACT.install(app)
