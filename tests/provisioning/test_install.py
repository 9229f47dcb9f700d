"""provisioning/: install.sh on a fresh root ends with a box that answers, twice over;
the appliance runs as `callbox`, under supervisord too; uninstall.sh removes it.

One fresh root (tests/provisioning/fresh_root.py: an overlay over this host's / in
its own mount, network and PID namespaces) with the box installed once serves the
whole module: a second install, the appliance started as the service's user,
supervisord with the shipped configuration, the `callbox` command, the relay's
install and uninstall; the box's uninstall comes last. The venv
sees this interpreter's packages (--system-site-packages --offline), so nothing is
downloaded. The module takes about 27 s on the 2-core machine (45 s under load),
most of it pip building Callbox's wheel three times.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.provisioning.fresh_root import FreshRoot

pytestmark = [
    pytest.mark.usefixtures("installed"),
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces and mounts)"),
]

CHECKOUT = Path(__file__).resolve().parents[2]
INSTALL = str(CHECKOUT / "provisioning" / "install.sh")
RELAY_INSTALL = str(CHECKOUT / "provisioning" / "relay-install.sh")
UNINSTALL = str(CHECKOUT / "provisioning" / "uninstall.sh")
SUPERVISOR_CONF = "/opt/callbox/src/provisioning/supervisord/callbox.conf"
PYTHON = os.path.realpath(sys.executable)
# Offline: this interpreter's packages serve the venv; pip only builds Callbox itself.
OFFLINE = ("--python", PYTHON, "--system-site-packages", "--offline")
_START_TIMEOUT = 30.0  # s for the installed appliance to listen
_GET = """
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
        print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print(0)  # not listening (yet)
