"""SQLite storage: one writer thread fed by a queue with group commit; async reads.

Every write is a job: a plain function over the write connection. The writer thread
takes all jobs that are queued, runs each inside a SAVEPOINT of one transaction, then
commits once: one fsync per batch rather than per statement. A job's caller is
answered only after COMMIT returned, so an acknowledged write is on disk. The thread
starts its next batch as soon as a commit returns; the event loop settles the
committed batch (hooks, callers) meanwhile, so a busy loop never leaves the disk idle
between two batches (issue 18: with the loop in the cycle, the gap between batches was
p90 10 ms at 10,000 visitors). Reads go through aiosqlite on a second connection
(WAL lets them run beside the writer), each in one hop, so a read sees every write
acknowledged before it started.

Measured (bench/README.md): with aiosqlite doing every write statement as its own
thread hop, the appliance saturated one core near 500 messages/s; running a whole
batch per hop is what lets it hold the target.

Every statement the writer steps releases the GIL, and while the event loop is busy
the writer waits for it again (up to the switch interval) before its next statement:
under load a batch's time is its number of statements more than their work (issue 18).
So hot jobs run without a savepoint of their own (savepoint=False), and neighbouring
jobs of one kind may run as one call (many=...): a batch's chat lines are three
statements however many there are.

Jobs that are data (many=..., with a run_many named by send_away: a batch's chat lines,
the search indexer's batches, the report pass's rows) go further: they are committed by
a helper process (core/db_helper.py) with its own interpreter and GIL. The event loop
sends them itself, a run of one run_many per request, and settles each answer as it
reads it; while the helper commits one request the next is already in its socket
(HELPER_IN_FLIGHT), so no thread of this process wakes between a line's frame and
its settled commit. The queue order holds across the two sides: a job starts only
once every job queued before it on the other side committed (_turn), so the helper
and the writer thread never hold SQLite's write lock at once, and a chat's close is
never overtaken by a line queued after it. What it gains against the writer thread
sending each request and waiting for its answer is in bench/README.md (issue 18).
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import concurrent.futures
import contextlib
import contextvars
import logging
import queue
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite

from appliance.core.clock import now_ms
from appliance.core.db_helper import (
    BUSY_TIMEOUT,
    RUNS,
    Helper,
    HelperFailed,
    is_storage_error,
    name_of,
    write_pragmas,
)
from appliance.core.errors import StorageFull
from appliance.core.migrate import apply_migrations

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_BATCH = 256  # jobs per transaction
# Requests the helper process may hold at once: one committing, one waiting behind it,
# so it starts the next as soon as a commit returns, without waiting for the loop.
HELPER_IN_FLIGHT = 2
# WAL checkpoints run apart from the writer, every this many seconds after writes
# (bench/README.md, issue 18): left to SQLite, the commit that crosses 1,000 WAL pages
# copies them into the database and syncs it, and every chat line in that batch waits.
CHECKPOINT_EVERY = 2.0  # 0.5 s cost 9 % more of a core at 10,000 visitors, for nothing
CHECKPOINT_APART = True  # False: SQLite's own auto-checkpoint in the writer (the bench's A/B)
# A checkpoint beside a writer that never pauses (an import, a backfill) never copies
# the last frames, so the log is never started again and grows without end (158 MB in
# 8 s of back-to-back writes, 8 GB in a year's report backfill). Past this many pages
# left in the log, the next checkpoint runs in the writer's thread between two
# transactions: it copies what is left, and the next commit starts the log again.
WAL_MAX_PAGES = 4096  # 16 MiB at 4 KiB pages (the file is cut back: db_helper.WAL_KEEP_BYTES)
_STORAGE_LOG_EVERY = 60.0  # s between log lines while the disk stays full
# Upper bounds (s) of the histogram of how long a write job waits for the writer.
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_READ_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT}",
    "PRAGMA query_only=ON",
)

# Called, if set in the caller's context, once its write job is in the writer's queue.
# Jobs run and commit in queue order, so a caller that must keep an order between its
# writes (a socket's lines of one conversation, webui/ws.py) may start the next one
# from here instead of waiting for the commit.
queued_hook: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "callbox_db_queued_hook", default=None
)

WriteFn = Callable[[sqlite3.Connection], T]
# Runs several jobs' items in one call: one result per item, in order; an exception
# among the results is that item's failure (raised before anything of it was written).
ManyFn = Callable[[sqlite3.Connection, list[Any]], list[Any]]
Params = Iterable[Any] | Mapping[str, Any]  # positional (?) or named (:name) parameters


def _bind(params: Params) -> tuple[Any, ...] | Mapping[str, Any]:
    # A mapping passed through tuple() would bind its keys, not its values.
    return params if isinstance(params, Mapping) else tuple(params)


@dataclass(slots=True)
class _Job(Generic[T]):
    fn: WriteFn[T]
    future: asyncio.Future[T]
    on_commit: Callable[[T], None] | None = None
    result: Any = None
    error: BaseException | None = None
    queued: float = field(default_factory=time.monotonic)  # s, when it joined the queue
    bare: bool = False  # run alone, outside any transaction (a checkpoint)
    savepoint: bool = True  # False: raises only before it writes (write(savepoint=False))
    many: tuple[ManyFn, Any] | None = None  # run with its neighbours (write(many=...))
    here: bool = False  # runs in the writer thread, never in the helper process
    # What to make of its result: a job the helper may have committed before it was
    # lost, run again by the writer thread (send_away's after_loss).
    after_loss: Callable[[Any], Any] | None = None


@dataclass(slots=True)
class _Stats:
    transactions: int = 0
    jobs: int = 0
    # How long jobs waited in the queue for their transaction to start (/metrics).
    waited: int = 0  # jobs measured
    wait_seconds: float = 0.0  # their waits added up
    wait_counts: list[int] = field(default_factory=lambda: [0] * (len(WAIT_BUCKETS) + 1))
    writer_checkpoints: int = 0  # checkpoints the writer ran, the log past WAL_MAX_PAGES
    batches_rerun: int = 0  # batches run again: a job without savepoint raised after writing
    away: int = 0  # transactions the helper process ran (core/db_helper.py)

    def count_waits(self, batch: list[_Job[Any]], start: float) -> None:
        """Add the waits of a batch that starts now to the figures."""
        for job in batch:
            wait = start - job.queued
            self.wait_seconds += wait
            self.wait_counts[bisect.bisect_left(WAIT_BUCKETS, wait)] += 1
        self.waited += len(batch)


@dataclass(slots=True)
class StorageHealth:
    """Whether writes reach the disk; `since` is when they stopped (ms), else None."""

    ok: bool = True
    error: str = ""
    since: int | None = None
    failures: int = 0  # write transactions refused since `since`
    _logged_at: float = 0.0

    def public(self) -> dict[str, Any]:
        """Return the health report's storage part."""
        return {"ok": self.ok, "error": self.error, "since": self.since, "failures": self.failures}


