"""The dispatcher: runs the router over the store whenever something may have changed.

A pass takes back chats whose agent let them ring out (one write), reads a consistent
snapshot in a thread of its own and plans on it (no write lock held: with 10,000
waiting that is ~0.1 s, bench/README.md), then applies the plan in writes of at most
_APPLY_CHUNK assignments, checking each decision again against the store inside the
write. The writer is single, so nothing can be given twice and no agent can pass their
limit: a decision that no longer holds is dropped and the next pass looks again.
Passes run on events and on a timer (waiting raises priority and widens pools), and
requests for passes fold into one.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from appliance.core.chats import (
    Chats,
    Conversation,
    Message,
    append_message,
    read_conversation,
)
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import LimitReached, NotFound, NotWaiting, OutOfScope, StorageFull
from appliance.core.events import (
    AgentStatusChanged,
    ConversationChanged,
    Event,
    EventBus,
    QueueChanged,
    RoutingChanged,
)
from appliance.core.hours import is_open, parse_holidays, parse_hours
from appliance.core.routing import (
    Agent,
    Group,
    Item,
    Place,
    Points,
    in_scope,
    places,
    plan,
    pool,
)
from appliance.core.routing_config import default_group
from appliance.core.store import accounts as account_store
from appliance.core.store import conversations as conversation_store
from appliance.core.store import routing as routing_store

_LOGGER = logging.getLogger(__name__)

_TICK = 2.0  # s between passes: priorities grow with waiting, pools widen, rings time out
_RING_COOLDOWN = 3  # answer timeouts for which an agent who let a chat ring out is skipped
_HANDLE_SAMPLE = 50  # recent closed chats per group behind the wait estimate
_HANDLE_TTL = 30_000  # ms a group's handling time estimate is reused
_APPLY_CHUNK = 200  # assignments per write: bounds how long one pass holds the writer

_Assigned = tuple[Conversation, Conversation, Message]


@dataclass(slots=True)
class PassResult:
    """What one pass changed, announced after its commit."""

    changes: list[_Assigned] = field(default_factory=list)
    away: list[int] = field(default_factory=list)
    assigned: int = 0
    stale: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    """One planned assignment, with what it assumed."""

    item: Item
    agent_id: int
    agent_name: str
    pool: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Planned:
    """A pass's plan, made on a snapshot."""

    decisions: list[Decision]
    places: dict[str, Place]
    cursors: dict[int, int]  # round robin cursors to store, per group


def _still_valid(conn: sqlite3.Connection, conv: Conversation, decision: Decision) -> bool:
    """Tell whether a planned assignment still holds now (inside the write applying it)."""
    item = decision.item
    if item.transfer:
        queued = (
            conv.status == "active"
            and bool(conv.transfer_pending)
            and conv.agent_id not in (None, decision.agent_id)
            and (conv.transfer_group_id or conv.group_id) == item.group_id
        )
    else:
        queued = conv.status == "waiting" and conv.group_id == item.group_id
    if not queued or conv.region != item.region or conv.skill != item.skill:
        return False
    if bool(conv.expert) != item.expert:
        return False
    return account_store.can_take(conn, decision.agent_id, decision.pool)


@dataclass(slots=True)
class Snapshot:
    """The router's view of the store at one moment."""

    agents: dict[int, Agent]
    names: dict[int, str]
    groups: dict[int, Group]
    items: list[Item]
    points: Points


def load_points(conn: sqlite3.Connection) -> Points:
    """Read the priority rules."""
    stored = routing_store.points(conn)
    return Points(tier=stored.tier, topic=stored.topic, wait=stored.wait, transfer=stored.transfer)


def load_groups(conn: sqlite3.Connection, local_now: datetime) -> dict[int, Group]:
    """Read every group, with whether it is open at a box-local time."""
    groups = {}
    for row in routing_store.planner_groups(conn):
        groups[row[0]] = Group(
            id=row[0],
            strategy=row[1],
            target_wait=row[2],
            max_wait=row[3],
            fallback_group_id=row[4],
            fallback_after=row[5],
            sticky=bool(row[6]),
            open=is_open(parse_hours(row[7]), parse_holidays(row[8]), local_now),
            rr_cursor=row[9],
        )
    return groups


