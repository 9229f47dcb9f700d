"""Login throttling: an address that keeps failing is refused for a while; a user name
that keeps failing is only slowed down, so nobody on the LAN can lock its owner out.

Every attempt (a password, or a code after it) is counted before it is checked and
given back when the login works: parallel guesses from one address cannot all slip
through before the first is counted, and a right password costs nothing. A user
name's delay grows per recent failure up to `DELAY_CAP` and is spent in
`asyncio.sleep`, holding neither the event loop nor a lock: the real user, typing the
right password at their own desk while someone fails under their name elsewhere,
waits at most that long and gets in.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable

from appliance.core.ratelimit import Backoff, RateLimited, RateLimiter

DELAY_CAP = 4.0  # s: the longest a user name's failures make one attempt wait
DELAY_BASE = 0.5  # s: the first delay once a name is past its free failures
MAX_NAMES = 20_000  # user names whose failures are remembered (~2 MB at most)
_NAME_MAX = 64  # characters of a user name used as its key
# One host chooses any address of its IPv6 /64 at will (privacy addresses, RFC 8981):
# per address it would have 2^64 fresh limits. The /64 is what it cannot change.
_IPV6_PREFIX = 64


def address_key(address: str) -> str:
    """Return what an address is throttled as: itself, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:_NAME_MAX]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, _IPV6_PREFIX), strict=False))
    return str(ip)


def name_key(username: str) -> str:
    """Return what a typed user name is throttled as (names are case-blind)."""
    return username.strip().lower()[:_NAME_MAX]


class LoginThrottle:
    """Refuse an address after `attempts` failures per `window`; slow a name down."""

    def __init__(
        self,
        attempts: int,
        window: float,
        *,
        base: float = DELAY_BASE,
        cap: float = DELAY_CAP,
        max_names: int = MAX_NAMES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.addresses = RateLimiter(attempts / window, attempts, clock)
        self.names = Backoff(attempts, window, base=base, cap=cap, clock=clock, max_keys=max_names)

    async def attempt(self, username: str, address: str) -> None:
        """Count an attempt before it is checked: raise RateLimited when the address
        has none left, else wait the delay the name's recent failures call for."""
        wait = self.addresses.hit(address_key(address))
        if wait > 0:
            raise RateLimited(wait)
        # The same delay for names that exist and names that do not: it depends only
        # on the failures typed under the name.
        key = name_key(username)
        delay = self.names.delay(key)
        self.names.fail(key)
        if delay > 0:
            await asyncio.sleep(delay)

    def succeeded(self, username: str, address: str, attempts: int = 1) -> None:
        """A login worked: give back the attempts it took and forget the name's failures."""
        key = address_key(address)
        for _ in range(attempts):
            self.addresses.give_back(key)
        self.names.reset(name_key(username))
