"""Self-service before a chat on the wire: suggested articles, the deflection figure,
the pages an article is suggested on, article previews and pictures."""

from __future__ import annotations

from typing import Annotated

import msgspec

from appliance.core import knowledge as core
from appliance.core import selfservice as rules
from appliance.core.store.knowledge import PublicEntry
from appliance.webui.wire import Time

Prefix = Annotated[str, msgspec.Meta(max_length=rules.PREFIX_MAX)]


class SuggestedQuery(msgspec.Struct, forbid_unknown_fields=True):
    """The page the visitor is on (its path; a query string or fragment is ignored)."""

    path: Annotated[str, msgspec.Meta(max_length=2048)] = "/"
    limit: Annotated[int, msgspec.Meta(ge=1, le=rules.SUGGEST_MAX)] = 5


class SuggestedArticle(msgspec.Struct):
    id: int
    title: str
    title_en: Annotated[str, msgspec.Meta(description="empty: no English version")]
    helpful: int


class Suggested(msgspec.Struct):
    articles: Annotated[
        list[SuggestedArticle],
        msgspec.Meta(description="placed on the page first, then the most helpful"),
    ]


class DeflectionQuery(msgspec.Struct, forbid_unknown_fields=True):
    days: Annotated[int, msgspec.Meta(ge=1, le=rules.DAYS_MAX)] = 30


class Deflection(msgspec.Struct):
    """Visitors who searched, read or voted in the period, by what happened next."""

    since: Time
    until: Time
    window_seconds: float
    visitors: int
    deflected: Annotated[int, msgspec.Meta(description="no chat within the window")]
    chatted: Annotated[int, msgspec.Meta(description="started a chat within the window")]
    pending: Annotated[int, msgspec.Meta(description="their window is not over yet")]
    rate: Annotated[
        float | None,
        msgspec.Meta(description="deflected / (deflected + chatted); null: none decided"),
    ]


class PagesInput(msgspec.Struct, forbid_unknown_fields=True):
    prefixes: Annotated[list[Prefix], msgspec.Meta(max_length=rules.PREFIXES_MAX)]


class Pages(msgspec.Struct):
    prefixes: Annotated[
        list[str], msgspec.Meta(description="paths from '/', matched by whole segments")
    ]


class PreviewInput(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, msgspec.Meta(max_length=core.BODY_MAX)]


class Preview(msgspec.Struct):
    html: Annotated[str, msgspec.Meta(description="sanitised HTML (docs/knowledge-base.md)")]


class UploadedImage(msgspec.Struct):
    name: str
    url: Annotated[str, msgspec.Meta(description="where visitors and staff load it")]
    markdown: Annotated[str, msgspec.Meta(description="what to put in the article's body")]
    media_type: str
    width: int
    height: int
    bytes: int


class UploadQuery(msgspec.Struct, forbid_unknown_fields=True):
    alt: Annotated[str, msgspec.Meta(max_length=100, description="the picture's text")] = ""


def suggested_out(found: list[PublicEntry]) -> Suggested:
    return Suggested([SuggestedArticle(e.id, e.title, e.title_en, e.helpful) for e in found])
