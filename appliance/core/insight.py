"""Visitor tracking: visits, page views with dwell time, source, region and device,
and the live registry the console's visitor list is drawn from."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from dataclasses import asdict
from typing import Any, Protocol
from urllib.parse import urlsplit

from appliance.core.actors import Staff, Visitor
from appliance.core.clock import now_ms
from appliance.core.customers import read_profile
from appliance.core.db import Database
from appliance.core.errors import InvalidInput, NotFound, StorageFull
from appliance.core.events import ConversationChanged, Event, EventBus, RoutingChanged
from appliance.core.live import (
    TRAIL_MAX,
    CustomerBrief,
    Filter,
    LiveRegistry,
    LiveVisitor,
    Step,
    first_route,
    scope_of,
)
from appliance.core.referrer import Source, classify
from appliance.core.store import conversations as conversation_store
from appliance.core.store import customers as customer_store
from appliance.core.store import invitations as invitation_store
from appliance.core.store import routing as routing_store
from appliance.core.store import visitors as visitor_store
from appliance.core.store import visits as visit_store
from appliance.core.useragent import describe
from appliance.core.visitor_records import (
    PageViewRecorded,
    VisitorDetail,
    place,
)

_LOGGER = logging.getLogger(__name__)

VISIT_GAP_MS = 30 * 60 * 1000  # a page view after this much quiet starts a new visit
LIVE_GRACE_MS = 60 * 1000  # a visitor without a socket stays listed this long (navigation)
DAY_MS = 24 * 3600 * 1000
_URL_MAX = 2048
_TITLE_MAX = 256
_UA_MAX = 512
_SITE_MAX = 32
_DWELL_MAX = 24 * 3600 * 1000
_DETAIL_ROWS = 20  # visits and conversations a visitor's detail lists
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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


def region_of(location: Any) -> dict[str, str]:
    """Return the place of an IP table location."""
    return place(location.country, location.province, location.city, location.status)


def source_of(source: Source) -> dict[str, str]:
    """Return a visit's source as the live list holds it."""
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
        self._routes, self._default_group = await self._db.read(routing_store.placement)
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
                visitor.conversation_id = None if conv.status == "closed" else conv.id
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
    ) -> PageViewRecorded | None:
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

        def job(conn: sqlite3.Connection) -> tuple[PageViewRecorded, LiveVisitor | None]:
            visits = visitor_store.upsert(conn, visitor_id, now)
            last = visit_store.last_seen(conn, visitor_id)
            new_visit = last is None or now - last[1] > VISIT_GAP_MS or last[2] != site_key
            if new_visit or last is None:
                source, region, device = early or visit_facts()
                visit_id = visit_store.start(
                    conn,
                    visitor_id,
                    site_key,
                    now,
                    ip=ip,
                    place=region,
                    source=source,
                    referrer=referrer_url,
                    landing_url=address,
                    user_agent=agent,
                    device=device,
                )
                visits += 1
                visitor_store.record_visit(conn, visitor_id, visits, region["label"], device)
            else:
                visit_id = last[0]
                visit_store.extend(conn, visit_id, now)
            view_id = visit_store.add_page_view(
                conn, visit_id, visitor_id, address, page_title, now
            )
            fresh = None
            if new_visit or live is None or live.visit_id != visit_id:
                fresh = read_live(conn, visitor_id)
            return PageViewRecorded(view_id, visit_id, visits), fresh

        result, fresh = await self._db.write(job)
        self._after_view(visitor_id, result, fresh, address, page_title, now)
        return result

    def _after_view(
        self,
        visitor_id: str,
        result: PageViewRecorded,
        fresh: LiveVisitor | None,
        url: str,
        title: str,
        now: int,
    ) -> None:
        current = self.live.get(visitor_id)
        if fresh is not None:
            if current is not None:  # invitations and the cap outlive a visit
                fresh.invitation_id = current.invitation_id
                fresh.last_auto_invite_at = max(
                    fresh.last_auto_invite_at, current.last_auto_invite_at
                )
            current = fresh
        elif current is not None and current.visit_id == result.visit_id:
            current.trail.append(Step(result.id, url, title, now))
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
            stored = visit_store.record_dwell(conn, view_id, visitor_id, reported, now)
            if stored is None:
                raise NotFound("no such page view")
            return stored

        stored = await self._db.write(job)
        live = self.live.get(visitor_id)
        if live is not None:
            for step in reversed(live.trail):
                if step.id == view_id:
                    step.dwell_ms = stored
                    self.live.touch()
                    break

    # -- presence -------------------------------------------------------------

    def connected(self, visitor: Visitor) -> None:
        """A visitor's socket opened; load them when the registry does not hold them
        and they may be tracked."""
        visitor_id = visitor.id
        self._sockets[visitor_id] = self._sockets.get(visitor_id, 0) + 1
        live = self.live.get(visitor_id)
        if live is None:
            if self.tracks(visitor):
                self._spawn(self._revive(visitor_id))
            return
        live.sockets = self._sockets[visitor_id]
        live.left_at = None
        self.live.touch()

    async def _revive(self, visitor_id: str) -> None:
        """Bring back a visitor whose visit is still going (after a restart of the box)."""
        now = now_ms()

        def read(conn: sqlite3.Connection) -> LiveVisitor | None:
            last = visit_store.last_seen(conn, visitor_id)
            if last is None or now - last[1] > VISIT_GAP_MS:
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
        def read(conn: sqlite3.Connection) -> dict[str, tuple[CustomerBrief | None, str]]:
            found = {}
            for vid in visitor_ids:
                known = visitor_store.known(conn, vid)
                if known is not None:
                    found[vid] = (customer_store.brief(conn, known.customer_id), known.tier)
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
            views, visits = visit_store.prune(conn, cutoff)
            proofs = customer_store.prune_proofs(conn, now)
            return {"page_views": views, "visits": visits, "identity_proofs": proofs}

        counts: dict[str, int] = await self._db.write(job)
        if counts["page_views"] or counts["visits"]:
            _LOGGER.info("retention: deleted %(page_views)d page views, %(visits)d visits", counts)
        return counts

    # -- reading --------------------------------------------------------------

    async def served_by(self, visitor_id: str, user_id: int) -> bool:
        """Tell whether a user has (had) a chat with the visitor, as agent or invited."""
        found: bool = await self._db.read(
            lambda conn: conversation_store.served_by(conn, visitor_id, user_id)
        )
        return found

    async def detail(self, visitor_id: str) -> VisitorDetail:
        """Return a visitor (live or as last seen) with their trail, latest visits and
        conversations, and their customer profile when known."""
        live = self.live.get(visitor_id)

        def read(conn: sqlite3.Connection) -> VisitorDetail | None:
            known = live or read_live(conn, visitor_id)
            if known is None:
                return None
            return VisitorDetail(
                known,
                tuple(visit_store.of_visitor(conn, visitor_id, _DETAIL_ROWS)),
                tuple(conversation_store.chats_of_visitor(conn, visitor_id, _DETAIL_ROWS)),
                read_profile(conn, known.customer.id) if known.customer else None,
            )

        found = await self._db.read(read)
        if found is None:
            raise NotFound("no such visitor")
        if live is None:
            self._place(found.visitor)
        return found

    def visitors_for(
        self, actor: Staff, filt: Filter, offset: int = 0, limit: int = 50
    ) -> tuple[int, list[LiveVisitor]]:
        """One page of the live visitors a console user's scope shows, and how many."""
        return self.live.query(scope_of(actor), filt, offset, limit)

    async def detail_for(self, visitor_id: str, actor: Staff) -> VisitorDetail:
        """A visitor's detail for a console user: one in their scope, or one they chat
        or chatted with; anyone else is not found."""
        found = await self.detail(visitor_id)
        if not scope_of(actor).sees(found.visitor) and not await self.served_by(
            visitor_id, actor.id
        ):
            raise NotFound("no such visitor")
        return found


