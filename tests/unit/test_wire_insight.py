"""The visitor insight contract: its enumerations are the core's, its inputs refuse in
plain words, and its document entries say what the widget relies on."""

from __future__ import annotations

import re
from typing import get_args

import msgspec
import pytest

from appliance.core.errors import InvalidInput
from appliance.core.invitations import AUDIENCES
from appliance.core.live import SOURCE_KINDS, STATUSES, LiveVisitor, Step
from appliance.core.routing import TIERS
from appliance.core.visitor_records import Invitation
from appliance.webui.contract import convert
from appliance.webui.insight_views import CONTRACT
from appliance.webui.wire import insight as wire
from appliance.webui.wire import wire_time


def test_enumerations_are_the_cores():
    assert get_args(wire.SourceKind) == SOURCE_KINDS
    assert get_args(wire.VisitorStatus) == STATUSES
    assert get_args(wire.Tier) == TIERS
    assert get_args(wire.Audience) == AUDIENCES
    rule = msgspec.json.schema(wire.InviteRule)["$defs"]["InviteRule"]["properties"]
    assert set(rule["source"]["enum"]) == {"any", *SOURCE_KINDS}


@pytest.mark.parametrize(
    ("value", "kind", "words"),
    [
        ({"tier": "gold"}, wire.CustomerChange, "tier must be one of member, new, vip"),
        ({"nickname": "x"}, wire.CustomerChange, "unknown field: nickname"),
        ({"notes": "x" * 4001}, wire.CustomerChange, "notes must be text of 0-4000 characters"),
        ({"limit": "0"}, wire.VisitorQuery, "limit must be between 1 and 200"),
        ({"offset": "1000001"}, wire.VisitorQuery, "offset must be between 0 and 1000000"),
        (
            {"source": "tv"},
            wire.VisitorQuery,
            "source must be one of campaign, direct, referral, search",
        ),
        ({}, wire.PageView, "url is required"),
        ({"message": ""}, wire.Invite, "message must be text of 1-500 characters"),
        ({"token": "t", "dwell_ms": -1}, wire.DwellReport, "dwell_ms must be a whole number"),
        (
            {"message": "hi", "min_seconds": 86401},
            wire.InviteRule,
            "min_seconds must be between 0 and 86400",
        ),
    ],
)
def test_input_errors_say_the_whole_rule(value, kind, words):
    strict = kind is not wire.VisitorQuery  # a query's numbers arrive as text
    with pytest.raises(InvalidInput) as caught:
        convert(value, kind, strict=strict)
    assert caught.value.message == words and caught.value.status == 422


def test_a_customer_change_keeps_only_the_fields_given():
    change = convert({"tier": "vip", "notes": "老客户"}, wire.CustomerChange)
    assert msgspec.to_builtins(change) == {"tier": "vip", "notes": "老客户"}


def test_a_rule_sent_back_with_its_id_is_read_without_it():
    rule = convert({"id": 3, "message": "需要帮忙吗？"}, wire.InviteRule)
    assert msgspec.to_builtins(rule)["group_id"] is None and rule.enabled is True


def test_document_entries_state_both_answers_and_the_beacon_body():
    paths = CONTRACT.openapi_paths()
    view = paths["/api/visitor/pageviews"]["post"]
    assert view["security"] == [{"visitorToken": []}]
    assert view["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PageViewRecorded"
    }
    assert view["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NotTracked"
    }
    beacon = paths["/api/visitor/pageviews/{view_id}/dwell"]["post"]
    assert beacon["requestBody"]["content"] == {
        "text/plain": {"schema": {"$ref": "#/components/schemas/DwellReport"}}
    }
    assert "content" not in beacon["responses"]["204"]
    rules = paths["/api/console/invite-rules"]["put"]
    assert [p["name"] for p in rules["parameters"]] == ["X-CSRF-Token"]
    names = {p["name"] for p in paths["/api/console/visitors"]["get"]["parameters"]}
    assert names == {"q", "region", "source", "status", "offset", "limit"}


def test_core_objects_go_out_with_wire_times():
    at = 1_764_979_200_123  # UTC ms
    step = Step(7, "https://shop.example/", "Shop", at, dwell_ms=1500)
    live = LiveVisitor(
        id="v_x", visit_id=1, visits=2, first_seen_at=at, last_seen_at=at + 1, trail=[step]
    )
    row = msgspec.to_builtins(wire.live_visitor_out(live))
    assert row["first_seen_at"] == wire_time(at) and row["last_seen_at"] == wire_time(at + 1)
    assert row["current"] == {"url": step.url, "title": "Shop", "since": wire_time(at)}
    assert row["returning"] is True and row["invitation"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.123[+-]\d\d:\d\d", row["first_seen_at"])
    assert msgspec.to_builtins(wire.trail_step_out(step))["dwell_ms"] == 1500  # a duration
    invitation = Invitation(3, "v_x", 5, "芳", None, 1, "Hi", "declined", at, at + 9, None)
    out = msgspec.to_builtins(wire.invitation_out(invitation))
    assert out["agent"] == {"display_name": "芳"}
    assert (out["created_at"], out["answered_at"]) == (wire_time(at), wire_time(at + 9))
