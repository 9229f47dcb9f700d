"""Reads see every write acknowledged before them, even while other reads overlap.

Events go out on commit and their receivers read the store (a console joins the chat
it was just given), so a read must not see an older snapshot. With aiosqlite cursors
kept open across thread hops, overlapping reads held one read transaction open and
every read saw the state of when it began: bench/ws_fanout.py lost chats that way.
"""

from __future__ import annotations

import asyncio
import sqlite3

from appliance.core.db import Database

_READERS = 8  # tasks keeping the read connection busy (before the fix: ~10 of 60 stale)
_ROUNDS = 60


async def test_a_read_after_a_write_sees_it_while_other_reads_overlap(tmp_path):
    db = Database(tmp_path / "x.db")
    await db.open()
    await db.write(lambda c: c.execute("CREATE TABLE t (v INTEGER)"))
    stop = asyncio.Event()

    async def busy() -> None:
        while not stop.is_set():
            await db.fetchall("SELECT v FROM t")
            await db.fetchone("SELECT count(*) FROM t")

    readers = [asyncio.create_task(busy()) for _ in range(_READERS)]
    stale = []
    try:
        for value in range(1, _ROUNDS + 1):

            def insert(conn: sqlite3.Connection, value: int = value) -> None:
                conn.execute("INSERT INTO t (v) VALUES (?)", (value,))

            await db.write(insert)
            row = await db.fetchone("SELECT max(v) FROM t")
            if row[0] != value:
                stale.append((value, row[0]))
    finally:
        stop.set()
        await asyncio.gather(*readers)
        await db.close()
    assert stale == []


async def test_fetchone_returns_the_first_row_or_none(tmp_path):
    db = Database(tmp_path / "x.db")
    await db.open()
    await db.write(lambda c: c.execute("CREATE TABLE t (v INTEGER)"))
    assert await db.fetchone("SELECT v FROM t") is None
    await db.write(lambda c: c.executemany("INSERT INTO t (v) VALUES (?)", [(1,), (2,)]))
    row = await db.fetchone("SELECT v FROM t WHERE v > :low ORDER BY v", {"low": 0})
    assert row is not None and row["v"] == 1
    await db.close()
