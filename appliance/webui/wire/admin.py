"""Shapes of the admin API: the IP table, privacy settings, sites (health: wire/health.py)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core import boxsettings as core_settings
from appliance.core.iptable import TableStatus
from appliance.webui.wire import Time, wire_time


class IpTable(msgspec.Struct):
    """How many ranges the IP table holds, from which format, imported when."""

    ranges: int
    format: Literal["", "ip2region", "ip2location"]
    imported_at: Time | None


class IpTableQuery(msgspec.Struct, forbid_unknown_fields=True):
    """How to read an uploaded IP table."""

    format: Literal["auto", "ip2region", "ip2location"] = "auto"


Days = Annotated[
    int,
    msgspec.Meta(ge=1, le=3650, description="days visits and page views are kept (default 90)"),
]
QuietDays = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=365,
        description="the fewest days between two automatic invitations of one visitor, "
        "whatever the answer (default 7)",
    ),
]
HonourDnt = Annotated[
    bool,
    msgspec.Meta(
        description="visitors sending Do-Not-Track or Global Privacy Control are not "
        "tracked (default false)"
    ),
]

SneakPeek = Annotated[
    bool,
    msgspec.Meta(
        description="agents see what a visitor is typing before it is sent; when off the "
        "widget does not send it (default false)"
    ),
]

PortalOrganisation = Annotated[
    bool,
    msgspec.Meta(
        description="the customer portal shows a customer the tickets of every customer "
        "of the same organisation too, not only their own (default false)"
    ),
]


class Privacy(msgspec.Struct):
    """The privacy and retention settings."""

    honour_dnt: HonourDnt
    page_view_days: Days
    decline_quiet_days: QuietDays
    sneak_peek: SneakPeek = False
    portal_organisation: PortalOrganisation = False


class PrivacyChange(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Any subset of the privacy settings; the others stay as they are."""

    honour_dnt: HonourDnt | msgspec.UnsetType = msgspec.UNSET
    page_view_days: Days | msgspec.UnsetType = msgspec.UNSET
    decline_quiet_days: QuietDays | msgspec.UnsetType = msgspec.UNSET
    sneak_peek: SneakPeek | msgspec.UnsetType = msgspec.UNSET
    portal_organisation: PortalOrganisation | msgspec.UnsetType = msgspec.UNSET


Secret = Annotated[
    str,
    msgspec.Meta(
        description="64 hex digits; the HMAC-SHA256 key is this text as ASCII: "
        'sig = hex(HMAC-SHA256(secret, "<customer_id>:<unix seconds>"))'
    ),
]


class Site(msgspec.Struct):
    """A website that embeds the widget, with the secret that signs its customers."""

    key: str
    name: str
    secret: Secret
    created_at: Time


class Sites(msgspec.Struct):
    sites: list[Site]


class OneSite(msgspec.Struct):
    site: Site


class NewSite(msgspec.Struct, forbid_unknown_fields=True):
    """A site to add."""

    key: Annotated[
        str, msgspec.Meta(min_length=1, max_length=32, pattern="^[a-z0-9][a-z0-9_-]{0,31}$")
    ]
    name: Annotated[str, msgspec.Meta(max_length=100)] = ""


def ip_table_out(status: TableStatus) -> IpTable:
    """Return the wire form of the IP table's status."""
    fmt: Literal["", "ip2region", "ip2location"] = status.format  # type: ignore[assignment]
    return IpTable(ranges=status.ranges, format=fmt, imported_at=wire_time(status.imported_at))


def privacy_out(privacy: core_settings.Privacy) -> Privacy:
    """Return the wire form of the privacy settings."""
    return Privacy(
        privacy.honour_dnt,
        privacy.page_view_days,
        privacy.decline_quiet_days,
        privacy.sneak_peek,
        privacy.portal_organisation,
    )


def site_out(site: core_settings.Site) -> Site:
    """Return the wire form of a site."""
    return Site(site.key, site.name, site.secret, wire_time(site.created_at))
