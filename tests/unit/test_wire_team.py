"""The teamwork and routing types: their enumerations are the core's, their input errors
say the whole rule, and a partial change passes only the fields given."""

from __future__ import annotations

import typing

import msgspec
import pytest

from appliance.core.errors import InvalidInput
from appliance.core.hours import DAYS
from appliance.core.routing import STRATEGIES, TIERS
from appliance.core.workitems import KINDS
from appliance.webui.contract import convert
from appliance.webui.wire import chat, routing, team


def _values(kind: object) -> set[object]:
    while typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    return set(typing.get_args(kind))


def test_the_enumerations_are_the_cores():
    assert _values(chat.Tier) == set(TIERS)
    assert _values(routing.Strategy) == set(STRATEGIES)
    assert _values(team.WorkKind) == set(KINDS)
    assert set(routing.Hours.__struct_fields__) == set(DAYS)
    assert {p.value for p in chat.Presence} == {"online", "away", "offline"}


@pytest.mark.parametrize(
    ("value", "kind", "words"),
    [
        ({"agent_id": 0}, team.Transfer, "agent_id must be a whole number"),
        ({"note": "x" * 2001}, team.Transfer, "note must be text of 0-2000 characters"),
        ({"body": ""}, team.NoteInput, "body must not be empty"),
        ({"shortcut": "hi"}, team.CannedAnswerInput, "body is required"),
        ({"tier": "gold"}, team.VisitorTier, "tier must be one of member, new, vip"),
        ({"max_chats": 51}, routing.AgentScopeInput, "max_chats must be between 0 and 50"),
        ({"target_wait": "30"}, routing.GroupSettings, "target_wait must be a whole number"),
        (
            {"hours": {"mon": [["9", "18"]]}},
            routing.GroupSettings,
            "mon must be a time of day as HH:MM (24:00 at the latest)",
        ),
        ({"hours": {"someday": []}}, routing.GroupSettings, "unknown field: someday"),
        ({"topics": [{"key": "a", "label": "A"}]}, routing.Topics, "group_id is required"),
    ],
)
def test_input_errors_say_the_whole_rule(value, kind, words):
    with pytest.raises(InvalidInput) as caught:
        convert(value, kind)
    assert caught.value.message == words and caught.value.status == 422


def test_a_partial_change_keeps_only_the_fields_given():
    change = convert({"fallback_group_id": None, "hours": {}}, routing.GroupSettings)
    assert msgspec.to_builtins(change) == {"fallback_group_id": None, "hours": {}}
    target = convert({"group_id": 2}, team.Transfer)
    assert msgspec.to_builtins(target) == {"group_id": 2}
    assert msgspec.to_builtins(convert({"wait": 5}, routing.PriorityChange)) == {"wait": 5.0}
