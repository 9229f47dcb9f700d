"""The stores of routing's aggregates: canned answers, staff devices, users
and sessions, routing configuration. Each function runs on a real migrated database."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from appliance.core.actors import Visitor
from appliance.core.box import Box
from appliance.core.store import accounts, canned, devices, routing


async def test_canned_answers_own_before_shared_and_one_shortcut_per_owner(box: Box) -> None:
    user = await box.accounts.create_user("cara", "password1", "agent")

    def job(conn: sqlite3.Connection) -> list[canned.Answer]:
        return [
            canned.insert(conn, None, "hi", "Hi", "Hello from the team", 1),
            canned.insert(conn, user.id, "hi", "Hi", "Hello from me", 2),
        ]

    shared, own = await box.db.write(job)
    assert (shared.shared, own.shared) == (True, False)
    assert await box.db.read(lambda conn: canned.visible_to(conn, user.id)) == [own, shared]
    assert await box.db.read(lambda conn: canned.count(conn, None)) == 1
    with pytest.raises(sqlite3.IntegrityError):
        await box.db.write(lambda conn: canned.insert(conn, user.id, "hi", "x", "y", 3))
    assert await box.db.read(lambda conn: canned.owner(conn, own.id)) == (True, user.id)
    await box.db.write(lambda conn: canned.delete(conn, own.id))
    assert await box.db.read(lambda conn: canned.owner(conn, own.id)) == (False, None)


async def test_a_device_revoked_then_added_again_is_active(box: Box) -> None:
    await box.devices.add("laptop", "key1", "10.9.0.2", expires_at=10**13)
    assert await box.devices.revoke("laptop")
    assert not await box.devices.revoke("laptop")
    await box.devices.add("laptop", "key2", "10.9.0.3", owner="li", expires_at=2 * 10**13)
    (device,) = await box.db.read(devices.newest_first)
    assert (device.public_key, device.address, device.revoked_at) == ("key2", "10.9.0.3", None)
    assert (device.owner, device.expires_at, device.renewed_at) == ("li", 2 * 10**13, None)


async def test_disabling_a_user_ends_their_sessions_and_sets_them_offline(box: Box) -> None:
    user = await box.accounts.create_user("erin", "password1", "agent")
    await box.accounts.set_status(user.id, "online")
    token, _ = await box.accounts.create_session(user)
    digest = hashlib.sha256(token.encode()).hexdigest()

    def disable(conn: sqlite3.Connection) -> int | None:
        return accounts.set_disabled(conn, "ERIN", True)  # names are case-blind

    assert await box.db.write(disable) == user.id
    assert await box.db.read(lambda conn: accounts.live_session(conn, digest, 0)) is None
    stored = await box.db.read(lambda conn: accounts.user(conn, user.id))
    assert stored is not None and (stored.disabled, stored.status) == (True, "offline")
    assert await box.db.write(lambda conn: accounts.set_disabled(conn, "nobody", True)) is None


async def test_a_new_user_joins_the_default_group_and_gets_a_scope(box: Box) -> None:
    user = await box.accounts.create_user("fay", "password1", "agent")
    (home,) = [g for g in await box.db.read(routing.groups) if g.is_default]
    assert user.id in home.members
    (agent,) = [a for a in await box.db.read(accounts.agents_with_scope) if a.id == user.id]
    assert (agent.groups, agent.tier, agent.skills, agent.regions) == ([home.id], "normal", [], [])


async def test_deleting_a_group_moves_its_open_chats_home(box: Box) -> None:
    waiting, _ = await box.chats.open("v_three")
    done, _ = await box.chats.open("v_four")
    await box.chats.close(done.id, Visitor("v_four"))
    spare = await box.routing.create_group({"name": "spare"})

    def move(conn: sqlite3.Connection) -> None:
        for key in (waiting.id, done.id):
            conn.execute("UPDATE conversations SET group_id = ? WHERE id = ?", (spare.id, key))

    await box.db.write(move)
    await box.routing.delete_group(spare.id)
    home = await box.db.read(routing.default_group_id)
    assert (await box.chats.get_for_visitor(waiting.id, "v_three")).group_id == home
    assert (await box.chats.get_for_visitor(done.id, "v_four")).group_id is None  # closed
    assert [g.id for g in await box.routing.list_groups()] == [home]


async def test_topics_rules_and_points_round_trip(box: Box) -> None:
    home = await box.db.read(routing.default_group_id)
    assert home is not None
    await box.db.write(
        lambda conn: routing.set_topics(
            conn, [routing.Topic("b", "B", home, ""), routing.Topic("a", "A", home, "x")]
        )
    )
    assert [t.key for t in await box.db.read(routing.topics)] == ["b", "a"]  # display order
    assert await box.db.read(lambda conn: routing.topic(conn, "a")) == routing.Topic(
        "a", "A", home, "x"
    )
    rules = [routing.Rule("*/shop/*", "", home, ""), routing.Rule("", "Berlin", home, "de")]
    await box.db.write(lambda conn: routing.set_rules(conn, rules))
    assert await box.db.read(routing.rules) == rules
    await box.db.write(lambda conn: routing.set_points(conn, [("topic", "a", 5.0)]))
    points = await box.db.read(routing.points)
    assert (points.tier, points.topic, points.wait, points.transfer) == ({}, {"a": 5.0}, 30.0, 40.0)
