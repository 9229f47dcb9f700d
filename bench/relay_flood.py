"""Silent-visitor flood: how many connections the relay holds before a real visitor fails.

One run builds the network-test topology (tests/network/topology.py), starts the real
`relay-server run` and Debian's nginx (`stream`, `ssl_preread` SNI passthrough) in the
relay host, each under `prlimit --nofile=NOFILE` with the same limits, and the load
origin of bench/relay_targets.py (which never times out a handshake: the harshest
box) behind office A's NAT. From the visitor host an attacker opens silent
connections (one complete ClientHello, then nothing) from many source addresses,
and a real visitor (TLS with the tenant CA, `GET /small`) probes from another one.

- ramp: silent connections in steps of --step, round-robin over --sources addresses;
  after each step one probe. Stops at the first failed probe (or --max). Figure:
  silent connections held when the first real visitor failed.
- hold: the issue's case: --hold-count silent connections from ONE address, held
  --hold-seconds, with --probes real visitors spread over the hold.

For the relay, the driver also registers and revokes a staff device through the
tunnel API while the visitor path is full. Needs root and nginx:

    apt-get install nginx-light libnginx-mod-stream wireguard-go wireguard-tools nftables
    python bench/relay_flood.py                      # ~2.5 min
    python bench/relay_flood.py attack SPEC_JSON     # (in-namespace part, run by the above)

Results: bench/results/relay_flood-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a script: make tests.network importable
    sys.path.insert(0, str(_ROOT))

import psutil  # noqa: E402
from provenance import git_revision, machine  # noqa: E402  (bench/)
from relay_server.keys import generate_private_key, public_key  # noqa: E402

from tests.network.silent_clients import client_hello  # noqa: E402
from tests.network.topology import RELAY_IP, Relay, Topology  # noqa: E402
from tests.testca import make_ca_and_server  # noqa: E402

HOSTNAME = "chat.acme.test"
NGINX_PORT = 4443
PROBE_SOURCE = "198.51.100.10"  # the visitor host's own address
_RESULTS = _ROOT / "bench" / "results"
_TARGETS = _ROOT / "bench" / "relay_targets.py"
_PROBE_TIMEOUT = 3.0  # s for one real visit
_SETTLE = 0.3  # s after a step for refusals to land before counting and probing
_TCP_CLOSE_WAIT = "08"  # state column of /proc/net/tcp
_NO_CAP = 1_000_000  # --per-source 0: a per-source cap nothing reaches

_NGINX_CONF = """\
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
worker_rlimit_nofile {nofile};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {nofile}; }}
stream {{
    limit_conn_zone $binary_remote_addr zone=per_source:1m;
    map $ssl_preread_server_name $backend {{ {hostname} {backend}; }}
    server {{
        listen {listen};
        ssl_preread on;
        preread_timeout {hello}s;
        proxy_connect_timeout 10s;
        proxy_timeout {idle}s;
        {limit_conn}
        proxy_pass $backend;
        proxy_protocol on;
    }}
}}
"""


# ------------------------------------------------------------ in the visitor host


def _proc_counts(pid: int) -> dict[str, int]:
    """Return the proxy's open descriptors, its namespace's CLOSE-WAIT sockets, its RSS."""
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {"fds": -1, "close_wait": -1, "rss_kib": -1}
    rss = next((int(ln.split()[1]) for ln in status if ln.startswith("VmRSS:")), -1)
    close_wait = sum(ln.split()[3] == _TCP_CLOSE_WAIT for ln in lines)
    return {"fds": fds, "close_wait": close_wait, "rss_kib": rss}


async def _silent(address: str, port: int, source: str, hello: bytes, open_: set[int]) -> None:
    try:
        reader, writer = await asyncio.open_connection(address, port, local_addr=(source, 0))
    except OSError:
        return
    key = id(writer)
    open_.add(key)
    try:
        writer.write(hello)
        while await reader.read(65536):
            pass
    except (ConnectionError, OSError):
        pass
    except asyncio.CancelledError:
        writer.transport.abort()
        raise
    finally:
        open_.discard(key)
    writer.close()


async def _probe(address: str, port: int, ca: str) -> bool:
    context = ssl.create_default_context(cafile=ca)
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT):
            reader, writer = await asyncio.open_connection(
                address, port, ssl=context, server_hostname=HOSTNAME,
                local_addr=(PROBE_SOURCE, 0),
            )  # fmt: skip
            writer.write(f"GET /small HTTP/1.1\r\nHost: {HOSTNAME}\r\n\r\n".encode())
            line = await reader.readline()
            writer.transport.abort()
            return line.startswith(b"HTTP/1.1 200")
    except (OSError, TimeoutError, ssl.SSLError):
        return False


async def attack(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one scenario against one proxy; return its rows and figures."""
    address, port, pid = RELAY_IP, int(spec["port"]), int(spec["pid"])
    hello, open_ = client_hello(HOSTNAME), set()
    tasks: list[asyncio.Task[None]] = []
    rows: list[dict[str, Any]] = []
    started = time.monotonic()

    def row(probe: bool) -> dict[str, Any]:
        r = {"t": round(time.monotonic() - started, 2), "opened": len(tasks)}
        r |= {"held": len(open_), "probe_ok": probe, **_proc_counts(pid)}
        rows.append(r)
        print("ROW " + json.dumps(r), flush=True)
        return r

    def burst(count: int, sources: list[str]) -> None:
        for n in range(count):
            source = sources[(len(tasks) + n) % len(sources)]
            tasks.append(asyncio.create_task(_silent(address, port, source, hello, open_)))

    if spec["mode"] == "ramp":
        while len(tasks) < spec["max"]:
            burst(spec["step"], spec["sources"])
            await asyncio.sleep(_SETTLE)
            if not row(await _probe(address, port, spec["ca"]))["probe_ok"]:
                print("SATURATED", flush=True)
                await asyncio.sleep(spec["linger"])  # the driver calls the tunnel API now
                row(await _probe(address, port, spec["ca"]))
                break
    else:
        burst(spec["count"], spec["sources"][:1])
        gap = spec["seconds"] / spec["probes"]
        for _ in range(spec["probes"]):
            await asyncio.sleep(gap)
            row(await _probe(address, port, spec["ca"]))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"rows": rows}


