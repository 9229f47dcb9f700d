"""The writer's helper process: it stores the chat path's grouped writes (issue 18).

The writer thread (core/db.py) shares the GIL with the event loop. Every SQLite step
releases it, and while the loop is busy the writer waits for it again before the next
one, so at 5,000 visitors a batch of three statements took 2-3 ms and the slowest
chat lines waited ~20 ms for the writer. A batch's chat lines are data (`Post` items,
core/chat_lines.py), so they are committed by this process, in its own transaction
with its own interpreter, and it answers once COMMIT returned. The event loop sends
the requests and reads the answers itself (Helper, on the loop), up to
db.HELPER_IN_FLIGHT at once; core/db.py keeps the queue order between this process
and the writer thread's own jobs.

The helper runs only functions named in RUNS (no import of anything a request names).
A request that raises runs again item by item (run_request), so a request never fails
whole for one item while the next one is already on its way. The helper is started
with the box and stopped with it; if it dies, the writer thread runs what it was sent
and did not answer (the helper may have committed some of it before it died: those
lines are found again as repeats and announced all the same), and a new one starts
RESTART_AFTER later. A helper that leaves a request unanswered for HUNG_AFTER (stopped,
stuck) is killed and taken as lost the same way: chats never wait on it for ever, nor
does the box's close.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib
import logging
import os
import pickle
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

_LOGGER = logging.getLogger(__name__)

# What a request may name: the grouped writes that run here (key: module:function).
RUNS = frozenset(
    {
        "appliance.core.chat_lines:post_lines",  # a batch's chat lines
        "appliance.core.search:take_queued",  # the search indexer's batches
        "appliance.core.store.reports:store_passes",  # the report pass's rows
    }
)
BUSY_TIMEOUT = 5000  # ms
# The WAL file is cut back to this size when it starts again (else it keeps the size
# of its worst moment on disk).
WAL_KEEP_BYTES = 64 * 2**20
RESTART_AFTER = 5.0  # s after a helper was lost before the next one starts
# s a request may go unanswered before the helper counts as hung: it is then killed and
# the writer thread runs what it held (a request's statements wait BUSY_TIMEOUT at most
# for SQLite's lock; this leaves a slow disk's fsync a wide margin).
HUNG_AFTER = 30.0
# What the helper says once it is ready: a helper of another version (a box upgraded
# in place while it ran, then a helper started again) is never sent a request.
_READY = ("ready", 2)
_HEAD = struct.Struct("!I")  # each frame's length, before its pickle
# How the box starts the helper's interpreter (bench/ws_probes.py starts a stamped one).
_ENTRY = ("-m", "appliance.core.db_helper")


# Primary result codes that mean "the disk, not the data": full, or failing to write.
_SQLITE_IOERR, _SQLITE_FULL = 10, 13


def is_storage_error(err: BaseException) -> bool:
    """Tell whether an SQLite error is the disk's (full or failing), not the statement's."""
    code = getattr(err, "sqlite_errorcode", None)
    return (
        isinstance(err, sqlite3.Error)
        and code is not None
        and code & 0xFF
        in (
            _SQLITE_IOERR,
            _SQLITE_FULL,
        )
    )


class HelperFailed(Exception):
    """The helper ran a request and it raised (its transaction was rolled back)."""


def name_of(fn: Callable[..., Any]) -> str:
    """Return how a request names a function."""
    return f"{fn.__module__}:{fn.__qualname__}"


def write_pragmas(checkpoint_apart: bool) -> tuple[str, ...]:
    """Return the PRAGMAs of a connection that writes (the writer's and the helper's)."""
    pragmas = (
        "PRAGMA journal_mode=WAL",
        # FULL: with WAL this fsyncs the log at every commit, so an acknowledged
        # message survives power loss, not only a process crash.
        "PRAGMA synchronous=FULL",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={BUSY_TIMEOUT}",
        f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}",
    )
    return pragmas + (("PRAGMA wal_autocheckpoint=0",) if checkpoint_apart else ())


class Helper:
    """The box's handle on the helper process, used on the event loop.

    Requests are pipelined: send() writes one and returns at once, and each answer is
    handed to its callback from the loop's reader, in the order sent (the helper runs
    them one after another). Nothing here blocks the loop but the spawn of the process,
    which runs on an executor thread.
    """

    def __init__(
        self, path: Path, *, checkpoint_apart: bool, on_lost: Callable[[], None] | None = None
    ) -> None:
        """on_lost: called on the loop when the process dies or its socket breaks,
        after every callback still waiting was dropped (the caller knows what it sent)."""
        self.path = path
        self.checkpoint_apart = checkpoint_apart
        self._on_lost = on_lost
        self._proc: subprocess.Popen[bytes] | None = None
        self._link: _Link | None = None
        # Each request in flight: when it was sent (time.monotonic) and its callback.
        self._answers: collections.deque[tuple[float, Callable[[tuple[Any, ...]], None]]] = (
            collections.deque()
        )
        self._watch: asyncio.TimerHandle | None = None  # the check for a hung helper
        self._ready = False
        self._closed = False
        self._restart: asyncio.TimerHandle | None = None
        self._starting: asyncio.Task[bool] | None = None
        self.requests = 0
        self.lost = 0
        self.last_took = 0.0  # s the last request took in the helper, BEGIN to COMMIT
        self.failed_starts = 0  # starts in a row that failed

    @property
    def up(self) -> bool:
        """Whether requests may go to the helper now."""
        return self._ready and self._link is not None

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._answers)

    def _spawn(self) -> socket.socket:
        ours, theirs = socket.socketpair()
        try:
            self._proc = subprocess.Popen(  # noqa: S603 (our interpreter, our module)
                [
                    sys.executable,
                    *_ENTRY,
                    str(self.path),
                    str(theirs.fileno()),
                    "apart" if self.checkpoint_apart else "auto",
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=_child_env(),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return ours

    async def start(self) -> bool:
        """Start the process (it is up once it has opened the database and said so).
        If it cannot start, log why once and try again RESTART_AFTER later: the writer
        thread stores everything meanwhile."""
        if self._closed or self._link is not None:
            return False
        loop = asyncio.get_running_loop()
        try:
            ours = await loop.run_in_executor(None, self._spawn)
        except OSError as err:
            self.failed_starts += 1
            if self.failed_starts == 1:  # once, not every RESTART_AFTER
                _LOGGER.error(
                    "the writer's helper process did not start (%s); the writer stores"
                    " lines itself and tries again every %.0f s",
                    err,
                    RESTART_AFTER,
                )
            self._start_later()
            return False
        self.failed_starts = 0
        self._ready = False
        link = _Link(self)
        self._link = link
        await loop.create_unix_connection(lambda: link, sock=ours)
        return True

    def _start_later(self) -> None:
        if self._closed:
            return

        def again() -> None:
            self._restart = None
            self._starting = asyncio.ensure_future(self.start())

        self._restart = asyncio.get_running_loop().call_later(RESTART_AFTER, again)

    def send(
        self, fn: Callable[..., Any], items: list[Any], answer: Callable[[tuple[Any, ...]], None]
    ) -> None:
        """Send fn(conn, items) to run in the helper's own transaction; answer(reply) is
        called on the loop once it committed or failed (see results()). Raises
        HelperFailed when the items cannot be encoded (nothing was sent)."""
        link = self._link
        assert link is not None and self._ready, "the helper is not up"
        try:  # encoded first: items that cannot travel are this request's failure
            body = pickle.dumps((name_of(fn), items), pickle.HIGHEST_PROTOCOL)
        except Exception as err:
            raise HelperFailed(f"the request cannot be sent: {err!r}") from err
        self.requests += 1
        self._answers.append((time.monotonic(), answer))
        link.write(body)
        if self._watch is None:
            self._watch = asyncio.get_running_loop().call_later(HUNG_AFTER, self._check_hung)

    def _check_hung(self) -> None:
        """Kill the helper if its oldest request has waited HUNG_AFTER; else look again
        when it would have."""
        self._watch = None
        if not self._answers:  # (a lost link cleared them and cancelled this watch)
            return
        waited = time.monotonic() - self._answers[0][0]
        if waited < HUNG_AFTER:
            self._watch = asyncio.get_running_loop().call_later(
                HUNG_AFTER - waited, self._check_hung
            )
            return
        _LOGGER.error(
            "the writer's helper left a request unanswered for %.0f s; it is stopped", waited
        )
        self.abandon()

    def results(self, reply: tuple[Any, ...]) -> list[Any]:
        """Return the results a reply carries; raise HelperFailed, or the disk's sqlite3
        error when the helper met a full or failing disk."""
        if reply[0] == "ok":
            results: list[Any] = pickle.loads(reply[1])  # noqa: S301 (our own helper's)
            self.last_took = reply[2]
            return results
        _, kind, text, code = reply
        if code is not None and code & 0xFF in (_SQLITE_IOERR, _SQLITE_FULL):
            error = sqlite3.OperationalError(text)
            error.sqlite_errorcode = code  # the disk's: the writer's callers are told so
            raise error
        raise HelperFailed(f"{kind}: {text}")

    def _frame(self, frame: bytes) -> None:
        try:
            message = pickle.loads(frame)  # noqa: S301 (our own helper's)
        except Exception:
            _LOGGER.exception("the writer's helper sent what cannot be read; it is dropped")
            self.abandon()
            return
        if not self._ready:
            if message == _READY:
                self._ready = True
            else:
                _LOGGER.error("the writer's helper is of another version; not used")
            return
        if not self._answers:
            _LOGGER.error("the writer's helper answered a request never sent; it is dropped")
            self.abandon()
            return
        self._answers.popleft()[1](message)

    def abandon(self) -> None:
        """Drop the process as lost (its answers cannot be trusted): on_lost follows."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        if self._link is not None:
            self._link.close()

    def _link_lost(self) -> None:
        self._link = None
        self._ready = False
        self._answers.clear()
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._closed:  # close() waits for the process
            return
        proc, self._proc = self._proc, None
        if proc is not None:  # of no use without its socket: stopped and reaped
            if proc.poll() is None:
                proc.kill()
            asyncio.get_running_loop().run_in_executor(None, proc.wait)
        self.lost += 1
        _LOGGER.error("the writer's helper process was lost; the writer stores its lines")
        self._start_later()
        if self._on_lost is not None:
            self._on_lost()

    async def close(self, wait: float = 5.0) -> None:
        """Stop the process: it reads EOF once it answered what it was sent, and leaves."""
        self._closed = True
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
            self._starting = None
        proc = self._proc
        if self._link is not None:
            self._link.close()
        if proc is not None:
            loop = asyncio.get_running_loop()
            try:
                await asyncio.wait_for(loop.run_in_executor(None, proc.wait), wait)
            except TimeoutError:
                proc.kill()
                await loop.run_in_executor(None, proc.wait)


