"""The writer's helper process: it stores the chat path's grouped writes (issue 18).

The writer thread (core/db.py) shares the GIL with the event loop. Every SQLite step
releases it, and while the loop is busy the writer waits for it again before the next
one, so at 5,000 visitors a batch of three statements took 2-3 ms and the slowest
chat lines waited ~20 ms for the writer. A batch's chat lines are data (`Post` items,
core/chat_lines.py), so the writer thread hands them to this process, which runs them
in its own transaction with its own interpreter and answers once COMMIT returned. The
writer thread stays the one that decides who writes when: it runs its own jobs in its
own transactions between two requests and never has one open while the helper
writes, so the two never wait on SQLite's lock.

The helper runs only functions named in RUNS (no import of anything a request names).
It is started with the box and stopped with it; if it dies, the writer thread runs
the lines itself (the helper may have committed some before it died: they are found
again as repeats and announced all the same) and starts it again later.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

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
# What the helper says once it is ready: a helper of another version (a box upgraded
# in place while it ran, then a helper started again) is never sent a request.
_READY = ("ready", 1)


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


class HelperLost(Exception):
    """The helper process died or its pipe broke: what it was running is unknown."""


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
    """The writer thread's handle on the helper process (used from that thread only)."""

    def __init__(self, path: Path, *, checkpoint_apart: bool) -> None:
        self.path = path
        self.checkpoint_apart = checkpoint_apart
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._ready = False
        self._lost_at: float | None = None
        self.requests = 0
        self.lost = 0
        self.last_took = 0.0  # s the last request took in the helper, BEGIN to COMMIT
        self.failed_starts = 0  # starts in a row that failed

    def start(self) -> None:
        """Start the process; it is ready once it has opened the database."""
        ours, theirs = socket.socketpair()
        try:
            self._proc = subprocess.Popen(  # noqa: S603 (our interpreter, our module)
                [
                    sys.executable,
                    "-m",
                    "appliance.core.db_helper",
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
        self._conn = Connection(ours.detach())
        self._ready = False

    @property
    def up(self) -> bool:
        """Whether it took requests at the writer thread's last look (any thread)."""
        return self._ready

    def start_or_log(self) -> bool:
        """Start the process; if it cannot start, log why and try again RESTART_AFTER
        later (the writer stores everything itself meanwhile)."""
        try:
            self.start()
        except OSError as err:
            self.failed_starts += 1
            if self.failed_starts == 1:  # once, not every RESTART_AFTER
                _LOGGER.error(
                    "the writer's helper process did not start (%s); the writer stores"
                    " lines itself and tries again every %.0f s",
                    err,
                    RESTART_AFTER,
                )
            self._lost_at = time.monotonic()
            return False
        self.failed_starts = 0
        return True

    def ready(self) -> bool:
        """Tell whether requests may go to the helper now (never waits)."""
        if self._ready:
            return True
        if self._conn is None:
            if self._lost_at is not None and time.monotonic() - self._lost_at >= RESTART_AFTER:
                self._lost_at = None
                self.start_or_log()
            return False
        try:
            if self._conn.poll(0):
                self._ready = self._conn.recv() == _READY
                if not self._ready:
                    _LOGGER.error("the writer's helper is of another version; not used")
        except (EOFError, OSError):
            self._lose()
        return self._ready

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        """Run fn(conn, items) in the helper's transaction; return its results once
        committed. Raises HelperLost, HelperFailed, or the disk's sqlite3 error."""
        conn = self._conn
        assert conn is not None and self._ready
        self.requests += 1
        try:  # encoded first: items that cannot travel are this request's failure
            request = pickle.dumps((name_of(fn), items), pickle.HIGHEST_PROTOCOL)
        except Exception as err:
            raise HelperFailed(f"the request cannot be sent: {err!r}") from err
        try:
            conn.send_bytes(request)
            reply = conn.recv()
        except (EOFError, OSError) as err:
            self._lose()
            raise HelperLost(str(err) or type(err).__name__) from err
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

    def _lose(self) -> None:
        self.lost += 1
        self._lost_at = time.monotonic()
        self._ready = False
        self.close(wait=0.0)

    def close(self, wait: float = 5.0) -> None:
        """Stop the process (it finishes the request it runs; there is none between
        two of the writer thread's calls)."""
        conn, self._conn = self._conn, None
        proc, self._proc = self._proc, None
        self._ready = False
        if conn is not None:
            conn.close()  # the helper reads EOF and leaves
        if proc is not None:
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


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


def _serve(conn: Connection, db: sqlite3.Connection) -> None:
    found: dict[str, Callable[[sqlite3.Connection, list[Any]], list[Any]]] = {}
    for name in RUNS:  # imported before it is ready: no request waits for an import
        module, _, attr = name.partition(":")
        found[name] = getattr(importlib.import_module(module), attr)
    conn.send(_READY)
    while True:
        try:
            name, items = conn.recv()
        except EOFError:
            return
        if name not in found:
            conn.send(("failed", "LookupError", f"not run here: {name}", None))
            continue
        fn = found[name]
        try:
            began = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            # Encoded before COMMIT: a result that cannot travel fails the request,
            # it is not a committed write nobody hears of.
            body = pickle.dumps(fn(db, items), pickle.HIGHEST_PROTOCOL)
            db.execute("COMMIT")
        except Exception as err:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # a failing disk may refuse it too
                    db.execute("ROLLBACK")
            code = getattr(err, "sqlite_errorcode", None)
            conn.send(("failed", type(err).__name__, str(err), code))
            continue
        conn.send(("ok", body, time.perf_counter() - began))


def main(argv: list[str]) -> int:
    """Serve the writer thread's requests over the socket it passed (argv: database
    path, socket fd, 'apart' when WAL checkpoints run apart)."""
    path, fd, checkpoints = argv
    # Ctrl-C in a terminal and systemd's stop reach the whole group: the box stops
    # the helper itself once it has written what it still holds (close()).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(int(fd))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        for pragma in write_pragmas(checkpoints == "apart"):
            db.execute(pragma)
        _serve(conn, db)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the box went away
    finally:
        db.close()
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
