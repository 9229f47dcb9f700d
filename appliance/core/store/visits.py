"""Store of the visits, page_views tables."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping

from appliance.core.live import Step
from appliance.core.referrer import Source
from appliance.core.visitor_records import Visit, place

_VISIT = (
    "id, visitor_id, site, started_at, last_seen_at, country, province, city, region_status,"
    " source_kind, engine, keyword, referrer_host, utm, landing_url, device, pages"
)


def _visit(row: sqlite3.Row) -> Visit:
    utm = json.loads(row["utm"] or "{}")
    return Visit(
        id=row["id"],
        visitor_id=row["visitor_id"],
        site=row["site"],
        started_at=row["started_at"],
        last_seen_at=row["last_seen_at"],
        region=place(row["country"], row["province"], row["city"], row["region_status"]),
        source={
            "kind": row["source_kind"],
            "engine": row["engine"],
            "keyword": row["keyword"],
            "site": row["referrer_host"],
            "campaign": utm.get("utm_campaign", ""),
        },
        landing_url=row["landing_url"],
        device=json.loads(row["device"] or "{}"),
        pages=row["pages"],
    )


def latest(conn: sqlite3.Connection, visitor_id: str) -> Visit | None:
    """Return a visitor's latest visit."""
    row = conn.execute(
        f"SELECT {_VISIT} FROM visits WHERE visitor_id = ? ORDER BY started_at DESC LIMIT 1",
        (visitor_id,),
    ).fetchone()
    return _visit(row) if row is not None else None


def last_seen(conn: sqlite3.Connection, visitor_id: str) -> tuple[int, int, str] | None:
    """Return a visitor's latest visit as (id, last_seen_at, site): what every page view
    needs to tell whether it goes on, read on the writer without building the Visit."""
    row = conn.execute(
        "SELECT id, last_seen_at, site FROM visits WHERE visitor_id = ?"
        " ORDER BY started_at DESC LIMIT 1",
        (visitor_id,),
    ).fetchone()
    return (row[0], row[1], row[2]) if row is not None else None


def of_visitor(conn: sqlite3.Connection, visitor_id: str, limit: int) -> list[Visit]:
    """Return a visitor's latest visits, newest first."""
    rows = conn.execute(
        f"SELECT {_VISIT} FROM visits WHERE visitor_id = ? ORDER BY started_at DESC LIMIT ?",
        (visitor_id, limit),
    )
    return [_visit(r) for r in rows]


def of_customer(conn: sqlite3.Connection, customer_id: int, limit: int) -> list[Visit]:
    """Return the latest visits of every visitor (device) of a customer, newest first."""
    rows = conn.execute(
        f"SELECT {_VISIT} FROM visits WHERE visitor_id IN"
        " (SELECT id FROM visitors WHERE customer_id = ?) ORDER BY started_at DESC LIMIT ?",
        (customer_id, limit),
    )
    return [_visit(r) for r in rows]


def start(
    conn: sqlite3.Connection,
    visitor_id: str,
    site: str,
    now: int,
    *,
    ip: str,
    place: Mapping[str, str],
    source: Source,
    referrer: str,
    landing_url: str,
    user_agent: str,
    device: Mapping[str, str],
) -> int:
    """Start a visit with its first page; return its id."""
    row = conn.execute(
        "INSERT INTO visits (visitor_id, site, started_at, last_seen_at, ip, country,"
        " province, city, region_status, source_kind, engine, keyword, referrer,"
        " referrer_host, utm, landing_url, user_agent, device, pages)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
        " RETURNING id",
        (
            visitor_id,
            site,
            now,
            now,
            ip,
            place["country"],
            place["province"],
            place["city"],
            place["status"],
            source.kind,
            source.engine,
            source.keyword,
            referrer,
            source.site,
            json.dumps(source.utm, ensure_ascii=False),
            landing_url,
            user_agent,
            json.dumps(device, ensure_ascii=False),
        ),
    ).fetchone()
    return int(row[0])


def extend(conn: sqlite3.Connection, visit_id: int, now: int) -> None:
    """Count one more page of a visit, seen at `now`."""
    conn.execute(
        "UPDATE visits SET last_seen_at = ?, pages = pages + 1 WHERE id = ?", (now, visit_id)
    )


def add_page_view(
    conn: sqlite3.Connection, visit_id: int, visitor_id: str, url: str, title: str, now: int
) -> int:
    """Record a page view; return its id."""
    row = conn.execute(
        "INSERT INTO page_views (visit_id, visitor_id, url, title, started_at)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id",
        (visit_id, visitor_id, url, title, now),
    ).fetchone()
    return int(row[0])


