"""The typed contract's machinery: input errors in plain words, and document entries
whose security follows the route policy."""

from __future__ import annotations

import msgspec
import pytest

from appliance.core.errors import InvalidInput
from appliance.webui.admin_views import CONTRACT
from appliance.webui.contract import convert
from appliance.webui.wire.admin import IpTableQuery, NewSite, PrivacyChange


@pytest.mark.parametrize(
    ("value", "kind", "words"),
    [
        ({"page_view_days": 0}, PrivacyChange, "page_view_days must be between 1 and 3650"),
        ({"page_view_days": "90"}, PrivacyChange, "page_view_days must be a whole number"),
        ({"honour_dnt": "yes"}, PrivacyChange, "honour_dnt must be true or false"),
        ({"keep": True}, PrivacyChange, "unknown field: keep"),
        ([1], PrivacyChange, "body must be a JSON object"),
        ({"format": "geoip"}, IpTableQuery, "format must be one of auto, ip2location, ip2region"),
        ({"key": "Bad Key"}, NewSite, "key is malformed"),
        ({}, NewSite, "key is required"),
        ({"key": "a" * 40}, NewSite, "key must be text of 1-32 characters"),
        ({"key": 5}, NewSite, "key must be text"),
    ],
)
def test_input_errors_say_the_whole_rule(value, kind, words):
    with pytest.raises(InvalidInput) as caught:
        convert(value, kind)
    assert caught.value.message == words and caught.value.status == 422


def test_a_partial_change_keeps_only_the_fields_given():
    change = convert({"honour_dnt": True}, PrivacyChange)
    assert msgspec.to_builtins(change) == {"honour_dnt": True}


def test_document_entries_take_security_and_csrf_from_the_policy():
    paths = CONTRACT.openapi_paths()
    read = paths["/api/admin/privacy"]["get"]
    change = paths["/api/admin/privacy"]["put"]
    assert read["security"] == change["security"] == [{"consoleSession": []}]
    assert "parameters" not in read
    assert [p["name"] for p in change["parameters"]] == ["X-CSRF-Token"]
    assert change["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PrivacyChange"
    }
    upload = paths["/api/admin/ip-table"]["post"]
    assert {p["name"] for p in upload["parameters"]} == {"format", "X-CSRF-Token"}
    assert "text/csv" in upload["requestBody"]["content"]
    assert paths["/api/admin/sites/{key}/secret"]["post"]["parameters"][0]["in"] == "path"
