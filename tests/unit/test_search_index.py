"""The search index kept current inside SQLite: triggers queue every ticket and message
write, the indexer takes the queue in, an upgraded box backfills the rows it already
had in batches with its progress readable, and article views are written coalesced."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from appliance.core import textsearch
from appliance.core.actors import Staff
from appliance.core.box import Box
from appliance.core.knowledge import Knowledge
from appliance.core.migrate import apply_migrations
from appliance.core.search import Search, backfill_step
from appliance.core.store import search as search_store
from tests.conftest import PASSWORD, make_settings

_BOSS = Staff(1, "boss", role="supervisor")
_BEFORE = "0020_history_no_replace.sql"  # the schema before the index


def _old_box(data_dir: Path, chats: int, per_chat: int, tickets: int) -> None:
    """Write a database as a box without search left it: chats and tickets."""
    data_dir.mkdir(parents=True)
    conn = sqlite3.connect(data_dir / "callbox.db", isolation_level=None)
    apply_migrations(conn, upto=_BEFORE)
    conn.execute(
        "INSERT INTO users (id, username, display_name, password_hash, role, created_at)"
        " VALUES (1, 'boss', '老板', 'x', 'supervisor', 0)"
    )
    conn.execute("INSERT INTO visitors (id, created_at, last_seen_at) VALUES ('v1', 0, 0)")
    conn.execute("BEGIN")
    for c in range(chats):
        conn.execute(
            "INSERT INTO conversations (id, visitor_id, status, agent_id, created_at, last_seq)"
            " VALUES (?, 'v1', 'closed', 1, ?, ?)",
            (f"c{c:04d}", c, per_chat),
        )
        for seq in range(1, per_chat + 1):
            body = "我要办理携号转网" if seq == 1 else f"第{seq}条消息"
            conn.execute(
                "INSERT INTO messages (id, conversation_id, seq, sender_type, body, created_at)"
                " VALUES (?, ?, ?, 'visitor', ?, ?)",
                (f"m{c}-{seq}", f"c{c:04d}", seq, body, seq),
            )
        conn.execute(
            "INSERT INTO messages (id, conversation_id, seq, sender_type, body, event, created_at)"
            " VALUES (?, ?, ?, 'system', '', 'joined', 0)",
            (f"e{c}", f"c{c:04d}", per_chat + 1),
        )
    for t in range(1, tickets + 1):
        conn.execute(
            "INSERT INTO tickets (id, number, subject, description, created_at, updated_at,"
            " state_at, last_seq) VALUES (?, ?, ?, '宽带断线', 0, 0, 0, 2)",
            (t, f"T{t}", f"工单{t}"),
        )
        conn.execute(
            "INSERT INTO ticket_events (ticket_id, seq, at, by, kind, data)"
            " VALUES (?, 1, 0, 'agent', 'created', '{}')",
            (t,),
        )
        conn.execute(
            "INSERT INTO ticket_events (ticket_id, seq, at, by, kind, data)"
            " VALUES (?, 2, 0, 'agent', 'note', '{\"body\": \"已退款\"}')",
            (t,),
        )
    conn.execute("COMMIT")
    conn.close()


async def test_an_upgraded_box_backfills_in_batches(tmp_path: Path, monkeypatch):
    data_dir = tmp_path / "data"
    await asyncio.to_thread(_old_box, data_dir, 30, 4, 12)
    monkeypatch.setattr(Search, "open", _no_indexer)  # the test drives it, step by step
    box = Box(make_settings(data_dir))
    await box.open()
    try:
        status = await box.search.status()
        totals = {b.kind: (b.done, b.total, b.finished) for b in status.backfill}
        # The system event is not text; nothing is done before the indexer runs.
        assert totals == {
            "chat": (0, 120, False),
            "ticket": (0, 12, False),
            "ticket_event": (0, 12, False),
        }
        fill = next(b for b in status.backfill if b.kind == "chat")
        # One batch: a bounded write that records where it stopped.
        done = await box.db.write(lambda conn: backfill_step(conn, fill, limit=50))
        assert done == 50
        after = {b.kind: b for b in (await box.search.status()).backfill}["chat"]
        assert (after.done, after.finished) == (50, False) and after.after == "c0012:2"
        while await box.search.step():
            pass
        status = await box.search.status()
        assert all(b.finished and b.done == b.total for b in status.backfill)
        assert status.documents == 120 + 12 + 12
        found = await box.search.search("携号转网", _BOSS, ("chat",), 50)
        assert len(found.hits) == 30
        tickets = await box.search.search("退款", _BOSS, ("ticket",), 50)
        assert len(tickets.hits) == 12
        # Rows written after the upgrade come through the queue (and only once).
        await box.db.write(
            lambda conn: conn.execute("UPDATE tickets SET subject = '携号转网失败' WHERE id = 3")
        )
        assert (await box.search.status()).queued == 1
        found = await box.search.search("携号转网", _BOSS, ("ticket",), 50)
        assert [h.ref for h in found.hits] == ["3"]
        assert (await box.search.status()).queued == 0
        assert (await box.search.search("工单3", _BOSS, ("ticket",), 50)).hits == []
    finally:
        await box.close()


async def _no_indexer(self: Search) -> None:
    return None


async def test_a_rebuild_finds_the_same(box: Box):
    await box.db.write(
        lambda conn: search_store.put(
            conn, search_store.Doc("article", "1", "zh-CN", "宽带", "退款说明", 1, "public")
        )
    )
    before = await box.search.search("退款", None, ("article",))
    assert await box.search.rebuild() == 1
    after = await box.search.search("退款", None, ("article",))
    assert [h.ref for h in before.hits] == [h.ref for h in after.hits] == ["1"]


async def test_views_are_written_together(box: Box):
    user = await box.accounts.create_user("boss", PASSWORD, "supervisor")
    boss = Staff(user.id, "boss", role="supervisor")
    made = await box.knowledge.create(boss, {"title": "宽带", "body": "重启光猫"})
    one = made.article.id
    await box.knowledge.move(boss, one, "review")
    await box.knowledge.move(boss, one, "published")
    counter = Knowledge(box.db)  # not opened: no timer writes behind the test's back
    for _ in range(5):
        counter.count_view(one)
    detail = await box.knowledge.detail(boss, one)
    assert detail.article.views == 0
    assert await counter.write_views() == 5  # one statement for all five
    assert (await box.knowledge.detail(boss, one)).article.views == 5
    assert await counter.write_views() == 0


async def test_common_words_rank_the_newest_unless_too_few_are_visible(box: Box, monkeypatch):
    monkeypatch.setattr(search_store, "CANDIDATES", 3)

    def fill(conn: sqlite3.Connection) -> None:
        for i in range(1, 11):  # the public ones are the oldest
            audience = "public" if i <= 4 else "internal"
            body = "退款" * (12 - i)  # older ones say it more often: bm25 likes them
            doc = search_store.Doc("article", str(i), "zh-CN", "", body, i, audience)
            search_store.put(conn, doc)

    await box.db.write(fill)
    staff = await box.search.search("退款", _BOSS, ("article",), 3)
    assert [h.ref for h in staff.hits] == ["8", "9", "10"]  # only the newest 3 ranked
    public = await box.search.search("退款", None, ("article",), 3)
    assert [h.ref for h in public.hits] == ["1", "2", "3"]  # ranked them all


def test_a_queue_batch_stops_early_while_other_writes_wait(tmp_path: Path, monkeypatch):
    """While other writes wait for the writer, a batch of queued changes stops after its
    time budget (at least QUEUE_BATCH_MIN done): the rest stays queued, nothing is lost."""
    from appliance.core import search as search_module
    from appliance.core.search import QUEUE_BATCH_MIN, index_queued

    conn = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    apply_migrations(conn)
    conn.execute("INSERT INTO visitors (id, created_at, last_seen_at) VALUES ('v1', 0, 0)")
    conn.execute(
        "INSERT INTO conversations (id, visitor_id, status, created_at, last_seq)"
        " VALUES ('c1', 'v1', 'active', 0, 0)"
    )
    for seq in range(1, 51):
        conn.execute(
            "INSERT INTO messages (id, conversation_id, seq, sender_type, body, created_at)"
            " VALUES (?, 'c1', ?, 'visitor', ?, ?)",
            (f"m{seq}", seq, f"第{seq}条消息 refund", seq),
        )
    assert search_store.queue_length(conn) == 50
    monkeypatch.setattr(search_module, "QUEUE_BUDGET_BUSY", 0.0)  # every batch is over time

    # Nobody waits: the whole batch, whatever its time.
    assert index_queued(conn, 20, lambda: False) == 20
    assert search_store.queue_length(conn) == 30
    # Others wait: it stops at the least it must do.
    assert index_queued(conn, 20, lambda: True) == QUEUE_BATCH_MIN
    assert search_store.queue_length(conn) == 30 - QUEUE_BATCH_MIN
    # Without the check (a staff search's catch-up), the whole batch again.
    assert index_queued(conn, 100) == 30 - QUEUE_BATCH_MIN
    assert search_store.queue_length(conn) == 0
    assert search_store.docs_count(conn) == 50  # every message indexed exactly once


def _chat_of(conn: sqlite3.Connection, lines: int) -> None:
    """A conversation of `lines` visitor lines, each queued for the index by its trigger."""
    conn.execute("INSERT INTO visitors (id, created_at, last_seen_at) VALUES ('v1', 0, 0)")
    conn.execute(
        "INSERT INTO conversations (id, visitor_id, status, created_at, last_seq)"
        " VALUES ('c1', 'v1', 'active', 0, 0)"
    )
    for seq in range(1, lines + 1):
        conn.execute(
            "INSERT INTO messages (id, conversation_id, seq, sender_type, body, created_at)"
            " VALUES (?, 'c1', ?, 'visitor', ?, ?)",
            (f"m{seq}", seq, f"第{seq}条消息 refund", seq),
        )


def _terms(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """What the index finds: each indexed line's part, for two searches."""
    found = []
    for query in ("消息", "refund"):
        rows = conn.execute(
            "SELECT d.part FROM search_fts f JOIN search_docs d ON d.id = f.rowid"
            " WHERE search_fts MATCH ? ORDER BY d.id",
            (textsearch.parse(query).match,),
        )
        found += [(query, int(r[0])) for r in rows]
    return found


