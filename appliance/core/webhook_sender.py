"""The webhook sender: signs and POSTs due deliveries, retries failures with backoff.

Deliveries wait in the log (store.webhooks) until their receiver answered 2xx or the
sender gave up, so the log, not this task, is the queue: what was pending when the box
stopped is sent when it opens again, and a delivery is marked delivered only after a
2xx. A receiver may therefore get a delivery twice (the box stopped between its 2xx and
the write that records it); it drops repeats by `X-Callbox-Delivery`.

One attempt per webhook is in flight at a time and at most `_CONCURRENCY` in all, each
bounded by a timeout, so a slow or dead receiver holds one slot and delays only its
own deliveries. The sender sleeps until the next attempt is due or it is woken
(`wake()`, called once a write that queued deliveries committed).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import sqlite3
import time
from dataclasses import dataclass

import aiohttp
import msgspec

from appliance import __version__
from appliance.core.clock import local_iso, now_ms
from appliance.core.db import Database
from appliance.core.errors import StorageFull
from appliance.core.store import webhooks as store
from appliance.core.store.webhooks import Delivery, Due

_LOGGER = logging.getLogger(__name__)

_TIMEOUT = 10.0  # s one attempt may take, from connecting to the status line
_CONCURRENCY = 8  # attempts in flight across all webhooks (one per webhook)
_IDLE_POLL = 60.0  # s between looks at the log when nothing wakes the sender
_HOLD = 30.0  # s a webhook waits when its attempt's outcome could not be stored
_PRUNE_EVERY = 3600.0  # s between removals of old settled deliveries
_KEEP = 30 * 24 * 3600 * 1000  # ms a delivered or given-up delivery stays in the log
_ERROR_MAX = 200  # characters of an attempt's error kept in the log
_USER_AGENT = f"Callbox-Webhooks/{__version__}"


@dataclass(frozen=True, slots=True)
class Retry:
    """How failed attempts are retried: `base` doubling up to `cap`, `attempts` in all."""

    base: float = 30.0  # s before the second attempt (before jitter)
    cap: float = 3600.0  # s, the longest wait between two attempts
    attempts: int = 12  # ~5 h of trying with the defaults, then gave_up


def backoff(failed: int, retry: Retry, rand: float) -> float:
    """Return the seconds to wait after `failed` failed attempts (rand in [0, 1)).

    The wait is drawn from [d/2, d), d = base * 2^(failed-1) capped: deliveries that
    failed together (a receiver was down) spread out instead of returning at once.
    """
    delay = min(retry.cap, retry.base * 2.0 ** min(max(failed - 1, 0), 60))
    return delay * (0.5 + rand / 2)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return X-Callbox-Signature: sha256=<hex HMAC-SHA256 of "timestamp.body">."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Envelope(msgspec.Struct):
    """The body of every delivery; `data` is the event's payload as it was queued."""

    id: str
    event: str
    created_at: str
    data: msgspec.Raw


def body(delivery: Delivery) -> bytes:
    """Return the JSON body of a delivery (the same bytes at every attempt)."""
    created = local_iso(delivery.created_at)
    assert created is not None
    envelope = Envelope(delivery.id, delivery.event, created, msgspec.Raw(delivery.payload))
    return msgspec.json.encode(envelope)


