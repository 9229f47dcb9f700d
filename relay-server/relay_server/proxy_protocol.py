"""PROXY protocol version 2 headers (haproxy.org proxy-protocol.txt, section 2.2).

The relay puts one in front of each visitor connection it passes through, so the
appliance learns the visitor's real address although the TCP peer is the tunnel.
"""

from __future__ import annotations

import ipaddress
import struct

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_VERSION_PROXY = 0x21  # version 2, command PROXY
_VERSION_LOCAL = 0x20  # version 2, command LOCAL
_TCP4 = 0x11
_TCP6 = 0x21
_UNSPEC = 0x00
HEADER_MIN = 16  # signature, version/command, family, length


class ProxyHeaderError(ValueError):
    """Bytes that are not a valid PROXY v2 header."""


def encode(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """Return the PROXY v2 header for a TCP connection from source to destination."""
    src = ipaddress.ip_address(source[0])
    dst = ipaddress.ip_address(destination[0])
    if src.version != dst.version:
        # Dual-stack listener: map the IPv4 side into IPv6 so both share a family.
        src, dst = (
            ipaddress.IPv6Address(f"::ffff:{a}") if a.version == 4 else a for a in (src, dst)
        )
    family = _TCP4 if src.version == 4 else _TCP6
    addresses = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1])
    return SIGNATURE + struct.pack("!BBH", _VERSION_PROXY, family, len(addresses)) + addresses


def header_length(prefix: bytes) -> int:
    """Return the total header length given at least HEADER_MIN bytes."""
    if prefix[:12] != SIGNATURE:
        raise ProxyHeaderError("missing PROXY v2 signature")
    return HEADER_MIN + int.from_bytes(prefix[14:16], "big")


def decode(header: bytes) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """Return (source, destination) from a whole header; None for LOCAL or UNSPEC."""
    total = header_length(header)
    if len(header) != total:
        raise ProxyHeaderError("PROXY header length mismatch")
    version_command, family = header[12], header[13]
    if version_command == _VERSION_LOCAL:
        return None
    if version_command != _VERSION_PROXY:
        raise ProxyHeaderError("unsupported PROXY version or command")
    body = header[HEADER_MIN:]
    if family == _TCP4 and len(body) >= 12:
        size, make = 4, ipaddress.IPv4Address
    elif family == _TCP6 and len(body) >= 36:
        size, make = 16, ipaddress.IPv6Address  # type: ignore[assignment]
    elif family == _UNSPEC:
        return None
    else:
        raise ProxyHeaderError("unsupported PROXY address family")
    src, dst = make(body[:size]), make(body[size : 2 * size])
    src_port, dst_port = struct.unpack("!HH", body[2 * size : 2 * size + 4])
    return (str(src), src_port), (str(dst), dst_port)
