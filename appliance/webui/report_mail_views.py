"""Scheduled reports by e-mail over HTTP (overseers), and the runner's start with the
page catalog and the reports page's CSV writer (core/report_mail.py; docs/reports.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, Literal

import msgspec
from aiohttp import web

from appliance.core.report_figures import FIGURES
from appliance.core.report_mail import Rendered, ReportMail, plain_table
from appliance.core.reports import Report
from appliance.core.store.report_mail import Subscription
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.i18n import CATALOG, Catalog
from appliance.webui.keys import BOX
from appliance.webui.report_views import _DIM_TEXT, _FIGURE_TEXT, report_csv
from appliance.webui.team_views import int_path
from appliance.webui.wire import Time, wire_time
from appliance.webui.wire.team import Deleted
from appliance.webui.wire.tickets import TicketId

# The runner, once the core is open (a holder set before the app starts).
REPORT_MAIL = web.AppKey("report_mail", list)
_TAG = "reports"
_OVERSEERS = "Supervisors and admins (else 403)."
_ID = {"subscription_id": TicketId}
# The figures a mail's body shows; the CSV has them all.
KEY_FIGURES = (
    "offered",
    "answered",
    "missed",
    "abandoned",
    "first_response",
    "handling",
    "rating_mean",
    "tickets_created",
    "tickets_resolved",
    "backlog",
)
BODY_ROWS = 40  # rows of a mail's table; the rest are in the CSV

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Address = Annotated[str, msgspec.Meta(min_length=1, max_length=254)]
Hour = Annotated[int, msgspec.Meta(ge=0, le=23, description="the box's local time")]


class SubscriptionInput(msgspec.Struct, forbid_unknown_fields=True):
    """A scheduled report: what, to whom, when (daily; weekly on Mondays; monthly on
    the 1st, at `hour`), in which language."""

    name: Name
    recipients: Annotated[list[Address], msgspec.Meta(min_length=1, max_length=20)]
    frequency: Literal["daily", "weekly", "monthly"]
    hour: Hour
    period: Literal["d", "w", "m"]
    dim: Literal["all", "agent", "group", "topic", "channel", "site"]
    lang: Literal["zh-CN", "en"]
    enabled: bool = True


class SubscriptionOut(msgspec.Struct):
    """A scheduled report and when its schedule last mailed it."""

    id: int
    name: str
    recipients: list[str]
    frequency: Literal["daily", "weekly", "monthly"]
    hour: int
    period: Literal["d", "w", "m"]
    dim: Literal["all", "agent", "group", "topic", "channel", "site"]
    lang: Literal["zh-CN", "en"]
    enabled: bool
    last_period: str  # the period its schedule last mailed ('' none yet)
    last_sent_at: Time | None


class Subscriptions(msgspec.Struct):
    """Every scheduled report, and whether outgoing mail is set up (else none goes)."""

    subscriptions: list[SubscriptionOut]
    mail_ready: bool


class OneSubscription(msgspec.Struct):
    subscription: SubscriptionOut


class Queued(msgspec.Struct):
    """How many mails "send now" queued (one per address; 0: no outgoing mail set up)."""

    queued: int


def _out(s: Subscription) -> SubscriptionOut:
    return SubscriptionOut(
        s.id,
        s.name,
        s.recipients,
        s.frequency,  # type: ignore[arg-type]
        s.hour,
        s.period,  # type: ignore[arg-type]
        s.dim,  # type: ignore[arg-type]
        s.lang,  # type: ignore[arg-type]
        s.enabled,
        s.last_period,
        wire_time(s.last_sent_at),
    )


def _show(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return str(value)


def render(catalog: Catalog, found: Report, lang: str) -> Rendered:
    """Return a report as mailed: the page's CSV bytes and the key figures as text."""
    t: Callable[..., str] = catalog.translator(lang)
    units = dict(FIGURES)
    head = [
        t("rep_col_bucket"),
        t(_DIM_TEXT[found.dim]),
        *(t(_FIGURE_TEXT[f][0]) for f in KEY_FIGURES if f in units),
    ]
    rows = [
        [
            row.bucket,
            row.name or row.key or t("rep_all"),
            *(_show(row.values.get(f)) for f in KEY_FIGURES if f in units),
        ]
        for row in found.rows[:BODY_ROWS]
    ]
    table = plain_table(head, rows) if rows else t("rep_no_data")
    if len(found.rows) > BODY_ROWS:
        table += "\n" + t("rm_more_rows", n=len(found.rows) - BODY_ROWS)
    return Rendered(report_csv(found, t), table)


