"""The admin audit log in the core: append-only by the database, written in the action's
own transaction, bounded and free of secrets, read back filtered and paged."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta

import pytest
from dateutil.tz import tzlocal

from appliance.core import audit
from appliance.core.box import Box
from appliance.core.errors import InvalidInput
from appliance.core.store import audit as store
from appliance.core.store import settings as box_store

ROOT = audit.Actor(1, "root", "192.168.1.20")


async def _entries(box: Box) -> list[audit.Entry]:
    return (await box.audit.page(audit.Query(limit=audit.PAGE_MAX))).entries


async def test_the_database_refuses_to_change_or_delete_an_entry(box: Box):
    entry_id = await box.audit.add(ROOT, "site.create", "shop", {"name": "门店"})
    before = await _entries(box)
    # Through a connection of its own, as anyone with SQL on the file would try it.
    conn = sqlite3.connect(box.settings.db_path)
    try:
        for sql in (
            "UPDATE admin_audit SET user_name = 'someone else' WHERE id = ?",
            "UPDATE admin_audit SET detail = '{}'",
            "DELETE FROM admin_audit WHERE id = ?",
            "DELETE FROM admin_audit",
        ):
            params = (entry_id,) if "?" in sql else ()
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql, params)
            conn.rollback()
        # REPLACE deletes the row it collides with without firing delete triggers; an
        # upsert would update it: both are refused before they get that far.
        for sql in (
            "REPLACE INTO admin_audit (id, at, action) VALUES (?, 0, 'x.y')",
            "INSERT OR REPLACE INTO admin_audit (id, at, action) VALUES (?, 0, 'x.y')",
            "INSERT INTO admin_audit (id, at, action) VALUES (?, 0, 'x.y')"
            " ON CONFLICT (id) DO UPDATE SET action = 'x.z'",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql, (entry_id,))
            conn.rollback()
    finally:
        conn.close()
    # And through the box's own writer.
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await box.db.write(lambda c: c.execute("DELETE FROM admin_audit"))
    assert await _entries(box) == before
    assert before[0].user_name == "root" and before[0].detail == '{"name":"门店"}'


async def test_an_action_and_its_record_commit_together_or_not_at_all(box: Box):
    def action_fails(conn: sqlite3.Connection) -> None:
        audit.record(conn, ROOT, "settings.privacy", "", {"page_view_days": [90, 30]})
        raise RuntimeError("the action's own write failed")

    with pytest.raises(RuntimeError):
        await box.db.write(action_fails)
    assert await _entries(box) == []

    # A bad record (a secret in it) takes the action down with it.
    def bad_record(conn: sqlite3.Connection) -> None:
        box_store.save(conn, [("retention.page_view_days", "7")])
        audit.record(conn, ROOT, "user.passwd", "li", {"new_password": "hunter2"})

    with pytest.raises(audit.AuditDetailError):
        await box.db.write(bad_record)
    assert await _entries(box) == []
    assert "retention.page_view_days" not in await box.db.read(box_store.values)

    await box.box_settings.update({"page_view_days": 30}, by=ROOT)
    (entry,) = await _entries(box)
    assert (entry.action, entry.user_id, entry.address) == ("settings.privacy", 1, "192.168.1.20")
    assert entry.detail == '{"page_view_days":[90,30]}'


@pytest.mark.parametrize(
    "field",
    ["password", "new_password", "passwd", "token", "tokens", "secret", "private_key", "key",
     "recovery_codes", "totp", "body", "message", "text", "cookie", "password_hash"],
)  # fmt: skip
def test_detail_fields_that_would_hold_a_secret_or_words_are_refused(field: str):
    with pytest.raises(audit.AuditDetailError):
        audit.encode_detail({field: "x"})
    with pytest.raises(audit.AuditDetailError):
        audit.encode_detail({"outer": {field: "x"}})


def test_detail_is_bounded_and_actions_are_codes():
    assert audit.encode_detail({"role": "admin", "public": True, "n": 3, "sessions": 2}) == (
        '{"role":"admin","public":true,"n":3,"sessions":2}'
    )
    long = audit.encode_detail({f"f{i}": "长" * 500 for i in range(30)})
    assert len(long) <= audit.DETAIL_MAX and '"truncated":true' in long
    assert audit.encode_detail({"names": list(range(100))}).count(",") == 19
    with pytest.raises(audit.AuditDetailError):
        audit.encode_detail({"when": date(2026, 1, 1)})
    conn = sqlite3.connect(":memory:")
    for action in ("user", "User.role", "user.", "user role", "x" * 30 + ".y" * 10):
        with pytest.raises(audit.AuditDetailError):
            audit.record(conn, ROOT, action)


def test_the_command_line_actor_is_the_system_account():
    actor = audit.command_line()
    assert actor.user_id is None and actor.address == audit.CLI and actor.name


async def test_pages_and_filters(box: Box):
    zone = tzlocal()
    day = datetime(2026, 11, 30, 12, 0, tzinfo=zone)
    rows = [
        (day, 1, "root", "user.create", "li"),
        (day + timedelta(days=1), 2, "王芳", "user.disable", "li"),
        (day + timedelta(days=1, hours=11, minutes=59), 1, "root", "site.create", "shop"),
        (day + timedelta(days=2), None, "", "device.add", "phone"),
    ]

    def insert(conn: sqlite3.Connection) -> None:
        for when, user_id, name, action, target in rows:
            at = int(when.timestamp() * 1000)
            store.insert(conn, at, user_id, name, "10.0.0.9", action, target, "{}")

    await box.db.write(insert)
    everything = await box.audit.page(audit.Query())
    assert [e.target for e in everything.entries] == ["phone", "shop", "li", "li"]
    assert everything.next_before is None

    first = await box.audit.page(audit.Query(limit=3))
    assert [e.action for e in first.entries] == ["device.add", "site.create", "user.disable"]
    assert first.next_before == first.entries[-1].id
    rest = await box.audit.page(audit.Query(limit=3, before=first.next_before))
    assert [e.action for e in rest.entries] == ["user.create"] and rest.next_before is None

    family = await box.audit.page(audit.Query(action="user."))
    assert [e.action for e in family.entries] == ["user.disable", "user.create"]
    exact = await box.audit.page(audit.Query(action="user.create"))
    assert [e.action for e in exact.entries] == ["user.create"]
    by_name = await box.audit.page(audit.Query(user="ROOT"))
    assert [e.action for e in by_name.entries] == ["site.create", "user.create"]
    chinese = await box.audit.page(audit.Query(user="王芳"))
    assert [e.action for e in chinese.entries] == ["user.disable"]

    # Days in the box's zone, both ends included: 1 Dec holds two entries, up to 23:59.
    one_day = await box.audit.page(audit.Query(since=date(2026, 12, 1), until=date(2026, 12, 1)))
    assert [e.action for e in one_day.entries] == ["site.create", "user.disable"]
    since = await box.audit.page(audit.Query(since=date(2026, 12, 2)))
    assert [e.action for e in since.entries] == ["device.add"]

    chunks = [c async for c in box.audit.export(audit.Query(action="user."))]
    assert [[e.action for e in c] for c in chunks] == [["user.disable", "user.create"]]

    facets = await box.audit.facets()
    assert facets.actions == ["device.add", "site.create", "user.create", "user.disable"]
    assert facets.users == ["root", "王芳"]


async def test_bad_filters_are_refused(box: Box):
    for query in (
        audit.Query(action="User."),
        audit.Query(action="user..role"),
        audit.Query(since=date(2026, 12, 2), until=date(2026, 12, 1)),
        audit.Query(since=date(1, 1, 1)),
        audit.Query(until=date(9999, 12, 31)),
    ):
        with pytest.raises(InvalidInput):
            await box.audit.page(query)
    # The last day a filter may name works.
    assert (await box.audit.page(audit.Query(until=date(2999, 12, 31)))).entries == []