def load_snapshot(conn: sqlite3.Connection, now: int, local_now: datetime) -> Snapshot:
    """Read everything a routing pass needs (in one read transaction)."""
    loads = conversation_store.agent_loads(conn)
    members: dict[int, set[int]] = {}
    for gid, uid in routing_store.memberships(conn):
        members.setdefault(uid, set()).add(gid)
    agents: dict[int, Agent] = {}
    names: dict[int, str] = {}
    for row in account_store.online_agents(conn):
        uid = row[0]
        names[uid] = row[1]
        agents[uid] = Agent(
            id=uid,
            groups=frozenset(members.get(uid, ())),
            max_chats=row[2],
            load=loads.get(uid, 0),
            expert=row[3] == "expert",
            skills=frozenset(json.loads(row[4])),
            regions=frozenset(json.loads(row[5])),
            idle_since=row[6],
        )
    groups = load_groups(conn, local_now)
    home = default_group(conn)
    longest = routing_store.longest_answer_timeout(conn, default=60)
    excluded: dict[str, set[int]] = {}
    since = now - _RING_COOLDOWN * longest * 1000
    for conv_id, uid in conversation_store.missed_since(conn, since):
        excluded.setdefault(conv_id, set()).add(uid)
    items = []
    for row in conversation_store.queue_rows(conn):
        gid = row[1] if row[1] in groups else home
        skip = excluded.get(row[0], set())
        if row[8] and row[9] is not None:
            skip = skip | {row[9]}
        items.append(
            Item(
                id=row[0],
                group_id=gid,
                queued_at=row[2],
                topic=row[3],
                region=row[4],
                skill=row[5],
                expert=bool(row[6]),
                preferred_agent_id=row[7],
                transfer=bool(row[8]),
                tier=row[10],
                excluded=frozenset(skip),
            )
        )
    return Snapshot(agents, names, groups, items, load_points(conn))


