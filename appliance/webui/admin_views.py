"""The local admin page: tunnel health and staff devices (LAN only by default)."""

from __future__ import annotations

from aiohttp import web

from appliance.core.clock import local_text
from appliance.webui.keys import BOX, TUNNEL
from appliance.webui.pages import render
from appliance.webui.security import current_session


async def admin_page(request: web.Request) -> web.Response:
    """Show whether the box is enrolled, how its tunnel is, and its staff devices."""
    current_session(request, roles=("admin",))
    tunnel = request.app[TUNNEL][0]
    info = await tunnel.describe() if tunnel is not None else None
    if info is not None:
        for field in ("latest_handshake", "last_ok"):
            stamp = info.get(field)
            info[field + "_text"] = local_text(int(stamp * 1000)) if stamp else "—"
    devices = await request.app[BOX].devices.list()
    rows = [
        {
            "name": d.name,
            "address": d.address,
            "created": local_text(d.created_at),
            "revoked": local_text(d.revoked_at) if d.revoked_at else "",
        }
        for d in devices
    ]
    return render(request, "admin.html", {"tunnel": info, "devices": rows})


def add_routes(app: web.Application) -> None:
    """Register the admin routes."""
    app.router.add_get("/admin", admin_page)
