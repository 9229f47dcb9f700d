"""Token-bucket rate limits keyed by visitor, address or user name."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

_MAX_KEYS = 100_000  # buckets kept before idle ones are dropped


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Allow `burst` events at once and `rate` per second after that, per key."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _now(self) -> float:
        return self._clock()

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_KEYS:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        return bucket

    def retry_after(self, key: str) -> float:
        """Return 0 if one event is allowed now, otherwise seconds until it would be."""
        bucket = self._bucket(key, self._now())
        if bucket.tokens >= 1:
            return 0.0
        return (1 - bucket.tokens) / self.rate if self.rate > 0 else math.inf

    def hit(self, key: str) -> float:
        """Take one token; return 0 if allowed, else seconds to wait (nothing taken)."""
        wait = self.retry_after(key)
        if wait == 0:
            self._buckets[key].tokens -= 1
        return wait

    def take(self, key: str) -> None:
        """Take one token even if that leaves the bucket short (the event happened)."""
        self._bucket(key, self._now()).tokens -= 1

    def reset(self, key: str) -> None:
        """Forget a key (after a successful login, say)."""
        self._buckets.pop(key, None)

    def give_back(self, key: str) -> None:
        """Return one token taken for an event that turned out well (a login that worked)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(float(self.burst), bucket.tokens + 1)

    def _prune(self, now: float) -> None:
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + (now - b.stamp) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= _MAX_KEYS:
            # Still full of active keys: drop the oldest half rather than grow.
            for key in sorted(self._buckets, key=lambda k: self._buckets[k].stamp)[
                : _MAX_KEYS // 2
            ]:
                del self._buckets[key]


class Backoff:
    """Slow a key down after repeated failures instead of locking it out.

    Failures leak away at `free / window` per second; past `free` of them each attempt
    waits base × 2^(excess), up to `cap`. A lock-out keyed by user name would let
    anyone who knows the name keep its owner out; a capped delay costs the owner a few
    seconds and still makes guessing slow.
    """

    def __init__(
        self,
        free: int,
        window: float,
        *,
        base: float = 0.5,
        cap: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = _MAX_KEYS,
    ) -> None:
        self.free = free
        self.leak = free / window
        self.base = base
        self.cap = cap
        self._clock = clock
        self._max_keys = max_keys
        # In order of each key's last failure (a failing key moves to the end), so the
        # key that has been calm longest is always the first: dropping it is O(1).
        self._failures: dict[str, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._failures)

    def _level(self, key: str, now: float) -> float:
        entry = self._failures.get(key)
        if entry is None:
            return 0.0
        level = max(0.0, entry.tokens - (now - entry.stamp) * self.leak)
        if level == 0.0:
            del self._failures[key]
        return level

    def delay(self, key: str) -> float:
        """Return the seconds an attempt for `key` waits before it is checked."""
        excess = self._level(key, self._clock()) - self.free
        if excess < 0:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(excess, 32)))

    def fail(self, key: str) -> None:
        """Count a failure."""
        now = self._clock()
        level = self._level(key, now)
        self._failures.pop(key, None)
        # Full of keys (someone cycling names): forget the one calm for longest rather
        # than grow. Keys that failed recently, the ones being guessed, stay.
        while len(self._failures) >= self._max_keys:
            del self._failures[next(iter(self._failures))]
        self._failures[key] = _Bucket(level + 1, now)

    def reset(self, key: str) -> None:
        """Forget a key's failures (after a success)."""
        self._failures.pop(key, None)


class RateLimited(Exception):
    """Too many requests; `retry_after` says when to try again (seconds)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after:.1f}s")
        self.retry_after = max(1, math.ceil(retry_after))


def check(*pairs: tuple[RateLimiter, str]) -> None:
    """Take a token from each (limiter, key) pair, all or none; raise RateLimited."""
    waits = [limiter.retry_after(key) for limiter, key in pairs]
    worst = max(waits, default=0.0)
    if worst > 0:
        raise RateLimited(worst)
    for limiter, key in pairs:
        limiter.hit(key)


class VisitorLimits:
    """The limits on what one visitor, or one address, may start and send."""

    def __init__(
        self,
        *,
        msg_rate: float,
        msg_burst: int,
        ip_msg_rate: float,
        ip_msg_burst: int,
        conv_rate: float,
        conv_burst: int,
        ip_conv_rate: float,
        ip_conv_burst: int,
        view_rate: float = 1.0,
        view_burst: int = 30,
        ip_view_rate: float = 50.0,
        ip_view_burst: int = 500,
    ) -> None:
        self.messages = RateLimiter(msg_rate, msg_burst)
        self.ip_messages = RateLimiter(ip_msg_rate, ip_msg_burst)
        self.conversations = RateLimiter(conv_rate, conv_burst)
        self.ip_conversations = RateLimiter(ip_conv_rate, ip_conv_burst)
        # New identities are as cheap to abuse as new conversations.
        self.ip_sessions = RateLimiter(ip_conv_rate, ip_conv_burst)
        # Tracking: page views, dwell beacons (about two per page) and identity proofs.
        self.views = RateLimiter(view_rate, view_burst)
        self.ip_views = RateLimiter(ip_view_rate, ip_view_burst)
        self.beacons = RateLimiter(2 * view_rate, 2 * view_burst)
        self.ip_beacons = RateLimiter(2 * ip_view_rate, 2 * ip_view_burst)
        self.identities = RateLimiter(conv_rate, conv_burst)

    def message_wait(self, visitor_id: str, address: str) -> float:
        """Return 0 if a new message is allowed now, else seconds to wait (nothing taken)."""
        return max(self.messages.retry_after(visitor_id), self.ip_messages.retry_after(address))

    def message_spent(self, visitor_id: str, address: str) -> None:
        """Count a message that was accepted."""
        self.messages.take(visitor_id)
        self.ip_messages.take(address)

    def conversation(self, visitor_id: str, address: str) -> None:
        """Count a new conversation; raise RateLimited when over either limit."""
        check((self.conversations, visitor_id), (self.ip_conversations, address))

    def session(self, address: str) -> None:
        """Count a new visitor identity; raise RateLimited when over the limit."""
        check((self.ip_sessions, address))

    def page_view(self, visitor_id: str, address: str) -> None:
        """Count a tracked page view; raise RateLimited when over either limit."""
        check((self.views, visitor_id), (self.ip_views, address))

    def beacon(self, visitor_id: str, address: str) -> None:
        """Count a dwell report; raise RateLimited when over either limit."""
        check((self.beacons, visitor_id), (self.ip_beacons, address))

    def identify(self, visitor_id: str, address: str) -> None:
        """Count an identity proof; raise RateLimited when over either limit."""
        check((self.identities, visitor_id), (self.ip_sessions, address))
