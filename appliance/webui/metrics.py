"""Prometheus `/metrics` on loopback only: a listener of its own at 127.0.0.1.

As the relay does (relay-server/relay_server/metrics.py), the box serves its figures
from a separate aiohttp app bound to 127.0.0.1, never on the console's port: the LAN,
the tunnel and the relay cannot reach it, and it needs no session. A Prometheus on the
box scrapes it directly; one elsewhere reaches it through node_exporter's textfile
collector or an SSH tunnel. It is off until `metrics_port` is set (README, Settings).

The text format is written by hand, like the relay's: some twenty figures with a few
fixed labels. prometheus_client would bring a dependency whose default registry is
process-wide state (each app in a test process would need its own) and collectors we
would still feed by hand from the same places.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from appliance import __version__
from appliance.core import health
from appliance.core.db import WAIT_BUCKETS
from appliance.relay.certstatus import visitor_certificate
from appliance.webui.health_views import VITALS
from appliance.webui.keys import BOX, HUB, SETTINGS, TUNNEL

_LOGGER = logging.getLogger(__name__)

METRICS_HOST = "127.0.0.1"  # never another address: see the module's docstring
_WORK_TTL = 10.0  # s a count of waiting chats, open tickets and breaches is reused
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Value = int | float
Labelled = dict[tuple[tuple[str, str], ...], Value]


def _number(value: Value) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    return str(int(value))


@dataclass
class Exposition:
    """Prometheus text exposition, one family at a time."""

    lines: list[str] = field(default_factory=list)

    def family(self, name: str, kind: str, help_text: str, values: Value | Labelled) -> None:
        """Add a family: one value, or values by their labels."""
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        if not isinstance(values, dict):
            self.lines.append(f"{name} {_number(values)}")
            return
        for labels, value in values.items():
            text = ",".join(f'{k}="{v}"' for k, v in labels)
            self.lines.append(f"{name}{{{text}}} {_number(value)}")

    def histogram(
        self, name: str, help_text: str, bounds: tuple[float, ...], counts: list[int], total: float
    ) -> None:
        """Add a histogram from per-bucket counts (the last one: above every bound)."""
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        running = 0
        for bound, count in zip((*bounds, math.inf), counts, strict=True):
            running += count
            le = "+Inf" if math.isinf(bound) else repr(bound)
            self.lines.append(f'{name}_bucket{{le="{le}"}} {running}')
        self.lines += [f"{name}_sum {_number(total)}", f"{name}_count {running}"]

    def text(self) -> str:
        """Return the exposition."""
        return "\n".join(self.lines) + "\n"


class _WorkCache:
    """The database's counts, read at most once per _WORK_TTL (a scan of the SLA clocks)."""

    def __init__(self) -> None:
        self.value: health.Work | None = None
        self.at = -math.inf

    async def get(self, app: web.Application) -> health.Work:
        now = time.monotonic()
        if self.value is None or now - self.at >= _WORK_TTL:
            self.value = await app[BOX].db.read(health.work)
            self.at = now
        return self.value


