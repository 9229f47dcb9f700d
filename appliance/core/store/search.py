"""SQL of the search index: indexed documents, their FTS5 terms, the queue of changes
and the backfill's progress (core/search.py holds the rules).

`search_fts` is contentless: it keeps only the terms. Taking a document out needs
the terms it was indexed with, which come from the text kept in `search_docs`
(split again by core/textsearch.py, which must split it as it did then).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from appliance.core.textsearch import index_text

# bm25 column weights: a hit in the title counts four times a hit in the body.
TITLE_WEIGHT = 4.0
BODY_WEIGHT = 1.0
CANDIDATES = 2_000  # matches ranked at most, the newest (see `search`)


@dataclass(frozen=True, slots=True)
class Doc:
    """A document to index: what it is, who may see it, its text."""

    kind: str  # 'article', 'ticket' or 'chat'
    ref: str
    part: str
    title: str
    body: str
    updated_at: int
    audience: str = ""


@dataclass(frozen=True, slots=True)
class Hit:
    """The best-ranked document of one article, ticket or chat."""

    kind: str
    ref: str
    part: str
    title: str  # the document's title, or the ticket's or chat's name
    body: str
    updated_at: int
    score: float


@dataclass(frozen=True, slots=True)
class Backfill:
    """How far the backfill of one kind of row has come."""

    kind: str
    after: str
    done: int
    total: int
    finished: bool


def _fts(
    conn: sqlite3.Connection, rowid: int, title: str, body: str, *, delete: bool, kind: str = ""
) -> None:
    # Articles' terms also go to search_kb_fts, the articles-only index suggestions
    # search (its bm25 weighs words by how many articles hold them).
    _fts_terms(conn, rowid, (index_text(title), index_text(body)), delete=delete, kind=kind)


def _fts_terms(
    conn: sqlite3.Connection, rowid: int, split: tuple[str, str], *, delete: bool, kind: str
) -> None:
    """Add (or take out) a document's terms, split already: title's, body's."""
    tables = ("search_fts", "search_kb_fts") if kind == "article" else ("search_fts",)
    terms = (rowid, *split)
    for table in tables:
        if delete:
            conn.execute(
                f"INSERT INTO {table} ({table}, rowid, title, body) VALUES ('delete', ?, ?, ?)",
                terms,
            )
        else:
            conn.execute(f"INSERT INTO {table} (rowid, title, body) VALUES (?, ?, ?)", terms)


def put(conn: sqlite3.Connection, doc: Doc) -> None:
    """Index a document, replacing what was indexed under its key."""
    row = conn.execute(
        "SELECT id, title, body, audience FROM search_docs WHERE kind = ? AND ref = ? AND part = ?",
        (doc.kind, doc.ref, doc.part),
    ).fetchone()
    if row is not None:
        if (row["title"], row["body"], row["audience"]) == (doc.title, doc.body, doc.audience):
            return
        _fts(conn, row["id"], row["title"], row["body"], delete=True, kind=doc.kind)
        conn.execute(
            "UPDATE search_docs SET title = ?, body = ?, audience = ?, updated_at = ? WHERE id = ?",
            (doc.title, doc.body, doc.audience, doc.updated_at, row["id"]),
        )
        _fts(conn, row["id"], doc.title, doc.body, delete=False, kind=doc.kind)
        return
    rowid = conn.execute(
        "INSERT INTO search_docs (kind, ref, part, audience, title, body, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (doc.kind, doc.ref, doc.part, doc.audience, doc.title, doc.body, doc.updated_at),
    ).fetchone()[0]
    _fts(conn, rowid, doc.title, doc.body, delete=False, kind=doc.kind)


def is_indexed(conn: sqlite3.Connection, doc: Doc) -> bool:
    """Tell whether a document is indexed under its key (in whatever version)."""
    row = conn.execute(
        "SELECT 1 FROM search_docs WHERE kind = ? AND ref = ? AND part = ?",
        (doc.kind, doc.ref, doc.part),
    ).fetchone()
    return row is not None


