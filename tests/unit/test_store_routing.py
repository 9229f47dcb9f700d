"""The stores of routing's aggregates: work items, canned answers, staff devices, users
and sessions, routing configuration. Each function runs on a real migrated database."""

from __future__ import annotations

import sqlite3

import pytest

from appliance.core.box import Box
from appliance.core.errors import Conflict, NotFound
from appliance.core.store import canned, devices, workitems
from appliance.core.store import visitors as visitor_store

_FIELDS = {"kind": "message", "name": "Ann", "contact": "", "preferred_time": "", "body": "hi"}


async def test_two_work_items_for_one_conversation_are_both_kept(box: Box) -> None:
    conv, _ = await box.chats.open("v_one")

    def job(conn: sqlite3.Connection) -> list[workitems.WorkItem]:
        visitor_store.upsert(conn, "v_one", 1000)
        return [
            workitems.insert(conn, f"w_{n}", _FIELDS, "v_one", conv.id, None, 1000 + n)
            for n in (1, 2)
        ]

    first, second = await box.db.write(job)
    assert (first.conversation_id, second.conversation_id) == (conv.id, conv.id)
    assert (first.status, first.created_at, first.closed_at) == ("open", 1001, None)
    listed = await box.db.read(lambda conn: workitems.by_status(conn, "open", 10))
    assert [i.id for i in listed] == ["w_1", "w_2"]  # open: oldest first


async def test_a_work_item_closes_once(box: Box) -> None:
    user = await box.accounts.create_user("dora", "password1", "agent")
    item = await box.work_items.create("v_two", {"kind": "message", "body": "call me"})
    closed = await box.work_items.close(item.id, user.id)
    assert (closed.status, closed.closed_by) == ("closed", user.id)
    assert closed.closed_at is not None and closed.closed_at >= item.created_at
    with pytest.raises(Conflict):
        await box.work_items.close(item.id, user.id)
    with pytest.raises(NotFound):
        await box.work_items.close("w_none", user.id)
    assert await box.db.read(lambda conn: workitems.exists(conn, item.id))
    assert await box.work_items.list("open") == []
    assert await box.work_items.list("closed") == [closed]


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
    await box.devices.add("laptop", "key1", "10.9.0.2")
    assert await box.devices.revoke("laptop")
    assert not await box.devices.revoke("laptop")
    await box.devices.add("laptop", "key2", "10.9.0.3")
    (device,) = await box.db.read(devices.newest_first)
    assert (device.public_key, device.address, device.revoked_at) == ("key2", "10.9.0.3", None)
