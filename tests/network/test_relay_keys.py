"""One public key, one peer: a tenant cannot take another offline through the relay.

WireGuard routes by public key. Had the relay accepted a key it already routes for
someone else (as a staff device, or on enrolment), `wg set … allowed-ips` would
move that peer's address and its visitors would time out. The two real tenants of
the network tests (acme behind office A, beta behind office B) try it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from relay_server.keys import generate_private_key, public_key

from tests.network.test_relay_hub import ACME, BETA, Net
from tests.network.topology import Relay, Topology

pytestmark = pytest.mark.network


def _ready(net: Net, office: str) -> dict[str, Any]:
    line = net.appliances[office].daemon.wait_for(r"^READY (.*)$", 20.0).group(1)
    info: dict[str, Any] = json.loads(line)
    return info


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    work = tmp_path_factory.mktemp("relay-keys")
    with Topology(work) as topo:
        relay = Relay(topo, work / "relay")
        relay.init()
        tokens = {"a": relay.add_tenant("acme", ACME), "b": relay.add_tenant("beta", BETA)}
        relay.start()
        net = Net(topo, relay, {}, tokens, work)
        for office, hostname in (("a", ACME), ("b", BETA)):
            net.appliances[office] = net.start_appliance(
                office, f"appliance-{office}", hostname, tokens[office], f"key-{office}"
            )
        for office in ("a", "b"):
            net.appliances[office].info = _ready(net, office)
        yield net


def _beta_is_served(net: Net) -> None:
    """beta's box keeps its route: its visitors get through, its peer keeps its address."""
    [visit] = net.fetch("visitor", net.visit(BETA))
    assert visit.get("status") == 200 and visit["json"]["tenant"] == "beta", visit
    allowed = net.topo.run("relay", "wg", "show", net.relay.iface, "allowed-ips").stdout
    routes = dict(line.split("\t") for line in allowed.splitlines())
    assert routes[net.appliances["b"].info["public_key"]] == "100.64.2.1/32", routes


def test_a_box_cannot_register_a_key_the_relay_knows_as_a_staff_device(net: Net) -> None:
    box_a, box_b = (net.appliances[o].info["public_key"] for o in ("a", "b"))
    li = public_key(generate_private_key())
    assert net.tunnel_api("b", "POST", "/staff", {"name": "li", "public_key": li})["status"] == 201
    try:
        for name, key in (
            ("b-box", box_b),  # the other tenant's appliance: the attack in the issue
            ("b-staff", li),  # the other tenant's staff device
            ("own-box", box_a),  # its own appliance
            ("relay", net.relay.public_key),  # the relay itself
        ):
            answer = net.tunnel_api("a", "POST", "/staff", {"name": name, "public_key": key})
            if answer.get("status") == 201:  # undo it, or the module's network stays broken
                net.tunnel_api("a", "DELETE", f"/staff/{name}")
            assert answer.get("status") == 409, (name, answer)
            assert answer["json"]["error"]["code"] == "key_in_use", answer
            assert "tenant" not in answer["json"]["error"]["message"]  # names no one
            _beta_is_served(net)
        assert net.tunnel_api("a", "GET", "/staff")["json"] == {"staff": []}
    finally:
        net.tunnel_api("b", "DELETE", "/staff/li")


def test_a_box_cannot_enrol_with_a_key_the_relay_knows(net: Net) -> None:
    li = public_key(generate_private_key())
    assert net.tunnel_api("b", "POST", "/staff", {"name": "li", "public_key": li})["status"] == 201
    token_file = net.work / "token-gamma"
    token_file.touch(mode=0o600)
    token_file.write_text(net.relay.add_tenant("gamma", "chat.gamma.test"))
    try:
        for key in (net.appliances["b"].info["public_key"], li, net.relay.public_key):
            answer = net.topo.host(
                "agent-b", "enrol", "--token-file", str(token_file), "--public-key", key
            )
            assert not answer["ok"], answer
            assert "409" in answer["error"] and "key_in_use" in answer["error"], answer
            _beta_is_served(net)
        listing = net.relay.cli("tenant", "list").splitlines()
        assert next(line for line in listing if line.startswith("gamma")).split()[3] == "no"
        # The refused attempts left the token unspent: the right box still enrols.
        good = net.topo.host("agent-b", "enrol", "--token-file", str(token_file))
        assert good["ok"] and good["address"] == "100.64.3.1", good
    finally:
        net.relay.cli("tenant", "remove", "gamma")
        net.tunnel_api("b", "DELETE", "/staff/li")
