"""The customer portal's forms and queries (portal_views.py).

Forms are read by the portal's own reader, which checks the session's CSRF token
first; like the login's forms, every field is optional here and a wrong value is
answered with the page again saying what is wrong, never a 500."""

from __future__ import annotations

from typing import Annotated

import msgspec

_CSRF = msgspec.Meta(description="the page's CSRF token")


class SignInForm(msgspec.Struct):
    email: Annotated[str, msgspec.Meta(description="the customer's e-mail address")] = ""
    csrf_token: Annotated[str, _CSRF] = ""


class CsrfForm(msgspec.Struct):
    csrf_token: Annotated[str, _CSRF] = ""


class LangForm(msgspec.Struct):
    lang: Annotated[str, msgspec.Meta(description="zh-CN or en")] = ""
    next: Annotated[str, msgspec.Meta(description="a portal path to go back to")] = ""
    csrf_token: Annotated[str, _CSRF] = ""


class ReplyForm(msgspec.Struct):
    csrf_token: Annotated[str, msgspec.Meta(description="the page's CSRF token; first")] = ""
    body: Annotated[str, msgspec.Meta(description="the reply (at most 20,000 characters)")] = ""
    file: Annotated[
        str,
        msgspec.Meta(
            description="a file to attach (multipart only; the admin's size and type limits apply)",
            extra_json_schema={"format": "binary"},
        ),
    ] = ""


class RatingForm(msgspec.Struct):
    score: Annotated[str, msgspec.Meta(description="1 (poor) to 5 (excellent)")] = ""
    comment: Annotated[str, msgspec.Meta(description="at most 1,000 characters")] = ""
    csrf_token: Annotated[str, _CSRF] = ""


class SignedQuery(msgspec.Struct):
    """The host site's signed identity, as the widget's: hex HMAC-SHA256 of
    "<customer_id>:<ts>" under the site's secret (docs/portal.md)."""

    customer_id: Annotated[str, msgspec.Meta(max_length=128)] = ""
    ts: Annotated[str, msgspec.Meta(description="unix seconds it was signed at")] = ""
    sig: Annotated[str, msgspec.Meta(max_length=64)] = ""
    site: Annotated[str, msgspec.Meta(max_length=32)] = ""
    name: Annotated[str, msgspec.Meta(max_length=64)] = ""
    email: Annotated[str, msgspec.Meta(max_length=254)] = ""
    phone: Annotated[str, msgspec.Meta(max_length=32)] = ""


class SignedForm(SignedQuery):
    """The signed link's page form: the same fields, posted with the page's CSRF token."""

    csrf_token: Annotated[str, _CSRF] = ""