"""


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshRoot]:
    keep = (CHECKOUT, Path(sys.base_prefix).resolve())
    root = FreshRoot(tmp_path_factory.mktemp("fresh-root"), keep)
    try:
        yield root
    finally:
        root.close()


@pytest.fixture(scope="module")
def installed(box: FreshRoot) -> str:
    """Run install.sh in the fresh root once; return what it printed."""
    return _ok(box.run("bash", INSTALL, *OFFLINE, timeout=150))


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _uid(box: FreshRoot, user: str) -> int | None:
    for line in box.path("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2])
    return None


def _get(box: FreshRoot, url: str) -> tuple[int, str]:
    out = _ok(box.run(PYTHON, "-c", _GET, url, timeout=30))
    status, _, body = out.partition("\n")
    return int(status), body


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_makes_user_dirs_venv_units_and_firewall(box: FreshRoot, installed: str) -> None:
    out = installed
    assert "created system user callbox" in out
    assert "systemd is not running here" in out  # skipped, and said so
    assert ":8080/setup?token=" in out  # the first-boot URL
    uid = _uid(box, "callbox")
    assert uid is not None and uid < 1000  # a system user
    passwd = next(
        line
        for line in box.path("/etc/passwd").read_text().splitlines()
        if line.startswith("callbox:")
    )
    assert passwd.endswith(":/usr/sbin/nologin")

    data = box.path("/var/lib/callbox")
    assert data.stat().st_uid == uid and _mode(data) == 0o700
    etc = box.path("/etc/callbox")
    assert etc.stat().st_uid == 0 and _mode(etc) == 0o750
    env = box.path("/etc/callbox/callbox.env")
    assert _mode(env) == 0o640
    assert "CALLBOX_DATA=/var/lib/callbox" in env.read_text()
    assert box.path("/opt/callbox/venv/bin/appliance").is_file()
    assert box.path("/opt/callbox/venv").stat().st_uid == 0  # the service cannot change its code
    # The installed copy runs, not the checkout this test imports.
    where = _ok(
        box.run("/opt/callbox/venv/bin/python", "-c", "import appliance; print(appliance.__file__)")
    )
    assert where.startswith("/opt/callbox/venv/lib/"), where

    unit = box.path("/etc/systemd/system/callbox-appliance.service").read_text()
    assert unit == (CHECKOUT / "systemd" / "callbox-appliance.service").read_text()
    assert "ExecStart=/opt/callbox/venv/bin/appliance run" in unit
    assert not box.path(
        "/etc/systemd/system/multi-user.target.wants/callbox-appliance.service"
    ).exists()  # not enabled

    rules = box.path("/etc/callbox/firewall.nft").read_text()
    assert "policy drop;" in rules
    assert "ip saddr @lan4 tcp dport 8080 accept" in rules
    # The file is valid nftables: load it into the fresh root's own network namespace
    # (never the host's), then read back what the kernel holds.
    _ok(box.run("nft", "-f", "/etc/callbox/firewall.nft"))
    loaded = _ok(box.run("nft", "list", "table", "inet", "callbox_host"))
    assert "policy drop" in loaded and "tcp dport 8080 accept" in loaded
    assert "192.168.0.0/16" in loaded


def test_install_again_keeps_data_settings_and_firewall(box: FreshRoot) -> None:
    marker = box.path("/var/lib/callbox/keep-me")
    marker.write_text("data")
    env = box.path("/etc/callbox/callbox.env")
    env.write_text(env.read_text() + "CALLBOX_LANG=en\n")
    rules = box.path("/etc/callbox/firewall.nft")
    rules.write_text(rules.read_text().replace("tcp dport 22 accept", "tcp dport 2222 accept"))
    python = box.path("/opt/callbox/venv/bin/python").resolve()

    out = _ok(box.run("bash", INSTALL, *OFFLINE, timeout=150))
    assert "user callbox exists" in out and "kept /etc/callbox/callbox.env" in out
    assert "made the virtual environment" not in out  # upgraded in place
    assert marker.read_text() == "data"
    assert "CALLBOX_LANG=en" in env.read_text()
    assert "tcp dport 2222 accept" in rules.read_text()
    assert box.path("/opt/callbox/venv/bin/python").resolve() == python
    assert box.path("/etc/passwd").read_text().count("\ncallbox:") == 1
    marker.unlink()


def test_installed_appliance_answers_as_the_service_user(box: FreshRoot) -> None:
    proc = box.popen(
        "runuser",
        "-u",
        "callbox",
        "--",
        "/opt/callbox/venv/bin/appliance",
        "--data",
        "/var/lib/callbox",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-mdns",
    )
    try:
        output, link = _wait_for(proc, r"(http://\S+/setup\?token=\S+)")
        _, port = _wait_for(proc, r"listening on port (\d+)", output)
        assert link.startswith(f"http://127.0.0.1:{port}/setup?token=")
        status, body = _get(box, link)
        assert status == 200, body
        assert 'name="token"' in body
        status, _ = _get(box, link.split("?")[0] + "?token=wrong")
        assert status == 404
        # Runs as `callbox`, and its database is the service's, not root's (in the 0700
        # folder; the unit's UMask=0077 makes the files 0600 as well).
        ours = [p for p in psutil.Process(proc.pid).children(recursive=True) if _is_appliance(p)]
        assert ours and all(p.uids().real == _uid(box, "callbox") for p in ours)
        db = box.path("/var/lib/callbox/callbox.db")
        assert db.stat().st_uid == _uid(box, "callbox")
    finally:
        _stop(proc)


def _is_appliance(p: psutil.Process) -> bool:
    try:  # the interpreter running the script, not runuser or nsenter naming it
        cmdline: list[str] = p.cmdline()
    except psutil.NoSuchProcess:
        return False
    return cmdline[1:2] == ["/opt/callbox/venv/bin/appliance"]


def _wait_for(proc: subprocess.Popen[str], pattern: str, seen: str = "") -> tuple[str, str]:
    assert proc.stdout is not None
    found = re.search(pattern, seen)
    deadline = time.monotonic() + _START_TIMEOUT
    while found is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        found = re.search(pattern, seen)
    assert found is not None, f"no {pattern!r} in:\n{seen}"
    return seen, found.group(1)


def _stop(proc: subprocess.Popen[str]) -> None:
    for p in psutil.Process(proc.pid).children(recursive=True):
        if _is_appliance(p):
            p.terminate()
    try:
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_supervisord_runs_the_appliance_and_stops_its_group(box: FreshRoot) -> None:
    ctl = (PYTHON, "-m", "supervisor.supervisorctl", "-c", SUPERVISOR_CONF)
    daemon = box.popen(PYTHON, "-m", "supervisor.supervisord", "-c", SUPERVISOR_CONF, "-n")
    try:
        # Only a unix socket, only root's; nothing on the network.
        deadline = time.monotonic() + _START_TIMEOUT
        sock = box.path("/run/callbox-supervisor.sock")
        while not sock.exists():
            assert daemon.poll() is None and time.monotonic() < deadline, "no supervisord"
            time.sleep(0.1)
        assert stat.S_ISSOCK(sock.stat().st_mode) and _mode(sock) == 0o700
        status = 0
        while status != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            status, _ = _get(box, "http://127.0.0.1:8080/login")
        assert status == 200, "the appliance did not answer under supervisord"
        listening = _ok(box.run("ss", "-Hltn"))
        assert [line.split()[3] for line in listening.splitlines()] == ["0.0.0.0:8080"]

        apps = [p for p in psutil.Process(daemon.pid).children(recursive=True) if _is_appliance(p)]
        assert len(apps) == 1
        app = apps[0]
        assert app.uids().real == _uid(box, "callbox")
        pgid = os.getpgid(app.pid)
        assert pgid == app.pid  # its own group: the one stopasgroup/killasgroup signal
        assert "callbox: stopped" in _ok(box.run(*ctl, "stop", "callbox", timeout=60))
        assert not app.is_running()
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)  # no member of the group is left
        assert "STOPPED" in box.run(*ctl, "status", "callbox").stdout
        _ok(box.run(*ctl, "shutdown", timeout=60))
        daemon.wait(timeout=30)
        log = box.path("/var/log/callbox/appliance.log").read_text()
        assert "listening on port 8080" in log
    finally:
        if daemon.poll() is None:
            daemon.kill()
        daemon.wait(timeout=10)
        if daemon.stdout is not None:
            daemon.stdout.close()


def test_callbox_command_runs_as_the_service_user(box: FreshRoot) -> None:
    add = ("callbox", "user", "add", "boss", "--role", "admin", "--password-stdin")
    sudo = {"SUDO_USER": "wangfang"}  # as `sudo callbox …` run by IT's wangfang
    assert "created admin 'boss'" in _ok(box.run(*add, stdin="correct horse battery\n", env=sudo))
    # The audit log names who typed it, not the service's user it ran as.
    audit = _ok(
        box.run(
            "runuser",
            "-u",
            "callbox",
            "--",
            "/opt/callbox/venv/bin/python",
            "-c",
            "import sqlite3; db = sqlite3.connect('/var/lib/callbox/callbox.db');"
            "print(db.execute('SELECT user_name, address, action, target FROM admin_audit"
            " ORDER BY id DESC LIMIT 1').fetchone())",
        )
    )
    assert audit.strip() == "('wangfang', 'cli', 'user.create', 'boss')"
    assert "boss" in _ok(box.run("callbox", "user", "list"))
    db = box.path("/var/lib/callbox/callbox.db")
    assert db.stat().st_uid == _uid(box, "callbox")  # root's shell made no root-owned file
    refused = box.run("callbox", "run")
    assert refused.returncode == 2 and "systemctl start" in refused.stderr


def test_relay_install(box: FreshRoot) -> None:
    out = _ok(box.run("bash", RELAY_INSTALL, *OFFLINE, "--public-host", "relay.test", timeout=150))
    uid = _uid(box, "callbox-relay")
    assert uid is not None and uid != _uid(box, "callbox")
    data = box.path("/var/lib/callbox-relay")
    assert data.stat().st_uid == uid and _mode(data) == 0o700
    # `init` ran as the relay's user: its key is its own and private.
    key = box.path("/var/lib/callbox-relay/wg.key")
    assert key.stat().st_uid == uid and _mode(key) == 0o600
    assert "systemd is not running here" in out
    unit = box.path("/etc/systemd/system/callbox-relay.service").read_text()
    assert "LimitNOFILE=65536" in unit
    assert "ExecStart=/opt/callbox-relay/venv/bin/relay-server run" in unit
    assert box.path("/etc/sysctl.d/60-callbox-relay.conf").read_text().count("ip_forward = 1")
    firewall = box.path("/etc/systemd/system/callbox-relay-firewall.service").read_text()
    assert "nft -f /etc/callbox-relay/firewall.nft" in firewall
    _ok(box.run("nft", "-f", "/etc/callbox-relay/firewall.nft"))
    loaded = _ok(box.run("nft", "list", "table", "inet", "callbox_relay_host"))
    assert "udp dport 51820 accept" in loaded and "policy drop" in loaded
    listed = _ok(box.run("/usr/local/sbin/callbox-relay", "tenant", "list"))
    assert listed.startswith("name")

    _ok(box.run("bash", UNINSTALL, "--relay", "--purge"))
    for gone in (
        "/opt/callbox-relay",
        "/var/lib/callbox-relay",
        "/etc/sysctl.d/60-callbox-relay.conf",
        "/etc/systemd/system/callbox-relay.service",
    ):
        assert not box.path(gone).exists(), gone
    assert _uid(box, "callbox-relay") is None
    assert box.path("/opt/callbox/venv/bin/appliance").is_file()  # the box's untouched


def test_uninstall_keeps_data_unless_purged(box: FreshRoot) -> None:
    _ok(box.run("callbox", "user", "list"))  # the database exists, whichever tests ran
    out = _ok(box.run("bash", UNINSTALL))
    assert "kept the data in /var/lib/callbox" in out
    for gone in (
        "/opt/callbox",
        "/usr/local/sbin/callbox",
        "/etc/systemd/system/callbox-appliance.service",
        "/etc/systemd/system/callbox-firewall.service",
    ):
        assert not box.path(gone).exists(), gone
    assert box.path("/var/lib/callbox/callbox.db").is_file()
    assert box.path("/etc/callbox/callbox.env").is_file()
    assert _uid(box, "callbox") is not None

    out = _ok(box.run("bash", UNINSTALL, "--purge"))
    assert "purged" in out
    for gone in ("/var/lib/callbox", "/etc/callbox"):
        assert not box.path(gone).exists(), gone
    assert _uid(box, "callbox") is None
    assert "callbox:" not in box.path("/etc/group").read_text()
