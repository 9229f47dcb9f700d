"""Box settings (privacy, retention, invitation quiet days) and the sites' secrets."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

import pytest

from appliance.core.box import Box
from appliance.core.boxsettings import BoxSettings, Sites
from appliance.core.errors import InvalidInput, NotFound

DEFAULTS = {
    "honour_dnt": False,
    "page_view_days": 90,
    "decline_quiet_days": 7,
    "sneak_peek": False,
    "portal_organisation": False,
}


async def test_defaults_then_changes_survive_a_restart(box: Box):
    assert asdict(box.box_settings.current()) == DEFAULTS
    changed = await box.box_settings.update({"honour_dnt": True, "page_view_days": 30})
    assert asdict(changed) == {**DEFAULTS, "honour_dnt": True, "page_view_days": 30}
    assert box.box_settings.honour_dnt is True
    assert box.box_settings.page_view_days == 30
    await box.box_settings.update({"decline_quiet_days": 0, "portal_organisation": True})
    reread = BoxSettings(box.db)
    await reread.load()
    assert asdict(reread.current()) == {
        "honour_dnt": True,
        "page_view_days": 30,
        "decline_quiet_days": 0,
        "sneak_peek": False,
        "portal_organisation": True,
    }
    rows = await box.db.fetchall("SELECT key, value FROM box_settings ORDER BY key")
    assert {r["key"]: r["value"] for r in rows} == {
        "invite.decline_quiet_days": "0",
        "portal.organisation_tickets": "1",
        "privacy.honour_dnt": "1",
        "retention.page_view_days": "30",
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"honour_dnt": 1}, "honour_dnt must be true or false"),
        ({"honour_dnt": "yes"}, "honour_dnt must be true or false"),
        ({"page_view_days": 0}, "page_view_days must be between 1 and 3650"),
        ({"page_view_days": 3651}, "page_view_days must be between 1 and 3650"),
        ({"page_view_days": 30.5}, "page_view_days must be a whole number"),
        ({"page_view_days": True}, "page_view_days must be a whole number"),
        ({"page_view_days": "30"}, "page_view_days must be a whole number"),
        ({"decline_quiet_days": -1}, "decline_quiet_days must be between 0 and 365"),
        ({"decline_quiet_days": 366}, "decline_quiet_days must be between 0 and 365"),
        ({"retention": 5}, "unknown setting: retention"),
        ({"honour_dnt": True, "b": 1, "a": 2}, "unknown setting: a, b"),
    ],
)
async def test_bad_values_change_nothing(box: Box, data: dict[str, Any], message: str):
    with pytest.raises(InvalidInput, match=message):
        await box.box_settings.update({"page_view_days": 10, **data})
    assert asdict(box.box_settings.current()) == DEFAULTS


@pytest.mark.parametrize("days", [1, 3650])
async def test_retention_bounds(box: Box, days: int):
    assert (await box.box_settings.update({"page_view_days": days})).page_view_days == days


async def test_a_damaged_stored_value_falls_back(box: Box):
    await box.db.write(
        lambda c: c.execute(
            "INSERT INTO box_settings VALUES ('retention.page_view_days', 'lots'),"
            " ('privacy.honour_dnt', '1')"
        )
    )
    reread = BoxSettings(box.db)
    await reread.load()
    assert reread.page_view_days == 90
    assert reread.honour_dnt is True


async def test_sites_default_secret_and_rotation(box: Box):
    sites = await box.sites.list()
    assert [s.key for s in sites] == ["default"]
    old = sites[0].secret
    assert re.fullmatch(r"[0-9a-f]{64}", old)
    assert await box.sites.secret("default") == old
    assert await box.sites.secret("nope") is None
    rotated = await box.sites.rotate("default")
    assert rotated.key == "default"
    assert re.fullmatch(r"[0-9a-f]{64}", rotated.secret) and rotated.secret != old
    assert await box.sites.secret("default") == rotated.secret
    reread = Sites(box.db)
    await reread.load()
    assert await reread.secret("default") == rotated.secret
    with pytest.raises(NotFound):
        await box.sites.rotate("nope")


async def test_sites_create(box: Box):
    shop = await box.sites.create("shop-2", "Shop")
    assert shop.name == "Shop" and len(shop.secret) == 64
    assert await box.sites.secret("shop-2") == shop.secret
    assert [s.key for s in await box.sites.list()] == ["default", "shop-2"]
    with pytest.raises(InvalidInput, match="exists already"):
        await box.sites.create("shop-2")
    for bad in ("", "Shop", "-x", "a" * 33, "a b", "站点"):
        with pytest.raises(InvalidInput, match="site key"):
            await box.sites.create(bad)
    with pytest.raises(InvalidInput, match="site name"):
        await box.sites.create("x", "n" * 101)
