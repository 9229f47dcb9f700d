"""`relay-server run`: the WireGuard hub, visitor passthrough, APIs and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import time
from pathlib import Path

from aiohttp import web

from relay_server import firewall, wg
from relay_server.api import enrolment_app, tunnel_app
from relay_server.config import APPLIANCE_CONSOLE_PORT, RelayConfig
from relay_server.keys import public_key, valid_public_key
from relay_server.limits import VisitorLimits, capacity, open_fds, raise_fd_limit
from relay_server.metrics import Metrics
from relay_server.passthrough import HTTP_HEAD_MAX, Passthrough
from relay_server.registry import OVERLAY, RELAY_ADDRESS, Registry, Tenant
from relay_server.sd_notify import ServiceNotifier

_LOGGER = logging.getLogger(__name__)

_SYNC_INTERVAL = 1.0  # s between registry checks (changes made by the CLI)
TUNNEL_API_PORT = 8081  # on 100.64.0.1 only


class Hub:
    """Keep WireGuard peers, firewall rules and the host-name table equal to the registry."""

    def __init__(self, config: RelayConfig, registry: Registry, metrics: Metrics) -> None:
        self._config = config
        self._registry = registry
        self._metrics = metrics
        self._lock = asyncio.Lock()
        self._version: str | None = None
        self.by_hostname: dict[str, Tenant] = {}
        self.peer_handshakes: dict[str, int] = {}  # public key -> Unix time, 0 = never

    def lookup(self, hostname: str) -> Tenant | None:
        """Return the enrolled tenant serving a host name (in memory, no I/O)."""
        return self.by_hostname.get(hostname)

    async def sync(self, force: bool = False) -> None:
        """Apply the registry: peers first removed, then added, then rules.

        A staff device past its expiry (on the relay's own clock) has no peer and no
        rule: it is cut off even when its box cannot reach the relay to say so.
        """
        async with self._lock:
            now = time.time()
            version = await asyncio.to_thread(self._registry.version, now)
            if version == self._version and not force:
                return
            tenants = await asyncio.to_thread(self._registry.tenants)
            registered = await asyncio.to_thread(self._registry.staff)
            staff = [device for device in registered if device.active(now)]
            wanted: dict[str, list[str]] = {}
            for tenant in tenants:
                if tenant.appliance_key:
                    wanted[tenant.appliance_key] = [f"{tenant.appliance_address}/32"]
            enrolled = {t.id for t in tenants if t.appliance_key}
            for device in staff:
                # The registry refuses a key twice; a registry written before it did
                # may still hold one: the box keeps its route, the device gets none.
                if device.tenant_id in enrolled and device.public_key not in wanted:
                    wanted[device.public_key] = [f"{device.address}/32"]
            # A key `wg` refuses, stored before the API checked its spelling, would fail
            # every sync after it: leave that one peer out instead.
            for key in [k for k in wanted if not valid_public_key(k)]:
                _LOGGER.warning("registry holds a malformed key for %s; skipped", wanted.pop(key))
            iface = self._config.interface
            current = {p.public_key: p for p in await wg.peers(iface)}
            for key in current.keys() - wanted.keys():
                await wg.remove_peer(iface, key)
            for key, allowed in wanted.items():
                if key not in current or list(current[key].allowed_ips) != allowed:
                    await wg.set_peer(iface, key, allowed)
            caps = firewall.ApiCaps(
                self._config.api_port,
                self._config.api_connections_per_source,
                self._config.api_connections,
            )
            await firewall.apply(
                firewall.render(iface, tenants, staff, APPLIANCE_CONSOLE_PORT, caps)
            )
            self.by_hostname = {t.hostname: t for t in tenants if t.appliance_key}
            self._version = version
            _LOGGER.info(
                "applied registry: %d tenants, %d peers, %d staff devices expired",
                len(tenants),
                len(wanted),
                len(registered) - len(staff),
            )

    async def watch(self) -> None:
        """Follow registry changes and refresh handshake metrics."""
        while True:
            try:
                await self.sync()
                peers = {p.public_key: p for p in await wg.peers(self._config.interface)}
                self.peer_handshakes = {k: p.latest_handshake for k, p in peers.items()}
                self._metrics.handshakes = {
                    t.name: peers[t.appliance_key].latest_handshake
                    for t in self.by_hostname.values()
                    if t.appliance_key in peers
                }
            except Exception:
                _LOGGER.exception("registry sync failed")
            await asyncio.sleep(_SYNC_INTERVAL)


_FORWARDING = Path("/proc/sys/net/ipv4/ip_forward")


def _set_forwarding(value: str) -> str:
    """Set IPv4 forwarding; return what it was."""
    before = _FORWARDING.read_text().strip()
    # Under a unit with ProtectKernelTunables= a write fails even when it would change
    # nothing; relay-install.sh turns forwarding on at boot, so none is needed then.
    if before != value:
        _FORWARDING.write_text(value + "\n")
    return before


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def serve(config: RelayConfig, stop: asyncio.Event) -> None:
    """Run until `stop` is set; take the interface and rules down afterwards.

    Every step opens inside one exit stack: a failure at any step of the start
    closes what the steps before opened, in reverse order, and so does a stop. The
    relay owns its interface name and table: a stale one from a crash is replaced
    at start, and neither outlives the process's run, failed or not. Once all is up,
    systemd is told (READY=1) and its watchdog is fed from the event loop.
    """
    notifier = ServiceNotifier()  # first: wg, nft and wireguard-go must not inherit it
    fd_limit = raise_fd_limit()
    private = config.key_path.read_text().strip()
    registry = Registry(config.registry_path, relay_key=public_key(private))
    metrics = Metrics()
    iface = config.interface
    async with contextlib.AsyncExitStack() as stack:
        await wg.delete(iface)  # a stale interface from a crash
        # Pushed before create: wireguard-go may leave an interface behind when it fails.
        stack.push_async_callback(wg.delete, iface)
        mode = await wg.create(iface)
        await wg.configure(iface, private, f"{RELAY_ADDRESS}/{OVERLAY.prefixlen}", config.wg_port)
        forwarding = await asyncio.to_thread(_set_forwarding, "1")
        stack.callback(_set_forwarding, forwarding)  # a stop or failed start puts it back
        hub = Hub(config, registry, metrics)
        stack.push_async_callback(firewall.remove)
        await hub.sync(force=True)
        _LOGGER.info("WireGuard %s up (%s) on udp/%d", iface, mode, config.wg_port)

        limits = VisitorLimits(config.visitors_per_source, total=0)  # sized once all is bound
        passthrough = Passthrough(
            hub.lookup,
            metrics,
            hello_timeout=config.hello_timeout,
            connect_timeout=config.connect_timeout,
            handshake_timeout=config.handshake_timeout,
            idle_timeout=config.idle_timeout,
            limits=limits,
        )
        for handler, port, limit in (
            (passthrough.handle_tls, config.https_port, None),
            (passthrough.handle_http, config.http_port, HTTP_HEAD_MAX),
        ):
            options = {} if limit is None else {"limit": limit}
            server = await asyncio.start_server(handler, config.bind, port, **options)
            stack.callback(server.close)
        info = {
            "public_key": public_key(private),
            "endpoint": f"{config.public_host}:{config.wg_port}",
            "tunnel_api": f"http://{RELAY_ADDRESS}:{TUNNEL_API_PORT}",
        }

        async def changed() -> None:
            await hub.sync()

        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(config.cert_path, config.cert_key_path)
        for app, host, port, context in (
            (enrolment_app(registry, changed, info), config.bind, config.api_port, tls),
            (
                tunnel_app(registry, changed, lambda: hub.peer_handshakes),
                RELAY_ADDRESS,
                TUNNEL_API_PORT,
                None,
            ),
            (_metrics_app(metrics, hub), config.metrics_bind, config.metrics_port, None),
        ):
            runner = web.AppRunner(app, access_log=None)
            stack.push_async_callback(runner.cleanup)
            await runner.setup()
            await web.TCPSite(runner, host, port, ssl_context=context).start()
        # The process's own descriptors (listeners, interface, log) are counted now, when
        # everything is open; the reserve covers what the APIs and the hub open later.
        in_use = open_fds()
        limits.total = capacity(fd_limit, config.fd_reserve, in_use, config.max_visitors)
        metrics.visitor_capacity = limits.total
        _LOGGER.info(
            "visitor capacity %d connections (%d per source): %d descriptors, %d in use, "
            "%d reserved",
            limits.total,
            limits.per_source,
            fd_limit,
            in_use,
            config.fd_reserve,
        )
        stack.push_async_callback(_cancel, asyncio.create_task(hub.watch(), name="registry"))
        print(f"relay-server: ready ({config.public_host}, https/{config.https_port})", flush=True)
        notifier.ready(f"{limits.total} visitor connections at most")
        watchdog = asyncio.create_task(notifier.async_watchdog(), name="sd-watchdog")
        stack.push_async_callback(_cancel, watchdog)
        await stop.wait()
        notifier.stopping()


def _metrics_app(metrics: Metrics, hub: Hub) -> web.Application:
    async def prometheus(_: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain")

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"ready": True, "tenants": len(hub.by_hostname)})

    app = web.Application()
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/ready", ready)
    return app


def run(config: RelayConfig) -> int:
    """Run the relay until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, stop)

    asyncio.run(main())
    return 0
