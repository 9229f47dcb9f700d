"""The box's firewall on its tunnel interface: the rules it renders, how nft is run,
and what the tunnel does where nft cannot be used (no root, no nft)."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from appliance.relay import firewall
from appliance.relay import state as relay_state
from appliance.relay.firewall import FirewallUnavailable, OverlayPorts
from appliance.relay.tunnel import Tunnel
from appliance.settings import Settings

PORTS = OverlayPorts(visitor=443, console_tls=8443, acme=80)

EXPECTED = """\
table inet callbox_cbox0 {}
delete table inet callbox_cbox0
table inet callbox_cbox0 {
    chain input {
        type filter hook input priority filter; policy accept;
        iifname "cbox0" jump overlay
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
        iifname "cbox0" drop
    }
    chain overlay {
        ct state established,related accept
        ip saddr 100.64.0.1 ip daddr 100.64.7.1 tcp dport { 80, 443 } accept
        ip saddr 100.64.7.0/24 ip saddr != 100.64.7.1 ip daddr 100.64.7.1 tcp dport 8443 accept
        drop
    }
}
"""


def test_rules_answer_the_relay_and_staff_on_their_ports_only() -> None:
    script = firewall.render("cbox0", "100.64.0.1", "100.64.7.0/24", "100.64.7.1", PORTS)
    assert script == EXPECTED


def test_rules_follow_the_interface_and_the_configured_ports() -> None:
    ports = OverlayPorts(visitor=9443, console_tls=9444, acme=9443)
    script = firewall.render("cbxab12cboxa", "100.64.0.1", "100.64.2.0/24", "100.64.2.1", ports)
    assert "table inet callbox_cbxab12cboxa {" in script
    assert 'iifname "cbxab12cboxa" jump overlay' in script
    assert "tcp dport { 9443 } accept" in script  # one port twice is one element
    assert "ip daddr 100.64.2.1 tcp dport 9444 accept" in script
    assert firewall.table_name("wg-box.0") == "callbox_wg-box.0"
    settings = Settings(visitor_port=1443, console_tls_port=18443, acme_port=1080)
    assert OverlayPorts.of(settings) == OverlayPorts(1443, 18443, 1080)


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"),
    reason="loading rules needs root and nft",
)
def test_the_kernel_takes_the_rules_twice_and_the_removal(tmp_path: Path) -> None:
    """Load into a throwaway network namespace: replace twice, list, remove, list."""
    rules, removal = tmp_path / "rules.nft", tmp_path / "removal.nft"
    rules.write_text(firewall.render("cbox0", "100.64.0.1", "100.64.7.0/24", "100.64.7.1", PORTS))
    removal.write_text(firewall.render_removal("cbox0"))
    steps = 'nft -f "$1" && nft -f "$1" && nft list ruleset && echo ---'
    steps += ' && nft -f "$2" && nft list ruleset'
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", steps, "sh", str(rules), str(removal)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded, _, removed = done.stdout.partition("---\n")
    assert loaded.count("table inet callbox_cbox0 {") == 1
    assert "ip saddr 100.64.7.0/24 ip saddr != 100.64.7.1 ip daddr 100.64.7.1" in loaded
    assert removed.strip() == ""


def test_removal_is_one_transaction_that_needs_no_table() -> None:
    assert firewall.render_removal("cbox0") == (
        "table inet callbox_cbox0 {}\ndelete table inet callbox_cbox0\n"
    )


@pytest.mark.parametrize(
    ("interface", "relay", "network", "box", "ports"),
    [
        ('cbox0"; flush ruleset; "', "100.64.0.1", "100.64.7.0/24", "100.64.7.1", PORTS),
        ("cbox 0", "100.64.0.1", "100.64.7.0/24", "100.64.7.1", PORTS),
        ("a-much-too-long-name", "100.64.0.1", "100.64.7.0/24", "100.64.7.1", PORTS),
        ("", "100.64.0.1", "100.64.7.0/24", "100.64.7.1", PORTS),
        ("cbox0", "100.64.0.1 accept", "100.64.7.0/24", "100.64.7.1", PORTS),
        ("cbox0", "100.64.0.1", "100.64.7.0/33", "100.64.7.1", PORTS),
        ("cbox0", "100.64.0.1", "100.64.7.0/24", "100.64.8.1", PORTS),
        ("cbox0", "100.64.0.1", "100.64.7.0/24", "100.64.7.1", OverlayPorts(443, 0, 80)),
        ("cbox0", "100.64.0.1", "100.64.7.0/24", "100.64.7.1", OverlayPorts(443, 8443, 65536)),
    ],
)
def test_nothing_unchecked_reaches_the_script(
    interface: str, relay: str, network: str, box: str, ports: OverlayPorts
) -> None:
    with pytest.raises(ValueError):
        firewall.render(interface, relay, network, box, ports)


def _fake_nft(folder: Path, body: str) -> Path:
    """Put an `nft` shell script first on PATH; it notes its arguments and stdin."""
    folder.mkdir(exist_ok=True)
    nft = folder / "nft"
    nft.write_text(
        f'#!/bin/sh\necho "$@" > "{folder}/args"\n/bin/cat > "{folder}/stdin"\n{body}\n', "utf-8"
    )
    nft.chmod(nft.stat().st_mode | stat.S_IXUSR)
    return folder


async def test_rules_go_to_nft_on_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = _fake_nft(tmp_path / "bin", "exit 0")
    monkeypatch.setenv("PATH", str(bin_dir))
    await firewall.apply(EXPECTED)
    assert (bin_dir / "args").read_text() == "-f -\n"
    assert (bin_dir / "stdin").read_text() == EXPECTED
    await firewall.remove("cbox0")
    assert (bin_dir / "stdin").read_text() == firewall.render_removal("cbox0")


async def test_no_nft_and_no_privilege_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FirewallUnavailable, match="nft is not installed"):
        await firewall.apply(EXPECTED)
    assert await firewall.present("cbox0") is False
    denied = "echo 'Error: Could not process rule: Operation not permitted' >&2; exit 1"
    monkeypatch.setenv("PATH", str(_fake_nft(tmp_path / "bin", denied)))
    with pytest.raises(FirewallUnavailable, match="root or CAP_NET_ADMIN"):
        await firewall.apply(EXPECTED)


STATE = relay_state.RelayState(
    tenant="acme",
    hostname="chat.acme.test",
    network="100.64.7.0/24",
    address="100.64.7.1",
    overlay="100.64.0.0/10",
    relay_address="100.64.0.1",
    relay_public_key="K" * 43 + "=",
    endpoint="198.51.100.1:51820",
    tunnel_api="http://100.64.0.1:8081",
)


async def test_a_box_without_nft_says_so_once_and_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    tunnel = Tunnel(STATE, "private", "cbox0", PORTS)
    with caplog.at_level(logging.INFO, logger="appliance.relay.tunnel"):
        for _ in range(3):  # every (re-)creation of the interface guards it again
            await tunnel.guard()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    assert "no firewall on the tunnel interface cbox0" in warnings[0].getMessage()
    assert "nft is not installed" in warnings[0].getMessage()
    assert tunnel.status.firewall.startswith("off: nft is not installed")

    bin_dir = _fake_nft(tmp_path / "bin", "exit 0")
    monkeypatch.setenv("PATH", str(bin_dir))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="appliance.relay.tunnel"):
        await tunnel.guard()
    assert tunnel.status.firewall == "on"
    assert (bin_dir / "stdin").read_text() == EXPECTED
    assert "firewall on cbox0" in caplog.text
