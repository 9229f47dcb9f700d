"""The webui's wire forms of routing's domain objects: shapes as the API documents them,
times through wire_time."""

from __future__ import annotations

import dataclasses
import typing
from datetime import date

import msgspec

from appliance.core.accounts import ROLES, STATUSES, User
from appliance.core.routing import STRATEGIES
from appliance.core.routing_config import GroupConfig, PriorityPoints, Rule, Topic
from appliance.core.store import accounts as store_accounts
from appliance.core.store import routing as store_routing
from appliance.core.store import workitems as store_workitems
from appliance.core.workitems import KINDS
from appliance.webui.wire import account, routing

_MS = 1_796_000_000_123  # 2026-11-30, with milliseconds


def _json(value: object) -> dict[str, object]:
    """Return a wire value as its JSON text decodes."""
    decoded: dict[str, object] = msgspec.json.decode(msgspec.json.encode(value))
    return decoded


def test_routing_configuration_goes_out_in_its_documented_shape() -> None:
    group = GroupConfig(
        id=1,
        name="默认",
        strategy="least_busy",
        target_wait=60,
        answer_timeout=60,
        max_wait=600,
        fallback_group_id=None,
        fallback_after=120,
        sticky=True,
        hours={"mon": [(540, 1080)]},  # minutes
        holidays=(date(2026, 10, 1),),
        is_default=True,
        members=(2, 5),
    )
    wire = _json(routing.group_out(group))
    assert wire["hours"] == {"mon": [["09:00", "18:00"]]}
    assert (wire["holidays"], wire["members"], wire["is_default"]) == (["2026-10-01"], [2, 5], True)
    always = dataclasses.replace(group, hours=None, holidays=())
    assert _json(routing.group_out(always))["hours"] is None
    assert _json(routing.topic_out(Topic("billing", "Billing", 1, ""))) == {
        "key": "billing",
        "label": "Billing",
        "group_id": 1,
        "skill": "",
    }
    assert _json(routing.rule_out(Rule("*/shop/*", "", 1, "de"))) == {
        "group_id": 1,
        "url_pattern": "*/shop/*",
        "region": "",
        "skill": "de",
    }
    points = PriorityPoints({"vip": 60.0}, {}, 30.0, 40.0)
    assert _json(routing.priority_out(points)) == {
        "tier": {"vip": 60.0},
        "topic": {},
        "wait": 30.0,
        "transfer": 40.0,
    }


def test_a_user_goes_out_without_the_disabled_flag() -> None:
    user = User(4, "lina", "Lina", "agent", "away", 5, False)
    assert _json(account.user_out(user)) == {
        "id": 4,
        "username": "lina",
        "display_name": "Lina",
        "role": "agent",
        "status": "away",
        "max_chats": 5,
    }


def test_the_domain_enumerations_are_the_cores() -> None:
    assert typing.get_args(store_routing.Strategy) == STRATEGIES
    assert typing.get_args(store_workitems.Kind) == KINDS
    assert typing.get_args(store_accounts.Presence) == STATUSES
    assert typing.get_args(store_accounts.Role) == ROLES