class _Link(asyncio.Protocol):
    """The socket to the helper: length-prefixed frames (_HEAD), one pickle each."""

    def __init__(self, helper: Helper) -> None:
        self._helper = helper
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an asyncio.Transport instance under uvloop (the box's loop), but one in
        # all it offers.
        self._transport = cast(asyncio.Transport, transport)

    def write(self, body: bytes) -> None:
        assert self._transport is not None
        self._transport.write(_HEAD.pack(len(body)) + body)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while not self._closed and len(buffer) >= _HEAD.size:
            (size,) = _HEAD.unpack_from(buffer)
            if len(buffer) < _HEAD.size + size:
                return
            frame = bytes(buffer[_HEAD.size : _HEAD.size + size])
            del buffer[: _HEAD.size + size]
            self._helper._frame(frame)

    def close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._helper._link_lost()


# What the helper keeps of the box's environment: it needs none of the rest, and a
# large variable (a test runner puts the test's whole name in one) could make the
# command line and environment too long to start it at all.
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SQLITE_TMPDIR", "HOME")


def _child_env() -> dict[str, str]:
    """What the helper runs with: a few of the box's variables, and this very copy of
    the appliance first on the path (the helper must run the code of the box that
    started it)."""
    env = {name: os.environ[name] for name in _KEPT_ENV if name in os.environ}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return env


def _recv_frame(stream: BinaryIO) -> bytes | None:
    """Return the next frame, or None at EOF (a buffered read returns short only there)."""
    head = stream.read(_HEAD.size)
    if len(head) < _HEAD.size:
        return None
    (size,) = _HEAD.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


def _send_frame(sock: socket.socket, message: Any) -> None:
    body = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEAD.pack(len(body)) + body)