def put_new(conn: sqlite3.Connection, doc: Doc, split: tuple[str, str]) -> bool:
    """Index a document not indexed yet, its terms split already (index_text of title
    and body); return False, changing nothing, if its key is indexed after all."""
    cursor = conn.execute(
        "INSERT INTO search_docs (kind, ref, part, audience, title, body, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, ref, part) DO NOTHING",
        (doc.kind, doc.ref, doc.part, doc.audience, doc.title, doc.body, doc.updated_at),
    )
    if cursor.rowcount != 1 or cursor.lastrowid is None:
        return False
    _fts_terms(conn, cursor.lastrowid, split, delete=False, kind=doc.kind)
    return True


def is_queued(conn: sqlite3.Connection, queue_id: int) -> bool:
    """Tell whether a queued change still waits (no one indexed it meanwhile)."""
    return (
        conn.execute("SELECT 1 FROM search_queue WHERE id = ?", (queue_id,)).fetchone() is not None
    )


def drop(conn: sqlite3.Connection, kind: str, ref: str) -> int:
    """Take every document of an article, ticket or chat out of the index."""
    rows = conn.execute(
        "SELECT id, title, body FROM search_docs WHERE kind = ? AND ref = ?", (kind, ref)
    ).fetchall()
    for row in rows:
        _fts(conn, row["id"], row["title"], row["body"], delete=True, kind=kind)
    conn.execute("DELETE FROM search_docs WHERE kind = ? AND ref = ?", (kind, ref))
    return len(rows)


