"""Agent scorecards and quality review (质检) over HTTP: the pages, the API, the CSV.

Overseers keep the scorecards and checklists and review chats; an agent sees their own
scorecard line and their own reviews, read only (policy.py closes the rest; the
handlers narrow what an agent reads). core/scorecards.py and core/quality.py hold the
rules; docs/reports.md "Scorecards and quality review" explains them.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from aiohttp import web

from appliance.core.accounts import OVERSEERS, Session
from appliance.core.clock import local_text, now_ms
from appliance.core.quality import Quality, Reviewer
from appliance.core.report_figures import FIGURES
from appliance.core.scorecards import QUALITY, SCORABLE, Scorecards, Standings
from appliance.core.store.quality import Card, Checklist, Review
from appliance.webui.audit_views import admin_actor
from appliance.webui.console_views import staff, visible
from appliance.webui.contract import Contract, Operation, read_body, read_query, reply
from appliance.webui.keys import BOX
from appliance.webui.pages import page_text, render
from appliance.webui.report_views import _BOM, _FIGURE_TEXT, _cell, _download, box_zone_label
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.wire import scorecards as wire
from appliance.webui.wire import wire_time
from appliance.webui.wire.team import Deleted

_TAG = "scorecards"
_OVERSEERS = "Supervisors and admins (else 403)."
_CARD_ID = {"card_id": wire.Id}
_CHECKLIST_ID = {"checklist_id": wire.Id}
_SAMPLE_DAYS = 7  # a sample without dates: the last 7 days
_TRANSCRIPT_PAGE = 1000  # messages read at a time for the review page


def _cards(request: web.Request) -> Scorecards:
    box = request.app[BOX]
    return Scorecards(box.db, box.reports)


def _quality(request: web.Request) -> Quality:
    return Quality(request.app[BOX].db)


def _oversees(session: Session) -> bool:
    return session.user.role in OVERSEERS


def _today() -> date:
    return datetime.fromtimestamp(now_ms() / 1000, tz=UTC).astimezone().date()


def _figure_name(t: Any, figure: str) -> str:
    return str(t("sc_fig_quality") if figure == QUALITY else t(_FIGURE_TEXT[figure][0]))


# -- shapes out -------------------------------------------------------------------------


def _card_out(card: Card) -> wire.ScorecardOut:
    return wire.ScorecardOut(
        card.id,
        card.name,
        [msgspec.convert(i, wire.ScorecardItem) for i in card.items],
        wire_time(card.updated_at),
    )


def _checklist_out(found: Checklist) -> wire.ChecklistOut:
    return wire.ChecklistOut(
        found.id,
        found.name,
        found.version,
        [msgspec.convert(i, wire.ChecklistItem) for i in found.items],
    )


def _review_out(r: Review) -> wire.ReviewOut:
    return wire.ReviewOut(
        r.id,
        r.conversation_id,
        r.agent_id,
        r.agent_name,
        r.reviewer_name,
        r.checklist_name,
        r.checklist_version,
        [
            wire.ReviewedItem(
                str(i["label"]), int(i["points"]), bool(i["critical"]), int(i["given"])
            )
            for i in r.items
        ],
        r.score,
        r.critical_failed,
        r.comment,
        wire_time(r.chat_at),
        wire_time(r.created_at),
    )


def _standings_out(found: Standings) -> wire.StandingsPage:
    lines = [
        wire.StandingLine(
            line.rank,
            line.agent_id,
            line.name,
            line.score,
            list(line.values),
            list(line.points),
            list(line.excluded),
        )
        for line in found.lines
    ]
    return wire.StandingsPage(
        _card_out(found.card),
        found.period,  # type: ignore[arg-type]
        found.label,
        found.first,
        found.last,
        lines,
    )


# -- pages ------------------------------------------------------------------------------


async def scorecards_page(request: web.Request) -> web.Response:
    """Show the scorecards and quality reviews (an agent: their own line and reviews)."""
    session = current_session(request)
    t = page_text(request)
    units = dict(FIGURES)
    return render(
        request,
        "scorecards.html",
        {
            "oversees": _oversees(session),
            "figures": [(f, units.get(f, "pct"), _figure_name(t, f)) for f in SCORABLE],
            "zone": box_zone_label(),
            "today": _today().isoformat(),
            "week_ago": (_today() - timedelta(days=_SAMPLE_DAYS - 1)).isoformat(),
        },
    )


async def review_page(request: web.Request) -> web.Response:
    """Show a finished chat's transcript beside a checklist to score it (overseers)."""
    session = current_session(request)
    conv = await visible(request, session)
    chats = request.app[BOX].chats
    messages = []
    cursor = 0
    while True:
        page = await chats.messages_after(conv.id, cursor, _TRANSCRIPT_PAGE, staff=True)
        messages.extend(page)
        if len(page) < _TRANSCRIPT_PAGE:
            break
        cursor = page[-1].seq
    lines = [
        {"m": m, "time": local_text(m.created_at)[-5:]}
        for m in messages
        if m.sender_type != "system" and m.body
    ]
    return render(
        request,
        "quality_review.html",
        {"conv": conv, "lines": lines, "started": local_text(conv.created_at)},
    )


