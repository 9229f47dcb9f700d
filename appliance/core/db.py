"""SQLite storage: one writer fed by a queue with group commit, one reader, PRAGMAs here.

Every write runs as a job on the single write connection. The writer takes all jobs
that are queued, runs each inside its own SAVEPOINT within one transaction and commits
once, so one fsync covers a whole batch. A job's caller is answered only after COMMIT
returned: an acknowledged write is on disk.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite

from appliance.core.migrate import apply_migrations

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_BATCH = 256  # jobs per transaction
_BUSY_TIMEOUT = 5000  # ms

# synchronous=FULL: with WAL this fsyncs the log at every commit, so an acknowledged
# message survives power loss, not only a process crash. Group commit pays for it.
_WRITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={_BUSY_TIMEOUT}",
)
_READ_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={_BUSY_TIMEOUT}",
    "PRAGMA query_only=ON",
)

WriteFn = Callable[[aiosqlite.Connection], Awaitable[T]]


@dataclass(slots=True)
class _Job(Generic[T]):
    fn: WriteFn[T]
    future: asyncio.Future[T]
    on_commit: Callable[[T], None] | None = None
    result: Any = None
    error: BaseException | None = None


@dataclass(slots=True)
class _Stats:
    transactions: int = 0
    jobs: int = 0


class Database:
    """The appliance's SQLite database: serialised writes, concurrent reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[_Job[Any] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.stats = _Stats()
        self._closing = False

    async def open(self) -> None:
        """Open both connections, set PRAGMAs, apply migrations, start the writer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        self._writer.row_factory = sqlite3.Row
        for pragma in _WRITE_PRAGMAS:
            await self._writer.execute(pragma)
        await apply_migrations(self._writer)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        self._reader.row_factory = sqlite3.Row
        for pragma in _READ_PRAGMAS:
            await self._reader.execute(pragma)
        self._task = asyncio.create_task(self._run_writer(), name="callbox-db-writer")

    async def close(self) -> None:
        """Finish queued writes, then close the connections."""
        if self._task is not None:
            self._closing = True
            await self._queue.put(None)
            await self._task
            self._task = None
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    async def write(self, fn: WriteFn[T], *, on_commit: Callable[[T], None] | None = None) -> T:
        """Run fn on the write connection in a transaction; return once committed.

        on_commit runs right after COMMIT, in commit order, before any caller resumes:
        events emitted there are ordered exactly as the data was written.
        """
        if self._task is None or self._closing:
            raise RuntimeError("database is not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(fn, future, on_commit))
        return await asyncio.shield(future)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Return all rows of a read query."""
        assert self._reader is not None, "database is not open"
        async with self._reader.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        """Return the first row of a read query, or None."""
        assert self._reader is not None, "database is not open"
        async with self._reader.execute(sql, tuple(params)) as cursor:
            row = await cursor.fetchone()
            return row

    async def _run_writer(self) -> None:
        assert self._writer is not None
        conn = self._writer
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is None:
                break
            batch: list[_Job[Any]] = [first]
            while len(batch) < _MAX_BATCH and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is None:
                    stop = True
                    break
                batch.append(job)
            await self._run_batch(conn, batch)

    async def _run_batch(self, conn: aiosqlite.Connection, batch: list[_Job[Any]]) -> None:
        try:
            await conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                await conn.execute("SAVEPOINT job")
                try:
                    job.result = await job.fn(conn)
                except Exception as err:  # the job's own failure goes to its caller
                    job.error = err
                    await conn.execute("ROLLBACK TO job")
                await conn.execute("RELEASE job")
            await conn.execute("COMMIT")
        except Exception as err:
            _LOGGER.exception("write transaction failed; %d jobs rolled back", len(batch))
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(err)
            return
        self.stats.transactions += 1
        self.stats.jobs += len(batch)
        for job in batch:
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
