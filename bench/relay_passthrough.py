"""Relay passthrough benchmark: visitor HTTPS through relay-server, next to nginx and direct.

One run builds the network-test topology (tests/network/topology.py: namespaces, NAT,
real wireguard-go), starts the real `relay-server run` in the relay host and a
stand-in appliance origin behind office A's NAT (bench/relay_targets.py `origin`:
enrols, tunnel up, TLS on its overlay and LAN addresses), and then, from the visitor
host, measures the same load against three paths to the same origin server:

- relay:  visitor → relay:443 (relay-server, SNI passthrough, PROXY v2) → tunnel → origin
- nginx:  visitor → relay:4443 (Debian's nginx, `stream` + `ssl_preread`, PROXY v1)
          → the same tunnel → the same origin
- direct: visitor → office A's gateway :443, port-forwarded to the origin's LAN address
          (no relay, no tunnel, no PROXY header): the no-relay reference

Phases (each path, each repeat; see bench/README.md): new TLS connections at a fixed
Poisson rate and at saturation, keep-alive requests at a fixed rate and at saturation,
and 1 MiB downloads. It records latency percentiles, throughput and the CPU of the
relay, nginx, both wireguard-go, the origin, the load generator and everyone else,
and reports medians over repeats with the ratios relay/direct and relay/nginx.

    python bench/relay_passthrough.py --duration 10 --repeat 3

Needs root (namespaces, nft, wireguard-go) and Debian's nginx-light and
libnginx-mod-stream. Results: bench/results/relay_passthrough-<time>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a script: make tests.network importable
    sys.path.insert(0, str(_ROOT))

import psutil  # noqa: E402
from provenance import git_revision, machine  # noqa: E402  (bench/)
from relay_measure import CpuClock, NetClock, profile_top, py_spy  # noqa: E402  (bench/)

from tests.network.topology import OFFICES, RELAY_IP, Relay, Topology  # noqa: E402
from tests.testca import make_ca_and_server  # noqa: E402

_RESULTS = _ROOT / "bench" / "results"
_TARGETS = _ROOT / "bench" / "relay_targets.py"
_NGINX_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")

HOSTNAME = "chat.acme.test"  # tenant acme's visitor host name (the SNI)
NGINX_PORT = 4443  # nginx's stream listener on the relay's public address
VISITOR_PORT = 443  # relay passthrough, the origin, and the office port forward
OFFICE = OFFICES[0]  # office A: gateway 198.51.100.30, origin LAN address 10.0.1.2
PATHS = ("direct", "nginx", "relay")
PHASES = ("conn_rate", "conn_sat", "ka_rate", "ka_sat", "bulk")
_EXPECT = {"direct": "none", "nginx": "v1", "relay": "v2"}  # the origin's X-Visitor prefix
_ORIGIN_TIMEOUT = 30.0  # s for the origin to enrol and serve
_PHASE_SLACK = 40.0  # s beyond warm-up + window before a load generator is killed
_IDLE_PROBE = 2.0  # s of machine CPU sampled before each repeat
_RELAY_UVLOOP = (  # `relay-server` on uvloop, for --relay-loop uvloop (relay code unchanged)
    "import asyncio, sys, uvloop\n"
    "asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())\n"
    "from relay_server.cli import main\n"
    "sys.exit(main())"
)
_PORT_RANGE = "1024 65535"  # ephemeral ports in the visitor and relay namespaces

# The port forward of the direct path, on office A's gateway only, for this run only:
# DNAT in a table of its own, and one accept before the gateway's forward policy drop.
_FORWARD_TABLE = f"""
table ip cbxbench {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname "wan" tcp dport {VISITOR_PORT} dnat to {OFFICE.appliance}:{VISITOR_PORT}
    }}
}}
"""
_FORWARD_ACCEPT = (
    f'iifname "wan" ip daddr {OFFICE.appliance} tcp dport {VISITOR_PORT} ct status dnat accept'
)

_NGINX_CONF = """\
load_module {module};
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 16384; }}
stream {{
    map $ssl_preread_server_name $backend {{
        {hostname} {backend};
    }}
    server {{
        listen {listen};
        ssl_preread on;
        proxy_pass $backend;
        proxy_protocol on;
    }}
}}
"""


@dataclass(frozen=True)
class Params:
    """What each phase asks, the same for every path."""

    duration: float  # s measured per phase
    warmup: float  # s of load before each window
    conn_rate: float  # new connections per s offered in conn_rate
    conn_concurrency: int  # clients in conn_sat
    ka_conns: int  # keep-alive connections in ka_rate and ka_sat
    ka_rate: float  # requests per s offered in ka_rate, all connections together
    bulk_conns: int  # connections downloading in bulk
    bulk_bytes: int  # bytes of each bulk download
    nginx_workers: int
    relay_loop: str  # "asyncio" (what `relay-server run` uses) or "uvloop" (an experiment)
    seed: int


# -- the bench network ---------------------------------------------------------


class BenchNet:
    """The topology with the relay, nginx, the origin and the port forward running."""

    def __init__(self, topo: Topology, work: Path, p: Params) -> None:
        self.topo = topo
        self.work = work
        self.p = p
        self.relay = Relay(topo, work / "relay")
        self.origin_iface = topo.wg_name("boxa")
        self.ca = Path()
        self.pids: dict[str, list[int]] = {}
        self.net_pids: dict[str, int] = {}  # a process in each host whose counters we read
        self.checks: dict[str, Any] = {}

    def address(self, path: str) -> str:
        return {
            "direct": f"{OFFICE.wan}:{VISITOR_PORT}",
            "nginx": f"{RELAY_IP}:{NGINX_PORT}",
            "relay": f"{RELAY_IP}:{VISITOR_PORT}",
        }[path]

    def start(self) -> None:
        """Start everything and check that each path reaches the origin the way it should."""
        topo = self.topo
        for host in ("visitor", "relay"):
            topo.run(host, "sysctl", "-qw", f"net.ipv4.ip_local_port_range={_PORT_RANGE}")
        topo.run("visitor", "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")
        self.relay.init()
        token = self.relay.add_tenant("acme", HOSTNAME)
        if self.p.relay_loop == "uvloop":
            data = str(self.relay.data_dir)
            cmd = [sys.executable, "-c", _RELAY_UVLOOP, "--data", data, "run"]
            relay = self.relay.daemon = topo.spawn("relay", *cmd, label="relay-uvloop")
            relay.wait_for(r"^relay-server: ready", _ORIGIN_TIMEOUT)
        else:
            relay = self.relay.start()
        self.ca, cert, key = make_ca_and_server(self.work / "tls", [HOSTNAME])
        token_file = self.work / "token-acme"
        token_file.touch(mode=0o600)
        token_file.write_text(token)
        origin = topo.spawn(
            f"appliance-{OFFICE.name}",
            sys.executable, str(_TARGETS), "origin",
            "--token-file", str(token_file),
            "--iface", self.origin_iface,
            "--cert", str(cert),
            "--key", str(key),
            "--lan", OFFICE.appliance,
            "--bulk-bytes", str(self.p.bulk_bytes),
            label="origin",
        )  # fmt: skip
        ready = json.loads(origin.wait_for(r"^READY (.*)$", _ORIGIN_TIMEOUT).group(1))
        nginx = self._start_nginx(backend=ready["overlay"])  # the appliance's 100.64.1.1:443
        gateway = f"gw-{OFFICE.name}"
        topo.run(gateway, "nft", "-f", "-", input=_FORWARD_TABLE)
        topo.run(gateway, "nft", "insert", "rule", "inet", "filter", "forward", _FORWARD_ACCEPT)
        self.pids = {
            "relay": [relay.pid],
            "nginx": [nginx.pid],
            "origin": [origin.pid],
            "tunnel": self._wireguard_pids(),
        }
        self.net_pids = {"relay": relay.pid, "appliance": origin.pid}
        for path in PATHS:
            spec = self.spec(path, "check")
            self.checks[path] = check = self.load(spec, {})["result"]
            if not check.get("ok"):
                raise RuntimeError(f"path {path} does not reach the origin: {check}")
        workers = psutil.Process(nginx.pid).children()
        self.pids["nginx"] += [w.pid for w in workers]

    def _start_nginx(self, backend: str) -> Any:
        prefix = self.work / "nginx"
        prefix.mkdir()
        conf = prefix / "nginx.conf"
        conf.write_text(
            _NGINX_CONF.format(
                module=_NGINX_MODULE,
                workers=self.p.nginx_workers,
                prefix=prefix,
                hostname=HOSTNAME,
                backend=backend,
                listen=f"{RELAY_IP}:{NGINX_PORT}",
            )
        )
        where = ["-c", str(conf), "-p", str(prefix), "-e", str(prefix / "error.log")]
        self.topo.run("relay", "nginx", "-t", "-q", *where)
        return self.topo.spawn("relay", "nginx", *where, "-g", "daemon off;", label="nginx")

    def _wireguard_pids(self) -> list[int]:
        names = {self.relay.iface, self.origin_iface}
        found = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if cmdline and "wireguard-go" in cmdline[0] and cmdline[-1] in names:
                found.append(proc.info["pid"])
        if len(found) != 2:
            raise RuntimeError(f"expected 2 wireguard-go for {names}, found {found}")
        return found

    def spec(self, path: str, phase: str) -> dict[str, Any]:
        """Return the load generator's Spec (as JSON-able dict) for a path and phase."""
        p = self.p
        spec: dict[str, Any] = {
            "phase": phase,
            "connect": self.address(path),
            "sni": HOSTNAME,
            "ca": str(self.ca),
            "expect": _EXPECT[path],
            "warmup": p.warmup,
            "duration": p.duration,
            "seed": p.seed,
        }
        if phase == "conn_rate":
            spec["rate"] = p.conn_rate
        elif phase == "conn_sat":
            spec["concurrency"] = p.conn_concurrency
        elif phase == "ka_rate":
            spec |= {"rate": p.ka_rate, "concurrency": p.ka_conns}
        elif phase == "ka_sat":
            spec["concurrency"] = p.ka_conns
        elif phase == "bulk":
            spec["concurrency"] = p.bulk_conns
        return spec

    def load(
        self, spec: dict[str, Any], groups: dict[str, list[int]], profile: Path | None = None
    ) -> dict[str, Any]:
        """Run the load generator in the visitor host; CPU of groups during its window.

        With `profile`, py-spy records relay-server during the window (non-blocking
        sampling, but it still takes CPU from a 2-core machine: figures are lower).
        """
        proc = self.topo.popen(
            "visitor", sys.executable, str(_TARGETS), "load", json.dumps(spec),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        limit = spec["warmup"] + spec["duration"] + _PHASE_SLACK
        timer = threading.Timer(limit, proc.kill)
        timer.start()
        clock: CpuClock | None = None
        spy: subprocess.Popen[bytes] | None = None
        cpu: dict[str, Any] = {}
        net: dict[str, dict[str, int]] = {}
        result: dict[str, Any] = {}
        assert proc.stdout is not None and proc.stderr is not None
        try:
            for line in proc.stdout:
                if line.startswith("WINDOW start"):
                    clock = CpuClock({**groups, "loadgen": [proc.pid]})
                    hosts = {"visitor": proc.pid, **self.net_pids}
                    counters = NetClock(hosts)
                    if profile is not None:
                        spy = py_spy(self.pids["relay"][0], spec["duration"], profile)
                elif line.startswith("WINDOW end") and clock is not None:
                    cpu = clock.percent()
                    net = counters.delta()
                elif line.startswith("RESULT "):
                    result = json.loads(line[len("RESULT ") :])
            err = proc.stderr.read()
            proc.wait()
        finally:
            timer.cancel()
            if spy is not None:
                spy.wait(_PHASE_SLACK)
            proc.stdout.close()
            proc.stderr.close()
        if not result:
            raise RuntimeError(f"load generator failed ({proc.returncode}): {err[-3000:]}")
        return {"result": result, "cpu": cpu, "net": net}

    def relay_connections(self) -> float:
        """Return the relay's own count of visitor connections it passed to acme."""
        return self.relay.metrics().get('callbox_relay_connections_total{tenant="acme"}', 0.0)

    def log_summary(self) -> dict[str, dict[str, int]]:
        """Count what the relay, the origin and nginx logged that is not routine."""
        out = {}
        for daemon in self.topo.daemons:
            text = daemon.output()
            out[daemon.label] = {
                "errors": text.count(" ERROR "),
                "tracebacks": text.count("Traceback"),
                "tasks_destroyed": text.count("Task was destroyed but it is pending"),
            }
        error_log = self.work / "nginx" / "error.log"
        if error_log.exists():
            lines = error_log.read_text("utf-8", "replace").splitlines()
            out["nginx_error_log"] = {"errors": sum("[error]" in line for line in lines)}
        return out

    def save_logs(self, stamp: str) -> list[str]:
        """Copy the daemons' logs (and nginx's error log) next to the report."""
        saved = []
        for daemon in self.topo.daemons:
            target = _RESULTS / f"relay_passthrough-{stamp}-{daemon.label}.log"
            shutil.copyfile(daemon.log, target)
            saved.append(target.name)
        error_log = self.work / "nginx" / "error.log"
        if error_log.exists():
            target = _RESULTS / f"relay_passthrough-{stamp}-nginx-error.log"
            shutil.copyfile(error_log, target)
            saved.append(target.name)
        return saved


def _derive(path: str, result: dict[str, Any], cpu: dict[str, Any]) -> dict[str, Any]:
    """Add the proxy's CPU (relay or nginx, per the path) and CPU µs per operation."""
    proxy = {"relay": "relay_pct", "nginx": "nginx_pct"}.get(path)
    cpu["proxy_pct"] = cpu.get(proxy, 0.0) if proxy else 0.0
    cpu["proxy_sys_pct"] = cpu.get(proxy.replace("_pct", "_sys_pct"), 0.0) if proxy else 0.0
    cpu["rest_pct"] = round(cpu.get("others_pct", 0.0) + cpu.get("unaccounted_pct", 0.0), 1)
    rate = result.get("per_s") or 0.0
    per_op = {}
    for name in ("proxy", "tunnel", "origin", "loadgen"):
        pct = cpu.get(f"{name}_pct", 0.0)
        per_op[name] = round(pct * 1e4 / rate, 1) if rate else float("nan")
    return {**result, "cpu": cpu, "cpu_us_per_op": per_op}


# -- runs ----------------------------------------------------------------------


def run(
    p: Params, paths: list[str], phases: list[str], repeat: int, stamp: str, profile: bool
) -> dict[str, Any]:
    """Build the network, run every phase on every path `repeat` times, tear it down."""
    runs: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cbx-bench-") as tmp:
        work = Path(tmp)
        with Topology(work / "net") as topo:
            info["tag"] = topo.tag
            net = BenchNet(topo, work, p)
            try:
                t0 = time.monotonic()
                net.start()
                info["setup_s"] = round(time.monotonic() - t0, 1)
                info["checks"] = net.checks
                print(f"network {topo.tag} up in {info['setup_s']} s: {net.checks}", flush=True)
                relay_before = net.relay_connections()
                for r in range(1, repeat + 1):
                    runs += _repeat(net, r, repeat, paths, phases, stamp if profile else "")
                info["relay_connections_counted"] = net.relay_connections() - relay_before
            finally:
                info["logs"] = net.save_logs(stamp)
                info["log_summary"] = net.log_summary()
        info["cleanup"] = _leftovers(topo)
    return {"runs": runs, "info": info}


def _repeat(
    net: BenchNet, r: int, repeat: int, paths: list[str], phases: list[str], profile: str
) -> list[dict[str, Any]]:
    """Run every phase on every path once; with `profile` (a stamp), py-spy the relay.

    Per phase the paths run one after another, so that they share the machine's
    conditions; their order rotates from repeat to repeat.
    """
    runs = []
    background = psutil.cpu_percent(interval=_IDLE_PROBE) * (os.cpu_count() or 1)
    order = paths[r % len(paths) :] + paths[: r % len(paths)]
    for phase in phases:
        for path in order:
            folded = None
            if profile and path == "relay":
                folded = _RESULTS / f"relay_passthrough-{profile}-{phase}-r{r}.folded"
            done = net.load(net.spec(path, phase), net.pids, folded)
            result = _derive(path, done["result"], done["cpu"])
            result["net"] = done["net"]
            result["cpu"]["background_before_pct"] = round(background, 1)
            runs.append({"repeat": r, "phase": phase, "path": path, "result": result})
            print(_line(r, repeat, phase, path, result), flush=True)
            if folded is not None and folded.exists():
                result["profile"] = folded.name
                print(profile_top(folded), flush=True)
    return runs


def _line(r: int, repeat: int, phase: str, path: str, res: dict[str, Any]) -> str:
    lat = res["latency_ms"]
    return (
        f"[{r}/{repeat}] {phase:9} {path:6}: {res['per_s']:>8}/s {res['mb_per_s']:>7} MB/s"
        f"  p50 {lat['p50']} ms p99 {lat['p99']} ms  errors {res['error_count']}"
        f"  proxy CPU {res['cpu'].get('proxy_pct')}% ({res['cpu_us_per_op']['proxy']} µs/op)"
        f"  others {res['cpu'].get('others_pct')}% {res['cpu'].get('others_top')}"
    )


def _leftovers(topo: Topology) -> dict[str, Any]:
    """What of this run survived its teardown (should be nothing)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    wg = subprocess.run(["pgrep", "-a", "wireguard-go"], capture_output=True, text=True).stdout
    nginx = subprocess.run(["pgrep", "-a", "nginx"], capture_output=True, text=True).stdout
    return {
        **topo.leftovers(),
        "netns": [n for n in listed.splitlines() if topo.tag in n],
        "wireguard_go": [line for line in wg.splitlines() if topo.tag in line],
        "nginx": [line for line in nginx.splitlines() if "cbx-bench-" in line],
    }


# -- report --------------------------------------------------------------------

_ROWS = (
    ("latency_ms.p50", "latency p50 ms"),
    ("latency_ms.p99", "latency p99 ms"),
    ("tls_handshake_ms.p50", "TLS handshake p50 ms"),
    ("tls_handshake_ms.p99", "TLS handshake p99 ms"),
    ("per_s", "completed per s"),
    ("mb_per_s", "MB/s (bodies)"),
    ("cpu.proxy_pct", "proxy CPU % of a core"),
    ("cpu.proxy_sys_pct", "  of which in the kernel"),
    ("cpu_us_per_op.proxy", "proxy CPU µs per op"),
    ("cpu.tunnel_pct", "wireguard-go CPU % (both)"),
    ("cpu.origin_pct", "origin CPU %"),
    ("cpu.loadgen_pct", "load generator CPU %"),
    ("cpu.relay_pct", "relay-server CPU %"),
    ("cpu.nginx_pct", "nginx CPU %"),
    ("cpu.kernel_threads_pct", "kernel threads CPU %"),
    ("cpu.softirq_pct", "  (softirq, in the above)"),
    ("cpu.rest_pct", "everyone else's CPU %"),
    ("cpu.machine_pct", "machine CPU % (of 200)"),
    ("client_loop_lag_ms.p99", "load gen loop lag p99 ms"),
    ("error_count", "errors"),
)
_RATIO_KEYS = (
    "latency_ms.p50",
    "latency_ms.p99",
    "tls_handshake_ms.p50",
    "per_s",
    "mb_per_s",
    "cpu_us_per_op.proxy",
)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[prefix + key] = value
    return flat


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Return {phase: {path: {figure: median over repeats}}}."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for run_ in runs:
        out.setdefault(run_["phase"], {}).setdefault(run_["path"], {})
    for phase, by_path in out.items():
        for path in by_path:
            flats = [
                _flatten(r["result"]) for r in runs if (r["phase"], r["path"]) == (phase, path)
            ]
            keys = sorted({k for f in flats for k in f})
            by_path[path] = {k: statistics.median(f.get(k, 0) for f in flats) for k in keys}
    return out


def ratios(medians: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Return {phase: {"relay/direct.KEY": x, "relay/nginx.KEY": y}}."""
    out: dict[str, dict[str, float]] = {}
    for phase, by_path in medians.items():
        relay = by_path.get("relay")
        out[phase] = {}
        for other in ("direct", "nginx"):
            base = by_path.get(other)
            if relay is None or base is None:
                continue
            for key in _RATIO_KEYS:
                if base.get(key) and key in relay:
                    out[phase][f"relay/{other}.{key}"] = round(relay[key] / base[key], 2)
    return out


def table(
    medians: dict[str, dict[str, dict[str, float]]], ratio: dict[str, dict[str, float]]
) -> str:
    """Render, per phase, the figures of each path and the ratios."""
    lines = []
    for phase, by_path in medians.items():
        names = [n for n in PATHS if n in by_path]
        lines.append(
            f"\n{phase:27}" + "".join(f"{n:>10}" for n in names) + "  relay/direct relay/nginx"
        )
        for key, label in _ROWS:
            hidden = "per_s" if phase == "bulk" else "mb_per_s"  # bulk: MB/s, others: per s
            if key == hidden or not any(key in by_path[n] for n in names):
                continue
            cells = "".join(f"{by_path[n].get(key, float('nan')):>10g}" for n in names)
            extra = "".join(
                f"{ratio[phase][f'relay/{o}.{key}']:>13g}"
                if f"relay/{o}.{key}" in ratio[phase]
                else " " * 13
                for o in ("direct", "nginx")
            )
            lines.append(f"{label:27}{cells}{extra if key in _RATIO_KEYS else ''}")
    return "\n".join(lines)


def _version(*cmd: str) -> str:
    with contextlib.suppress(OSError):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (done.stdout + done.stderr).strip().splitlines()[0]
    return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="s measured per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="s of load before each window")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every phase and path")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--conn-rate", type=float, default=100.0, help="new connections/s")
    parser.add_argument("--conn-concurrency", type=int, default=16, help="clients in conn_sat")
    parser.add_argument("--ka-conns", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--ka-rate", type=float, default=500.0, help="keep-alive requests/s")
    parser.add_argument("--bulk-conns", type=int, default=1)
    parser.add_argument("--bulk-bytes", type=int, default=1024 * 1024)
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument(
        "--relay-loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="run relay-server on uvloop (an experiment: its code is not changed)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile", action="store_true", help="py-spy relay-server in relay-path windows"
    )
    args = parser.parse_args(argv)
    paths = [n for n in args.paths.split(",") if n]
    phases = [n for n in args.phases.split(",") if n]
    assert set(paths) <= set(PATHS), f"paths: {PATHS}"
    assert set(phases) <= set(PHASES), f"phases: {PHASES}"
    p = Params(**{f.name: getattr(args, f.name) for f in fields(Params)})
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    _RESULTS.mkdir(parents=True, exist_ok=True)
    minutes = args.repeat * len(paths) * len(phases) * (p.warmup + p.duration + 1) / 60
    print(f"about {minutes:.0f} min of load, plus set-up", flush=True)
    revision = git_revision("relay-server", "bench", "tests/network")
    done = run(p, paths, phases, args.repeat, stamp, args.profile)
    medians = summarize(done["runs"])
    ratio = ratios(medians)
    report = {
        "command": [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])],
        "started": stamp,
        "revision": revision,
        "params": asdict(p),
        "machine": machine(
            openssl=ssl.OPENSSL_VERSION,
            nginx=_version("nginx", "-v"),
            wireguard_go=_version("wireguard-go", "--version"),
        ),
        **done["info"],
        "runs": done["runs"],
        "median": medians,
        "ratio": ratio,
    }
    out = _RESULTS / f"relay_passthrough-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(table(medians, ratio))
    print(f"\nrelay counted {done['info'].get('relay_connections_counted')} connections")
    print(f"logs: {done['info'].get('log_summary')}")
    cleanup = done["info"]["cleanup"]
    print(f"left behind: {cleanup if any(cleanup.values()) else 'nothing'}")
    print(f"medians of {args.repeat} run(s); full report: {out.relative_to(_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
