"""Quality review (质检): checklists a supervisor keeps, and reviews of finished chats.

A checklist's items each carry points (0..100) and may be critical. A review gives
each item 0 up to its points; its score is the share of the checklist's points it got
(0..100), and 0 when a critical item got 0 (failed). A review keeps its own copy of
the items as scored, with the checklist's version: editing a checklist moves it to its
next version and never changes a review already made. The reviewer must score the
version they saw (409 `checklist_changed` otherwise). A review may be corrected (its
scores and comment, against its own copy of the items) or deleted, both audited. A chat
reviewed more than once counts once: the review saved last counts, earlier ones stay
in the history. The agents' mean score over the chats offered in a week or month is
the scorecards' `quality` item.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from appliance.core import audit
from appliance.core.clock import now_ms
from appliance.core.conversation import Conversation
from appliance.core.db import Database
from appliance.core.errors import Conflict, InvalidInput, LimitReached, NotFound
from appliance.core.reports import box_zone
from appliance.core.store import conversations as conv_store
from appliance.core.store import quality as store
from appliance.core.store.quality import Checklist, Review

NAME_MAX = 100  # characters of a checklist's (or an item's) name
ITEMS_MAX = 30  # items of a checklist
POINTS_MAX = 100  # points of one item
COMMENT_MAX = 2000  # characters of a review's comment
MAX_CHECKLISTS = 100  # checklists a box keeps
SAMPLE_MAX = 50  # chats one sample draws
SAMPLE_DAYS = 366  # days a sample may span


class ChecklistChanged(Conflict):
    code = "checklist_changed"


@dataclass(frozen=True, slots=True)
class Reviewer:
    """Who reviews: their id and name, and the actor of the audit log."""

    user_id: int
    name: str
    actor: audit.Actor


def _name(raw: Any, code: str) -> str:
    name = " ".join(str(raw if isinstance(raw, str) else "").split())
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(f"{code}: a name is 1 to {NAME_MAX} characters")
    return name


def check_checklist(fields: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Return a checklist's name and items checked (422 with a code for what is wrong)."""
    name = _name(fields.get("name"), "bad_name")
    raw = fields.get("items")
    if not isinstance(raw, list) or not 1 <= len(raw) <= ITEMS_MAX:
        raise InvalidInput(f"bad_items: 1 to {ITEMS_MAX} items")
    items: list[dict[str, Any]] = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            raise InvalidInput("bad_items: each item is an object")
        label = _name(entry.get("label"), "bad_label")
        got = entry.get("points")
        if not isinstance(got, int) or isinstance(got, bool) or not 0 <= got <= POINTS_MAX:
            raise InvalidInput(f"bad_points: points are a whole number 0 to {POINTS_MAX}")
        critical = entry.get("critical", False)
        if not isinstance(critical, bool):
            raise InvalidInput("bad_critical: true or false")
        items.append({"label": label, "points": got, "critical": critical})
    if sum(i["points"] for i in items) <= 0:
        raise InvalidInput("bad_points: a checklist needs some points")
    return name, items


def review_score(items: Sequence[Mapping[str, Any]], given: Sequence[int]) -> tuple[float, bool]:
    """Return a review's score (0..100) and whether a critical item failed (scored 0)."""
    if len(given) != len(items):
        raise InvalidInput(f"bad_scores: one score per item ({len(items)})")
    for item, g in zip(items, given, strict=True):
        if not isinstance(g, int) or isinstance(g, bool) or not 0 <= g <= int(item["points"]):
            raise InvalidInput(f"bad_scores: {item['label']} takes 0 to {item['points']}")
    whole = sum(int(i["points"]) for i in items)
    if whole <= 0:  # a checklist always has points: refuse a hand-made row, never divide by 0
        raise InvalidInput("bad_scores: these items carry no points")
    failed = any(item["critical"] and g == 0 for item, g in zip(items, given, strict=True))
    return (0.0 if failed else round(100 * sum(given) / whole, 1)), failed


def local_span(zone: tzinfo, first: date, last: date) -> tuple[int, int]:
    """Return [since, until) in UTC ms of the local days first..last."""
    since = datetime.combine(first, time.min, tzinfo=zone)
    until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
    return int(since.timestamp() * 1000), int(until.timestamp() * 1000)


