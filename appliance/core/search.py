"""Full-text search over articles, tickets and chat transcripts, each only for those
who may see it; the index is kept in SQLite (covered by transactions and backups).

Articles are indexed by core/knowledge.py in the transaction that publishes them.
Tickets and chat messages reach `search_queue` through triggers (migration 0024) in
the transaction that writes them; the indexer here splits their text in batches (a
chat message's write costs one small queue row, not the splitting), at most a second
later, and a staff search first takes in what is queued so it sees every write made
before it. Rows that existed before the index are walked once by key, in batches (the
backfill); its progress is logged and readable in `status`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from appliance.core import textsearch
from appliance.core.actors import Staff
from appliance.core.db import Database
from appliance.core.errors import InvalidInput, StorageFull
from appliance.core.store import conversations as conversation_store
from appliance.core.store import search as store
from appliance.core.store import tickets as ticket_store
from appliance.core.store.search import Backfill, Doc, Scope
from appliance.core.textsearch import Piece

_LOGGER = logging.getLogger(__name__)

KINDS = ("article", "ticket", "chat")
LIMIT_MAX = 50  # hits answered at most
QUEUE_BATCH = 200  # queued changes indexed per write job
# ... while other writes wait for the writer: a job shares their transaction, so a big
# one delays chat lines' commits (bench/README.md, issue 18).
QUEUE_BATCH_BUSY = 100  # 20 made 10x the jobs: round trip p50 x2.5 at 10,000 visitors
# ... and a job stops early, past this many seconds, once other writes wait for the
# writer (it has done at least QUEUE_BATCH_MIN): 100 messages took the writer 13.6 ms
# on average and up to 138 ms at 5,000 visitors, the longest of its transactions, and
# every chat line queued meanwhile waited for it (issue 18). None: no time limit.
QUEUE_BUDGET_BUSY: float | None = 0.002
QUEUE_BATCH_MIN = 10
BACKFILL_BATCH = 200  # old rows indexed per write job (about 80 ms of the writer: bench)
INDEX_EVERY = 1.0  # s between looks at the queue when it was empty
CATCH_UP_ROUNDS = 4  # queue batches a staff search takes in before it reads
_PROGRESS_EVERY = 5.0  # s between log lines of the backfill's progress


class QueryTooLong(InvalidInput):
    """A search longer than textsearch.QUERY_MAX characters, or of too many words."""

    code = "query_too_long"


@dataclass(frozen=True, slots=True)
class Found:
    """One article, ticket or chat that matches, with its best snippet."""

    kind: str
    ref: str
    part: str  # the language of an article's hit, the seq of a message, ...
    title: str
    snippet: list[Piece]
    updated_at: int
    score: float


@dataclass(frozen=True, slots=True)
class Results:
    terms: tuple[str, ...]  # the parts searched for (normalised); empty: nothing to find
    hits: list[Found]


@dataclass(frozen=True, slots=True)
class Status:
    queued: int
    documents: int
    backfill: list[Backfill]


def _chat_key(after: str) -> tuple[str, int]:
    conv, _, seq = after.rpartition(":")
    return conv, int(seq or 0)


def _ticket_key(after: str) -> tuple[int, int]:
    ticket, _, seq = after.partition(":")
    return int(ticket or 0), int(seq or 0)


def _queued_doc(conn: sqlite3.Connection, kind: str, ref: str, part: str) -> Doc | None:
    """Read the current text of a queued change from its owner's tables."""
    if kind == "chat":
        message = conversation_store.text_of(conn, ref, int(part))
        return None if message is None else Doc("chat", ref, part, "", message[0], message[1])
    if kind == "ticket" and part == "head":
        ticket = ticket_store.text_of(conn, int(ref))
        if ticket is None:
            return None
        return Doc("ticket", ref, "head", ticket[0], ticket[1], ticket[2])
    if kind == "ticket":
        comment = ticket_store.comment_of(conn, int(ref), int(part))
        return None if comment is None else Doc("ticket", ref, part, "", comment[0], comment[1])
    return None


def _over_budget(
    done: int, total: int, started: float, others_wait: Callable[[], bool] | None
) -> bool:
    """Tell whether a queue batch should stop here and leave the rest queued: it has
    done QUEUE_BATCH_MIN, taken QUEUE_BUDGET_BUSY seconds, and other writes wait."""
    return (
        others_wait is not None
        and QUEUE_BUDGET_BUSY is not None
        and QUEUE_BATCH_MIN <= done < total
        and time.monotonic() - started > QUEUE_BUDGET_BUSY
        and others_wait()
    )


