"""Tickets over a real SQLite file: numbers, requesters, states, scope, chats turned into
tickets, the append-only history, and the row always what the history makes."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core.actors import Staff, Visitor
from appliance.core.box import Box
from appliance.core.errors import ChatError, Conflict, Forbidden, InvalidInput, NotFound
from appliance.core.store import tickets as store
from appliance.core.ticketflow import State, replay
from appliance.core.tickets import NewTicket, Requester

SUPER = Staff(1, "主管", "supervisor")


async def _users(box: Box) -> tuple[Staff, Staff]:
    boss = await box.accounts.create_user("boss", "correct horse battery", "supervisor")
    agent = await box.accounts.create_user("li", "correct horse battery", "agent")
    return (
        await box.routing.actor(boss.id, boss.display_name, boss.role),
        await box.routing.actor(agent.id, agent.display_name, agent.role),
    )


async def _consistent(box: Box, ticket_id: int) -> None:
    """The cached row is exactly what replaying the history makes."""
    events = await box.tickets.history(ticket_id)
    row = await box.db.read(lambda conn: store.get(conn, ticket_id))
    assert row == replay(events)


async def test_numbers_count_per_day_and_requesters_are_found_or_created(box: Box) -> None:
    boss, _ = await _users(box)
    first = await box.tickets.create(
        boss,
        NewTicket(
            subject="宽带断线",
            type="故障",
            channel="phone",
            requester=Requester(name="王芳", phone="13800138000"),
        ),
    )
    second = await box.tickets.create(
        boss,
        NewTicket(subject="再次断线", requester=Requester(phone="13800138000")),
    )
    day, n1 = first.fields["number"].split("-")
    assert len(day) == 8 and n1 == "0001"
    assert second.fields["number"] == f"{day}-0002"
    assert first.fields["requester_id"] == second.fields["requester_id"] is not None
    assert first.state == State.NEW and first.fields["channel"] == "phone"
    await _consistent(box, first.id)


async def test_bad_input_is_refused_and_changes_nothing(box: Box) -> None:
    boss, _ = await _users(box)
    for bad, words in [
        (NewTicket(subject=""), "subject"),
        (NewTicket(subject="x" * 201), "subject"),
        (NewTicket(subject="x", priority="asap"), "priority"),
        (NewTicket(subject="x", channel="fax"), "channel"),
        (NewTicket(subject="x", type="不存在"), "type"),
        (NewTicket(subject="x", group_id=999), "group"),
        (NewTicket(subject="x", tags=["two words"]), "tag"),
        (NewTicket(subject="x", requester=Requester(email="not-mail")), "e-mail"),
        (NewTicket(subject="x", requester=Requester(customer_id=424242)), "customer"),
    ]:
        with pytest.raises(InvalidInput, match=words):
            await box.tickets.create(boss, bad)
    listing = await box.tickets.listing(boss, "all")
    assert listing.total == 0
    counters = await box.db.read(
        lambda conn: conn.execute("SELECT count(*) FROM ticket_counters").fetchone()[0]
    )
    assert counters == 0  # a refused ticket takes no number


async def test_states_follow_core_rules(box: Box) -> None:
    boss, _ = await _users(box)
    ticket = await box.tickets.create(boss, NewTicket(subject="发票"))
    # A public reply opens a new ticket; a note does not change the state.
    ticket = await box.tickets.comment(boss, ticket.id, "内部备注", public=False)
    assert ticket.state == State.NEW and ticket.notes == 1
    ticket = await box.tickets.comment(boss, ticket.id, "您好，已收到", public=True)
    assert ticket.state == State.OPEN and ticket.first_reply_at is not None
    ticket = await box.tickets.move(boss, ticket.id, "pending")
    ticket = await box.tickets.move(boss, ticket.id, "resolved")
    # Only the customer (or the box after N days) confirms a resolution.
    with pytest.raises(Forbidden):
        await box.tickets.move(boss, ticket.id, "closed")
    with pytest.raises(Conflict):
        await box.tickets.move(boss, ticket.id, "pending")
    with pytest.raises(InvalidInput):
        await box.tickets.move(boss, ticket.id, "done")
    ticket = await box.tickets.move(boss, ticket.id, "open")  # reopened
    assert ticket.state == State.OPEN and ticket.resolved_at is None
    await _consistent(box, ticket.id)


async def test_assigning_opens_and_only_overseers_assign_others(box: Box) -> None:
    boss, agent = await _users(box)
    ticket = await box.tickets.create(boss, NewTicket(subject="退款"))
    with pytest.raises(Forbidden):
        await box.tickets.change(agent, ticket.id, {"owner_id": boss.id})
    ticket = await box.tickets.change(agent, ticket.id, {"owner_id": agent.id})
    assert ticket.state == State.OPEN and ticket.fields["owner_id"] == agent.id
    same = await box.tickets.change(agent, ticket.id, {"owner_id": agent.id})
    assert same.last_seq == ticket.last_seq  # nothing changed, nothing recorded
    with pytest.raises(InvalidInput, match="cannot change"):
        await box.tickets.change(agent, ticket.id, {"number": "x"})
    await _consistent(box, ticket.id)
    # The page names everyone the ticket did, also a user disabled since.
    await box.accounts.set_disabled("li")
    people = (await box.tickets.detail(boss, ticket.id)).people
    assert people == {boss.id: boss.name, agent.id: agent.name}


async def test_agents_see_their_groups_unscoped_and_own_tickets(box: Box) -> None:
    boss, agent = await _users(box)
    other = await box.routing.create_group({"name": "售后"})
    group_id = other.id if hasattr(other, "id") else other
    theirs = await box.tickets.create(boss, NewTicket(subject="售后单", group_id=group_id))
    loose = await box.tickets.create(boss, NewTicket(subject="无组"))
    with pytest.raises(NotFound):
        await box.tickets.detail(agent, theirs.id)
    with pytest.raises(NotFound):
        await box.tickets.comment(agent, theirs.id, "hi", public=True)
    assert (await box.tickets.detail(agent, loose.id)).ticket.id == loose.id
    seen = await box.tickets.listing(agent, "all")
    assert [t.id for t in seen.tickets] == [loose.id]
    await box.tickets.change(boss, theirs.id, {"owner_id": agent.id})
    seen = await box.tickets.listing(agent, "mine")
    assert [t.id for t in seen.tickets] == [theirs.id]
    assert (await box.tickets.listing(boss, "all")).total == 2


async def test_a_chat_becomes_a_ticket_with_its_transcript(box: Box) -> None:
    boss, agent = await _users(box)
    conv, _ = await box.chats.open("v_chat1", name="张伟")
    await box.chats.post(conv.id, Visitor("v_chat1"), client_msg_id="m1", body="路由器坏了")
    # An agent whose queues the chat is not in cannot see it, nor make a ticket of it.
    outsider = Staff(agent.id, agent.name, "agent")
    with pytest.raises(NotFound):
        await box.tickets.from_chat(outsider, conv.id, NewTicket(subject="路由器"))
    ticket = await box.tickets.from_chat(boss, conv.id, NewTicket(subject="路由器", type="报修"))
    detail = await box.tickets.detail(boss, ticket.id)
    assert detail.conversations == [conv.id]
    assert ticket.fields["channel"] == "chat" and ticket.fields["owner_id"] == boss.id
    assert ticket.state == State.OPEN
    notes = [e for e in detail.events if e.kind == "note"]
    assert "路由器坏了" in notes[0].data["body"] and notes[0].data["transcript_of"] == conv.id
    assert detail.requester is not None and detail.requester.name == "张伟"
    # The visitor is now that customer: a second ticket from the chat has the same one.
    again = await box.tickets.from_chat(boss, conv.id, NewTicket(subject="又坏了"))
    assert again.fields["requester_id"] == ticket.fields["requester_id"]
    await _consistent(box, ticket.id)


async def test_merge_moves_chats_and_notes_the_target(box: Box) -> None:
    boss, _ = await _users(box)
    requester = Requester(name="赵", email="zhao@example.cn")
    a = await box.tickets.create(boss, NewTicket(subject="A", requester=requester))
    b = await box.tickets.create(boss, NewTicket(subject="B", requester=requester))
    c = await box.tickets.create(boss, NewTicket(subject="C"))
    with pytest.raises(Conflict):
        await box.tickets.merge(boss, a.id, c.id)
    with pytest.raises(InvalidInput):
        await box.tickets.merge(boss, a.id, a.id)
    merged = await box.tickets.merge(boss, a.id, b.id)
    assert merged.state == State.MERGED and merged.merged_into == b.id
    with pytest.raises(Conflict):
        await box.tickets.comment(boss, a.id, "late", public=True)
    target = await box.tickets.detail(boss, b.id)
    assert target.events[-1].data["merged_from"] == a.id
    assert target.events[-1].data["merged_from_number"] == a.fields["number"]
    await _consistent(box, a.id)
    await _consistent(box, b.id)


async def test_history_cannot_be_edited_through_sql(box: Box) -> None:
    boss, _ = await _users(box)
    ticket = await box.tickets.create(boss, NewTicket(subject="审计"))

    def tamper(sql: str) -> Any:
        def job(conn: sqlite3.Connection) -> Any:
            return conn.execute(sql, (ticket.id,))

        return job

    for sql in (
        "UPDATE ticket_events SET data = '{}' WHERE ticket_id = ?",
        "DELETE FROM ticket_events WHERE ticket_id = ?",
        # REPLACE deletes the row it collides with without firing delete triggers.
        "REPLACE INTO ticket_events (ticket_id, seq, at, by, kind, data)"
        " VALUES (?, 1, 0, 'system', 'created', '{\"subject\": \"forged\"}')",
        "INSERT OR REPLACE INTO ticket_events (ticket_id, seq, at, by, kind)"
        " VALUES (?, 1, 0, 'system', 'note')",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await box.db.write(tamper(sql))
    events = await box.tickets.history(ticket.id)
    assert [e.kind for e in events] == ["created"]
    assert events[0].data["subject"] == "审计"


async def test_types_are_an_editable_list(box: Box) -> None:
    boss, _ = await _users(box)
    names = [t.name for t in await box.tickets.types() if t.active]
    assert names == ["咨询", "故障", "投诉", "建议", "报修"]
    await box.tickets.set_types(["咨询", "安装"])
    active = [t.name for t in await box.tickets.types() if t.active]
    assert active == ["咨询", "安装"]
    with pytest.raises(InvalidInput, match="type"):
        await box.tickets.create(boss, NewTicket(subject="x", type="故障"))
    with pytest.raises(InvalidInput):
        await box.tickets.set_types(["a", "a"])


async def test_templates_fill_a_phone_ticket(box: Box) -> None:
    boss, _ = await _users(box)
    template = await box.tickets.save_template(
        None,
        {
            "name": "宽带报修",
            "subject": "宽带报修",
            "type": "报修",
            "priority": "high",
            "tags": ["宽带"],
        },
    )
    ticket = await box.tickets.create(
        boss, NewTicket(subject="", channel="phone", template_id=template.id)
    )
    assert ticket.fields["subject"] == "宽带报修" and ticket.fields["priority"] == "high"
    assert ticket.fields["type"] == "报修" and ticket.fields["tags"] == ("宽带",)
    with pytest.raises(Conflict):
        await box.tickets.save_template(None, {"name": "宽带报修"})


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("reply"), st.booleans()),
        st.tuples(st.just("move"), st.sampled_from([s.value for s in State])),
        st.tuples(st.just("priority"), st.sampled_from(["low", "normal", "high", "urgent"])),
        st.tuples(st.just("tags"), st.lists(st.sampled_from(["a", "b", "宽带"]), max_size=3)),
        st.tuples(st.just("owner"), st.booleans()),
    ),
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=_OPS)
async def test_the_row_is_always_what_the_history_makes(box: Box, ops: list[Any]) -> None:
    boss = Staff(0, "system-test", "supervisor")
    users = await box.accounts.list_users()
    if not users:
        user = await box.accounts.create_user("boss", "correct horse battery", "supervisor")
        users = [user]
    boss = await box.routing.actor(users[0].id, users[0].display_name, "supervisor")
    ticket = await box.tickets.create(boss, NewTicket(subject="随机"))
    for op, arg in ops:
        try:
            if op == "reply":
                await box.tickets.comment(boss, ticket.id, "答复", public=arg)
            elif op == "move":
                await box.tickets.move(boss, ticket.id, arg)
            elif op == "priority":
                await box.tickets.change(boss, ticket.id, {"priority": arg})
            elif op == "tags":
                await box.tickets.change(boss, ticket.id, {"tags": arg})
            else:
                await box.tickets.change(boss, ticket.id, {"owner_id": boss.id if arg else None})
        except ChatError:
            pass  # a refused step changes nothing; the next one goes on
        await _consistent(box, ticket.id)


async def test_recurring_schedules_catch_up_once_and_never_twice(settings: Any) -> None:
    from datetime import datetime

    from appliance.core.tickets import Tickets

    # Saved at 08:00:14.5: the schedule still runs on the minute, not 14.5 s past it.
    clock = {"now": int(datetime(2026, 12, 7, 8, 0).astimezone().timestamp() * 1000) + 14_500}
    box = Box(settings)
    box.tickets = Tickets(box.db, box.bus, clock=lambda: clock["now"])
    await box.db.open()
    try:
        await _users(box)
        template = await box.tickets.save_template(
            None, {"name": "机房巡检", "subject": "每周机房巡检", "type": "报修"}
        )
        with pytest.raises(InvalidInput, match="FREQ"):
            await box.tickets.save_schedule(
                None, {"name": "x", "rule": "FREQ=SECONDLY", "template_id": template.id}
            )
        planned = await box.tickets.save_schedule(
            None,
            {
                "name": "周一巡检",
                "rule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0",
                "template_id": template.id,
            },
        )
        assert planned.next_run_at is not None
        first = datetime.fromtimestamp(planned.next_run_at / 1000).astimezone()
        assert (first.weekday(), first.hour, first.minute) == (0, 9, 0)
        assert planned.next_run_at % 60_000 == 0
        # Before it is due: nothing.
        assert await box.tickets.run_schedules(clock["now"]) == []
        # Three Mondays pass while the box is off: one ticket, not three.
        later = planned.next_run_at + 15 * 24 * 3600 * 1000 + 60_000
        opened = await box.tickets.run_schedules(later)
        assert len(opened) == 1
        assert opened[0].fields["subject"] == "每周机房巡检"
        assert opened[0].fields["channel"] == "schedule"
        assert await box.tickets.run_schedules(later) == []
        # A template a schedule uses cannot be deleted.
        with pytest.raises(Conflict):
            await box.tickets.delete_template(template.id)
    finally:
        await box.close()
    # After a restart the served occurrence is remembered.
    again = Box(settings)
    await again.db.open()
    try:
        assert await again.tickets.run_schedules(later) == []
        listing = await again.tickets.listing(SUPER, "all")
        assert listing.total == 1
    finally:
        await again.close()


async def test_work_is_logged_summed_and_never_edited(box: Box) -> None:
    boss, _ = await _users(box)
    requester = Requester(name="孙", email="sun@example.cn")
    a = await box.tickets.create(boss, NewTicket(subject="上门维修", requester=requester))
    b = await box.tickets.create(boss, NewTicket(subject="再次上门", requester=requester))
    await box.tickets.log_work(boss, a.id, minutes=90, materials="路由器 ×1", cost_cents=19900)
    await box.tickets.log_work(boss, a.id, minutes=-30, note="多记了半小时")
    await box.tickets.log_work(boss, b.id, minutes=45, cost_cents=5000)
    with pytest.raises(InvalidInput):
        await box.tickets.log_work(boss, a.id, minutes=0)
    with pytest.raises(InvalidInput, match="minutes"):
        await box.tickets.log_work(boss, a.id, minutes=10**6)
    entries, totals = await box.tickets.work(boss, a.id)
    assert [e.minutes for e in entries] == [90, -30]
    assert (totals.entries, totals.minutes, totals.cost_cents) == (2, 60, 19900)
    customer = await box.tickets.work_of_customer(a.fields["requester_id"])
    assert (customer.minutes, customer.cost_cents) == (105, 24900)
    kinds = [e.kind for e in await box.tickets.history(a.id)]
    assert kinds.count("work") == 2
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await box.db.write(lambda conn: conn.execute("UPDATE ticket_work SET minutes = 0"))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await box.db.write(lambda conn: conn.execute("DELETE FROM ticket_work"))
    first = entries[0]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await box.db.write(
            lambda conn: conn.execute(
                "REPLACE INTO ticket_work (id, ticket_id, seq, user_id, minutes, at)"
                " VALUES (?, ?, 1, 1, 1, 0)",
                (first.id, a.id),
            )
        )
    assert [e.minutes for e in (await box.tickets.work(boss, a.id))[0]] == [90, -30]
    await _consistent(box, a.id)


async def test_resolved_tickets_close_themselves_after_the_confirm_period(box: Box) -> None:
    boss, _ = await _users(box)
    ticket = await box.tickets.create(boss, NewTicket(subject="已解决"))
    ticket = await box.tickets.move(boss, ticket.id, "resolved")
    assert ticket.resolved_at is not None
    day = 24 * 3600 * 1000
    assert await box.tickets.auto_close(7, ticket.resolved_at + 6 * day) == []
    closed = await box.tickets.auto_close(7, ticket.resolved_at + 7 * day + 1)
    assert [t.state for t in closed] == [State.CLOSED]
    assert await box.tickets.auto_close(7, ticket.resolved_at + 8 * day) == []
    last = (await box.tickets.history(ticket.id))[-1]
    assert last.by.value == "system" and last.actor_id == "auto-confirm"
    await _consistent(box, ticket.id)


async def test_escalation_follows_the_groups_line_or_goes_to_a_vendor(box: Box) -> None:
    boss, agent = await _users(box)
    group = await box.routing.create_group({"name": "宽带组"})
    expert_a = await box.accounts.create_user("ea", "correct horse battery", "agent")
    expert_b = await box.accounts.create_user("eb", "correct horse battery", "agent")
    lead = await box.accounts.create_user("lead", "correct horse battery", "supervisor")
    for user in (expert_a, expert_b):
        await box.routing.update_agent(user.id, {"tier": "expert"})
    await box.routing.set_members(group.id, [agent.id, expert_a.id, expert_b.id])
    busy = await box.tickets.create(boss, NewTicket(subject="忙", group_id=group.id))
    await box.tickets.change(boss, busy.id, {"owner_id": expert_a.id})
    ticket = await box.tickets.create(boss, NewTicket(subject="疑难", group_id=group.id))
    with pytest.raises(Conflict, match="lead"):
        await box.tickets.escalate(boss, ticket.id, "lead")
    up = await box.tickets.escalate(boss, ticket.id, "expert", note="需要专家")
    assert up.fields["owner_id"] == expert_b.id  # the expert with fewer working tickets
    assert up.fields["escalation"] == "expert" and up.state == State.OPEN
    await box.routing.update_group(group.id, {"lead_id": lead.id})
    up = await box.tickets.escalate(boss, up.id, "lead")
    assert up.fields["owner_id"] == lead.id
    with pytest.raises(InvalidInput, match="vendor"):
        await box.tickets.escalate(boss, up.id, "vendor")
    out = await box.tickets.escalate(boss, up.id, "vendor", vendor="华为售后 400-822-9999")
    assert out.fields["vendor"] == "华为售后 400-822-9999" and out.fields["owner_id"] == lead.id
    with pytest.raises(Conflict):
        await box.tickets.escalate(boss, up.id, "vendor", vendor="华为售后 400-822-9999")
    with pytest.raises(InvalidInput, match="lead_id"):
        await box.routing.update_group(group.id, {"lead_id": 99999})
    await _consistent(box, ticket.id)


async def test_a_dispatcher_sees_every_ticket_and_assigns_others(box: Box) -> None:
    boss, agent = await _users(box)
    other = await box.routing.create_group({"name": "外地组"})
    elsewhere = await box.tickets.create(boss, NewTicket(subject="外地", group_id=other.id))
    with pytest.raises(NotFound):
        await box.tickets.detail(agent, elsewhere.id)
    scope = await box.routing.update_agent(agent.id, {"dispatcher": True})
    assert scope.dispatcher
    with pytest.raises(InvalidInput):
        await box.routing.update_agent(agent.id, {"dispatcher": "yes"})
    dispatcher = await box.routing.actor(agent.id, agent.name, "agent")
    assert dispatcher.dispatcher and not dispatcher.overseer
    assert (await box.tickets.listing(dispatcher, "all")).total == 1
    assigned = await box.tickets.change(dispatcher, elsewhere.id, {"owner_id": boss.id})
    assert assigned.fields["owner_id"] == boss.id
