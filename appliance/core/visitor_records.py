"""What core knows of visitors over time: visits, past chats, customers, invitations.

Frozen values the stores return and the services hand to the web layer, which turns
them into wire shapes. Times are UTC milliseconds; places, sources and devices are
the small string maps the live list also holds (see core.live).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from appliance.core.live import LiveVisitor

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


def short_region(name: str) -> str:
    """Drop an administrative suffix from a province or city name ("广东省" -> "广东")."""
    for suffix in _REGION_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def place(country: str, province: str, city: str, status: str) -> dict[str, str]:
    """Return a place (by the IP table) with the short label scopes match on."""
    label = (province or city or country) if status == "found" else ""
    return {
        "label": short_region(label),
        "country": country,
        "province": province,
        "city": city,
        "status": status,
    }


@dataclass(frozen=True, slots=True)
class Visit:
    """One visit: page views without a 30-minute pause, on one site."""

    id: int
    visitor_id: str
    site: str
    started_at: int
    last_seen_at: int
    region: Mapping[str, str]  # label, country, province, city, status
    source: Mapping[str, str]  # kind, engine, keyword, site, campaign
    landing_url: str
    device: Mapping[str, str]  # browser, os, kind
    pages: int


@dataclass(frozen=True, slots=True)
class PageViewRecorded:
    """A page view stored: its id, its visit, and which visit of the visitor that is."""

    id: int
    visit_id: int
    visit_number: int


@dataclass(frozen=True, slots=True)
class PastChat:
    """A conversation of a visitor's as their history shows it."""

    id: str
    visitor_id: str
    status: str
    created_at: int
    closed_at: int | None
    agent_id: int | None
    agent: str | None  # the agent's display name
    rating: int | None = None  # the visitor's score (1-5), once rated


@dataclass(frozen=True, slots=True)
class Customer:
    """A known customer: identified by the host site (verified) or the pre-chat form."""

    id: int
    external_id: str | None
    site: str
    name: str
    email: str
    phone: str
    tier: str
    notes: str
    verified: bool
    created_at: int
    organisation: str = ""  # the company they belong to, as staff typed it


@dataclass(frozen=True, slots=True)
class CustomerDevice:
    """One visitor (browser) of a customer's."""

    id: str
    first_seen_at: int
    last_seen_at: int
    visits: int
    device: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """A customer with every device's latest visits and conversations."""

    customer: Customer
    devices: tuple[CustomerDevice, ...]
    visits: tuple[Visit, ...]
    chats: tuple[PastChat, ...]


@dataclass(frozen=True, slots=True)
class VisitorDetail:
    """A visitor (live, or as last seen) with their latest visits and chats, and the
    profile of the customer they are, if known."""

    visitor: LiveVisitor
    visits: tuple[Visit, ...]
    chats: tuple[PastChat, ...]
    customer: CustomerProfile | None = None


@dataclass(frozen=True, slots=True)
class Invitation:
    """An invitation to chat, from an agent or a rule, and how it ended."""

    id: int
    visitor_id: str
    agent_id: int | None
    agent_name: str | None
    rule_id: int | None
    group_id: int | None
    message: str
    status: str  # pending, accepted, declined, expired
    created_at: int
    answered_at: int | None
    conversation_id: str | None

    @property
    def pending(self) -> bool:
        """Whether the visitor may still answer it."""
        return self.status == "pending"