# -- scorecards -------------------------------------------------------------------------


async def list_scorecards(request: web.Request) -> web.Response:
    """Return every scorecard and the figures an item may name."""
    found = await _cards(request).all()
    return reply(wire.Scorecards([_card_out(c) for c in found], list(SCORABLE)))


async def create_scorecard(request: web.Request) -> web.Response:
    """Add a scorecard."""
    body = await read_body(request, wire.ScorecardInput)
    made = await _cards(request).create(msgspec.to_builtins(body), admin_actor(request))
    return reply(wire.OneScorecard(_card_out(made)), 201)


async def change_scorecard(request: web.Request) -> web.Response:
    """Change a scorecard's name and items."""
    body = await read_body(request, wire.ScorecardInput)
    card_id = int_path(request, "card_id")
    changed = await _cards(request).update(card_id, msgspec.to_builtins(body), admin_actor(request))
    return reply(wire.OneScorecard(_card_out(changed)))


async def delete_scorecard(request: web.Request) -> web.Response:
    """Delete a scorecard."""
    await _cards(request).delete(int_path(request, "card_id"), admin_actor(request))
    return reply(Deleted(True))


async def _standings(request: web.Request) -> Standings:
    session = current_session(request)
    query = read_query(request, wire.StandingsQuery)
    only = None if _oversees(session) else session.user.id
    return await _cards(request).standings(
        int_path(request, "card_id"), query.period, query.day or _today(), only
    )


async def get_standings(request: web.Request) -> web.Response:
    """Return each agent's score over a week or month, best first."""
    return reply(_standings_out(await _standings(request)))


async def export_standings(request: web.Request) -> web.Response:
    """Return the standings as CSV for Excel."""
    found = await _standings(request)
    t = page_text(request)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    head = [t("sc_col_rank"), t("sc_col_agent"), t("sc_col_score")]
    for item in found.card.items:
        name = _figure_name(t, str(item["figure"]))
        head += [name, t("sc_col_points_of", name=name)]
    writer.writerow(head)
    for line in found.lines:
        cells: list[object] = [line.rank, _cell(line.name), _cell(line.score)]
        for value, got in zip(line.values, line.points, strict=True):
            cells += [_cell(value), _cell(got)]
        writer.writerow(cells)
    return _download((_BOM + out.getvalue()).encode(), f"scorecard-{found.label}")


# -- checklists -------------------------------------------------------------------------


async def list_checklists(request: web.Request) -> web.Response:
    """Return every checklist at its current version."""
    found = await _quality(request).checklists()
    return reply(wire.Checklists([_checklist_out(c) for c in found]))


async def create_checklist(request: web.Request) -> web.Response:
    """Add a checklist."""
    body = await read_body(request, wire.ChecklistInput)
    made = await _quality(request).create_checklist(msgspec.to_builtins(body), admin_actor(request))
    return reply(wire.OneChecklist(_checklist_out(made)), 201)


