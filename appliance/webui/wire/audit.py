"""Shapes of the admin audit log on the wire: its filters, a page, the filters' choices."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import msgspec

from appliance.core import audit as core
from appliance.webui.wire import Time, wire_time

ActionFilter = Annotated[
    str,
    msgspec.Meta(
        max_length=41,
        pattern=r"^([a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.?)?$",
        description="an action code (`user.role`), or a family ending in a dot (`user.`)",
    ),
]
Day = Annotated[date, msgspec.Meta(description="a day in the box's time zone (YYYY-MM-DD)")]


class AuditQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Which entries: every filter is optional; the newest come first."""

    action: ActionFilter = ""
    user: Annotated[
        str, msgspec.Meta(max_length=core.NAME_MAX, description="the user's name as recorded")
    ] = ""
    since: Day | None = None
    until: Annotated[Day, msgspec.Meta(description="the last day, included")] | None = None
    before: (
        Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1, description="the next page: `next_before`")]
        | None
    ) = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=core.PAGE_MAX)] = 50


class AuditExportQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Which entries go in the CSV: the same filters as the list, every page."""

    action: ActionFilter = ""
    user: Annotated[str, msgspec.Meta(max_length=core.NAME_MAX)] = ""
    since: Day | None = None
    until: Day | None = None


class AuditEntry(msgspec.Struct):
    """One admin action: who (`user_id` null for the command line or the setup link),
    from which address (`cli` for the command line), when, what and on what."""

    id: int
    at: Time
    user_id: int | None
    user_name: str
    address: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditPage(msgspec.Struct):
    """A page of the log, newest first; `next_before` is null on the last page."""

    entries: list[AuditEntry]
    next_before: int | None


class AuditFacets(msgspec.Struct):
    """The action codes and user names recorded so far (the filters' choices)."""

    actions: list[str]
    users: list[str]


def detail_of(entry: core.Entry) -> dict[str, Any]:
    """Return an entry's detail as an object (the database holds only objects)."""
    value = json.loads(entry.detail)
    return value if isinstance(value, dict) else {}


def entry_out(entry: core.Entry) -> AuditEntry:
    """Return the wire form of a log entry."""
    return AuditEntry(
        entry.id,
        wire_time(entry.at),
        entry.user_id,
        entry.user_name,
        entry.address,
        entry.action,
        entry.target,
        detail_of(entry),
    )


def page_out(page: core.Page) -> AuditPage:
    """Return the wire form of a page of the log."""
    return AuditPage([entry_out(e) for e in page.entries], page.next_before)


def query_in(query: AuditQuery | AuditExportQuery) -> core.Query:
    """Return the core's query for the wire's filters."""
    if isinstance(query, AuditQuery):
        return core.Query(
            query.action, query.user, query.since, query.until, query.before, query.limit
        )
    return core.Query(query.action, query.user, query.since, query.until)
