"""The real appliance behind NAT, the real relay, real WireGuard: the whole product.

One topology per module. The relay (`relay-server run`) and two appliances
(`python -m appliance run`) are daemons; each appliance was enrolled with
`appliance enroll --relay 198.51.100.1 --token …` inside its namespace, got a
visitor certificate from a throwaway CA (`appliance cert import`) and its console
users (`appliance user add`). Clients speak the product's own protocols
(tests.network.chat_clients): a visitor's browser on the internet, an agent PC on
office A's LAN, staff laptops with WireGuard profiles made by `appliance staff add`.

The chat between the visitor and the LAN agent (`chat`) lives through several
tests, in file order: it is checked in clear, captured at the relay, and finally
carried across a relay crash.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.network.topology import RELAY_IP, Daemon, Relay, Topology, pcap_count
from tests.testca import make_ca_and_server

pytestmark = pytest.mark.network

ACME, BETA = "chat.acme.test", "chat.beta.test"
VISITOR_IP = "198.51.100.10"
LAN_CONSOLE = "http://10.0.1.2:8080"
BLOCKED = 1.0  # s a probe waits before calling a path closed (dropped, so no answer)
PASSWORD = "correct horse battery staple"
TUNNEL_BACK = 40.0  # s the appliance may take to mend its tunnel after a relay restart
# What the visitor's host receives from the relay's 443 is lost (the link dies).
_BLACKHOLE = f"""
table ip e2e {{
    chain input {{
        type filter hook input priority filter;
        ip saddr {RELAY_IP} tcp sport 443 drop
    }}
}}
"""


@dataclass
class Box:
    """A real appliance in an office: its data dir, CLI and daemon."""

    topo: Topology
    office: str
    hostname: str
    data: Path
    visitor_ca: Path  # the CA that signed its visitor certificate (what browsers trust)
    iface: str
    daemon: Daemon | None = None

    @property
    def host(self) -> str:
        return f"appliance-{self.office}"

    @property
    def console(self) -> str:
        """The console on the overlay address, for staff devices."""
        return f"https://{json.loads((self.data / 'relay.json').read_text())['address']}:8443"

    @property
    def console_ca(self) -> Path:
        return self.data / "tls" / "console-ca.pem"

    def cli(self, *args: str, input: str | None = None) -> str:
        """Run `appliance --data DIR …` inside the appliance's host."""
        cmd = [sys.executable, "-m", "appliance", "--data", str(self.data), *args]
        env = {"CALLBOX_TUNNEL_INTERFACE": self.iface}
        return self.topo.run(self.host, *cmd, input=input, env=env, timeout=60).stdout

    def start(self) -> None:
        cmd = [sys.executable, "-m", "appliance", "--data", str(self.data), "run"]
        cmd += ["--host", "0.0.0.0", "--port", "8080", "--no-mdns"]
        env = {"CALLBOX_TUNNEL_INTERFACE": self.iface, "CALLBOX_LANG": "en"}
        self.daemon = self.topo.spawn(self.host, *cmd, label=f"appliance-{self.office}", env=env)
        self.daemon.wait_for(r"^callbox: listening on port 8080", 30)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the box's SQLite database (read-only, beside the running box)."""
        db = sqlite3.connect(f"file:{self.data / 'callbox.db'}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()


class ChatClient:
    """A chat_clients daemon in a host, driven over its control socket."""

    def __init__(self, topo: Topology, host: str, label: str, kind: str, *args: str) -> None:
        self.label = label
        self.control = topo.workdir / f"{label}.sock"
        cmd = [sys.executable, "-m", "tests.network.chat_clients", kind]
        self.daemon = topo.spawn(host, *cmd, "--control", str(self.control), *args, label=label)
        self.daemon.wait_for(r"^READY ", 20)

    def call(self, cmd: str, timeout: float = 15.0, **fields: Any) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.control))
            sock.sendall(json.dumps({"cmd": cmd, **fields}).encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        result: dict[str, Any] = json.loads(answer)
        assert result.pop("ok"), f"{self.label} {cmd}: {result}"
        return result

    def state(self) -> dict[str, Any]:
        return self.call("state")

    def wait(
        self, what: str, done: Callable[[dict[str, Any]], Any], timeout: float = 15.0
    ) -> dict[str, Any]:
        """Poll the client's state until `done(state)` is true."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if done(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.label}: no {what} within {timeout} s: {state}")
            time.sleep(0.1)

    def shown(self, conv_id: str) -> list[tuple[int, str, str]]:
        """Return (seq, sender_type, body) of what the client shows of a conversation."""
        conv = self.state()["conversations"].get(conv_id, {"messages": []})
        return [(m["seq"], m["sender_type"], m["body"]) for m in conv["messages"]]

    def send(self, conv_id: str, body: str) -> str:
        return str(self.call("send", conversation_id=conv_id, body=body)["client_msg_id"])

    def wait_for_body(self, conv_id: str, body: str, timeout: float = 15.0) -> dict[str, Any]:
        def has(state: dict[str, Any]) -> bool:
            conv = state["conversations"].get(conv_id, {"messages": []})
            return any(m["body"] == body for m in conv["messages"])

        return self.wait(f"message {body!r}", has, timeout)


def _assigned_to(client: ChatClient, conv_id: str) -> str:
    """Return who the `assigned` system message of a conversation names."""
    messages = client.state()["conversations"][conv_id]["messages"]
    [assigned] = [m for m in messages if m["event"] == "assigned"]
    return str(assigned["sender_name"])


def _text() -> str:
    """A unique message body, easy to find in a capture if it were ever in clear."""
    return "msg-" + secrets.token_hex(10)


@dataclass
class Net:
    topo: Topology
    relay: Relay
    boxes: dict[str, Box]
    work: Path
    password_file: Path

    def visitor(self, label: str, hostname: str = ACME) -> ChatClient:
        """A visitor's browser on the internet, verifying the chat host's certificate."""
        box = next(b for b in self.boxes.values() if b.hostname == hostname)
        return ChatClient(
            self.topo, "visitor", label, "visitor",
            "--base", f"https://{hostname}",
            "--resolve", f"{hostname}={RELAY_IP}",  # DNS: the chat host name is the relay
            "--ca", str(box.visitor_ca),
            "--heartbeat", "2",
        )  # fmt: skip

    def agent(self, host: str, label: str, username: str, base: str, *args: str) -> ChatClient:
        client = ChatClient(
            self.topo, host, label, "agent",
            "--base", base,
            "--username", username,
            "--password-file", str(self.password_file),
            *args,
        )  # fmt: skip
        client.call("login")
        return client

    def request(
        self, host: str, base: str, path: str, *args: str, user: str | None = None
    ) -> dict[str, Any]:
        """One page load from a host (logged in as `user` when given): {status, body}."""
        login = ["--username", user, "--password-file", str(self.password_file)] if user else []
        cmd = [sys.executable, "-m", "tests.network.chat_clients", "request"]
        done = self.topo.run(host, *cmd, "--base", base, "--path", path, *login, *args)
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def visit(self, path: str, **extra: Any) -> dict[str, Any]:
        """A request for tests.network.hosts fetch: https://chat.acme.test via the relay."""
        box = self.boxes["a"]
        request = {"url": f"https://{ACME}{path}", "connect": f"{RELAY_IP}:443"}
        return request | {"ca": str(box.visitor_ca)} | extra


def _enrolled_box(topo: Topology, relay: Relay, work: Path, office: str, hostname: str) -> Box:
    """Enrol a box (before it runs), import its certificate, create its users, start it."""
    name = hostname.split(".")[1]
    token = relay.add_tenant(name, hostname)
    ca, cert, key = make_ca_and_server(work / f"visitor-ca-{office}", [hostname])
    box = Box(topo, office, hostname, work / f"box-{office}", ca, topo.wg_name(f"box{office}"))
    enrolled = box.cli("enroll", "--relay", RELAY_IP, "--token", token)
    assert "tunnel up" in enrolled, enrolled
    box.cli("cert", "import", "--cert", str(cert), "--key", str(key))
    if office == "a":
        for user, role in (("wang", "agent"), ("alice", "agent"), ("boss", "admin")):
            box.cli("user", "add", user, "--role", role, "--password-stdin", input=PASSWORD)
    box.start()
    return box


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    work = tmp_path_factory.mktemp("appliance-e2e")
    password_file = work / "password"
    password_file.write_text(PASSWORD)
    with Topology(work) as topo:
        relay = Relay(topo, work / "relay")
        relay.init()
        relay.start()
        boxes = {
            "a": _enrolled_box(topo, relay, work, "a", ACME),
            "b": _enrolled_box(topo, relay, work, "b", BETA),
        }
        yield Net(topo, relay, boxes, work, password_file)
    # Nothing outlives the module: daemons, wireguard-go, namespaces, control sockets.
    assert topo.leftovers() == {"namespaces": [], "processes": [], "sockets": []}


@dataclass
class Chat:
    visitor: ChatClient
    agent: ChatClient  # wang, on office A's LAN
    conv_id: str


@pytest.fixture(scope="module")
def chat(net: Net) -> Chat:
    """A visitor on the internet and wang, online at an agent PC in office A."""
    wang = net.agent("agent-a", "wang", "wang", LAN_CONSOLE)
    assert wang.call("presence", status="online") == {"status": "online"}
    visitor = net.visitor("visitor")
    conv = visitor.call("start", name="Visitor One")["conversation"]
    return Chat(visitor, wang, conv["id"])


@dataclass
class Staff:
    name: str
    address: str
    conf: Path
    iface: str
    daemon: Daemon


def _add_staff(net: Net, office: str, name: str, host: str) -> Staff:
    """`appliance staff add NAME` on the box; the profile brought up on a laptop."""
    box = net.boxes[office]
    out = box.cli("staff", "add", name)
    address = re.search(rf"device '{name}' at (\S+)", out)
    assert address, out
    conf = box.data / "staff" / f"{name}.conf"
    iface = net.topo.wg_name(name[:6])
    daemon = net.topo.spawn_host(host, "profile", str(conf), "--iface", iface, label=f"wg-{name}")
    daemon.wait_for(r"^READY ", 20)
    return Staff(name, address.group(1), conf, iface, daemon)


@pytest.fixture(scope="module")
def alice(net: Net) -> Staff:
    """alice's laptop (tenant acme), out of the office, with the profile her box made."""
    return _add_staff(net, "a", "alice", "staff-a")


@pytest.fixture(scope="module")
def alice_console(net: Net, alice: Staff) -> ChatClient:
    """alice's console on her laptop, through the tunnel; pinged every second."""
    box = net.boxes["a"]
    assert box.console == "https://100.64.1.1:8443"
    # The laptop trusts the box's console CA (from the device bundle), nothing else.
    return net.agent(
        "staff-a", "alice-console", "alice", box.console, "--ca", str(box.console_ca),
        "--heartbeat", "1",
    )  # fmt: skip


# ----------------------------------------------------------------------------- tests


def test_a_visitor_chats_with_a_lan_agent_through_the_relay(net: Net, chat: Chat) -> None:
    conv_id = chat.conv_id
    # The conversation went to the agent who is online; both see the assignment.
    chat.visitor.wait("assignment", lambda s: s["conversations"][conv_id]["last_seq"] >= 1)
    chat.agent.wait("the conversation", lambda s: conv_id in s["conversations"])
    question, answer = _text(), _text()
    chat.visitor.send(conv_id, question)
    chat.agent.wait_for_body(conv_id, question)
    chat.agent.send(conv_id, answer)
    chat.visitor.wait_for_body(conv_id, answer)
    expected = [(1, "system", ""), (2, "visitor", question), (3, "agent", answer)]
    assert chat.visitor.shown(conv_id) == expected
    assert chat.agent.shown(conv_id) == expected
    assert _assigned_to(chat.visitor, conv_id) == "wang"
    # The box saw the visitor's own address (from the relay's PROXY header), not the
    # relay's overlay address. The console API does not show it; the database has it.
    assert net.boxes["a"].query("SELECT visitor_ip FROM conversations WHERE id = ?", conv_id) == [
        (VISITOR_IP,)
    ]


def test_the_relay_sees_no_message_text(net: Net, chat: Chat) -> None:
    conv_id = chat.conv_id
    question, answer = _text(), _text()
    pcap = net.work / "chat.pcap"
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
        chat.visitor.send(conv_id, question)
        chat.agent.wait_for_body(conv_id, question)
        chat.agent.send(conv_id, answer)
        chat.visitor.wait_for_body(conv_id, answer)
    finally:
        tcpdump.send_signal(signal.SIGINT)
        tcpdump.wait(timeout=10)
        tcpdump.stderr.close()
    captured = pcap.read_bytes()
    assert question.encode() not in captured
    assert answer.encode() not in captured

    # The chat did cross the relay: the visitor's TLS on the WAN, WireGuard to the
    # box's office, and the relay's TCP to the box inside the tunnel.
    assert pcap_count(pcap, f"tcp port 443 and host {VISITOR_IP}") > 0
    assert pcap_count(pcap, "udp port 51820 and host 198.51.100.30") > 0
    assert pcap_count(pcap, "tcp port 443 and host 100.64.1.1") > 0


def test_the_console_and_admin_are_not_reachable_from_the_internet(net: Net) -> None:
    paths = ["/", "/console", "/login", "/admin", "/api/console/me", "/console/history", "/setup"]
    widget, *closed = net.topo.fetch("visitor", net.visit("/widget.js"), *map(net.visit, paths))
    assert widget["status"] == 200, widget  # the visitor surface, through the same path
    for path, result in zip(paths, closed, strict=True):
        assert result["status"] == 404, (path, result)

    # The box's LAN console port: not from the internet, even for a host that routes
    # office A's LAN to its gateway, nor on the gateway, nor through the relay.
    net.topo.ip("visitor", "route", "add", "10.0.1.0/24", "via", "198.51.100.30")
    net.topo.ip("visitor", "route", "add", "100.64.0.0/10", "via", RELAY_IP)
    try:
        lan, gateway, overlay, overlay_tls = net.topo.fetch(
            "visitor",
            {"url": "http://10.0.1.2:8080/login", "timeout": BLOCKED},
            {"url": "http://198.51.100.30:8080/login", "timeout": BLOCKED},
            {"url": "http://100.64.1.1:8080/login", "timeout": BLOCKED},
            {"url": "https://100.64.1.1:8443/login", "timeout": BLOCKED},
        )
    finally:
        net.topo.ip("visitor", "route", "del", "10.0.1.0/24", "via", "198.51.100.30")
        net.topo.ip("visitor", "route", "del", "100.64.0.0/10", "via", RELAY_IP)
    for result in (lan, overlay, overlay_tls):
        assert result["kind"] == "timeout", result
    assert gateway["kind"] == "refused", gateway  # no port forward on the office gateway
    # While the LAN has it.
    [inside] = net.topo.fetch("agent-a", {"url": f"{LAN_CONSOLE}/login"})
    assert inside["status"] == 200, inside


def test_a_staff_member_answers_a_chat_through_the_tunnel(
    net: Net, chat: Chat, alice: Staff, alice_console: ChatClient
) -> None:
    box = net.boxes["a"]
    assert alice.address == "100.64.1.2"
    staff = alice_console
    assert staff.call("presence", status="online") == {"status": "online"}
    staff.wait("its socket", lambda s: s["connected"])
    # wang steps away: the next visitor's chat goes to the one agent online, alice.
    assert chat.agent.call("presence", status="away") == {"status": "away"}
    visitor = net.visitor("visitor-2")
    conv = visitor.call("start", name="Visitor Two")["conversation"]
    conv_id = conv["id"]
    staff.wait("the new conversation", lambda s: conv_id in s["conversations"])
    question, answer = _text(), _text()
    visitor.send(conv_id, question)
    staff.wait_for_body(conv_id, question)
    staff.send(conv_id, answer)
    visitor.wait_for_body(conv_id, answer)
    expected = [(1, "system", ""), (2, "visitor", question), (3, "agent", answer)]
    assert visitor.shown(conv_id) == staff.shown(conv_id) == expected
    assert _assigned_to(visitor, conv_id) == "alice"
    assert box.query(
        "SELECT m.sender_type, u.username FROM messages m JOIN users u"
        " ON CAST(u.id AS TEXT) = m.sender_id WHERE m.conversation_id = ? AND m.seq = 3",
        conv_id,
    ) == [("agent", "alice")]


def test_the_admin_page_is_for_the_lan_only(net: Net, alice: Staff) -> None:
    box = net.boxes["a"]
    page = net.request("agent-a", LAN_CONSOLE, "/admin", user="boss")
    assert page["status"] == 200, page
    state = re.search(r'data-cb="tunnel-state">([^<]*)<', page["body"])
    assert state and state.group(1).strip() == "up", page["body"]
    assert re.search(r"<td>alice</td><td>100\.64\.1\.2</td>", page["body"]), page["body"]
    # From a staff device, the administrator may log in to the console, not the admin
    # page: it is refused by where the request comes from, not by the role.
    tunnel = ("--ca", str(box.console_ca))
    console = net.request("staff-a", box.console, "/console", *tunnel, user="boss")
    admin = net.request("staff-a", box.console, "/admin", *tunnel, user="boss")
    assert console["status"] == 200, console
    assert admin["status"] == 403, admin


def test_tenants_are_isolated_and_a_revoked_device_is_cut_off(
    net: Net, alice: Staff, alice_console: ChatClient
) -> None:
    box_a, box_b = net.boxes["a"], net.boxes["b"]
    bob = _add_staff(net, "b", "bob", "staff-b")
    assert bob.address == "100.64.2.2"
    # bob edits his profile to send tenant A's box through the tunnel too: the relay
    # drops it, while his own box answers.
    relay_key = net.relay.public_key
    net.topo.run(
        "staff-b", "wg", "set", bob.iface, "peer", relay_key,
        "allowed-ips", "100.64.2.1/32,100.64.1.1/32",
    )  # fmt: skip
    net.topo.ip("staff-b", "route", "add", "100.64.1.1/32", "dev", bob.iface)
    own, other = net.topo.fetch(
        "staff-b",
        {"url": f"{box_b.console}/login", "ca": str(box_b.console_ca)},
        {"url": f"{box_a.console}/login", "timeout": BLOCKED},
    )
    assert own["status"] == 200, own
    assert other["kind"] == "timeout", other
    # Only the console port of her own box, for alice.
    to_console, to_lan_port, to_visitor_port = net.topo.fetch(
        "staff-a",
        {"url": f"{box_a.console}/login", "ca": str(box_a.console_ca)},
        {"url": "http://100.64.1.1:8080/login", "timeout": BLOCKED},
        {"url": "tcp://100.64.1.1:443", "timeout": BLOCKED},
    )
    assert to_console["status"] == 200, to_console
    assert to_lan_port["kind"] == "timeout", to_lan_port
    assert to_visitor_port["kind"] == "timeout", to_visitor_port

    # alice's console holds its WebSocket (pinged every second) when she is revoked.
    staff = alice_console
    before = staff.wait("a live socket", lambda s: s["connected"])
    revoked = box_a.cli("staff", "revoke", "alice")
    revoked_at = time.time()
    assert "revoked" in revoked, revoked
    state = staff.wait(
        "the held socket to stall", lambda s: len(s["disconnects"]) > len(before["disconnects"])
    )
    stalled = state["disconnects"][-1]
    assert stalled["time"] - revoked_at < 3, stalled
    [again] = net.topo.fetch("staff-a", {"url": f"{box_a.console}/login", "timeout": BLOCKED})
    assert again["kind"] == "timeout", again
    listing = box_a.cli("staff", "list")
    assert re.search(
        r"^alice\s+100\.64\.1\.2\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+revoked$", listing, re.MULTILINE
    ), listing


@pytest.mark.timeout(90)
def test_a_chat_survives_a_relay_crash_with_nothing_lost_or_doubled(net: Net, chat: Chat) -> None:
    conv_id, visitor, agent = chat.conv_id, chat.visitor, chat.agent
    box = net.boxes["a"]
    warm = _text()
    visitor.send(conv_id, warm)
    agent.wait_for_body(conv_id, warm)
    start_seq = visitor.state()["conversations"][conv_id]["last_seq"]

    # The link dies under a message and the relay crashes: the box has committed the
    # message, its ack never reaches the visitor. (The link stays dead until the
    # client has given the socket up; otherwise TCP would still deliver the ack that
    # the dead relay's kernel keeps retransmitting.)
    lost_ack = _text()
    net.topo.run("visitor", "nft", "-f", "-", input=_BLACKHOLE)
    try:
        lost_id = visitor.send(conv_id, lost_ack)
        agent.wait_for_body(conv_id, lost_ack)
        net.relay.kill()
        crashed_at = time.monotonic()
        log_mark = len(box.daemon.output()) if box.daemon else 0
        visitor.wait("the socket to stall", lambda s: not s["connected"], timeout=10)
    finally:
        net.topo.run("visitor", "nft", "delete", "table", "ip", "e2e")
    assert lost_id in {m["client_msg_id"] for m in visitor.state()["outbox"]}

    # While the relay is down: the LAN agent goes on, the visitor types into the outbox.
    during = [_text(), _text()]
    for body in during:
        agent.send(conv_id, body)
    agent.wait("acks", lambda s: not s["outbox"])
    typed = _text()
    assert visitor.call("send", conversation_id=conv_id, body=typed)["sent"] is False

    net.relay.start()
    restarted_at = time.monotonic()
    # The box notices by itself (health checks through the tunnel) and re-handshakes;
    # the visitor's client reconnects with backoff, joins after its last seq and
    # resends its outbox with the same client_msg_ids.
    state = visitor.wait(
        "the conversation to resume",
        lambda s: s["connected"] and not s["outbox"],
        timeout=TUNNEL_BACK,
    )
    now = time.monotonic()
    print(
        f"chat resumed {now - restarted_at:.1f} s after the relay restarted"
        f" ({now - crashed_at:.1f} s after it crashed)"
    )
    assert box.daemon is not None
    assert "re-handshaking" in box.daemon.output()[log_mark:]
    agent.wait_for_body(conv_id, typed)

    after = _text()
    agent.send(conv_id, after)
    visitor.wait_for_body(conv_id, after)
    bodies = [warm, lost_ack, *during, typed, after]
    senders = ["visitor", "visitor", "agent", "agent", "visitor", "agent"]
    expected = [
        (start_seq + i, sender, body)
        for i, (sender, body) in enumerate(zip(senders, bodies, strict=True))
    ]
    # Both sides show the whole conversation as the box stored it: every message
    # once, seqs 1..n without a gap, the outage's messages in the order they were
    # committed (the one whose ack was lost, too).
    stored = box.query(
        "SELECT seq, sender_type, body FROM messages WHERE conversation_id = ? ORDER BY seq",
        conv_id,
    )
    assert [seq for seq, _, _ in stored] == list(range(1, len(stored) + 1))
    assert stored[start_seq - 1 :] == expected
    assert visitor.shown(conv_id) == stored
    assert agent.shown(conv_id) == stored
    # The message whose ack was lost was sent again (same client_msg_id) after the
    # reconnect; the box answered with an ack of the original message.
    state = visitor.state()
    assert state["sends"][lost_id] >= 2 and state["acks"][lost_id] == [start_seq + 1]
    conv = state["conversations"][conv_id]
    assert conv["gaps"] == [] and state["errors"] == []
    assert agent.state()["conversations"][conv_id]["gaps"] == []
