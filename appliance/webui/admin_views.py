"""The local admin page and API: tunnel health, staff devices, the IP table, privacy
settings and the sites' secrets (LAN only by default, admins only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from appliance.core.clock import local_iso, local_text
from appliance.core.errors import InvalidInput
from appliance.core.iptable import FORMATS
from appliance.webui.keys import BOX, TUNNEL
from appliance.webui.pages import render
from appliance.webui.visitor_views import read_json

_UPLOAD_MAX = 256 * 1024 * 1024  # bytes of an IP table file
_UPLOAD_CHUNK = 64 * 1024  # bytes read from the socket at a time


def _table_status(request: web.Request) -> dict[str, Any]:
    status = request.app[BOX].iptable.status()
    return {**status, "imported_at": local_iso(status["imported_at"])}


def widget_url(request: web.Request, public_host: str | None) -> str:
    """Return the widget's address as a host site should load it."""
    if public_host:
        return f"https://{public_host}/widget.js"
    return f"{request.scheme}://{request.host}/widget.js"


async def admin_page(request: web.Request) -> web.Response:
    """Show the tunnel, staff devices, IP table, privacy settings and sites."""
    box = request.app[BOX]
    tunnel = request.app[TUNNEL][0]
    info = await tunnel.describe() if tunnel is not None else None
    if info is not None:
        for field in ("latest_handshake", "last_ok"):
            stamp = info.get(field)
            info[field + "_text"] = local_text(int(stamp * 1000)) if stamp else "—"
    devices = await box.devices.list()
    rows = [
        {
            "name": d.name,
            "address": d.address,
            "created": local_text(d.created_at),
            "revoked": local_text(d.revoked_at) if d.revoked_at else "",
        }
        for d in devices
    ]
    table = box.iptable.status()
    context = {
        "health": health_report(request),
        "tunnel": info,
        "devices": rows,
        "ip_table": {**table, "imported": local_text(table["imported_at"])},
        "privacy": box.box_settings.public(),
        # Secrets stay out of the page: the reveal button fetches them.
        "sites": [
            {"key": s["key"], "name": s["name"], "created": s["created_at"]}
            for s in await box.sites.list()
        ],
        "widget_url": widget_url(request, info.get("hostname") if info else None),
        "formats": FORMATS,
    }
    return render(request, "admin.html", context)


def health_report(request: web.Request) -> dict[str, Any]:
    """Return the box's health: storage writes and the tunnel, with an overall status."""
    storage = request.app[BOX].db.storage.public()
    if storage["since"] is not None:
        storage["since"] = local_iso(storage["since"])
    tunnel = request.app[TUNNEL][0]
    relay = None
    if tunnel is not None:
        relay = {"state": tunnel.status.state, "error": tunnel.status.error}
    status = "ok" if storage["ok"] and (relay is None or relay["state"] == "up") else "degraded"
    return {"status": status, "storage": storage, "relay": relay}


async def get_health(request: web.Request) -> web.Response:
    """Return the box's health (storage full or failing, tunnel errors)."""
    return web.json_response(health_report(request))


async def get_ip_table(request: web.Request) -> web.Response:
    """Return how many ranges the IP table holds, from which format, imported when."""
    return web.json_response(_table_status(request))


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
    fmt = request.query.get("format", "auto")
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}")
    length = request.content_length
    if length is not None and length > _UPLOAD_MAX:
        raise web.HTTPRequestEntityTooLarge(max_size=_UPLOAD_MAX, actual_size=length)
    await request.app[BOX].iptable.import_csv(_body(request), fmt)
    return web.json_response(_table_status(request))


async def get_privacy(request: web.Request) -> web.Response:
    """Return the privacy and retention settings."""
    return web.json_response(request.app[BOX].box_settings.public())


async def put_privacy(request: web.Request) -> web.Response:
    """Change some of the privacy and retention settings."""
    data = await read_json(request)
    return web.json_response(await request.app[BOX].box_settings.update(data))


async def list_sites(request: web.Request) -> web.Response:
    """Return every site with its signing secret."""
    return web.json_response({"sites": await request.app[BOX].sites.list()})


async def create_site(request: web.Request) -> web.Response:
    """Add a site with a new secret."""
    data = await read_json(request)
    site = await request.app[BOX].sites.create(data.get("key", ""), data.get("name", ""))
    return web.json_response({"site": site}, status=201)


async def rotate_secret(request: web.Request) -> web.Response:
    """Give a site a new secret; identities signed with the old one stop working."""
    site = await request.app[BOX].sites.rotate(request.match_info["key"])
    return web.json_response({"site": site})


def add_routes(app: web.Application) -> None:
    """Register the admin routes."""
    app.router.add_get("/admin", admin_page)
    app.router.add_get("/api/admin/health", get_health)
    app.router.add_get("/api/admin/ip-table", get_ip_table)
    app.router.add_post("/api/admin/ip-table", import_ip_table)
    app.router.add_get("/api/admin/privacy", get_privacy)
    app.router.add_put("/api/admin/privacy", put_privacy)
    app.router.add_get("/api/admin/sites", list_sites)
    app.router.add_post("/api/admin/sites", create_site)
    app.router.add_post("/api/admin/sites/{key}/secret", rotate_secret)
