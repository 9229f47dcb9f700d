"""Which review of a chat counts (store/quality.py, migration 0036): the one saved last,
by id, whatever the clock said; earlier reviews stay listed with `counts` false, a
corrected review keeps its place, and deleting the last one lets the one before count
again. Reviews written before 0036 read as never corrected."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from appliance.core.migrate import apply_migrations, migration_files
from appliance.core.store import quality as store

_DAY = 86_400_000  # ms
_INSERT = (
    "INSERT INTO qa_reviews (conversation_id, agent_id, reviewer_name, checklist_id,"
    " checklist_name, checklist_version, items, score, chat_at, created_at)"
    " VALUES (?, ?, 'boss', 1, '标准质检', 1, '[]', ?, ?, ?)"
)


def _upto(prefix: str) -> str:
    return next(name for name, _ in migration_files() if name.startswith(prefix + "_"))


def _box(tmp_path: Path) -> sqlite3.Connection:
    # Foreign keys stay off: the rows name chats and agents this test does not build.
    conn = sqlite3.connect(tmp_path / "box.db")
    apply_migrations(conn)
    return conn


def _review(conn: sqlite3.Connection, conv: str, agent: int, score: float, at: int) -> int:
    row = conn.execute(_INSERT + " RETURNING id", (conv, agent, score, 1000, at)).fetchone()
    return int(row[0])


def test_the_review_saved_last_counts_once(tmp_path: Path) -> None:
    conn = _box(tmp_path)
    first_a = _review(conn, "c_a", 7, 50.0, 2000)
    _review(conn, "c_b", 7, 100.0, 2001)
    # Saved after the first but stamped earlier (the clock was set back): it still
    # counts, being the one saved last.
    last_a = _review(conn, "c_a", 7, 80.0, 1500)
    _review(conn, "c_c", 9, 40.0, 2002)
    # Agent 7: chats a (80, its last review) and b (100): (80 + 100) / 2 = 90, over 2
    # chats, not (50 + 100 + 80) / 3 = 76.7 over 3 reviews. Agent 9: 40 alone.
    means = store.mean_scores(conn, 0, _DAY)
    assert {a: (m, n) for a, (m, n, _) in means.items()} == {7: (90.0, 2), 9: (40.0, 1)}
    listed = store.reviews(conn, conversation_id="c_a")
    assert [(r.id, r.counts) for r in listed] == [(first_a, False), (last_a, True)]
    assert all(r.counts for r in store.reviews(conn, conversation_id="c_b"))

    # Correcting the earlier review changes its row, not which one counts.
    assert store.update_review(conn, first_a, [], 60.0, False, "改判", "chen", 3000)
    means = store.mean_scores(conn, 0, _DAY)
    assert means[7][:2] == (90.0, 2)
    corrected = store.review(conn, first_a)
    assert corrected is not None
    assert (corrected.score, corrected.comment, corrected.counts) == (60.0, "改判", False)
    assert (corrected.edited_at, corrected.editor_name) == (3000, "chen")

    # Deleting the last review of chat a: the corrected earlier one counts again,
    # (60 + 100) / 2 = 80.
    assert store.delete_review(conn, last_a)
    assert not store.delete_review(conn, last_a)
    assert store.mean_scores(conn, 0, _DAY)[7][:2] == (80.0, 2)
    again = store.review(conn, first_a)
    assert again is not None and again.counts
    # Outside the period: nothing.
    assert store.mean_scores(conn, _DAY, 2 * _DAY) == {}


def test_reviews_from_before_0036_read_as_never_corrected(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "box.db")
    apply_migrations(conn, upto=_upto("0034"))
    made = _review(conn, "c_old", 7, 75.0, 2000)
    conn.commit()
    apply_migrations(conn)
    found = store.review(conn, made)
    assert found is not None
    assert (found.score, found.edited_at, found.editor_name, found.counts) == (75.0, None, "", True)


def test_the_period_mean_reads_indexes_only(tmp_path: Path) -> None:
    conn = _box(tmp_path)
    _review(conn, "c_a", 7, 50.0, 2000)
    asked: list[str] = []
    conn.set_trace_callback(asked.append)
    store.mean_scores(conn, 0, _DAY)
    conn.set_trace_callback(None)
    (sql,) = [s for s in asked if "avg(r.score)" in s]
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    reviews = [step for step in plan if " r " in f" {step} " or " n " in f" {step} "]
    assert reviews == [
        "SEARCH r USING COVERING INDEX qa_reviews_period (chat_at>? AND chat_at<?)",
        "SEARCH n USING COVERING INDEX qa_reviews_conversation (conversation_id=?)",
    ], plan
