"""The knowledge base and search on the wire (docs/knowledge-base.md says what they mean)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core import knowledge as core
from appliance.core import search as core_search
from appliance.core.store import knowledge as rows
from appliance.webui.wire import Time, wire_time

Id = Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]
State = Literal["draft", "review", "published", "archived"]
Audience = Literal["internal", "public"]
Kind = Literal["article", "ticket", "chat"]
Title = Annotated[str, msgspec.Meta(max_length=core.TITLE_MAX)]
Body = Annotated[str, msgspec.Meta(max_length=core.BODY_MAX)]
Note = Annotated[str, msgspec.Meta(max_length=core.NOTE_MAX)]
CategoryName = Annotated[str, msgspec.Meta(max_length=core.CATEGORY_MAX)]
# A query longer than core/textsearch.py QUERY_MAX is answered 422 query_too_long; beyond
# this bound it is not even read.
QueryText = Annotated[str, msgspec.Meta(max_length=1000)]


class ArticleInput(msgspec.Struct, forbid_unknown_fields=True):
    """A new article's first version, or a new version of one (`base`: the version
    the editor started from)."""

    title: Title
    body: Body
    title_en: Title = ""
    body_en: Body = ""
    audience: Audience | None = None
    category_id: Id | None = None
    note: Note = ""


class ArticleChange(ArticleInput, forbid_unknown_fields=True):
    """A new version of an article, saved over version `base`."""

    base: Id = 1


class MoveInput(msgspec.Struct, forbid_unknown_fields=True):
    """A move to another state (submit, approve, send back, archive, restore)."""

    to: State
    note: Note = ""


class VoteInput(msgspec.Struct, forbid_unknown_fields=True):
    helpful: bool


class CategoryInput(msgspec.Struct, forbid_unknown_fields=True):
    name: CategoryName
    name_en: CategoryName = ""
    position: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0


class EditorInput(msgspec.Struct, forbid_unknown_fields=True):
    editor: bool


class ArticlesQuery(msgspec.Struct, forbid_unknown_fields=True):
    category_id: Id | None = None
    state: State | None = None
    audience: Audience | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=core.PAGE_MAX)] = 50
    offset: Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)] = 0


class ContributorsQuery(msgspec.Struct, forbid_unknown_fields=True):
    """One user's points, or (left out) everyone's."""

    user_id: Id | None = None


class DiffQuery(msgspec.Struct, forbid_unknown_fields=True):
    old: Id
    new: Id


class SearchQuery(msgspec.Struct, forbid_unknown_fields=True):
    """What to search for; `kinds` a comma-separated subset of article,ticket,chat."""

    q: QueryText
    kinds: Annotated[str, msgspec.Meta(max_length=40)] = "article,ticket,chat"
    limit: Annotated[int, msgspec.Meta(ge=1, le=core_search.LIMIT_MAX)] = 20


class PublicSearchQuery(msgspec.Struct, forbid_unknown_fields=True):
    q: QueryText
    limit: Annotated[int, msgspec.Meta(ge=1, le=core_search.LIMIT_MAX)] = 10


class Category(msgspec.Struct):
    id: int
    name: str
    name_en: str
    position: int
    articles: int


class Categories(msgspec.Struct):
    categories: list[Category]


class OneCategory(msgspec.Struct):
    category: Category


class Article(msgspec.Struct):
    id: int
    category_id: int | None
    audience: Audience
    state: State
    title: str
    author_id: int
    author_name: str
    version: int
    published_version: int | None
    views: int
    helpful: int
    not_helpful: int
    created_at: Time
    updated_at: Time
    published_at: Time | None


class Version(msgspec.Struct):
    version: int
    title: str
    body: str
    title_en: str
    body_en: str
    author_id: int
    author_name: str
    note: str
    created_at: Time


class VersionBrief(msgspec.Struct):
    version: int
    title: str
    author_name: str
    note: str
    created_at: Time


class Step(msgspec.Struct):
    at: Time
    actor_name: str
    from_state: State
    to_state: State
    version: int
    note: str


class ArticleDetail(msgspec.Struct):
    article: Article
    current: Version
    steps: list[Step]
    may_review: bool


class Articles(msgspec.Struct):
    total: int
    articles: list[Article]


class Versions(msgspec.Struct):
    versions: list[VersionBrief]


class FieldDiff(msgspec.Struct):
    field: Literal["title", "body", "title_en", "body_en"]
    lines: list[str]


class Diff(msgspec.Struct):
    old: int
    new: int
    fields: list[FieldDiff]


class Contributor(msgspec.Struct):
    user_id: int
    name: str
    points: int
    published: int
    helpful: int


class Contributors(msgspec.Struct):
    contributors: list[Contributor]


class Editor(msgspec.Struct):
    user_id: int
    name: str


class Editors(msgspec.Struct):
    editors: list[Editor]


class Piece(msgspec.Struct):
    """A piece of a snippet; `mark`: a hit. Show `text` as text, never as HTML."""

    text: str
    mark: bool


class Hit(msgspec.Struct):
    kind: Kind
    ref: str
    part: str
    title: str
    snippet: list[Piece]
    updated_at: Time


class SearchResults(msgspec.Struct):
    terms: list[str]
    hits: list[Hit]


class PublicArticle(msgspec.Struct):
    """A published public article as a visitor reads it."""

    id: int
    category_id: int | None
    title: str
    body: str
    title_en: str
    body_en: str
    helpful: int
    not_helpful: int
    published_at: Time | None
    html: Annotated[
        str, msgspec.Meta(description="`body` rendered and sanitised (core/article_render.py)")
    ] = ""
    html_en: Annotated[str, msgspec.Meta(description="`body_en` rendered; empty: none")] = ""


class OnePublicArticle(msgspec.Struct):
    article: PublicArticle


class Voted(msgspec.Struct):
    helpful: int
    not_helpful: int


class BackfillProgress(msgspec.Struct):
    kind: str
    done: int
    total: int
    finished: bool


class SearchStatus(msgspec.Struct):
    queued: int
    documents: int
    backfill: list[BackfillProgress]


def category_out(c: rows.Category) -> Category:
    return Category(c.id, c.name, c.name_en, c.position, c.articles)


def article_out(a: rows.Article) -> Article:
    return Article(
        a.id,
        a.category_id,
        a.audience,  # type: ignore[arg-type]
        a.state,  # type: ignore[arg-type]
        a.title,
        a.author_id,
        a.author_name,
        a.version,
        a.published_version,
        a.views,
        a.helpful,
        a.not_helpful,
        wire_time(a.created_at),
        wire_time(a.updated_at),
        wire_time(a.published_at),
    )


def version_out(v: rows.Version) -> Version:
    return Version(
        v.version,
        v.title,
        v.body,
        v.title_en,
        v.body_en,
        v.author_id,
        v.author_name,
        v.note,
        wire_time(v.created_at),
    )


def detail_out(d: core.ArticleDetail) -> ArticleDetail:
    steps = [
        Step(
            wire_time(s.at),
            s.actor_name,
            s.from_state,  # type: ignore[arg-type]
            s.to_state,  # type: ignore[arg-type]
            s.version,
            s.note,
        )
        for s in d.steps
    ]
    return ArticleDetail(article_out(d.article), version_out(d.current), steps, d.may_review)


def brief_out(v: rows.Version) -> VersionBrief:
    return VersionBrief(v.version, v.title, v.author_name, v.note, wire_time(v.created_at))


def results_out(r: core_search.Results) -> SearchResults:
    return SearchResults(
        list(r.terms),
        [
            Hit(
                h.kind,  # type: ignore[arg-type]
                h.ref,
                h.part,
                h.title,
                [Piece(p.text, p.mark) for p in h.snippet],
                wire_time(h.updated_at),
            )
            for h in r.hits
        ],
    )


def public_out(a: rows.Article, v: rows.Version, html: str, html_en: str) -> PublicArticle:
    return PublicArticle(
        a.id,
        a.category_id,
        v.title,
        v.body,
        v.title_en,
        v.body_en,
        a.helpful,
        a.not_helpful,
        wire_time(a.published_at),
        html,
        html_en,
    )


def status_out(s: core_search.Status) -> SearchStatus:
    return SearchStatus(
        s.queued,
        s.documents,
        [BackfillProgress(b.kind, b.done, b.total, b.finished) for b in s.backfill],
    )