async def change_checklist(request: web.Request) -> web.Response:
    """Change a checklist (its next version)."""
    body = await read_body(request, wire.ChecklistInput)
    changed = await _quality(request).update_checklist(
        int_path(request, "checklist_id"), msgspec.to_builtins(body), admin_actor(request)
    )
    return reply(wire.OneChecklist(_checklist_out(changed)))


async def delete_checklist(request: web.Request) -> web.Response:
    """Delete a checklist; reviews made with it stay as scored."""
    await _quality(request).delete_checklist(
        int_path(request, "checklist_id"), admin_actor(request)
    )
    return reply(Deleted(True))


# -- reviews ----------------------------------------------------------------------------


async def create_review(request: web.Request) -> web.Response:
    """Score a finished chat against a checklist."""
    session = current_session(request)
    body = await read_body(request, wire.ReviewInput)
    actor = await staff(request, session)
    conv = await request.app[BOX].chats.get_for(body.conversation_id, actor)
    user = session.user
    made = await _quality(request).review(
        conv,
        body.checklist_id,
        body.checklist_version,
        body.scores,
        body.comment,
        Reviewer(user.id, user.display_name, admin_actor(request)),
    )
    return reply(wire.OneReview(_review_out(made)), 201)


async def list_reviews(request: web.Request) -> web.Response:
    """Return reviews, newest first: an agent's own always; overseers any agent's or chat's."""
    session = current_session(request)
    query = read_query(request, wire.ReviewsQuery)
    agent_id = query.agent_id if _oversees(session) else session.user.id
    found = await _quality(request).reviews(
        agent_id=agent_id, conversation_id=query.conversation_id
    )
    return reply(wire.Reviews([_review_out(r) for r in found]))


async def sample_chats(request: web.Request) -> web.Response:
    """Return n random finished chats of an agent that nobody has reviewed yet."""
    query = read_query(request, wire.SampleQuery)
    end = query.end or _today()
    start = query.start or end - timedelta(days=_SAMPLE_DAYS - 1)
    found = await _quality(request).sample(query.agent_id, start, end, query.n)
    return reply(
        wire.Sample(
            [
                wire.SampleChat(
                    c.id,
                    c.visitor_name,
                    c.agent_name or "",
                    wire_time(c.created_at),
                    wire_time(c.closed_at),
                    c.last_seq,
                )
                for c in found
            ]
        )
    )


