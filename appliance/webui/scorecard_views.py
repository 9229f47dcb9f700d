"""Agent scorecards over HTTP: the scorecards page (with the quality review's parts,
quality_views.py), the scorecards' API and the standings as JSON and CSV.

Overseers keep the scorecards; an agent sees their own scorecard line, read only
(policy.py closes the rest; `_standings` narrows what an agent reads). The rules are
in core/scorecards.py; docs/reports.md "Scorecards and quality review" explains them.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from aiohttp import web

from appliance.core.accounts import OVERSEERS, Session
from appliance.core.clock import now_ms
from appliance.core.report_figures import FIGURES
from appliance.core.scorecards import QUALITY, SCORABLE, Scorecards, Standings
from appliance.core.store.quality import Card
from appliance.webui.audit_views import admin_actor
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
SAMPLE_DAYS = 7  # a sample without dates: the last 7 days


def _cards(request: web.Request) -> Scorecards:
    box = request.app[BOX]
    return Scorecards(box.db, box.reports)


def oversees(session: Session) -> bool:
    """Tell whether a console user sees every agent (supervisors and admins)."""
    return session.user.role in OVERSEERS


def today() -> date:
    """Return the box's local day now."""
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
            "oversees": oversees(session),
            "figures": [(f, units.get(f, "pct"), _figure_name(t, f)) for f in SCORABLE],
            "zone": box_zone_label(),
            "today": today().isoformat(),
            "week_ago": (today() - timedelta(days=SAMPLE_DAYS - 1)).isoformat(),
        },
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
    only = None if oversees(session) else session.user.id
    return await _cards(request).standings(
        int_path(request, "card_id"), query.period, query.day or today(), only
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


_CARDS = "/api/console/scorecards"
_CARD = _CARDS + "/{card_id}"
_SCORING = (
    "Each item maps its figure to 0-100 points against its target: higher-is-better "
    "gives 100 at or above the target, falling linearly to 0 at 0; lower-is-better gives "
    "100 at or below the target, falling linearly to 0 at twice the target. The score is "
    "the weighted mean of the items that have a value; an item without one (no rated "
    "chat, no review) is left out and the other weights scaled up."
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
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the scorecards' and quality reviews' routes."""
    CONTRACT.install(app)
