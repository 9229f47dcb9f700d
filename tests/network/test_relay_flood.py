"""Silent visitors against the real relay, with a small descriptor budget.

The relay runs under `prlimit --nofile=256` (what systemd's LimitNOFILE sets) with
its timeouts and caps shrunk through CALLBOX_RELAY_* settings. Silent visitors
send a complete ClientHello and then nothing (tests.network.silent_clients); the
stand-in appliance answers with its ServerHello and waits 30 s for the rest. The
relay must close both sides itself after its handshake timeout, refuse what is past
the per-source and total caps (and count it), and keep descriptors for its tunnel
API while the visitor path is full.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from relay_server.keys import generate_private_key, public_key

from tests.network.test_relay_hub import ACME, VISITOR_IP, Net
from tests.network.topology import RELAY_IP, Relay, Topology

pytestmark = pytest.mark.network

NOFILE = 256  # the relay's descriptor limit
FD_RESERVE = 64
PER_SOURCE = 30
HANDSHAKE_TIMEOUT = 4.0  # s
FLOOD_SOURCES = [f"198.51.100.{n}" for n in range(101, 105)]  # extra addresses of `visitor`
API_PER_SOURCE = 6  # open enrolment API connections from one source


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    work = tmp_path_factory.mktemp("relay-flood")
    env = {
        "CALLBOX_RELAY_HELLO_TIMEOUT": "1",
        "CALLBOX_RELAY_HANDSHAKE_TIMEOUT": str(HANDSHAKE_TIMEOUT),
        "CALLBOX_RELAY_VISITORS_PER_SOURCE": str(PER_SOURCE),
        "CALLBOX_RELAY_FD_RESERVE": str(FD_RESERVE),
        "CALLBOX_RELAY_API_CONNECTIONS_PER_SOURCE": str(API_PER_SOURCE),
    }
    with Topology(work) as topo:
        relay = Relay(
            topo, work / "relay", env=env, wrapper=("prlimit", f"--nofile={NOFILE}", "--")
        )
        relay.init()
        token = relay.add_tenant("acme", ACME)
        relay.start()
        net = Net(topo, relay, {}, {"a": token}, work)
        net.appliances["a"] = net.start_appliance("a", "appliance-a", ACME, token, "flood-a")
        line = net.appliances["a"].daemon.wait_for(r"^READY (.*)$", 20.0).group(1)
        net.appliances["a"].info = json.loads(line)
        for address in FLOOD_SOURCES:
            topo.ip("visitor", "address", "add", f"{address}/24", "dev", "eth0")
        yield net


def _relay_fds(net: Net) -> int:
    assert net.relay.daemon is not None
    return len(os.listdir(f"/proc/{net.relay.daemon.pid}/fd"))


def _close_wait(net: Net) -> int:
    out = net.topo.run("relay", "ss", "-Htan", "state", "close-wait").stdout
    return len(out.splitlines())


def _silent(
    net: Net, sources: list[str], per_source: int, hold: float, port: int = 443
) -> subprocess.Popen[str]:
    """Start silent visitors in `visitor`; return once they are all open."""
    proc = net.topo.popen(
        "visitor",
        sys.executable, "-m", "tests.network.silent_clients",
        "--connect", f"{RELAY_IP}:{port}",
        "--sni", ACME,
        "--sources", ",".join(sources),
        "--per-source", str(per_source),
        "--hold", str(hold),
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("READY "), "silent clients did not start"
    return proc


def _results(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    out, _ = proc.communicate(timeout=30)
    results: list[dict[str, Any]] = json.loads(out.strip().splitlines()[-1])
    return results


def _listen_overflows(net: Net) -> int:
    out = net.topo.run("appliance-a", "nstat", "-az", "TcpExtListenOverflows").stdout
    return sum(int(line.split()[1]) for line in out.splitlines() if line.startswith("TcpExt"))


def _delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0) - before.get(name, 0)


def test_silent_visitors_are_closed_on_both_sides_and_capped_per_source(net: Net) -> None:
    fds, before = _relay_fds(net), net.relay.metrics()
    proc = _silent(net, [VISITOR_IP], PER_SOURCE + 10, hold=HANDSHAKE_TIMEOUT + 4)
    results = _results(proc)
    refused = [r for r in results if r["bytes"] == 0]
    passed = [r for r in results if r["bytes"] > 0]  # the appliance's ServerHello came back
    assert (len(passed), len(refused)) == (PER_SOURCE, 10), results
    for r in refused:
        assert r["closed"] is not None and r["closed"] < 1.0, r
    # Closed by the relay after its handshake timeout (the box would wait 30 s).
    for r in passed:
        assert r["closed"] is not None, r
        assert HANDSHAKE_TIMEOUT - 0.2 < r["closed"] < HANDSHAKE_TIMEOUT + 2, r
    after = net.relay.metrics()
    assert _delta(before, after, 'callbox_relay_refused_total{reason="per_source_limit"}') == 10
    assert _delta(before, after, 'callbox_relay_closed_total{reason="handshake_timeout"}') == (
        PER_SOURCE
    )
    # Both sides are closed: no socket to the box left in CLOSE-WAIT, descriptors back.
    assert _close_wait(net) == 0
    assert _relay_fds(net) <= fds + 4, (fds, _relay_fds(net))
    assert after["callbox_relay_visitors_open"] == 0


@pytest.mark.timeout(60)
def test_the_tunnel_api_answers_while_the_visitor_path_is_full(net: Net) -> None:
    before = net.relay.metrics()
    capacity = int(before["callbox_relay_visitor_capacity"])
    assert 0 < capacity < len(FLOOD_SOURCES) * PER_SOURCE, capacity
    flood_started = time.monotonic()
    proc = _silent(net, FLOOD_SOURCES, PER_SOURCE, hold=HANDSHAKE_TIMEOUT + 3)
    try:
        # The descriptors the visitors may not take keep the tunnel API working.
        staff = {"name": "flood-test", "public_key": "x" * 43 + "="}  # not canonical
        bad = net.tunnel_api("a", "POST", "/staff", staff)
        assert bad.get("status") == 422, bad  # a clear refusal, not a 500
        staff["public_key"] = public_key(generate_private_key())
        added = net.tunnel_api("a", "POST", "/staff", staff)
        assert added.get("status") == 201, added
        revoked = net.tunnel_api("a", "DELETE", "/staff/flood-test")
        assert revoked.get("status") == 200, revoked
        full = net.relay.metrics()
        assert time.monotonic() - flood_started < HANDSHAKE_TIMEOUT, "too slow to check"
        assert full["callbox_relay_visitors_open"] == capacity
        refused = len(FLOOD_SOURCES) * PER_SOURCE - capacity
        assert _delta(before, full, 'callbox_relay_refused_total{reason="relay_full"}') == refused
    finally:
        results = _results(proc)
    # The stand-in box took every connection the relay passed on at once (a full
    # accept queue there drops SYNs, and a retried one can land past the timeout).
    assert _listen_overflows(net) == 0
    assert sum(r["bytes"] > 0 for r in results) == capacity
    # Once the silent ones are closed, a real visitor gets through again.
    [visit] = net.fetch("visitor", net.visit(ACME))
    assert visit.get("status") == 200, visit
    assert _close_wait(net) == 0


def test_the_enrolment_api_holds_a_bounded_number_of_connections_per_source(net: Net) -> None:
    # Strangers reach the enrolment API: idle TLS connections from one source are
    # capped by the relay's nftables table (a TCP reset past the cap), so they cannot
    # take the descriptors the relay keeps for its tunnel API.
    fds = _relay_fds(net)
    flood = _silent(net, [VISITOR_IP], API_PER_SOURCE + 10, hold=3, port=8443)
    other = _silent(net, [FLOOD_SOURCES[0]], 1, hold=3, port=8443)
    results, others = _results(flood), _results(other)
    answered = [r for r in results if r["bytes"] > 0]  # the API's ServerHello came back
    refused = [r for r in results if r["bytes"] == 0]
    assert (len(answered), len(refused)) == (API_PER_SOURCE, 10), results
    assert all(r["closed"] is not None and r["closed"] < 1.0 for r in refused), refused
    assert others[0]["bytes"] > 0, others  # another source is not held back
    assert _relay_fds(net) <= fds + 2 * (API_PER_SOURCE + 1) + 4