def read_live(conn: sqlite3.Connection, visitor_id: str) -> LiveVisitor | None:
    """Build a visitor's live entry from the store: their latest visit and its trail."""
    known = visitor_store.known(conn, visitor_id)
    if known is None:
        return None
    visit = visit_store.latest(conn, visitor_id)
    invited_at = invitation_store.last_automatic(conn, visitor_id)
    entry = LiveVisitor(
        id=visitor_id,
        visit_id=0,
        visits=known.visits,
        first_seen_at=known.created_at,
        last_seen_at=known.last_seen_at,
        # No page view yet (a chat opened before tracking, or tracking off): the same
        # shapes as a visit's, saying nothing is known.
        region=place("", "", "", "unknown"),
        source={"kind": "direct", "engine": "", "keyword": "", "site": "", "campaign": ""},
        device={},
        customer=customer_store.brief(conn, known.customer_id),
        tier=known.tier,
        conversation_id=conversation_store.open_chat_of(conn, visitor_id),
        invitation_id=invitation_store.pending_id(conn, visitor_id),
        last_auto_invite_at=invited_at,
    )
    if visit is not None:
        entry.visit_id = visit.id
        entry.last_seen_at = visit.last_seen_at
        entry.site = visit.site
        entry.region = dict(visit.region)
        entry.source = dict(visit.source)
        entry.device = dict(visit.device)
        entry.pages = visit.pages
        entry.trail = visit_store.trail(conn, visit.id, TRAIL_MAX)
    return entry


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
