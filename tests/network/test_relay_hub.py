"""The real relay between network namespaces, with real wireguard-go.

One topology, one `relay-server run` and two stand-in appliances (tests.network.hosts
`appliance`, until the real appliance side exists) per module: they are daemons (see
topology.Topology.spawn), so they outlive single tests without tripping the per-test
leak check, and the restart test can kill the relay and start it again. Whatever a
test starts itself (staff devices, tcpdump, held connections) it also ends.

Tenant acme's appliance sits behind office A's NAT and runs a tunnel watchdog that
resets its relay peer when the tunnel API stops answering; tenant beta's (office B)
only sends the same health checks and relies on WireGuard's own timers. A path
that must be closed is checked by a connection that times out (dropped packets),
always next to one from the same host that gets through.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from relay_server.keys import generate_private_key, public_key
from relay_server.tokens import EnrolmentToken, decode

from tests.network.topology import RELAY_IP, Daemon, Relay, Topology, host_cmd, pcap_count
from tests.testca import make_ca_and_server

pytestmark = pytest.mark.network

ACME, BETA = "chat.acme.test", "chat.beta.test"
VISITOR_IP = "198.51.100.10"
HELLO_TIMEOUT = 1.0  # s, set through CALLBOX_RELAY_HELLO_TIMEOUT
BLOCKED = 1.0  # s a probe waits before calling a path closed (the relay drops, silently)
TUNNEL_API = "http://100.64.0.1:8081/v1"
STAFF_PORT = 7000  # hosts.STAFF_PORT: what a staff device serves on its overlay address


@dataclass
class Appliance:
    office: str  # "a" or "b"
    host: str  # the namespace host it runs in
    hostname: str
    ca: Path
    cert: Path
    key: Path
    daemon: Daemon
    info: dict[str, Any]  # the relay's enrolment answer, plus public_key and iface

    @property
    def address(self) -> str:
        return str(self.info["address"])


@dataclass
class StaffDevice:
    name: str
    host: str
    address: str
    public_key: str
    iface: str
    daemon: Daemon


def _ready(daemon: Daemon, timeout: float = 20.0) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(daemon.wait_for(r"^READY (.*)$", timeout).group(1))
    return info


def _events(proc: subprocess.Popen[str]) -> Iterator[dict[str, Any]]:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("EVENT "):
            yield json.loads(line[len("EVENT ") :])


@dataclass
class Net:
    """The module's network, relay and appliances, with helpers."""

    topo: Topology
    relay: Relay
    appliances: dict[str, Appliance]
    tokens: dict[str, str]
    work: Path

    def visit(
        self, hostname: str, path: str = "/", *, verify: bool = True, **extra: Any
    ) -> dict[str, Any]:
        """A visitor's HTTPS request to the relay's 443, verified with the tenant's CA."""
        request = {"url": f"https://{hostname}{path}", "connect": f"{RELAY_IP}:443"}
        ca = {a.hostname: a.ca for a in self.appliances.values()}.get(hostname)
        if verify and ca:
            request["ca"] = str(ca)
        return request | extra

    def fetch(self, host: str, *requests: dict[str, Any]) -> list[dict[str, Any]]:
        return self.topo.fetch(host, *requests)

    def tunnel_api(self, office: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """Call the relay's tunnel API from an appliance's overlay address."""
        request: dict[str, Any] = {"url": f"{TUNNEL_API}{path}", "method": method}
        if body is not None:
            request["json"] = body
        [result] = self.fetch(f"appliance-{office}", request)
        return result

    def relay_peers(self) -> dict[str, str]:
        """Return {public key: endpoint} of the relay's WireGuard peers."""
        out = self.topo.run("relay", "wg", "show", self.relay.iface, "endpoints").stdout
        return dict(line.split("\t") for line in out.splitlines())

    def add_staff(
        self, name: str, host: str, office: str, expires_at: int | None = None
    ) -> StaffDevice:
        """Register a staff device through appliance `office` and bring it up in `host`."""
        private = generate_private_key()
        key_file = self.work / f"staff-{name}.key"
        key_file.touch(mode=0o600)
        key_file.write_text(private)
        body: dict[str, Any] = {"name": name, "public_key": public_key(private)}
        if expires_at is not None:
            body["expires_at"] = expires_at
        registered = self.tunnel_api(office, "POST", "/staff", body)
        assert registered.get("status") == 201, registered
        address = registered["json"]["address"]
        iface = self.topo.wg_name(name[:6])
        daemon = self.topo.spawn_host(
            host,
            "staff",
            "--name", name,
            "--key-file", str(key_file),
            "--address", address,
            "--relay-key", self.relay.public_key,
            "--endpoint", f"{RELAY_IP}:51820",
            "--iface", iface,
            label=f"staff-{name}",
        )  # fmt: skip
        _ready(daemon)
        return StaffDevice(name, host, address, public_key(private), iface, daemon)

    def start_appliance(
        self, office: str, host: str, hostname: str, token: str, label: str, *flags: str
    ) -> Appliance:
        """Start a stand-in appliance daemon that enrols with `token`."""
        ca, cert, key = make_ca_and_server(self.work / f"tls-{label}", [hostname])
        token_file = self.work / f"token-{label}"
        token_file.touch(mode=0o600)
        token_file.write_text(token)
        daemon = self.topo.spawn_host(
            host,
            "appliance",
            "--token-file", str(token_file),
            "--iface", self.topo.wg_name(label.replace("-", "")[:6]),
            "--cert", str(cert),
            "--key", str(key),
            *flags,
            label=label,
        )  # fmt: skip
        return Appliance(office, host, hostname, ca, cert, key, daemon, {})


def _reached(result: dict[str, Any], service: str, tenant: str) -> dict[str, Any]:
    assert result["ok"] and result["status"] == 200, result
    body: dict[str, Any] = result["json"]
    assert (body["service"], body["tenant"]) == (service, tenant), body
    return body


def _blocked(result: dict[str, Any]) -> None:
    assert not result["ok"] and result["kind"] == "timeout", result


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    work = tmp_path_factory.mktemp("relay-hub")
    with Topology(work, extra_hosts={"staff-c": "198.51.100.22"}) as topo:
        relay = Relay(topo, work / "relay", env={"CALLBOX_RELAY_HELLO_TIMEOUT": str(HELLO_TIMEOUT)})
        relay.init()
        tokens = {"a": relay.add_tenant("acme", ACME), "b": relay.add_tenant("beta", BETA)}
        relay.start()
        net = Net(topo, relay, {}, tokens, work)
        for office, hostname, reset_after in (("a", ACME, "2"), ("b", BETA, "0")):
            net.appliances[office] = net.start_appliance(
                office,
                f"appliance-{office}",
                hostname,
                tokens[office],
                f"app-{office}",
                "--watchdog", "1",
                "--reset-after", reset_after,
            )  # fmt: skip
        for appliance in net.appliances.values():
            appliance.info = _ready(appliance.daemon)
        yield net


@pytest.fixture(scope="module")
def staff(net: Net) -> Iterator[dict[str, StaffDevice]]:
    """alice and carol work for acme (carol from office A's LAN, behind its NAT); bob for beta."""
    devices = {
        "alice": net.add_staff("alice", "staff-a", "a"),
        "bob": net.add_staff("bob", "staff-b", "b"),
        "carol": net.add_staff("carol", "agent-a", "a"),
    }
    yield devices
    for device in devices.values():
        device.daemon.stop()


def test_appliances_enrol_from_behind_nat_with_a_pinned_one_time_token(net: Net) -> None:
    a, b = net.appliances["a"].info, net.appliances["b"].info
    assert (a["tenant"], a["address"], a["network"]) == ("acme", "100.64.1.1", "100.64.1.0/24")
    assert (b["tenant"], b["address"], b["network"]) == ("beta", "100.64.2.1", "100.64.2.0/24")
    assert a["endpoint"] == f"{RELAY_IP}:51820"
    assert a["relay_public_key"] == net.relay.public_key
    # The relay knows each box by its key, at its office gateway's address: the box
    # dialled out through NAT, no port forward.
    peers = net.relay_peers()
    assert peers[a["public_key"]].startswith("198.51.100.30:")
    assert peers[b["public_key"]].startswith("198.51.100.31:")
    listing = net.relay.cli("tenant", "list")
    assert [line.split()[3] for line in listing.splitlines()[1:]] == ["yes", "yes"]

    # A token is spent once.
    again = net.topo.host("appliance-a", "enrol", "--token-file", str(net.work / "token-app-a"))
    assert not again["ok"] and "403" in again["error"] and "token_refused" in again["error"]
    # A token pinning another certificate: the client stops before sending the secret.
    token = decode(net.tokens["a"])
    forged = net.work / "token-forged"
    forged.write_text(EnrolmentToken(token.api, "ab" * 32, token.secret, token.expires).encode())
    refused = net.topo.host("appliance-a", "enrol", "--token-file", str(forged))
    assert refused == {"ok": False, "error": refused["error"]}
    assert "does not match the token's fingerprint" in refused["error"]


def test_visitors_reach_their_tenants_appliance_by_sni(net: Net) -> None:
    acme, beta, unknown, no_sni = net.fetch(
        "visitor",
        net.visit(ACME, "/chat?lang=en"),
        net.visit(BETA),
        net.visit("unknown.test"),
        {"url": f"https://{RELAY_IP}/"},  # an address, so no SNI
    )
    seen = _reached(acme, "visitor", "acme")
    # The PROXY v2 header carried the visitor's own address to the appliance; the
    # TCP peer is the relay's overlay address; TLS was verified with acme's CA.
    assert seen["source"].startswith(f"{VISITOR_IP}:")
    assert seen["destination"] == f"{RELAY_IP}:443"
    assert seen["peer"].startswith("100.64.0.1:")
    assert seen["request"] == "GET /chat?lang=en HTTP/1.1"
    assert _reached(beta, "visitor", "beta")["source"].startswith(f"{VISITOR_IP}:")
    for closed in (unknown, no_sni):
        assert not closed["ok"] and closed["kind"] in ("eof", "reset"), closed


def test_a_client_that_sends_no_hello_is_closed_after_the_hello_timeout(net: Net) -> None:
    before = net.relay.metrics()
    tls, http = net.fetch(
        "visitor",
        {"url": f"tcp://{RELAY_IP}:443", "timeout": 10},
        {"url": f"tcp://{RELAY_IP}:80", "timeout": 10},
    )
    for result in (tls, http):
        assert result["ok"] and result["body"] == "", result  # closed by the relay
        assert HELLO_TIMEOUT - 0.1 < result["elapsed"] < HELLO_TIMEOUT + 2, result
    after = net.relay.metrics()
    for reason in ("slow_client_hello", "bad_http_request"):
        name = f'callbox_relay_refused_total{{reason="{reason}"}}'
        assert after[name] == before.get(name, 0) + 1


def test_port_80_redirects_to_https_and_passes_acme_challenges(net: Net) -> None:
    challenge = "/.well-known/acme-challenge/" + secrets.token_urlsafe(16)
    relay_80 = f"{RELAY_IP}:80"
    redirect, acme, beta, unknown, unknown_challenge = net.fetch(
        "visitor",
        {"url": f"http://{ACME}/pricing?plan=pro", "connect": relay_80},
        {"url": f"http://{ACME}{challenge}", "connect": relay_80},
        {"url": f"http://{BETA}{challenge}", "connect": relay_80},
        {"url": "http://unknown.test/", "connect": relay_80},
        {"url": f"http://unknown.test{challenge}", "connect": relay_80},
    )
    assert redirect["status"] == 308, redirect
    assert redirect["headers"]["location"] == f"https://{ACME}/pricing?plan=pro"
    passed = _reached(acme, "acme", "acme")
    assert passed["request"] == f"GET {challenge} HTTP/1.1"
    assert passed["host"] == ACME
    assert passed["peer"].startswith("100.64.0.1:")
    assert _reached(beta, "acme", "beta")["request"] == f"GET {challenge} HTTP/1.1"
    for closed in (unknown, unknown_challenge):
        assert not closed["ok"] and closed["kind"] in ("eof", "reset"), closed


def test_the_relay_sees_only_ciphertext(net: Net) -> None:
    in_path, in_header = secrets.token_hex(12), secrets.token_hex(12)
    pcap = net.work / "visit.pcap"
    tcpdump = net.topo.popen(
        "relay",
        "tcpdump", "-i", "any", "-nn", "--immediate-mode", "-U", "-Z", "root", "-w", str(pcap),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert tcpdump.stderr is not None
    try:
        while "listening on" not in (line := tcpdump.stderr.readline()):
            assert line, "tcpdump did not start"
        [answer] = net.fetch(
            "visitor", net.visit(ACME, f"/private/{in_path}", headers={"X-Marker": in_header})
        )
    finally:
        tcpdump.send_signal(signal.SIGINT)
        tcpdump.wait(timeout=10)
        tcpdump.stderr.close()
    seen = _reached(answer, "visitor", "acme")
    assert (seen["request"], seen["marker"]) == (f"GET /private/{in_path} HTTP/1.1", in_header)

    captured = pcap.read_bytes()
    assert in_path.encode() not in captured
    assert in_header.encode() not in captured
    # The capture did see the exchange: the SNI (plaintext in a ClientHello), the
    # visitor's TLS on the WAN, the WireGuard datagrams, and the relay's TCP to the
    # appliance inside the tunnel, which is still the visitor's TLS.
    assert ACME.encode() in captured

    assert pcap_count(pcap, f"tcp port 443 and host {VISITOR_IP}") > 0
    assert pcap_count(pcap, "udp port 51820") > 0
    assert pcap_count(pcap, "tcp port 443 and host 100.64.1.1") > 0
    # Nor does the relay log who visited or what they sent.
    log = net.relay.daemon.output() if net.relay.daemon else ""
    assert VISITOR_IP not in log and in_path not in log


def test_metrics_count_traffic_and_ready_answers(net: Net) -> None:
    before = net.relay.metrics()
    for result, tenant in zip(
        net.fetch("visitor", net.visit(ACME), net.visit(BETA)), ("acme", "beta"), strict=True
    ):
        _reached(result, "visitor", tenant)
    after = net.relay.metrics()
    for tenant in ("acme", "beta"):
        label = f'{{tenant="{tenant}"}}'
        assert after["callbox_relay_connections_total" + label] == (
            before.get("callbox_relay_connections_total" + label, 0) + 1
        )
        for counter in ("callbox_relay_bytes_in_total", "callbox_relay_bytes_out_total"):
            assert after[counter + label] > before.get(counter + label, 0)
        handshake = after["callbox_relay_last_handshake_seconds" + label]
        assert time.time() - 180 < handshake <= time.time() + 1
    assert net.relay.scrape("/ready")["json"] == {"ready": True, "tenants": 2}
    # The metrics listener is not on the internet.
    [outside] = net.fetch("visitor", {"url": f"http://{RELAY_IP}:9480/metrics"})
    assert outside["kind"] == "refused", outside


def test_staff_reach_only_their_own_appliance_console(
    net: Net, staff: dict[str, StaffDevice]
) -> None:
    alice, bob, carol = staff["alice"], staff["bob"], staff["carol"]
    assert (alice.address, bob.address, carol.address) == ("100.64.1.2", "100.64.2.2", "100.64.1.3")

    def console(address: str) -> dict[str, Any]:
        return {"url": f"https://{address}:8443/"}

    def closed(url: str) -> dict[str, Any]:
        return {"url": url, "timeout": BLOCKED}

    results = net.topo.fetch_all(
        {
            alice.host: [
                console("100.64.1.1"),
                closed("tcp://100.64.1.1:443"),  # the visitor port, not over the overlay
                closed("http://100.64.1.1:80/"),
                closed("https://100.64.2.1:8443/"),  # the other tenant's console
                closed(f"tcp://{carol.address}:{STAFF_PORT}"),  # a colleague's laptop
                closed(f"tcp://{bob.address}:{STAFF_PORT}"),
            ],
            bob.host: [
                console("100.64.2.1"),
                closed("https://100.64.1.1:8443/"),
                closed(f"tcp://{alice.address}:{STAFF_PORT}"),
            ],
            carol.host: [
                console("100.64.1.1"),  # from office A's LAN, through its NAT and the relay
                closed(f"tcp://{alice.address}:{STAFF_PORT}"),
            ],
        }
    )
    from_alice, from_bob, from_carol = results[alice.host], results[bob.host], results[carol.host]
    # The console sees the staff device's own overlay address: the relay routes, no NAT.
    assert _reached(from_alice[0], "console", "acme")["peer"].startswith(f"{alice.address}:")
    assert _reached(from_bob[0], "console", "beta")["peer"].startswith(f"{bob.address}:")
    assert _reached(from_carol[0], "console", "acme")["peer"].startswith(f"{carol.address}:")
    for result in from_alice[1:] + from_bob[1:] + from_carol[1:]:
        _blocked(result)

    listing = net.tunnel_api("a", "GET", "/staff")
    assert [s["name"] for s in listing["json"]["staff"]] == ["alice", "carol"]


def test_only_an_appliance_may_use_the_tunnel_api(net: Net, staff: dict[str, StaffDevice]) -> None:
    alice = staff["alice"]
    key = public_key(generate_private_key())
    listing, adding = net.fetch(
        alice.host,
        {"url": f"{TUNNEL_API}/staff"},
        {"url": f"{TUNNEL_API}/staff", "method": "POST", "json": {"name": "x", "public_key": key}},
    )  # fmt: skip
    assert listing["status"] == 403 and adding["status"] == 403
    # Posing as the appliance: WireGuard drops a packet whose source address is not
    # within the sending peer's allowed IPs, so there is no answer at all.
    net.topo.ip(alice.host, "address", "add", "100.64.1.1/32", "dev", alice.iface)
    try:
        [spoofed] = net.fetch(
            alice.host, {"url": f"{TUNNEL_API}/staff", "bind": "100.64.1.1", "timeout": BLOCKED}
        )
    finally:
        net.topo.ip(alice.host, "address", "del", "100.64.1.1/32", "dev", alice.iface)
    _blocked(spoofed)
    assert key not in net.relay_peers()


def test_no_path_across_tenants_to_staff_or_in_from_the_internet(
    net: Net, staff: dict[str, StaffDevice]
) -> None:
    a = net.appliances["a"]
    # Appliance A, given a route to tenant B's /24 (it normally routes only its own).
    net.topo.ip(a.host, "route", "add", "100.64.2.0/24", "dev", a.info["iface"])
    # An internet host that routes the whole overlay to the relay.
    net.topo.ip("visitor", "route", "add", "100.64.0.0/10", "via", RELAY_IP)
    try:
        results = net.topo.fetch_all(
            {
                a.host: [
                    {"url": f"{TUNNEL_API}/status"},
                    {"url": "https://100.64.2.1:8443/", "timeout": BLOCKED},
                    {"url": "tcp://100.64.2.1:443", "timeout": BLOCKED},
                    {"url": f"tcp://{staff['bob'].address}:{STAFF_PORT}", "timeout": BLOCKED},
                    # new connections from an appliance to its own staff devices, too
                    {"url": f"tcp://{staff['alice'].address}:{STAFF_PORT}", "timeout": BLOCKED},
                ],
                "visitor": [
                    net.visit(ACME),
                    {"url": "https://100.64.1.1:8443/", "timeout": BLOCKED},
                    {"url": "tcp://100.64.1.1:443", "timeout": BLOCKED},
                    {"url": f"tcp://{staff['alice'].address}:{STAFF_PORT}", "timeout": BLOCKED},
                ],
            }
        )
    finally:
        net.topo.ip(a.host, "route", "del", "100.64.2.0/24", "dev", a.info["iface"])
        net.topo.ip("visitor", "route", "del", "100.64.0.0/10", "via", RELAY_IP)
    from_a, from_internet = results[a.host], results["visitor"]
    assert from_a[0]["status"] == 200, from_a[0]
    _reached(from_internet[0], "visitor", "acme")
    for result in from_a[1:] + from_internet[1:]:
        _blocked(result)


def test_the_tunnel_api_is_reachable_only_through_the_tunnel(net: Net) -> None:
    net.topo.ip("visitor", "route", "add", "100.64.0.1/32", "via", RELAY_IP)
    try:
        [outside] = net.fetch("visitor", {"url": f"{TUNNEL_API}/status", "timeout": BLOCKED})
    finally:
        net.topo.ip("visitor", "route", "del", "100.64.0.1/32", "via", RELAY_IP)
    assert not outside["ok"], outside


def test_a_revoked_staff_device_is_cut_off_within_seconds(net: Net) -> None:
    dave = net.add_staff("dave", "staff-c", "a")
    hold = net.topo.popen(
        dave.host,
        *host_cmd("hold", f"https://{ACME}/echo", "--connect", "100.64.1.1:8443", "--max", "20"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        events = _events(hold)
        assert next(events)["event"] == "up"  # a console connection, pinged every 0.1 s
        revoked_at = time.time()
        revoked = net.tunnel_api("a", "DELETE", "/staff/dave")
        assert revoked["status"] == 200 and revoked["json"] == {"revoked": "dave"}, revoked
        assert dave.public_key not in net.relay_peers()  # gone before the API answered
        stalled = next(events)
        assert stalled["event"] == "stalled", stalled
        assert stalled["time"] - revoked_at < 3, stalled  # the held connection, too
        [again] = net.fetch(dave.host, {"url": "https://100.64.1.1:8443/", "timeout": BLOCKED})
        _blocked(again)
    finally:
        if hold.poll() is None:
            hold.kill()
        hold.wait(timeout=10)
        assert hold.stdout is not None
        hold.stdout.close()
        dave.daemon.stop()
    names = [s["name"] for s in net.tunnel_api("a", "GET", "/staff")["json"]["staff"]]
    assert "dave" not in names


@pytest.mark.timeout(60)
def test_an_expired_device_is_cut_off_on_the_relays_clock_and_a_renewed_one_is_back(
    net: Net,
) -> None:
    """The box told the relay the expiry when it registered the device, and says
    nothing more: the relay drops the peer when the time comes, by itself (the box may
    be unreachable by then). Renewing puts the same key and address back."""
    expires_at = int(time.time()) + 8
    erin = net.add_staff("erin", "staff-c", "a", expires_at=expires_at)
    try:
        [before] = net.fetch(erin.host, {"url": "https://100.64.1.1:8443/"})
        _reached(before, "console", "acme")

        def listed() -> dict[str, Any]:
            staff = net.tunnel_api("a", "GET", "/staff")["json"]["staff"]
            return next(s for s in staff if s["name"] == "erin")

        assert (listed()["expires_at"], listed()["active"]) == (expires_at, True)
        seen = time.monotonic() + 3  # the relay reads its peers' handshakes every second
        while not listed()["latest_handshake"]:
            assert time.monotonic() < seen, "no handshake of the device reported"
            time.sleep(0.2)

        deadline = time.monotonic() + 10
        while erin.public_key in net.relay_peers():
            assert time.monotonic() < deadline, "the relay kept the expired device's peer"
            time.sleep(0.2)
        assert time.time() >= expires_at  # not a moment before its time
        [after] = net.fetch(erin.host, {"url": "https://100.64.1.1:8443/", "timeout": BLOCKED})
        _blocked(after)
        assert listed()["active"] is False  # still registered: it can be renewed

        renewed = net.tunnel_api("a", "PUT", "/staff/erin", {"expires_at": expires_at + 3600})
        assert renewed["status"] == 200, renewed
        assert erin.public_key in net.relay_peers()  # back before the API answered
        deadline = time.monotonic() + 20  # the device handshakes again when it next sends
        while True:
            [again] = net.fetch(erin.host, {"url": "https://100.64.1.1:8443/", "timeout": 2})
            if again["ok"] or time.monotonic() > deadline:
                break
        _reached(again, "console", "acme")
    finally:
        erin.daemon.stop()
        net.tunnel_api("a", "DELETE", "/staff/erin")


@pytest.mark.timeout(60)
def test_a_replaced_appliance_is_reachable_after_re_enrolment(net: Net) -> None:
    token = net.relay.add_tenant("gamma", "chat.gamma.test")
    first = net.start_appliance("g", "agent-b", "chat.gamma.test", token, "gamma-1")
    first.info = _ready(first.daemon)
    try:
        _reached(
            net.fetch("visitor", net.visit("chat.gamma.test", verify=False))[0], "visitor", "gamma"
        )
        first.daemon.stop()  # the box is swapped: a new token, a new WireGuard key
        token = net.relay.cli("tenant", "token", "gamma").strip().splitlines()[-1]
        second = net.start_appliance("g", "agent-b", "chat.gamma.test", token, "gamma-2")
        second.info = _ready(second.daemon)
        assert second.info["public_key"] != first.info["public_key"]
        deadline = time.monotonic() + 4  # the relay polls its registry every second
        while True:
            [result] = net.fetch("visitor", net.visit("chat.gamma.test", verify=False, timeout=1))
            if result["ok"] or time.monotonic() > deadline:
                break
        _reached(result, "visitor", "gamma")
    finally:
        for daemon in net.topo.daemons:
            if daemon.label.startswith("gamma-"):
                daemon.stop()
        net.relay.cli("tenant", "remove", "gamma")


@pytest.mark.timeout(90)
def test_tunnels_come_back_after_the_relay_crashes_and_restarts(net: Net) -> None:
    """What it takes on the appliance side to come back after a relay restart.

    The new relay has the peers (from its registry) but no sessions and no endpoints,
    so it cannot reach a box first; the box's packets under the old session are
    dropped. The box must handshake again: keepalives alone do not make WireGuard do
    that before the session is 2-3 minutes old (Rekey-After-Time), but *data* with no
    answer does, after 15 s (beta). A box that checks the tunnel (GET /v1/status
    every second) and, after two failures, removes and re-adds its relay peer
    handshakes at once (acme): back within about 3 s. Staff devices are in beta's
    position: they come back 15 s after they next send something.
    """
    a, b = net.appliances["a"], net.appliances["b"]
    for result, tenant in zip(
        net.fetch("visitor", net.visit(ACME), net.visit(BETA)), ("acme", "beta"), strict=True
    ):
        _reached(result, "visitor", tenant)

    net.relay.kill()
    # A crash leaves the relay's wireguard-go and firewall table behind...
    net.topo.ip("relay", "link", "show", net.relay.iface)
    assert "callbox_relay" in net.topo.run("relay", "nft", "list", "tables").stdout
    [down] = net.fetch("visitor", net.visit(ACME))
    assert down["kind"] == "refused", down
    marks = {office: len(app.daemon.output()) for office, app in net.appliances.items()}
    # ...and the next start replaces both.
    net.relay.start()
    started = time.monotonic()
    back: dict[str, float] = {}
    while len(back) < 2 and time.monotonic() - started < 45:
        results = net.fetch("visitor", net.visit(ACME, timeout=1), net.visit(BETA, timeout=1))
        for tenant, result in zip(("acme", "beta"), results, strict=True):
            if result["ok"] and tenant not in back:
                back[tenant] = round(time.monotonic() - started, 1)
        time.sleep(0.2)
    print(f"tunnels back after the relay restart (s): {back}")
    # acme's watchdog finds the tunnel API silent twice, removes and re-adds its relay
    # peer, and wireguard-go handshakes at once.
    assert back.get("acme", 99) < 10, back
    assert "peer_reset" in a.daemon.output()[marks["a"] :]
    # beta only keeps sending its health checks: WireGuard itself starts a new
    # handshake once sent data has had no answer for 15 s (keepalive + rekey timeout).
    assert back.get("beta", 99) < 30, back
    assert "peer_reset" not in b.daemon.output()[marks["b"] :]
    assert net.relay.scrape("/ready")["json"] == {"ready": True, "tenants": 2}


def test_the_relay_stops_cleanly(net: Net) -> None:
    assert net.relay.stop(timeout=10), "relay-server did not end on SIGTERM"
    link = net.topo.run("relay", "ip", "link", "show", net.relay.iface, check=False)
    assert link.returncode != 0  # the interface is gone, and wireguard-go with it
    assert "callbox_relay" not in net.topo.run("relay", "nft", "list", "tables").stdout
    assert net.topo.pids("relay") == []
