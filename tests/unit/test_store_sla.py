"""SLA policies and clocks over a real SQLite file: tracked inside writer jobs, fired
once each by the minute pass, across restarts, and not at all when the caller's job
fails."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appliance.core.actors import Staff
from appliance.core.db import Database
from appliance.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from appliance.core.sla import Firing, Sla, SlaEvent
from appliance.core.ticketflow import By, Event, Ticket, apply

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN = 60_000
T0 = int(datetime(2026, 11, 2, 9, tzinfo=SHANGHAI).timestamp() * 1000)  # a Monday
BOSS = Staff(1, "boss", "supervisor")
AGENT = Staff(2, "ann", "agent")
WORKDAYS = {
    d: [["09:00", "12:00"], ["13:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
}
POLICY: dict[str, Any] = {
    "name": "Standard",
    "targets": {"first_response": 60, "resolution": 240},
    "hours": WORKDAYS,
    "holidays": ["2026-11-03"],
    "warn_share": 0.5,
    "levels": [
        {
            "metric": "first_response",
            "offset_minutes": 30,
            "action": "reassign_group",
            "group_id": 1,
        }
    ],
}


class Desk:
    """Tickets kept in memory; their clocks tracked in the store as the ticket service will."""

    def __init__(self, db: Database, sla: Sla) -> None:
        self.db, self.sla = db, sla
        self.tickets: dict[int, Ticket] = {}

    async def happen(
        self, ticket_id: int, at: int, by: By, kind: str, data: dict[str, Any] | None = None
    ) -> list[SlaEvent]:
        before = self.tickets.get(ticket_id)
        seq = 1 if before is None else before.last_seq + 1
        event = Event(ticket_id, seq, at, by, "x", kind, data or {})
        after = apply(before, event)
        self.tickets[ticket_id] = after
        return await self.db.write(lambda conn: self.sla.track(conn, after, event, "vip"))

    async def fire(self, now: int) -> list[tuple[int, str, str, int]]:
        firings = await self.db.write(lambda conn: self.sla.fire_due(conn, now))
        return [(f.ticket_id, f.metric, f.kind, (f.at - T0) // MIN) for f in firings]


async def _open(path: Path, now: int = T0) -> tuple[Database, Sla]:
    db = Database(path)
    await db.open()
    return db, Sla(db, SHANGHAI, now=lambda: now)


async def test_each_firing_happens_once_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "box.db"
    db, sla = await _open(path)
    await sla.create(BOSS, POLICY)
    desk = Desk(db, sla)
    try:
        events = await desk.happen(1, T0, By.CUSTOMER, "created")
        assert [(e.metric, e.kind, e.due_at) for e in events] == [
            ("first_response", "started", T0 + 60 * MIN),
            ("resolution", "started", T0 + 300 * MIN),  # 09:00-12:00, then 13:00-14:00
        ]
        await desk.happen(2, T0 + 5 * MIN, By.CUSTOMER, "created")
        assert await desk.fire(T0 + 29 * MIN) == []
        assert await desk.fire(T0 + 30 * MIN) == [(1, "first_response", "warning", 30)]
        assert await desk.fire(T0 + 30 * MIN) == []
        assert await desk.fire(T0 + 36 * MIN) == [(2, "first_response", "warning", 35)]
        before = await sla.clocks(1)
    finally:
        await db.close()

    db, sla = await _open(path)  # a restart
    desk.db, desk.sla = db, sla
    try:
        assert await sla.clocks(1) == before
        assert await desk.fire(T0 + 36 * MIN) == []

        def failing(conn: sqlite3.Connection) -> list[Firing]:
            sla.fire_due(conn, T0 + 100 * MIN)
            raise Conflict("the reassignment failed")

        # The caller's job fails after taking its firings: so nothing was taken.
        with pytest.raises(Conflict):
            await db.write(failing)
        assert await desk.fire(T0 + 100 * MIN) == [
            (1, "first_response", "breach", 60),
            (2, "first_response", "breach", 65),
            (1, "first_response", "level", 90),
            (2, "first_response", "level", 95),
        ]
        assert await desk.fire(T0 + 100 * MIN) == []
        assert await desk.fire(T0 + 130 * MIN) == [
            (1, "resolution", "warning", 120),
            (2, "resolution", "warning", 125),
        ]
        # Ticket 2 is answered and waits on the customer from 11:40 (155 business
        # minutes used); its resolution clock stands still over the holiday (the 3rd).
        await desk.happen(2, T0 + 160 * MIN, By.AGENT, "reply")
        await desk.happen(2, T0 + 160 * MIN, By.AGENT, "state", {"to": "pending"})
        assert await desk.fire(T0 + 24 * 60 * MIN) == [(1, "resolution", "breach", 300)]
    finally:
        await db.close()

    db, sla = await _open(path)
    desk.db, desk.sla = db, sla
    try:
        wednesday = T0 + 2 * 24 * 60 * MIN
        events = await desk.happen(2, wednesday, By.CUSTOMER, "state", {"to": "open"})
        assert [(e.metric, e.kind, e.used, e.due_at) for e in events] == [
            ("resolution", "resumed", 155 * MIN, wednesday + 85 * MIN)
        ]
        assert await desk.fire(wednesday + 84 * MIN) == []
        breach = (2, "resolution", "breach", 2 * 24 * 60 + 85)
        assert await desk.fire(wednesday + 85 * MIN) == [breach]
        assert await desk.fire(wednesday + 600 * MIN) == []
    finally:
        await db.close()


async def test_the_minute_pass_reads_through_its_index(tmp_path: Path) -> None:
    db, _ = await _open(tmp_path / "box.db")
    try:
        plan = await db.fetchall(
            "EXPLAIN QUERY PLAN SELECT * FROM ticket_sla"
            " WHERE next_at IS NOT NULL AND next_at <= ? ORDER BY next_at LIMIT ?",
            (T0, 1000),
        )
        assert "USING INDEX ticket_sla_next" in " ".join(str(row["detail"]) for row in plan)
    finally:
        await db.close()


async def test_editing_a_policy_moves_its_running_clocks_and_deleting_it_stops_firing(
    tmp_path: Path,
) -> None:
    db, sla = await _open(tmp_path / "box.db", now=T0 + 20 * MIN)
    desk = Desk(db, sla)
    try:
        policy = await sla.create(BOSS, {**POLICY, "hours": None, "levels": []})
        await desk.happen(1, T0, By.CUSTOMER, "created")
        # At 09:20 the target becomes 30 minutes (and resolution has none): 10 are left.
        edited = await sla.update(BOSS, policy.id, {"targets": {"first_response": 30}})
        assert edited.targets["resolution"] is None and edited.name == "Standard"
        clocks = {c.metric: c for c in await sla.clocks(1)}
        first = clocks["first_response"]
        assert (first.policy_id, first.target, first.used) == (policy.id, 30 * MIN, 20 * MIN)
        assert first.due_at == T0 + 30 * MIN
        assert clocks["resolution"].target is None and clocks["resolution"].next_at is None
        # Half the new target was used before the edit: the warning is due at once.
        assert await desk.fire(T0 + 20 * MIN) == [(1, "first_response", "warning", 20)]
        await sla.delete(BOSS, policy.id)
        clocks = {c.metric: c for c in await sla.clocks(1)}
        assert all(c.policy_id is None and c.next_at is None for c in clocks.values())
        assert await desk.fire(T0 + 10_000 * MIN) == []
        assert await sla.policies() == []
    finally:
        await db.close()


async def test_policy_admin_refusals_and_order(tmp_path: Path) -> None:
    db, sla = await _open(tmp_path / "box.db")
    try:
        with pytest.raises(Forbidden):
            await sla.create(AGENT, POLICY)
        first = await sla.create(BOSS, POLICY)
        with pytest.raises(Conflict):
            await sla.create(BOSS, {**POLICY, "name": "standard"})  # names ignore case
        second = await sla.create(BOSS, {**POLICY, "name": "VIP", "conditions": {"tiers": ["vip"]}})
        assert [p.position for p in (first, second)] == [1, 2]
        with pytest.raises(InvalidInput, match="no group with id 77"):
            await sla.create(
                BOSS,
                {
                    **POLICY,
                    "name": "x",
                    "levels": [
                        {
                            "metric": "resolution",
                            "offset_minutes": 0,
                            "action": "reassign_group",
                            "group_id": 77,
                        }
                    ],
                },
            )
        with pytest.raises(InvalidInput, match="no group with id 9"):
            await sla.update(BOSS, first.id, {"conditions": {"group_ids": [9]}})
        with pytest.raises(NotFound):
            await sla.update(BOSS, 999, {"name": "y"})
        with pytest.raises(Conflict):
            await sla.update(BOSS, second.id, {"name": "STANDARD"})
        with pytest.raises(InvalidInput, match="unknown keys"):
            await sla.update(BOSS, first.id, {"nmae": "y"})
        with pytest.raises(InvalidInput, match="every SLA policy exactly once"):
            await sla.reorder(BOSS, [first.id])
        with pytest.raises(InvalidInput, match="ids must be a whole number"):
            await sla.reorder(BOSS, [first.id, "2"])
        ordered = await sla.reorder(BOSS, [second.id, first.id])
        assert [(p.name, p.position) for p in ordered] == [("VIP", 1), ("Standard", 2)]
        assert await sla.policies() == ordered
        with pytest.raises(Forbidden):
            await sla.delete(AGENT, first.id)
        with pytest.raises(NotFound):
            await sla.delete(BOSS, 999)
    finally:
        await db.close()
