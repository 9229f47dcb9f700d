"""Store of the chat_ratings, transcript_requests tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rating:
    """A visitor's rating of a chat (times UTC ms)."""

    conversation_id: str
    score: int
    comment: str
    rated_at: int
    changed_at: int


@dataclass(frozen=True, slots=True)
class TranscriptRequest:
    """A visitor's request for a chat's transcript by e-mail (times UTC ms)."""

    conversation_id: str
    email: str
    requested_at: int
    sent_at: int | None


def rating(conn: sqlite3.Connection, conv_id: str) -> Rating | None:
    """Return a conversation's rating, if it has one."""
    row = conn.execute(
        "SELECT conversation_id, score, comment, rated_at, changed_at FROM chat_ratings"
        " WHERE conversation_id = ?",
        (conv_id,),
    ).fetchone()
    return None if row is None else Rating(*row)


def scores(conn: sqlite3.Connection, conv_ids: Sequence[str]) -> dict[str, int]:
    """Return the scores of those of some conversations that were rated."""
    if not conv_ids:
        return {}
    marks = ", ".join("?" * len(conv_ids))
    rows = conn.execute(
        f"SELECT conversation_id, score FROM chat_ratings WHERE conversation_id IN ({marks})",
        list(conv_ids),
    )
    return {r[0]: int(r[1]) for r in rows}


def save_rating(conn: sqlite3.Connection, conv_id: str, score: int, comment: str, now: int) -> None:
    """Store a rating, or change the one there (its first time stays)."""
    conn.execute(
        "INSERT INTO chat_ratings (conversation_id, score, comment, rated_at, changed_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (conversation_id) DO UPDATE SET"
        " score = excluded.score, comment = excluded.comment, changed_at = excluded.changed_at",
        (conv_id, score, comment, now, now),
    )


def transcript_request(conn: sqlite3.Connection, conv_id: str) -> TranscriptRequest | None:
    """Return a conversation's transcript request, if any."""
    row = conn.execute(
        "SELECT conversation_id, email, requested_at, sent_at FROM transcript_requests"
        " WHERE conversation_id = ?",
        (conv_id,),
    ).fetchone()
    return None if row is None else TranscriptRequest(*row)


def mark_transcript_queued(conn: sqlite3.Connection, conv_id: str, now: int) -> None:
    """Note that a transcript request's mail is in the outbox."""
    conn.execute(
        "UPDATE transcript_requests SET sent_at = ? WHERE conversation_id = ?", (now, conv_id)
    )


def save_transcript_request(conn: sqlite3.Connection, conv_id: str, email: str, now: int) -> None:
    """Store a transcript request, or change its address."""
    conn.execute(
        "INSERT INTO transcript_requests (conversation_id, email, requested_at)"
        " VALUES (?, ?, ?) ON CONFLICT (conversation_id) DO UPDATE SET"
        " sent_at = CASE WHEN email = excluded.email THEN sent_at END,"
        " email = excluded.email, requested_at = excluded.requested_at",
        (conv_id, email, now),
    )
