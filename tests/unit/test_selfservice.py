"""Self-service rules: page prefixes by whole segments, and the deflection figure's
edges (a chat before the first event, at the window's end, another visitor's chat)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest

from appliance.core.db import Database
from appliance.core.errors import InvalidInput
from appliance.core.selfservice import SelfService, normal_prefix, prefixes_of
from appliance.core.store import conversations as conversation_store
from appliance.core.store import visitors as visitor_store

MIN = 60_000  # ms


def test_prefixes_match_whole_segments() -> None:
    assert prefixes_of("/shop/phones/x200?ref=ad#top") == [
        "/",
        "/shop",
        "/shop/phones",
        "/shop/phones/x200",
    ]
    assert prefixes_of("") == ["/"]
    assert prefixes_of("//a///b/") == ["/", "/a", "/a/b"]
    assert len(prefixes_of("/a" * 5000)) == 17  # '/' and 16 segments at most
    assert "/shop" not in prefixes_of("/shopping")


@pytest.mark.parametrize(
    ("raw", "kept"), [("/shop/", "/shop"), (" /a/b ", "/a/b"), ("/", "/"), ("///", "/")]
)
def test_prefixes_are_kept_without_a_trailing_slash(raw: str, kept: str) -> None:
    assert normal_prefix(raw) == kept


@pytest.mark.parametrize("bad", ["shop", "https://x.example/shop", "/a b", "/a?b", "/" + "a" * 200])
def test_bad_prefixes_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normal_prefix(bad)


async def test_deflection_edges(tmp_path) -> None:
    db = Database(tmp_path / "x.db")
    await db.open()
    try:
        start = 1_800_000_000_000
        clock = [start]
        service = SelfService(db, window=600, clock=lambda: clock[0])

        def chat(visitor: str, at: int) -> Callable[[sqlite3.Connection], None]:
            def job(conn: sqlite3.Connection) -> None:
                visitor_store.upsert(conn, visitor, at)
                conversation_store.insert(
                    conn,
                    f"c-{visitor}-{at}",
                    visitor,
                    at,
                    name="",
                    page_url="",
                    lang="",
                    ip="",
                    group_id=None,
                    topic="",
                    region="",
                    skill="",
                    preferred_agent_id=None,
                )

            return job

        # before: chatted earlier, then searched (a later chat only decides).
        await db.write(chat("before", start - MIN))
        # edge: a chat exactly when the window ends is too late to undo it.
        await db.write(chat("edge", start + 10 * MIN))
        # inside: a chat a minute after reading.
        await db.write(chat("inside", start + MIN))
        for visitor in ("before", "edge", "inside", "quiet"):
            await service.record(visitor, "search")
        await service.record("quiet", "read", 1)  # one visitor, however many events
        clock[0] = start + 10 * MIN
        report = await service.deflection(1)
        c = report.counts
        assert (c.visitors, c.deflected, c.chatted, c.pending) == (4, 3, 1, 0)
        assert report.rate == 0.75
        clock[0] = start + 10 * MIN - 1  # a millisecond before: all but the chatter wait
        c = (await service.deflection(1)).counts
        assert (c.deflected, c.chatted, c.pending) == (0, 1, 3)
        clock[0] = start + 2 * 86_400_000  # outside the period asked about
        assert (await service.deflection(1)).counts.visitors == 0
        with pytest.raises(InvalidInput):
            await service.deflection(0)
    finally:
        await db.close()
