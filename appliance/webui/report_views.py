"""Reports for supervisors: the page, the figures as JSON and CSV, the staffing plan.

Figures come from the rollups (core/reports.py); each figure's definition is in the
locale catalogs (`rep_def_<id>`) and docs/reports.md.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from appliance.core.clock import now_ms
from appliance.core.report_figures import FIGURES
from appliance.core.reports import FunnelRow, Plan, Report, box_zone
from appliance.webui.contract import Contract, Operation, read_query, reply
from appliance.webui.keys import BOX
from appliance.webui.pages import page_text, render
from appliance.webui.wire import reports as wire
from appliance.webui.wire import wire_time

_DEFAULT_DAYS = 30  # a report without dates: the last 30 days to today
# Excel reads a CSV as UTF-8 only when it starts with the byte-order mark.
_BOM = "\ufeff"
# A text cell starting with one of these is a formula to Excel and LibreOffice (CSV
# injection): an agent named "=HYPERLINK(…)" must stay text, so it gets a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_OVERSEERS = "Supervisors and admins (else 403)."
# Each figure's name and definition in the page catalogs (docs/reports.md has them too).
_FIGURE_TEXT = {
    "offered": ("rep_fig_offered", "rep_def_offered"),
    "answered": ("rep_fig_answered", "rep_def_answered"),
    "missed": ("rep_fig_missed", "rep_def_missed"),
    "abandoned": ("rep_fig_abandoned", "rep_def_abandoned"),
    "abandon_wait": ("rep_fig_abandon_wait", "rep_def_abandon_wait"),
    "first_response": ("rep_fig_first_response", "rep_def_first_response"),
    "handling": ("rep_fig_handling", "rep_def_handling"),
    "queue_wait_p50": ("rep_fig_queue_wait_p50", "rep_def_queue_wait_p50"),
    "queue_wait_p90": ("rep_fig_queue_wait_p90", "rep_def_queue_wait_p90"),
    "transfers": ("rep_fig_transfers", "rep_def_transfers"),
    "rating_count": ("rep_fig_rating_count", "rep_def_rating_count"),
    "rating_mean": ("rep_fig_rating_mean", "rep_def_rating_mean"),
    "rating_good": ("rep_fig_rating_good", "rep_def_rating_good"),
    "tickets_created": ("rep_fig_tickets_created", "rep_def_tickets_created"),
    "tickets_resolved": ("rep_fig_tickets_resolved", "rep_def_tickets_resolved"),
    "tickets_reopened": ("rep_fig_tickets_reopened", "rep_def_tickets_reopened"),
    "backlog": ("rep_fig_backlog", "rep_def_backlog"),
    "fcr": ("rep_fig_fcr", "rep_def_fcr"),
    "sla_first_response": ("rep_fig_sla_first_response", "rep_def_sla_first_response"),
    "sla_next_response": ("rep_fig_sla_next_response", "rep_def_sla_next_response"),
    "sla_resolution": ("rep_fig_sla_resolution", "rep_def_sla_resolution"),
    "online_hours": ("rep_fig_online_hours", "rep_def_online_hours"),
    "away_hours": ("rep_fig_away_hours", "rep_def_away_hours"),
    "occupancy": ("rep_fig_occupancy", "rep_def_occupancy"),
    "concurrent_avg": ("rep_fig_concurrent_avg", "rep_def_concurrent_avg"),
    "concurrent_peak": ("rep_fig_concurrent_peak", "rep_def_concurrent_peak"),
    "kb_sessions": ("rep_fig_kb_sessions", "rep_def_kb_sessions"),
    "kb_deflected": ("rep_fig_kb_deflected", "rep_def_kb_deflected"),
    "kb_deflection": ("rep_fig_kb_deflection", "rep_def_kb_deflection"),
}
_DIM_TEXT = {
    "all": "rep_dim_all",
    "agent": "rep_dim_agent",
    "group": "rep_dim_group",
    "topic": "rep_dim_topic",
    "channel": "rep_dim_channel",
    "site": "rep_dim_site",
}
_PERIOD_TEXT = {"d": "rep_period_d", "w": "rep_period_w", "m": "rep_period_m"}


def box_zone_label() -> str:
    """Return the name of the box's zone as a person reads it (Asia/Shanghai, or UTC+08:00)."""
    zone = box_zone()
    key = getattr(zone, "key", None)
    if key:
        return str(key)
    minutes = int((datetime.now(tz=zone).utcoffset() or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _today() -> date:
    return datetime.fromtimestamp(now_ms() / 1000, tz=UTC).astimezone().date()


def _days(query: wire.ReportQuery) -> tuple[date, date]:
    end = query.end or _today()
    start = query.start or end - timedelta(days=_DEFAULT_DAYS - 1)
    return start, end


async def _report(request: web.Request) -> tuple[wire.ReportQuery, Report]:
    query = read_query(request, wire.ReportQuery)
    start, end = _days(query)
    found = await request.app[BOX].reports.report(query.period, query.dim, start, end)
    return query, found


def _page(found: Report) -> wire.ReportPage:
    return wire.ReportPage(
        period=found.period,  # type: ignore[arg-type]
        dim=found.dim,  # type: ignore[arg-type]
        start=found.first,
        end=found.last,
        zone=found.zone,
        rolled_at=wire_time(found.rolled_at) if found.rolled_at else None,
        figures=[wire.FigureInfo(f, unit) for f, unit in FIGURES],
        rows=[wire.ReportRow(r.bucket, r.key, r.name, r.values) for r in found.rows],
    )


async def reports_page(request: web.Request) -> web.Response:
    """Show the reports: figures over time with charts and tables, and the staffing plan."""
    today = _today()
    t = page_text(request)
    return render(
        request,
        "reports.html",
        {
            "figures": [
                (f, unit, t(_FIGURE_TEXT[f][0]), t(_FIGURE_TEXT[f][1])) for f, unit in FIGURES
            ],
            "dims": [(d, t(key)) for d, key in _DIM_TEXT.items()],
            "periods": [(p, t(key)) for p, key in _PERIOD_TEXT.items()],
            "zone": box_zone_label(),
            "start": (today - timedelta(days=_DEFAULT_DAYS - 1)).isoformat(),
            "end": today.isoformat(),
        },
    )


async def get_report(request: web.Request) -> web.Response:
    """Return the figures of a period and dimension over days."""
    _, found = await _report(request)
    return reply(_page(found))


def _cell(value: object) -> str | object:
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return "" if value is None else value


def report_csv(found: Report, t: Callable[..., str]) -> bytes:
    """Return a report as CSV: BOM, CRLF, headers in the page's language, text defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            t("rep_col_bucket"),
            t(_DIM_TEXT[found.dim]),
            *(t(_FIGURE_TEXT[f][0]) for f, _ in FIGURES),
        ]
    )
    for row in found.rows:
        name = row.name or row.key or t("rep_all")
        writer.writerow(
            [_cell(row.bucket), _cell(name), *(_cell(row.values.get(f)) for f, _ in FIGURES)]
        )
    return (_BOM + out.getvalue()).encode()


def _download(body: bytes, name: str) -> web.Response:
    stamp = datetime.fromtimestamp(now_ms() / 1000, tz=UTC).astimezone().strftime("%Y%m%d-%H%M")
    return web.Response(
        body=body,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="callbox-{name}-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


async def export_report(request: web.Request) -> web.Response:
    """Return a report as CSV for Excel."""
    query, found = await _report(request)
    return _download(report_csv(found, page_text(request)), f"report-{query.dim}-{query.period}")


async def _plan(request: web.Request) -> tuple[wire.PlanQuery, Plan]:
    query = read_query(request, wire.PlanQuery)
    plan = await request.app[BOX].reports.plan(
        query.level / 100,
        query.target,
        query.concurrency,
        float(query.aht) if query.aht is not None else None,
    )
    return query, plan


_METHOD = (
    "weekly volume: least-squares line over the last whole weeks; spread over the week by "
    "their day-of-week x half-hour profile; staffing: Erlang C"
)


async def get_plan(request: web.Request) -> web.Response:
    """Return the forecast of the next two weeks and the agents each half hour needs."""
    query, plan = await _plan(request)
    f = plan.forecast
    return reply(
        wire.PlanPage(
            method=_METHOD,
            history_from=f.history_from,
            weeks=f.weeks,
            held_out_weeks=f.accuracy.weeks,
            wape=f.accuracy.wape,
            mape=f.accuracy.mape,
            naive_wape=f.accuracy.naive_wape,
            weekly_trend=round(f.model.slope, 2),
            aht=round(plan.aht_s, 1),
            aht_from_history=plan.aht_from_history,
            level=query.level,
            target=query.target,
            concurrency=query.concurrency,
            slots=[
                wire.PlanSlot(
                    start.isoformat(timespec="minutes"),
                    round(expected, 2),
                    s.agents,
                    round(s.service_level, 4),
                    round(s.occupancy, 4),
                )
                for (start, expected), s in zip(f.slots, plan.staffing, strict=True)
            ],
        )
    )


async def export_plan(request: web.Request) -> web.Response:
    """Return the staffing plan as CSV for Excel."""
    _, plan = await _plan(request)
    t = page_text(request)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [t("rep_plan_start"), t("rep_plan_expected"), t("rep_plan_agents"), t("rep_plan_sl")]
    )
    for (start, expected), s in zip(plan.forecast.slots, plan.staffing, strict=True):
        writer.writerow(
            [
                start.strftime("%Y-%m-%d %H:%M"),
                round(expected, 2),
                s.agents,
                round(100 * s.service_level, 1),
            ]
        )
    return _download((_BOM + out.getvalue()).encode(), "staffing")


async def _funnel(request: web.Request) -> tuple[wire.FunnelQuery, list[FunnelRow]]:
    query = read_query(request, wire.FunnelQuery)
    end = query.end or _today()
    start = query.start or end - timedelta(days=_DEFAULT_DAYS - 1)
    return query, await request.app[BOX].reports.funnel(query.by, start, end)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def get_funnel(request: web.Request) -> web.Response:
    """Return visits, invitations, chats and tickets per source, keyword or landing page."""
    query, rows = await _funnel(request)
    end = query.end or _today()
    return reply(
        wire.FunnelPage(
            by=query.by,
            start=query.start or end - timedelta(days=_DEFAULT_DAYS - 1),
            end=end,
            rows=[
                wire.FunnelRow(
                    r.key,
                    r.visits,
                    r.invited,
                    r.chatted,
                    r.ticketed,
                    _rate(r.chatted, r.visits),
                    _rate(r.ticketed, r.visits),
                    r.leads,
                    _rate(r.leads, r.visits),
                )
                for r in rows
            ],
        )
    )


async def export_funnel(request: web.Request) -> web.Response:
    """Return the funnel as CSV for Excel."""
    query, rows = await _funnel(request)
    t = page_text(request)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            t("rep_funnel_key"),
            t("rep_funnel_visits"),
            t("rep_funnel_invited"),
            t("rep_funnel_chats"),
            t("rep_funnel_tickets"),
            t("rep_funnel_leads"),
        ]
    )
    for r in rows:
        writer.writerow([_cell(r.key), r.visits, r.invited, r.chatted, r.ticketed, r.leads])
    return _download((_BOM + out.getvalue()).encode(), f"funnel-{query.by}")


_TAG = "reports"
_REPORT_HELP = (
    f"{_OVERSEERS} Figures per local day (d), ISO week (w) or month (m) of the box's zone, "
    "for the whole centre (`all`) or per agent, group, topic, channel or site, from rollups "
    "of events written as things happen (docs/reports.md defines every figure). A chat "
    "counts on the day it was offered. Without dates: the last 30 days. At most 800 days."
)

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/console/reports",
            reports_page,
            "Reports: figures, charts, tables, CSV and the staffing plan (overseers)",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            "/api/console/reports",
            get_report,
            "Figures per day, week or month, per dimension",
            _TAG,
            wire.ReportPage,
            query=wire.ReportQuery,
            errors=(401, 403, 422),
            description=_REPORT_HELP,
        ),
        Operation(
            "GET",
            "/api/console/reports.csv",
            export_report,
            "A report as CSV (UTF-8 with BOM, CRLF, for Excel)",
            _TAG,
            media="text/csv",
            query=wire.ReportQuery,
            errors=(401, 403, 422),
            description=f"{_REPORT_HELP} Headers in the page's language; a text cell that "
            "would start a spreadsheet formula (= + - @) starts with an apostrophe.",
        ),
        Operation(
            "GET",
            "/api/console/reports/funnel",
            get_funnel,
            "Visitors to customers: visits, invited, chats, tickets per source or page",
            _TAG,
            wire.FunnelPage,
            query=wire.FunnelQuery,
            errors=(401, 403, 422),
            description=f"{_OVERSEERS} Visits started on the days (the box's zone; those "
            "the insight retention keeps), grouped by source, search keyword or landing "
            "page (without its query), with how many were invited, chatted while the visit "
            "lasted, and led to a ticket from such a chat. The 200 most visited first.",
        ),
        Operation(
            "GET",
            "/api/console/reports/funnel.csv",
            export_funnel,
            "The funnel as CSV (UTF-8 with BOM, CRLF, for Excel)",
            _TAG,
            media="text/csv",
            query=wire.FunnelQuery,
            errors=(401, 403, 422),
            description=_OVERSEERS,
        ),
        Operation(
            "GET",
            "/api/console/reports/plan",
            get_plan,
            "Forecast of the next two weeks per half hour, with the agents needed",
            _TAG,
            wire.PlanPage,
            query=wire.PlanQuery,
            errors=(401, 403, 422),
            description=f"{_OVERSEERS} Chats offered per half hour from the last eight "
            "whole weeks (trend x day-of-week/half-hour profile), with the method's error on "
            "the last two weeks held out, and Erlang C agents for `level` % answered within "
            "`target` s (docs/reports.md states the assumptions).",
        ),
        Operation(
            "GET",
            "/api/console/reports/plan.csv",
            export_plan,
            "The staffing plan as CSV (UTF-8 with BOM, CRLF, for Excel)",
            _TAG,
            media="text/csv",
            query=wire.PlanQuery,
            errors=(401, 403, 422),
            description=_OVERSEERS,
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the reports' routes."""
    CONTRACT.install(app)
