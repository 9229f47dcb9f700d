"""SLAs of the service desk: the policies supervisors edit, and each ticket's clocks.

The rules are pure (`sla_policy.py`: policies, their checks and which one applies;
`sla_clock.py`: how events move clocks, what has come due); this service applies
them to the store. The ticket service calls `track` and `fire_due` inside its own
write jobs, so a ticket's change, its clocks and the actions an escalation takes
commit together or not at all: a firing is marked in the transaction that acts on it,
and so happens exactly once, across restarts too.

Everything here is re-exported for callers: import from `appliance.core.sla`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import Any

from appliance.core.actors import Staff
from appliance.core.businesstime import Calendar
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from appliance.core.sla_clock import Clock as Clock
from appliance.core.sla_clock import Firing as Firing
from appliance.core.sla_clock import SlaEvent as SlaEvent
from appliance.core.sla_clock import advance as advance
from appliance.core.sla_clock import due as due
from appliance.core.sla_clock import rebase
from appliance.core.sla_policy import METRICS as METRICS
from appliance.core.sla_policy import Draft, always_open, check, merged
from appliance.core.sla_policy import Level as Level
from appliance.core.sla_policy import Metric as Metric
from appliance.core.sla_policy import Policy as Policy
from appliance.core.sla_policy import choose as choose
from appliance.core.sla_policy import policy_input as policy_input
from appliance.core.store import routing as routing_store
from appliance.core.store import sla as store
from appliance.core.ticketflow import Event, Ticket
from appliance.core.validate import INT_MAX, whole

_LOGGER = logging.getLogger(__name__)

_POLICIES_MAX = 200
# Clocks per write transaction of the minute pass (it loops until fewer are due): each
# firing writes its ticket's events; 100 hold the writer under 100 ms at 1M tickets
# (bench/README.md), where 1,000 held it 1.3 s.
FIRE_BATCH = 100
_TICK = 1000  # ms: a clock ticks at a moment when this much business time follows it


def _overseer(actor: Staff) -> None:
    if not actor.overseer:
        raise Forbidden("only supervisors change SLA policies")


class Sla:
    """SLA policies and tickets' clocks, on calendars read in the box's zone."""

    def __init__(self, db: Database, zone: tzinfo, now: Callable[[], int] = now_ms) -> None:
        self._db = db
        self._zone = zone
        self._now = now  # when an edit takes effect; tests pass their own

    def calendar(self, policy: Policy | None) -> Calendar:
        """The calendar a policy's clocks run on (always open for no policy)."""
        return always_open(self._zone) if policy is None else policy.calendar(self._zone)

    async def policies(self) -> list[Policy]:
        """Return every policy in the order they are tried."""
        return await self._db.read(store.policies)

    async def create(self, actor: Staff, data: Any) -> Policy:
        """Add a policy, tried after the existing ones."""
        _overseer(actor)
        draft = check(data)

        def job(conn: sqlite3.Connection) -> Policy:
            if store.count_policies(conn) >= _POLICIES_MAX:
                raise Conflict(f"at most {_POLICIES_MAX} SLA policies")
            _groups_exist(conn, draft)
            try:
                return store.insert_policy(conn, draft, self._now())
            except sqlite3.IntegrityError as err:
                raise Conflict(f"a policy is already named {draft.name!r}") from err

        return await self._db.write(job)

    async def update(self, actor: Staff, policy_id: int, changes: Any) -> Policy:
        """Change some of a policy's settings; its tickets' running clocks follow at once."""
        _overseer(actor)

        def job(conn: sqlite3.Connection) -> Policy:
            old = store.policy(conn, policy_id)
            if old is None:
                raise NotFound("no such SLA policy")
            draft = merged(old, changes)
            _groups_exist(conn, draft)
            now = self._now()
            try:
                new = store.update_policy(conn, policy_id, draft, now)
            except sqlite3.IntegrityError as err:
                raise Conflict(f"a policy is already named {draft.name!r}") from err
            # A disabled policy stops escalating its tickets at once; each one gets the
            # policy that applies to it now at its next change.
            self._rebase(conn, old, new if new.enabled else None, now)
            return new

        return await self._db.write(job)

    async def delete(self, actor: Staff, policy_id: int) -> None:
        """Delete a policy; its tickets' clocks go on with no target until re-matched."""
        _overseer(actor)

        def job(conn: sqlite3.Connection) -> None:
            old = store.policy(conn, policy_id)
            if old is None:
                raise NotFound("no such SLA policy")
            self._rebase(conn, old, None, self._now())
            store.delete_policy(conn, policy_id)

        await self._db.write(job)

    async def reorder(self, actor: Staff, ids: Any) -> list[Policy]:
        """Set the order policies are tried in; `ids` names every policy once."""
        _overseer(actor)
        if not isinstance(ids, list) or len(ids) > _POLICIES_MAX:
            raise InvalidInput(f"ids must be a list of at most {_POLICIES_MAX} policy ids")
        order = [whole(i, "ids", 1, INT_MAX) for i in ids]

        def job(conn: sqlite3.Connection) -> list[Policy]:
            known = [p.id for p in store.policies(conn)]
            if sorted(order) != sorted(known):
                raise InvalidInput("ids must name every SLA policy exactly once")
            store.set_positions(conn, order, self._now())
            return store.policies(conn)

        return await self._db.write(job)

    async def clocks(self, ticket_id: int) -> list[Clock]:
        """Return a ticket's clocks, by metric."""
        return await self._db.read(lambda conn: store.clocks(conn, ticket_id))

    async def ticking(self, clocks: Sequence[Clock], at: int) -> list[bool]:
        """Tell, for each clock, whether its business time runs at `at`: the clock runs
        and its policy's calendar is open then (a screen counts it down only then)."""
        policies = {p.id: p for p in await self.policies()}
        out: list[bool] = []
        for clock in clocks:
            if clock.running_since is None or not clock.live:
                out.append(False)
                continue
            calendar = self.calendar(policies.get(clock.policy_id or 0))
            out.append(calendar.elapsed(at, at + _TICK) == _TICK)
        return out

    def _rebase(self, conn: sqlite3.Connection, old: Policy, new: Policy | None, now: int) -> None:
        previous, calendar = self.calendar(old), self.calendar(new)
        for clock in store.live_clocks_of(conn, old.id):
            store.save(conn, rebase(clock, new, previous, calendar, now))

    def track(
        self,
        conn: sqlite3.Connection,
        after: Ticket,
        event: Event,
        tier: str | None,
    ) -> list[SlaEvent]:
        """Move a ticket's clocks by one of its events, inside the caller's write job.

        `after` is the ticket with the event applied; `tier` its requester's customer
        tier (None when unknown). Returns what changed, for the ticket's history."""
        policies = store.policies(conn)
        policy = choose(policies, after, tier)
        clocks = {c.metric: c for c in store.clocks(conn, after.id)}
        ran_on = next((c.policy_id for c in clocks.values() if c.live), None)
        previous = self.calendar(next((p for p in policies if p.id == ran_on), None))
        new, events = advance(clocks, after, event, policy, self.calendar(policy), previous)
        for metric, clock in new.items():
            if clock != clocks.get(metric):
                store.save(conn, clock)
        return events

    def fire_due(self, conn: sqlite3.Connection, now: int) -> list[Firing]:
        """Take every warning, breach and level due by `now`, inside the caller's write
        job, which acts on them: they are marked taken in that same transaction."""
        rows = store.due_clocks(conn, now, FIRE_BATCH)
        if not rows:
            return []
        policies = {p.id: p for p in store.policies(conn)}
        calendars: dict[int | None, Calendar] = {}
        firings: list[Firing] = []
        for clock in rows:
            policy = policies.get(clock.policy_id) if clock.policy_id is not None else None
            if clock.policy_id not in calendars:
                calendars[clock.policy_id] = self.calendar(policy)
            marked, taken = due(clock, policy, calendars[clock.policy_id], now)
            if marked != clock:
                store.save(conn, marked)
            firings += taken
        return sorted(firings, key=lambda f: (f.at, f.ticket_id))


def _groups_exist(conn: sqlite3.Connection, draft: Draft) -> None:
    """Refuse a policy that names a group the box does not have."""
    known = routing_store.group_ids(conn)
    named = set(draft.conditions.group_ids) | {
        lv.group_id for lv in draft.levels if lv.group_id is not None
    }
    missing = sorted(named - known)
    if missing:
        raise InvalidInput(f"no group with id {missing[0]}")
