"""Measurement helpers of bench/relay_passthrough.py: CPU, network counters, profiles.

- `CpuClock`: CPU of groups of our processes, kernel threads, everyone else and the
  machine, between two points (every process is read at both ends).
- `NetClock`: TCP retransmission and UDP drop counters of network namespaces, read
  through /proc/PID/net of a process inside each.
- `py_spy` / `profile_top`: sample a process with py-spy and summarize the stacks.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

_TOP_OTHERS = 4  # other processes named in each phase's CPU record
_PROFILE_TOP = 15  # functions listed from a profile


_Times = tuple[str, int, float, float, float]  # name, parent pid, own, children's, own system


def _snapshot() -> dict[int, _Times]:
    """Return {pid: (name, parent pid, own CPU s, waited-for children's CPU s, own system
    CPU s)} of every process."""
    snap = {}
    for proc in psutil.process_iter(["name", "ppid", "cpu_times"]):
        t = proc.info["cpu_times"]
        if t is not None:
            name, ppid = proc.info["name"] or "?", proc.info["ppid"] or 0
            snap[proc.pid] = (
                name,
                ppid,
                t.user + t.system,
                t.children_user + t.children_system,
                t.system,
            )
    return snap


class CpuClock:
    """CPU per group of processes and of the machine, from construction to `percent()`.

    Every process is read at both ends: ours by group, kernel threads (ksoftirqd,
    kworkers: network softirq work that left our processes' context) and everyone
    else (`others`: other sessions' tests share these 2 cores). Our groups include
    the children they waited for (the relay's `wg show` every second); others do not,
    since a test runner waiting for a long child would count the child's whole life.
    `unaccounted` is the machine's busy time none of them explains: mostly others'
    short-lived processes. `<group>_sys_pct` is the kernel's part of a group's own CPU.
    """

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self._group_of = {pid: name for name, pids in groups.items() for pid in pids}
        self._group_of[os.getpid()] = "driver"
        self._names = [*groups, "driver"]
        self._start = self._read()

    def _read(self) -> tuple[float, dict[int, _Times], Any]:
        return time.monotonic(), _snapshot(), psutil.cpu_times()

    def percent(self) -> dict[str, Any]:
        """Return % of one core per group, kernel threads, others and the machine."""
        wall0, snap0, times0 = self._start
        wall1, snap1, times1 = self._read()
        wall = wall1 - wall0
        used = dict.fromkeys([*self._names, "kernel_threads", "others"], 0.0)
        system = dict.fromkeys(self._names, 0.0)
        others: dict[str, float] = {}
        for pid, (name, ppid, own, children, sys_) in snap1.items():
            group = self._group_of.get(pid)
            before = snap0.get(pid, (name, ppid, 0.0, 0.0, 0.0))
            delta = own - before[2] + (children - before[3] if group else 0.0)
            if group is not None:
                system[group] += sys_ - before[4]
            else:
                group = "kernel_threads" if 2 in (pid, ppid) else "others"
                if group == "others":
                    others[name] = others.get(name, 0.0) + delta
            used[group] += delta
        # Busy = wall time of every core less idle (and iowait, steal): the idle time of
        # a tickless kernel is measured, while user/system in /proc/stat are tick samples
        # that miss short bursts (and disagree with the processes' own, exact, times).
        idle = [t.idle + t.iowait + getattr(t, "steal", 0.0) for t in (times0, times1)]
        used["machine"] = wall * (os.cpu_count() or 1) - (idle[1] - idle[0])
        # Softirq time is also in the process that was running (no IRQ time accounting
        # on this kernel): it is shown, not subtracted.
        used["softirq"] = getattr(times1, "softirq", 0.0) - getattr(times0, "softirq", 0.0)
        used["unaccounted"] = used["machine"] - sum(
            used[k] for k in [*self._names, "kernel_threads", "others"]
        )
        out: dict[str, Any] = {f"{k}_pct": round(100 * v / wall, 1) for k, v in used.items()}
        out |= {f"{k}_sys_pct": round(100 * v / wall, 1) for k, v in system.items()}
        top = sorted(others.items(), key=lambda item: -item[1])[:_TOP_OTHERS]
        out["others_top"] = [[name, round(100 * v / wall, 1)] for name, v in top if v > 0]
        return out


_NET_COUNTERS = {  # (file under /proc/PID/net, row, column) -> name in the report
    ("snmp", "Tcp", "RetransSegs"): "tcp_retrans",
    ("netstat", "TcpExt", "TCPTimeouts"): "tcp_rto",
    ("snmp", "Udp", "RcvbufErrors"): "udp_rcvbuf_errors",
    ("snmp", "Udp", "SndbufErrors"): "udp_sndbuf_errors",
}


def _net_counters(pid: int) -> dict[str, int]:
    """Return TCP retransmission and UDP drop counters of the namespace `pid` is in."""
    tables: dict[tuple[str, str], dict[str, int]] = {}
    for name in ("snmp", "netstat"):
        with contextlib.suppress(OSError):
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()
            for head, values in zip(lines[::2], lines[1::2], strict=False):
                row, *keys = head.split()
                numbers = map(int, values.split()[1:])
                tables[(name, row.rstrip(":"))] = dict(zip(keys, numbers, strict=False))
    return {
        label: tables.get((name, row), {}).get(column, 0)
        for (name, row, column), label in _NET_COUNTERS.items()
    }


class NetClock:
    """Counters of each namespace (by a process in it), from construction to `delta()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._start = {host: _net_counters(pid) for host, pid in pids.items()}

    def delta(self) -> dict[str, dict[str, int]]:
        """Return, per host, the counters' growth (only those that grew)."""
        out = {}
        for host, pid in self._pids.items():
            start = self._start[host]
            grown = {k: v - start[k] for k, v in _net_counters(pid).items() if v > start[k]}
            if grown:
                out[host] = grown
        return out


def py_spy(pid: int, duration: float, output: Path) -> subprocess.Popen[bytes]:
    """Start py-spy on a process for `duration` s: folded Python stacks, no pauses."""
    return subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--nonblocking",
         "--rate", "100", "--duration", str(int(duration)), "--output", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def profile_top(path: Path, count: int = _PROFILE_TOP) -> str:
    """Summarize a py-spy folded profile: functions by own and by total samples."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text("utf-8", "replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        samples += int(n)
        own[frames[-1]] += int(n)
        total.update(dict.fromkeys(frames, int(n)))
    if not samples:
        return f"{path.name}: no samples"
    out = [f"{path.name}: {samples} samples (all threads)", "own%  function"]
    out += [f"{100 * c / samples:5.1f} {f}" for f, c in own.most_common(count)]
    inner = Counter({f: c for f, c in total.items() if c < 0.9 * samples})
    out += ["total% function"]
    out += [f"{100 * c / samples:5.1f} {f}" for f, c in inner.most_common(count)]
    return "\n".join(out)
