"""A fresh root to install into: this host's / read-only under a tmpfs, in namespaces.

`unshare` makes a mount, network and PID namespace; inside, an overlay mount puts a
tmpfs over the host's root file system (the lower layer, never written), with fresh
/proc, /run and /tmp, the host's /dev, and loopback up in an empty network. A
process chrooted there holds the namespaces; commands join them with nsenter. When
the holder dies (close(), or the test process itself), the kernel ends every process
in the PID namespace and the mounts go with the last of them: nothing to unmount,
nothing left on the host, whatever happened. No systemd runs inside, and the network
namespace keeps a loaded nftables table or a tunnel away from the host's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

_START_TIMEOUT = 20.0  # s for the mounts
_STOP_TIMEOUT = 10.0  # s for the namespace's processes to die
_BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}

# Runs as PID 1 of the new namespaces, then becomes the holder.
_HOLDER = r"""
set -eu
base=$1
mount -t tmpfs -o mode=0755 tmpfs "$base"
mkdir "$base/upper" "$base/work" "$base/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root"
mount --rbind /dev "$base/root/dev"
mount -t proc proc "$base/root/proc"
mount -t tmpfs -o mode=0755 tmpfs "$base/root/run"
mount -t tmpfs -o mode=1777 tmpfs "$base/root/tmp"
# This test's interpreter may live under /root (pyenv): let the service user reach it.
# The change lands in the tmpfs layer only.
chmod 0755 "$base/root/root"
shift
# The checkout and the interpreter, read-only, wherever they are mounted on the host
# (the overlay holds only the root file system, and /tmp is fresh).
for keep in "$@"; do
  mkdir -p "$base/root$keep"
  mount --rbind "$keep" "$base/root$keep"
  mount -o remount,bind,ro "$base/root$keep"
done
ip link set lo up multicast on
ip route add 224.0.0.0/4 dev lo  # zeroconf needs a multicast route to start
echo ready
exec chroot "$base/root" sleep infinity
"""


class FreshRoot:
    """The namespaces and the overlay root; `run()` executes a command inside.

    `keep`: host folders to show inside at the same path, read-only.
    """

    def __init__(self, base: Path, keep: Sequence[Path] = ()) -> None:
        base.mkdir(parents=True, exist_ok=True)
        self._unshare = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--net",
                "--pid",
                "--fork",
                "--kill-child",
                "bash",
                "-c",
                _HOLDER,
                "holder",
                str(base),
                *(str(p) for p in keep),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            self.pid = self._wait_ready()
        except BaseException:
            self.close()
            raise

    def _wait_ready(self) -> int:
        assert self._unshare.stdout is not None
        line = self._unshare.stdout.readline()
        if line.strip() != "ready":
            _, err = self._unshare.communicate(timeout=_START_TIMEOUT)
            raise RuntimeError(f"fresh root did not start: {line!r} {err}")
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            for child in psutil.Process(self._unshare.pid).children():
                if child.name() == "sleep":
                    return int(child.pid)
            time.sleep(0.02)
        raise RuntimeError("the holder did not chroot")

    def enter(self, *, network_only: bool = False) -> list[str]:
        """Return the command prefix that runs a program inside (or in its network only)."""
        if network_only:
            return ["nsenter", "--target", str(self.pid), "--net"]
        return [
            "nsenter",
            "--target",
            str(self.pid),
            "--mount",
            "--net",
            "--pid",
            "--root",
            "--wd",  # the holder's: / inside (a path here would be the host's)
        ]

    def run(
        self,
        *cmd: str,
        timeout: float = 60.0,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside to completion; never raises on its exit code."""
        return subprocess.run(
            [*self.enter(), *self._env(env), *cmd],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, *cmd: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start a command inside, its output (both streams) on a pipe."""
        return subprocess.Popen(
            [*self.enter(), *self._env(env), *cmd],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @staticmethod
    def _env(env: dict[str, str] | None) -> Sequence[str]:
        # A root shell's environment, not this test's (PYTHONPATH would import the
        # checkout instead of what the install put in the venv).
        clean = {**_BASE_ENV, **(env or {})}
        return ["env", "-i", *(f"{k}={v}" for k, v in clean.items())]

    def path(self, inside: str) -> Path:
        """Return where a path inside the root is seen from this process."""
        return Path(f"/proc/{self.pid}/root") / inside.lstrip("/")

    def close(self) -> None:
        """End every process inside; the mounts and the tmpfs go with them."""
        # PID 1 of the namespace: its death kills the rest (unshare ignores SIGTERM).
        with contextlib.suppress(ProcessLookupError, AttributeError):
            os.kill(self.pid, signal.SIGKILL)
        if self._unshare.poll() is None:
            self._unshare.send_signal(signal.SIGKILL)  # --kill-child: PID 1 goes too
        try:
            self._unshare.communicate(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(self._unshare.pid, signal.SIGKILL)
            self._unshare.communicate(timeout=_STOP_TIMEOUT)