async def render(app: web.Application, cache: _WorkCache) -> str:
    """Return the box's figures in the Prometheus text format."""
    box, settings, vitals = app[BOX], app[SETTINGS], app[VITALS]

    def measure() -> tuple[health.Process, health.Storage, int | None]:
        cert = visitor_certificate(settings.data_dir)
        expiry = cert.not_after if cert is not None and not cert.error else None
        return health.process(), health.storage(settings.data_dir, settings.db_path), expiry

    process, storage, cert_expiry = await asyncio.to_thread(measure)
    work = await cache.get(app)
    backup = await box.backup_status.last_backup() if box.backup_status is not None else None
    hub = app[HUB]
    stats = box.db.stats
    out = Exposition()
    out.family(
        "callbox_build_info", "gauge", "The running version.", {(("version", __version__),): 1}
    )
    out.family("callbox_uptime_seconds", "gauge", "Seconds since the box started.", vitals.uptime)
    out.family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory of the process.",
        process.rss_bytes,
    )
    out.family("process_open_fds", "gauge", "Open file descriptors.", process.open_fds)
    out.family(
        "callbox_db_transactions_total",
        "counter",
        "Write transactions committed (each holds a batch of jobs).",
        stats.transactions,
    )
    out.family("callbox_db_jobs_total", "counter", "Write jobs committed.", stats.jobs)
    out.family(
        "callbox_db_writer_checkpoints_total",
        "counter",
        "WAL checkpoints the writer ran because writes left no pause for the one beside it.",
        stats.writer_checkpoints,
    )
    out.family(
        "callbox_db_helper_transactions_total",
        "counter",
        "Write transactions of chat lines the writer's helper process committed.",
        stats.away,
    )
    out.family(
        "callbox_db_helper_lost_total",
        "counter",
        "Times the writer's helper process died; the writer stored its lines itself.",
        box.db.helper_lost,
    )
    load = box.load
    out.family(
        "callbox_db_oldest_wait_seconds",
        "gauge",
        "How long the oldest queued write has waited for the writer.",
        load.writer_wait,
    )
    out.family(
        "callbox_loop_lag_seconds",
        "gauge",
        "The event loop's worst lateness over the last second.",
        load.loop_lag,
    )
    out.family(
        "callbox_busy",
        "gauge",
        "1 while the box refuses new conversations because it is overloaded.",
        int(load.reason() is not None),
    )
    out.family(
        "callbox_shed_total",
        "counter",
        "Work refused with `busy` because the box was overloaded, by what.",
        {(("what", what),): load.shed[what] for what in ("conversation", "line")},
    )
    frames_waiting, fullest = hub.send_queues()
    out.family(
        "callbox_ws_send_queue_frames",
        "gauge",
        "Frames waiting to be written to WebSockets: all sockets, and the fullest one.",
        {(("of", "all"),): frames_waiting, (("of", "fullest"),): fullest},
    )
    out.family(
        "callbox_ws_slow_closed_total",
        "counter",
        "WebSockets closed because their client stopped reading.",
        hub.stats.slow_closed,
    )
    out.family(
        "callbox_db_queue_depth",
        "gauge",
        "Write jobs waiting for the writer now.",
        box.db.queue_depth,
    )
    out.histogram(
        "callbox_db_queue_wait_seconds",
        "How long write jobs waited for their transaction to start.",
        WAIT_BUCKETS,
        stats.wait_counts,
        stats.wait_seconds,
    )
    out.family(
        "callbox_db_storage_ok",
        "gauge",
        "1 while writes reach the disk, 0 while it is full or failing.",
        int(box.db.storage.ok),
    )
    out.family(
        "callbox_db_size_bytes",
        "gauge",
        "The database file and its write-ahead log.",
        {(("file", "db"),): storage.db_bytes, (("file", "wal"),): storage.wal_bytes},
    )
    out.family(
        "callbox_disk_free_bytes",
        "gauge",
        "Free space of the data folder's disk.",
        storage.disk_free,
    )
    out.family(
        "callbox_disk_size_bytes", "gauge", "Size of the data folder's disk.", storage.disk_total
    )
    out.family(
        "callbox_sockets",
        "gauge",
        "Connected WebSockets.",
        {
            (("kind", "agent"),): sum(len(c) for c in hub.agents.values()),
            (("kind", "visitor"),): sum(len(c) for c in hub.visitors.values()),
        },
    )
    out.family("callbox_chats_waiting", "gauge", "Chats waiting in a queue.", work.waiting_chats)
    out.family("callbox_tickets_open", "gauge", "Tickets new, open or pending.", work.open_tickets)
    out.family(
        "callbox_sla_breaches_total",
        "counter",
        "SLA targets breached so far (one per ticket and metric).",
        work.sla_breaches,
    )
    last_ok = backup.last_ok_at if backup is not None else None
    out.family(
        "callbox_backup_age_seconds",
        "gauge",
        "Seconds since the last successful backup (NaN: none yet).",
        max(0.0, time.time() - last_ok / 1000) if last_ok is not None else math.nan,
    )
    out.family(
        "callbox_backup_last_ok",
        "gauge",
        "1 when the latest backup run succeeded, 0 when it failed or none ran yet.",
        int(backup is not None and backup.ok),
    )
    tunnel = app[TUNNEL][0]
    if tunnel is not None:
        out.family(
            "callbox_tunnel_up",
            "gauge",
            "1 while the relay answers through the tunnel.",
            int(tunnel.status.state == "up"),
        )
    if cert_expiry is not None:
        out.family(
            "callbox_certificate_expiry_timestamp_seconds",
            "gauge",
            "When the visitor certificate expires (Unix time).",
            cert_expiry // 1000,
        )
    out.family(
        "callbox_log_records_total",
        "counter",
        "Warnings and errors logged since the start, by level.",
        {(("level", level),): count for level, count in sorted(vitals.ring.totals.items())},
    )
    return out.text()


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def metrics_app(main: web.Application) -> web.Application:
    """Return the loopback app that serves `main`'s figures at /metrics."""
    cache = _WorkCache()

    async def prometheus(request: web.Request) -> web.Response:
        # The listener is bound to 127.0.0.1; this is the second lock on the same door.
        if not _is_loopback(request.remote):
            raise web.HTTPForbidden()
        return web.Response(
            body=(await render(main, cache)).encode(), headers={"Content-Type": _CONTENT_TYPE}
        )

    app = web.Application()
    app.router.add_get("/metrics", prometheus)
    return app


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """Serve /metrics on 127.0.0.1:`metrics_port` while the app runs."""
    port = app[SETTINGS].metrics_port
    runner = web.AppRunner(metrics_app(app), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, METRICS_HOST, port).start()
        _LOGGER.info("Prometheus metrics at http://%s:%d/metrics", METRICS_HOST, port)
        yield
    finally:
        await runner.cleanup()