class Quality:
    """Checklists, reviews and samples of chats to review."""

    def __init__(
        self,
        db: Database,
        zone: Callable[[], tzinfo] = box_zone,
        now: Callable[[], int] = now_ms,
    ) -> None:
        self._db = db
        self._zone = zone
        self._now = now

    # -- checklists -------------------------------------------------------------------

    async def checklists(self) -> list[Checklist]:
        """Return every checklist at its current version."""
        return await self._db.read(store.checklists)

    async def checklist(self, checklist_id: int) -> Checklist:
        """Return one checklist, else NotFound."""
        found = await self._db.read(lambda conn: store.checklist(conn, checklist_id))
        if found is None:
            raise NotFound("no such checklist")
        return found

    async def create_checklist(self, fields: Mapping[str, Any], by: audit.Actor) -> Checklist:
        """Add a checklist at version 1 (audited)."""
        name, items = check_checklist(fields)

        def write(conn: sqlite3.Connection) -> int:
            if store.checklist_count(conn) >= MAX_CHECKLISTS:
                raise LimitReached(f"at most {MAX_CHECKLISTS} checklists")
            made = store.insert_checklist(conn, name, items, self._now())
            audit.record(conn, by, "qa_checklist.create", name, {"id": made, "items": items})
            return made

        return await self.checklist(await self._db.write(write))

    async def update_checklist(
        self, checklist_id: int, fields: Mapping[str, Any], by: audit.Actor
    ) -> Checklist:
        """Change a checklist: its next version (audited); reviews made keep theirs."""
        name, items = check_checklist(fields)

        def write(conn: sqlite3.Connection) -> None:
            before = store.checklist(conn, checklist_id)
            if before is None:
                raise NotFound("no such checklist")
            store.update_checklist(conn, checklist_id, name, items, self._now())
            audit.record(
                conn,
                by,
                "qa_checklist.update",
                name,
                {"id": checklist_id, "version": before.version + 1, "before": before.items},
            )

        await self._db.write(write)
        return await self.checklist(checklist_id)

    async def delete_checklist(self, checklist_id: int, by: audit.Actor) -> None:
        """Delete a checklist (audited); its reviews stay as they were scored."""

        def write(conn: sqlite3.Connection) -> None:
            before = store.checklist(conn, checklist_id)
            if before is None or not store.delete_checklist(conn, checklist_id):
                raise NotFound("no such checklist")
            audit.record(conn, by, "qa_checklist.delete", before.name, {"id": checklist_id})

        await self._db.write(write)

    # -- reviews ----------------------------------------------------------------------

    async def review(
        self,
        conv: Conversation,
        checklist_id: int,
        version: int,
        given: Sequence[int],
        comment: str,
        by: Reviewer,
    ) -> Review:
        """Score a finished chat against a checklist's current version (audited)."""
        if conv.status != "closed":
            raise Conflict("only a finished chat is reviewed")
        if len(comment) > COMMENT_MAX:
            raise InvalidInput(f"bad_comment: at most {COMMENT_MAX} characters")

        def write(conn: sqlite3.Connection) -> int:
            found = store.checklist(conn, checklist_id)
            if found is None:
                raise NotFound("no such checklist")
            if found.version != version:
                raise ChecklistChanged(
                    f"the checklist is at version {found.version} now: reload it"
                )
            score, failed = review_score(found.items, given)
            items = [{**item, "given": g} for item, g in zip(found.items, given, strict=True)]
            made = store.insert_review(
                conn,
                Review(
                    0,
                    conv.id,
                    conv.agent_id,
                    "",
                    by.user_id,
                    by.name,
                    found.id,
                    found.name,
                    found.version,
                    items,
                    score,
                    failed,
                    comment,
                    conv.created_at,
                    self._now(),
                ),
            )
            audit.record(
                conn,
                by.actor,
                "qa_review.create",
                conv.id,
                {"id": made, "agent_id": conv.agent_id, "score": score, "checklist": found.id},
            )
            return made

        made = await self._db.write(write)
        stored = await self._db.read(lambda conn: store.review(conn, made))
        assert stored is not None
        return stored

    async def get_review(self, review_id: int) -> Review:
        """Return one review, else NotFound."""
        found = await self._db.read(lambda conn: store.review(conn, review_id))
        if found is None:
            raise NotFound("no such review")
        return found

    async def update_review(
        self, review_id: int, given: Sequence[int], comment: str, by: Reviewer
    ) -> Review:
        """Correct a review's scores and comment against the items it was made with
        (audited, with the scores and comment before)."""
        if len(comment) > COMMENT_MAX:
            raise InvalidInput(f"bad_comment: at most {COMMENT_MAX} characters")

        def write(conn: sqlite3.Connection) -> None:
            before = store.review(conn, review_id)
            if before is None:
                raise NotFound("no such review")
            score, failed = review_score(before.items, given)
            items = [{**item, "given": g} for item, g in zip(before.items, given, strict=True)]
            store.update_review(
                conn, review_id, items, score, failed, comment, by.name, self._now()
            )
            audit.record(
                conn,
                by.actor,
                "qa_review.update",
                before.conversation_id,
                {
                    "id": review_id,
                    "agent_id": before.agent_id,
                    "score_before": before.score,
                    "score": score,
                    "given_before": [int(i["given"]) for i in before.items],
                    "given": list(given),
                    "comment_changed": comment != before.comment,
                },
            )

        await self._db.write(write)
        return await self.get_review(review_id)

    async def delete_review(self, review_id: int, by: audit.Actor) -> None:
        """Delete a review (audited, with what it held); the chat's previous review, if
        any, counts again."""

        def write(conn: sqlite3.Connection) -> None:
            before = store.review(conn, review_id)
            if before is None or not store.delete_review(conn, review_id):
                raise NotFound("no such review")
            audit.record(
                conn,
                by,
                "qa_review.delete",
                before.conversation_id,
                {
                    "id": review_id,
                    "agent_id": before.agent_id,
                    "reviewer": before.reviewer_name,
                    "checklist": before.checklist_id,
                    "checklist_version": before.checklist_version,
                    "score": before.score,
                    "given": [int(i["given"]) for i in before.items],
                },
            )

        await self._db.write(write)

    async def reviews(
        self, *, agent_id: int | None = None, conversation_id: str | None = None
    ) -> list[Review]:
        """Return reviews, newest first, of one agent and/or one chat (at most 200)."""
        return await self._db.read(
            lambda conn: store.reviews(conn, agent_id=agent_id, conversation_id=conversation_id)
        )

    async def sample(self, agent_id: int, first: date, last: date, n: int) -> list[Conversation]:
        """Return up to n random finished chats of an agent, offered on the local days
        first..last, that nobody has reviewed yet."""
        if last < first or (last - first).days >= SAMPLE_DAYS:
            raise InvalidInput(f"start..end must be in order and at most {SAMPLE_DAYS} days")
        if not 1 <= n <= SAMPLE_MAX:
            raise InvalidInput(f"n must be between 1 and {SAMPLE_MAX}")
        since, until = local_span(self._zone(), first, last)
        return await self._db.read(
            lambda conn: conv_store.unreviewed_closed(conn, agent_id, since, until, n)
        )
