"""Shapes of the first-boot steps after the administrator: the box's identity, joining
a relay, the visitor certificate (also on the admin page)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core.boxprofile import COMPANY_MAX
from appliance.webui.wire import Time

Lang = Literal["zh-CN", "en", ""]


class BoxIdentity(msgspec.Struct):
    """Who the box is, and the zone it runs in now."""

    company_name: str
    public_host: Annotated[str, msgspec.Meta(description="the public chat host name")]
    time_zone: Annotated[str, msgspec.Meta(description='IANA name; "" = the OS zone')]
    default_lang: Annotated[Lang, msgspec.Meta(description='"" = the `lang` setting')]
    zone_in_use: Annotated[str, msgspec.Meta(description="the zone this run of the appliance uses")]
    os_zone: str
    restart_needed: Annotated[
        bool, msgspec.Meta(description="the chosen zone applies from the next start")
    ]


class BoxIdentityChange(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Any subset of the box's identity; the others stay as they are."""

    company_name: Annotated[str, msgspec.Meta(max_length=COMPANY_MAX)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    public_host: Annotated[str, msgspec.Meta(max_length=253)] | msgspec.UnsetType = msgspec.UNSET
    time_zone: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType = msgspec.UNSET
    default_lang: Lang | msgspec.UnsetType = msgspec.UNSET


class JoinRequest(msgspec.Struct, forbid_unknown_fields=True):
    """An enrolment token from the relay operator, and the relay's address if DNS is not
    set up yet."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    relay: Annotated[str, msgspec.Meta(max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]*$")] = ""


class Joined(msgspec.Struct):
    """Each step of the join: the relay's answer, the tunnel, the overlay listeners."""

    tenant: str
    hostname: str
    address: str
    endpoint: str
    tunnel: Annotated[str, msgspec.Meta(description='"up", or why not')]
    sites: Annotated[str, msgspec.Meta(description='"open", or why not')]


class Certificate(msgspec.Struct):
    """The visitor certificate the box serves, if any."""

    present: bool
    hostname: Annotated[str, msgspec.Meta(description="the name it must carry")]
    names: list[str]
    not_after: Time | None
    issuer: str


class CertificateUpload(msgspec.Struct, forbid_unknown_fields=True):
    """A certificate chain and its private key, both PEM."""

    cert_pem: Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
    key_pem: Annotated[str, msgspec.Meta(min_length=1, max_length=4_000)]


class AcmeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Ask the ACME CA for a certificate; the e-mail gets its expiry notices."""

    email: Annotated[str, msgspec.Meta(max_length=254)] = ""
