"""Self-service before a chat: suggested articles for the page a visitor is on, the
visitors' searches, reads and votes, and the deflection figure drawn from them.

Deflected (docs/knowledge-base.md): a visitor who searched, read an article or voted
through the widget, and started no chat within the window (10 minutes by default,
setting `kb_deflection_window`) after the first of those events in the period asked
about. Counted when asked, from `kb_visitor_events` and `conversations`: nothing is
written when a chat starts, and a changed window applies to the past as well.

Suggestions: articles whose page prefixes (set by reviewers) match the visitor's path
by whole segments ('/shop' matches /shop and /shop/phones, not /shopping), the most
particular prefix first; the rest filled with the most helpful and most read public
articles. Only public, published articles are ever returned.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from appliance.core import validate
from appliance.core.actors import Staff
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Forbidden, InvalidInput, NotFound
from appliance.core.store import knowledge as knowledge_store
from appliance.core.store import selfservice as store
from appliance.core.store.knowledge import PublicEntry
from appliance.core.store.selfservice import Deflection

DEFLECTION_WINDOW = 600.0  # s after a visitor's first self-service event a chat undoes it
SUGGEST_MAX = 10  # articles suggested at most
PATH_MAX = 512  # characters of a page path looked at
PREFIX_MAX = 200  # characters of one page prefix
PREFIXES_MAX = 20  # prefixes per article
DAYS_MAX = 366  # the longest period the figure is counted over
_SEGMENTS_MAX = 16  # path segments looked at (a longer path is cut there)
_DAY = 86_400_000  # ms
KINDS = ("search", "read", "vote")
_PREFIX = re.compile(r"/[^\s?#]*")


class BadPrefix(InvalidInput):
    code = "bad_prefix"


@dataclass(frozen=True, slots=True)
class DeflectionReport:
    since: int  # ms
    until: int  # ms
    window: float  # s
    counts: Deflection

    @property
    def rate(self) -> float | None:
        """Return deflected / (deflected + chatted), or None before any window ended."""
        decided = self.counts.deflected + self.counts.chatted
        return None if decided == 0 else self.counts.deflected / decided


def normal_prefix(value: str) -> str:
    """Return a page prefix as stored: a path from '/', without a trailing '/'."""
    text = value.strip()
    if len(text) > PREFIX_MAX or not _PREFIX.fullmatch(text) or validate.text_problem(text):
        raise BadPrefix(f"a page prefix is a path from '/' of up to {PREFIX_MAX} characters")
    return text.rstrip("/") or "/"


def prefixes_of(path: str) -> list[str]:
    """Return the prefixes that match a page path, by whole segments ('/' first)."""
    path = path[:PATH_MAX].split("?", 1)[0].split("#", 1)[0]
    segments = [s for s in path.split("/") if s][:_SEGMENTS_MAX]
    return ["/"] + ["/" + "/".join(segments[: i + 1]) for i in range(len(segments))]


class SelfService:
    """Suggest articles, record visitors' self-service and count deflection."""

    def __init__(
        self,
        db: Database,
        window: float = DEFLECTION_WINDOW,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._db = db
        self.window = window
        self.clock = clock  # ms; tests move it past the window instead of waiting

    async def record(self, visitor_id: str, kind: str, article_id: int | None = None) -> None:
        """Record a visitor's search, read or vote."""
        assert kind in KINDS, kind
        at = self.clock()
        await self._db.write(lambda conn: store.add_event(conn, visitor_id, kind, article_id, at))

    async def events(self, visitor_id: str) -> list[tuple[str, int | None, int]]:
        """Return a visitor's recorded events (kind, article id, ms), oldest first."""
        return await self._db.read(lambda conn: store.events_of(conn, visitor_id))

    async def deflection(self, days: int = 30) -> DeflectionReport:
        """Count the last `days` days' self-serving visitors: deflected, chatted, pending."""
        days = validate.whole(days, "days", 1, DAYS_MAX)
        now = self.clock()
        since, window = now - days * _DAY, round(self.window * 1000)
        counts = await self._db.read(
            lambda conn: store.deflection(conn, since, now + 1, window, now)
        )
        return DeflectionReport(since, now, self.window, counts)

    async def suggested(self, path: str, limit: int = 5) -> list[PublicEntry]:
        """Return public articles for a page: those placed on it, then the most helpful."""
        limit = max(1, min(limit, SUGGEST_MAX))
        wanted = prefixes_of(path)

        def read(conn: sqlite3.Connection) -> list[PublicEntry]:
            placed = store.matching(conn, wanted, limit)
            found = knowledge_store.public_entries(conn, placed)
            if len(found) < limit:
                more = knowledge_store.public_entries(conn, limit=limit * 2)
                have = {e.id for e in found}
                found += [e for e in more if e.id not in have][: limit - len(found)]
            return found

        return await self._db.read(read)

    async def pages(self, article_id: int) -> list[str]:
        """Return the page prefixes an article is suggested on."""

        def read(conn: sqlite3.Connection) -> list[str]:
            if knowledge_store.article(conn, article_id) is None:
                raise NotFound("no such article")
            return store.pages(conn, article_id)

        return await self._db.read(read)

    async def set_pages(
        self, actor: Staff, may_review: bool, article_id: int, prefixes: Sequence[str]
    ) -> list[str]:
        """Replace the page prefixes an article is suggested on (reviewers only)."""
        if not may_review:
            raise Forbidden("only a supervisor or a named editor places articles on pages")
        if len(prefixes) > PREFIXES_MAX:
            raise BadPrefix(f"at most {PREFIXES_MAX} page prefixes per article")
        clean = sorted({normal_prefix(p) for p in prefixes})

        def job(conn: sqlite3.Connection) -> list[str]:
            if knowledge_store.article(conn, article_id) is None:
                raise NotFound("no such article")
            store.set_pages(conn, article_id, clean)
            return clean

        return await self._db.write(job)

    async def public_index(self, per_category: int) -> list[PublicEntry]:
        """Return the public articles the help index lists, by category."""
        return await self._db.read(
            lambda conn: knowledge_store.public_by_category(conn, per_category)
        )