RunMany = Callable[[sqlite3.Connection, list[Any]], list[Any]]


def run_request(db: sqlite3.Connection, fn: RunMany, items: list[Any]) -> tuple[Any, ...]:
    """Run one request in its own transaction; return the reply.

    fn(db, items) runs as one call. Should it raise (a bug, or an item it did not
    expect), the transaction is rolled back and the items run again one by one, each
    in a savepoint: an item that raises is that item's failure, the others are kept.
    The box may already have sent the next request, so a request never fails whole
    for one item, or a later one would commit before it (issue 18). A full or failing
    disk fails the whole request (the box reports it as such)."""
    began = time.perf_counter()
    try:
        try:
            db.execute("BEGIN IMMEDIATE")
            results = fn(db, items)
            if len(results) != len(items):
                raise RuntimeError(f"{len(results)} results for {len(items)} items")
        except Exception as err:
            if is_storage_error(err):
                raise
            if db.in_transaction:
                db.execute("ROLLBACK")
            _LOGGER.warning("a grouped write failed in the helper; it runs item by item: %r", err)
            db.execute("BEGIN IMMEDIATE")
            results = [_one(db, fn, item) for item in items]
        # Encoded before COMMIT: a result that cannot travel fails the request, it is
        # not a committed write nobody hears of.
        body = pickle.dumps(results, pickle.HIGHEST_PROTOCOL)
        db.execute("COMMIT")
    except Exception as err:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # a failing disk may refuse it too
                db.execute("ROLLBACK")
        return ("failed", type(err).__name__, str(err), getattr(err, "sqlite_errorcode", None))
    return ("ok", body, time.perf_counter() - began)


