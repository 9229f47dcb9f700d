"""Run the real `appliance` command as a child process, and network namespaces."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

_START_TIMEOUT = 20.0  # s for `appliance run` to print its port


def appliance_cmd(*args: str, prefix: Sequence[str] = ()) -> list[str]:
    """Return the command line of the appliance CLI under this interpreter."""
    return [*prefix, sys.executable, "-m", "appliance", *args]


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one `appliance` CLI command to completion."""
    return subprocess.run(
        appliance_cmd("--data", str(data_dir), *args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class ApplianceProcess:
    """`appliance run` in a child process; kill() is SIGKILL, stop() is SIGTERM."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        mdns: bool = False,
        prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        args = ["--data", str(data_dir), "run", "--host", host, "--port", str(port)]
        if not mdns:
            args.append("--no-mdns")
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            appliance_cmd(*args, prefix=prefix),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.port = self._wait_for_port()

    def _wait_for_port(self) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            found = re.search(r"listening on port (\d+)", line)
            if found:
                return int(found.group(1))
        self.kill()
        raise RuntimeError("appliance did not start:\n" + "".join(self.output))

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def kill(self) -> None:
        """Kill at once: no shutdown code runs (a crash, or a power cut for the app)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self) -> int:
        """Stop gracefully; return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        if self.proc.stdout is not None:
            self.output.extend(self.proc.stdout.readlines())
            self.proc.stdout.close()
        return code


def run(*cmd: str) -> None:
    """Run a setup command and fail loudly."""
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


class Lan:
    """Two hosts on one Ethernet segment: network namespaces joined by a veth pair."""

    def __init__(self, subnet: str = "10.77.0") -> None:
        tag = uuid.uuid4().hex[:6]
        self.a, self.b = f"cb-lan-a-{tag}", f"cb-lan-b-{tag}"
        self.addr_a, self.addr_b = f"{subnet}.1", f"{subnet}.2"
        try:
            for ns in (self.a, self.b):
                run("ip", "netns", "add", ns)
                run("ip", "-n", ns, "link", "set", "lo", "up")
            run(
                "ip",
                "link",
                "add",
                f"va{tag}",
                "netns",
                self.a,
                "type",
                "veth",
                "peer",
                "name",
                f"vb{tag}",
                "netns",
                self.b,
            )
            for ns, dev, addr in (
                (self.a, f"va{tag}", self.addr_a),
                (self.b, f"vb{tag}", self.addr_b),
            ):
                run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
                run("ip", "-n", ns, "link", "set", dev, "up", "multicast", "on")
                run("ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        except BaseException:
            self.close()
            raise

    def prefix(self, ns: str) -> list[str]:
        """Return the command prefix that runs a program inside a namespace."""
        return ["ip", "netns", "exec", ns]

    def close(self) -> None:
        """Delete both namespaces (and with them the veth pair)."""
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
