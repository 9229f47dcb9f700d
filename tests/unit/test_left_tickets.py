"""What visitors leave (a message, a call-back request) becomes a ticket; what they left
before tickets existed (`work_items`) is carried into tickets once; the ticket list's
"left" and "breaching" views and its channel filter. Over a real SQLite file."""

from __future__ import annotations

import sqlite3

import pytest

from appliance.core.actors import Staff, Visitor
from appliance.core.box import Box
from appliance.core.errors import InvalidInput, NotFound, PhoneRequired
from appliance.core.store import tickets as store
from appliance.core.ticketflow import By, State, replay
from appliance.core.tickets import NewTicket
from appliance.core.workitems import validate

_MINUTE = 60_000


async def _boss(box: Box) -> Staff:
    user = await box.accounts.create_user("boss", "correct horse battery", "supervisor")
    return await box.routing.actor(user.id, user.display_name, user.role)


async def _consistent(box: Box, ticket_id: int) -> None:
    events = await box.tickets.history(ticket_id)
    row = await box.db.read(lambda conn: store.get(conn, ticket_id))
    assert row == replay(events)


async def test_a_left_message_is_a_ticket_the_visitor_follows(box: Box) -> None:
    boss = await _boss(box)
    conv, _ = await box.chats.open("v_ann")
    left = validate(
        {
            "kind": "message",
            "name": "安",
            "contact": "ann@example.cn",
            "body": "宽带断了\n从早上开始",
        }
    )
    ticket = await box.tickets.leave(Visitor("v_ann"), left, conv.id)
    f = ticket.fields
    assert (f["channel"], f["subject"], ticket.state) == ("message", "宽带断了", State.NEW)
    assert f["description"] == "宽带断了\n从早上开始\n\n联系方式：ann@example.cn"
    assert f["group_id"] == conv.group_id
    detail = await box.tickets.detail(boss, ticket.id)
    assert detail.requester is not None and detail.requester.email == "ann@example.cn"
    assert detail.conversations == [conv.id]
    created = detail.events[0]
    assert (created.by, created.actor_id) == (By.CUSTOMER, "visitor:v_ann")
    # The waiting chat it replaces has ended, and the visitor can follow the ticket.
    assert (await box.chats.get_for_visitor(conv.id, "v_ann")).status == "closed"
    assert [t.id for t in await box.tickets.of_visitor(Visitor("v_ann"))] == [ticket.id]
    assert await box.tickets.of_visitor(Visitor("v_other")) == []
    # The same contact again finds the same customer.
    again = await box.tickets.leave(
        Visitor("v_ann2"), validate({"kind": "message", "contact": "ann@example.cn", "body": "x"})
    )
    assert again.fields["requester_id"] == f["requester_id"]
    await _consistent(box, ticket.id)


async def test_a_call_back_request_without_a_chat_is_followed_by_its_visitor(box: Box) -> None:
    left = validate(
        {"kind": "callback", "name": "Li", "contact": "13800138000", "preferred_time": "after 2pm"}
    )
    ticket = await box.tickets.leave(Visitor("v_li"), left, lang="en")
    f = ticket.fields
    assert (f["channel"], f["subject"]) == ("callback", "Call back Li 13800138000")
    assert f["description"] == "Preferred time: after 2pm\n\nContact: 13800138000"
    assert [t.id for t in await box.tickets.of_visitor(Visitor("v_li"))] == [ticket.id]
    with pytest.raises(PhoneRequired):
        validate({"kind": "callback", "contact": "no phone"})
    # A visitor cannot hang a ticket on someone else's chat.
    theirs, _ = await box.chats.open("v_owner")
    with pytest.raises(NotFound):
        await box.tickets.leave(Visitor("v_li"), left, theirs.id)
    assert (await box.chats.get_for_visitor(theirs.id, "v_owner")).status == "waiting"