def test_changes_read_and_split_beside_the_writer_index_as_the_writer_would(tmp_path: Path):
    """Issue 18: the indexer reads and splits on a reader, the writer only stores; the
    index is the same as when the writer did it all, and nothing is indexed twice."""
    from appliance.core.search import index_prepared, index_queued, prepare_queued

    ways = {}
    for way in ("writer", "prepared"):
        conn = sqlite3.connect(tmp_path / f"{way}.db", isolation_level=None)
        conn.row_factory = sqlite3.Row  # as the box's writer has it
        apply_migrations(conn)
        _chat_of(conn, 30)
        if way == "writer":
            assert index_queued(conn, 100) == 30
        else:
            assert index_prepared(conn, prepare_queued(conn, 100)) == 30
        assert search_store.queue_length(conn) == 0
        ways[way] = (_terms(conn), search_store.docs_count(conn))
    assert ways["prepared"] == ways["writer"]
    assert ways["prepared"][1] == 30 and len(ways["prepared"][0]) == 60


def test_a_prepared_batch_someone_indexed_meanwhile_is_not_stored_twice(tmp_path: Path):
    from appliance.core.search import index_prepared, index_queued, prepare_queued

    conn = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    conn.row_factory = sqlite3.Row  # as the box's writer has it
    apply_migrations(conn)
    _chat_of(conn, 20)
    # A staff search's catch-up indexes the queue between the read and the write.
    stale = prepare_queued(conn, 100)
    assert index_queued(conn, 100) == 20
    assert index_prepared(conn, stale) == 0  # its first change is gone: nothing done
    assert search_store.docs_count(conn) == 20
    # A line indexed by another way (the backfill) between the read and the write is
    # put the full way: one document, its terms once.
    conn.execute(
        "INSERT INTO messages (id, conversation_id, seq, sender_type, body, created_at)"
        " VALUES ('m21', 'c1', 21, 'visitor', '第21条消息 refund', 21)"
    )
    prepared = prepare_queued(conn, 100)
    assert [p.split is not None for p in prepared] == [True]
    assert prepared[0].doc is not None
    search_store.put(conn, prepared[0].doc)
    assert index_prepared(conn, prepared) == 1
    assert search_store.docs_count(conn) == 21
    assert _terms(conn).count(("refund", 21)) == 1
    assert search_store.queue_length(conn) == 0


