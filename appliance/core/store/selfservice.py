"""SQL of self-service before a chat: visitors' knowledge-base events (and the
deflection figure read from them), and the pages each article is suggested on."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Deflection:
    """Visitors who served themselves in a period, by what happened next."""

    visitors: int  # searched, read or voted in the period
    deflected: int  # ... and started no chat within the window after their first event
    chatted: int  # ... and started a chat within it
    pending: int  # their window is not over yet


def add_event(
    conn: sqlite3.Connection, visitor_id: str, kind: str, article_id: int | None, at: int
) -> None:
    """Record a visitor's search, read or vote."""
    conn.execute(
        "INSERT INTO kb_visitor_events (visitor_id, kind, article_id, at) VALUES (?, ?, ?, ?)",
        (visitor_id, kind, article_id, at),
    )


def events_of(conn: sqlite3.Connection, visitor_id: str) -> list[tuple[str, int | None, int]]:
    """Return a visitor's events (kind, article id, at), oldest first."""
    rows = conn.execute(
        "SELECT kind, article_id, at FROM kb_visitor_events WHERE visitor_id = ? ORDER BY at, id",
        (visitor_id,),
    )
    return [(str(k), a, int(t)) for k, a, t in rows]


def deflection(
    conn: sqlite3.Connection, since: int, until: int, window: int, now: int
) -> Deflection:
    """Count the visitors whose first event in [since, until) was or was not followed by
    a chat they started within `window` ms; those whose window is still open are pending."""
    row = conn.execute(
        "WITH firsts AS (SELECT visitor_id, min(at) AS first FROM kb_visitor_events"
        "  WHERE at >= :since AND at < :until GROUP BY visitor_id),"
        " seen AS (SELECT first, EXISTS (SELECT 1 FROM conversations c"
        "  WHERE c.visitor_id = firsts.visitor_id"
        "  AND c.created_at >= firsts.first AND c.created_at < firsts.first + :window)"
        "  AS chatted FROM firsts)"
        " SELECT count(*),"
        " coalesce(sum(NOT chatted AND first + :window <= :now), 0),"
        " coalesce(sum(chatted), 0),"
        " coalesce(sum(NOT chatted AND first + :window > :now), 0) FROM seen",
        {"since": since, "until": until, "window": window, "now": now},
    ).fetchone()
    return Deflection(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def pages(conn: sqlite3.Connection, article_id: int) -> list[str]:
    """Return the path prefixes an article is suggested on."""
    rows = conn.execute(
        "SELECT prefix FROM kb_article_pages WHERE article_id = ? ORDER BY prefix", (article_id,)
    )
    return [str(r[0]) for r in rows]


def set_pages(conn: sqlite3.Connection, article_id: int, prefixes: Sequence[str]) -> None:
    """Replace the path prefixes an article is suggested on."""
    conn.execute("DELETE FROM kb_article_pages WHERE article_id = ?", (article_id,))
    conn.executemany(
        "INSERT INTO kb_article_pages (article_id, prefix) VALUES (?, ?)",
        [(article_id, p) for p in prefixes],
    )


def matching(conn: sqlite3.Connection, prefixes: Sequence[str], limit: int) -> list[int]:
    """Return the public, published articles suggested on any of these prefixes, the
    longest (most particular) prefix first, then the most helpful."""
    if not prefixes:
        return []
    marks = ", ".join("?" * len(prefixes))
    rows = conn.execute(
        "SELECT p.article_id FROM kb_article_pages p"
        " JOIN kb_articles a ON a.id = p.article_id"
        f" WHERE p.prefix IN ({marks}) AND a.audience = 'public'"
        " AND a.published_version IS NOT NULL AND a.state != 'archived'"
        " GROUP BY p.article_id ORDER BY max(length(p.prefix)) DESC,"
        " a.helpful - a.not_helpful DESC, a.views DESC, a.id LIMIT ?",
        [*prefixes, limit],
    )
    return [int(r[0]) for r in rows]
