"""Knowledge-base tools on the wire: suggestions beside a chat, a ticket made an
article, import and export (docs/knowledge-base.md, "Suggestions, import and export")."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core import kb_suggest, kb_transfer
from appliance.webui.wire import Time, wire_time
from appliance.webui.wire.knowledge import Audience, Piece


class SuggestQuery(msgspec.Struct, forbid_unknown_fields=True):
    """The visitor's last messages (at most their last 600 characters: a query string
    stays well within a request line), and how many articles."""

    text: Annotated[str, msgspec.Meta(max_length=kb_suggest.TEXT_MAX)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=kb_suggest.LIMIT_MAX)] = 3


class Suggestion(msgspec.Struct):
    """A published article; `url` its public page ('' for an internal article),
    `summary` its first paragraph (what an agent inserts as a snippet)."""

    article_id: int
    title: str
    audience: Audience
    snippet: list[Piece]
    summary: str
    url: str


class Suggestions(msgspec.Struct):
    suggestions: list[Suggestion]


class ImportProblem(msgspec.Struct):
    """A file that was not imported, and why."""

    path: str
    error: str


class ImportJob(msgspec.Struct):
    """An import's progress: `done` of `total` articles; what became of them."""

    state: Literal["running", "done", "failed"]
    by: str
    started_at: Time
    finished_at: Time | None
    total: int
    done: int
    created: int
    updated: int
    unchanged: int
    failed: int
    errors: list[ImportProblem]


class ImportState(msgspec.Struct):
    """The running or last import since the box started; null when none."""

    job: ImportJob | None


def job_out(job: kb_transfer.Job) -> ImportJob:
    return ImportJob(
        job.state,  # type: ignore[arg-type]
        job.by,
        wire_time(job.started_at),
        None if job.finished_at is None else wire_time(job.finished_at),
        job.total,
        job.done,
        job.created,
        job.updated,
        job.unchanged,
        job.failed,
        [ImportProblem(p, e) for p, e in job.errors],
    )
