"""A fresh root to install into: this host's / read-only under a tmpfs, in namespaces.

`unshare` makes a mount, network and PID namespace; inside, an overlay mount puts a
tmpfs over the host's root file system (the lower layer, never written), with fresh
/proc, /run and /tmp, the host's /dev, and loopback up in an empty network. A
process chrooted there holds the namespaces; commands join them with nsenter. When
the holder dies (close(), or the test process itself), the kernel ends every process
in the PID namespace and the mounts go with the last of them: nothing to unmount,
nothing left on the host, whatever happened. The network namespace keeps a loaded
nftables table, a tunnel or a listener away from the host's.

The holder is `sleep` (no init system: what a chroot or a container without systemd
looks like), or, with `systemd=True`, systemd itself booted as the namespace's PID 1
(a container, `container=callbox-test`) in a cgroup namespace of its own, so that
units start, sandbox and watch their services as on a real box.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import psutil

_START_TIMEOUT = 30.0  # s for the mounts (and systemd's boot)
_STOP_TIMEOUT = 10.0  # s for the namespace's processes to die
_BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}

# Runs as PID 1 of the new namespaces, then becomes the holder.
_HOLDER = r"""
set -eu
base=$1 init=$2
shift 2
mount -t tmpfs -o mode=0755 tmpfs "$base"
mkdir "$base/upper" "$base/work" "$base/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root"
r=$base/root
mount --rbind /dev "$r/dev"
mount -t proc proc "$r/proc"
mount -t tmpfs -o mode=0755 tmpfs "$r/run"
mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
if [ "$init" = systemd ]; then
  # What systemd needs in a container: a read-only /sys, its own cgroup2 tree.
  mount -t sysfs -o ro sysfs "$r/sys"
  mount -t cgroup2 cgroup2 "$r/sys/fs/cgroup"
fi
# This test's interpreter may live under /root (pyenv): let the service user reach it.
# The change lands in the tmpfs layer only.
chmod 0755 "$r/root"
# The checkout and the interpreter, read-only, wherever they are mounted on the host
# (the overlay holds only the root file system, and /tmp is fresh).
for keep in "$@"; do
  mkdir -p "$r$keep"
  mount --rbind "$keep" "$r$keep"
  mount -o remount,bind,ro "$r$keep"
done
ip link set lo up multicast on
ip route add 224.0.0.0/4 dev lo  # zeroconf needs a multicast route to start
echo ready
if [ "$init" = systemd ]; then
  # basic.target: the host image's own services (a web server, a database) stay off.
  exec chroot "$r" /usr/bin/env -i container=callbox-test \
    /lib/systemd/systemd --unit=basic.target >"$base/systemd.log" 2>&1
fi
exec chroot "$r" sleep infinity
"""


def _cgroup2_dir() -> Path:
    """Return this process's own cgroup in the cgroup2 hierarchy."""
    mount = next(
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split(" - ")[1].startswith("cgroup2 ")
    )
    own = next(
        line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines() if line[:3] == "0::"
    )
    return Path(mount) / own.lstrip("/")


class FreshRoot:
    """The namespaces and the overlay root; `run()` executes a command inside.

    `keep`: host folders to show inside at the same path, read-only.
    """

    def __init__(self, base: Path, keep: Sequence[Path] = (), *, systemd: bool = False) -> None:
        base.mkdir(parents=True, exist_ok=True)
        self._cgroup: Path | None = None
        unshare = ["unshare", "--mount", "--propagation", "private", "--net", "--pid", "--fork"]
        unshare += ["--kill-child"]
        init = "sleep"
        if systemd:
            init = "systemd"
            self._cgroup = _cgroup2_dir() / f"callbox-test-{uuid.uuid4().hex[:8]}"
            self._cgroup.mkdir()
            # Into a cgroup of its own first, then a cgroup namespace rooted there.
            unshare = [
                "sh",
                "-c",
                'echo $$ > "$0" && exec "$@"',
                str(self._cgroup / "cgroup.procs"),
            ]
            unshare += ["unshare", "--cgroup", "--mount", "--propagation", "private", "--net"]
            unshare += ["--pid", "--fork", "--kill-child"]
        self._unshare = subprocess.Popen(
            [*unshare, "bash", "-c", _HOLDER, "holder", str(base), init, *map(str, keep)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            self.pid = self._wait_ready(init)
            if systemd:
                self._wait_booted()
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, init: str) -> int:
        assert self._unshare.stdout is not None
        line = self._unshare.stdout.readline()
        if line.strip() != "ready":
            _, err = self._unshare.communicate(timeout=_START_TIMEOUT)
            raise RuntimeError(f"fresh root did not start: {line!r} {err}")
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            for child in psutil.Process(self._unshare.pid).children():
                if child.name() == init:
                    return int(child.pid)
            time.sleep(0.02)
        raise RuntimeError("the holder did not chroot")

    def _wait_booted(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        state = ""
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-system-running", timeout=10).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"systemd did not boot: {state!r}")

    def enter(self) -> list[str]:
        """Return the command prefix that runs a program inside."""
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
        if self._cgroup is not None:
            self._remove_cgroup(self._cgroup)

    @staticmethod
    def _remove_cgroup(top: Path) -> None:
        """Remove the cgroup systemd filled, deepest first, once its processes are gone."""
        deadline = time.monotonic() + _STOP_TIMEOUT
        while top.exists():
            try:
                for directory in sorted(
                    (p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
                ):
                    directory.rmdir()
                top.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
