"""Suggestions beside a chat: the words taken from a visitor's sentences, the
paragraph offered as a snippet, and the articles-only index filled once on a box
upgraded to it (its published articles were in the main index only)."""

from __future__ import annotations

import sqlite3

from appliance.core import kb_suggest
from appliance.core.actors import Staff
from appliance.core.box import Box
from appliance.core.store import search as search_store


def test_a_sentence_gives_its_pairs_and_words_latest_last():
    assert kb_suggest.candidate_words("宽带掉线") == ["宽带", "带掉", "掉线"]
    # Letters and digits of 2+ characters; punctuation and single letters dropped.
    assert kb_suggest.candidate_words("X200 a 型号？") == ["x200", "型号"]
    # A word seen again moves to the latest place; the end of a long text is kept.
    assert kb_suggest.candidate_words("宽带 套餐 宽带") == ["套餐", "宽带"]
    many = "".join(chr(0x4E00 + i) for i in range(200))
    words = kb_suggest.candidate_words(many)
    assert len(words) == kb_suggest.CANDIDATES_MAX and words[-1] == many[-2:]
    assert kb_suggest.candidate_words("？！……") == []


def test_the_summary_is_the_first_paragraph_on_one_line():
    assert kb_suggest.summary("\n\n先重启\n光猫。\n\n再检查网线。") == "先重启 光猫。"
    assert kb_suggest.summary("宽" * 300, width=10) == "宽" * 9 + "…"
    assert kb_suggest.summary("") == ""


async def test_an_upgraded_box_fills_the_articles_only_index(box: Box):
    await box.accounts.create_user("boss", "pw-" * 4, "supervisor", "boss")
    boss = Staff(1, "boss", "supervisor")
    made = await box.knowledge.create(boss, {"title": "宽带掉线", "body": "重启光猫"})
    await box.knowledge.move(boss, made.article.id, "review")
    await box.knowledge.move(boss, made.article.id, "published")
    found = await kb_suggest.suggest(box.db, "我家宽带坏了", boss)
    assert [s.article_id for s in found] == [made.article.id]

    # As a box upgraded to migration 0027 has it: the articles in search_fts only.
    await box.db.write(search_store.clear_kb)
    assert await kb_suggest.suggest(box.db, "我家宽带坏了", boss) == []
    assert await kb_suggest.fill(box.db) == 1
    found = await kb_suggest.suggest(box.db, "我家宽带坏了", boss)
    assert [s.article_id for s in found] == [made.article.id]
    assert await kb_suggest.fill(box.db) == 0  # filled: nothing to do on the next start

    # Archived: out of both indexes.
    await box.knowledge.move(boss, made.article.id, "archived")
    assert await kb_suggest.suggest(box.db, "我家宽带坏了", boss) == []

    def kb_rows(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM search_kb_fts").fetchone()[0])

    assert await box.db.read(kb_rows) == 0
