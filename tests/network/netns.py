"""A throwaway network namespace the test process itself steps into.

The main thread of pytest enters the namespace (setns), so code under test runs in
this process, where monkeypatch reaches it, while every socket it binds, every
interface and nft table it makes and every program it starts (wireguard-go) lands
in the namespace; leaving restores the original one. Threads started before the
switch stay outside, which only matters for network calls (the code under test
makes them from the event loop's thread). Names carry a random tag, so parallel
runs never clash; wireguard-go's control socket path is global.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import uuid
from pathlib import Path

import psutil

_CLONE_NEWNET = 0x40000000
WG_RUN_DIR = Path("/var/run/wireguard")


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30).stdout


class Netns:
    """A named namespace with loopback up; `enter()`/`leave()` move the main thread."""

    def __init__(self, label: str) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.name = f"cbx-{self.tag}-{label}"
        self._home: int | None = None
        _run("ip", "netns", "add", self.name)
        # Multicast on loopback: zeroconf starts here as on a LAN. (Without a multicast
        # route its constructor fails after opening its first socket, which it leaks.)
        _run("ip", "-n", self.name, "link", "set", "lo", "up", "multicast", "on")
        _run("ip", "-n", self.name, "route", "add", "224.0.0.0/4", "dev", "lo")
        # Lets a test take a port on an overlay address before its interface exists.
        _run("ip", "netns", "exec", self.name, "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1")

    def interface(self, label: str) -> str:
        """Return a WireGuard interface name unique to this run (at most 15 characters)."""
        return f"cbx{self.tag}{label}"[:15]

    def enter(self) -> None:
        """Move the calling (main) thread into the namespace."""
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            _setns(fd)
        finally:
            os.close(fd)

    def leave(self) -> None:
        """Move the calling thread back where it was."""
        if self._home is not None:
            _setns(self._home)
            os.close(self._home)
            self._home = None

    def links(self) -> list[str]:
        """Return the namespace's interfaces other than loopback."""
        out = _run("ip", "-n", self.name, "-o", "link", "show")
        names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        return [n for n in names if n != "lo"]

    def tables(self) -> list[str]:
        """Return the namespace's nft tables ("inet name")."""
        out = _run("ip", "netns", "exec", self.name, "nft", "list", "tables")
        return [line.removeprefix("table ").strip() for line in out.splitlines() if line]

    def wireguard_go(self, interface: str) -> list[psutil.Process]:
        """Return the wireguard-go processes serving an interface name."""
        found = []
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if proc.info["name"] == "wireguard-go" and interface in cmdline:
                found.append(proc)
        return found

    def take(self, host: str, port: int) -> socket.socket:
        """Bind and listen on an address of the namespace (call while inside it)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((host, port))
        sock.listen()
        return sock

    def close(self, interfaces: list[str]) -> None:
        """End wireguard-go of our interfaces and delete the namespace."""
        self.leave()
        for name in interfaces:
            for proc in self.wireguard_go(name):
                proc.kill()
            (WG_RUN_DIR / f"{name}.sock").unlink(missing_ok=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


def listening() -> list[tuple[str, int]]:
    """Return the TCP addresses this process listens on (in its current namespace)."""
    return sorted(
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process().net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    )


def socket_fds() -> set[str]:
    """Return the socket inodes this process holds open, in any namespace."""
    found = set()
    for entry in os.scandir("/proc/self/fd"):
        try:
            target = os.readlink(entry.path)
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found
