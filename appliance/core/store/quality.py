"""Store of the scorecards, qa_checklists and qa_reviews tables (agent scorecards and
quality review; migration 0033)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Card:
    """A scorecard: a name and its weighted items (JSON-shaped dicts)."""

    id: int
    name: str
    items: list[dict[str, Any]]
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Checklist:
    """A quality checklist at its current version."""

    id: int
    name: str
    version: int
    items: list[dict[str, Any]]
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Review:
    """A quality review of one chat, with the items as they were scored."""

    id: int
    conversation_id: str
    agent_id: int | None
    agent_name: str
    reviewer_id: int | None
    reviewer_name: str
    checklist_id: int | None
    checklist_name: str
    checklist_version: int
    items: list[dict[str, Any]]
    score: float
    critical_failed: bool
    comment: str
    chat_at: int
    created_at: int
    edited_at: int | None = None
    editor_name: str = ""
    # The review that counts for its chat: the one saved last (highest id); earlier
    # reviews of the same chat stay in the history but no longer count.
    counts: bool = True


# -- scorecards -------------------------------------------------------------------------


def _card(r: tuple[Any, ...]) -> Card:
    return Card(int(r[0]), str(r[1]), json.loads(str(r[2])), int(r[3]), int(r[4]))


def cards(conn: sqlite3.Connection) -> list[Card]:
    """Return every scorecard, in the order they were added."""
    rows = conn.execute(
        "SELECT id, name, items, created_at, updated_at FROM scorecards ORDER BY id"
    )
    return [_card(r) for r in rows]


def card(conn: sqlite3.Connection, card_id: int) -> Card | None:
    """Return one scorecard, or None."""
    row = conn.execute(
        "SELECT id, name, items, created_at, updated_at FROM scorecards WHERE id = ?",
        (card_id,),
    ).fetchone()
    return None if row is None else _card(row)


def card_count(conn: sqlite3.Connection) -> int:
    """Return how many scorecards there are."""
    return int(conn.execute("SELECT count(*) FROM scorecards").fetchone()[0])


def insert_card(conn: sqlite3.Connection, name: str, items: list[dict[str, Any]], now: int) -> int:
    """Store a new scorecard; return its id."""
    row = conn.execute(
        "INSERT INTO scorecards (name, items, created_at, updated_at) VALUES (?, ?, ?, ?)"
        " RETURNING id",
        (name, json.dumps(items, ensure_ascii=False), now, now),
    ).fetchone()
    return int(row[0])


def update_card(
    conn: sqlite3.Connection, card_id: int, name: str, items: list[dict[str, Any]], now: int
) -> bool:
    """Change a scorecard; tell whether it existed."""
    cur = conn.execute(
        "UPDATE scorecards SET name = ?, items = ?, updated_at = ? WHERE id = ?",
        (name, json.dumps(items, ensure_ascii=False), now, card_id),
    )
    return cur.rowcount > 0


def delete_card(conn: sqlite3.Connection, card_id: int) -> bool:
    """Delete a scorecard; tell whether it existed."""
    return conn.execute("DELETE FROM scorecards WHERE id = ?", (card_id,)).rowcount > 0


# -- checklists -------------------------------------------------------------------------

_CHECKLIST = "SELECT id, name, version, items, created_at, updated_at FROM qa_checklists"


def _checklist(r: tuple[Any, ...]) -> Checklist:
    return Checklist(int(r[0]), str(r[1]), int(r[2]), json.loads(str(r[3])), int(r[4]), int(r[5]))


def checklists(conn: sqlite3.Connection) -> list[Checklist]:
    """Return every checklist, in the order they were added."""
    return [_checklist(r) for r in conn.execute(f"{_CHECKLIST} ORDER BY id")]


def checklist(conn: sqlite3.Connection, checklist_id: int) -> Checklist | None:
    """Return one checklist, or None."""
    row = conn.execute(f"{_CHECKLIST} WHERE id = ?", (checklist_id,)).fetchone()
    return None if row is None else _checklist(row)


def checklist_count(conn: sqlite3.Connection) -> int:
    """Return how many checklists there are."""
    return int(conn.execute("SELECT count(*) FROM qa_checklists").fetchone()[0])


def insert_checklist(
    conn: sqlite3.Connection, name: str, items: list[dict[str, Any]], now: int
) -> int:
    """Store a new checklist at version 1; return its id."""
    row = conn.execute(
        "INSERT INTO qa_checklists (name, version, items, created_at, updated_at)"
        " VALUES (?, 1, ?, ?, ?) RETURNING id",
        (name, json.dumps(items, ensure_ascii=False), now, now),
    ).fetchone()
    return int(row[0])


def update_checklist(
    conn: sqlite3.Connection, checklist_id: int, name: str, items: list[dict[str, Any]], now: int
) -> bool:
    """Change a checklist, moving it to its next version; tell whether it existed."""
    cur = conn.execute(
        "UPDATE qa_checklists SET name = ?, items = ?, version = version + 1, updated_at = ?"
        " WHERE id = ?",
        (name, json.dumps(items, ensure_ascii=False), now, checklist_id),
    )
    return cur.rowcount > 0


def delete_checklist(conn: sqlite3.Connection, checklist_id: int) -> bool:
    """Delete a checklist (its reviews keep their copy); tell whether it existed."""
    return conn.execute("DELETE FROM qa_checklists WHERE id = ?", (checklist_id,)).rowcount > 0


# -- reviews ----------------------------------------------------------------------------

# The id of the review of r's chat that counts: the one saved last (an index seek on
# qa_reviews_conversation, which holds the rowid).
_LATEST = "(SELECT max(n.id) FROM qa_reviews n WHERE n.conversation_id = r.conversation_id)"

_REVIEW = (
    "SELECT r.id, r.conversation_id, r.agent_id, coalesce(u.display_name, ''),"
    " r.reviewer_id, r.reviewer_name, r.checklist_id, r.checklist_name,"
    " r.checklist_version, r.items, r.score, r.critical_failed, r.comment, r.chat_at,"
    " r.created_at, r.edited_at, r.editor_name,"
    f" r.id = {_LATEST} FROM qa_reviews r LEFT JOIN users u ON u.id = r.agent_id"
)


def _review(r: tuple[Any, ...]) -> Review:
    return Review(
        int(r[0]),
        str(r[1]),
        None if r[2] is None else int(r[2]),
        str(r[3]),
        None if r[4] is None else int(r[4]),
        str(r[5]),
        None if r[6] is None else int(r[6]),
        str(r[7]),
        int(r[8]),
        json.loads(str(r[9])),
        float(r[10]),
        bool(r[11]),
        str(r[12]),
        int(r[13]),
        int(r[14]),
        None if r[15] is None else int(r[15]),
        str(r[16]),
        bool(r[17]),
    )


def insert_review(conn: sqlite3.Connection, review: Review) -> int:
    """Store a review (its id is ignored); return its id."""
    row = conn.execute(
        "INSERT INTO qa_reviews (conversation_id, agent_id, reviewer_id, reviewer_name,"
        " checklist_id, checklist_name, checklist_version, items, score, critical_failed,"
        " comment, chat_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " RETURNING id",
        (
            review.conversation_id,
            review.agent_id,
            review.reviewer_id,
            review.reviewer_name,
            review.checklist_id,
            review.checklist_name,
            review.checklist_version,
            json.dumps(review.items, ensure_ascii=False),
            review.score,
            int(review.critical_failed),
            review.comment,
            review.chat_at,
            review.created_at,
        ),
    ).fetchone()
    return int(row[0])


def update_review(
    conn: sqlite3.Connection,
    review_id: int,
    items: list[dict[str, Any]],
    score: float,
    critical_failed: bool,
    comment: str,
    editor_name: str,
    now: int,
) -> bool:
    """Correct a review's scored items, score and comment; tell whether it existed."""
    cur = conn.execute(
        "UPDATE qa_reviews SET items = ?, score = ?, critical_failed = ?, comment = ?,"
        " edited_at = ?, editor_name = ? WHERE id = ?",
        (
            json.dumps(items, ensure_ascii=False),
            score,
            int(critical_failed),
            comment,
            now,
            editor_name,
            review_id,
        ),
    )
    return cur.rowcount > 0


