"""Saved ticket rules over a real SQLite file: who may edit, order, checks at save,
the enabled rules a ticket write reads, and once-per-ticket runs."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from appliance.core import ticket_rules
from appliance.core.actors import Staff
from appliance.core.db import Database
from appliance.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from appliance.core.rules import Kind, run_timed
from appliance.core.store import accounts as account_store
from appliance.core.store import routing as routing_store
from appliance.core.ticket_rules import Rules
from tests.unit.test_rules import NOW, cond, data, timed, view

BOSS = Staff(1, "主管", role="supervisor")
AGENT = Staff(2, "王芳")
_STALE = cond("hours_since_updated", "gt", 72)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "box.db")
    await database.open()
    yield database
    await database.close()


@pytest.fixture
async def rules(db: Database) -> Rules:
    service = Rules(db, clock=lambda: NOW)
    await service.load()
    return service


async def test_supervisors_add_change_reorder_and_delete_rules(db: Database, rules: Rules) -> None:
    with pytest.raises(Forbidden):
        await rules.create(AGENT, data())
    first = await rules.create(BOSS, data(name="一"))
    second = await rules.create(BOSS, data(name="二", on=["created"]))
    tick = await rules.create(
        BOSS, timed(_STALE, name="三天提醒", once_per_ticket=True, enabled=False)
    )
    assert [(r.name, r.position) for r in (first, second, tick)] == [
        ("一", 0),
        ("二", 1),
        ("三天提醒", 0),
    ]
    assert first.created_at == first.updated_at == NOW
    assert await rules.saved() == [first, second, tick]
    assert await rules.saved("timed") == [tick] and await rules.get(tick.id) == tick

    changed = await rules.update(BOSS, first.id, data(name="一改", enabled=False))
    assert (changed.id, changed.position, changed.enabled) == (first.id, 0, False)
    with pytest.raises(InvalidInput, match="a rule's kind cannot change"):
        await rules.update(BOSS, first.id, timed(_STALE, once_per_ticket=True))
    with pytest.raises(NotFound):
        await rules.update(BOSS, 999, data())
    with pytest.raises(Forbidden):
        await rules.update(AGENT, first.id, data())

    ordered = await rules.reorder(BOSS, "trigger", [second.id, first.id])
    assert [(r.id, r.position) for r in ordered] == [(second.id, 0), (first.id, 1)]
    for kind, ids in (
        ("trigger", [second.id]),
        ("trigger", [first.id, first.id]),
        ("timed", ["1"]),
    ):
        with pytest.raises(InvalidInput):
            await rules.reorder(BOSS, kind, ids)
    with pytest.raises(InvalidInput, match="kind must be one of trigger, timed"):
        await rules.reorder(BOSS, "macro", [])

    await rules.delete(BOSS, second.id)
    with pytest.raises(NotFound):
        await rules.delete(BOSS, second.id)
    # What the store keeps reads back as the same rules.
    fresh = Rules(db)
    await fresh.load()
    assert await fresh.saved() == [ordered[1], tick]


async def test_a_save_is_checked_alone_and_against_the_other_rules(rules: Rules) -> None:
    with pytest.raises(InvalidInput, match="a timed rule must change something"):
        await rules.create(BOSS, timed(_STALE))
    up = timed(
        _STALE,
        cond("priority", "is", "low"),
        actions=[{"type": "set_field", "field": "priority", "value": "high"}],
    )
    down = data(
        name="降级",
        conditions={"all": [cond("priority", "is", "high")]},
        actions=[{"type": "set_field", "field": "priority", "value": "low"}],
    )
    saved = await rules.create(BOSS, {**up, "name": "升级"})
    with pytest.raises(InvalidInput, match="'降级' → '升级' → '降级'"):
        await rules.create(BOSS, down)
    off = await rules.create(BOSS, {**down, "enabled": False})  # a disabled rule never runs
    with pytest.raises(InvalidInput, match="undoing each other"):
        await rules.update(BOSS, off.id, down)  # nor may it be turned on
    await rules.update(BOSS, saved.id, {**up, "name": "升级", "once_per_ticket": True})
    await rules.update(BOSS, off.id, down)  # now the timed one runs once per ticket


async def test_a_ticket_write_reads_the_enabled_rules_as_committed(
    db: Database, rules: Rules, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await db.write(rules.enabled_in) == ()
    on = await rules.create(BOSS, data(name="开"))
    await rules.create(BOSS, data(name="关", enabled=False))
    assert await db.write(rules.enabled_in) == (on,)
    monkeypatch.setattr(ticket_rules, "RULES_MAX", 2)
    with pytest.raises(Conflict, match="at most 2 rules of each kind"):
        await rules.create(BOSS, data(name="多"))  # rolled back: the rules stay as they were
    assert await db.write(rules.enabled_in) == (on,)
    await rules.delete(BOSS, on.id)
    assert await db.write(rules.enabled_in) == ()


async def test_a_once_per_ticket_rule_runs_once_on_each_ticket(db: Database, rules: Rules) -> None:
    once = await rules.create(BOSS, timed(_STALE, name="三天未回复", once_per_ticket=True))

    def minute(ticket_id: int) -> Callable[[sqlite3.Connection], list[int]]:
        """What the ticket service's timer does for one ticket, in its write job."""

        def job(conn: sqlite3.Connection) -> list[int]:
            stale = view(idle=80, ticket_id=ticket_id)
            fired = run_timed(rules.enabled_in(conn), stale, NOW, rules.ran_in(conn, ticket_id))
            return [
                f.rule.id for f in fired if rules.record_run_in(conn, f.rule.id, ticket_id, NOW)
            ]

        return job

    assert await db.write(minute(7)) == [once.id]
    assert await db.write(minute(7)) == []
    assert await db.write(minute(8)) == [once.id]
    assert await db.write(lambda conn: rules.record_run_in(conn, once.id, 8, NOW)) is False
    assert await db.read(lambda conn: rules.ran_in(conn, 7)) == {once.id}
    await rules.delete(BOSS, once.id)  # its runs go with it
    assert await db.read(lambda conn: rules.ran_in(conn, 7)) == frozenset()
    assert (await rules.saved(Kind.TIMED)) == []


async def test_a_rule_names_only_groups_and_users_the_box_has(db: Database, rules: Rules) -> None:
    def add(conn: sqlite3.Connection) -> tuple[int, int]:
        group = routing_store.insert_group(conn, {"name": "客服主管", "created_at": NOW})
        return group, account_store.insert_user(conn, "lina", "李娜", "x", "agent", 5, NOW)

    group, user = await db.write(add)
    vip = data(
        conditions={"all": [cond("group_id", "in", [group, None])]},
        actions=[{"type": "assign", "group_id": group}, {"type": "notify", "to": [user, "owner"]}],
    )
    await rules.create(BOSS, vip)
    gone_group = {**vip, "actions": [{"type": "assign", "group_id": group + 50}]}
    with pytest.raises(InvalidInput, match=f"there is no group with id {group + 50}"):
        await rules.create(BOSS, gone_group)
    gone_user = {**vip, "conditions": {"any": [cond("owner_id", "is", user + 7)]}}
    with pytest.raises(InvalidInput, match=f"there is no user with id {user + 7}"):
        await rules.create(BOSS, gone_user)
