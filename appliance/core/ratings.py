"""Satisfaction at the end of a chat: the visitor's rating and transcript request.

A visitor rates their own chat once it has ended: a score from 1 to 5 (the scale the
service desk's ticket ratings use, so reports can put the two side by side) and an
optional comment. They may change it, and ask for the transcript by e-mail, until
`RATING_WINDOW` after the chat ended. A transcript request is kept and shown to agents
until the box sends e-mail itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.core.actors import Visitor
from appliance.core.clock import now_ms
from appliance.core.contact import normal_email
from appliance.core.conversation import Conversation
from appliance.core.db import Database
from appliance.core.errors import Conflict, InvalidInput, NotFound
from appliance.core.events import EventBus, FeedbackChanged
from appliance.core.store import conversations as conversation_store
from appliance.core.store import ratings as store
from appliance.core.store.ratings import Rating, TranscriptRequest
from appliance.core.validate import text, text_problem, whole

__all__ = ["RATING_WINDOW", "Feedback", "Rating", "Ratings", "TranscriptRequest"]

RATING_WINDOW = 24 * 3600 * 1000  # ms after a chat ended in which it may be rated
COMMENT_MAX = 1000  # characters
_EMAIL_MAX = 254


class NotEnded(Conflict):
    """The chat is still open: it is rated once it has ended."""

    code = "not_ended"


class RatingClosed(Conflict):
    """The chat ended too long ago to be rated (or re-rated) now."""

    code = "rating_closed"


@dataclass(frozen=True, slots=True)
class Feedback:
    """What a visitor said of a chat at its end: rating and transcript request."""

    conversation_id: str
    agent_id: int | None
    closed_at: int | None
    rating: Rating | None
    transcript: TranscriptRequest | None


def _clean(value: Any, field: str, limit: int) -> str:
    cleaned = text(value, field, limit)
    problem = text_problem(cleaned)
    if problem:
        raise InvalidInput(f"{field}: {problem}")
    return cleaned


def _ended(conn: sqlite3.Connection, conv_id: str, visitor: Visitor, now: int) -> Conversation:
    """Return the visitor's ended chat if it may still be rated; raise otherwise."""
    conv = conversation_store.get(conn, conv_id)
    if conv is None or conv.visitor_id != visitor.id:
        raise NotFound("no such conversation")
    if conv.status != "closed" or conv.closed_at is None:
        raise NotEnded("the chat has not ended yet")
    if now - conv.closed_at > RATING_WINDOW:
        raise RatingClosed("the chat ended too long ago to be rated")
    return conv


def _feedback(conn: sqlite3.Connection, conv: Conversation) -> Feedback:
    return Feedback(
        conv.id,
        conv.agent_id,
        conv.closed_at,
        store.rating(conn, conv.id),
        store.transcript_request(conn, conv.id),
    )


class Ratings:
    """Ratings of ended chats and transcript requests, given by their visitors."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        # Queues a transcript mail inside the request's write (MailOut.queue_transcript);
        # set by the box once mail exists. Returns False when no mail server is set up.
        self.transcript_mail: Callable[[sqlite3.Connection, Conversation, str, int], bool] | None
        self.transcript_mail = None
        self._db = db
        self._bus = bus

    def _announce(self, result: tuple[Feedback, bool]) -> None:
        self._bus.emit(FeedbackChanged(result[0]))

    async def rate(
        self, conv_id: str, visitor: Visitor, score: Any, comment: Any = ""
    ) -> tuple[Feedback, bool]:
        """Rate the visitor's ended chat, or change the rating; tell whether it is new."""
        points = whole(score, "score", 1, 5)
        words = _clean(comment, "comment", COMMENT_MAX)

        def job(conn: sqlite3.Connection) -> tuple[Feedback, bool]:
            now = now_ms()
            conv = _ended(conn, conv_id, visitor, now)
            new = store.rating(conn, conv.id) is None
            store.save_rating(conn, conv.id, points, words, now)
            return _feedback(conn, conv), new

        return await self._db.write(job, on_commit=self._announce)

    async def request_transcript(
        self, conv_id: str, visitor: Visitor, email: Any
    ) -> tuple[Feedback, bool]:
        """Keep the visitor's request for the transcript of their ended chat by e-mail."""
        typed = _clean(email, "email", _EMAIL_MAX)
        address = normal_email(typed) if typed else None
        if address is None:
            raise InvalidInput("email is not a valid e-mail address")

        def job(conn: sqlite3.Connection) -> tuple[Feedback, bool]:
            now = now_ms()
            conv = _ended(conn, conv_id, visitor, now)
            before = store.transcript_request(conn, conv.id)
            store.save_transcript_request(conn, conv.id, address, now)
            # Mailed once per address: asking again for the same address sends nothing.
            again = before is not None and before.email == address and before.sent_at is not None
            mail = self.transcript_mail
            if not again and mail is not None and mail(conn, conv, address, now):
                store.mark_transcript_queued(conn, conv.id, now)
            return _feedback(conn, conv), before is None

        return await self._db.write(job, on_commit=self._announce)

    async def of(self, conv: Conversation) -> Feedback:
        """Return what the visitor said of a chat (the caller checked who may see it)."""
        return await self._db.read(lambda conn: _feedback(conn, conv))

    async def scores(self, conv_ids: Sequence[str]) -> dict[str, int]:
        """Return the scores of those of some chats that were rated."""
        ids = list(conv_ids)
        return await self._db.read(lambda conn: store.scores(conn, ids))