async def test_old_work_items_are_carried_into_tickets_once(box: Box) -> None:
    boss = await _boss(box)
    closer = await box.accounts.create_user("li", "correct horse battery", "agent")
    conv, _ = await box.chats.open("v_old")
    day = 1_764_547_200_000  # 2025-12-01 00:00 UTC
    home = conv.group_id

    def seed(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO visitors (id, created_at, last_seen_at) VALUES ('v_old2', 0, 0)"
        )
        conn.execute(
            "INSERT INTO work_items (id, kind, visitor_id, conversation_id, group_id, name,"
            " contact, preferred_time, body, created_at) VALUES"
            " ('w_open', 'callback', 'v_old', ?, ?, '王', '13900000000', '明天', '', ?)",
            (conv.id, home, day + 3_600_000),
        )
        conn.execute(
            "INSERT INTO work_items (id, kind, visitor_id, name, contact, body, status,"
            " created_at, closed_at, closed_by) VALUES"
            " ('w_done', 'message', 'v_old2', '', 'not-a-contact', '旧留言', 'closed', ?, ?, ?)",
            (day + 7_200_000, day + 9_000_000, closer.id),
        )

    await box.db.write(seed)
    assert await box.tickets.carry_over() == 2
    assert await box.tickets.carry_over() == 0  # idempotent
    listing = await box.tickets.listing(boss, "all", order="created_at ASC")
    open_one, done = listing.tickets
    assert open_one.created_at == day + 3_600_000 and open_one.state == State.NEW
    assert open_one.fields["subject"] == "请回电 王 13900000000"
    assert open_one.fields["group_id"] == home and open_one.fields["channel"] == "callback"
    assert open_one.fields["number"].startswith("20251201-")
    assert done.state == State.CLOSED and done.closed_at == day + 9_000_000
    assert done.fields["requester_id"] is None  # a contact today's checks refuse stays in the text
    assert "not-a-contact" in done.fields["description"]
    history = await box.tickets.history(done.id)
    assert [(e.kind, e.by, e.actor_id) for e in history][-2:] == [
        ("state", By.AGENT, str(closer.id)),
        ("state", By.SYSTEM, "carry-over"),
    ]
    for ticket in (open_one, done):
        await _consistent(box, ticket.id)
    carried = await box.db.read(
        lambda conn: conn.execute("SELECT id, ticket_id FROM work_items ORDER BY id").fetchall()
    )
    assert [tuple(r) for r in carried] == [("w_done", done.id), ("w_open", open_one.id)]
    assert [t.id for t in await box.tickets.of_visitor(Visitor("v_old"))] == [open_one.id]
    assert [t.id for t in await box.tickets.of_visitor(Visitor("v_old2"))] == [done.id]


async def test_the_left_and_breaching_views_and_the_channel_filter(box: Box) -> None:
    boss = await _boss(box)
    for name, type_, minutes in (("快", "故障", 30), ("慢", "咨询", 480)):
        await box.sla.create(
            boss,
            {
                "name": name,
                "enabled": True,
                "conditions": {"types": [type_], "tiers": [], "priorities": [], "group_ids": []},
                "targets": {"first_response": None, "next_response": None, "resolution": minutes},
                "hours": None,
                "holidays": [],
                "warn_share": 0.5,
                "levels": [],
            },
        )
    soon = await box.tickets.create(boss, NewTicket(subject="断网", type="故障", channel="phone"))
    later = await box.tickets.create(boss, NewTicket(subject="问价", type="咨询", channel="phone"))
    sooner = await box.tickets.create(boss, NewTicket(subject="又断", type="故障", channel="api"))
    left = await box.tickets.leave(Visitor("v_x"), validate({"kind": "message", "body": "在吗"}))

    breaching = await box.tickets.listing(boss, "breaching")
    assert [t.id for t in breaching.tickets] == [soon.id, sooner.id]  # nearest deadline first
    assert later.id not in [t.id for t in breaching.tickets]
    assert [t.id for t in (await box.tickets.listing(boss, "left")).tickets] == [left.id]
    phone = await box.tickets.listing(boss, "all", channel="phone")
    assert {t.id for t in phone.tickets} == {soon.id, later.id}
    assert (await box.tickets.listing(boss, "left", channel="phone")).total == 0
    with pytest.raises(InvalidInput, match="channel"):
        await box.tickets.listing(boss, "all", channel="fax")
    # A resolved ticket's clock stops: it leaves the breaching view.
    await box.tickets.move(boss, soon.id, "resolved")
    breaching = await box.tickets.listing(boss, "breaching")
    assert [t.id for t in breaching.tickets] == [sooner.id]