def _short(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    return text[:_ERROR_MAX]


class Sender:
    """The background task that delivers the webhook log's due deliveries."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.retry = Retry()
        self.timeout = _TIMEOUT  # s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._sending: dict[int, asyncio.Task[None]] = {}  # webhook id -> its attempt

    def wake(self) -> None:
        """Look at the log now (call on the loop, e.g. from a write's on_commit)."""
        self._wake.set()

    async def open(self) -> None:
        """Start sending; deliveries left pending by a stop are due at once."""
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=_CONCURRENCY),
            cookie_jar=aiohttp.DummyCookieJar(),  # receivers share no state through us
            headers={"User-Agent": _USER_AGENT},
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="callbox-webhooks")

    async def close(self) -> None:
        """Stop sending; an attempt cut short stays pending and is made again later."""
        tasks = [t for t in (self._task, *self._sending.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _run(self) -> None:
        pruned_at = -_PRUNE_EVERY
        while True:
            self._wake.clear()
            wait = _IDLE_POLL
            try:
                wait = await self._pass()
                clock = asyncio.get_running_loop().time()
                if clock - pruned_at >= _PRUNE_EVERY:
                    pruned_at = clock
                    await self._db.write(lambda conn: store.prune(conn, now_ms() - _KEEP))
            except StorageFull:
                pass  # the store logs a full disk itself, once a minute; look again later
            except Exception:
                _LOGGER.exception("webhook pass failed")
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _pass(self) -> float:
        """Start an attempt for each webhook with a delivery due; return s to sleep."""
        now = now_ms()
        busy = frozenset(self._sending)

        def look(conn: sqlite3.Connection) -> tuple[list[Due], int | None]:
            found = store.due(conn, now)
            started = busy | {d.delivery.webhook_id for d in found}
            return found, store.next_due(conn, started)

        found, next_at = await self._db.read(look)
        loop = asyncio.get_running_loop()
        for due in found:
            hook = due.delivery.webhook_id
            # A webhook busy when the snapshot was read may have settled that delivery
            # since: sending it again would make a needless repeat. Its end wakes us.
            if hook in busy or hook in self._sending or len(self._sending) >= _CONCURRENCY:
                continue
            self._sending[hook] = loop.create_task(
                self._attempt(due), name=f"callbox-webhook-{hook}"
            )
        if next_at is None:
            return _IDLE_POLL
        return min(_IDLE_POLL, max(0.0, (next_at - now_ms()) / 1000))

    async def _attempt(self, due: Due) -> None:
        delivery = due.delivery
        try:
            code, error = await self._post(due)
            await self._record(delivery, code, error)
        except StorageFull:
            # Sent but not recorded: the delivery stays pending and will be sent again
            # (at least once); hold the webhook so a full disk does not make it a storm.
            await asyncio.sleep(_HOLD)
        except Exception:
            _LOGGER.exception("webhook %d: attempt failed", delivery.webhook_id)
            await asyncio.sleep(_HOLD)
        finally:
            self._sending.pop(delivery.webhook_id, None)
            self._wake.set()

    async def _post(self, due: Due) -> tuple[int | None, str]:
        """POST a delivery once; return the status code (None: no answer) and an error."""
        assert self._http is not None, "sender is not open"
        data = body(due.delivery)
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Callbox-Event": due.delivery.event,
            "X-Callbox-Delivery": due.delivery.id,
            "X-Callbox-Timestamp": stamp,
            "X-Callbox-Signature": signature(due.secret, stamp, data),
        }
        try:
            async with self._http.post(
                due.url,
                data=data,
                headers=headers,
                allow_redirects=False,  # a redirect could carry the event elsewhere
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                code = response.status
        except TimeoutError:
            return None, f"no answer within {self.timeout:g} s"
        except Exception as err:  # any failure of the world is this attempt's outcome
            return None, _short(err)
        return code, "" if 200 <= code < 300 else f"HTTP {code}"

    async def _record(self, delivery: Delivery, code: int | None, error: str) -> None:
        attempts = delivery.attempts + 1
        now = now_ms()
        next_at: int | None = None
        status: store.Status
        if not error:
            status = "delivered"
        elif attempts >= self.retry.attempts:
            status = "gave_up"
            _LOGGER.warning(
                "webhook %d: gave up delivery %s after %d attempts (%s)",
                delivery.webhook_id,
                delivery.id,
                attempts,
                error,
            )
        else:
            status = "failed"
            wait = backoff(attempts, self.retry, random.random())  # noqa: S311 - jitter
            next_at = now + round(wait * 1000)
        await self._db.write(
            lambda conn: store.record(
                conn,
                delivery.id,
                status=status,
                attempts=attempts,
                next_attempt_at=next_at,
                status_code=code,
                error=error,
                delivered_at=now if status == "delivered" else None,
            )
        )
