"""Read the server name from a TLS ClientHello without terminating TLS.

Only what passthrough needs is parsed: record framing, the handshake header and the
server_name extension (RFC 8446 §4.1.2, RFC 6066 §3). The bytes are not changed; the
caller forwards exactly what it read.
"""

from __future__ import annotations

import asyncio

MAX_CLIENT_HELLO = 16 * 1024  # bytes; real ones are 0.5-2 KiB, post-quantum ~1.8 KiB
_RECORD_HANDSHAKE = 0x16
_HANDSHAKE_CLIENT_HELLO = 0x01
_EXT_SERVER_NAME = 0x0000
_NAME_TYPE_HOST = 0x00
_MAX_HOSTNAME = 253


class ClientHelloError(ValueError):
    """The bytes are not a ClientHello we can route."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ClientHelloError("truncated ClientHello")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, length_bytes: int) -> bytes:
        return self.take(self.uint(length_bytes))


def handshake_length(buffer: bytes) -> int | None:
    """Return how many bytes of TLS records hold the whole ClientHello, or None if unknown yet.

    A ClientHello may be split over several records; record headers are skipped to
    find the handshake message length, then the records that carry it are counted.
    """
    payload = bytearray()
    pos = 0
    needed: int | None = None
    while pos + 5 <= len(buffer):
        if buffer[pos] != _RECORD_HANDSHAKE:
            raise ClientHelloError("not a TLS handshake record")
        if buffer[pos + 1] != 0x03:
            raise ClientHelloError("not a TLS record version")
        length = int.from_bytes(buffer[pos + 3 : pos + 5], "big")
        if length == 0 or length > 16384 + 256:
            raise ClientHelloError("bad TLS record length")
        end = pos + 5 + length
        payload += buffer[pos + 5 : min(end, len(buffer))]
        if needed is None and len(payload) >= 4:
            if payload[0] != _HANDSHAKE_CLIENT_HELLO:
                raise ClientHelloError("first handshake message is not a ClientHello")
            needed = 4 + int.from_bytes(payload[1:4], "big")
            if needed > MAX_CLIENT_HELLO:
                raise ClientHelloError("ClientHello too large")
        if end > len(buffer):
            return None
        pos = end
        if needed is not None and len(payload) >= needed:
            return pos
    return None


def _handshake_payload(records: bytes) -> bytes:
    payload = bytearray()
    pos = 0
    while pos + 5 <= len(records):
        length = int.from_bytes(records[pos + 3 : pos + 5], "big")
        payload += records[pos + 5 : pos + 5 + length]
        pos += 5 + length
    return bytes(payload)


def server_name(records: bytes) -> str | None:
    """Return the SNI host name of a complete ClientHello (None when it has none)."""
    hello = _Reader(_handshake_payload(records))
    if hello.uint(1) != _HANDSHAKE_CLIENT_HELLO:
        raise ClientHelloError("not a ClientHello")
    body = _Reader(hello.vector(3))
    body.take(2)  # legacy_version
    body.take(32)  # random
    body.vector(1)  # legacy_session_id
    body.vector(2)  # cipher_suites
    body.vector(1)  # legacy_compression_methods
    if body.pos == len(body.data):
        return None  # no extensions at all
    extensions = _Reader(body.vector(2))
    while extensions.pos < len(extensions.data):
        kind = extensions.uint(2)
        data = extensions.vector(2)
        if kind != _EXT_SERVER_NAME:
            continue
        names = _Reader(_Reader(data).vector(2))
        while names.pos < len(names.data):
            name_type = names.uint(1)
            name = names.vector(2)
            if name_type == _NAME_TYPE_HOST:
                return _hostname(name)
        return None
    return None


def _hostname(raw: bytes) -> str:
    try:
        host = raw.decode("ascii").lower().rstrip(".")
    except UnicodeDecodeError as err:
        raise ClientHelloError("server name is not ASCII") from err
    if not host or len(host) > _MAX_HOSTNAME:
        raise ClientHelloError("bad server name length")
    for label in host.split("."):
        if not label or len(label) > 63 or not all(c.isalnum() or c == "-" for c in label):
            raise ClientHelloError("server name is not a host name")
    return host


async def read_client_hello(reader: asyncio.StreamReader) -> tuple[bytes, str]:
    """Read a whole ClientHello; return the bytes read and its SNI name.

    Raises ClientHelloError for anything that is not a routable ClientHello. Callers
    bound the time with asyncio.timeout: size and time bound what a stranger holds.
    """
    buffer = b""
    while True:
        chunk = await reader.read(4096)
        if not chunk:
            raise ClientHelloError("connection closed before the ClientHello")
        buffer += chunk
        if len(buffer) > MAX_CLIENT_HELLO + 5 * 4:
            raise ClientHelloError("ClientHello too large")
        end = handshake_length(buffer)
        if end is not None:
            break
    name = server_name(buffer[:end])
    if name is None:
        raise ClientHelloError("ClientHello has no server name")
    return buffer, name
