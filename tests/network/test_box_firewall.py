"""The box's firewall on its tunnel interface, against a relay that turned hostile.

The relay routes every packet of the tunnel and may forge its source (the box's
WireGuard accepts the whole tenant /24 from it). Here the relay's own namespace
plays that relay: it probes the box's overlay address from 100.64.0.1 and from a
staff address it gives itself (100.64.1.200), and even the box's LAN address through
the tunnel. The box (the real `appliance run`, enrolled with the real relay) must
answer it only on the visitor and ACME ports, answer its staff device on the
console's TLS port, keep its LAN console and other services (a TCP service bound to
0.0.0.0) out of reach, and take the table away with the interface.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appliance.relay.wireguard import public_key
from tests.network.topology import RELAY_IP, Daemon, Relay, Topology
from tests.testca import make_ca_and_server

pytestmark = pytest.mark.network

ACME = "chat.acme.test"
BOX = "100.64.1.1"
FORGED_STAFF = "100.64.1.200"  # a staff address the hostile relay takes for itself
OTHER_PORT = 9000  # another service on the box, bound to 0.0.0.0
AGENT_PORT = 9001  # a service on an agent PC of the box's LAN
BLOCKED = 1.0  # s a probe waits before calling a path closed (dropped: no answer)
GUARD_BACK = 15.0  # s the box may take to notice its table is gone (checks every 5 s)

_TUNNEL_DOWN = """
import asyncio, sys
from pathlib import Path
from appliance.relay import state
from appliance.relay.firewall import OverlayPorts
from appliance.relay.tunnel import Tunnel
from appliance.settings import load_settings

