"""Prometheus /metrics: answers on loopback with the box's figures, and is served on no
other address or listener (not the console's port, not the LAN, not the relay's)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable

import aiohttp
import ifaddr
import psutil
import pytest

from appliance.settings import Settings, SettingsError, load_settings
from appliance.webui.relay_listener import acme_app
from tests.browser.conftest import free_port
from tests.conftest import Agent, Running, Visitor, helper_up
from tests.integration.test_health import write_certificate

_LINE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def parse(text: str) -> dict[str, float]:
    """Return {name{labels}: value} of an exposition; fail on a malformed line."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        found = _LINE.match(line)
        assert found, f"not a sample line: {line!r}"
        values[found.group(1) + (found.group(2) or "")] = float(found.group(3))
    return values


async def scrape(port: int) -> tuple[str, dict[str, float]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = await response.text()
    return text, parse(text)


def lan_addresses() -> list[str]:
    """Every address of this host that is not loopback (IPv4 and IPv6)."""
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            if not address.startswith(("127.", "::1", "fe80:")):
                found.append(address)
    return found


async def test_metrics_on_loopback_with_the_boxs_figures(
    make_app: Callable[..., Awaitable[Running]],
    http_sessions: Callable[[], aiohttp.ClientSession],
):
    port = free_port()
    running = await make_app(metrics_port=port)
    # An agent connected but not taking chats, a visitor waiting, a ticket open.
    user = await running.box.accounts.create_user("ops", "correct horse battery", "admin")
    agent = Agent(running, http_sessions(), user.id)
    assert (await agent.login("ops")).status == 302
    console = await agent.ws()
    visitor = Visitor(running, http_sessions())
    await visitor.start()
    conv = await visitor.open()
    await helper_up(running.box, quiet=False)  # the helper process stores the chat line
    status, _, _ = await visitor.request(
        "POST",
        f"/api/visitor/conversations/{conv['id']}/messages",
        {"client_msg_id": "m", "body": "在吗"},
    )
    assert status == 201
    visitor_ws = await visitor.ws()
    await agent.post("/api/console/tickets", {"subject": "打印机坏了"}, status=201)
    write_certificate(running.box.settings.data_dir, days=30)

    text, values = await scrape(port)
    assert values['callbox_build_info{version="0.1.0"}'] == 1
    assert 0 <= values["callbox_uptime_seconds"] < 600
    assert values["process_resident_memory_bytes"] > 10 * 2**20
    assert values["process_open_fds"] > 5
    assert values["callbox_db_transactions_total"] >= 1
    assert values["callbox_db_jobs_total"] >= values["callbox_db_transactions_total"]
    assert values["callbox_db_writer_checkpoints_total"] >= 0  # present (tests/unit: moves)
    assert values["callbox_db_helper_transactions_total"] >= 1  # the line (and the indexer)
    assert values["callbox_db_helper_lost_total"] == 0
    assert values["callbox_db_queue_depth"] >= 0 and values["callbox_db_storage_ok"] == 1
    buckets = [v for k, v in values.items() if k.startswith("callbox_db_queue_wait_seconds_bucket")]
    assert buckets == sorted(buckets) and len(buckets) == 12
    assert (
        values['callbox_db_queue_wait_seconds_bucket{le="+Inf"}']
        == (values["callbox_db_queue_wait_seconds_count"])
    )
    assert values["callbox_db_queue_wait_seconds_count"] >= values["callbox_db_jobs_total"]
    assert values['callbox_db_size_bytes{file="db"}'] > 0
    assert 0 < values["callbox_disk_free_bytes"] <= values["callbox_disk_size_bytes"]
    assert values['callbox_sockets{kind="agent"}'] == 1
    assert values['callbox_sockets{kind="visitor"}'] == 1
    assert values["callbox_chats_waiting"] == 1
    assert values["callbox_tickets_open"] == 1
    assert values["callbox_sla_breaches_total"] == 0
    assert math.isnan(values["callbox_backup_age_seconds"])
    assert values["callbox_backup_last_ok"] == 0
    expiry = values["callbox_certificate_expiry_timestamp_seconds"]
    assert 29 * 86400 < expiry - time.time() <= 30 * 86400
    assert "callbox_tunnel_up" not in text  # not enrolled
    assert "# TYPE callbox_sla_breaches_total counter" in text
    await console.close()
    await visitor_ws.close()


async def test_metrics_are_served_on_loopback_only(
    make_app: Callable[..., Awaitable[Running]],
    http_sessions: Callable[[], aiohttp.ClientSession],
):
    port = free_port()
    running = await make_app(metrics_port=port)
    await scrape(port)
    # The listening socket is bound to 127.0.0.1 and nothing else.
    listening = {
        c.laddr.ip
        for c in psutil.Process().net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }
    assert listening == {"127.0.0.1"}
    # From the LAN: every other address of this host refuses the connection.
    others = lan_addresses()
    assert others, "this host has no address besides loopback to try from"
    for address in others:
        host = f"[{address}]" if ":" in address else address
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(f"http://{host}:{port}/metrics", timeout=aiohttp.ClientTimeout(5))
    # The console's listener (the one the LAN and, over TLS, staff reach) has no /metrics,
    # not even for an admin; neither has the relay's plain-HTTP ACME listener.
    user = await running.box.accounts.create_user("ops", "correct horse battery", "admin")
    admin = Agent(running, http_sessions(), user.id)
    assert (await admin.login("ops")).status == 302
    async with admin.http.get(running.url("/metrics")) as response:
        assert response.status == 404
    acme = acme_app(running.box.settings.data_dir)
    assert all(
        r.resource is None or "metrics" not in r.resource.canonical for r in acme.router.routes()
    )


def test_metrics_are_off_unless_a_port_is_set(monkeypatch):
    assert Settings().metrics_port == 0
    monkeypatch.setenv("CALLBOX_METRICS_PORT", "70000")
    with pytest.raises(SettingsError, match="metrics_port"):
        load_settings()
    monkeypatch.setenv("CALLBOX_METRICS_PORT", "9481")
    assert load_settings().metrics_port == 9481