def test_a_prepared_batch_stops_early_while_other_writes_wait(tmp_path: Path, monkeypatch):
    from appliance.core import search as search_module
    from appliance.core.search import QUEUE_BATCH_MIN, index_prepared, prepare_queued

    conn = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    conn.row_factory = sqlite3.Row  # as the box's writer has it
    apply_migrations(conn)
    _chat_of(conn, 30)
    monkeypatch.setattr(search_module, "QUEUE_BUDGET_BUSY", 0.0)  # every batch is over time
    assert index_prepared(conn, prepare_queued(conn, 20), lambda: True) == QUEUE_BATCH_MIN
    assert search_store.queue_length(conn) == 30 - QUEUE_BATCH_MIN
    assert index_prepared(conn, prepare_queued(conn, 100), lambda: False) == 30 - QUEUE_BATCH_MIN
    assert search_store.docs_count(conn) == 30
    assert len(_terms(conn)) == 60


def test_the_helpers_batches_always_keep_to_the_budget(tmp_path: Path, monkeypatch):
    """take_queued (the writer's helper process runs it, where the writer's queue
    cannot be asked) takes others as waiting: every batch stops past the budget."""
    from appliance.core import search as search_module
    from appliance.core.search import QUEUE_BATCH_MIN, take_queued

    conn = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    conn.row_factory = sqlite3.Row
    apply_migrations(conn)
    _chat_of(conn, 30)
    monkeypatch.setattr(search_module, "QUEUE_BUDGET_BUSY", 0.0)
    assert take_queued(conn, [100]) == [QUEUE_BATCH_MIN]
    assert search_store.queue_length(conn) == 30 - QUEUE_BATCH_MIN
    monkeypatch.setattr(search_module, "QUEUE_BUDGET_BUSY", None)  # no time limit
    assert take_queued(conn, [100]) == [30 - QUEUE_BATCH_MIN]
    assert search_store.docs_count(conn) == 30