def delete_review(conn: sqlite3.Connection, review_id: int) -> bool:
    """Delete a review; tell whether it existed."""
    return conn.execute("DELETE FROM qa_reviews WHERE id = ?", (review_id,)).rowcount > 0


def review(conn: sqlite3.Connection, review_id: int) -> Review | None:
    """Return one review, or None."""
    row = conn.execute(f"{_REVIEW} WHERE r.id = ?", (review_id,)).fetchone()
    return None if row is None else _review(row)


def reviews(
    conn: sqlite3.Connection,
    *,
    agent_id: int | None = None,
    conversation_id: str | None = None,
    limit: int = 200,
) -> list[Review]:
    """Return reviews, newest first, of one agent and/or one chat."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    if agent_id is not None:
        where.append("r.agent_id = ?")
        params.append(agent_id)
    if conversation_id is not None:
        where.append("r.conversation_id = ?")
        params.append(conversation_id)
    rows = conn.execute(
        f"{_REVIEW} WHERE {' AND '.join(where)} ORDER BY r.created_at DESC, r.id DESC LIMIT ?",
        (*params, limit),
    )
    return [_review(r) for r in rows]


def mean_scores(
    conn: sqlite3.Connection, since: int, until: int
) -> dict[int, tuple[float, int, str]]:
    """Return each agent's mean review score, count of reviewed chats and name over chats
    offered in [since, until); a chat reviewed more than once counts once, with the
    review saved last."""
    rows = conn.execute(
        "SELECT r.agent_id, avg(r.score), count(*), coalesce(max(u.display_name), '')"
        " FROM qa_reviews r LEFT JOIN users u ON u.id = r.agent_id"
        " WHERE r.agent_id IS NOT NULL AND r.chat_at >= ? AND r.chat_at < ?"
        f" AND r.id = {_LATEST} GROUP BY r.agent_id",
        (since, until),
    )
    return {int(a): (float(m), int(n), str(name)) for a, m, n, name in rows}