_CARDS = "/api/console/scorecards"
_CARD = _CARDS + "/{card_id}"
_CHECKLISTS = "/api/console/qa/checklists"
_CHECKLIST = _CHECKLISTS + "/{checklist_id}"
_SCORING = (
    "Each item maps its figure to 0-100 points against its target: higher-is-better "
    "gives 100 at or above the target, falling linearly to 0 at 0; lower-is-better gives "
    "100 at or below the target, falling linearly to 0 at twice the target. The score is "
    "the weighted mean of the items that have a value; an item without one (no rated "
    "chat, no review) is left out and the other weights scaled up."
)
_CHECKLIST_HELP = (
    "1 to 30 items of 0-100 points; a critical item scored 0 fails the whole review "
    "(score 0). 422 codes: bad_name, bad_items, bad_label, bad_points."
)

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/console/scorecards",
            scorecards_page,
            "Scorecards and quality reviews (an agent: their own line and reviews)",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            "/console/history/{conv_id}/review",
            review_page,
            "Quality review of a finished chat: transcript beside the checklist (overseers)",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            _CARDS,
            list_scorecards,
            "Scorecards",
            _TAG,
            wire.Scorecards,
            errors=(401,),
            description="Any console user (an agent reads them to see their line).",
        ),
        Operation(
            "POST",
            _CARDS,
            create_scorecard,
            "Add a scorecard",
            _TAG,
            wire.OneScorecard,
            status=201,
            body=wire.ScorecardInput,
            errors=(401, 403, 409, 413, 422),
            description=f"{_OVERSEERS} Audited. 422 codes: bad_name, bad_items, bad_figure, "
            f"bad_weight, bad_target, bad_direction, bad_weights (the weights must sum to "
            f"100). {_SCORING}",
        ),
        Operation(
            "PUT",
            _CARD,
            change_scorecard,
            "Change a scorecard",
            _TAG,
            wire.OneScorecard,
            body=wire.ScorecardInput,
            path_types=_CARD_ID,
            errors=(401, 403, 404, 413, 422),
            description=f"{_OVERSEERS} Audited with the items before and after.",
        ),
        Operation(
            "DELETE",
            _CARD,
            delete_scorecard,
            "Delete a scorecard",
            _TAG,
            Deleted,
            path_types=_CARD_ID,
            errors=(401, 403, 404),
            description=f"{_OVERSEERS} Audited.",
        ),
        Operation(
            "GET",
            _CARD + "/standings",
            get_standings,
            "Each agent's score over a week or month, best first",
            _TAG,
            wire.StandingsPage,
            query=wire.StandingsQuery,
            path_types=_CARD_ID,
            errors=(401, 404, 422),
            description="Overseers see every agent; an agent their own line. Values from "
            f"the report rollups of the ISO week or month (box's zone) holding `day`. "
            f"{_SCORING}",
        ),
        Operation(
            "GET",
            _CARD + "/standings.csv",
            export_standings,
            "The standings as CSV (UTF-8 with BOM, CRLF, for Excel)",
            _TAG,
            media="text/csv",
            query=wire.StandingsQuery,
            path_types=_CARD_ID,
            errors=(401, 404, 422),
            description="As the standings; a name that would start a formula is quoted.",
        ),
        Operation(
            "GET",
            _CHECKLISTS,
            list_checklists,
            "Quality checklists at their current versions",
            _TAG,
            wire.Checklists,
            errors=(401, 403),
            description=_OVERSEERS,
        ),
        Operation(
            "POST",
            _CHECKLISTS,
            create_checklist,
            "Add a quality checklist",
            _TAG,
            wire.OneChecklist,
            status=201,
            body=wire.ChecklistInput,
            errors=(401, 403, 409, 413, 422),
            description=f"{_OVERSEERS} Audited. {_CHECKLIST_HELP}",
        ),
        Operation(
            "PUT",
            _CHECKLIST,
            change_checklist,
            "Change a quality checklist (its next version)",
            _TAG,
            wire.OneChecklist,
            body=wire.ChecklistInput,
            path_types=_CHECKLIST_ID,
            errors=(401, 403, 404, 413, 422),
            description=f"{_OVERSEERS} Audited. Reviews already made keep the items, "
            f"version and score they were made with. {_CHECKLIST_HELP}",
        ),
        Operation(
            "DELETE",
            _CHECKLIST,
            delete_checklist,
            "Delete a quality checklist",
            _TAG,
            Deleted,
            path_types=_CHECKLIST_ID,
            errors=(401, 403, 404),
            description=f"{_OVERSEERS} Audited; its reviews stay.",
        ),
        Operation(
            "GET",
            "/api/console/qa/reviews",
            list_reviews,
            "Quality reviews, newest first",
            _TAG,
            wire.Reviews,
            query=wire.ReviewsQuery,
            errors=(401, 422),
            description="Overseers: any agent's or chat's; an agent: always their own.",
        ),
        Operation(
            "POST",
            "/api/console/qa/reviews",
            create_review,
            "Score a finished chat against a checklist",
            _TAG,
            wire.OneReview,
            status=201,
            body=wire.ReviewInput,
            errors=(401, 403, 404, 409, 413, 422),
            description=f"{_OVERSEERS} Audited. One score per item, 0 to its points, in "
            "order; 409 checklist_changed when the checklist moved on from the version "
            "scored, 409 conflict for a chat not finished; 422 bad_scores, bad_comment.",
        ),
        Operation(
            "GET",
            "/api/console/qa/sample",
            sample_chats,
            "A random sample of an agent's finished chats nobody has reviewed",
            _TAG,
            wire.Sample,
            query=wire.SampleQuery,
            errors=(401, 403, 422),
            description=f"{_OVERSEERS} Chats offered on start..end (the box's zone; "
            "default the last 7 days, at most 366 days), n from 1 to 50.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the scorecards' and quality reviews' routes."""
    CONTRACT.install(app)
