"""Network end-to-end harness: hosts as network namespaces on a private test internet.

    ns inet: bridge br0 = the internet segment, 198.51.100.0/24 (TEST-NET-2)
      relay        198.51.100.1
      visitor      198.51.100.10
      staff-a      198.51.100.20     (a staff laptop of tenant A, out of the office)
      staff-b      198.51.100.21     (a staff laptop of tenant B)
      gw-a         198.51.100.30 wan | 10.0.1.1 lan   NAT masquerade, no port forwards
        appliance-a  10.0.1.2  (default route via gw-a)
        agent-a      10.0.1.3  (an agent PC on office A's LAN)
      gw-b         198.51.100.31 wan | 10.0.2.1 lan
        appliance-b  10.0.2.2
        agent-b      10.0.2.3

Every namespace is named cbx-<tag>-<host> with a random tag, and every WireGuard
interface made through `wg_name()` is cbx<tag><label>, so parallel or leftover runs
never clash (wireguard-go's control socket /var/run/wireguard/NAME.sock is global).

Processes:
- `run()` runs a command in a host to completion; `popen()` starts one as a child of
  the caller, who waits for it (what a test starts and ends itself).
- `spawn()` starts a *detached* daemon (not a child of pytest: a launcher starts it
  in its own session and exits, so it is re-parented to init) with its output in a
  log file. Module-scoped services (the relay, appliances) are daemons: they outlive
  single tests without tripping the per-test child-process leak check, and they can
  be killed and started again inside a test. Nothing escapes: `close()` ends every
  process whose network namespace is one of ours (`ip netns pids`), wireguard-go
  daemons included, then deletes WireGuard interfaces, stale control sockets and
  the namespaces. `leftovers()` tells what (if anything) survived.
- `host()` runs a tests.network.hosts command in a host and returns its JSON answer;
  `spawn_host()` starts one as a daemon.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from relay_server.keys import public_key

ROOT = Path(__file__).resolve().parents[2]
WG_RUN_DIR = Path("/var/run/wireguard")

RELAY_IP = "198.51.100.1"
INET_HOSTS = {"relay": "198.51.100.1", "visitor": "198.51.100.10"}
INET_HOSTS |= {"staff-a": "198.51.100.20", "staff-b": "198.51.100.21"}


@dataclass(frozen=True, slots=True)
class Office:
    """A company site: a NAT gateway, the appliance and an agent PC on one LAN."""

    name: str  # "a" or "b"
    lan: str  # first three octets, e.g. "10.0.1"
    wan: str  # the gateway's internet address

    @property
    def gateway(self) -> str:
        return f"{self.lan}.1"

    @property
    def appliance(self) -> str:
        return f"{self.lan}.2"

    @property
    def agent(self) -> str:
        return f"{self.lan}.3"


OFFICES = (Office("a", "10.0.1", "198.51.100.30"), Office("b", "10.0.2", "198.51.100.31"))

# The gateway of an office: everything from the LAN may go out (masqueraded), only
# replies come back in. Bridged LAN-to-LAN frames also pass the forward hook when
# br_netfilter is loaded; they come in on "lan" too.
_GATEWAY_RULES = """
table ip nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" masquerade
    }
}
table inet filter {
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "lan" accept
    }
}
"""

_LAUNCHER = """
import os, subprocess, sys
log = open(sys.argv[1], "ab", buffering=0)
proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log,
                        stderr=subprocess.STDOUT, start_new_session=True)
