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