async def test_the_indexer_prepares_what_fit_the_budget_last_time(tmp_path: Path, monkeypatch):
    """A batch cut short by the budget: the next one prepares only as many as were done
    (the rest would be read and split again for nothing); a whole one: twice as many."""
    from appliance.core import search as search_module
    from appliance.core.search import QUEUE_BATCH, QUEUE_BATCH_MIN

    box = Box(make_settings(tmp_path / "data", writer_helper=False))
    await box.open()
    try:
        await box.search.close()  # this test steps the indexer itself
        while await box.search.step():
            pass
        conn = sqlite3.connect(box.db.path, isolation_level=None)
        _chat_of(conn, 40)
        conn.close()
        asked: list[int] = []
        prepare = search_module.prepare_queued

        def spy(conn, limit):  # type: ignore[no-untyped-def]
            asked.append(limit)
            return prepare(conn, limit)

        monkeypatch.setattr(search_module, "prepare_queued", spy)
        monkeypatch.setattr(search_module, "QUEUE_BUDGET_BUSY", 0.0)
        monkeypatch.setattr(type(box.db), "queue_depth", property(lambda self: 1))  # busy
        assert await box.search.step() == QUEUE_BATCH_MIN  # cut by the budget
        assert await box.search.step() == QUEUE_BATCH_MIN  # prepared only what fit
        monkeypatch.setattr(type(box.db), "queue_depth", property(lambda self: 0))  # quiet
        assert await box.search.step() == 20  # the rest, whole
        assert asked == [search_module.QUEUE_BATCH_BUSY, QUEUE_BATCH_MIN, 2 * QUEUE_BATCH_MIN]
        assert box.search._fits == min(4 * QUEUE_BATCH_MIN, QUEUE_BATCH)
    finally:
        await box.close()