print(proc.pid, flush=True)
os._exit(0)
"""

_OPEN: set[Topology] = set()


class TopologyError(RuntimeError):
    """A command in the test network failed."""


def _run(*cmd: str, input: str | None = None, timeout: float = 30.0) -> str:
    """Run a setup command in the root namespace; fail loudly."""
    done = subprocess.run(
        cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise TopologyError(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


class Daemon:
    """A detached process in a host; its output goes to a log file."""

    def __init__(self, label: str, pid: int, log: Path) -> None:
        self.label = label
        self.pid = pid
        self.log = log
        try:
            self._proc: psutil.Process | None = psutil.Process(pid)
        except psutil.NoSuchProcess:
            self._proc = None

    def __repr__(self) -> str:
        return f"<Daemon {self.label} pid={self.pid}>"

    @property
    def process(self) -> psutil.Process | None:
        return self._proc

    def alive(self) -> bool:
        """Tell whether the process still runs (a zombie awaiting init counts as gone)."""
        return self._proc is not None and _alive(self._proc)

    def output(self) -> str:
        return self.log.read_text("utf-8", "replace") if self.log.exists() else ""

    def wait_for(self, pattern: str, timeout: float = 20.0, start: int = 0) -> re.Match[str]:
        """Wait until the log (from character `start`) matches; fail if it dies first."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.output(), start)
            if found:
                return found
            if not self.alive():
                raise TopologyError(f"{self.label} exited:\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                raise TopologyError(f"{self.label}: no {pattern!r}:\n{self.output()[-4000:]}")
            time.sleep(0.05)

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self._proc is not None
            with contextlib.suppress(psutil.NoSuchProcess):
                self._proc.send_signal(sig)

    def wait(self, timeout: float) -> bool:
        """Wait for the process to end; tell whether it did."""
        return _wait_until(lambda: not self.alive(), timeout)

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM, then SIGKILL after `timeout`; tell whether it ended on SIGTERM."""
        self.signal(signal.SIGTERM)
        if self.wait(timeout):
            return True
        self.kill()
        return False

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash or a power cut)."""
        self.signal(signal.SIGKILL)
        self.wait(10.0)


class Topology:
    """The whole test network; a context manager. See the module docstring."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        tag: str | None = None,
        extra_hosts: Mapping[str, str] | None = None,
    ) -> None:
        """Describe the network; `build()` (or `with`) creates it.

        `extra_hosts` adds internet hosts: {name: address in 198.51.100.0/24}.
        """
        self.tag = tag or uuid.uuid4().hex[:6]
        self._own_workdir = workdir is None
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix=f"cbx-{self.tag}-"))
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.internet_hosts = {**INET_HOSTS, **(extra_hosts or {})}
        self.addresses: dict[str, str] = dict(self.internet_hosts)
        for office in OFFICES:
            self.addresses[f"gw-{office.name}"] = office.wan
            self.addresses[f"appliance-{office.name}"] = office.appliance
            self.addresses[f"agent-{office.name}"] = office.agent
        self.hosts = ["inet", *self.addresses]
        self.daemons: list[Daemon] = []
        self._children: list[subprocess.Popen[Any]] = []
        self._created: list[str] = []
        self._closed = False

    # ----------------------------------------------------------------- names

    def ns(self, host: str) -> str:
        """Return the namespace name of a host ("relay" -> "cbx-<tag>-relay")."""
        if host not in self.hosts:
            raise KeyError(f"no host {host!r} in the topology")
        return f"cbx-{self.tag}-{host}"

    def address(self, host: str) -> str:
        """Return a host's own address (internet or LAN)."""
        return self.addresses[host]

    @property
    def wg_prefix(self) -> str:
        return f"cbx{self.tag}"

    def wg_name(self, label: str) -> str:
        """Return a WireGuard interface name unique to this run (at most 15 characters)."""
        name = self.wg_prefix + label
        if len(name) > 15 or not re.fullmatch(r"[a-z0-9]+", label):
            raise ValueError(f"interface label {label!r}: up to 6 of [a-z0-9]")
        return name

    # ----------------------------------------------------------------- build

    def __enter__(self) -> Topology:
        self.build()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build(self) -> None:
        """Create the namespaces, links, addresses, routes and gateway rules."""
        if os.geteuid() != 0:
            raise TopologyError("the network tests need root (ip netns, nft, wireguard-go)")
        _OPEN.add(self)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _add_ns(self, host: str) -> None:
        _run("ip", "netns", "add", self.ns(host))
        self._created.append(host)
        self.ip(host, "link", "set", "lo", "up")

    def _veth(self, host: str, dev: str, switch_host: str, bridge: str) -> None:
        port = f"p-{host}"
        _run(
            "ip", "link", "add", dev, "netns", self.ns(host), "type", "veth",
            "peer", "name", port, "netns", self.ns(switch_host),
        )  # fmt: skip
        self.ip(switch_host, "link", "set", port, "master", bridge, "up")
        self.ip(host, "link", "set", dev, "up")

    def _build(self) -> None:
        for host in self.hosts:
            self._add_ns(host)
        self.ip("inet", "link", "add", "br0", "type", "bridge")
        self.ip("inet", "link", "set", "br0", "up")
        for host, address in self.internet_hosts.items():
            self._veth(host, "eth0", "inet", "br0")
            self.ip(host, "address", "add", f"{address}/24", "dev", "eth0")
        for office in OFFICES:
            gw = f"gw-{office.name}"
            self._veth(gw, "wan", "inet", "br0")
            self.ip(gw, "address", "add", f"{office.wan}/24", "dev", "wan")
            self.ip(gw, "link", "add", "lan", "type", "bridge")
            self.ip(gw, "address", "add", f"{office.gateway}/24", "dev", "lan")
            self.ip(gw, "link", "set", "lan", "up")
            for role in ("appliance", "agent"):
                host = f"{role}-{office.name}"
                self._veth(host, "eth0", gw, "lan")
                self.ip(host, "address", "add", f"{self.addresses[host]}/24", "dev", "eth0")
                self.ip(host, "route", "add", "default", "via", office.gateway)
            self.run(gw, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            self.run(gw, "nft", "-f", "-", input=_GATEWAY_RULES)

    # -------------------------------------------------------------- commands

    def prefix(self, host: str) -> list[str]:
        """Return the command prefix that runs a program inside a host."""
        return ["ip", "netns", "exec", self.ns(host)]

    def ip(self, host: str, *args: str) -> str:
        """Run `ip -n <ns> ...`; fail loudly."""
        return _run("ip", "-n", self.ns(host), *args)

    def _env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        pythonpath = f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)
        return {**os.environ, "PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1", **(env or {})}

    def run(
        self,
        host: str,
        *cmd: str,
        input: str | None = None,
        timeout: float = 30.0,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside a host to completion."""
        done = subprocess.run(
            [*self.prefix(host), *cmd],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=ROOT,
            env=self._env(env),
        )
        if check and done.returncode != 0:
            raise TopologyError(
                f"[{host}] {' '.join(cmd)}: exit {done.returncode}\n{done.stdout}{done.stderr}"
            )
        return done

    def popen(
        self, host: str, *cmd: str, env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen[Any]:
        """Start a command inside a host as a child of the caller (who waits for it)."""
        proc = subprocess.Popen([*self.prefix(host), *cmd], cwd=ROOT, env=self._env(env), **kwargs)
        self._children.append(proc)
        return proc

    def spawn(
        self, host: str, *cmd: str, label: str, env: Mapping[str, str] | None = None
    ) -> Daemon:
        """Start a detached daemon inside a host; its output goes to <workdir>/<label>.log."""
        log = self.workdir / f"{label}.log"
        out = _run_env(
            [sys.executable, "-c", _LAUNCHER, str(log), *self.prefix(host), *cmd],
            env=self._env(env),
        )
        daemon = Daemon(label, int(out.strip()), log)
        self.daemons.append(daemon)
        return daemon

    def host(self, host: str, *args: str, timeout: float = 30.0, input: str | None = None) -> Any:
        """Run a tests.network.hosts command inside a host; return its JSON answer."""
        done = self.run(host, *host_cmd(*args), timeout=timeout, input=input)
        lines = done.stdout.strip().splitlines()
        if not lines:
            raise TopologyError(f"[{host}] {args[0]}: no answer\n{done.stderr}")
        return json.loads(lines[-1])

    def spawn_host(
        self, host: str, *args: str, label: str, env: Mapping[str, str] | None = None
    ) -> Daemon:
        """Start a tests.network.hosts command as a daemon inside a host."""
        return self.spawn(host, *host_cmd(*args), label=label, env=env)

    def fetch(self, host: str, *requests: dict[str, Any], timeout: float = 30.0) -> list[Any]:
        """Make requests from a host, concurrently (see hosts.fetch); return the results."""
        result: list[Any] = self.host(host, "fetch", json.dumps(list(requests)), timeout=timeout)
        return result

    def fetch_all(
        self, plan: Mapping[str, list[dict[str, Any]]], timeout: float = 30.0
    ) -> dict[str, list[Any]]:
        """Make requests from several hosts at once: {host: [request]} -> {host: [result]}."""
        procs = {
            host: self.popen(
                host,
                *host_cmd("fetch", json.dumps(requests)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for host, requests in plan.items()
        }
        results = {}
        for host, proc in procs.items():
            out, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise TopologyError(f"[{host}] fetch: exit {proc.returncode}\n{err}")
            results[host] = json.loads(out.strip().splitlines()[-1])
        return results

    def pids(self, host: str) -> list[int]:
        """Return the processes whose network namespace is this host's."""
        out = subprocess.run(
            ["ip", "netns", "pids", self.ns(host)], capture_output=True, text=True, check=False
        ).stdout
        return [int(p) for p in out.split()]

    # --------------------------------------------------------------- cleanup

    def close(self) -> None:
        """End every process in our namespaces; delete interfaces and namespaces."""
        if self._closed:
            return
        self._closed = True
        try:
            seen = self._processes() + [d.process for d in self.daemons if d.process]
            for daemon in reversed(self.daemons):
                daemon.stop(timeout=5.0)
            for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
                procs = self._processes()
                seen += procs
                for proc in procs:
                    with contextlib.suppress(psutil.Error):
                        proc.send_signal(sig)
                _wait_ended(procs, wait)
            for child in self._children:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=5)
            for host in self._created:
                self._delete_wireguard_links(host)
            for sock in WG_RUN_DIR.glob(f"{self.wg_prefix}*.sock"):
                sock.unlink(missing_ok=True)
            for host in reversed(self._created):
                subprocess.run(
                    ["ip", "netns", "del", self.ns(host)], capture_output=True, check=False
                )
            # Ended daemons are not our children: init reaps them. Wait (briefly) for
            # that too, so that no <defunct> wireguard-go lingers in `ps` after a run.
            _wait_until(lambda: not any(map(_exists, seen)), 3.0)
        finally:
            _OPEN.discard(self)
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def _processes(self) -> list[psutil.Process]:
        procs = []
        for pid in {p for host in self._created for p in self.pids(host)}:
            with contextlib.suppress(psutil.Error):
                procs.append(psutil.Process(pid))
        return procs

    def _delete_wireguard_links(self, host: str) -> None:
        out = subprocess.run(
            ["ip", "-n", self.ns(host), "-j", "-d", "link", "show"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for link in json.loads(out or "[]"):
            kind = link.get("linkinfo", {}).get("info_kind")
            if kind in ("tun", "wireguard"):
                subprocess.run(
                    ["ip", "-n", self.ns(host), "link", "del", link["ifname"]],
                    capture_output=True,
                    check=False,
                )

    def leftovers(self) -> dict[str, list[str]]:
        """Return what of this run still exists: namespaces, processes, control sockets."""
        listed = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=False
        ).stdout
        namespaces = [n.split()[0] for n in listed.splitlines() if f"cbx-{self.tag}-" in n]
        processes = []
        for proc in psutil.process_iter(["pid", "cmdline", "status"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if self.tag in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
                processes.append(f"{proc.info['pid']} {cmdline}")
        sockets = [str(s) for s in WG_RUN_DIR.glob(f"{self.wg_prefix}*.sock")]
        return {"namespaces": namespaces, "processes": processes, "sockets": sockets}

    @staticmethod
    def open_instances() -> list[Topology]:
        return list(_OPEN)


def _alive(proc: psutil.Process) -> bool:
    """Tell whether a process runs (a zombie does not)."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _exists(proc: psutil.Process) -> bool:
    """Tell whether a process still has a process table entry (zombies do)."""
    return bool(proc.is_running())


def _wait_ended(procs: list[psutil.Process], timeout: float) -> bool:
    return _wait_until(lambda: not any(map(_alive, procs)), timeout)


def _wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _run_env(cmd: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=30, check=False, env=env, cwd=ROOT
    )
    if done.returncode != 0:
        raise TopologyError(f"launch {cmd[-1]}: {done.stderr.strip()}")
    return done.stdout


def host_cmd(*args: str) -> list[str]:
    """Return the command line of a tests.network.hosts command."""
    return [sys.executable, "-m", "tests.network.hosts", *args]


class Relay:
    """The real `relay-server` inside the relay host: its CLI, the daemon, its metrics."""

    def __init__(
        self,
        topo: Topology,
        data_dir: Path,
        *,
        host: str = "relay",
        env: Mapping[str, str] | None = None,
        wrapper: tuple[str, ...] = (),
    ) -> None:
        """`wrapper` goes before the `run` command line (e.g. `prlimit --nofile=256 --`)."""
        self.topo = topo
        self.data_dir = data_dir
        self.host = host
        self.env = dict(env or {})
        self.wrapper = wrapper
        self.iface = topo.wg_name("relay")
        self.daemon: Daemon | None = None
        self._starts = 0

    def cli(self, *args: str) -> str:
        """Run one relay-server command inside the relay host; return its output."""
        cmd = [sys.executable, "-m", "relay_server", "--data", str(self.data_dir), *args]
        return self.topo.run(self.host, *cmd, env=self.env).stdout

    def init(self, public_host: str = RELAY_IP, *args: str) -> str:
        return self.cli("init", "--public-host", public_host, "--interface", self.iface, *args)

    def add_tenant(self, name: str, hostname: str) -> str:
        """Register a tenant; return its enrolment token."""
        out = self.cli("tenant", "add", "--name", name, "--hostname", hostname)
        return next(line for line in out.splitlines() if line.startswith("cbr1."))

    @property
    def public_key(self) -> str:
        """Return the relay's WireGuard public key."""
        return public_key((self.data_dir / "wg.key").read_text().strip())

    def start(self, timeout: float = 30.0) -> Daemon:
        """Start `relay-server run` as a daemon; return once it prints ready."""
        self._starts += 1
        cmd = [*self.wrapper, sys.executable, "-m", "relay_server", "--data", str(self.data_dir)]
        cmd.append("run")
        self.daemon = self.topo.spawn(self.host, *cmd, label=f"relay-{self._starts}", env=self.env)
        self.daemon.wait_for(r"^relay-server: ready", timeout)
        return self.daemon

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM; tell whether it ended by itself."""
        assert self.daemon is not None
        return self.daemon.stop(timeout)

    def kill(self) -> None:
        """SIGKILL (a crash): its wireguard-go and nft table stay behind."""
        assert self.daemon is not None
        self.daemon.kill()

    def scrape(self, path: str = "/metrics") -> dict[str, Any]:
        """GET a path of the metrics listener (127.0.0.1:9480 in the relay host)."""
        result: dict[str, Any] = self.topo.fetch(
            self.host, {"url": f"http://127.0.0.1:9480{path}"}
        )[0]
        assert result["ok"] and result["status"] == 200, result
        return result

    def metrics(self) -> dict[str, float]:
        """Return the Prometheus samples as {'name{labels}': value}."""
        samples = {}
        for line in self.scrape()["body"].splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples


@atexit.register
def _close_all() -> None:
    for topo in list(_OPEN):
        topo.close()


def sweep() -> list[str]:
    """Delete every cbx-* namespace and end its processes: leftovers of killed runs.

    Only by hand (`python -m tests.network.topology sweep`): it would also take
    down a run going on in parallel.
    """
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    names = [n.split()[0] for n in listed.stdout.splitlines() if n.startswith("cbx-")]
    tags = {name.split("-")[1] for name in names}
    for tag in tags:
        topo = Topology(Path(tempfile.gettempdir()), tag=tag)
        topo._created = [h for h in topo.hosts if topo.ns(h) in names]
        topo.close()
    for sock in WG_RUN_DIR.glob("cbx*.sock"):
        sock.unlink(missing_ok=True)
    return names


if __name__ == "__main__":
    if sys.argv[1:] != ["sweep"]:
        sys.exit("usage: python -m tests.network.topology sweep")
    print("\n".join(sweep()) or "nothing to sweep")


def pcap_count(pcap: Path, expression: str) -> int:
    """Count the packets of a capture file that match a tcpdump filter."""
    read = subprocess.run(
        ["tcpdump", "-r", str(pcap), "-nn", expression],
        capture_output=True,
        text=True,
        check=True,
    )
    return len(read.stdout.splitlines())
