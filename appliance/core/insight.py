"""Visitor tracking: visits, page views with dwell time, source, region and device,
and the live registry the console's visitor list is drawn from."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from dataclasses import asdict
from typing import Any, Protocol
from urllib.parse import urlsplit

from appliance.core.actors import Visitor
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import InvalidInput, NotFound, StorageFull
from appliance.core.events import ConversationChanged, Event, EventBus, RoutingChanged
from appliance.core.live import TRAIL_MAX, LiveRegistry, LiveVisitor, Step, first_route
from appliance.core.referrer import Source, classify
from appliance.core.store import visitors as visitor_store
from appliance.core.useragent import describe

_LOGGER = logging.getLogger(__name__)

VISIT_GAP_MS = 30 * 60 * 1000  # a page view after this much quiet starts a new visit
LIVE_GRACE_MS = 60 * 1000  # a visitor without a socket stays listed this long (navigation)
DAY_MS = 24 * 3600 * 1000
_URL_MAX = 2048
_TITLE_MAX = 256
_UA_MAX = 512
_SITE_MAX = 32
_DWELL_MAX = 24 * 3600 * 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Administrative suffixes dropped from region names, so "北京市" and "北京" are one region.
_REGION_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "省",
    "市",
)


class Locator(Protocol):
    """The IP table: address -> location (see core.iptable)."""

    def lookup(self, address: str) -> Any:
        """Return a location with status, country, province, city and label."""


class SiteDirectory(Protocol):
    """The websites that embed the widget (see core.boxsettings.Sites)."""

    def known(self, key: str) -> bool:
        """Tell whether a site key exists."""


class PrivacySettings(Protocol):
    """The admin's privacy choices (see core.boxsettings)."""

    @property
    def honour_dnt(self) -> bool:
        """Whether Do-Not-Track / Global Privacy Control stop tracking."""

    @property
    def page_view_days(self) -> int:
        """How long page views are kept."""


def short_region(name: str) -> str:
    """Drop an administrative suffix from a province or city name ("广东省" -> "广东")."""
    for suffix in _REGION_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def region_json(country: str, province: str, city: str, status: str) -> dict[str, str]:
    """Return the API form of a place, with the short label scopes match on."""
    label = (province or city or country) if status == "found" else ""
    return {
        "label": short_region(label),
        "country": country,
        "province": province,
        "city": city,
        "status": status,
    }


def region_of(location: Any) -> dict[str, str]:
    """Return the API form of an IP table location."""
    return region_json(location.country, location.province, location.city, location.status)


def source_of(source: Source) -> dict[str, str]:
    """Return the API form of a visit's source."""
    return {
        "kind": source.kind,
        "engine": source.engine,
        "keyword": source.keyword,
        "site": source.site,
        "campaign": source.utm.get("utm_campaign", ""),
    }


def _text(value: Any, limit: int, name: str, *, cut: bool = False) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    text = _CONTROL.sub(" ", value).strip()
    if len(text) > limit:
        if not cut:
            raise InvalidInput(f"{name} is longer than {limit} characters")
        text = text[:limit]
    return text


def page_url(value: Any) -> str:
    """Validate a page address: http(s), at most 2048 characters."""
    url = _text(value, _URL_MAX, "url")
    try:
        scheme = urlsplit(url).scheme
    except ValueError as err:
        raise InvalidInput("url is not a valid address") from err
    if scheme not in ("http", "https"):
        raise InvalidInput("url must be an http or https address")
    return url


