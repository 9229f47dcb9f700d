"""Triggers, timed rules and webhooks acting on tickets, over a real SQLite file: a
change and everything it sets off commit together, under the rule's name, once."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.core.box import Box
from appliance.core.errors import Conflict
from appliance.core.store import tickets as store
from appliance.core.ticketflow import State, replay
from appliance.core.tickets import NewTicket, Requester

_HOUR = 3600 * 1000


async def _boss(box: Box) -> Any:
    user = await box.accounts.create_user("boss", "correct horse battery", "supervisor")
    return await box.routing.actor(user.id, user.display_name, user.role)


async def _consistent(box: Box, ticket_id: int) -> None:
    events = await box.tickets.history(ticket_id)
    row = await box.db.read(lambda conn: store.get(conn, ticket_id))
    assert row == replay(events)


async def test_a_trigger_acts_on_creation_under_its_name(box: Box) -> None:
    boss = await _boss(box)
    leads = await box.routing.create_group({"name": "客服主管"})
    await box.rules.create(
        boss,
        {
            "name": "VIP 投诉转客服主管",
            "kind": "trigger",
            "on": ["created", "updated"],
            "conditions": {
                "all": [
                    {"field": "type", "op": "is", "value": "投诉"},
                    {"field": "customer_tier", "op": "is", "value": "vip"},
                    {"field": "priority", "op": "is_not", "value": "urgent"},
                ]
            },
            "actions": [
                {"type": "set_field", "field": "priority", "value": "urgent"},
                {"type": "assign", "group_id": leads.id},
                {"type": "notify", "to": ["group"], "text": "VIP 客户投诉"},
            ],
        },
    )
    plain = await box.tickets.create(boss, NewTicket(subject="普通投诉", type="投诉"))
    assert plain.fields["priority"] == "normal"  # no VIP requester: the rule does not match
    vip = await box.tickets.create(
        boss, NewTicket(subject="先问问", type="咨询", requester=Requester(name="钱总"))
    )
    await box.customers.update(vip.fields["requester_id"], {"tier": "vip"})
    # The change to 投诉 is an update: the trigger fires then, in the same transaction.
    changed = await box.tickets.change(boss, vip.id, {"type": "投诉"})
    assert changed.fields["priority"] == "urgent"
    assert changed.fields["group_id"] == leads.id
    events = await box.tickets.history(vip.id)
    by_rule = [e for e in events if e.actor_id.startswith("rule:")]
    assert [e.kind for e in by_rule] == ["changed", "rule"]
    assert by_rule[-1].data["name"] == "VIP 投诉转客服主管"
    assert by_rule[-1].data["notify"][0]["group_ids"] == [leads.id]
    # Once urgent, the rule no longer matches: another change sets nothing off.
    again = await box.tickets.change(boss, vip.id, {"subject": "投诉：发票错误"})
    assert again.last_seq == changed.last_seq + 1
    await _consistent(box, vip.id)


async def test_a_timed_rule_acts_once_and_stops_itself(box: Box) -> None:
    boss = await _boss(box)
    await box.rules.create(
        boss,
        {
            "name": "待客户回复 72 小时",
            "kind": "timed",
            "conditions": {
                "all": [
                    {"field": "state", "op": "is", "value": "pending"},
                    {"field": "hours_in_state", "op": "gt", "value": 72},
                    {"field": "tags", "op": "not_contains", "value": ["超时未回复"]},
                ]
            },
            "actions": [
                {"type": "set_field", "field": "add_tags", "value": ["超时未回复"]},
                {"type": "add_note", "text": "客户 72 小时未回复"},
            ],
        },
    )
    ticket = await box.tickets.create(boss, NewTicket(subject="等待回复"))
    ticket = await box.tickets.move(boss, ticket.id, "pending")
    assert await box.tickets.run_timed_rules(ticket.state_at + 71 * _HOUR) == 0
    assert await box.tickets.run_timed_rules(ticket.state_at + 73 * _HOUR) == 1
    assert await box.tickets.run_timed_rules(ticket.state_at + 74 * _HOUR) == 0
    detail = await box.tickets.detail(boss, ticket.id)
    assert detail.ticket.fields["tags"] == ("超时未回复",)
    assert detail.ticket.state == State.PENDING
    assert [e.data["body"] for e in detail.events if e.kind == "note"] == ["客户 72 小时未回复"]
    await _consistent(box, ticket.id)


async def test_ticket_changes_queue_signed_webhooks_in_their_transaction(box: Box) -> None:
    boss = await _boss(box)
    hook, _secret = await box.webhooks.create(
        {"name": "ERP", "url": "http://127.0.0.1:9/hook", "events": []}
    )
    ticket = await box.tickets.create(boss, NewTicket(subject="接口"))
    await box.tickets.comment(boss, ticket.id, "已处理", public=True)
    sent = await box.webhooks.deliveries(hook.id)
    events = sorted(d.event for d in sent)
    assert events == ["ticket.created", "ticket.replied", "ticket.state_changed"]
    # A refused change queues nothing.
    with pytest.raises(Conflict):
        await box.tickets.move(boss, ticket.id, "closed")
    assert len(await box.webhooks.deliveries(hook.id)) == 3


async def test_a_rule_is_previewed_before_it_is_saved(box: Box) -> None:
    boss = await _boss(box)
    urgent = await box.tickets.create(boss, NewTicket(subject="紧急", priority="urgent"))
    await box.tickets.create(boss, NewTicket(subject="一般"))
    draft = box.rules.draft(
        {
            "name": "紧急单加标签",
            "kind": "trigger",
            "on": ["updated"],
            "conditions": {"all": [{"field": "priority", "op": "is", "value": "urgent"}]},
            "actions": [{"type": "set_field", "field": "add_tags", "value": ["加急"]}],
        }
    )
    assert [t.id for t in await box.tickets.preview_rule(draft)] == [urgent.id]
    assert await box.rules.saved() == []  # a preview saves nothing


async def test_the_timed_pass_goes_in_batches_and_reaches_every_ticket(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    from appliance.core import tickets as tickets_module

    monkeypatch.setattr(tickets_module, "TIMED_BATCH", 2)
    boss = await _boss(box)
    await box.rules.create(
        boss,
        {
            "name": "新单 1 小时加标签",
            "kind": "timed",
            "conditions": {
                "all": [
                    {"field": "hours_since_created", "op": "gt", "value": 1},
                    {"field": "tags", "op": "not_contains", "value": ["待跟进"]},
                ]
            },
            "actions": [{"type": "set_field", "field": "add_tags", "value": ["待跟进"]}],
        },
    )
    made = [await box.tickets.create(boss, NewTicket(subject=f"单 {n}")) for n in range(5)]
    writes_before = box.db.stats.transactions
    acted = await box.tickets.run_timed_rules(made[-1].created_at + 2 * _HOUR)
    assert acted == 5
    assert box.db.stats.transactions - writes_before >= 3  # 5 tickets, 2 per batch
    for ticket in made:
        await _consistent(box, ticket.id)
        assert (await box.tickets.detail(boss, ticket.id)).ticket.fields["tags"] == ("待跟进",)


async def test_sla_warns_breaches_and_escalates_once_each_at_the_right_minute(box: Box) -> None:
    boss = await _boss(box)
    leads = await box.routing.create_group({"name": "二线"})
    await box.sla.create(
        boss,
        {
            "name": "故障单",
            "enabled": True,
            "conditions": {"types": ["故障"], "tiers": [], "priorities": [], "group_ids": []},
            "targets": {"first_response": 60, "next_response": None, "resolution": 480},
            "hours": None,
            "holidays": [],
            "warn_share": 0.75,
            "levels": [
                {"metric": "first_response", "offset_minutes": 10, "action": "raise_priority"},
                {
                    "metric": "first_response",
                    "offset_minutes": 20,
                    "action": "reassign_group",
                    "group_id": leads.id,
                },
            ],
        },
    )
    minute = 60_000
    ticket = await box.tickets.create(boss, NewTicket(subject="断网", type="故障"))
    t0 = ticket.created_at
    other = await box.tickets.create(boss, NewTicket(subject="咨询", type="咨询"))
    assert await box.tickets.run_sla(t0 + 44 * minute) == 0
    assert await box.tickets.run_sla(t0 + 46 * minute) == 1  # warning at 45 of 60
    assert await box.tickets.run_sla(t0 + 46 * minute) == 0  # once
    assert await box.tickets.run_sla(t0 + 61 * minute) == 1  # the breach
    assert await box.tickets.run_sla(t0 + 75 * minute) == 1  # +10: priority raised
    assert await box.tickets.run_sla(t0 + 81 * minute) == 1  # +20: to the second line
    assert await box.tickets.run_sla(t0 + 200 * minute) == 0
    detail = await box.tickets.detail(boss, ticket.id)
    assert detail.ticket.fields["priority"] == "high"
    assert detail.ticket.fields["group_id"] == leads.id
    fired = [e.data["change"] for e in detail.events if e.kind == "sla"]
    assert fired.count("warning") == 1 and fired.count("breach") == 1
    assert fired.count("level") == 2
    clocks = await box.tickets.clocks(boss, ticket.id)
    assert {c.metric for c, _ in clocks} >= {"first_response", "resolution"}
    untouched = await box.tickets.detail(boss, other.id)  # no policy applies to it
    assert untouched.ticket.fields["priority"] == "normal"
    await _consistent(box, ticket.id)
    await _consistent(box, other.id)


async def test_a_pending_ticket_stops_the_sla_clock(box: Box) -> None:
    boss = await _boss(box)
    await box.sla.create(
        boss,
        {
            "name": "全部",
            "enabled": True,
            "conditions": {"types": [], "tiers": [], "priorities": [], "group_ids": []},
            "targets": {"first_response": None, "next_response": None, "resolution": 60},
            "hours": None,
            "holidays": [],
            "warn_share": 0.5,
            "levels": [],
        },
    )
    ticket = await box.tickets.create(boss, NewTicket(subject="等客户"))
    ticket = await box.tickets.move(boss, ticket.id, "pending")
    # Pending from the start: however long it waits on the customer, nothing fires.
    assert await box.tickets.run_sla(ticket.created_at + 10 * _HOUR) == 0