def index_queued(
    conn: sqlite3.Connection,
    limit: int = QUEUE_BATCH,
    others_wait: Callable[[], bool] | None = None,
) -> int:
    """Index a batch of queued changes (in the writer); return how many it indexed.

    With others_wait, the batch stops after QUEUE_BUDGET_BUSY seconds (and at least
    QUEUE_BATCH_MIN changes) once it tells that other writes wait: the rest stays queued.
    """
    batch = store.queued(conn, limit)
    started = time.monotonic()
    done = 0
    for _id, kind, ref, part in batch:
        doc = _queued_doc(conn, kind, ref, part)
        if doc is not None:
            store.put(conn, doc)
        done += 1
        if _over_budget(done, len(batch), started, others_wait):
            break
    if done:
        store.unqueue(conn, batch[done - 1][0])
    return done


@dataclass(frozen=True, slots=True)
class Prepared:
    """A queued change, read and split on a reader for the writer (prepare_queued)."""

    queue_id: int
    doc: Doc | None  # None: its row is gone, nothing to index
    split: tuple[str, str] | None  # not indexed yet: index_text of its title and body


def prepare_queued(conn: sqlite3.Connection, limit: int) -> list[Prepared]:
    """Read a batch of queued changes and split the text of the new ones (on a reader,
    beside the writer): the writer then only stores them (index_prepared)."""
    batch = []
    for queue_id, kind, ref, part in store.queued(conn, limit):
        doc = _queued_doc(conn, kind, ref, part)
        split = None
        if doc is not None and not store.is_indexed(conn, doc):
            split = (textsearch.index_text(doc.title), textsearch.index_text(doc.body))
        batch.append(Prepared(queue_id, doc, split))
    return batch


def index_prepared(
    conn: sqlite3.Connection,
    batch: Sequence[Prepared],
    others_wait: Callable[[], bool] | None = None,
) -> int:
    """Store a prepared batch of queued changes (in the writer); return how many it
    took off the queue, 0 if someone indexed them since they were read (a staff
    search's catch-up). Stops early as index_queued does while others wait.

    A new document costs the writer two statements, where reading and splitting it
    there cost seven and its Python (issue 18: each statement waits for the GIL again
    while the event loop is busy). A document indexed meanwhile, or one that changed,
    is put the full way (read, compared, replaced).
    """
    if not batch or not store.is_queued(conn, batch[0].queue_id):
        return 0
    started = time.monotonic()
    done = 0
    for item in batch:
        if item.doc is not None and (
            item.split is None or not store.put_new(conn, item.doc, item.split)
        ):
            store.put(conn, item.doc)
        done += 1
        if _over_budget(done, len(batch), started, others_wait):
            break
    store.unqueue(conn, batch[done - 1].queue_id)
    return done


def take_queued(conn: sqlite3.Connection, limits: list[int]) -> list[int]:
    """index_queued for each limit (inside a write), for the writer's helper process
    (core/db_helper.py): the changes are read, split and stored there, out of the box's
    process and its GIL. It cannot ask the writer's queue, so it takes others as
    waiting: each batch stops past the time budget (once QUEUE_BATCH_MIN are done)."""
    return [index_queued(conn, limit, _others_wait) for limit in limits]


def _others_wait() -> bool:
    return True


def backfill_step(conn: sqlite3.Connection, fill: Backfill, limit: int = BACKFILL_BATCH) -> int:
    """Index the next batch of rows that were there before the index; return how many."""
    docs: list[Doc] = []
    after = fill.after
    if fill.kind == "chat":
        conv, seq = _chat_key(fill.after)
        for conv_id, number, body, at in conversation_store.texts_after(conn, conv, seq, limit):
            docs.append(Doc("chat", conv_id, str(number), "", body, at))
            after = f"{conv_id}:{number}"
    elif fill.kind == "ticket":
        last = int(fill.after or 0)
        for ticket_id, subject, description, at in ticket_store.texts_after(conn, last, limit):
            docs.append(Doc("ticket", str(ticket_id), "head", subject, description, at))
            after = str(ticket_id)
    elif fill.kind == "ticket_event":
        ticket, seq = _ticket_key(fill.after)
        for ticket_id, number, body, at in ticket_store.comments_after(conn, ticket, seq, limit):
            docs.append(Doc("ticket", str(ticket_id), str(number), "", body, at))
            after = f"{ticket_id}:{number}"
    for doc in docs:
        store.put(conn, doc)
    store.advance(conn, fill.kind, after, len(docs), finished=len(docs) < limit)
    return len(docs)


def _snippet(title: str, body: str, parts: Sequence[str]) -> list[Piece]:
    """Cut the snippet from the body, or from the title when only the title has a hit."""
    pieces = textsearch.snippet(body, parts) if body else []
    if any(p.mark for p in pieces):
        return pieces
    from_title = textsearch.snippet(title, parts)
    return from_title if any(p.mark for p in from_title) or not pieces else pieces


def scope_of(actor: Staff) -> Scope:
    """Return what a staff member may find: the rules of tickets and of the console."""
    return Scope(
        public=False,
        user_id=actor.id,
        all_tickets=actor.overseer or actor.dispatcher,
        all_chats=actor.overseer,
        groups=sorted(actor.groups),
    )


