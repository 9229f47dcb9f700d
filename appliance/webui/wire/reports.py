"""Shapes of the reports on the wire: a report's question and rows, a staffing plan."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec

from appliance.webui.wire import Time

Day = Annotated[date, msgspec.Meta(description="a day in the box's time zone (YYYY-MM-DD)")]
Period = Literal["d", "w", "m"]
Dim = Literal["all", "agent", "group", "topic", "channel", "site"]


class ReportQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Which figures: per day, ISO week or month, for the centre or per dimension."""

    period: Period = "d"
    dim: Dim = "all"
    # Both days are the box's; missing: the last 30 days to today.
    start: Day | None = None  # the first day
    end: Day | None = None  # the last day, included


class FigureInfo(msgspec.Struct):
    """A figure's id and unit: n count, s seconds, pct 0..100, score 1..5, h hours."""

    id: str
    unit: str


class ReportRow(msgspec.Struct):
    """One bucket (2026-12-06, 2026-W49, 2026-12) of one key (an agent's id, a group's
    id, a topic's key, a channel, a site; '' for the centre) and its figures (null: no
    data to compute it from)."""

    bucket: str
    key: str
    name: str
    values: dict[str, float | int | None]


class ReportPage(msgspec.Struct):
    """A report: its question, the figures it has, its rows, and how fresh it is."""

    period: Period
    dim: Dim
    start: Day
    end: Day
    zone: str
    rolled_at: Time | None
    figures: list[FigureInfo]
    rows: list[ReportRow]


class PlanQuery(msgspec.Struct, forbid_unknown_fields=True):
    """A service-level target, and how the agents work."""

    level: Annotated[int, msgspec.Meta(ge=1, le=99, description="percent answered in time")] = 80
    target: Annotated[int, msgspec.Meta(ge=1, le=3600, description="seconds to answer")] = 20
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=20, description="chats at once")] = 1
    aht: (
        Annotated[
            int, msgspec.Meta(ge=1, le=86400, description="handling time in s; missing: history's")
        ]
        | None
    ) = None


class PlanSlot(msgspec.Struct):
    """A half hour: its local start, the contacts expected and the agents needed."""

    start: Time
    expected: float
    agents: int
    service_level: float
    occupancy: float


class PlanPage(msgspec.Struct):
    """The next two weeks: method, its error on held-out weeks, and the half hours."""

    method: str
    history_from: Day
    weeks: int
    held_out_weeks: int
    wape: float | None
    mape: float | None
    naive_wape: float | None
    weekly_trend: float
    aht: float
    aht_from_history: bool
    level: int
    target: int
    concurrency: int
    slots: list[PlanSlot]


class FunnelQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Which visits: by source, search keyword or landing page, over days."""

    by: Literal["source", "keyword", "landing"] = "source"
    start: Day | None = None  # the first day
    end: Day | None = None  # the last day, included


class FunnelRow(msgspec.Struct):
    """Visits from one source (search:baidu, referral:host, campaign:name, direct), one
    keyword (engine:words) or one landing page, and how many were invited, chatted and
    led to a ticket; rates are shares of the visits (0..1; null without visits)."""

    key: str
    visits: int
    invited: int
    chatted: int
    ticketed: int
    chat_rate: float | None
    ticket_rate: float | None
    leads: int = 0  # visitors who left contact details in these visits (docs/reports.md)
    lead_rate: float | None = None  # leads / visits


class FunnelPage(msgspec.Struct):
    """The funnel visits -> invited -> chats -> tickets, the most visited first."""

    by: str
    start: Day
    end: Day
    rows: list[FunnelRow]