def _service(request: web.Request) -> ReportMail:
    service = request.app[REPORT_MAIL][0]
    if service is None:
        raise web.HTTPServiceUnavailable()
    return service  # type: ignore[no-any-return]


async def list_subscriptions(request: web.Request) -> web.Response:
    """Return every scheduled report."""
    service = _service(request)
    found = await service.subscriptions()
    return reply(Subscriptions([_out(s) for s in found], await service.mail_ready()))


async def create_subscription(request: web.Request) -> web.Response:
    """Add a scheduled report."""
    body = await read_body(request, SubscriptionInput)
    made = await _service(request).create(msgspec.to_builtins(body))
    return reply(OneSubscription(_out(made)), 201)


async def change_subscription(request: web.Request) -> web.Response:
    """Change a scheduled report (all of its settings)."""
    body = await read_body(request, SubscriptionInput)
    sub_id = int_path(request, "subscription_id")
    changed = await _service(request).update(sub_id, msgspec.to_builtins(body))
    return reply(OneSubscription(_out(changed)))


async def delete_subscription(request: web.Request) -> web.Response:
    """Delete a scheduled report."""
    await _service(request).delete(int_path(request, "subscription_id"))
    return reply(Deleted(True))


async def send_now(request: web.Request) -> web.Response:
    """Queue a scheduled report's newest period now, marked as sent by hand."""
    queued = await _service(request).send_now(int_path(request, "subscription_id"))
    return reply(Queued(queued))


_PATH = "/api/console/reports/subscriptions"
_ONE = _PATH + "/{subscription_id}"
_SCHEDULE = (
    "A subscription mails the report that just ended (yesterday, last ISO week, last "
    "month; `period` its buckets, `dim` its rows, as on the reports page) to 1 to 20 "
    "addresses, daily, on Mondays or on the 1st at `hour` of the box's local time, once "
    "a period: a box that was off mails the newest missed period once. The body holds "
    "the key figures; the CSV of the reports page is attached."
)

CONTRACT = Contract(
    [
        Operation(
            "GET",
            _PATH,
            list_subscriptions,
            "Scheduled reports by e-mail",
            _TAG,
            Subscriptions,
            errors=(401, 403),
            description=f"{_OVERSEERS} {_SCHEDULE}",
        ),
        Operation(
            "POST",
            _PATH,
            create_subscription,
            "Add a scheduled report",
            _TAG,
            OneSubscription,
            status=201,
            body=SubscriptionInput,
            errors=(401, 403, 409, 413, 422),
            description=f"{_OVERSEERS} 422 codes: bad_name, bad_recipients, bad_address. "
            "409: at most 200 scheduled reports.",
        ),
        Operation(
            "PUT",
            _ONE,
            change_subscription,
            "Change a scheduled report",
            _TAG,
            OneSubscription,
            body=SubscriptionInput,
            path_types=_ID,
            errors=(401, 403, 404, 413, 422),
            description=f"{_OVERSEERS} A new frequency or hour, or turning it on again, "
            "counts slots from now on.",
        ),
        Operation(
            "DELETE",
            _ONE,
            delete_subscription,
            "Delete a scheduled report",
            _TAG,
            Deleted,
            path_types=_ID,
            errors=(401, 403, 404),
            description=_OVERSEERS,
        ),
        Operation(
            "POST",
            _ONE + "/send",
            send_now,
            "Mail a scheduled report now (marked as sent by hand)",
            _TAG,
            Queued,
            path_types=_ID,
            errors=(401, 403, 404),
            description=f"{_OVERSEERS} Queues the newest ended period now; the schedule "
            "is not served by it and still mails that period at its time.",
        ),
    ]
)


async def runner_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the scheduled reports' runner once the core is open; stop it at cleanup."""
    box = app[BOX]
    service = ReportMail(box.db, box.reports, box.mail_out, partial(render, app[CATALOG]))
    app[REPORT_MAIL][0] = service
    service.start()
    try:
        yield
    finally:
        await service.close()
        app[REPORT_MAIL][0] = None


def add_routes(app: web.Application) -> None:
    """Register the scheduled reports' routes and their runner."""
    app[REPORT_MAIL] = [None]
    CONTRACT.install(app)
