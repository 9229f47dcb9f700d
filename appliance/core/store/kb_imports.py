"""SQL of the import record: which file of an imported zip made which article, and
what it said then (core/kb_transfer.py holds the rules)."""

from __future__ import annotations

import sqlite3


def find(conn: sqlite3.Connection, source: str) -> tuple[int, str] | None:
    """Return the article a file made and the digest it was imported with."""
    row = conn.execute(
        "SELECT article_id, digest FROM kb_imports WHERE source = ?", (source,)
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def record(
    conn: sqlite3.Connection, source: str, article_id: int, digest: str, by: int, now: int
) -> None:
    """Remember that a file made (or changed) an article."""
    conn.execute(
        "INSERT INTO kb_imports (source, article_id, digest, imported_at, imported_by)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET"
        " article_id = excluded.article_id, digest = excluded.digest,"
        " imported_at = excluded.imported_at, imported_by = excluded.imported_by",
        (source, article_id, digest, now, by),
    )