class Dispatcher:
    """Run routing passes on events and on a timer; let agents accept by hand."""

    def __init__(self, db: Database, chats: Chats, bus: EventBus) -> None:
        self._db = db
        self._chats = chats
        self._bus = bus
        self._lock = asyncio.Lock()
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._handle: dict[int, tuple[int, float]] = {}  # group -> (computed at, seconds)
        self.places: dict[str, Place] = {}
        self._unsubscribe = bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, AgentStatusChanged):
            if event.status == "online":
                self.kick()
        elif isinstance(event, RoutingChanged):
            self.kick()
        elif isinstance(event, ConversationChanged):
            conv = event.conversation
            opened = event.previous_status is None and conv.status == "waiting"
            freed = event.previous_agent_id is not None and (
                conv.status == "closed" or conv.agent_id != event.previous_agent_id
            )
            if opened or freed or conv.transfer_pending:
                self.kick()

    def start(self) -> None:
        """Start the timer that keeps priorities and places current."""
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(
                self._tick(), name="callbox-dispatch-tick"
            )
        self.kick()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(_TICK)
            self.kick()

    def kick(self) -> None:
        """Schedule a pass; passes requested while one runs fold into one."""
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="callbox-dispatch"
            )

    async def _run(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self.dispatch()
            except StorageFull:
                pass  # the store logs a full disk itself, once a minute; the tick retries
            except Exception:
                _LOGGER.exception("routing pass failed")

    async def wait_idle(self) -> None:
        """Wait until no pass is pending (for tests and shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Stop listening, stop the timer and finish the running pass."""
        self._unsubscribe()
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        self._dirty = False
        await self.wait_idle()

    async def dispatch(self) -> int:
        """Run one routing pass now; return how many conversations were assigned.

        The writer is held only for what writes: taking back unanswered chats, then the
        plan's assignments in chunks. The snapshot, the plan and the queue places are
        worked out on a read snapshot in another thread, and every decision is checked
        again inside the write that applies it; one found stale is left to the next pass.
        """
        async with self._lock:
            await self._db.write(self._take_back_job, on_commit=self._announce)
            now = now_ms()
            local = datetime.now().astimezone()
            planned: Planned = await self._db.read(lambda conn: self._plan(conn, now, local))
            assigned = 0
            for start in range(0, len(planned.decisions), _APPLY_CHUNK):
                chunk = planned.decisions[start : start + _APPLY_CHUNK]
                last = start + _APPLY_CHUNK >= len(planned.decisions)
                result: PassResult = await self._db.write(
                    functools.partial(
                        self._apply, chunk=chunk, cursors=planned.cursors if last else {}
                    ),
                    on_commit=self._announce,
                )
                assigned += result.assigned
                if result.stale:
                    self._dirty = True  # the world moved under the plan: look again soon
            self.places = planned.places
            # Places go out as they are: the hub encodes only those a visitor is watching.
            self._bus.emit(QueueChanged(planned.places))
        return assigned

    # -- the pass ---------------------------------------------------------------

    def _take_back_job(self, conn: sqlite3.Connection) -> PassResult:
        result = PassResult()
        self._take_back_unanswered(conn, now_ms(), result)
        return result

    def _plan(self, conn: sqlite3.Connection, now: int, local: datetime) -> Planned:
        """Read the snapshot and decide (in the snapshot thread)."""
        snap = load_snapshot(conn, now, local)
        decisions = plan(snap.agents.values(), snap.groups, snap.items, snap.points, now)
        chosen = [
            Decision(item, agent.id, snap.names[agent.id], pool(item, snap.groups, now))
            for item, agent in decisions
        ]
        taken = {item.id for item, _ in decisions}
        waiting = [i for i in snap.items if i.id not in taken]
        placed: dict[str, Place] = {}
        if waiting:
            handle = self._handle_times(conn, {i.group_id for i in waiting}, now)
            placed = places(snap.agents.values(), snap.groups, waiting, snap.points, handle, now)
        cursors = {item.group_id: snap.groups[item.group_id].rr_cursor for item, _ in decisions}
        return Planned(chosen, placed, cursors)

    def _apply(
        self, conn: sqlite3.Connection, chunk: list[Decision], cursors: dict[int, int]
    ) -> PassResult:
        """Apply planned assignments that still hold (in the writer)."""
        result = PassResult()
        for decision in chunk:
            item = decision.item
            before = read_conversation(conn, item.id)
            if before is None or not _still_valid(conn, before, decision):
                result.stale += 1
                continue
            event = "transferred" if item.transfer else "assigned"
            after, message = self._chats.assign_in(
                conn, before, decision.agent_id, decision.agent_name, event=event
            )
            result.changes.append((before, after, message))
            result.assigned += 1
        for gid, cursor in cursors.items():
            routing_store.set_rr_cursor(conn, gid, cursor)
        return result

    def _take_back_unanswered(self, conn: sqlite3.Connection, now: int, result: PassResult) -> None:
        """Requeue chats whose agent did not answer in time; record the miss, set them away."""
        rows = conversation_store.unanswered(conn, now)
        for conv_id, agent_id, agent_name in rows:
            before = read_conversation(conn, conv_id)
            assert before is not None
            conversation_store.requeue_missed(conn, conv_id, agent_id, now)
            message = append_message(
                conn,
                conv_id,
                sender_type="system",
                sender_id=str(agent_id),
                sender_name=agent_name,
                event="missed",
                visibility="staff",
            )
            if account_store.set_away_if_online(conn, agent_id):
                result.away.append(agent_id)
            after = read_conversation(conn, conv_id)
            assert after is not None
            result.changes.append((before, after, message))
            _LOGGER.info("agent %d did not answer %s in time; requeued", agent_id, conv_id)

    def _handle_times(
        self, conn: sqlite3.Connection, groups: set[int], now: int
    ) -> dict[int, float]:
        """Return each group's mean handling time over its recent chats (cached)."""
        times = {}
        for gid in groups:
            cached = self._handle.get(gid)
            if cached is None or now - cached[0] > _HANDLE_TTL:
                mean, count = conversation_store.handle_time(conn, gid, _HANDLE_SAMPLE)
                seconds = mean / 1000 if count and mean is not None else 0.0
                cached = (now, seconds)
                self._handle[gid] = cached
            if cached[1] > 0:
                times[gid] = cached[1]
        return times

    def _announce(self, result: PassResult) -> None:
        for before, after, message in result.changes:
            self._chats.announce_assigned(before, after, message)
        for user_id in result.away:
            self._bus.emit(AgentStatusChanged(user_id, "away"))

    # -- by hand ----------------------------------------------------------------

    async def accept(self, conv_id: str, agent_id: int, *, overseer: bool = False) -> Conversation:
        """Let an agent take a waiting conversation (or a pending transfer) themselves."""

        def job(conn: sqlite3.Connection) -> _Assigned:
            before = read_conversation(conn, conv_id)
            if before is None:
                raise NotFound("no such conversation")
            pending = before.transfer_pending and before.agent_id != agent_id
            if before.status != "waiting" and not pending:
                raise NotWaiting("conversation is not waiting")
            group = before.transfer_group_id if pending else before.group_id
            agent = account_store.taker(conn, agent_id, group)
            if agent is None or agent["disabled"]:
                raise NotFound("no such agent")
            if not overseer:
                scope = Agent(
                    id=agent_id,
                    groups=frozenset([group or 0] if agent["member"] else []),
                    max_chats=agent["max_chats"],
                    regions=frozenset(json.loads(agent["regions"])),
                    skills=frozenset(json.loads(agent["skills"])),
                    expert=agent["tier"] == "expert",
                )
                wanted = Item(
                    id=conv_id,
                    group_id=group or 0,
                    queued_at=0,
                    region=before.region,
                    skill=before.skill,
                    expert=bool(before.expert),
                )
                if not in_scope(scope, wanted, (group or 0,)):
                    raise OutOfScope("this conversation is outside your groups or regions")
            if agent["load"] >= agent["max_chats"]:
                raise LimitReached("you are at your chat limit")
            event = "transferred" if pending else "assigned"
            # Taking it by hand is an answer: no ring timeout.
            after, message = self._chats.assign_in(
                conn, before, agent_id, agent["display_name"], event=event, answered=True
            )
            return before, after, message

        def announce(result: _Assigned) -> None:
            self._chats.announce_assigned(*result)

        async with self._lock:
            _, after, _ = await self._db.write(job, on_commit=announce)
        return after
