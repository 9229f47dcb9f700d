"""Articles to suggest beside a chat, from what the visitor last wrote.

A visitor writes sentences, not search words: "我家宽带从昨天开始一直掉线" holds no
word boundary, and asking for all of its pairs at once would find nothing. So the
text is cut into its 2-character pairs (and its letters-and-digits words); of those
that some article holds, the TERMS held by the fewest articles (search_kb_vocab) are
searched for as alternatives (OR) in the articles-only index (search_kb_fts, the
published articles' terms), ranked by bm25: an article holding several of them comes
first. Pairs that straddle two words (家宽 in 我家宽带) are in no article and drop
out; the rarest few keep the query's doclists short (a pair in half of 100,000
articles would cost 0.25 s to rank: bench/README.md). Counting in the articles alone
matters: in the main index a topic visitors often write about (宽带) is common through
the chats. Only published articles are suggested; staff may see every one of them.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass

from appliance.core import textsearch
from appliance.core.actors import Staff
from appliance.core.db import Database
from appliance.core.store import knowledge as knowledge_store
from appliance.core.store import search as search_store
from appliance.core.textsearch import Piece

TEXT_MAX = 600  # characters of the visitor's latest text looked at (the end of it)
CANDIDATES_MAX = 48  # distinct words taken from that text (the latest)
TERMS = 8  # of those, the ones held by the fewest articles (but some) are searched
FILL_BATCH = 500  # articles put into the articles-only index per write, after an upgrade
LIMIT_MAX = 5  # suggestions answered at most
SUMMARY_CHARS = 240  # characters of the article's first paragraph offered as a snippet


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A published article that may answer the visitor."""

    article_id: int
    title: str
    audience: str
    snippet: list[Piece]  # around the words found, hits marked
    summary: str  # the article's first paragraph, shortened: what an agent inserts


def candidate_words(text: str) -> list[str]:
    """Return the index terms worth looking up in a visitor's text: its Chinese pairs
    and its words of letters and digits (2+ characters), the latest last."""
    found: dict[str, None] = {}
    for chinese, run in textsearch.runs(textsearch.normalise(text[-TEXT_MAX:])):
        if chinese:
            words = [run[i : i + 2] for i in range(len(run) - 1)]
        else:
            words = [run[:64]] if len(run) >= 2 else []
        for word in words:
            found.pop(word, None)  # seen again: it moves to the latest place
            found[word] = None
    return list(found)[-CANDIDATES_MAX:]


def rarest(counts: dict[str, int], words: list[str], how_many: int = TERMS) -> list[str]:
    """Return the words the fewest articles hold (but some), the latest first on a tie."""
    held = [w for w in words if counts.get(w, 0) > 0]
    place = {w: i for i, w in enumerate(held)}
    return sorted(held, key=lambda w: (counts[w], -place[w]))[:how_many]


def _snippet(title: str, body: str, words: list[str]) -> list[Piece]:
    """Cut the snippet from the body, or from the title when only the title has a hit."""
    pieces = textsearch.snippet(body, words)
    return pieces if any(p.mark for p in pieces) else textsearch.snippet(title, words)


def summary(body: str, width: int = SUMMARY_CHARS) -> str:
    """Return the first paragraph of a text on one line, cut to `width` characters."""
    for block in body.split("\n\n"):
        line = " ".join(block.split())
        if line:
            return line if len(line) <= width else line[: width - 1] + "…"
    return ""


async def fill(db: Database) -> int:
    """Fill the articles-only index from the main one if it lacks articles (once, on a
    box upgraded to it); return how many batches it took."""
    if not await db.read(search_store.kb_behind):
        return 0
    await db.write(search_store.clear_kb)
    after, batches = 0, 0
    while True:
        after = await db.write(functools.partial(_fill_batch, after))
        if not after:
            return batches
        batches += 1


def _fill_batch(after: int, conn: sqlite3.Connection) -> int:
    return search_store.fill_kb(conn, after, FILL_BATCH)


async def suggest(db: Database, text: str, actor: Staff, limit: int = 3) -> list[Suggestion]:
    """Return the published articles that best match what a visitor wrote (any staff
    member may read every published article)."""
    del actor  # every published article is every staff member's to see
    words = candidate_words(text)
    limit = max(1, min(limit, LIMIT_MAX))
    if not words:
        return []

    def read(conn: sqlite3.Connection) -> list[Suggestion]:
        chosen = rarest(search_store.kb_counts(conn, words), words)
        if not chosen:
            return []
        # Terms hold only letters, digits and Chinese characters: no quote to escape.
        match = " OR ".join(f'"{w}"' for w in chosen)
        found = []
        for hit in search_store.suggest(conn, match, limit):
            article = knowledge_store.article(conn, int(hit.ref))
            if article is None:
                continue
            found.append(
                Suggestion(
                    article.id,
                    hit.title,
                    article.audience,
                    _snippet(hit.title, hit.body, chosen),
                    summary(hit.body),
                )
            )
        return found

    return await db.read(read)
