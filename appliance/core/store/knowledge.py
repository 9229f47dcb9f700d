"""SQL of the knowledge base: categories, articles, their versions and steps, editors,
votes, view counts and contributors' points (core/knowledge.py holds the rules)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Category:
    id: int
    name: str
    name_en: str
    position: int
    articles: int  # published ones


@dataclass(frozen=True, slots=True)
class Article:
    """An article's current row; its texts are in its versions."""

    id: int
    category_id: int | None
    audience: str
    state: str
    title: str
    author_id: int
    author_name: str
    version: int
    published_version: int | None
    reviewer_id: int | None
    views: int
    helpful: int
    not_helpful: int
    created_at: int
    updated_at: int
    published_at: int | None


@dataclass(frozen=True, slots=True)
class Version:
    article_id: int
    version: int
    title: str
    body: str
    title_en: str
    body_en: str
    author_id: int
    author_name: str
    note: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Step:
    at: int
    actor_id: int
    actor_name: str
    from_state: str
    to_state: str
    version: int
    note: str


@dataclass(frozen=True, slots=True)
class Contributor:
    user_id: int
    name: str
    points: int
    published: int  # articles credited for publication
    helpful: int  # helpful votes credited


_ARTICLE = (
    "a.id, a.category_id, a.audience, a.state, a.title, a.author_id,"
    " coalesce(u.display_name, ''), a.version, a.published_version, a.reviewer_id, a.views,"
    " a.helpful, a.not_helpful, a.created_at, a.updated_at, a.published_at"
)
_VERSION = (
    "v.article_id, v.version, v.title, v.body, v.title_en, v.body_en, v.author_id,"
    " coalesce(u.display_name, ''), v.note, v.created_at"
)
_CHANGEABLE = frozenset(
    {
        "category_id",
        "audience",
        "state",
        "title",
        "version",
        "published_version",
        "reviewer_id",
        "updated_at",
        "published_at",
    }
)


# -- categories --------------------------------------------------------------------


def categories(conn: sqlite3.Connection) -> list[Category]:
    """Return the categories in their order, with their published articles counted."""
    rows = conn.execute(
        "SELECT c.id, c.name, c.name_en, c.position,"
        " (SELECT count(*) FROM kb_articles a WHERE a.category_id = c.id"
        " AND a.published_version IS NOT NULL AND a.state != 'archived')"
        " FROM kb_categories c ORDER BY c.position, c.id"
    )
    return [Category(*r) for r in rows]


def category(conn: sqlite3.Connection, category_id: int) -> Category | None:
    """Return one category."""
    return next((c for c in categories(conn) if c.id == category_id), None)


def add_category(conn: sqlite3.Connection, name: str, name_en: str, position: int, now: int) -> int:
    """Store a category; raise sqlite3.IntegrityError when the name is taken."""
    row = conn.execute(
        "INSERT INTO kb_categories (name, name_en, position, created_at)"
        " VALUES (?, ?, ?, ?) RETURNING id",
        (name, name_en, position, now),
    ).fetchone()
    return int(row[0])


def change_category(
    conn: sqlite3.Connection, category_id: int, name: str, name_en: str, position: int
) -> bool:
    """Rename or move a category; False if there is none."""
    cur = conn.execute(
        "UPDATE kb_categories SET name = ?, name_en = ?, position = ? WHERE id = ?",
        (name, name_en, position, category_id),
    )
    return cur.rowcount > 0


def delete_category(conn: sqlite3.Connection, category_id: int) -> bool:
    """Delete a category (its articles stay, without one); False if there is none."""
    return conn.execute("DELETE FROM kb_categories WHERE id = ?", (category_id,)).rowcount > 0


# -- articles and versions -----------------------------------------------------------


def insert_article(
    conn: sqlite3.Connection,
    category_id: int | None,
    audience: str,
    title: str,
    author_id: int,
    now: int,
) -> int:
    """Store a new draft article at version 1 (its version is added beside it)."""
    row = conn.execute(
        "INSERT INTO kb_articles (category_id, audience, title, author_id, version,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?) RETURNING id",
        (category_id, audience, title, author_id, now, now),
    ).fetchone()
    return int(row[0])


def insert_version(conn: sqlite3.Connection, version: Version) -> None:
    """Store a version (never changed afterwards)."""
    conn.execute(
        "INSERT INTO kb_versions (article_id, version, title, body, title_en, body_en,"
        " author_id, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            version.article_id,
            version.version,
            version.title,
            version.body,
            version.title_en,
            version.body_en,
            version.author_id,
            version.note,
            version.created_at,
        ),
    )


def article(conn: sqlite3.Connection, article_id: int) -> Article | None:
    """Return an article's row."""
    row = conn.execute(
        f"SELECT {_ARTICLE} FROM kb_articles a LEFT JOIN users u ON u.id = a.author_id"
        " WHERE a.id = ?",
        (article_id,),
    ).fetchone()
    return None if row is None else Article(*row)


