"""Build the appliance's aiohttp application."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web

from appliance.core.box import Box
from appliance.discovery import ConsoleAdvertiser, lan_addresses, service_info
from appliance.settings import Settings
from appliance.webui import auth_views, console_views, visitor_views
from appliance.webui.hub import Hub
from appliance.webui.keys import BOX, HUB, SETTINGS, SETUP_TOKEN, WIDGET
from appliance.webui.openapi import openapi_json
from appliance.webui.security import csrf, errors, headers, sessions

_CLIENT_MAX_SIZE = 1024 * 1024  # bytes of any request body


async def _box_ctx(app: web.Application) -> AsyncIterator[None]:
    box = Box(app[SETTINGS])
    await box.open()
    app[BOX] = box
    if not await box.accounts.has_admin():
        app[SETUP_TOKEN][0] = secrets.token_urlsafe(24)
    yield
    await box.close()


async def _hub_ctx(app: web.Application) -> AsyncIterator[None]:
    box = app[BOX]
    hub = Hub(box)
    app[HUB] = hub
    # Agents marked online before a restart get the same grace to reconnect.
    for user_id in await box.accounts.online_user_ids():
        hub.watch_presence(user_id)
    yield
    await hub.close()


async def _close_sockets(app: web.Application) -> None:
    hub = app[HUB]
    sockets = [c.ws for group in (*hub.agents.values(), *hub.visitors.values()) for c in group]
    for ws in sockets:
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server restarting")


async def _mdns_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    advertiser = ConsoleAdvertiser()
    await advertiser.async_start(service_info(settings.port, lan_addresses(settings.host)))
    yield
    await advertiser.async_stop()


def create_app(settings: Settings) -> web.Application:
    """Return the appliance app; its resources open on startup and close on cleanup."""
    app = web.Application(
        middlewares=[headers, errors, sessions, csrf], client_max_size=_CLIENT_MAX_SIZE
    )
    app[SETTINGS] = settings
    setup_token: list[str | None] = [None]
    app[SETUP_TOKEN] = setup_token
    app[WIDGET] = visitor_views.load_widget()
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("appliance.webui", "templates"),
        autoescape=True,
    )
    auth_views.add_routes(app)
    console_views.add_routes(app)
    visitor_views.add_routes(app)
    app.router.add_get("/api/openapi.json", openapi_json)
    static = Path(str(resources.files("appliance.webui") / "static"))
    app.router.add_static("/static/", static)
    app.cleanup_ctx.append(_box_ctx)
    app.cleanup_ctx.append(_hub_ctx)
    app.on_shutdown.append(_close_sockets)
    if settings.mdns:
        app.cleanup_ctx.append(_mdns_ctx)
    return app
