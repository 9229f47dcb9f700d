"""Shapes of the agent scorecards and quality reviews on the wire."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec

from appliance.webui.wire import Time

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Points = Annotated[int, msgspec.Meta(ge=0, le=100)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]
Day = Annotated[date, msgspec.Meta(description="a day in the box's time zone (YYYY-MM-DD)")]


class ScorecardItem(msgspec.Struct, forbid_unknown_fields=True):
    """A figure of the reports (or `quality`, the mean review score), its weight (the
    weights sum to 100), its target and whether higher or lower is better."""

    figure: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    weight: Annotated[int, msgspec.Meta(ge=1, le=100)]
    target: Annotated[float, msgspec.Meta(gt=0, le=1e9)]
    direction: Literal["higher", "lower"]


class ScorecardInput(msgspec.Struct, forbid_unknown_fields=True):
    """A scorecard: its name and 1 to 30 weighted items."""

    name: Name
    items: Annotated[list[ScorecardItem], msgspec.Meta(min_length=1, max_length=30)]


class ScorecardOut(msgspec.Struct):
    id: int
    name: str
    items: list[ScorecardItem]
    updated_at: Time | None


class Scorecards(msgspec.Struct):
    """Every scorecard, and the figures an item may name."""

    scorecards: list[ScorecardOut]
    figures: list[str]


class OneScorecard(msgspec.Struct):
    scorecard: ScorecardOut


class StandingsQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Which week (w) or month (m): the one holding `day` (default today)."""

    period: Literal["w", "m"] = "w"
    day: Day | None = None


class StandingLine(msgspec.Struct):
    """One agent's score (null: no item had a value), each item's value and points
    (null: left out, its weight shared among the others); rank 1 the best of all the
    period's agents (an agent's own line keeps its rank among all)."""

    rank: int
    agent_id: int
    name: str
    score: float | None
    values: list[float | int | None]
    points: list[float | None]
    excluded: list[str]


class StandingsPage(msgspec.Struct):
    """A scorecard over one week or month, best first (an agent sees their line alone)."""

    scorecard: ScorecardOut
    period: Literal["w", "m"]
    label: str
    start: Day
    end: Day
    lines: list[StandingLine]


class ChecklistItem(msgspec.Struct, forbid_unknown_fields=True):
    """A point of the checklist: its label, its points and whether failing it (0
    points) fails the whole review."""

    label: Name
    points: Points
    critical: bool = False


class ChecklistInput(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    items: Annotated[list[ChecklistItem], msgspec.Meta(min_length=1, max_length=30)]


class ChecklistOut(msgspec.Struct):
    id: int
    name: str
    version: int
    items: list[ChecklistItem]


class Checklists(msgspec.Struct):
    checklists: list[ChecklistOut]


class OneChecklist(msgspec.Struct):
    checklist: ChecklistOut


class ReviewInput(msgspec.Struct, forbid_unknown_fields=True):
    """A review of a finished chat: the checklist and the version the reviewer saw,
    each item's points in order, and a comment."""

    conversation_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    checklist_id: Id
    checklist_version: Id
    scores: Annotated[list[Points], msgspec.Meta(max_length=30)]
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class ReviewChange(msgspec.Struct, forbid_unknown_fields=True):
    """A correction of a review: each item's points in order, against the items the
    review was made with (not the checklist's current version), and its comment."""

    scores: Annotated[list[Points], msgspec.Meta(max_length=30)]
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class ReviewedItem(msgspec.Struct):
    label: str
    points: int
    critical: bool
    given: int


class ReviewOut(msgspec.Struct):
    """A review as it was scored: its checklist's name and version, the items then;
    when and by whom it was last corrected (null: never); `counts` false when a later
    review of the same chat replaced it in the scores (it stays in the history)."""

    id: int
    conversation_id: str
    agent_id: int | None
    agent_name: str
    reviewer_name: str
    checklist_name: str
    checklist_version: int
    items: list[ReviewedItem]
    score: float
    critical_failed: bool
    comment: str
    chat_at: Time | None
    created_at: Time | None
    edited_at: Time | None
    editor_name: str
    counts: bool


class OneReview(msgspec.Struct):
    review: ReviewOut


class ReviewsQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Whose reviews (an agent always gets their own), or one chat's."""

    agent_id: Id | None = None
    conversation_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class Reviews(msgspec.Struct):
    reviews: list[ReviewOut]


class SampleQuery(msgspec.Struct, forbid_unknown_fields=True):
    """n unreviewed finished chats of an agent offered on start..end (default: the
    last 7 days)."""

    agent_id: Id
    n: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5
    start: Day | None = None
    end: Day | None = None


class SampleChat(msgspec.Struct):
    id: str
    visitor_name: str
    agent_name: str
    started: Time | None
    ended: Time | None
    messages: int


class Sample(msgspec.Struct):
    chats: list[SampleChat]
