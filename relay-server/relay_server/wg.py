"""WireGuard through wireguard-tools: a kernel interface where the module exists,
wireguard-go where it does not. Keys go to `wg` on stdin, never on a command line."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass

_LOGGER = logging.getLogger(__name__)
_CMD_TIMEOUT = 10.0  # s for one wg/ip command


class WireGuardError(RuntimeError):
    """A wg or ip command failed."""


@dataclass(frozen=True, slots=True)
class PeerState:
    """One peer as `wg show dump` reports it."""

    public_key: str
    endpoint: str | None
    allowed_ips: tuple[str, ...]
    latest_handshake: int  # Unix time, 0 = never
    rx_bytes: int
    tx_bytes: int


async def _run(*args: str, stdin: bytes | None = None) -> str:
    # A key on stdin goes through an OS pipe filled before the start: `wg … /dev/stdin`
    # cannot open the socketpair some event loops (uvloop) give children instead.
    source: int = asyncio.subprocess.DEVNULL
    if stdin is not None:
        source, write_end = os.pipe()
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(stdin)  # a few bytes: never blocks
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=source, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    finally:
        if stdin is not None:
            os.close(source)
    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands
        # as the command ends, and a stopping box then waited on (see core/backup.py).
        async with asyncio.timeout(_CMD_TIMEOUT):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise WireGuardError(f"{args[0]} {args[1]} timed out") from None
    if proc.returncode != 0:
        raise WireGuardError(f"{' '.join(args[:4])}: {err.decode(errors='replace').strip()}")
    return out.decode()


async def link_exists(name: str) -> bool:
    """Tell whether a network interface exists."""
    try:
        await _run("ip", "link", "show", "dev", name)
    except WireGuardError:
        return False
    return True


async def create(name: str) -> str:
    """Create a WireGuard interface; return "kernel" or "wireguard-go"."""
    try:
        await _run("ip", "link", "add", "dev", name, "type", "wireguard")
        return "kernel"
    except WireGuardError:
        pass
    binary = shutil.which("wireguard-go")
    if binary is None:
        raise WireGuardError("no WireGuard kernel module and no wireguard-go installed")
    # wireguard-go daemonises; the interface lives until it is deleted. Its errors go
    # to a file: the daemon keeps any inherited pipe open, which would never reach EOF.
    env = {**os.environ, "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}
    with tempfile.TemporaryFile() as errors:
        proc = await asyncio.create_subprocess_exec(
            binary, name, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=errors
        )
        try:
            async with asyncio.timeout(_CMD_TIMEOUT):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise WireGuardError(f"wireguard-go {name} timed out") from None
        if proc.returncode != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
            raise WireGuardError(f"wireguard-go {name}: {message}")
    return "wireguard-go"


async def configure(
    name: str, private_key: str, address: str, listen_port: int | None = None
) -> None:
    """Set the interface key, port and address, and bring it up."""
    args = ["wg", "set", name, "private-key", "/dev/stdin"]
    if listen_port is not None:
        args += ["listen-port", str(listen_port)]
    await _run(*args, stdin=private_key.encode() + b"\n")
    await _run("ip", "address", "replace", address, "dev", name)
    await _run("ip", "link", "set", "dev", name, "up")


async def delete(name: str) -> None:
    """Remove the interface (and with it a wireguard-go process)."""
    if await link_exists(name):
        await _run("ip", "link", "del", "dev", name)


async def set_peer(
    name: str,
    public_key: str,
    allowed_ips: list[str],
    *,
    endpoint: str | None = None,
    keepalive: int | None = None,
) -> None:
    """Add or update a peer."""
    args = ["wg", "set", name, "peer", public_key, "allowed-ips", ",".join(allowed_ips)]
    if endpoint:
        args += ["endpoint", endpoint]
    if keepalive is not None:
        args += ["persistent-keepalive", str(keepalive)]
    await _run(*args)


async def remove_peer(name: str, public_key: str) -> None:
    """Remove a peer: its packets are refused from the next one on."""
    await _run("wg", "set", name, "peer", public_key, "remove")


async def peers(name: str) -> list[PeerState]:
    """Return the interface's peers with handshake times and byte counts."""
    out = await _run("wg", "show", name, "dump")
    result = []
    for line in out.splitlines()[1:]:  # the first line is the interface itself
        fields = line.split("\t")
        if len(fields) < 8:
            continue
        result.append(
            PeerState(
                public_key=fields[0],
                endpoint=None if fields[2] == "(none)" else fields[2],
                allowed_ips=tuple(a for a in fields[3].split(",") if a and a != "(none)"),
                latest_handshake=int(fields[4]),
                rx_bytes=int(fields[5]),
                tx_bytes=int(fields[6]),
            )
        )
    return result
