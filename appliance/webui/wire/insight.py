"""Shapes of visitor insight: tracking and invitations for the widget; live visitors,
customer profiles and invitation rules for the console.

Times in these shapes are UTC milliseconds (docs/api.md, "Visitor insight"). The
enumerations repeat the core's tuples (`live.SOURCE_KINDS`, `live.STATUSES`,
`routing.TIERS`, `invitations.AUDIENCES`) because a Literal must be spelled out;
tests/unit/test_contract.py holds them equal.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core.invitations import MESSAGE_MAX, RULES_MAX
from appliance.webui.wire.chat import Conversation

Ms = Annotated[int, msgspec.Meta(description="UTC milliseconds since the epoch")]
Id = Annotated[int, msgspec.Meta(ge=1)]
SourceKind = Literal["search", "campaign", "referral", "direct"]
VisitorStatus = Literal["browsing", "chatting", "invited"]
Tier = Literal["vip", "member", "new"]
Audience = Literal["any", "new", "returning"]
InvitationStatus = Literal["pending", "accepted", "declined", "expired"]
FilterText = Annotated[str, msgspec.Meta(max_length=100)]
InvitationText = Annotated[str, msgspec.Meta(min_length=1, max_length=MESSAGE_MAX)]
Name = Annotated[str, msgspec.Meta(max_length=64)]
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
    since: Ms


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
    first_seen_at: Ms
    last_seen_at: Ms
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
    started_at: Ms
    dwell_ms: int


class Visit(msgspec.Struct):
    id: int
    site: str
    started_at: Ms
    last_seen_at: Ms
    region: VisitRegion
    source: VisitSource
    landing_url: str
    device: VisitDevice
    pages: int


class ChatHistory(msgspec.Struct):
    """A conversation of the visitor's, newest first."""

    id: str
    status: str
    created_at: Ms
    closed_at: Ms | None
    agent_id: int | None
    agent: str | None


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
    created_at: Ms


class CustomerDevice(msgspec.Struct):
    """One visitor (device) of a customer."""

    id: str
    first_seen_at: Ms
    last_seen_at: Ms
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
    created_at: Ms
    answered_at: Ms | None
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