class Insight:
    """Record what visitors do on the site and keep the list of who is on it now."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        locator: Locator,
        privacy: PrivacySettings,
        sites: SiteDirectory,
    ) -> None:
        self._db = db
        self._sites = sites
        self._bus = bus
        self._locator = locator
        self._privacy = privacy
        self.live = LiveRegistry()
        self._routes: list[tuple[str, str, int]] = []
        self._default_group: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sockets: dict[str, int] = {}  # open sockets per visitor (presence)
        self._unsubscribe = bus.subscribe(self._on_event)

    # -- start and stop -------------------------------------------------------

    async def open(self) -> None:
        """Load the routing rules that place a visitor in a product line."""
        await self._load_routes()

    async def close(self) -> None:
        """Stop listening and wait for background loads."""
        self._unsubscribe()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load_routes(self) -> None:
        def read(conn: sqlite3.Connection) -> tuple[list[tuple[str, str, int]], int | None]:
            routes = [
                (r[0], r[1], r[2])
                for r in conn.execute(
                    "SELECT url_pattern, region, group_id FROM routes ORDER BY position, id"
                )
            ]
            row = conn.execute(
                "SELECT id FROM groups ORDER BY is_default DESC, id LIMIT 1"
            ).fetchone()
            return routes, (row[0] if row else None)

        self._routes, self._default_group = await self._db.read(read)
        for visitor in self.live:
            self._place(visitor)
        self.live.touch()

    def _place(self, visitor: LiveVisitor) -> None:
        page = visitor.current
        visitor.group_id = first_route(
            self._routes,
            page.url if page else "",
            visitor.region.get("label", ""),
            self._default_group,
        )

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ConversationChanged):
            visitor = self.live.get(event.visitor_id)
            if visitor is not None:
                conv = event.conversation
                visitor.conversation_id = None if conv["status"] == "closed" else conv["id"]
                self.live.touch()
        elif isinstance(event, RoutingChanged):
            self._spawn(self._load_routes())

    # -- tracking -------------------------------------------------------------

    def tracks(self, visitor: Visitor) -> bool:
        """Tell whether a visitor may be tracked: Do-Not-Track or Global Privacy Control
        stop it when the admin says so."""
        return not (visitor.dnt and self._privacy.honour_dnt)

    async def page_view(
        self,
        visitor: Visitor,
        *,
        url: Any,
        title: Any,
        referrer: Any,
        site: str,
        user_agent: str,
    ) -> dict[str, int] | None:
        """Record a page view (starting a visit when needed); None when not tracked, and
        then the visitor leaves the live list too."""
        visitor_id, ip = visitor.id, visitor.address
        address = page_url(url)
        page_title = _text(title, _TITLE_MAX, "title", cut=True)
        referrer_url = _text(referrer, _URL_MAX, "referrer", cut=True)
        site_key = _text(site, _SITE_MAX, "site") or "default"
        if not self.tracks(visitor):
            self.forget(visitor_id)
            return None
        if not self._sites.known(site_key):
            raise InvalidInput("unknown site")
        now = now_ms()
        live = self.live.get(visitor_id)
        agent = user_agent[:_UA_MAX]

        def visit_facts() -> tuple[Source, dict[str, str], dict[str, str]]:
            """Source, region and device: only a new visit records them."""
            return (
                classify(referrer_url, address),
                region_of(self._locator.lookup(ip)),
                asdict(describe(agent)),
            )

        # Worked out here, off the writer's time, when a new visit is likely; a visit
        # that ended unseen (a race) works them out inside the write.
        likely_new = live is None or live.site != site_key or now - live.last_seen_at > VISIT_GAP_MS
        early = visit_facts() if likely_new else None

        def job(conn: sqlite3.Connection) -> tuple[dict[str, int], LiveVisitor | None]:
            visits = visitor_store.upsert(conn, visitor_id, now)
            last = conn.execute(
                "SELECT id, last_seen_at, site FROM visits WHERE visitor_id = ?"
                " ORDER BY started_at DESC LIMIT 1",
                (visitor_id,),
            ).fetchone()
            new_visit = last is None or now - last[1] > VISIT_GAP_MS or last[2] != site_key
            if new_visit:
                source, region, device = early or visit_facts()
                visit_id = conn.execute(
                    "INSERT INTO visits (visitor_id, site, started_at, last_seen_at, ip, country,"
                    " province, city, region_status, source_kind, engine, keyword, referrer,"
                    " referrer_host, utm, landing_url, user_agent, device, pages)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
                    " RETURNING id",
                    (
                        visitor_id,
                        site_key,
                        now,
                        now,
                        ip,
                        region["country"],
                        region["province"],
                        region["city"],
                        region["status"],
                        source.kind,
                        source.engine,
                        source.keyword,
                        referrer_url,
                        source.site,
                        json.dumps(source.utm, ensure_ascii=False),
                        address,
                        agent,
                        json.dumps(device, ensure_ascii=False),
                    ),
                ).fetchone()[0]
                visits += 1
                conn.execute(
                    "UPDATE visitors SET visits = ?, region = ?, device = ? WHERE id = ?",
                    (visits, region["label"], json.dumps(device, ensure_ascii=False), visitor_id),
                )
            else:
                visit_id = last[0]
                conn.execute(
                    "UPDATE visits SET last_seen_at = ?, pages = pages + 1 WHERE id = ?",
                    (now, visit_id),
                )
            view_id = conn.execute(
                "INSERT INTO page_views (visit_id, visitor_id, url, title, started_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (visit_id, visitor_id, address, page_title, now),
            ).fetchone()[0]
            fresh = None
            if new_visit or live is None or live.visit_id != visit_id:
                fresh = read_live(conn, visitor_id)
            result = {"id": view_id, "visit_id": visit_id, "visit_number": visits}
            return result, fresh

        result, fresh = await self._db.write(job)
        self._after_view(visitor_id, result, fresh, address, page_title, now)
        return result

    def _after_view(
        self,
        visitor_id: str,
        result: dict[str, int],
        fresh: LiveVisitor | None,
        url: str,
        title: str,
        now: int,
    ) -> None:
        current = self.live.get(visitor_id)
        if fresh is not None:
            if current is not None:  # invitations and the cap outlive a visit
                fresh.invitation = current.invitation
                fresh.last_auto_invite_at = max(
                    fresh.last_auto_invite_at, current.last_auto_invite_at
                )
            current = fresh
        elif current is not None and current.visit_id == result["visit_id"]:
            current.trail.append(Step(result["id"], url, title, now))
            del current.trail[:-TRAIL_MAX]
            current.pages += 1
            current.last_seen_at = now
        if current is None:
            return
        current.sockets = self._sockets.get(visitor_id, 0)
        current.left_at = None if current.sockets else now
        self._place(current)
        self.live.put(current)

    async def dwell(self, visitor: Visitor, view_id: Any, dwell_ms: Any) -> None:
        """Record how long a page was visible (the largest report wins, bounded by wall
        time); nothing when the visitor is not tracked."""
        if isinstance(dwell_ms, bool) or not isinstance(dwell_ms, int) or dwell_ms < 0:
            raise InvalidInput("dwell_ms must be a non-negative integer")
        if isinstance(view_id, bool) or not isinstance(view_id, int):
            raise InvalidInput("page view id must be an integer")
        if not self.tracks(visitor):
            return
        visitor_id = visitor.id
        now = now_ms()
        reported = min(dwell_ms, _DWELL_MAX)

        def job(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "UPDATE page_views SET dwell_ms = max(dwell_ms, min(?, ? - started_at))"
                " WHERE id = ? AND visitor_id = ? RETURNING dwell_ms",
                (reported, now, view_id, visitor_id),
            ).fetchone()
            if row is None:
                raise NotFound("no such page view")
            return int(row[0])

        stored = await self._db.write(job)
        live = self.live.get(visitor_id)
        if live is not None:
            for step in reversed(live.trail):
                if step.id == view_id:
                    step.dwell_ms = stored
                    self.live.touch()
                    break

    # -- presence -------------------------------------------------------------

    def connected(self, visitor_id: str) -> None:
        """A visitor's socket opened; load them when the registry does not hold them."""
        self._sockets[visitor_id] = self._sockets.get(visitor_id, 0) + 1
        visitor = self.live.get(visitor_id)
        if visitor is None:
            self._spawn(self._revive(visitor_id))
            return
        visitor.sockets = self._sockets[visitor_id]
        visitor.left_at = None
        self.live.touch()

    async def _revive(self, visitor_id: str) -> None:
        """Bring back a visitor whose visit is still going (after a restart of the box)."""
        now = now_ms()

        def read(conn: sqlite3.Connection) -> LiveVisitor | None:
            row = conn.execute(
                "SELECT last_seen_at FROM visits WHERE visitor_id = ?"
                " ORDER BY started_at DESC LIMIT 1",
                (visitor_id,),
            ).fetchone()
            if row is None or now - row[0] > VISIT_GAP_MS:
                return None
            return read_live(conn, visitor_id)

        found = await self._db.read(read)
        sockets = self._sockets.get(visitor_id, 0)
        if found is None or sockets == 0 or self.live.get(visitor_id) is not None:
            return  # not visiting, gone again, or a page view got there first
        found.sockets = sockets
        self._place(found)
        self.live.put(found)

    def disconnected(self, visitor_id: str) -> None:
        """A visitor's socket closed; they stay listed for the grace period."""
        left = self._sockets.get(visitor_id, 0) - 1
        if left > 0:
            self._sockets[visitor_id] = left
        else:
            self._sockets.pop(visitor_id, None)
        visitor = self.live.get(visitor_id)
        if visitor is not None:
            visitor.sockets = max(left, 0)
            if visitor.sockets == 0:
                visitor.left_at = now_ms()
            self.live.touch()

    def customers_changed(self, visitor_ids: list[str]) -> None:
        """Reload the customer shown for live visitors whose profile or link changed."""
        live = [v for v in visitor_ids if self.live.get(v) is not None]
        if live:
            self._spawn(self._reload_customers(live))

    async def _reload_customers(self, visitor_ids: list[str]) -> None:
        def read(conn: sqlite3.Connection) -> dict[str, tuple[Any, str]]:
            found = {}
            for vid in visitor_ids:
                row = conn.execute(
                    "SELECT customer_id, tier FROM visitors WHERE id = ?", (vid,)
                ).fetchone()
                if row is not None:
                    found[vid] = (customer_brief(conn, row[0]), row[1])
            return found

        for vid, (customer, tier) in (await self._db.read(read)).items():
            visitor = self.live.get(vid)
            if visitor is not None:
                visitor.customer, visitor.tier = customer, tier
                visitor.refresh_search()
        self.live.touch()

    def forget(self, visitor_id: str) -> None:
        """Drop a visitor from the live list (they asked not to be tracked)."""
        self.live.remove(visitor_id)

    def departed(self, now: int | None = None) -> list[LiveVisitor]:
        """Remove and return visitors gone longer than the grace period."""
        now = now_ms() if now is None else now
        gone = [
            v
            for v in self.live
            if v.sockets == 0 and now - (v.left_at or v.last_seen_at) > LIVE_GRACE_MS
        ]
        for visitor in gone:
            self.live.remove(visitor.id)
        return gone

    # -- retention ------------------------------------------------------------

    async def prune(self, now: int | None = None) -> dict[str, int]:
        """Delete page views and visits older than the retention period; return counts."""
        now = now_ms() if now is None else now
        cutoff = now - self._privacy.page_view_days * DAY_MS

        def job(conn: sqlite3.Connection) -> dict[str, int]:
            views = conn.execute("DELETE FROM page_views WHERE started_at < ?", (cutoff,))
            visits = conn.execute(
                "DELETE FROM visits WHERE last_seen_at < ? AND NOT EXISTS"
                " (SELECT 1 FROM page_views p WHERE p.visit_id = visits.id)",
                (cutoff,),
            )
            proofs = conn.execute("DELETE FROM identity_proofs WHERE expires_at < ?", (now,))
            return {
                "page_views": views.rowcount,
                "visits": visits.rowcount,
                "identity_proofs": proofs.rowcount,
            }

        counts: dict[str, int] = await self._db.write(job)
        if counts["page_views"] or counts["visits"]:
            _LOGGER.info("retention: deleted %(page_views)d page views, %(visits)d visits", counts)
        return counts

    # -- reading --------------------------------------------------------------

    async def served_by(self, visitor_id: str, user_id: int) -> bool:
        """Tell whether a user has (had) a chat with the visitor, as agent or invited."""
        row = await self._db.fetchone(
            "SELECT 1 FROM conversations c WHERE c.visitor_id = ? AND (c.agent_id = ? OR"
            " EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = c.id"
            " AND p.user_id = ?)) LIMIT 1",
            (visitor_id, user_id, user_id),
        )
        return row is not None

    async def detail(self, visitor_id: str) -> tuple[LiveVisitor, dict[str, Any]]:
        """Return a visitor (live or as last seen) and their row with trail, visits and
        conversations."""

        live = self.live.get(visitor_id)

        def read(conn: sqlite3.Connection) -> dict[str, Any] | None:
            known = live or read_live(conn, visitor_id)
            if known is None:
                return None
            visits = [
                visit_json(r)
                for r in conn.execute(
                    f"SELECT {VISIT_COLUMNS} FROM visits WHERE visitor_id = ?"
                    " ORDER BY started_at DESC LIMIT 20",
                    (visitor_id,),
                )
            ]
            conversations = [
                dict(r)
                for r in conn.execute(
                    "SELECT c.id, c.status, c.created_at, c.closed_at, c.agent_id,"
                    " u.display_name AS agent"
                    " FROM conversations c LEFT JOIN users u ON u.id = c.agent_id"
                    " WHERE c.visitor_id = ? ORDER BY c.created_at DESC LIMIT 20",
                    (visitor_id,),
                )
            ]
            return {"known": known, "visits": visits, "conversations": conversations}

        found = await self._db.read(read)
        if found is None:
            raise NotFound("no such visitor")
        visitor: LiveVisitor = found["known"]
        if live is None:
            self._place(visitor)
        data = visitor.row()
        data["trail"] = [step.public() for step in visitor.trail]
        data["visits"] = found["visits"]
        data["conversations"] = found["conversations"]
        return visitor, data