def articles(
    conn: sqlite3.Connection,
    *,
    category_id: int | None,
    state: str | None,
    audience: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[Article]]:
    """Return a page of articles (newest change first) and how many match."""
    where = ["1"]
    params: list[Any] = []
    if category_id is not None:
        where.append("a.category_id = ?")
        params.append(category_id)
    if state is not None:
        where.append("a.state = ?")
        params.append(state)
    if audience is not None:
        where.append("a.audience = ?")
        params.append(audience)
    clause = " AND ".join(where)
    total = conn.execute(f"SELECT count(*) FROM kb_articles a WHERE {clause}", params).fetchone()
    rows = conn.execute(
        f"SELECT {_ARTICLE} FROM kb_articles a LEFT JOIN users u ON u.id = a.author_id"
        f" WHERE {clause} ORDER BY a.updated_at DESC, a.id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return int(total[0]), [Article(*r) for r in rows]


def update_article(conn: sqlite3.Connection, article_id: int, values: Mapping[str, Any]) -> None:
    """Change some columns of an article's row."""
    names = sorted(values)
    assert set(names) <= _CHANGEABLE, names
    sets = ", ".join(f"{n} = ?" for n in names)
    conn.execute(
        f"UPDATE kb_articles SET {sets} WHERE id = ?", [*(values[n] for n in names), article_id]
    )


def version(conn: sqlite3.Connection, article_id: int, number: int) -> Version | None:
    """Return one version of an article."""
    row = conn.execute(
        f"SELECT {_VERSION} FROM kb_versions v LEFT JOIN users u ON u.id = v.author_id"
        " WHERE v.article_id = ? AND v.version = ?",
        (article_id, number),
    ).fetchone()
    return None if row is None else Version(*row)


def versions(conn: sqlite3.Connection, article_id: int) -> list[Version]:
    """Return every version of an article, newest first."""
    rows = conn.execute(
        f"SELECT {_VERSION} FROM kb_versions v LEFT JOIN users u ON u.id = v.author_id"
        " WHERE v.article_id = ? ORDER BY v.version DESC",
        (article_id,),
    )
    return [Version(*r) for r in rows]


def contributors(conn: sqlite3.Connection, article_id: int) -> list[int]:
    """Return the users who wrote a version of an article."""
    rows = conn.execute(
        "SELECT DISTINCT author_id FROM kb_versions WHERE article_id = ? ORDER BY author_id",
        (article_id,),
    )
    return [int(r[0]) for r in rows]


def add_step(
    conn: sqlite3.Connection,
    article_id: int,
    now: int,
    actor_id: int,
    from_state: str,
    to_state: str,
    number: int,
    note: str,
) -> None:
    """Record a move between states."""
    conn.execute(
        "INSERT INTO kb_steps (article_id, at, actor_id, from_state, to_state, version, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (article_id, now, actor_id, from_state, to_state, number, note),
    )


def steps(conn: sqlite3.Connection, article_id: int) -> list[Step]:
    """Return an article's moves between states, oldest first."""
    rows = conn.execute(
        "SELECT s.at, s.actor_id, coalesce(u.display_name, ''), s.from_state, s.to_state,"
        " s.version, s.note FROM kb_steps s LEFT JOIN users u ON u.id = s.actor_id"
        " WHERE s.article_id = ? ORDER BY s.at, s.rowid",
        (article_id,),
    )
    return [Step(*r) for r in rows]


# -- editors -------------------------------------------------------------------------


def is_editor(conn: sqlite3.Connection, user_id: int) -> bool:
    """Tell whether a user is a named editor."""
    row = conn.execute("SELECT 1 FROM kb_editors WHERE user_id = ?", (user_id,)).fetchone()
    return row is not None


def editors(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """Return the named editors: (user id, name)."""
    rows = conn.execute(
        "SELECT e.user_id, coalesce(u.display_name, '') FROM kb_editors e"
        " LEFT JOIN users u ON u.id = e.user_id ORDER BY e.user_id"
    )
    return [(int(r[0]), r[1]) for r in rows]


def set_editor(conn: sqlite3.Connection, user_id: int, on: bool, by: int, now: int) -> None:
    """Name a user an editor, or take the role back."""
    if on:
        conn.execute(
            "INSERT OR IGNORE INTO kb_editors (user_id, granted_by, granted_at) VALUES (?, ?, ?)",
            (user_id, by, now),
        )
    else:
        conn.execute("DELETE FROM kb_editors WHERE user_id = ?", (user_id,))


# -- votes, views and points ---------------------------------------------------------


def vote_of(conn: sqlite3.Connection, article_id: int, voter: str) -> bool | None:
    """Return a voter's vote on an article (True: helpful), None if they have none."""
    row = conn.execute(
        "SELECT helpful FROM kb_votes WHERE article_id = ? AND voter = ?", (article_id, voter)
    ).fetchone()
    return None if row is None else bool(row[0])


def put_vote(
    conn: sqlite3.Connection, article_id: int, voter: str, helpful: bool, old: bool | None, now: int
) -> None:
    """Store a voter's vote (replacing their old one) and keep the counts with it."""
    conn.execute(
        "INSERT INTO kb_votes (article_id, voter, helpful, at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (article_id, voter)"
        " DO UPDATE SET helpful = excluded.helpful, at = excluded.at",
        (article_id, voter, int(helpful), now),
    )
    up = (1 if helpful else 0) - (1 if old is True else 0)
    down = (0 if helpful else 1) - (1 if old is False else 0)
    conn.execute(
        "UPDATE kb_articles SET helpful = helpful + ?, not_helpful = not_helpful + ? WHERE id = ?",
        (up, down, article_id),
    )


def add_views(conn: sqlite3.Connection, counts: Mapping[int, int]) -> None:
    """Add counted views to articles."""
    conn.executemany(
        "UPDATE kb_articles SET views = views + ? WHERE id = ?",
        [(n, article_id) for article_id, n in counts.items()],
    )


def add_points(
    conn: sqlite3.Connection, user_id: int, article_id: int, reason: str, points: int, now: int
) -> bool:
    """Credit points; a publication is credited once per user and article."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO kb_points (user_id, article_id, reason, points, at)"
        " VALUES (?, ?, ?, ?, ?)",
        (user_id, article_id, reason, points, now),
    )
    return cur.rowcount > 0


def contributors_table(conn: sqlite3.Connection, user_id: int | None = None) -> list[Contributor]:
    """Return each credited user's points, most first (or one user's)."""
    where = "" if user_id is None else " WHERE p.user_id = ?"
    rows = conn.execute(
        "SELECT p.user_id, coalesce(u.display_name, ''), sum(p.points),"
        " sum(p.reason = 'published'), sum(CASE WHEN p.reason = 'helpful' THEN p.points END)"
        f" FROM kb_points p LEFT JOIN users u ON u.id = p.user_id{where}"
        " GROUP BY p.user_id ORDER BY sum(p.points) DESC, p.user_id",
        () if user_id is None else (user_id,),
    )
    return [Contributor(int(r[0]), r[1], int(r[2]), int(r[3]), int(r[4] or 0)) for r in rows]


# -- what visitors read (public, published versions only) ----------------------------


@dataclass(frozen=True, slots=True)
class PublicEntry:
    """A public, published article as visitors list it: its published version's titles."""

    id: int
    category_id: int | None
    title: str
    title_en: str
    helpful: int
    views: int
    published_at: int | None


_PUBLIC_FROM = (
    "SELECT a.id, a.category_id, v.title, v.title_en, a.helpful, a.views, a.published_at"
    " FROM kb_articles a JOIN kb_versions v"
    " ON v.article_id = a.id AND v.version = a.published_version"
    " WHERE a.audience = 'public' AND a.published_version IS NOT NULL"
    " AND a.state != 'archived'"
)


def public_entries(
    conn: sqlite3.Connection, ids: list[int] | None = None, *, limit: int = 100
) -> list[PublicEntry]:
    """Return public, published articles: these ids (in their order), or the most
    helpful and most read ones."""
    if ids is not None:
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        rows = conn.execute(f"{_PUBLIC_FROM} AND a.id IN ({marks})", ids)
        found = {e.id: e for e in (PublicEntry(*r) for r in rows)}
        return [found[i] for i in ids if i in found]
    rows = conn.execute(
        f"{_PUBLIC_FROM} ORDER BY a.helpful - a.not_helpful DESC, a.views DESC, a.id LIMIT ?",
        (limit,),
    )
    return [PublicEntry(*r) for r in rows]


def public_by_category(conn: sqlite3.Connection, per_category: int) -> list[PublicEntry]:
    """Return up to `per_category` public, published articles of each category (and of
    none), the most read first."""
    rows = conn.execute(
        "SELECT id, category_id, title, title_en, helpful, views, published_at FROM ("
        " SELECT a.id, a.category_id, v.title, v.title_en, a.helpful, a.views,"
        " a.published_at, row_number() OVER ("
        "  PARTITION BY a.category_id ORDER BY a.views DESC, a.id) AS n"
        " FROM kb_articles a JOIN kb_versions v"
        " ON v.article_id = a.id AND v.version = a.published_version"
        " WHERE a.audience = 'public' AND a.published_version IS NOT NULL"
        " AND a.state != 'archived'"
        ") WHERE n <= ? ORDER BY category_id, n",
        (per_category,),
    )
    return [PublicEntry(*r) for r in rows]
