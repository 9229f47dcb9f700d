"""The admin audit log on the admin page and API: a page of it, and the whole as CSV.

`admin_actor(request)` is who does an admin request, as the core's services record it:
every admin handler that changes something passes it on (`by=admin_actor(request)`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from appliance.core import audit
from appliance.core.clock import now_ms
from appliance.webui.contract import Contract, Operation, read_query, reply
from appliance.webui.keys import BOX, SESSION
from appliance.webui.pages import page_text
from appliance.webui.wire import audit as wire

# Excel reads a CSV as UTF-8 only when it starts with the byte-order mark; without it
# Chinese names come out as mojibake in the Chinese edition too.
_BOM = "\ufeff"
# A cell starting with one of these is a formula to Excel and LibreOffice (CSV
# injection): a user name "=HYPERLINK(…)" must stay text, so it gets a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_COLUMNS = (
    "audit_at",
    "audit_user",
    "audit_user_id",
    "audit_address",
    "audit_action",
    "audit_target",
    "audit_detail",
)


def admin_actor(request: web.Request) -> audit.Actor:
    """Return who makes this admin request: the session's user, from the client's address."""
    session = request.get(SESSION)
    assert session is not None, "admin routes need a session (policy.py)"
    return audit.Actor(session.user.id, session.user.username, request.remote or "")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _local(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def csv_rows(entries: list[audit.Entry]) -> str:
    """Return CSV lines for some entries: box-local times, formulas defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for e in entries:
        detail = json.dumps(wire.detail_of(e), ensure_ascii=False, separators=(",", ":"))
        row = (_local(e.at), e.user_name, e.user_id, e.address, e.action, e.target, detail)
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def csv_head(t: Callable[..., str]) -> str:
    """Return the byte-order mark and the header line, in the page's language."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([t(key) for key in _COLUMNS])
    return _BOM + out.getvalue()


async def get_audit(request: web.Request) -> web.Response:
    """Return a page of the admin audit log, newest first, filtered."""
    query = read_query(request, wire.AuditQuery)
    page = await request.app[BOX].audit.page(wire.query_in(query))
    return reply(wire.page_out(page))


async def get_facets(request: web.Request) -> web.Response:
    """Return the action codes and user names the log holds (its filters' choices)."""
    facets = await request.app[BOX].audit.facets()
    return reply(wire.AuditFacets(facets.actions, facets.users))


async def export_audit(request: web.Request) -> web.StreamResponse:
    """Stream the entries that match as CSV (UTF-8 with BOM, box-local times)."""
    query = wire.query_in(read_query(request, wire.AuditExportQuery))
    log = request.app[BOX].audit
    chunks = log.export(query)
    # A bad filter answers 422 here, before the download starts.
    first: list[audit.Entry] = await anext(chunks, [])
    stamp = datetime.fromtimestamp(now_ms() / 1000, tz=UTC).astimezone().strftime("%Y%m%d-%H%M")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="callbox-audit-{stamp}.csv"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    await response.write((csv_head(page_text(request)) + csv_rows(first)).encode())
    async for rows in chunks:
        await response.write(csv_rows(rows).encode())
    await response.write_eof()
    return response


_ADMINS = "Admins only (else 403), from the LAN only."
_TAG = "admin"

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/admin/audit",
            get_audit,
            "The admin audit log, newest first, filtered and paged",
            _TAG,
            wire.AuditPage,
            query=wire.AuditQuery,
            errors=(401, 403, 422),
            description=f"{_ADMINS} Every admin action (users, roles, devices, settings, "
            "imports, backups, enrolment) with who, from which address and when; the "
            "database refuses to change or delete an entry. `since` and `until` are days "
            "in the box's zone (both included); `action` is a code or a family ending in "
            "a dot (`user.`); `user` the name as recorded. Pass `next_before` as `before` "
            "for the next page.",
        ),
        Operation(
            "GET",
            "/api/admin/audit/facets",
            get_facets,
            "The action codes and user names the audit log holds",
            _TAG,
            wire.AuditFacets,
            errors=(401, 403),
            description=_ADMINS,
        ),
        Operation(
            "GET",
            "/api/admin/audit.csv",
            export_audit,
            "The admin audit log as CSV (UTF-8 with BOM, for Excel)",
            _TAG,
            media="text/csv",
            query=wire.AuditExportQuery,
            errors=(401, 403, 422),
            description=f"{_ADMINS} The same filters as the list, every matching entry, "
            "newest first: time (box-local, YYYY-MM-DD HH:MM:SS), user, user id, address, "
            "action, target, detail (JSON). Headers in the page's language. A cell that "
            "would start a spreadsheet formula (= + - @) starts with an apostrophe.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the audit log's routes."""
    CONTRACT.install(app)
