"""Build the appliance's aiohttp application."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
from collections.abc import AsyncIterator, Callable

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web

from appliance.core.box import Box
from appliance.core.boxprofile import BoxProfile
from appliance.discovery import ConsoleAdvertiser, lan_addresses, service_info
from appliance.relay import state as relay_state
from appliance.relay.firewall import OverlayPorts
from appliance.relay.staff_guard import StaffGuard
from appliance.relay.tunnel import Tunnel
from appliance.relay.wireguard import WireGuardError
from appliance.settings import LANGS, Settings
from appliance.webui import (
    account_views,
    admin_views,
    assets,
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
    metrics,
    notification_views,
    openapi,
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
from appliance.webui.access import access
from appliance.webui.hub import Hub
from appliance.webui.i18n import CATALOG, Catalog
from appliance.webui.inputs import clean_input
from appliance.webui.keys import (
    BOX,
    BOX_PROFILE,
    HUB,
    JOINER,
    RELAY_PEERS,
    RESTART,
    SETTINGS,
    SETUP_TOKEN,
    STAFF_GUARD,
    STAFF_NETWORK,
    TUNNEL,
    WIDGET,
)
from appliance.webui.policy import authorize
from appliance.webui.relay_join import Joiner
from appliance.webui.relay_listener import RelayPeers
from appliance.webui.security import csrf, errors, headers, sessions

_LOGGER = logging.getLogger(__name__)
_CLIENT_MAX_SIZE = 1024 * 1024  # bytes of any request body


async def _box_ctx(app: web.Application) -> AsyncIterator[None]:
    box = Box(app[SETTINGS])
    # Closed on any failure after this point too: a half-open box holds the writer thread.
    try:
        await box.open()
        app[BOX] = box
        if not await box.accounts.has_admin():
            app[SETUP_TOKEN][0] = secrets.token_urlsafe(24)
        yield
    finally:
        await box.close()


async def _hub_ctx(app: web.Application) -> AsyncIterator[None]:
    box = app[BOX]
    hub = Hub(box)
    app[HUB] = hub
    hub.start()
    try:
        # Agents marked online before a restart get the same grace to reconnect.
        for user_id in await box.accounts.online_user_ids():
            hub.watch_presence(user_id)
        yield
    finally:
        await hub.close()


async def _relay_ctx(app: web.Application) -> AsyncIterator[None]:
    """Bring the tunnel up when the box is enrolled; the sites on it start in serve().

    At cleanup the interface stays only after a completed start (serve() sets
    `keep_on_stop`); a failed start removes what it made.
    """
    settings = app[SETTINGS]
    state = await asyncio.to_thread(relay_state.load, settings.data_dir)
    key = await asyncio.to_thread(relay_state.private_key, settings.data_dir)
    if state is None or key is None:
        yield
        return
    app[STAFF_NETWORK][0] = state.staff_network
    tunnel = Tunnel(state, key, settings.tunnel_interface, OverlayPorts.of(settings))
    app[TUNNEL][0] = tunnel  # the admin page shows it, up or not
    try:
        try:
            await tunnel.up()
        except WireGuardError as err:
            tunnel.status.error = str(err)
            _LOGGER.warning("relay tunnel not up (it needs CAP_NET_ADMIN): %s", err)
        else:
            tunnel.start()
        yield
    finally:
        # A restart of the box must not drop staff longer than needed: after a completed
        # start the interface stays up, guarded. A failed start takes away what it made.
        await tunnel.close()


async def _close_sockets(app: web.Application) -> None:
    hub = app[HUB]
    sockets = [c.ws for group in (*hub.agents.values(), *hub.visitors.values()) for c in group]
    for ws in sockets:
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server restarting")


async def _mdns_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    advertiser = ConsoleAdvertiser()
    try:
        await advertiser.async_start(service_info(settings.port, lan_addresses(settings.host)))
        yield
    finally:
        await advertiser.async_stop()


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates kept in memory for the process, keyed by the source's checksum.

    Compiling the pages' templates costs about 1 s of CPU (admin.html with its includes
    0.2 s), which jinja does on the first render, on the event loop. `_warm_templates`
    compiles them all in a thread at start; a second app in the same process (a restore's
    restart, the tests) loads them from here in about 35 ms.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()


async def _warm_templates(app: web.Application) -> None:
    """Compile every page's template off the loop, so no first render blocks it."""
    env = aiohttp_jinja2.get_env(app)
    await asyncio.to_thread(lambda: [env.get_template(name) for name in env.list_templates()])


