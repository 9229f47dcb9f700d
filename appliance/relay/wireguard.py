"""WireGuard on the box through wireguard-tools: kernel interface or wireguard-go.

Keys are generated in-process with `cryptography` and handed to `wg` on stdin.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import tempfile
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

_CMD_TIMEOUT = 10.0  # s for one wg/ip command


class WireGuardError(RuntimeError):
    """A wg or ip command failed."""


def generate_private_key() -> str:
    """Return a new WireGuard private key (base64)."""
    raw = X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode()


def public_key(private: str) -> str:
    """Return the public key of a private key."""
    key = X25519PrivateKey.from_private_bytes(base64.b64decode(private))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


async def run(*args: str, stdin: bytes | None = None) -> str:
    """Run a wg/ip/nft command with an argument list; raise WireGuardError on failure.

    `stdin` (a key, or an nft script of a few KiB) goes through an OS pipe filled
    before the start, not the loop's: uvloop hands children a socketpair, and
    `wg … /dev/stdin` cannot open a socket.
    """
    source: int = asyncio.subprocess.DEVNULL
    if stdin is not None:
        source, write_end = os.pipe()
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(stdin)  # far below the pipe's 64 KiB buffer: never blocks
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
        raise WireGuardError(f"{args[0]} timed out") from None
    if proc.returncode != 0:
        raise WireGuardError(f"{' '.join(args[:4])}: {err.decode(errors='replace').strip()}")
    return out.decode()


async def exists(name: str) -> bool:
    """Tell whether an interface exists."""
    try:
        await run("ip", "link", "show", "dev", name)
    except WireGuardError:
        return False
    return True


async def create(name: str) -> str:
    """Create the interface; return "kernel" or "wireguard-go"."""
    try:
        await run("ip", "link", "add", "dev", name, "type", "wireguard")
        return "kernel"
    except WireGuardError:
        pass
    binary = shutil.which("wireguard-go")
    if binary is None:
        raise WireGuardError("no WireGuard kernel module and no wireguard-go installed")
    env = {**os.environ, "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}
    # wireguard-go daemonises. Its errors go to a file, not a pipe: under uvloop the
    # daemon inherits a descriptor of a stderr pipe, which then never reaches EOF.
    # Waiting for the launcher to exit is enough.
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
            err = errors.read().decode(errors="replace").strip()
            raise WireGuardError(f"wireguard-go {name}: {err}")
    return "wireguard-go"


async def delete(name: str) -> None:
    """Remove the interface (a wireguard-go process ends with it)."""
    if await exists(name):
        await run("ip", "link", "del", "dev", name)


@dataclass(frozen=True, slots=True)
class Health:
    """The relay peer as `wg show dump` reports it."""

    latest_handshake: int  # Unix time, 0 = never
    rx_bytes: int
    tx_bytes: int
    endpoint: str | None


async def health(name: str, peer: str) -> Health | None:
    """Return the relay peer's handshake time and traffic, or None if absent."""
    out = await run("wg", "show", name, "dump")
    for line in out.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) >= 7 and fields[0] == peer:
            return Health(
                int(fields[4]),
                int(fields[5]),
                int(fields[6]),
                None if fields[2] == "(none)" else fields[2],
            )
    return None
