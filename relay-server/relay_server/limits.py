"""How many visitor connections the relay holds: from one source, and in all.

Every descriptor the process has comes from one budget (RLIMIT_NOFILE). The visitor
path, which strangers fill, may use all of it but a reserve, so that the tunnel API,
the enrolment API, the registry (SQLite) and `wg`/`nft` runs always find
descriptors: when 500 silent visitors once took 1,017 of 1,024, a staff revoke got a
500 (EMFILE). A passed-through visitor holds two descriptors (its socket and the
one into the tunnel); the capacity is counted, not measured per connection, so
admitting a visitor costs no system call.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import resource

_LOGGER = logging.getLogger(__name__)

FDS_PER_VISITOR = 2  # the visitor's socket and the relay's socket to the appliance
_IPV6_SOURCE_PREFIX = 64  # one subscriber gets a /64: count its addresses as one source


def source_key(address: str) -> str:
    """Return the source a connection counts against: the IPv4 address, or the IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a Unix socket in tests): itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # a dual-stack listener's IPv4 visitor
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, _IPV6_SOURCE_PREFIX), strict=False))
    return str(ip)


def raise_fd_limit() -> int:
    """Raise the soft descriptor limit to the hard one (systemd's LimitNOFILE); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            _LOGGER.warning("could not raise the descriptor limit from %d to %d", soft, hard)
    return soft


def open_fds() -> int:
    """Return how many descriptors the process has open now."""
    return len(os.listdir("/proc/self/fd"))


def capacity(fd_limit: int, fd_reserve: int, in_use: int, max_visitors: int = 0) -> int:
    """Return how many visitor connections fit the descriptors left after the reserve."""
    fits = max(0, (fd_limit - fd_reserve - in_use) // FDS_PER_VISITOR)
    return min(fits, max_visitors) if max_visitors > 0 else fits


class VisitorLimits:
    """Count open visitor connections per source and in all; refuse past the caps."""

    def __init__(self, per_source: int, total: int) -> None:
        self.per_source = per_source
        self.total = total
        self.open = 0
        self._by_source: dict[str, int] = {}

    def admit(self, address: str) -> str | None:
        """Count a new connection in; return why it is refused instead, or None."""
        if self.open >= self.total:
            return "relay_full"
        key = source_key(address)
        held = self._by_source.get(key, 0)
        if held >= self.per_source:
            return "per_source_limit"
        self._by_source[key] = held + 1
        self.open += 1
        return None

    def release(self, address: str) -> None:
        """Count an admitted connection out."""
        key = source_key(address)
        held = self._by_source.get(key, 0) - 1
        if held > 0:
            self._by_source[key] = held
        else:
            self._by_source.pop(key, None)
        self.open -= 1

    def sources(self) -> int:
        """Return how many sources have connections open."""
        return len(self._by_source)