VISIT_COLUMNS = (
    "id, site, started_at, last_seen_at, country, province, city, region_status, source_kind,"
    " engine, keyword, referrer_host, utm, landing_url, device, pages"
)


def visit_json(row: sqlite3.Row) -> dict[str, Any]:
    """Return the API form of a visit row."""
    utm = json.loads(row["utm"] or "{}")
    return {
        "id": row["id"],
        "site": row["site"],
        "started_at": row["started_at"],
        "last_seen_at": row["last_seen_at"],
        "region": region_json(row["country"], row["province"], row["city"], row["region_status"]),
        "source": {
            "kind": row["source_kind"],
            "engine": row["engine"],
            "keyword": row["keyword"],
            "site": row["referrer_host"],
            "campaign": utm.get("utm_campaign", ""),
        },
        "landing_url": row["landing_url"],
        "device": json.loads(row["device"] or "{}"),
        "pages": row["pages"],
    }


def customer_brief(conn: sqlite3.Connection, customer_id: int | None) -> dict[str, Any] | None:
    """Return the short form of a customer the live list shows."""
    if customer_id is None:
        return None
    row = conn.execute(
        "SELECT id, name, tier, verified FROM customers WHERE id = ?", (customer_id,)
    ).fetchone()
    if row is None:
        return None
    return {"id": row[0], "name": row[1], "tier": row[2], "verified": bool(row[3])}