def _one(db: sqlite3.Connection, fn: RunMany, item: Any) -> Any:
    db.execute("SAVEPOINT item")
    try:
        [result] = fn(db, [item])
    except Exception as err:
        if is_storage_error(err):
            raise
        db.execute("ROLLBACK TO item")
        result = err
    db.execute("RELEASE item")
    if isinstance(result, BaseException):
        try:
            pickle.dumps(result, pickle.HIGHEST_PROTOCOL)
        except Exception:
            result = HelperFailed(f"{type(result).__name__}: {result}")
    return result


def _serve(sock: socket.socket, db: sqlite3.Connection) -> None:
    found: dict[str, RunMany] = {}
    for name in RUNS:  # imported before it is ready: no request waits for an import
        module, _, attr = name.partition(":")
        found[name] = getattr(importlib.import_module(module), attr)
    _send_frame(sock, _READY)
    stream = sock.makefile("rb")
    while (frame := _recv_frame(stream)) is not None:
        try:
            name, items = pickle.loads(frame)  # noqa: S301 (the box's own request)
        except Exception as err:
            _send_frame(sock, ("failed", type(err).__name__, str(err), None))
            continue
        if name not in found:
            _send_frame(sock, ("failed", "LookupError", f"not run here: {name}", None))
            continue
        _send_frame(sock, run_request(db, found[name], items))


def main(argv: list[str]) -> int:
    """Serve the box's requests over the socket it passed (argv: database path, socket
    fd, 'apart' when WAL checkpoints run apart)."""
    path, fd, checkpoints = argv
    # Ctrl-C in a terminal and systemd's stop reach the whole group: the box stops
    # the helper itself once it has written what it still holds (close()).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=int(fd))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        for pragma in write_pragmas(checkpoints == "apart"):
            db.execute(pragma)
        _serve(sock, db)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the box went away
    finally:
        db.close()
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
