"""The SQLite store: PRAGMAs, migrations, one writer with group commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from appliance.core.db import Database
from appliance.core.migrate import migration_files


async def test_pragmas_and_migrations_are_applied_once(tmp_path):
    db = Database(tmp_path / "x.db")
    await db.open()
    mode = await db.fetchone("PRAGMA journal_mode")
    assert mode[0] == "wal"
    names = [r[0] for r in await db.fetchall("SELECT name FROM schema_migrations ORDER BY 1")]
    assert names == [name for name, _ in migration_files()]
    tables = {
        r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    assert {"users", "sessions", "visitors", "conversations", "messages"} <= tables
    await db.close()
    # Opening again applies nothing new and keeps the data.
    db = Database(tmp_path / "x.db")
    await db.open()
    again = await db.fetchall("SELECT name FROM schema_migrations")
    assert len(again) == len(names)
    await db.close()


async def test_migration_numbers_are_unique_and_ordered():
    names = [name for name, _ in migration_files()]
    numbers = [name[:4] for name in names]
    assert numbers == sorted(set(numbers))
    assert numbers[0] == "0001"


async def test_reader_is_read_only(tmp_path):
    db = Database(tmp_path / "x.db")
    await db.open()
    with pytest.raises(sqlite3.OperationalError):
        await db.fetchall("DELETE FROM users")
    await db.close()


async def test_concurrent_writes_share_commits_and_failures_stay_isolated(tmp_path):
    db = Database(tmp_path / "x.db")
    await db.open()
    await db.write(lambda c: c.execute("CREATE TABLE t (v INTEGER UNIQUE)"))
    before = db.stats.transactions

    def insert(value: int):  # type: ignore[no-untyped-def]
        def job(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
            return value

        return job

    values = [*range(200), 5]  # the repeated 5 violates UNIQUE
    results = await asyncio.gather(*(db.write(insert(v)) for v in values), return_exceptions=True)
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1 and isinstance(failures[0], sqlite3.IntegrityError)
    count = await db.fetchone("SELECT count(*) FROM t")
    assert count[0] == 200
    # 201 writes queued together cost far fewer transactions (fsyncs) than writes.
    assert db.stats.transactions - before < 20
    await db.close()


async def _one_batch(db: Database, jobs: list[tuple[object, bool]]) -> list[object]:
    """Run jobs (fn, savepoint) in one transaction: queue them behind a job that holds
    the writer, then let it go; return their results or errors."""
    gate = threading.Event()
    held = asyncio.ensure_future(db.write(lambda c: gate.wait(5)))
    await asyncio.sleep(0.05)  # the writer thread is inside the holding job
    before = db.stats.transactions
    queued = [asyncio.ensure_future(db.write(fn, savepoint=sp)) for fn, sp in jobs]  # type: ignore[arg-type]
    await asyncio.sleep(0)
    gate.set()
    await held
    results = await asyncio.gather(*queued, return_exceptions=True)
    assert db.stats.transactions - before == 2  # the holding job's, then all of these
    return list(results)


async def test_a_job_without_savepoint_that_fails_before_writing_fails_alone(tmp_path):
    db = Database(tmp_path / "x.db")
    await db.open()
    await db.write(lambda c: c.execute("CREATE TABLE t (v INTEGER UNIQUE)"))
    await db.write(lambda c: c.execute("INSERT INTO t VALUES (0)"))
    runs: list[int] = []

    def insert(value: int):  # type: ignore[no-untyped-def]
        def job(conn: sqlite3.Connection) -> int:
            runs.append(value)
            conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
            return value

        return job

    def refuse(conn: sqlite3.Connection) -> None:
        conn.execute("SELECT count(*) FROM t").fetchone()
        raise ValueError("refused before writing")

    results = await _one_batch(
        db, [(insert(1), True), (refuse, False), (insert(0), False), (insert(2), False)]
    )
    assert results[0] == 1 and results[3] == 2
    assert isinstance(results[1], ValueError)
    assert isinstance(results[2], sqlite3.IntegrityError)  # the statement failed: nothing kept
    rows = [r[0] for r in await db.fetchall("SELECT v FROM t ORDER BY v")]
    assert rows == [0, 1, 2]
    assert runs == [1, 0, 2]  # each ran once: nothing was run again
    assert db.stats.batches_rerun == 0
    await db.close()


async def test_a_job_without_savepoint_that_fails_after_writing_keeps_nothing(tmp_path):
    """Its writes cannot be taken back alone: the batch is rolled back and run again
    with a savepoint around every job; the others are kept once."""
    db = Database(tmp_path / "x.db")
    await db.open()
    await db.write(lambda c: c.execute("CREATE TABLE t (v INTEGER UNIQUE)"))
    runs: list[int] = []

    def insert(value: int, then_fail: bool = False):  # type: ignore[no-untyped-def]
        def job(conn: sqlite3.Connection) -> int:
            runs.append(value)
            conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
            if then_fail:
                raise ValueError("failed after writing")
            return value

        return job

    results = await _one_batch(
        db, [(insert(1), True), (insert(2, then_fail=True), False), (insert(3), False)]
    )
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], ValueError)
    rows = [r[0] for r in await db.fetchall("SELECT v FROM t ORDER BY v")]
    assert rows == [1, 3]  # the failed job's row is gone, the others stored once
    assert runs == [1, 2, 1, 2, 3]  # the batch ran again from its start
    assert db.stats.batches_rerun == 1
    await db.close()


async def test_on_commit_runs_in_commit_order_before_callers_resume(tmp_path):
    db = Database(tmp_path / "x.db")
    await db.open()
    await db.write(lambda c: c.execute("CREATE TABLE t (v INTEGER)"))
    order: list[int] = []

    async def one(value: int) -> int:
        def job(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
            return value

        result = await db.write(job, on_commit=order.append)
        assert value in order  # announced before the caller resumed
        return result

    await asyncio.gather(*(one(v) for v in range(50)))
    assert order == list(range(50))
    await db.close()


async def test_close_finishes_queued_writes(tmp_path):
    db = Database(tmp_path / "x.db")
    await db.open()
    await db.write(lambda c: c.execute("CREATE TABLE t (v INTEGER)"))
    pending = [
        asyncio.ensure_future(db.write(lambda c, v=v: c.execute("INSERT INTO t VALUES (?)", (v,))))
        for v in range(20)
    ]
    await asyncio.sleep(0)
    await db.close()
    await asyncio.gather(*pending)
    with sqlite3.connect(tmp_path / "x.db") as raw:
        assert raw.execute("SELECT count(*) FROM t").fetchone()[0] == 20
    raw.close()
    with pytest.raises(RuntimeError):
        await db.write(lambda c: c.execute("SELECT 1"))


async def test_a_migration_that_fails_leaves_no_thread_or_connection(tmp_path, monkeypatch):
    """The writer's thread ends with the error, not when the Database is collected."""
    import threading

    from appliance.core import migrate

    broken = [*migration_files(), ("9999_broken.sql", "ALTER TABLE nowhere ADD COLUMN x;")]
    monkeypatch.setattr(migrate, "migration_files", lambda: broken)
    db = Database(tmp_path / "box.db")
    with pytest.raises(sqlite3.OperationalError):
        await db.open()
    alive = [t.name for t in threading.enumerate() if t.name.startswith("callbox-db")]
    assert not alive, alive  # `db` is still referenced: only close() ends them
    # Nothing holds the file: it can be opened and fixed by hand at once.
    conn = sqlite3.connect(tmp_path / "box.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_message_ids_follow_time_so_rows_are_appended(tmp_path):
    """Messages are keyed by id (WITHOUT ROWID): ids that follow time put new rows at
    the end of the table instead of into random pages (issue 18)."""
    from appliance.core.migrate import apply_migrations
    from appliance.core.store import conversations as conv_store

    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    apply_migrations(conn)
    conn.execute("INSERT INTO visitors (id, created_at, last_seen_at) VALUES ('v1', 1, 1)")
    conv_store.insert(
        conn, "c1", "v1", 1, name="", page_url="", lang="zh-CN", ip="", group_id=1,
        topic="sales", region="", skill="", preferred_agent_id=None,
    )  # fmt: skip
    start = 1_796_594_960_000
    sent = [
        conv_store.append_message(conn, "c1", start + i // 3, sender_type="visitor", body="hi")
        for i in range(300)
    ]
    ids = [m.id for m in sent]
    assert len(set(ids)) == 300
    assert all(i.startswith("m_") and len(i) == 25 for i in ids)
    # Ordered by time; within one millisecond the random part decides.
    assert [m.created_at for m in sorted(sent, key=lambda m: m.id)] == sorted(
        m.created_at for m in sent
    )
    stored = [r[0] for r in conn.execute("SELECT seq FROM messages ORDER BY id")]
    assert [s // 3 for s in [x - 1 for x in stored]] == [i // 3 for i in range(300)]