def record_dwell(
    conn: sqlite3.Connection, view_id: int, visitor_id: str, reported: int, now: int
) -> int | None:
    """Keep the largest visible time reported, bounded by the page's age; return it, or
    None when the visitor has no such page view."""
    row = conn.execute(
        "UPDATE page_views SET dwell_ms = max(dwell_ms, min(?, ? - started_at))"
        " WHERE id = ? AND visitor_id = ? RETURNING dwell_ms",
        (reported, now, view_id, visitor_id),
    ).fetchone()
    return int(row[0]) if row is not None else None


def trail(conn: sqlite3.Connection, visit_id: int, limit: int) -> list[Step]:
    """Return the last page views of a visit, oldest first."""
    rows = conn.execute(
        "SELECT id, url, title, started_at, dwell_ms FROM page_views WHERE visit_id = ?"
        " ORDER BY started_at DESC, id DESC LIMIT ?",
        (visit_id, limit),
    ).fetchall()
    return [Step(r[0], r[1], r[2], r[3], r[4]) for r in reversed(rows)]


def prune(conn: sqlite3.Connection, cutoff: int) -> tuple[int, int]:
    """Delete page views started before `cutoff`, then visits left without any that
    ended before it; return how many of each."""
    views = conn.execute("DELETE FROM page_views WHERE started_at < ?", (cutoff,))
    visits = conn.execute(
        "DELETE FROM visits WHERE last_seen_at < ? AND NOT EXISTS"
        " (SELECT 1 FROM page_views p WHERE p.visit_id = visits.id)",
        (cutoff,),
    )
    return views.rowcount, visits.rowcount


# How the funnel groups visits (store of the reports' visitors-to-customers funnel).
_FUNNEL_KEYS = {
    "source": "CASE v.source_kind WHEN 'search' THEN 'search:' || v.engine"
    " WHEN 'referral' THEN 'referral:' || v.referrer_host"
    " WHEN 'campaign' THEN 'campaign:' || coalesce(json_extract(v.utm, '$.utm_campaign'), '')"
    " ELSE v.source_kind END",
    "keyword": "CASE WHEN v.keyword != '' THEN v.engine || ':' || v.keyword ELSE '' END",
    "landing": "CASE instr(v.landing_url, '?') WHEN 0 THEN v.landing_url"
    " ELSE substr(v.landing_url, 1, instr(v.landing_url, '?') - 1) END",
}
FUNNEL_BY = tuple(_FUNNEL_KEYS)


def funnel(
    conn: sqlite3.Connection, by: str, since: int, until: int, limit: int
) -> list[tuple[str, int, int, int, int, int]]:
    """Return (key, visits, invited, chatted, ticketed, leads) of visits started in
    [since, until).

    A visit chatted when its visitor opened a chat while it lasted (to its last page
    view); it led to a ticket when one of those chats has one. Leads are visitors
    (each counted once per row) who left contact details while a visit lasted: they
    became a customer with an e-mail or phone then (the pre-chat form), or left a
    message or call-back request then (a ticket they left in the widget)."""
    key = _FUNNEL_KEYS[by]
    rows = conn.execute(
        "WITH v AS (SELECT * FROM visits WHERE started_at >= ? AND started_at < ?)"
        f" SELECT {key} AS k, count(*),"
        " sum(EXISTS (SELECT 1 FROM invitations i WHERE i.visit_id = v.id)),"
        " sum(EXISTS (SELECT 1 FROM conversations c WHERE c.visitor_id = v.visitor_id"
        "   AND c.created_at BETWEEN v.started_at AND v.last_seen_at)),"
        " sum(EXISTS (SELECT 1 FROM conversations c JOIN ticket_conversations tc"
        "   ON tc.conversation_id = c.id WHERE c.visitor_id = v.visitor_id"
        "   AND c.created_at BETWEEN v.started_at AND v.last_seen_at)),"
        " count(DISTINCT CASE WHEN EXISTS (SELECT 1 FROM visitors r JOIN customers cu"
        "   ON cu.id = r.customer_id WHERE r.id = v.visitor_id"
        "   AND (cu.email != '' OR cu.phone != '')"
        "   AND cu.created_at BETWEEN v.started_at AND v.last_seen_at)"
        "  OR EXISTS (SELECT 1 FROM ticket_visitors tv JOIN tickets t ON t.id = tv.ticket_id"
        "   WHERE tv.visitor_id = v.visitor_id"
        "   AND t.created_at BETWEEN v.started_at AND v.last_seen_at)"
        "  THEN v.visitor_id END)"
        " FROM v GROUP BY k ORDER BY count(*) DESC, k LIMIT ?",
        (since, until, limit),
    )
    return [(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]
