"""The test network itself: offices behind NAT with no way in, and nothing left after."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.network.topology import RELAY_IP, WG_RUN_DIR, Topology

pytestmark = pytest.mark.network

_WG_ENV = {"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}
BLOCKED = 1.0  # s a probe waits before calling a path blocked (dropped packets)
_EMPTY: dict[str, list[str]] = {"namespaces": [], "processes": [], "sockets": []}


def _peer(result: dict[str, object]) -> str:
    assert result["ok"], result
    return str(json.loads(str(result["body"]))["peer"])


def test_offices_reach_out_through_nat_and_nothing_reaches_in(tmp_path: Path) -> None:
    with Topology(tmp_path / "net") as topo:
        listeners = [
            topo.spawn_host(host, "listen", "--bind", address, "--port", "9000", label=host)
            for host, address in (
                ("relay", RELAY_IP), ("appliance-a", "10.0.1.2"), ("appliance-b", "10.0.2.2")
            )
        ]  # fmt: skip
        for daemon in listeners:
            daemon.wait_for("^READY")

        # Out: each office's hosts appear on the internet as their gateway's address.
        out_a, lan, out_b = (
            topo.fetch("appliance-a", {"url": f"tcp://{RELAY_IP}:9000"}, {"url": "tcp://10.0.1.2:9000"})
            + topo.fetch("appliance-b", {"url": f"tcp://{RELAY_IP}:9000"})
        )  # fmt: skip
        assert _peer(out_a).startswith("198.51.100.30:")
        assert _peer(out_b).startswith("198.51.100.31:")
        assert _peer(lan).startswith("10.0.1.2:")  # on the LAN itself, no NAT
        [agent] = topo.fetch("agent-a", {"url": "tcp://10.0.1.2:9000"})
        assert _peer(agent).startswith("10.0.1.3:")

        # In: even a host that routes the office LAN via the gateway gets nothing through
        # (no port forwards; the gateway forwards only replies), nor does the other office.
        topo.ip("relay", "route", "add", "10.0.1.0/24", "via", "198.51.100.30")
        topo.ip("gw-b", "route", "add", "10.0.1.0/24", "via", "198.51.100.30")
        tried = topo.fetch_all(
            {
                "relay": [
                    {"url": "tcp://10.0.1.2:9000", "timeout": BLOCKED},
                    {"url": "tcp://198.51.100.30:9000"},
                ],
                "appliance-b": [{"url": "tcp://10.0.1.2:9000", "timeout": BLOCKED}],
            }
        )
        [from_relay, gateway], [from_b] = tried["relay"], tried["appliance-b"]
        assert from_relay["kind"] == "timeout", from_relay
        assert from_b["kind"] == "timeout", from_b
        assert gateway["kind"] == "refused", gateway  # nothing listens on the WAN side

        # Names are tagged, so two topologies coexist.
        with Topology(tmp_path / "other") as other:
            assert other.ns("relay") != topo.ns("relay")
            assert other.wg_name("relay") != topo.wg_name("relay")
            [mine] = other.fetch("appliance-a", {"url": f"tcp://{RELAY_IP}:9000"})
            assert mine["kind"] == "refused", mine  # its own relay host, not ours
    assert topo.leftovers() == _EMPTY
    assert other.leftovers() == _EMPTY


def test_close_ends_processes_and_wireguard_even_when_a_test_fails(tmp_path: Path) -> None:
    topo = Topology(tmp_path / "net")
    with pytest.raises(RuntimeError, match="midway"), topo:
        sleeper = topo.spawn("visitor", "sleep", "300", label="sleeper")
        child = topo.popen("relay", "sleep", "300")
        for host, label in (("staff-a", "left"), ("staff-b", "stale")):
            topo.run(host, "wireguard-go", topo.wg_name(label), env=_WG_ENV)
            topo.run(host, "ip", "link", "set", topo.wg_name(label), "up")
        # A daemon is not a child of the test process (so it may outlive one test).
        assert sleeper.pid not in {p.pid for p in psutil.Process().children(recursive=True)}
        assert sleeper.alive()
        # A wireguard-go killed outright leaves its control socket behind.
        [stale] = topo.pids("staff-b")
        os.kill(stale, signal.SIGKILL)
        assert (WG_RUN_DIR / f"{topo.wg_name('stale')}.sock").exists()
        assert len(topo.leftovers()["namespaces"]) == len(topo.hosts)
        raise RuntimeError("the test failed midway")
    assert topo.leftovers() == _EMPTY
    assert not sleeper.alive()
    assert child.poll() is not None
    listed = subprocess.run(["ip", "link"], capture_output=True, text=True, check=True).stdout
    assert topo.wg_prefix not in listed
