"""WAL checkpoints run beside the writer, not inside a chat line's commit (issue 18).

Left to SQLite, the commit that crosses 1,000 WAL pages copies the log into the
database and syncs it while every job of its batch waits. The writer's connection now
never checkpoints; a task copies the log from its own connection every
CHECKPOINT_EVERY seconds after writes, and the writer reuses the log once it is copied.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from appliance.core import db as db_module
from appliance.core.db import Database

_ROWS = 400
_BLOB = 8192  # bytes a row: 400 rows are ~3.3 MB of pages, 800 of them in the WAL


async def _wait_for(check, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.05)):
        if check():
            return True
        await asyncio.sleep(0.05)
    return bool(check())


async def test_the_wal_is_copied_beside_the_writer_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = Database(path)
    await db.open()
    try:
        setting = await db.write(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        assert setting == 0  # the writer itself never checkpoints
        await db.write(lambda c: c.execute("CREATE TABLE t (v BLOB)"))
        blob = os.urandom(_BLOB)

        def fill(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT INTO t (v) VALUES (?)", [(blob,)] * _ROWS)

        await db.write(fill)
        # The rows reach the database file itself without any write asking for it.
        assert await _wait_for(lambda: path.stat().st_size >= _ROWS * _BLOB)
        wal = Path(f"{path}-wal")
        grown = wal.stat().st_size
        # Once copied, the log is written from its start again: it does not grow.
        for _ in range(3):
            await db.write(lambda c: c.execute("INSERT INTO t (v) VALUES (x'00')"))
            await asyncio.sleep(db_module.CHECKPOINT_EVERY)
        assert wal.stat().st_size <= grown
        assert db.checkpoint_failures == 0
        count = await db.fetchone("SELECT count(*) AS n FROM t")
        assert count is not None and count["n"] == _ROWS + 3
    finally:
        await db.close()
    # Reopened, everything is there (the close left nothing behind in a lost log).
    again = sqlite3.connect(path)
    try:
        assert again.execute("SELECT count(*) FROM t").fetchone()[0] == _ROWS + 3
    finally:
        again.close()


async def test_the_wal_stays_bounded_while_the_writer_never_pauses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Back-to-back writes (an import, a backfill): a checkpoint beside them never copies
    # the last frames, so without the writer's own checkpoint the log only grows (the
    # same writes reach ~40 MB of log here). Past WAL_MAX_PAGES the writer copies the
    # rest between two transactions and the log starts again.
    monkeypatch.setattr(db_module, "CHECKPOINT_EVERY", 0.05)
    monkeypatch.setattr(db_module, "WAL_MAX_PAGES", 256)  # 1 MiB
    path = tmp_path / "x.db"
    db = Database(path)
    await db.open()
    wal = Path(f"{path}-wal")
    try:
        await db.write(lambda c: c.execute("CREATE TABLE t (v BLOB)"))
        blob = os.urandom(_BLOB)
        peak = 0
        for _ in range(200):  # 200 x 25 rows x 8 KiB: ~40 MB written
            await db.write(lambda c: c.executemany("INSERT INTO t (v) VALUES (?)", [(blob,)] * 25))
            await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone())
            peak = max(peak, wal.stat().st_size)
        assert db.stats.writer_checkpoints > 0
        assert peak < 16 * 2**20, peak
        count = await db.fetchone("SELECT count(*) AS n FROM t")
        assert count is not None and count["n"] == 200 * 25
    finally:
        await db.close()