PUBLIC = Scope(public=True)


class Search:
    """Keep the index current and answer searches."""

    def __init__(self, db: Database) -> None:
        self._db = db
        db.send_away(take_queued)
        self._task: asyncio.Task[None] | None = None
        self._logged = 0.0
        self._fits = QUEUE_BATCH  # changes one queue batch prepares (what the budget let in)

    async def open(self) -> None:
        """Start the indexer (it also runs the backfill, batch by batch)."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop the indexer; what is queued stays queued for the next start."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def status(self) -> Status:
        """Return the queue's length, the documents indexed and the backfill's progress."""

        def read(conn: sqlite3.Connection) -> Status:
            return Status(store.queue_length(conn), store.docs_count(conn), store.backfills(conn))

        return await self._db.read(read)

    async def step(self) -> int:
        """Index one batch of queued changes, else one backfill batch; return the rows."""
        # Read and split on a reader first (an idle box writes and syncs nothing); the
        # writer only stores what was prepared.
        db = self._db
        if db.helper_up:  # it reads, splits and stores the batch, out of this process
            done = await db.write(
                lambda conn: index_queued(conn, QUEUE_BATCH, lambda: db.queue_depth > 0),
                many=(take_queued, QUEUE_BATCH),
            )
            if done:
                return done
        limit = min(self._fits, QUEUE_BATCH_BUSY if db.queue_depth else QUEUE_BATCH)
        batch = await db.read_aside(lambda conn: prepare_queued(conn, limit))
        if batch:
            done = await db.write(
                lambda conn: index_prepared(conn, batch, lambda: db.queue_depth > 0)
            )
            # A batch stopped by the time budget: prepare what fits next time (the rest
            # is read and split again); a whole one: twice as many again.
            cut = 0 < done < len(batch)
            self._fits = max(done, QUEUE_BATCH_MIN) if cut else min(self._fits * 2, QUEUE_BATCH)
            return max(done, 1)  # 0: a catch-up took them meanwhile; look again at once
        fills = [f for f in await self._db.read(store.backfills) if not f.finished]
        if not fills:
            return 0
        fill = fills[0]
        done = await self._db.write(lambda conn: backfill_step(conn, fill))
        now = time.monotonic()
        if now - self._logged >= _PROGRESS_EVERY or done < BACKFILL_BATCH:
            self._logged = now
            _LOGGER.info(
                "search backfill: %s %d of %d", fill.kind, fill.done + done, max(fill.total, 1)
            )
        return max(done, 1)  # a finished kind is progress too: look again at once

    async def catch_up(self, rounds: int = CATCH_UP_ROUNDS) -> None:
        """Index what is queued (a few batches at most) so a search sees recent writes."""
        for _ in range(rounds):
            if not await self._db.read(store.has_queued):
                return
            await self._db.write(index_queued)

    async def rebuild(self) -> int:
        """Split every kept document again (after the splitting rules changed); return
        the batches it took."""
        await self._db.write(store.clear_terms)
        after, count = 0, 0
        while True:

            def batch(conn: sqlite3.Connection, start: int = after) -> int:
                return store.rebuild(conn, start, QUEUE_BATCH)

            last = await self._db.write(batch)
            if not last:
                return count
            count += 1
            after = last

    async def _run(self) -> None:
        while True:
            try:
                worked = await self.step()
            except asyncio.CancelledError:
                raise
            except StorageFull:  # the database reports a full disk itself; try later
                worked = 0
            except Exception:  # a bad row must not stop the indexer for good
                _LOGGER.exception("search indexing failed; trying again shortly")
                worked = 0
            await asyncio.sleep(0 if worked else INDEX_EVERY)

    async def search(
        self,
        text: str,
        actor: Staff | None,
        kinds: Sequence[str] = KINDS,
        limit: int = 20,
    ) -> Results:
        """Search for what someone typed; actor None searches as a visitor (public
        articles only)."""
        try:
            query = textsearch.parse(text)
        except textsearch.QueryTooLong as err:
            raise QueryTooLong(str(err)) from err
        unknown = set(kinds) - set(KINDS)
        if unknown or not kinds:
            raise InvalidInput(f"kinds are some of {', '.join(KINDS)}")
        limit = max(1, min(limit, LIMIT_MAX))
        if not query.match:
            return Results((), [])
        if actor is not None:
            await self.catch_up()
        scope = PUBLIC if actor is None else scope_of(actor)
        hits = await self._db.read(
            lambda conn: store.search(conn, query.match, scope, tuple(kinds), limit)
        )
        return Results(
            query.parts,
            [
                Found(
                    h.kind,
                    h.ref,
                    h.part,
                    h.title,
                    _snippet(h.title, h.body, query.parts),
                    h.updated_at,
                    h.score,
                )
                for h in hits
            ],
        )