data, iface = Path(sys.argv[1]), sys.argv[2]
settings = load_settings({"data_dir": str(data)})
tunnel = Tunnel(state.load(data), state.private_key(data), iface, OverlayPorts.of(settings))
asyncio.run(tunnel.down())
"""


@dataclass
class Net:
    topo: Topology
    relay: Relay
    data: Path  # the box's data dir
    iface: str
    visitor_ca: Path
    console_ca: Path
    daemon: Daemon | None = None  # `appliance run`

    @property
    def table(self) -> str:
        return f"callbox_{self.iface}"

    def appliance(self, *args: str, input: str | None = None) -> str:
        cmd = [sys.executable, "-m", "appliance", "--data", str(self.data), *args]
        env = {"CALLBOX_TUNNEL_INTERFACE": self.iface}
        return self.topo.run("appliance-a", *cmd, input=input, env=env, timeout=60).stdout

    def tables(self) -> str:
        return self.topo.run("appliance-a", "nft", "list", "tables").stdout


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    work = tmp_path_factory.mktemp("box-firewall")
    with Topology(work) as topo:
        relay = Relay(topo, work / "relay")
        relay.init()
        relay.start()
        token = relay.add_tenant("acme", ACME)
        ca, cert, key = make_ca_and_server(work / "visitor-ca", [ACME])
        data, iface = work / "box", topo.wg_name("boxa")
        net = Net(topo, relay, data, iface, ca, data / "tls" / "console-ca.pem")
        enrolled = net.appliance("enroll", "--relay", RELAY_IP, "--token", token)
        assert "tunnel up" in enrolled and "warning" not in enrolled, enrolled
        net.appliance("cert", "import", "--cert", str(cert), "--key", str(key))
        cmd = [sys.executable, "-m", "appliance", "--data", str(data), "run"]
        cmd += ["--host", "0.0.0.0", "--port", "8080", "--no-mdns"]
        env = {"CALLBOX_TUNNEL_INTERFACE": iface, "CALLBOX_LANG": "en"}
        net.daemon = topo.spawn("appliance-a", *cmd, label="appliance-a", env=env)
        net.daemon.wait_for(r"^callbox: listening on port 8080", 30)
        for host, port in (("appliance-a", OTHER_PORT), ("agent-a", AGENT_PORT)):
            listen = ["listen", "--bind", "0.0.0.0", "--port", str(port)]
            topo.spawn_host(host, *listen, label=f"listen-{host}").wait_for(r"^READY ", 20)
        yield net
    assert topo.leftovers() == {"namespaces": [], "processes": [], "sockets": []}


@pytest.fixture(scope="module")
def staff(net: Net) -> str:
    """A staff laptop with the profile `appliance staff add` made; return its address."""
    out = net.appliance("staff", "add", "alice")
    address = re.search(r"device 'alice' at (\S+)", out)
    assert address, out
    conf = net.data / "staff" / "alice.conf"
    iface = net.topo.wg_name("alice")
    device = net.topo.spawn_host("staff-a", "profile", str(conf), "--iface", iface, label="alice")
    device.wait_for(r"^READY ", 20)
    return address.group(1)


def _probe(url: str, **extra: Any) -> dict[str, Any]:
    return {"url": url, "timeout": BLOCKED} | extra


def test_the_box_guards_its_tunnel_interface(net: Net) -> None:
    rules = net.topo.run("appliance-a", "nft", "list", "table", "inet", net.table).stdout
    assert f'iifname "{net.iface}" jump overlay' in rules
    assert f"ip saddr 100.64.0.1 ip daddr {BOX} tcp dport {{ 80, 443 }} accept" in rules
    assert (
        "ip saddr 100.64.1.0/24 ip saddr != 100.64.1.1 ip daddr 100.64.1.1 tcp dport 8443" in rules
    )


def test_a_hostile_relay_reaches_only_the_visitor_and_acme_ports(net: Net, staff: str) -> None:
    topo = net.topo
    assert staff == "100.64.1.2"
    topo.ip("relay", "address", "add", f"{FORGED_STAFF}/32", "dev", "lo")
    try:
        plain, plain_forged, other, other_forged, console, visitor, acme, forged_tls = topo.fetch(
            "relay",
            _probe(f"http://{BOX}:8080/login"),
            _probe(f"http://{BOX}:8080/login", bind=FORGED_STAFF),
            _probe(f"tcp://{BOX}:{OTHER_PORT}"),
            _probe(f"tcp://{BOX}:{OTHER_PORT}", bind=FORGED_STAFF),
            _probe(f"https://{BOX}:8443/login"),  # the relay is no staff device
            # 16 bytes, not a PROXY header: the box reads them and hangs up (an answer).
            _probe(f"tcp://{BOX}:443", send="GET / HTTP/1.1\r\n"),
            _probe(f"http://{BOX}:80/.well-known/acme-challenge/{'A' * 43}"),
            # Posing as staff, the relay reaches the console's TLS port, where the box
            # admits only the addresses of its own unexpired, unrevoked devices.
            _probe(f"https://{BOX}:8443/login", bind=FORGED_STAFF),
        )
    finally:
        topo.ip("relay", "address", "del", f"{FORGED_STAFF}/32", "dev", "lo")
    dropped = (plain, plain_forged, other, other_forged, console)
    assert [r.get("kind") for r in dropped] == ["timeout"] * 5, dropped
    assert visitor["ok"] and visitor["body"] == "", visitor
    assert acme["status"] == 404, acme
    assert forged_tls["status"] == 403, forged_tls  # an answer: TLS got through; no device

    # What the firewall lets through still works: a visitor through the relay, the
    # staff device on the console's TLS port, the LAN on the plain port.
    [page] = topo.fetch(
        "visitor",
        {
            "url": f"https://{ACME}/widget.js",
            "connect": f"{RELAY_IP}:443",
            "ca": str(net.visitor_ca),
        },
    )
    assert page["status"] == 200, page
    [console] = topo.fetch(
        "staff-a", {"url": f"https://{BOX}:8443/login", "ca": str(net.console_ca)}
    )
    assert console["status"] == 200, console
    lan, lan_other = topo.fetch(
        "agent-a", {"url": "http://10.0.1.2:8080/login"}, {"url": f"tcp://10.0.1.2:{OTHER_PORT}"}
    )
    assert lan["status"] == 200, lan
    assert json.loads(lan_other["body"])["service"] == "listen", lan_other


def test_a_hostile_relay_cannot_use_the_box_as_a_door_to_its_lan(net: Net) -> None:
    """Through the tunnel to the box's LAN address, and routed on to an agent PC."""
    topo = net.topo
    box_key = public_key((net.data / "wg.key").read_text().strip())
    relay_iface = net.relay.iface
    # The relay sends the office LAN into the box's tunnel; the box forwards (as a box
    # that also routes for containers or VMs does); the LAN routes the overlay back.
    peer = ["wg", "set", relay_iface, "peer", box_key, "allowed-ips"]
    topo.run("relay", *peer, "100.64.1.1/32,10.0.1.0/24")
    topo.ip("relay", "route", "add", "10.0.1.0/24", "dev", relay_iface)
    topo.run("appliance-a", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    topo.ip("agent-a", "route", "add", "100.64.0.0/10", "via", "10.0.1.2")
    try:
        lan_console, lan_other, agent = topo.fetch(
            "relay",
            _probe("http://10.0.1.2:8080/login"),
            _probe(f"tcp://10.0.1.2:{OTHER_PORT}"),
            _probe(f"tcp://10.0.1.3:{AGENT_PORT}"),
        )
    finally:
        topo.ip("agent-a", "route", "del", "100.64.0.0/10", "via", "10.0.1.2")
        topo.run("appliance-a", "sysctl", "-qw", "net.ipv4.ip_forward=0")
        topo.ip("relay", "route", "del", "10.0.1.0/24", "dev", relay_iface)
        topo.run("relay", *peer, "100.64.1.1/32")
    dropped = (lan_console, lan_other, agent)
    assert [r.get("kind") for r in dropped] == ["timeout"] * 3, dropped


def test_the_table_comes_back_stays_with_the_interface_and_goes_with_it(net: Net) -> None:
    topo, daemon = net.topo, net.daemon
    assert daemon is not None
    # A distribution's nftables reload flushes every table; the box loads its own again.
    topo.run("appliance-a", "nft", "flush", "ruleset")
    deadline = time.monotonic() + GUARD_BACK
    while net.table not in net.tables():
        assert time.monotonic() < deadline, "the box did not restore its table"
        time.sleep(0.2)
    assert "the tunnel's firewall was removed" in daemon.output()

    # `appliance run` stops; the interface stays up for a quick restart, guarded.
    assert daemon.stop(), daemon.output()[-2000:]
    topo.ip("appliance-a", "link", "show", "dev", net.iface)
    assert net.table in net.tables()

    topo.run("appliance-a", sys.executable, "-c", _TUNNEL_DOWN, str(net.data), net.iface)
    link = topo.run("appliance-a", "ip", "link", "show", "dev", net.iface, check=False)
    assert link.returncode != 0, link.stdout
    assert net.table not in net.tables()
