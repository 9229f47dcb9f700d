"""The box gets its visitor certificate by ACME HTTP-01, answered through the relay.

A real ACME CA (Debian's `pebble`) sits on the internet segment with a DNS server
(`pebble-challtestsrv`) that resolves every name to the relay, as public DNS would
resolve the chat host name. The CA's HTTP-01 check goes to the relay's port 80, which
passes `/.well-known/acme-challenge/` through the tunnel to the box behind NAT. The
box then serves visitors with a certificate that chains to the CA's root, and the
relay never held its key.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.network.topology import RELAY_IP, Relay, Topology
from tests.testca import make_ca_and_server

pytestmark = pytest.mark.network

HOSTNAME = "chat.acme.test"
CA_HOST, CA_IP = "acme-ca", "198.51.100.40"
CERT_RELOAD = 15.0  # s: the running box looks at its certificate file every 5 s


def _pebble_config(folder: Path) -> tuple[Path, Path]:
    """Write pebble's config with its own HTTPS certificate; return (config, its CA)."""
    ca, cert, key = make_ca_and_server(folder, [CA_IP])
    config = folder / "pebble.json"
    config.write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"{CA_IP}:14000",
                    "managementListenAddress": f"{CA_IP}:15000",
                    "certificate": str(cert),
                    "privateKey": str(key),
                    "httpPort": 80,  # where HTTP-01 is checked: the relay's port 80
                    "tlsPort": 443,
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    return config, ca


@pytest.mark.timeout(150)
def test_box_obtains_its_certificate_by_acme_through_the_relay(tmp_path: Path) -> None:
    with Topology(tmp_path, extra_hosts={CA_HOST: CA_IP}) as topo:
        relay = Relay(topo, tmp_path / "relay")
        relay.init()
        relay.start()
        token = relay.add_tenant("acme", HOSTNAME)

        data = tmp_path / "box"
        env = {"CALLBOX_TUNNEL_INTERFACE": topo.wg_name("boxa")}

        def appliance(*args: str) -> str:
            cmd = [sys.executable, "-m", "appliance", "--data", str(data), *args]
            return topo.run("appliance-a", *cmd, env=env, timeout=150).stdout

        assert "tunnel up" in appliance("enroll", "--relay", RELAY_IP, "--token", token)
        box = topo.spawn(
            "appliance-a",
            sys.executable, "-m", "appliance", "--data", str(data), "run",
            "--host", "0.0.0.0", "--port", "8080", "--no-mdns",
            label="box", env=env,
        )  # fmt: skip
        box.wait_for(r"^callbox: listening on port 8080", 30)
        assert "no certificate for chat.acme.test yet" in box.output()

        config, pebble_https_ca = _pebble_config(tmp_path / "pebble")
        dns = topo.spawn(
            CA_HOST,
            "pebble-challtestsrv", "-defaultIPv4", RELAY_IP, "-defaultIPv6", "",
            "-dns01", "127.0.0.1:8053", "-http01", "", "-https01", "", "-tlsalpn01", "",
            "-management", "127.0.0.1:8055",
            label="dns",
        )  # fmt: skip
        dns.wait_for(r"Starting challenge servers", 20)
        pebble = topo.spawn(
            CA_HOST,
            "pebble", "-config", str(config), "-dnsserver", "127.0.0.1:8053",
            label="pebble", env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"},
        )  # fmt: skip
        pebble.wait_for(r"listening on", 20)

        out = appliance(
            "cert", "acme",
            "--directory", f"https://{CA_IP}:14000/dir",
            "--ca-bundle", str(pebble_https_ca),
            "--email", "it@acme.test",
        )  # fmt: skip
        assert f"certificate for {HOSTNAME} installed" in out, out
        assert not list((data / "acme-challenges").glob("*"))  # answers cleaned up

        [root] = topo.fetch(
            "visitor", {"url": f"https://{CA_IP}:15000/roots/0", "ca": str(pebble_https_ca)}
        )
        assert root["ok"] and root["status"] == 200, root
        issuer_root = tmp_path / "pebble-root.pem"
        issuer_root.write_text(root["body"])

        # A visitor trusting only the ACME CA's root reaches the box through the relay.
        visit = {
            "url": f"https://{HOSTNAME}/widget.js",
            "connect": f"{RELAY_IP}:443",
            "ca": str(issuer_root),
            "timeout": 5,
        }
        # The running box loads the new certificate by itself within CERT_RELOAD.
        deadline = time.monotonic() + CERT_RELOAD
        while True:
            [seen] = topo.fetch("visitor", visit, timeout=60)
            if seen["ok"] or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert seen["ok"] and seen["status"] == 200, seen
        assert "visitor certificate loaded" in box.output()
        # The relay keeps no key: its data dir holds its own files only.
        names = {p.name for p in (tmp_path / "relay").iterdir()}
        assert not any(name.startswith(("visitor", "chat")) for name in names), names
