"""Who is on the site now: an in-memory registry of live visitors, filtered per scope.

Only the process holds it; the store keeps the visits and page views it is built from,
so after a restart a visitor reappears with their next page view or socket.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from appliance.core.actors import Staff
from appliance.core.routing import matching_route

TRAIL_MAX = 50  # page views of the current visit kept in memory per visitor
QUERY_LIMIT_MAX = 200  # rows per page of the live list
_FILTER_TEXT_MAX = 100
STATUSES = ("browsing", "chatting", "invited")
SOURCE_KINDS = ("search", "campaign", "referral", "direct")


@dataclass(slots=True)
class Step:
    """One page view of the current visit."""

    id: int
    url: str
    title: str
    started_at: int
    dwell_ms: int = 0


@dataclass(frozen=True, slots=True)
class CustomerBrief:
    """The customer a live visitor is known to be, as the live list shows them."""

    id: int
    name: str
    tier: str
    verified: bool


@dataclass(slots=True)
class LiveVisitor:
    """What the console shows of one visitor on the site now."""

    id: str
    visit_id: int
    visits: int
    first_seen_at: int
    last_seen_at: int
    site: str = ""
    region: dict[str, str] = field(default_factory=dict)  # label, country, province, city, status
    source: dict[str, str] = field(default_factory=dict)  # kind, engine, keyword, site, campaign
    device: dict[str, str] = field(default_factory=dict)  # browser, os, kind
    customer: CustomerBrief | None = None
    tier: str = "new"
    trail: list[Step] = field(default_factory=list)
    pages: int = 0
    group_id: int | None = None
    sockets: int = 0
    left_at: int | None = None  # when the last socket closed
    conversation_id: str | None = None
    invitation_id: int | None = None  # the pending invitation (only while live)
    auto_invited: bool = False  # an automatic invitation went out in this visit
    last_auto_invite_at: int = 0  # the last automatic invitation, any visit
    search_text: str = ""

    @property
    def current(self) -> Step | None:
        """The page the visitor is on."""
        return self.trail[-1] if self.trail else None

    @property
    def status(self) -> str:
        """browsing, chatting or invited."""
        if self.conversation_id is not None:
            return "chatting"
        if self.invitation_id is not None:
            return "invited"
        return "browsing"

    def refresh_search(self) -> None:
        """Rebuild the lower-case text the live list's search box matches."""
        page = self.current
        parts = [
            page.url if page else "",
            page.title if page else "",
            self.source.get("keyword", ""),
            self.source.get("site", ""),
            self.source.get("campaign", ""),
            self.region.get("label", ""),
            self.region.get("city", ""),
            self.site,
            self.customer.name if self.customer else "",
            self.id,
        ]
        self.search_text = "\n".join(parts).lower()


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose visitors a console sees: None means every region / every group."""

    regions: frozenset[str] | None = None
    groups: frozenset[int] | None = None

    def sees(self, visitor: LiveVisitor) -> bool:
        """Tell whether a visitor is in this scope."""
        if self.regions is not None and visitor.region.get("label", "") not in self.regions:
            return False
        return self.groups is None or visitor.group_id in self.groups


def scope_of(actor: Staff) -> Scope:
    """The visitors a console user sees: overseers all, agents their regions and groups."""
    return agent_scope(actor.regions, actor.queues)


def agent_scope(regions: Iterable[str], groups: Iterable[int] | None) -> Scope:
    """Build an agent's scope: no regions means all regions, groups None an overseer."""
    wanted = frozenset(r for r in regions if r)
    if groups is None:
        return Scope()
    return Scope(regions=wanted or None, groups=frozenset(groups))


@dataclass(frozen=True, slots=True)
class Filter:
    """The live list's filter, validated."""

    q: str = ""
    region: str = ""
    source: str = ""
    status: str = ""

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Filter:
        """Validate a filter from the query string or a watch frame."""
        if not isinstance(raw, Mapping):
            raise ValueError("filter must be an object")
        values: dict[str, str] = {}
        for name in ("q", "region", "source", "status"):
            value = raw.get(name) or ""
            if not isinstance(value, str) or len(value) > _FILTER_TEXT_MAX:
                raise ValueError(f"{name} must be text of at most {_FILTER_TEXT_MAX} characters")
            values[name] = value.strip()
        if values["source"] and values["source"] not in SOURCE_KINDS:
            raise ValueError(f"source must be one of {', '.join(SOURCE_KINDS)}")
        if values["status"] and values["status"] not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        values["q"] = values["q"].lower()
        return cls(**values)

    def matches(self, visitor: LiveVisitor) -> bool:
        """Tell whether a visitor passes the filter."""
        if self.source and visitor.source.get("kind") != self.source:
            return False
        if self.status and visitor.status != self.status:
            return False
        if self.region and self.region not in (
            visitor.region.get("label", ""),
            visitor.region.get("city", ""),
            visitor.region.get("country", ""),
        ):
            return False
        return not self.q or self.q in visitor.search_text


def first_route(
    routes: Iterable[tuple[str, str, int]], page_url: str, region: str, default: int | None
) -> int | None:
    """Return the group of the first rule (URL pattern, region) a page matches."""
    route = matching_route(routes, page_url, region)
    return route[2] if route is not None else default


class LiveRegistry:
    """The live visitors, by id, with a version that moves on every change."""

    def __init__(self) -> None:
        self._visitors: dict[str, LiveVisitor] = {}
        self.version = 0
        self._order: list[LiveVisitor] | None = None  # most recent activity first

    def __len__(self) -> int:
        return len(self._visitors)

    def __iter__(self) -> Iterator[LiveVisitor]:
        return iter(list(self._visitors.values()))

    def get(self, visitor_id: str) -> LiveVisitor | None:
        """Return a live visitor."""
        return self._visitors.get(visitor_id)

    def put(self, visitor: LiveVisitor) -> None:
        """Add or replace a visitor."""
        visitor.refresh_search()
        # Moved to the end: the dict stays in order of activity, so ordered() sorts a
        # nearly sorted list (bench/insight.py: 5,000 visitors after a second of page
        # views, 2-3x faster than sorting them in order of arrival).
        self._visitors.pop(visitor.id, None)
        self._visitors[visitor.id] = visitor
        self.touch()

    def remove(self, visitor_id: str) -> LiveVisitor | None:
        """Forget a visitor who left."""
        gone = self._visitors.pop(visitor_id, None)
        if gone is not None:
            self.touch()
        return gone

    def touch(self) -> None:
        """Record that something in the list changed."""
        self.version += 1
        self._order = None

    def ordered(self) -> list[LiveVisitor]:
        """Every live visitor, most recent activity first (cached until the next change)."""
        if self._order is None:
            latest_first = reversed(self._visitors.values())
            self._order = sorted(latest_first, key=lambda v: (-v.last_seen_at, v.id))
        return self._order

    def query(
        self, scope: Scope, filt: Filter, offset: int = 0, limit: int = 50
    ) -> tuple[int, list[LiveVisitor]]:
        """Return how many visitors match, and one page of them."""
        limit = max(1, min(limit, QUERY_LIMIT_MAX))
        offset = max(0, offset)
        total = 0
        page: list[LiveVisitor] = []
        for visitor in self.ordered():
            if scope.sees(visitor) and filt.matches(visitor):
                if offset <= total < offset + limit:
                    page.append(visitor)
                total += 1
        return total, page