def read_live(conn: sqlite3.Connection, visitor_id: str) -> LiveVisitor | None:
    """Build a visitor's live entry from the store: their latest visit and its trail."""
    visitor = conn.execute(
        "SELECT id, created_at, last_seen_at, visits, customer_id, tier FROM visitors WHERE id = ?",
        (visitor_id,),
    ).fetchone()
    if visitor is None:
        return None
    visit = conn.execute(
        f"SELECT {VISIT_COLUMNS} FROM visits WHERE visitor_id = ? ORDER BY started_at DESC LIMIT 1",
        (visitor_id,),
    ).fetchone()
    trail: list[Step] = []
    pages = 0
    # No page view yet (a chat opened before tracking, or tracking off): the same shapes
    # as a visit's, saying nothing is known.
    summary: dict[str, Any] = {
        "region": region_json("", "", "", "unknown"),
        "source": {"kind": "direct", "engine": "", "keyword": "", "site": "", "campaign": ""},
        "device": {},
        "site": "",
    }
    if visit is not None:
        summary = visit_json(visit)
        pages = visit["pages"]
        rows = conn.execute(
            "SELECT id, url, title, started_at, dwell_ms FROM page_views WHERE visit_id = ?"
            " ORDER BY started_at DESC, id DESC LIMIT ?",
            (visit["id"], TRAIL_MAX),
        ).fetchall()
        trail = [Step(r[0], r[1], r[2], r[3], r[4]) for r in reversed(rows)]
    open_conv = conn.execute(
        "SELECT id FROM conversations WHERE visitor_id = ? AND status != 'closed'"
        " ORDER BY created_at DESC LIMIT 1",
        (visitor_id,),
    ).fetchone()
    invited = conn.execute(
        "SELECT max(created_at) FROM invitations WHERE visitor_id = ? AND rule_id IS NOT NULL",
        (visitor_id,),
    ).fetchone()
    pending = conn.execute(
        "SELECT id FROM invitations WHERE visitor_id = ? AND status = 'pending'"
        " ORDER BY id DESC LIMIT 1",
        (visitor_id,),
    ).fetchone()
    return LiveVisitor(
        id=visitor_id,
        visit_id=visit["id"] if visit is not None else 0,
        visits=visitor["visits"],
        first_seen_at=visitor["created_at"],
        last_seen_at=visit["last_seen_at"] if visit is not None else visitor["last_seen_at"],
        site=summary["site"],
        region=summary["region"],
        source=summary["source"],
        device=summary["device"],
        customer=customer_brief(conn, visitor["customer_id"]),
        tier=visitor["tier"],
        trail=trail,
        pages=pages,
        conversation_id=open_conv[0] if open_conv else None,
        invitation={"id": pending[0], "status": "pending"} if pending else None,
        auto_invited=False,
        last_auto_invite_at=(invited[0] or 0) if invited else 0,
    )


async def run_retention(insight: Insight, every: float = 3600.0) -> None:
    """Enforce the retention period at start and then every hour."""
    while True:
        try:
            await insight.prune()
        except StorageFull:
            pass  # the store logs a full disk itself; pruning runs again in an hour
        except sqlite3.Error:
            _LOGGER.exception("retention pass failed; it runs again in an hour")
        await asyncio.sleep(every)