class Database:
    """The appliance's SQLite database: serialised writes, concurrent reads."""

    def __init__(self, path: Path, *, helper: bool = False) -> None:
        """helper: run the grouped writes named with send_away in a helper process
        (core/db_helper.py), off the GIL the event loop holds."""
        self.path = path
        self._use_helper = helper
        self._helper: Helper | None = None
        # run_many functions the helper runs: what to make of a result found again
        # after the helper was lost mid-request (None: keep it as it is).
        self._away: dict[ManyFn, Callable[[Any], Any] | None] = {}
        self._writer: sqlite3.Connection | None = None
        self._thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="callbox-db-writer"
        )
        self._reader: aiosqlite.Connection | None = None
        # Long consistent reads (a routing snapshot) run here, beside the writer.
        self._snapshotter = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="callbox-db-snapshot"
        )
        self._snapshot_conn: sqlite3.Connection | None = None
        # Background reads (the report pass, report questions) run on their own thread
        # and connection, so a long one never queues the chat path's reads behind it.
        self._asider = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="callbox-db-aside"
        )
        self._aside_conn: sqlite3.Connection | None = None
        self._checkpointer = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="callbox-db-checkpoint"
        )
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpoints: asyncio.Task[None] | None = None
        self.checkpoint_failures = 0
        # Filled by the loop, emptied by the writer thread (SimpleQueue: no lock taken
        # around a put; get() waits without the GIL).
        self._queue: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._queued_at: collections.deque[float] = collections.deque()  # same order as _queue
        self._task: asyncio.Future[None] | None = None  # the writer thread's run
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = _Stats()
        self.storage = StorageHealth()
        self._closing = False
        # The loop's side of the queue order (only the loop touches these). A job goes
        # to the helper process or to the writer thread; neither side starts a job
        # before every job queued ahead of it on the other side has committed.
        self._held: collections.deque[_Job[Any]] = collections.deque()  # waiting their turn
        self._pending: list[_Job[Any]] = []  # the helper's, to send at the next flush
        self._flush_soon = False
        self._in_flight: collections.deque[list[_Job[Any]]] = collections.deque()  # sent
        self._writer_out = 0  # jobs given to the writer thread, not settled yet
        self._drained: asyncio.Event | None = None  # set once nothing waits (close)

    def send_away(
        self, run_many: ManyFn, *, after_loss: Callable[[Any], Any] | None = None
    ) -> None:
        """Let the helper process run the groups of this run_many (a module-level
        function it may import: db_helper.RUNS; its items and results are pickled).
        after_loss(result): a result of a group the helper may have committed before it
        died, found again when the writer thread ran the group itself."""
        if name_of(run_many) not in RUNS:  # the helper would refuse every request
            raise ValueError(f"the writer's helper does not run {name_of(run_many)}")
        self._away[run_many] = after_loss

    @property
    def helper(self) -> Helper | None:
        """The helper process's handle, when the database runs one."""
        return self._helper

    @property
    def helper_up(self) -> bool:
        """Whether the helper process takes requests now: work that the helper does
        better than this process (the search indexer) asks first."""
        return self._helper is not None and self._helper.up

    @property
    def helper_lost(self) -> int:
        """How many times the helper process died (the writer then stores its lines)."""
        return self._helper.lost if self._helper is not None else 0

    @property
    def queue_depth(self) -> int:
        """Return how many write jobs wait for their transaction now."""
        return self._queue.qsize() + len(self._held) + len(self._pending)

    def oldest_wait(self) -> float:
        """Return how long (s) the oldest queued write job has waited."""
        heads = [queue[0].queued for queue in (self._held, self._pending) if queue]
        with contextlib.suppress(IndexError):  # the writer thread may just have taken it
            heads.append(self._queued_at[0])
        return time.monotonic() - min(heads) if heads else 0.0

    async def _in_writer(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _open_writer(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            # synchronous=FULL (write_pragmas): an acknowledged write survives power loss.
            for pragma in write_pragmas(CHECKPOINT_APART):
                conn.execute(pragma)
            apply_migrations(conn)
        except BaseException:
            conn.close()
            raise
        self._writer = conn

    async def open(self) -> None:
        """Open both connections, set PRAGMAs, apply migrations, start the writer.

        A failure at any step (a migration that does not apply, say) closes what was
        already open, threads included, before it is raised.
        """
        self._closing = False
        try:
            await self._in_writer(self._open_writer)
            if self._use_helper:
                self._helper = Helper(
                    self.path, checkpoint_apart=CHECKPOINT_APART, on_lost=self._helper_lost
                )
                await self._helper.start()  # the box runs either way
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            self._reader.row_factory = sqlite3.Row
            for pragma in _READ_PRAGMAS:
                await self._reader.execute(pragma)
            loop = asyncio.get_running_loop()
            self._snapshot_conn = await loop.run_in_executor(self._snapshotter, self._open_snapshot)
            self._aside_conn = await loop.run_in_executor(self._asider, self._open_snapshot)
            if CHECKPOINT_APART:
                self._checkpoint_conn = await loop.run_in_executor(
                    self._checkpointer, self._open_snapshot
                )
        except BaseException:
            await self.close()
            raise
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.run_in_executor(self._thread, self._run_writer)
        if CHECKPOINT_APART:
            self._checkpoints = asyncio.create_task(self._run_checkpoints())

    async def _run_checkpoints(self) -> None:
        """Copy the WAL into the database beside the writer (PASSIVE: it waits for no
        one; the writer goes on appending and reuses the log once it is all copied)."""
        loop = asyncio.get_running_loop()
        seen = self.stats.transactions
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY)
            if self.stats.transactions == seen:
                continue
            seen = self.stats.transactions
            try:
                pages = await loop.run_in_executor(self._checkpointer, self._checkpoint)
                if pages > WAL_MAX_PAGES:  # the writer never paused for it: copy the rest
                    await self._write_bare(self._checkpoint_in_writer)
                    self.stats.writer_checkpoints += 1
            except sqlite3.Error as err:
                self.checkpoint_failures += 1
                if self.checkpoint_failures == 1:  # the next commits grow the WAL instead
                    _LOGGER.warning("WAL checkpoint failed: %s", err)

    def _checkpoint(self) -> int:
        """Copy what the log holds beside the writer; return the log's size in pages (it
        starts again only after a checkpoint that copied all of it)."""
        conn = self._checkpoint_conn
        assert conn is not None
        _, pages, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return max(int(pages), 0)

    @staticmethod
    def _checkpoint_in_writer(conn: sqlite3.Connection) -> None:
        """Copy the rest of the log between two transactions (nothing appends meanwhile),
        so the next commit starts it again."""
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _open_snapshot(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        for pragma in _READ_PRAGMAS:
            conn.execute(pragma)
        return conn

    def _in_snapshot(self, fn: Callable[[sqlite3.Connection], T], aside: bool = False) -> T:
        conn = self._aside_conn if aside else self._snapshot_conn
        assert conn is not None, "database is not open"
        # One read transaction: every statement of fn sees the same committed state (WAL).
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("COMMIT")

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn(conn) over one consistent snapshot, in a thread, without the writer."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._snapshotter, self._in_snapshot, fn)

    async def read_aside(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """As read(), on a connection and thread of its own, for background work that
        may read long (the report pass, report questions): reads that answer chat
        lines never wait behind it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._asider, self._in_snapshot, fn, True)

    async def close(self) -> None:
        """Finish queued writes, then close the connections."""
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            await asyncio.gather(self._checkpoints, return_exceptions=True)
            self._checkpoints = None
        if self._task is not None:
            self._closing = True
            # What waits its turn or is in the helper goes first; the writer thread
            # stops after the jobs queued before None.
            self._drained = asyncio.Event()
            self._release()
            await self._drained.wait()
            self._queue.put(None)
            await self._task
            self._task = None
        if self._helper is not None:
            helper, self._helper = self._helper, None
            await helper.close()
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._snapshot_conn is not None:
            conn, self._snapshot_conn = self._snapshot_conn, None
            await asyncio.get_running_loop().run_in_executor(self._snapshotter, conn.close)
        if self._aside_conn is not None:
            conn, self._aside_conn = self._aside_conn, None
            await asyncio.get_running_loop().run_in_executor(self._asider, conn.close)
        if self._checkpoint_conn is not None:
            conn, self._checkpoint_conn = self._checkpoint_conn, None
            await asyncio.get_running_loop().run_in_executor(self._checkpointer, conn.close)
        if self._writer is not None:
            await self._in_writer(self._writer.close)  # the last connection: checkpoints
            self._writer = None
        self._thread.shutdown(wait=True)
        self._snapshotter.shutdown(wait=True)
        self._asider.shutdown(wait=True)
        self._checkpointer.shutdown(wait=True)

    async def write(
        self,
        fn: WriteFn[T],
        *,
        on_commit: Callable[[T], None] | None = None,
        savepoint: bool = True,
        many: tuple[ManyFn, Any] | None = None,
    ) -> T:
        """Run fn(conn) in the writer's transaction; return its result once committed.

        on_commit runs right after COMMIT, in commit order, before any caller resumes:
        events emitted there are ordered exactly as the data was written.

        Each job runs inside a SAVEPOINT of its own, so a job that raises takes back
        only its own writes. savepoint=False is for hot jobs (a chat line) that raise
        only before their first write: they run without one, two statements fewer, and
        every statement waits for the GIL again while the event loop is busy (issue
        18). Should such a job raise after it wrote all the same, the batch is rolled
        back and run again with a savepoint around every job, so nothing of it is kept;
        the other jobs of that batch then run twice (their first run is rolled back).

        many=(run_many, item) lets jobs queued one after another with the same run_many
        run as one call, run_many(conn, [items]), which returns one result per item (an
        exception instance: that item's failure, found before anything of it was
        written). A chat line's write is three statements however many lines a batch
        holds (issue 18). Such a job runs without a savepoint; fn is what runs instead
        when it is alone in its batch or the batch runs again job by job. A run_many
        named by send_away runs in the helper process while there is one, even for a
        single item.
        """
        future = self._submit(fn, on_commit, savepoint=savepoint and many is None, many=many)
        hook = queued_hook.get()
        if hook is not None:
            hook()
        return await asyncio.shield(future)

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Return all rows of a read query."""
        assert self._reader is not None, "database is not open"
        # One hop that runs the statement to its end. A cursor kept open across hops
        # (execute, then fetch, then close) holds the connection's read transaction,
        # and while reads overlap it never ends: later reads kept seeing an old snapshot.
        # Found by bench/ws_fanout.py: a console's join of the chat it had just been
        # given read a snapshot without it and was refused.
        return list(await self._reader.execute_fetchall(sql, _bind(params)))

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Return the first row of a query that selects one row (it is read to its end)."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    def _submit(
        self,
        fn: WriteFn[T],
        on_commit: Callable[[T], None] | None = None,
        bare: bool = False,
        savepoint: bool = True,
        many: tuple[ManyFn, Any] | None = None,
    ) -> asyncio.Future[T]:
        """Queue a job for the writer thread; return the future its result settles."""
        if self._task is None or self._closing:
            raise RuntimeError("database is not open")
        # The loop it was opened on (get_running_loop() checks the pid on every call).
        assert self._loop is not None
        future: asyncio.Future[T] = self._loop.create_future()
        job = _Job(fn, future, on_commit, bare=bare, savepoint=savepoint, many=many)
        if self._held or not self._turn(job):
            self._held.append(job)
        else:
            self._go(job)
        return future

    # The queue order across the two sides (on the loop). Jobs of a run_many named by
    # send_away go to the helper process while it is up; the rest to the writer thread.
    # A job starts only once every job queued before it on the other side committed:
    # the two never hold SQLite's write lock at once, and a chat's close is never
    # overtaken by a line queued after it. The helper's jobs are sent in requests
    # (a run of one run_many), up to HELPER_IN_FLIGHT at once, and their answers are
    # settled by the loop as they come: no thread of this process wakes for them.

    def _for_helper(self, job: _Job[Any]) -> bool:
        return (
            job.many is not None
            and not job.here
            and job.many[0] in self._away
            and self._helper is not None
            and self._helper.up
        )

    def _turn(self, job: _Job[Any]) -> bool:
        """Whether a job may start now (nothing of the other side is ahead of it)."""
        if self._for_helper(job):
            return self._writer_out == 0
        return not self._pending and not self._in_flight

    def _go(self, job: _Job[Any]) -> None:
        if self._for_helper(job):
            self._pending.append(job)
            if not self._flush_soon:
                self._flush_soon = True
                assert self._loop is not None
                self._loop.call_soon(self._flush)
            return
        self._writer_out += 1
        self._queued_at.append(job.queued)
        self._queue.put(job)

    def _release(self) -> None:
        """Start the jobs whose turn it is now, in queue order."""
        held = self._held
        while held and self._turn(held[0]):
            self._go(held.popleft())
        if self._drained is not None and not held and not self._pending and not self._in_flight:
            self._drained.set()

    def _flush(self) -> None:
        """Send what the helper's jobs are pending, as many requests as may be in flight."""
        self._flush_soon = False
        helper = self._helper
        while self._pending and len(self._in_flight) < HELPER_IN_FLIGHT:
            if helper is None or not helper.up:  # gone meanwhile: they run in the writer
                self._hold_again([])
                break
            run_many = self._pending[0].many
            assert run_many is not None
            size = 1
            while (
                size < min(len(self._pending), _MAX_BATCH)
                and (other := self._pending[size].many) is not None
                and other[0] == run_many[0]
            ):
                size += 1
            part = self._pending[:size]
            try:
                self._send_away(helper, run_many[0], part)
            except HelperFailed as err:
                # Items that cannot travel run in the writer thread, in their turn.
                _LOGGER.warning("a grouped write cannot go to the helper; it runs here: %s", err)
                for job in part:
                    job.here = True
                self._hold_again([])
                break
            del self._pending[:size]
        self._release()

    def _send_away(self, helper: Helper, run_many: ManyFn, part: list[_Job[Any]]) -> None:
        helper.send(
            run_many,
            [job.many[1] for job in part if job.many is not None],
            lambda reply: self._answered(part, reply),
        )
        self._in_flight.append(part)
        self.stats.count_waits(part, time.monotonic())

    def _answered(self, part: list[_Job[Any]], reply: tuple[Any, ...]) -> None:
        """Settle a request the helper answered (on the loop, in the order sent)."""
        helper = self._helper
        assert helper is not None and self._in_flight[0] is part
        error: BaseException | None = None
        try:
            results = helper.results(reply)
        except (HelperFailed, sqlite3.Error) as err:
            error = err
        else:
            if len(results) != len(part):  # never from our helper: as if it were lost
                _LOGGER.error(
                    "the writer's helper answered %d results for %d", len(results), len(part)
                )
                helper.abandon()  # _helper_lost takes this part back with the others
                return
            self.stats.away += 1
            Database._take_results(part, results)
        self._in_flight.popleft()
        self._finish(part, error)
        self._flush()

    def _helper_lost(self) -> None:
        """The helper died or broke its socket (on the loop): what it was sent and did
        not answer runs in the writer thread, first, and is announced even when found
        stored already (it may have committed it before it died)."""
        sent = [job for part in self._in_flight for job in part]
        self._in_flight.clear()
        for job in sent:
            job.here = True
            if job.many is not None:
                job.after_loss = self._away.get(job.many[0])
        self._hold_again(sent)
        self._release()

    def _hold_again(self, sent: list[_Job[Any]]) -> None:
        """Put jobs sent to the helper, then those pending to be sent, back at the
        head of the queue, in their order: they start again in their turn."""
        self._held.extendleft(reversed(sent + self._pending))
        self._pending = []

    async def _write_bare(self, fn: WriteFn[T]) -> T:
        """Run fn(conn) in the writer thread between two transactions, in queue order."""
        return await asyncio.shield(self._submit(fn, bare=True))

    def _run_writer(self) -> None:
        """The writer thread: take what is queued, run it, commit, hand it to the loop."""
        loop = self._loop
        assert loop is not None
        held: _Job[Any] | None = None  # a bare job taken while a batch was filling
        while True:
            first = held if held is not None else self._queue.get()
            held = None
            if first is None:
                return
            batch: list[_Job[Any]] = [first]
            stop = False
            while not first.bare and len(batch) < _MAX_BATCH:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                if job.bare:  # runs alone, after this batch
                    held = job
                    break
                batch.append(job)
            for _ in batch:
                self._queued_at.popleft()
            self.stats.count_waits(batch, time.monotonic())
            error: BaseException | None = None
            try:
                if first.bare:
                    assert self._writer is not None
                    first.result = first.fn(self._writer)
                else:
                    self._run_batch(batch)
            except BaseException as err:  # handed to the callers, on the loop
                error = err
            try:
                loop.call_soon_threadsafe(self._written, batch, error)
            except RuntimeError:  # the loop is closed: nobody waits any more
                return
            if stop:
                return

    def _written(self, batch: list[_Job[Any]], error: BaseException | None) -> None:
        """Settle a batch of the writer thread (on the loop, in commit order)."""
        self._writer_out -= len(batch)
        self._finish(batch, error)
        if not self._writer_out:
            self._release()

    def _finish(self, batch: list[_Job[Any]], error: BaseException | None) -> None:
        """Settle a transaction of either side (on the loop, in commit order)."""
        if batch[0].bare:
            job = batch[0]
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(job.result)
            return
        if error is not None:
            if isinstance(error, Exception) and is_storage_error(error):
                error = self._storage_failed(error, len(batch))
            else:
                _LOGGER.error(
                    "write transaction failed; %d jobs rolled back", len(batch), exc_info=error
                )
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        if not self.storage.ok:
            _LOGGER.warning(
                "storage writes again after %d refused transactions", self.storage.failures
            )
            self.storage = StorageHealth()
        self._settle(batch)

    def _run_batch(self, batch: list[_Job[Any]]) -> None:
        """Run a batch in one transaction (in the writer thread)."""
        conn = self._writer
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
            if not self._run_jobs(conn, batch, every_savepoint=False):
                # A job without a savepoint raised after it wrote: take the whole
                # batch back and run it again, each job inside a savepoint.
                self.stats.batches_rerun += 1
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                self._run_jobs(conn, batch, every_savepoint=True)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _run_jobs(conn: sqlite3.Connection, batch: list[_Job[Any]], every_savepoint: bool) -> bool:
        """Run the jobs of a batch inside its transaction; return False when a job
        without a savepoint raised after it wrote (its writes cannot be taken back alone)."""
        i = 0
        while i < len(batch):
            job = batch[i]
            i += 1
            if job.many is not None and not every_savepoint:
                group = [job]
                while i < len(batch) and (other := batch[i].many) and other[0] == job.many[0]:
                    group.append(batch[i])
                    i += 1
                if len(group) > 1:
                    if not Database._run_many(conn, group):
                        return False
                    continue
            job.result, job.error = None, None
            guarded = every_savepoint or job.savepoint
            if guarded:
                conn.execute("SAVEPOINT job")
            changes = conn.total_changes
            try:
                job.result = job.fn(conn)
            except Exception as err:  # the job's own failure goes to its caller
                if is_storage_error(err):
                    raise  # the disk's failure, not the job's: SQLite may have rolled back
                if not guarded and (conn.total_changes != changes or not conn.in_transaction):
                    return False
                job.error = err
                if guarded:
                    conn.execute("ROLLBACK TO job")
            if guarded:
                conn.execute("RELEASE job")
        return True

    @staticmethod
    def _run_many(conn: sqlite3.Connection, group: list[_Job[Any]]) -> bool:
        """Run jobs of one run_many in one call; False if it raised (the batch then runs
        again job by job, each in a savepoint)."""
        run_many = group[0].many
        assert run_many is not None
        try:
            results = run_many[0](conn, [job.many[1] for job in group if job.many is not None])
        except Exception as err:
            if is_storage_error(err):
                raise
            _LOGGER.warning("a grouped write failed; its batch runs again job by job: %r", err)
            return False
        if len(results) != len(group):  # a bug of run_many: run them one by one
            return False
        Database._take_results(group, results)
        return True

    @staticmethod
    def _take_results(group: list[_Job[Any]], results: list[Any]) -> None:
        """Give each job of a run_many its result, or its failure (an exception)."""
        for job, result in zip(group, results, strict=True):
            if isinstance(result, BaseException):
                job.result, job.error = None, result
            else:
                job.result, job.error = result, None

    def _storage_failed(self, err: Exception, jobs: int) -> StorageFull:
        """Record a full or failing disk; log it at most once a minute."""
        health = self.storage
        if health.ok:
            health.ok, health.since, health.error = False, now_ms(), str(err)
        health.failures += 1
        clock = asyncio.get_running_loop().time()
        if clock - health._logged_at >= _STORAGE_LOG_EVERY:
            health._logged_at = clock
            _LOGGER.error(
                "storage full or failing (%s): %d writes refused so far, this batch had %d jobs",
                err,
                health.failures,
                jobs,
            )
        refused = StorageFull("the box's storage is full; nothing was stored, try again later")
        refused.__cause__ = err
        return refused

    def _settle(self, batch: list[_Job[Any]]) -> None:
        self.stats.transactions += 1
        self.stats.jobs += len(batch)
        for job in batch:
            if job.error is None and job.after_loss is not None:
                job.result = job.after_loss(job.result)
            if job.error is None and job.on_commit is not None:
                try:
                    job.on_commit(job.result)
                except Exception:
                    _LOGGER.exception("on_commit hook failed")
            if job.future.done():
                continue
            if job.error is not None:
                job.future.set_exception(job.error)
            else:
                job.future.set_result(job.result)
