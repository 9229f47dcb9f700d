"""Shapes of visitor insight: tracking and invitations for the widget; live visitors,
customer profiles and invitation rules for the console.

The `..._out` functions at the end turn core's objects into these shapes; times go
through `wire_time`. The enumerations repeat the core's tuples (`live.SOURCE_KINDS`,
`live.STATUSES`, `routing.TIERS`, `invitations.AUDIENCES`) because a Literal must be
spelled out; tests/unit/test_contract.py holds them equal.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any, Literal, cast

import msgspec

from appliance.core import live as core_live
from appliance.core import visitor_records as records
from appliance.core.invitations import MESSAGE_MAX, RULES_MAX, Rule
from appliance.webui.wire import Time, wire_time
from appliance.webui.wire.chat import Conversation

Id = Annotated[int, msgspec.Meta(ge=1)]
SourceKind = Literal["search", "campaign", "referral", "direct"]
VisitorStatus = Literal["browsing", "chatting", "invited"]
Tier = Literal["vip", "member", "new"]
Audience = Literal["any", "new", "returning"]
InvitationStatus = Literal["pending", "accepted", "declined", "expired"]
FilterText = Annotated[str, msgspec.Meta(max_length=100)]
InvitationText = Annotated[str, msgspec.Meta(min_length=1, max_length=MESSAGE_MAX)]
Name = Annotated[str, msgspec.Meta(max_length=64)]
Organisation = Annotated[str, msgspec.Meta(max_length=100)]
Email = Annotated[str, msgspec.Meta(max_length=254)]
Phone = Annotated[str, msgspec.Meta(max_length=32)]
SiteKey = Annotated[str, msgspec.Meta(max_length=32)]

# -- the widget -------------------------------------------------------------------


class PageView(msgspec.Struct):
    """A page the visitor opened."""

    url: Annotated[
        str, msgspec.Meta(min_length=1, max_length=2048, description="http(s) page address")
    ]
    title: Annotated[str, msgspec.Meta(max_length=10_000, description="cut to 256 characters")] = ""
    referrer: Annotated[str, msgspec.Meta(max_length=10_000, description="document.referrer")] = ""
    site: SiteKey = "default"
    token: Annotated[
        str,
        msgspec.Meta(
            max_length=512, description="the visitor token, when no Authorization header is sent"
        ),
    ] = ""


class PageViewRef(msgspec.Struct):
    """The page view recorded, its visit, and which visit of the visitor that is."""

    id: int
    visit_id: int
    visit_number: int


class PageViewRecorded(msgspec.Struct):
    tracked: Literal[True]
    page_view: PageViewRef


class NotTracked(msgspec.Struct):
    """Do-Not-Track / Global Privacy Control honoured: nothing was stored."""

    tracked: Literal[False]


class DwellReport(msgspec.Struct):
    """A page's visible time so far (navigator.sendBeacon sends it as text/plain)."""

    token: Annotated[str, msgspec.Meta(description="the visitor token (no Authorization header)")]
    dwell_ms: Annotated[
        int, msgspec.Meta(ge=0, description="the page's total visible time so far, ms")
    ]


class SignedIdentity(msgspec.Struct):
    """A customer the host site vouches for, with its signature."""

    customer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    ts: Annotated[int, msgspec.Meta(ge=0, le=2**40, description="unix seconds of signing")]
    # The pattern is stated, not enforced here: a malformed signature is refused as
    # bad_signature (403) like a wrong one, as it always was.
    sig: Annotated[
        str,
        msgspec.Meta(
            max_length=64,
            description="hex HMAC-SHA256(site secret, id:ts)",
            extra_json_schema={"pattern": "^[0-9a-fA-F]{64}$"},
        ),
    ]
    site: SiteKey = "default"
    name: Name = ""
    email: Email = ""
    phone: Phone = ""


class CustomerName(msgspec.Struct):
    id: int
    name: str


class Identified(msgspec.Struct):
    customer: CustomerName


class Acceptance(msgspec.Struct):
    """How the visitor answers an invitation with yes."""

    lang: Annotated[str, msgspec.Meta(max_length=16)] = ""


class InvitedChat(msgspec.Struct):
    conversation: Conversation


class InvitationBrief(msgspec.Struct):
    id: int
    status: InvitationStatus


class Declined(msgspec.Struct):
    invitation: InvitationBrief


# -- what the console sees of a visitor ----------------------------------------------


class VisitRegion(msgspec.Struct):
    """Where the visitor's address is, by the IP table."""

    label: str
    country: str
    province: str
    city: str
    status: Literal["found", "private", "unknown", "invalid"]


class VisitSource(msgspec.Struct):
    """Where the visit came from."""

    kind: SourceKind
    engine: str
    keyword: str
    site: str
    campaign: str


