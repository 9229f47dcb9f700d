"""WireGuard keys (X25519, base64 as `wg` prints them) made in-process, and files."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey


def generate_private_key() -> str:
    """Return a new WireGuard private key."""
    raw = X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode()


def public_key(private_key: str) -> str:
    """Return the public key of a WireGuard private key."""
    key = X25519PrivateKey.from_private_bytes(base64.b64decode(private_key))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def valid_public_key(value: object) -> bool:
    """Tell whether a value is a well-formed WireGuard public key."""
    if not isinstance(value, str) or len(value) != 44:
        return False
    try:
        raw = base64.b64decode(value, validate=True)
        X25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return False
    # Only the canonical spelling: `wg` refuses a key whose last character has spare
    # bits set, and such a key in the registry would fail every peer update after it.
    return base64.b64encode(raw).decode() == value


def write_private(path: Path, data: bytes) -> None:
    """Write a file atomically with mode 0600."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