def queued(conn: sqlite3.Connection, limit: int) -> list[tuple[int, str, str, str]]:
    """Return the oldest queued changes: (id, kind, ref, part)."""
    rows = conn.execute(
        "SELECT id, kind, ref, part FROM search_queue ORDER BY id LIMIT ?", (limit,)
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def unqueue(conn: sqlite3.Connection, upto: int) -> None:
    """Forget the queued changes up to an id (they are indexed)."""
    conn.execute("DELETE FROM search_queue WHERE id <= ?", (upto,))


def has_queued(conn: sqlite3.Connection) -> bool:
    """Tell whether any change waits to be indexed."""
    return conn.execute("SELECT 1 FROM search_queue LIMIT 1").fetchone() is not None


def queue_length(conn: sqlite3.Connection) -> int:
    """Return how many changes wait to be indexed."""
    return int(conn.execute("SELECT count(*) FROM search_queue").fetchone()[0])


def backfills(conn: sqlite3.Connection) -> list[Backfill]:
    """Return the backfill's progress per kind of row."""
    rows = conn.execute(
        "SELECT kind, after, done, total, finished FROM search_backfill ORDER BY kind"
    )
    return [Backfill(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]


def advance(conn: sqlite3.Connection, kind: str, after: str, count: int, finished: bool) -> None:
    """Record a backfill batch: the last key done and how many rows it indexed."""
    conn.execute(
        "UPDATE search_backfill SET after = ?, done = done + ?, finished = ? WHERE kind = ?",
        (after, count, int(finished), kind),
    )


def docs_count(conn: sqlite3.Connection) -> int:
    """Return how many documents are indexed."""
    return int(conn.execute("SELECT count(*) FROM search_docs").fetchone()[0])


def kb_behind(conn: sqlite3.Connection) -> bool:
    """Tell whether the articles-only index lacks articles of the main one (a box
    upgraded to it has its published articles in search_fts only)."""
    held = conn.execute("SELECT count(*) FROM search_kb_fts").fetchone()[0]
    docs = conn.execute("SELECT count(*) FROM search_docs WHERE kind = 'article'").fetchone()[0]
    return int(held) != int(docs)


def clear_kb(conn: sqlite3.Connection) -> None:
    """Empty the articles-only index (before filling it again)."""
    conn.execute("INSERT INTO search_kb_fts (search_kb_fts) VALUES ('delete-all')")


def fill_kb(conn: sqlite3.Connection, after: int, limit: int) -> int:
    """Put a batch of indexed articles into the articles-only index; return the last id
    (0: none left)."""
    rows = conn.execute(
        "SELECT id, title, body FROM search_docs WHERE kind = 'article' AND id > ?"
        " ORDER BY id LIMIT ?",
        (after, limit),
    ).fetchall()
    for row in rows:
        conn.execute(
            "INSERT INTO search_kb_fts (rowid, title, body) VALUES (?, ?, ?)",
            (row["id"], index_text(row["title"]), index_text(row["body"])),
        )
    return int(rows[-1]["id"]) if rows else 0


def kb_counts(conn: sqlite3.Connection, terms: Sequence[str]) -> dict[str, int]:
    """Return how many articles hold each of some terms (terms in none left out)."""
    if not terms:
        return {}
    marks = ", ".join("?" * len(terms))
    rows = conn.execute(f"SELECT term, doc FROM search_kb_vocab WHERE term IN ({marks})", terms)
    return {str(r[0]): int(r[1]) for r in rows}


def suggest(conn: sqlite3.Connection, match: str, limit: int) -> list[Hit]:
    """Return the best-matching published articles from the articles-only index (of
    the newest CANDIDATES matches, as `search` ranks a common query)."""
    floor = conn.execute(
        "SELECT rowid FROM search_kb_fts WHERE search_kb_fts MATCH ? ORDER BY rowid DESC"
        " LIMIT 1 OFFSET ?",
        (match, CANDIDATES - 1),
    ).fetchone()
    newest = "" if floor is None else " AND rowid >= :floor"
    rows = conn.execute(
        f"WITH s AS MATERIALIZED (SELECT rowid AS id,"
        f" bm25(search_kb_fts, {TITLE_WEIGHT}, {BODY_WEIGHT}) AS score"
        f" FROM search_kb_fts WHERE search_kb_fts MATCH :match{newest})"
        " SELECT d.kind, d.ref, d.part, d.title, d.body, d.updated_at, min(s.score) AS score"
        " FROM s JOIN search_docs d ON d.id = s.id WHERE d.kind = 'article'"
        " GROUP BY d.ref ORDER BY score, d.updated_at DESC LIMIT :limit",
        {"match": match, "limit": limit, "floor": None if floor is None else floor[0]},
    )
    return [Hit(r[0], r[1], r[2], r[3], r[4], r[5], float(r[6])) for r in rows]


def rebuild(conn: sqlite3.Connection, after: int, limit: int) -> int:
    """Index again a batch of kept documents (after 'delete-all'); return the last id."""
    rows = conn.execute(
        "SELECT id, kind, title, body FROM search_docs WHERE id > ? ORDER BY id LIMIT ?",
        (after, limit),
    ).fetchall()
    for row in rows:
        _fts(conn, row["id"], row["title"], row["body"], delete=False, kind=row["kind"])
    return int(rows[-1]["id"]) if rows else 0


def clear_terms(conn: sqlite3.Connection) -> None:
    """Empty the FTS table (the documents stay, for `rebuild`)."""
    conn.execute("INSERT INTO search_fts (search_fts) VALUES ('delete-all')")
    conn.execute("INSERT INTO search_kb_fts (search_kb_fts) VALUES ('delete-all')")


@dataclass(frozen=True, slots=True)
class Scope:
    """Who asks: a visitor (public articles only), or staff and what they may see."""

    public: bool
    user_id: int = 0
    all_tickets: bool = False  # supervisors, admins, dispatchers
    all_chats: bool = False  # supervisors, admins
    groups: Sequence[int] = ()


# Each kind's visibility, as the service desk and the console decide it
# (core/tickets.py `Tickets._sees`, core/conversation.py `Conversation.visible_to`).
_TICKET_SEEN = (
    "(SELECT 1 FROM tickets t WHERE t.id = CAST(d.ref AS INTEGER) AND (t.group_id IS NULL"
    " OR t.owner_id = :me OR t.group_id IN (SELECT value FROM json_each(:groups))))"
)
_CHAT_SEEN = (
    "(SELECT 1 FROM conversations c WHERE c.id = d.ref AND (c.agent_id = :me"
    " OR EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = c.id AND p.user_id = :me)"
    " OR (c.status = 'waiting' AND c.group_id IN (SELECT value FROM json_each(:groups)))"
    " OR (c.transfer_pending = 1"
    " AND c.transfer_group_id IN (SELECT value FROM json_each(:groups)))))"
)


# What a hit is called: a ticket's number and subject, a chat's visitor.
_TICKET_LABEL = (
    "(SELECT t.number || ' ' || t.subject FROM tickets t WHERE t.id = CAST(d.ref AS INTEGER))"
)
_CHAT_LABEL = "(SELECT c.visitor_name FROM conversations c WHERE c.id = d.ref)"
_LABEL = (
    f"CASE d.kind WHEN 'ticket' THEN coalesce({_TICKET_LABEL}, '')"
    f" WHEN 'chat' THEN coalesce({_CHAT_LABEL}, '') ELSE d.title END"
)


def _visible(scope: Scope, kinds: Sequence[str]) -> str:
    if scope.public:
        return "d.kind = 'article' AND d.audience = 'public'"
    ors = []
    if "article" in kinds:
        ors.append("d.kind = 'article'")
    if "ticket" in kinds:
        ors.append(
            "d.kind = 'ticket'"
            if scope.all_tickets
            else f"(d.kind = 'ticket' AND EXISTS {_TICKET_SEEN})"
        )
    if "chat" in kinds:
        ors.append(
            "d.kind = 'chat'" if scope.all_chats else f"(d.kind = 'chat' AND EXISTS {_CHAT_SEEN})"
        )
    return "(" + (" OR ".join(ors) or "0") + ")"


def _floor(conn: sqlite3.Connection, match: str, table: str = "search_fts") -> int | None:
    """Return the rowid of the CANDIDATES-th newest match, None if there are fewer."""
    row = conn.execute(
        f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
        (match, CANDIDATES - 1),
    ).fetchone()
    return None if row is None else int(row[0])


def search(
    conn: sqlite3.Connection, match: str, scope: Scope, kinds: Sequence[str], limit: int
) -> list[Hit]:
    """Return the best documents of each article, ticket or chat that match and that
    the asker may see: bm25 (title weighted), then the newest first on a tie.

    A query that matches more than CANDIDATES documents ranks the newest CANDIDATES of
    them (bm25 costs about 5 µs a match: bench/README.md); when too few of those are
    the asker's to see, it ranks them all. A search of articles alone (a visitor's)
    reads the articles-only index: among a million chat messages, the newest matches
    of a common word would hold no article, and ranking them all took 0.1-0.2 s.
    """
    table = "search_kb_fts" if scope.public or set(kinds) == {"article"} else "search_fts"
    floor = _floor(conn, match, table)
    hits = _ranked(conn, match, scope, kinds, limit, floor, table)
    if floor is not None and len(hits) < limit:
        hits = _ranked(conn, match, scope, kinds, limit, None, table)
    return hits


def _ranked(
    conn: sqlite3.Connection,
    match: str,
    scope: Scope,
    kinds: Sequence[str],
    limit: int,
    floor: int | None,
    table: str,
) -> list[Hit]:
    newest = "" if floor is None else " AND rowid >= :floor"
    sql = (
        # Materialised: bm25() works only in the query over the FTS table itself, not
        # once SQLite flattens it into the join.
        f"WITH s AS MATERIALIZED (SELECT rowid AS id,"
        f" bm25({table}, {TITLE_WEIGHT}, {BODY_WEIGHT}) AS score"
        f" FROM {table} WHERE {table} MATCH :match{newest})"
        f" SELECT d.kind, d.ref, d.part, {_LABEL}, d.body, d.updated_at, min(s.score) AS score"
        " FROM s JOIN search_docs d ON d.id = s.id"
        f" WHERE {_visible(scope, kinds)}"
        " GROUP BY d.kind, d.ref ORDER BY score, d.updated_at DESC LIMIT :limit"
    )
    params = {
        "match": match,
        "me": scope.user_id,
        "groups": json.dumps(list(scope.groups)),
        "limit": limit,
        "floor": floor,
    }
    rows = conn.execute(sql, params)
    return [Hit(r[0], r[1], r[2], r[3], r[4], r[5], float(r[6])) for r in rows]