class VisitDevice(msgspec.Struct):
    """Browser, OS and kind from the User-Agent (empty before any page view)."""

    browser: str = ""
    os: str = ""
    kind: str = ""


class CurrentPage(msgspec.Struct):
    url: str
    title: str
    since: Time


class CustomerBrief(msgspec.Struct):
    id: int
    name: str
    tier: Tier
    verified: bool


class _Visitor(msgspec.Struct):
    """What the live row and the detail share."""

    id: str
    online: bool
    site: str
    region: VisitRegion
    source: VisitSource
    returning: bool
    pages: int
    current: CurrentPage | None
    tier: Tier
    device: VisitDevice
    first_seen_at: Time
    last_seen_at: Time
    status: VisitorStatus
    conversation_id: str | None
    invitation: InvitationBrief | None
    group_id: int | None


class LiveVisitor(_Visitor):
    """A row of the live list."""

    visits: int
    customer: CustomerBrief | None


class Visitors(msgspec.Struct):
    total: int
    offset: int
    limit: int
    visitors: Annotated[list[LiveVisitor], msgspec.Meta(max_length=200)]


class VisitorQuery(msgspec.Struct):
    """The live list's filter and page."""

    q: Annotated[
        str,
        msgspec.Meta(max_length=100, description="page, title, keyword, customer, region, site"),
    ] = ""
    region: Annotated[str, msgspec.Meta(max_length=100, description="label, city or country")] = ""
    source: SourceKind | msgspec.UnsetType = msgspec.UNSET
    status: VisitorStatus | msgspec.UnsetType = msgspec.UNSET
    offset: Annotated[int, msgspec.Meta(ge=0, le=10**6)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


class TrailStep(msgspec.Struct):
    """A page view of the current visit."""

    id: int
    url: str
    title: str
    started_at: Time
    dwell_ms: int


class Visit(msgspec.Struct):
    id: int
    site: str
    started_at: Time
    last_seen_at: Time
    region: VisitRegion
    source: VisitSource
    landing_url: str
    device: VisitDevice
    pages: int


class ChatHistory(msgspec.Struct):
    """A conversation of the visitor's, newest first."""

    id: str
    status: str
    created_at: Time
    closed_at: Time | None
    agent_id: int | None
    agent: str | None
    rating: Annotated[
        int | None, msgspec.Meta(description="the visitor's score (1-5) of the ended chat")
    ]


# -- customers ----------------------------------------------------------------------


class Customer(msgspec.Struct):
    """A known customer: identified by the host site (verified) or by the pre-chat form."""

    id: int
    external_id: str | None
    site: str
    name: str
    email: str
    phone: str
    tier: Tier
    notes: str
    verified: bool
    created_at: Time
    organisation: str


class CustomerDevice(msgspec.Struct):
    """One visitor (device) of a customer."""

    id: str
    first_seen_at: Time
    last_seen_at: Time
    visits: int
    device: VisitDevice


class CustomerVisit(Visit):
    visitor_id: str


class CustomerChat(ChatHistory):
    visitor_id: str


class CustomerProfile(Customer):
    """A customer with every device's visits and conversations."""

    visitors: Annotated[list[CustomerDevice], msgspec.Meta(max_length=1000)]
    visits: Annotated[list[CustomerVisit], msgspec.Meta(max_length=50)]
    conversations: Annotated[list[CustomerChat], msgspec.Meta(max_length=50)]


class VisitorDetail(_Visitor):
    """The live row, except that `visits` lists the visits (not their count) and
    `customer` is the whole profile; with the trail and the conversations."""

    visits: Annotated[list[Visit], msgspec.Meta(max_length=20)]
    customer: CustomerProfile | None
    trail: Annotated[list[TrailStep], msgspec.Meta(max_length=50)]
    conversations: Annotated[list[ChatHistory], msgspec.Meta(max_length=20)]


class OneVisitor(msgspec.Struct):
    visitor: VisitorDetail


class Customers(msgspec.Struct):
    customers: Annotated[list[Customer], msgspec.Meta(max_length=200)]


class OneCustomer(msgspec.Struct):
    customer: CustomerProfile


class CustomerQuery(msgspec.Struct):
    q: Annotated[str, msgspec.Meta(max_length=100, description="name, e-mail, phone or id")] = ""


class CustomerChange(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Any subset of a customer's contact data, tier and notes."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    phone: Phone | msgspec.UnsetType = msgspec.UNSET
    tier: Tier | msgspec.UnsetType = msgspec.UNSET
    notes: Annotated[str, msgspec.Meta(max_length=4000)] | msgspec.UnsetType = msgspec.UNSET
    organisation: Organisation | msgspec.UnsetType = msgspec.UNSET


# -- invitations --------------------------------------------------------------------


class Invite(msgspec.Struct):
    """An agent's invitation text."""

    message: InvitationText


class InvitingAgent(msgspec.Struct):
    display_name: str


class Invitation(msgspec.Struct):
    """An invitation to chat, from an agent or a rule, and how it ended."""

    id: int
    visitor_id: str
    agent_id: int | None
    agent: InvitingAgent | None
    rule_id: int | None
    group_id: int | None
    message: str
    status: InvitationStatus
    created_at: Time
    answered_at: Time | None
    conversation_id: str | None


class OneInvitation(msgspec.Struct):
    invitation: Invitation


class Invitations(msgspec.Struct):
    invitations: Annotated[list[Invitation], msgspec.Meta(max_length=500)]


class InviteRule(msgspec.Struct):
    """An automatic invitation rule (`id` is the box's; it is ignored when sent)."""

    message: InvitationText
    id: int | msgspec.UnsetType = msgspec.UNSET
    name: Name = ""
    enabled: bool = True
    url_pattern: Annotated[
        str, msgspec.Meta(max_length=256, description="fnmatch pattern; empty: any page")
    ] = ""
    min_seconds: Annotated[int, msgspec.Meta(ge=0, le=86400)] = 0
    min_visits: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    audience: Audience = "any"
    source: Literal["any", "search", "campaign", "referral", "direct"] = "any"
    group_id: Id | None = None


class InviteRules(msgspec.Struct):
    """The automatic invitation rules, in the order they are tried."""

    rules: Annotated[list[InviteRule], msgspec.Meta(max_length=RULES_MAX)]


class OfferedInvitation(msgspec.Struct):
    """What a visitor sees of a pending invitation (the `invitation` frame)."""

    id: int
    message: str
    agent: InvitingAgent | None
    created_at: Time


# -- frames the box sends about visitors and invitations ----------------------------


class _Frame(msgspec.Struct, tag_field="type", frozen=True):
    """A frame: a JSON object whose `type` names it (as wire/frames.py's)."""


class VisitorsFrame(_Frame, tag="visitors", frozen=True):
    """Agent socket, after `watch_visitors`: the watched page of the live list."""

    total: int
    offset: int
    limit: int
    visitors: list[LiveVisitor]


class OfferFrame(_Frame, tag="invitation", frozen=True):
    """Visitor socket: a pending invitation, when sent and on every (re)connect."""

    invitation: OfferedInvitation


class InvitationFrame(_Frame, tag="invitation", frozen=True):
    """Agent socket: the user's own invitation changed."""

    invitation: Invitation


class InvitationClosedFrame(_Frame, tag="invitation_closed", frozen=True):
    """Visitor socket: the invitation was answered (maybe in another tab) or expired."""

    invitation_id: int
    status: InvitationStatus


# -- from core's objects ------------------------------------------------------------

# The live list's rows are rebuilt every second a watched page changes, and their times
# rarely do: memoized, 50 rows convert in ~0.1 ms instead of ~0.8 ms (wire_time costs
# ~5 µs a call). The box's zone is fixed for the life of the process.
_LIVE_TIMES = 16_384  # distinct times kept
_live_time = functools.lru_cache(maxsize=_LIVE_TIMES)(wire_time)


def region_out(place: Mapping[str, str]) -> VisitRegion:
    """Return the wire form of a place."""
    status = cast(Literal["found", "private", "unknown", "invalid"], place.get("status", "unknown"))
    return VisitRegion(
        place.get("label", ""),
        place.get("country", ""),
        place.get("province", ""),
        place.get("city", ""),
        status,
    )


def source_out(source: Mapping[str, str]) -> VisitSource:
    """Return the wire form of a visit's source."""
    return VisitSource(
        cast(SourceKind, source.get("kind", "direct")),
        source.get("engine", ""),
        source.get("keyword", ""),
        source.get("site", ""),
        source.get("campaign", ""),
    )


def device_out(device: Mapping[str, str]) -> VisitDevice:
    """Return the wire form of a device."""
    return VisitDevice(device.get("browser", ""), device.get("os", ""), device.get("kind", ""))


def _visitor_fields(v: core_live.LiveVisitor) -> dict[str, Any]:
    page = v.current
    return {
        "id": v.id,
        "online": v.sockets > 0,
        "site": v.site,
        "region": region_out(v.region),
        "source": source_out(v.source),
        "returning": v.visits > 1,
        "pages": v.pages,
        "current": CurrentPage(page.url, page.title, _live_time(page.started_at)) if page else None,
        "tier": cast(Tier, v.tier),
        "device": device_out(v.device),
        "first_seen_at": _live_time(v.first_seen_at),
        "last_seen_at": _live_time(v.last_seen_at),
        "status": cast(VisitorStatus, v.status),
        "conversation_id": v.conversation_id,
        "invitation": (
            InvitationBrief(v.invitation_id, "pending") if v.invitation_id is not None else None
        ),
        "group_id": v.group_id,
    }


def live_visitor_out(v: core_live.LiveVisitor) -> LiveVisitor:
    """Return a row of the live list."""
    c = v.customer
    brief = CustomerBrief(c.id, c.name, cast(Tier, c.tier), c.verified) if c else None
    return LiveVisitor(**_visitor_fields(v), visits=v.visits, customer=brief)


def trail_step_out(step: core_live.Step) -> TrailStep:
    """Return a page view of the current visit."""
    return TrailStep(step.id, step.url, step.title, wire_time(step.started_at), step.dwell_ms)


def _visit_fields(v: records.Visit) -> dict[str, Any]:
    return {
        "id": v.id,
        "site": v.site,
        "started_at": wire_time(v.started_at),
        "last_seen_at": wire_time(v.last_seen_at),
        "region": region_out(v.region),
        "source": source_out(v.source),
        "landing_url": v.landing_url,
        "device": device_out(v.device),
        "pages": v.pages,
    }


def visit_out(v: records.Visit) -> Visit:
    """Return the wire form of a visit."""
    return Visit(**_visit_fields(v))


def _chat_fields(c: records.PastChat) -> dict[str, Any]:
    return {
        "id": c.id,
        "status": c.status,
        "created_at": wire_time(c.created_at),
        "closed_at": wire_time(c.closed_at),
        "agent_id": c.agent_id,
        "agent": c.agent,
        "rating": c.rating,
    }


def chat_history_out(c: records.PastChat) -> ChatHistory:
    """Return a conversation of a visitor's history."""
    return ChatHistory(**_chat_fields(c))


def _customer_fields(c: records.Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "external_id": c.external_id,
        "site": c.site,
        "name": c.name,
        "email": c.email,
        "phone": c.phone,
        "tier": cast(Tier, c.tier),
        "notes": c.notes,
        "verified": c.verified,
        "created_at": wire_time(c.created_at),
        "organisation": c.organisation,
    }


def customer_out(c: records.Customer) -> Customer:
    """Return the wire form of a customer."""
    return Customer(**_customer_fields(c))


def customer_profile_out(p: records.CustomerProfile) -> CustomerProfile:
    """Return a customer with their devices, visits and conversations."""
    return CustomerProfile(
        **_customer_fields(p.customer),
        visitors=[
            CustomerDevice(
                d.id,
                wire_time(d.first_seen_at),
                wire_time(d.last_seen_at),
                d.visits,
                device_out(d.device),
            )
            for d in p.devices
        ],
        visits=[CustomerVisit(**_visit_fields(v), visitor_id=v.visitor_id) for v in p.visits],
        conversations=[CustomerChat(**_chat_fields(c), visitor_id=c.visitor_id) for c in p.chats],
    )


def visitor_detail_out(d: records.VisitorDetail) -> VisitorDetail:
    """Return a visitor with their trail, visits, conversations and customer."""
    return VisitorDetail(
        **_visitor_fields(d.visitor),
        visits=[visit_out(v) for v in d.visits],
        customer=customer_profile_out(d.customer) if d.customer else None,
        trail=[trail_step_out(s) for s in d.visitor.trail],
        conversations=[chat_history_out(c) for c in d.chats],
    )


def _agent(i: records.Invitation) -> InvitingAgent | None:
    return InvitingAgent(i.agent_name or "") if i.agent_id is not None else None


def invitation_out(i: records.Invitation) -> Invitation:
    """Return the wire form of an invitation."""
    return Invitation(
        id=i.id,
        visitor_id=i.visitor_id,
        agent_id=i.agent_id,
        agent=_agent(i),
        rule_id=i.rule_id,
        group_id=i.group_id,
        message=i.message,
        status=cast(InvitationStatus, i.status),
        created_at=wire_time(i.created_at),
        answered_at=wire_time(i.answered_at),
        conversation_id=i.conversation_id,
    )


def offered_invitation_out(i: records.Invitation) -> OfferedInvitation:
    """Return what the visitor sees of a pending invitation."""
    return OfferedInvitation(i.id, i.message, _agent(i), wire_time(i.created_at))


def invite_rule_out(rule: Rule) -> InviteRule:
    """Return the wire form of an automatic invitation rule."""
    return InviteRule(
        message=rule.message,
        id=rule.id,
        name=rule.name,
        enabled=rule.enabled,
        url_pattern=rule.url_pattern,
        min_seconds=rule.min_seconds,
        min_visits=rule.min_visits,
        audience=cast(Audience, rule.audience),
        source=cast(Literal["any", "search", "campaign", "referral", "direct"], rule.source),
        group_id=rule.group_id,
    )
