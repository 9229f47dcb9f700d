"""The knowledge base's rules: articles in categories, written by any staff member,
approved by a reviewer (a supervisor, an admin or a named editor), every version kept.

States: draft → review → published → archived. Editing a published article starts a
new draft version while readers keep seeing the published one; approving publishes
the newest version. Only published versions are in the search index (internal ones
for staff, public ones for visitors too), written in the same transaction as the
move. Votes (one per voter, changeable) and views are counted per article; views are
added up in memory and written in one statement every few seconds, so a busy article
does not cost one write per reader. Contributors earn points (知识奖赏): each author of
a version when the article is first published, and the article's creator per helpful
vote.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from appliance.core import validate
from appliance.core.actors import Staff
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from appliance.core.store import accounts as account_store
from appliance.core.store import knowledge as store
from appliance.core.store import search as search_store
from appliance.core.store.knowledge import Article, Category, Contributor, Step, Version

_LOGGER = logging.getLogger(__name__)

STATES = ("draft", "review", "published", "archived")
AUDIENCES = ("internal", "public")
TITLE_MAX = 200
BODY_MAX = 50_000
NOTE_MAX = 500
CATEGORY_MAX = 64
PAGE_MAX = 100
PUBLISH_POINTS = 10  # per contributor, once per article
HELPFUL_POINTS = 1  # to the article's creator, per helpful vote
VIEW_FLUSH = 10.0  # s between writes of the counted views
_VIEWS_HELD = 5_000  # articles with unwritten views before a write is due at once

# (from, to) -> who may make the move: "writer" (any staff) or "reviewer".
MOVES: dict[tuple[str, str], str] = {
    ("draft", "review"): "writer",
    ("review", "draft"): "reviewer",  # sent back
    ("review", "published"): "reviewer",  # approved
    ("published", "archived"): "reviewer",
    ("draft", "archived"): "reviewer",
    ("review", "archived"): "reviewer",
    ("archived", "draft"): "reviewer",  # taken out of the archive to be edited
}


class StaleVersion(Conflict):
    """Someone saved a newer version since the editor opened the article."""

    code = "stale_version"


class BadMove(Conflict):
    """A move the states do not allow."""

    code = "bad_move"


@dataclass(frozen=True, slots=True)
class Texts:
    """What one version says, in both languages (English may be empty)."""

    title: str
    body: str
    title_en: str = ""
    body_en: str = ""


@dataclass(frozen=True, slots=True)
class ArticleDetail:
    article: Article
    current: Version  # the newest version
    steps: list[Step]
    may_review: bool


@dataclass(frozen=True, slots=True)
class FieldDiff:
    field: str
    lines: list[str]  # unified diff, without file headers


def check_texts(values: Mapping[str, Any]) -> Texts:
    """Return the texts of a version, checked (a zh-CN title and body are required)."""
    title_en = validate.text(values.get("title_en"), "title_en", TITLE_MAX)
    body_en = validate.text(values.get("body_en"), "body_en", BODY_MAX)
    if bool(title_en) != bool(body_en):
        raise InvalidInput("an English version needs both a title and a body")
    texts = Texts(
        title=validate.text(values.get("title"), "title", TITLE_MAX, required=True),
        body=validate.text(values.get("body"), "body", BODY_MAX, required=True),
        title_en=title_en,
        body_en=body_en,
    )
    for value in (texts.title, texts.body, texts.title_en, texts.body_en):
        problem = validate.text_problem(value)
        if problem:
            raise InvalidInput(problem)
    return texts


def index_docs(article: Article, version: Version) -> list[search_store.Doc]:
    """Return the search documents of a published version: one per language."""
    docs = [
        search_store.Doc(
            "article",
            str(article.id),
            "zh-CN",
            version.title,
            version.body,
            version.created_at,
            article.audience,
        )
    ]
    if version.title_en:
        docs.append(
            search_store.Doc(
                "article",
                str(article.id),
                "en",
                version.title_en,
                version.body_en,
                version.created_at,
                article.audience,
            )
        )
    return docs


class Knowledge:
    """Write, review, publish, read, vote on and credit knowledge articles."""

    def __init__(self, db: Database, clock: Callable[[], int] = now_ms) -> None:
        self._db = db
        self._now = clock
        self._views: dict[int, int] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._flush_soon = asyncio.Event()

    async def open(self) -> None:
        """Start writing counted views in the background."""
        self._flusher = asyncio.get_running_loop().create_task(self._flush_views())

    async def close(self) -> None:
        """Stop the background writer and write the views still counted."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        await self.write_views()

    # -- who may do what ----------------------------------------------------------------

    @staticmethod
    def _reviewer(conn: sqlite3.Connection, actor: Staff) -> bool:
        return actor.overseer or store.is_editor(conn, actor.id)

    async def may_review(self, actor: Staff) -> bool:
        """Tell whether a user approves articles (supervisor, admin or named editor)."""
        return await self._db.read(lambda conn: self._reviewer(conn, actor))

    def _load(self, conn: sqlite3.Connection, article_id: int) -> Article:
        found = store.article(conn, article_id)
        if found is None:
            raise NotFound("no such article")
        return found

    def _category(self, conn: sqlite3.Connection, category_id: int | None) -> int | None:
        if category_id is not None and store.category(conn, category_id) is None:
            raise InvalidInput("no such category")
        return category_id

    # -- categories ---------------------------------------------------------------------

    async def categories(self) -> list[Category]:
        """Return the categories in their order."""
        return await self._db.read(store.categories)

    async def save_category(
        self, actor: Staff, category_id: int | None, values: Mapping[str, Any]
    ) -> Category:
        """Add a category, or change one (reviewers only)."""
        name = validate.text(values.get("name"), "name", CATEGORY_MAX, required=True)
        name_en = validate.text(values.get("name_en"), "name_en", CATEGORY_MAX)
        position = validate.whole(values.get("position", 0), "position", 0, 10_000)
        now = self._now()

        def job(conn: sqlite3.Connection) -> Category:
            if not self._reviewer(conn, actor):
                raise Forbidden("only reviewers manage categories")
            try:
                if category_id is None:
                    found = store.add_category(conn, name, name_en, position, now)
                elif store.change_category(conn, category_id, name, name_en, position):
                    found = category_id
                else:
                    raise NotFound("no such category")
            except sqlite3.IntegrityError as err:
                raise Conflict("a category has that name") from err
            made = store.category(conn, found)
            assert made is not None
            return made

        return await self._db.write(job)

    async def delete_category(self, actor: Staff, category_id: int) -> None:
        """Delete a category; its articles stay, without a category (reviewers only)."""

        def job(conn: sqlite3.Connection) -> None:
            if not self._reviewer(conn, actor):
                raise Forbidden("only reviewers manage categories")
            if not store.delete_category(conn, category_id):
                raise NotFound("no such category")

        await self._db.write(job)

    # -- writing ------------------------------------------------------------------------

    async def create(self, actor: Staff, values: Mapping[str, Any]) -> ArticleDetail:
        """Start an article as a draft at version 1 (any staff member)."""
        texts = check_texts(values)
        audience = values.get("audience", "internal")
        if audience not in AUDIENCES:
            raise InvalidInput("audience must be internal or public")
        note = validate.text(values.get("note"), "note", NOTE_MAX)
        now = self._now()

        def job(conn: sqlite3.Connection) -> int:
            category_id = self._category(conn, values.get("category_id"))
            article_id = store.insert_article(
                conn, category_id, audience, texts.title, actor.id, now
            )
            store.insert_version(conn, _version(article_id, 1, texts, actor, note, now))
            return article_id

        return await self.detail(actor, await self._db.write(job))

    async def edit(
        self, actor: Staff, article_id: int, base: int, values: Mapping[str, Any]
    ) -> ArticleDetail:
        """Save a new version over version `base` (refused if a newer one exists).

        A published article goes back to draft with its published version still read;
        one in review stays in review. Archived articles are taken out first. Its
        audience or category changes only by a reviewer once it was ever published.
        """
        texts = check_texts(values)
        note = validate.text(values.get("note"), "note", NOTE_MAX)
        audience = values.get("audience")
        if audience is not None and audience not in AUDIENCES:
            raise InvalidInput("audience must be internal or public")
        now = self._now()

        def job(conn: sqlite3.Connection) -> None:
            article = self._load(conn, article_id)
            if article.state == "archived":
                raise BadMove("an archived article is taken out of the archive before editing")
            if article.version != base:
                raise StaleVersion(f"version {article.version} was saved meanwhile; open it again")
            changes: dict[str, Any] = {
                "title": texts.title,
                "version": base + 1,
                "updated_at": now,
            }
            if "category_id" in values:
                changes["category_id"] = self._category(conn, values["category_id"])
            if audience is not None:
                changes["audience"] = audience
            moved = {k for k in ("category_id", "audience") if k in changes}
            if (
                article.published_version is not None
                and any(changes[k] != getattr(article, k) for k in moved)
                and not self._reviewer(conn, actor)
            ):
                raise Forbidden("only reviewers change a published article's audience")
            if article.state == "published":
                changes["state"] = "draft"
                store.add_step(conn, article.id, now, actor.id, "published", "draft", base + 1, "")
            store.insert_version(conn, _version(article.id, base + 1, texts, actor, note, now))
            store.update_article(conn, article.id, changes)
            if article.published_version is not None and "audience" in changes:
                self._reindex(conn, article.id)

        await self._db.write(job)
        return await self.detail(actor, article_id)

    async def move(self, actor: Staff, article_id: int, to: str, note: str = "") -> ArticleDetail:
        """Move an article to another state, as `MOVES` allows the actor."""
        if to not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}")
        note = validate.text(note, "note", NOTE_MAX)
        now = self._now()

        def job(conn: sqlite3.Connection) -> None:
            article = self._load(conn, article_id)
            who = MOVES.get((article.state, to))
            if who is None:
                raise BadMove(f"a {article.state} article cannot become {to}")
            if who == "reviewer" and not self._reviewer(conn, actor):
                raise Forbidden("only a supervisor or a named editor may do that")
            changes: dict[str, Any] = {"state": to, "updated_at": now}
            if to == "archived":  # out of reach until published again
                changes["published_version"] = None
            if to == "published":
                changes["published_version"] = article.version
                changes["published_at"] = now
                changes["reviewer_id"] = actor.id
            store.add_step(
                conn, article.id, now, actor.id, article.state, to, article.version, note
            )
            store.update_article(conn, article.id, changes)
            if to == "published":
                for user_id in store.contributors(conn, article.id):
                    store.add_points(conn, user_id, article.id, "published", PUBLISH_POINTS, now)
            self._reindex(conn, article.id)

        await self._db.write(job)
        return await self.detail(actor, article_id)

    def _reindex(self, conn: sqlite3.Connection, article_id: int) -> None:
        """Put the article's published version in the index, or take it out."""
        article = self._load(conn, article_id)
        search_store.drop(conn, "article", str(article.id))
        # A draft of a published article keeps its published version readable.
        readable = article.published_version is not None and article.state != "archived"
        if readable and article.published_version is not None:
            published = store.version(conn, article.id, article.published_version)
            assert published is not None
            for doc in index_docs(article, published):
                search_store.put(conn, doc)

    # -- reading ------------------------------------------------------------------------

    async def detail(self, actor: Staff, article_id: int) -> ArticleDetail:
        """Return an article with its newest version and its steps (any staff member)."""

        def read(conn: sqlite3.Connection) -> ArticleDetail:
            article = self._load(conn, article_id)
            current = store.version(conn, article.id, article.version)
            assert current is not None
            return ArticleDetail(
                article, current, store.steps(conn, article.id), self._reviewer(conn, actor)
            )

        return await self._db.read(read)

    async def listing(
        self,
        *,
        category_id: int | None = None,
        state: str | None = None,
        audience: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[Article]]:
        """Return a page of articles by category and state, newest change first."""
        if state is not None and state not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}")
        if audience is not None and audience not in AUDIENCES:
            raise InvalidInput("audience must be internal or public")
        limit = max(1, min(limit, PAGE_MAX))
        offset = max(0, min(offset, validate.INT_MAX))
        return await self._db.read(
            lambda conn: store.articles(
                conn,
                category_id=category_id,
                state=state,
                audience=audience,
                limit=limit,
                offset=offset,
            )
        )

    async def versions(self, article_id: int) -> list[Version]:
        """Return every version of an article, newest first."""

        def read(conn: sqlite3.Connection) -> list[Version]:
            self._load(conn, article_id)
            return store.versions(conn, article_id)

        return await self._db.read(read)

    async def diff(self, article_id: int, old: int, new: int) -> list[FieldDiff]:
        """Return what changed from one version to another, field by field."""

        def read(conn: sqlite3.Connection) -> tuple[Version, Version]:
            self._load(conn, article_id)
            a, b = store.version(conn, article_id, old), store.version(conn, article_id, new)
            if a is None or b is None:
                raise NotFound("no such version")
            return a, b

        a, b = await self._db.read(read)
        return [
            FieldDiff(name, lines)
            for name in ("title", "body", "title_en", "body_en")
            if (lines := _diff(getattr(a, name), getattr(b, name), old, new))
        ]

    async def published(self, article_id: int, *, public: bool) -> tuple[Article, Version]:
        """Return an article's published version (for visitors: public ones only)."""

        def read(conn: sqlite3.Connection) -> tuple[Article, Version]:
            article = store.article(conn, article_id)
            if (
                article is None
                or article.published_version is None
                or article.state == "archived"
                or (public and article.audience != "public")
            ):
                raise NotFound("no such article")
            found = store.version(conn, article.id, article.published_version)
            assert found is not None
            return article, found

        return await self._db.read(read)

    # -- votes, views and points --------------------------------------------------------

    async def vote(self, voter: str, article_id: int, helpful: bool, *, public: bool) -> Article:
        """Record a voter's vote on a published article ('u:<id>' or 'v:<id>')."""
        await self.published(article_id, public=public)
        now = self._now()

        def job(conn: sqlite3.Connection) -> Article:
            article = self._load(conn, article_id)
            old = store.vote_of(conn, article_id, voter)
            if old is helpful:
                return article
            store.put_vote(conn, article_id, voter, helpful, old, now)
            if voter != f"u:{article.author_id}" and (helpful or old is True):
                points = HELPFUL_POINTS if helpful else -HELPFUL_POINTS
                store.add_points(conn, article.author_id, article_id, "helpful", points, now)
            return self._load(conn, article_id)

        return await self._db.write(job)

    def count_view(self, article_id: int) -> None:
        """Count a read of an article; it is written with others a few seconds later."""
        self._views[article_id] = self._views.get(article_id, 0) + 1
        if len(self._views) >= _VIEWS_HELD:
            self._flush_soon.set()

    async def write_views(self) -> int:
        """Write the views counted so far in one statement; return how many."""
        counts, self._views = self._views, {}
        if counts:
            await self._db.write(lambda conn: store.add_views(conn, counts))
        return sum(counts.values())

    async def _flush_views(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_soon.wait(), VIEW_FLUSH)
            self._flush_soon.clear()
            try:
                await self.write_views()
            except Exception:  # the counts are lost, the box goes on
                _LOGGER.exception("could not write article views")

    async def contributors(self, user_id: int | None = None) -> list[Contributor]:
        """Return contributors' points, most first (or one user's)."""
        return await self._db.read(lambda conn: store.contributors_table(conn, user_id))

    async def editors(self) -> list[tuple[int, str]]:
        """Return the named editors."""
        return await self._db.read(store.editors)

    async def set_editor(self, actor: Staff, user_id: int, on: bool) -> list[tuple[int, str]]:
        """Name a user an editor or take it back (supervisors and admins)."""
        if not actor.overseer:
            raise Forbidden("only supervisors name editors")
        now = self._now()

        def job(conn: sqlite3.Connection) -> list[tuple[int, str]]:
            if on and user_id not in account_store.display_names(conn, [user_id]):
                raise NotFound("no such user")
            store.set_editor(conn, user_id, on, actor.id, now)
            return store.editors(conn)

        return await self._db.write(job)


def _version(
    article_id: int, number: int, texts: Texts, actor: Staff, note: str, now: int
) -> Version:
    return Version(
        article_id,
        number,
        texts.title,
        texts.body,
        texts.title_en,
        texts.body_en,
        actor.id,
        actor.name,
        note,
        now,
    )


def _diff(old: str, new: str, a: int, b: int) -> list[str]:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), f"v{a}", f"v{b}", lineterm="", n=2
    )
    return [line for line in lines if not line.startswith(("---", "+++"))]