def create_app(settings: Settings) -> web.Application:
    """Return the appliance app; its resources open on startup and close on cleanup."""
    app = web.Application(
        middlewares=[access, headers, errors, clean_input, sessions, authorize, csrf],
        client_max_size=_CLIENT_MAX_SIZE,
    )
    app[SETTINGS] = settings
    setup_token: list[str | None] = [None]
    app[SETUP_TOKEN] = setup_token
    app[CATALOG] = Catalog.load()
    app[WIDGET] = visitor_views.load_widget(app[CATALOG])
    app[RELAY_PEERS] = RelayPeers()
    staff_network: list[ipaddress.IPv4Network | None] = [None]
    app[STAFF_NETWORK] = staff_network
    tunnel: list[Tunnel | None] = [None]
    app[TUNNEL] = tunnel
    app[STAFF_GUARD] = StaffGuard()
    app[BOX_PROFILE] = BoxProfile(LANGS)
    app[JOINER] = Joiner()
    restart: list[Callable[[], None] | None] = [None]
    app[RESTART] = restart
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("appliance.webui", "templates"),
        autoescape=True,
        bytecode_cache=_COMPILED,
    )
    auth_views.add_routes(app)
    console_views.add_routes(app)
    admin_views.add_routes(app)
    health_views.add_routes(app)  # first of the cleanup contexts: it collects start-up logs
    audit_views.add_routes(app)
    backup_views.add_routes(app)
    mail_views.CONTRACT.install(app)
    mail_ticket_views.CONTRACT.install(app)
    mail_notice_views.CONTRACT.install(app)
    visitor_views.add_routes(app)
    feedback_views.add_routes(app)
    team_views.add_routes(app)
    routing_views.add_routes(app)
    supervisor_views.add_routes(app)
    insight_views.add_routes(app)
    ticket_views.add_routes(app)
    sla_views.add_routes(app)
    visitor_ticket_views.add_routes(app)
    rule_views.add_routes(app)
    webhook_views.add_routes(app)
    notification_views.add_routes(app)
    ticket_pages.add_routes(app)
    desk_editor_pages.add_routes(app)
    desk_settings_pages.add_routes(app)
    device_views.add_routes(app)
    setup_views.add_routes(app)
    login_steps.add_routes(app)
    account_views.add_routes(app)
    brand_views.add_routes(app)
    user_admin_views.add_routes(app)
    file_views.add_routes(app)
    knowledge_views.add_routes(app)
    portal_views.add_routes(app)  # the customer portal, reached through the relay too
    ticket_file_views.CONTRACT.install(app)
    selfservice_views.add_routes(app)
    help_views.add_routes(app)
    report_views.add_routes(app)
    kb_tools_views.add_routes(app)
    report_mail_views.add_routes(app)  # scheduled reports by e-mail
    scorecard_views.add_routes(app)  # agent scorecards
    quality_views.add_routes(app)  # quality review of chats
    openapi.add_routes(app)
    assets.add_routes(app)
    app.cleanup_ctx.append(setup_views.zone_ctx)  # before the core: it sets the zone
    app.cleanup_ctx.append(_box_ctx)
    app.cleanup_ctx.append(setup_views.setup_ctx)
    app.cleanup_ctx.append(_hub_ctx)
    app.cleanup_ctx.append(report_mail_views.runner_ctx)  # after the core
    app.cleanup_ctx.append(_relay_ctx)
    if settings.metrics_port:
        app.cleanup_ctx.append(metrics.metrics_ctx)  # on 127.0.0.1 only
    app.cleanup_ctx.append(device_views.guard_ctx)
    app.on_startup.append(_warm_templates)
    app.on_shutdown.append(_close_sockets)
    if settings.mdns:
        app.cleanup_ctx.append(_mdns_ctx)
    return app
