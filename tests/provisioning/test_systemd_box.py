"""The box and the relay installed where systemd runs: the hardened units start their
services, sandboxed as written, ready only when serving, restarted by the watchdog
when the event loop stalls; uninstall.sh stops them and takes the firewall away.

systemd boots as PID 1 of a fresh root (tests/provisioning/fresh_root.py) in its own
mount, PID, network and cgroup namespaces, so install.sh takes its systemd path:
units enabled and started, the first-boot link read from the journal. One drop-in is
the test's own: this test's interpreter may live under /root (pyenv), which the
units' ProtectHome= hides, so the test shows that one folder to the services (a
Debian box runs /usr/bin/python3 and needs none). About 32 s, half of it the
watchdog's restart.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.provisioning.fresh_root import FreshRoot
from tests.provisioning.test_install import (
    CHECKOUT,
    INSTALL,
    OFFLINE,
    RELAY_INSTALL,
    UNINSTALL,
    _get,
    _ok,
    _uid,
)

pytestmark = [
    pytest.mark.usefixtures("installed"),
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        os.geteuid() != 0 or not Path("/lib/systemd/systemd").exists(),
        reason="needs root and systemd",
    ),
]

_PREFIX = Path(sys.base_prefix).resolve()
_CAPS = 0x1400  # CAP_NET_ADMIN | CAP_NET_BIND_SERVICE
_WATCHDOG = 2  # s: the test's WatchdogSec (the unit's 30 s would make a slow test)
_WAIT = 30.0  # s for a service to change state


@pytest.fixture(scope="module")
def booted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshRoot]:
    root = FreshRoot(tmp_path_factory.mktemp("booted"), (CHECKOUT, _PREFIX), systemd=True)
    try:
        yield root
    finally:
        root.close()


@pytest.fixture(scope="module")
def installed(booted: FreshRoot) -> str:
    """Run install.sh on the booted root once; return what it printed."""
    _show_interpreter(booted, "callbox-appliance.service")
    return _ok(booted.run("bash", INSTALL, *OFFLINE, timeout=150))


def _drop_in(box: FreshRoot, unit: str, name: str, lines: list[str]) -> None:
    folder = box.path(f"/etc/systemd/system/{unit}.d")
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.conf").write_text("\n".join(["[Service]", *lines]) + "\n")


def _show_interpreter(box: FreshRoot, unit: str) -> None:
    if _PREFIX.is_relative_to("/root") or _PREFIX.is_relative_to("/home"):
        _drop_in(
            box, unit, "test-interpreter", ["ProtectHome=tmpfs", f"BindReadOnlyPaths={_PREFIX}"]
        )


def _show(box: FreshRoot, unit: str) -> dict[str, str]:
    props = "ActiveState,SubState,StatusText,MainPID,NRestarts,UnitFileState"
    out = _ok(box.run("systemctl", "show", f"--property={props}", unit))
    return dict(line.split("=", 1) for line in out.splitlines())


def _proc_status(box: FreshRoot, pid: str) -> dict[str, str]:
    lines = box.path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _sandboxed_as_the_unit_says(box: FreshRoot, pid: str, user: str) -> None:
    status = _proc_status(box, pid)
    assert int(status["Uid"].split()[0]) == _uid(box, user)
    assert int(status["CapEff"], 16) == _CAPS and int(status["CapAmb"], 16) == _CAPS
    assert int(status["CapBnd"], 16) == _CAPS
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"


def _in_service_namespace(box: FreshRoot, pid: str, *cmd: str) -> int:
    """Run a command as root in the service's mount namespace; return its exit code.

    `pid` is as the fresh root's PID namespace numbers it, as systemctl reports it.
    """
    inside = ["nsenter", "--target", pid, "--mount", "--root", "--wd", *cmd]
    return box.run(*inside).returncode


def test_install_starts_the_hardened_service(booted: FreshRoot, installed: str) -> None:
    out = installed
    assert "callbox-firewall.service enabled and started" in out
    assert "callbox-appliance.service enabled and started" in out
    found = re.search(r"first boot: open (http://\S+/setup\?token=\S+)", out)
    assert found is not None, out  # read from the journal of this start
    status, body = _get(booted, found.group(1))
    assert status == 200 and 'name="token"' in body

    show = _show(booted, "callbox-appliance.service")
    assert show["ActiveState"] == "active" and show["UnitFileState"] == "enabled"
    assert show["StatusText"] == "console on port 8080"  # READY=1 came with it
    pid = show["MainPID"]
    _sandboxed_as_the_unit_says(booted, pid, "callbox")
    # ProtectSystem=strict: even root in the service's view cannot write its code; the
    # data folder is writable; /root and /home are gone (ProtectHome).
    assert _in_service_namespace(booted, pid, "touch", "/opt/callbox/venv/x") != 0
    assert _in_service_namespace(booted, pid, "touch", "/var/lib/callbox/x") == 0
    assert _in_service_namespace(booted, pid, "rm", "/var/lib/callbox/x") == 0
    assert _in_service_namespace(booted, pid, "test", "-e", "/root/.bashrc") != 0
    assert _in_service_namespace(booted, pid, "test", "-e", "/dev/sda") != 0  # PrivateDevices

    assert _show(booted, "callbox-firewall.service")["ActiveState"] == "active"
    table = _ok(booted.run("nft", "list", "table", "inet", "callbox_host"))
    assert "policy drop" in table and "tcp dport 8080 accept" in table


def test_watchdog_restarts_a_stalled_box(booted: FreshRoot) -> None:
    unit = "callbox-appliance.service"
    _drop_in(booted, unit, "test-watchdog", [f"WatchdogSec={_WATCHDOG}"])
    _ok(booted.run("systemctl", "daemon-reload"))
    _ok(booted.run("systemctl", "restart", unit, timeout=_WAIT))
    before = _show(booted, unit)
    # Three watchdog periods with the loop running: the pings arrive, nothing restarts.
    time.sleep(3 * _WATCHDOG)
    calm = _show(booted, unit)
    assert (calm["MainPID"], calm["NRestarts"]) == (before["MainPID"], before["NRestarts"])
    # A stalled loop (the whole process stopped) sends none: killed and restarted.
    _ok(booted.run("kill", "-STOP", before["MainPID"]))
    deadline = time.monotonic() + _WAIT
    after = _show(booted, unit)
    while after["MainPID"] in (before["MainPID"], "0") or after["ActiveState"] != "active":
        assert time.monotonic() < deadline, after
        time.sleep(0.2)
        after = _show(booted, unit)
    assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1
    assert after["StatusText"] == "console on port 8080"


def test_relay_starts_under_its_unit(booted: FreshRoot) -> None:
    # A box and a relay are different hosts; here they share one, and /run/wireguard.
    _ok(booted.run("systemctl", "stop", "callbox-appliance.service", timeout=_WAIT))
    _show_interpreter(booted, "callbox-relay.service")
    out = _ok(
        booted.run("bash", RELAY_INSTALL, *OFFLINE, "--public-host", "relay.test", timeout=150)
    )
    assert "callbox-relay.service enabled and started" in out
    show = _show(booted, "callbox-relay.service")
    assert show["ActiveState"] == "active"
    assert show["StatusText"].endswith("visitor connections at most")
    pid = show["MainPID"]
    _sandboxed_as_the_unit_says(booted, pid, "callbox-relay")
    # Its interface is up (wireguard-go through the unit's /dev/net/tun where the
    # kernel has no WireGuard), forwarding is on, and wg reads the interface.
    assert "cbrelay0" in _ok(booted.run("ip", "-o", "link", "show", "cbrelay0"))
    assert _ok(booted.run("cat", "/proc/sys/net/ipv4/ip_forward")).strip() == "1"
    assert "listening port: 51820" in _ok(booted.run("wg", "show", "cbrelay0"))
    # LimitNOFILE=65536, soft and hard, or as much of it as this sandbox's own hard
    # limit allows (systemd cannot raise a limit above its own here).
    ceiling = _open_files(booted, "1")[1]  # systemd's, PID 1 inside
    assert _open_files(booted, pid) == (min(65536, ceiling),) * 2

    # Its uninstall stops it, which takes the interface away, and the firewall.
    out = _ok(booted.run("bash", UNINSTALL, "--relay", "--purge", timeout=_WAIT))
    assert "stopped and disabled callbox-relay.service" in out
    assert "stopped and disabled callbox-relay-firewall.service" in out
    assert booted.run("ip", "link", "show", "cbrelay0").returncode != 0
    assert "callbox_relay_host" not in _ok(booted.run("nft", "list", "tables"))
    for gone in ("/opt/callbox-relay", "/etc/systemd/system/callbox-relay.service.d"):
        assert not booted.path(gone).exists(), gone


def _open_files(box: FreshRoot, pid: str) -> tuple[int, int]:
    for line in box.path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open files limit")


def test_uninstall_stops_units_and_takes_the_firewall_away(booted: FreshRoot) -> None:
    assert "callbox_host" in _ok(booted.run("nft", "list", "tables"))
    out = _ok(booted.run("bash", UNINSTALL, "--purge", timeout=_WAIT))
    assert "stopped and disabled callbox-firewall.service" in out
    units = booted.run("systemctl", "list-unit-files", "--no-legend", "callbox*").stdout
    assert units.strip() == ""
    assert "callbox_host" not in _ok(booted.run("nft", "list", "tables"))
    for gone in (
        "/opt/callbox",
        "/var/lib/callbox",
        "/etc/systemd/system/callbox-appliance.service.d",
    ):
        assert not booted.path(gone).exists(), gone
