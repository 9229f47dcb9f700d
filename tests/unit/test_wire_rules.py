"""Ticket rules on the wire: the declared shapes name what core accepts, pass a rule to
core unchanged, and a saved rule goes out in the JSON form core reads back."""

from __future__ import annotations

import typing
from dataclasses import replace
from datetime import datetime
from typing import Any

import msgspec

from appliance.core.rule_input import parse_rule
from appliance.core.rules import ACTION_TYPES, OPS, SETTABLE, Kind, On
from appliance.webui.contract import convert
from appliance.webui.wire import rules as wire
from tests.integration.test_rules_api import note_trigger, pending_72_hours, vip_complaints

_MS = 1_796_000_000_123  # 2026-11-30, with milliseconds


def test_the_declared_names_are_cores() -> None:
    assert typing.get_args(wire.RuleKind) == tuple(Kind)
    assert typing.get_args(wire.Event) == tuple(On)
    assert typing.get_args(wire.Field) == tuple(OPS)
    assert set(typing.get_args(wire.Op)) == {op for ops in OPS.values() for op in ops}
    assert typing.get_args(wire.Settable) == SETTABLE
    tags = tuple(t.__struct_config__.tag for t in typing.get_args(wire.Action))
    assert tags == ACTION_TYPES


def _through_the_wire(raw: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(convert(raw, wire.TicketRuleInput))
    return data


def test_a_rule_reaches_core_as_it_was_sent() -> None:
    once = {**pending_72_hours(), "once_per_ticket": True, "enabled": False}
    assign_none = note_trigger("清空负责人", actions=[{"type": "assign", "owner_id": None}])
    for raw in (vip_complaints(4), pending_72_hours(), once, assign_none):
        assert parse_rule(_through_the_wire(raw)) == parse_rule(raw)


def test_a_saved_rule_goes_out_in_the_form_core_reads_back() -> None:
    for raw in (vip_complaints(4), pending_72_hours()):
        rule = replace(parse_rule(raw, rule_id=7, position=3), created_at=_MS, updated_at=_MS)
        out = msgspec.json.decode(msgspec.json.encode(wire.rule_out(rule)))
        assert out["id"] == 7 and out["position"] == 3
        assert datetime.fromisoformat(out["created_at"]).timestamp() * 1000 == _MS
        assert out["created_at"][-6] in "+-"  # the box's offset, not UTC's Z
        definition = {
            k: v for k, v in out.items() if k not in ("id", "position", "created_at", "updated_at")
        }
        back = parse_rule(_through_the_wire(definition), rule_id=7, position=3)
        assert replace(back, created_at=_MS, updated_at=_MS) == rule