# ----------------------------------------------------------------- the driver


def _tunnel_api(topo: Topology) -> list[int]:
    """Register and revoke a staff device from the box's address; return the statuses."""
    key = public_key(generate_private_key())
    api = "http://100.64.0.1:8081/v1/staff"
    add = {"url": api, "method": "POST", "json": {"name": "bench", "public_key": key}}
    [added] = topo.fetch("appliance-a", add)
    [revoked] = topo.fetch("appliance-a", {"url": f"{api}/bench", "method": "DELETE"})
    return [added.get("status", 0), revoked.get("status", 0)]


def _run_attack(topo: Topology, spec: dict[str, Any], api: bool) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "attack", json.dumps(spec)]
    proc = topo.popen("visitor", *cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    result: dict[str, Any] = {"spec": spec, "api": [], "rows": []}
    for line in proc.stdout:
        if line.startswith("ROW "):
            result["rows"].append(json.loads(line[4:]))
            print(f"  {spec['name']:<12} {line[4:].strip()}", flush=True)
        elif line.startswith("SATURATED") and api:
            result["api"] = _tunnel_api(topo)
    proc.wait(timeout=120)
    rows = result["rows"]
    failed = [r for r in rows if not r["probe_ok"]]
    result["held_at_first_failure"] = failed[0]["held"] if failed else None
    result["probes_ok"] = f"{sum(r['probe_ok'] for r in rows)}/{len(rows)}"
    result["fds_peak"] = max(r["fds"] for r in rows)
    result["close_wait_peak"] = max(r["close_wait"] for r in rows)
    time.sleep(2.0)  # let the proxy see the attacker's closes before the next scenario
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nofile", type=int, default=1024)
    parser.add_argument("--per-source", type=int, default=256, help="0: no per-source cap")
    parser.add_argument("--sources", type=int, default=40, help="attacker addresses (ramp)")
    parser.add_argument("--step", type=int, default=25)
    parser.add_argument("--max", type=int, default=1500)
    parser.add_argument("--hold-count", type=int, default=500)
    parser.add_argument("--hold-seconds", type=float, default=45.0)
    parser.add_argument("--probes", type=int, default=8)
    if argv is None and sys.argv[1:2] == ["attack"]:
        print(json.dumps(asyncio.run(attack(json.loads(sys.argv[2])))), flush=True)
        return 0
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = Path(tempfile.mkdtemp(prefix="cbx-flood-"))
    sources = [f"198.51.100.{100 + n}" for n in range(1, args.sources + 1)]
    limit = ("prlimit", f"--nofile={args.nofile}", "--")
    report: dict[str, Any] = {"args": vars(args), "git": git_revision("relay-server", "bench")}
    with Topology(work) as topo:
        relay = Relay(topo, work / "relay", wrapper=limit, env={
            "CALLBOX_RELAY_VISITORS_PER_SOURCE": str(args.per_source or _NO_CAP),
        })  # fmt: skip
        relay.init()
        token = relay.add_tenant("acme", HOSTNAME)
        relay.start()
        ca, cert, key = make_ca_and_server(work / "tls", [HOSTNAME])
        token_file = work / "token"
        token_file.write_text(token)
        origin = topo.spawn(
            "appliance-a", sys.executable, str(_TARGETS), "origin",
            "--token-file", str(token_file), "--iface", topo.wg_name("origin"),
            "--cert", str(cert), "--key", str(key), "--lan", "10.0.1.2",
            label="origin",
        )  # fmt: skip
        overlay = json.loads(origin.wait_for(r"^READY (.*)$", 30).group(1))["overlay"]
        prefix = work / "nginx"
        prefix.mkdir()
        (prefix / "nginx.conf").write_text(
            _NGINX_CONF.format(
                nofile=args.nofile, prefix=prefix, hostname=HOSTNAME, backend=overlay,
                listen=f"{RELAY_IP}:{NGINX_PORT}", hello=10, idle=300,
                limit_conn=f"limit_conn per_source {args.per_source};" if args.per_source else "",
            )
        )  # fmt: skip
        where = ["-c", str(prefix / "nginx.conf"), "-p", str(prefix), "-e", str(prefix / "e.log")]
        nginx = topo.spawn("relay", *limit, "nginx", *where, "-g", "daemon off;", label="nginx")
        time.sleep(1.0)
        worker = psutil.Process(nginx.pid).children()[0].pid
        for address in sources:
            topo.ip("visitor", "address", "add", f"{address}/24", "dev", "eth0")
        topo.run("visitor", "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535")
        assert relay.daemon is not None
        capacity = relay.metrics().get("callbox_relay_visitor_capacity", 0)  # 0: before caps
        report["relay_capacity"] = capacity
        report["runs"] = {}
        for name, port, pid in (("relay", 443, relay.daemon.pid), ("nginx", NGINX_PORT, worker)):
            common = {"port": port, "pid": pid, "ca": str(ca), "sources": sources}
            ramp = {"name": f"{name}-ramp", "mode": "ramp", "step": args.step, "max": args.max}
            hold = {"name": f"{name}-hold", "mode": "hold", "count": args.hold_count}
            hold |= {"seconds": args.hold_seconds, "probes": args.probes}
            report["runs"][name] = {
                "ramp": _run_attack(topo, {**common, **ramp, "linger": 2.0}, name == "relay"),
                "hold": _run_attack(topo, {**common, **hold}, False),
            }
        report["relay_metrics"] = {
            k: v for k, v in relay.metrics().items() if "refused" in k or "closed" in k
        }
    report["machine"] = machine(load_before=load_before, load_after=os.getloadavg())
    _RESULTS.mkdir(exist_ok=True)
    out = _RESULTS / f"relay_flood-{stamp}.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"\nrelay capacity {capacity:g}; report {out}")
    for name, runs in report["runs"].items():
        r, h = runs["ramp"], runs["hold"]
        print(
            f"{name:<6} ramp: held {r['held_at_first_failure']} at the first failed visit, "
            f"fds peak {r['fds_peak']}, API {r['api']}; hold: probes ok {h['probes_ok']}, "
            f"fds peak {h['fds_peak']}, CLOSE-WAIT peak {h['close_wait_peak']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
