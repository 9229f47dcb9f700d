"""Scorecard points and scores against a hand-computed scenario, the checks of a
scorecard and a checklist, and a review's score (core/scorecards.py, core/quality.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from appliance.core.errors import InvalidInput
from appliance.core.quality import check_checklist, review_score
from appliance.core.scorecards import Item, bucket, check, points, score

CARD = [
    Item("answered", 20, 100, "higher"),
    Item("first_response", 20, 30, "lower"),
    Item("rating_mean", 30, 5, "higher"),
    Item("fcr", 10, 80, "higher"),
    Item("quality", 20, 90, "higher"),
]


def test_points_by_direction_and_target() -> None:
    assert points(80, 100, "higher") == 80.0
    assert points(150, 100, "higher") == 100.0  # beyond the target: full, no bonus
    assert points(0, 100, "higher") == 0.0
    assert points(20, 30, "lower") == 100.0  # faster than the target
    assert points(30, 30, "lower") == 100.0
    assert points(45, 30, "lower") == 50.0  # halfway to twice the target
    assert points(60, 30, "lower") == 0.0
    assert points(600, 30, "lower") == 0.0


def test_a_hand_computed_agent() -> None:
    # answered 80 of 100 -> 80; first response 45 s against 30 s -> 50; rating 4.5 of
    # 5 -> 90; no first-contact figure -> left out; quality 99 against 90 -> 100.
    # (80*20 + 50*20 + 90*30 + 100*20) / (20+20+30+20) = 7300 / 90 = 81.1
    line = score(CARD, [80, 45.0, 4.5, None, 99.0])
    assert line.points == (80.0, 50.0, 90.0, None, 100.0)
    assert line.score == 81.1
    assert line.excluded == ("fcr",)


def test_every_figure_there_uses_the_weights_as_set() -> None:
    line = score(CARD, [100, 30, 5, 40, 45])
    # 100*20 + 100*20 + 100*30 + 50*10 + 50*20 = 8500 / 100
    assert line.score == 85.0 and line.excluded == ()


def test_no_figure_at_all_gives_no_score() -> None:
    line = score(CARD, [None] * 5)
    assert line.score is None and len(line.excluded) == 5


def _card(**change: Any) -> dict[str, Any]:
    fields = {
        "name": "  一线  坐席 ",
        "items": [
            {"figure": "answered", "weight": 60, "target": 100, "direction": "higher"},
            {"figure": "quality", "weight": 40, "target": 90, "direction": "higher"},
        ],
    }
    return {**fields, **change}


def test_a_good_scorecard_is_kept_tidy() -> None:
    name, items = check(_card())
    assert name == "一线 坐席"
    assert [i.figure for i in items] == ["answered", "quality"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"name": ""}, "bad_name"),
        ({"name": "x" * 101}, "bad_name"),
        ({"items": []}, "bad_items"),
        (
            {
                "items": [{"figure": "answered", "weight": 1, "target": 1, "direction": "higher"}]
                * 31
            },
            "bad_items",
        ),
        (
            {"items": [{"figure": "salary", "weight": 100, "target": 1, "direction": "higher"}]},
            "bad_figure",
        ),
        (
            {"items": [{"figure": "fcr", "weight": 0, "target": 1, "direction": "higher"}]},
            "bad_weight",
        ),
        (
            {"items": [{"figure": "fcr", "weight": 100, "target": 0, "direction": "higher"}]},
            "bad_target",
        ),
        (
            {"items": [{"figure": "fcr", "weight": 100, "target": 1, "direction": "up"}]},
            "bad_direction",
        ),
        (
            {"items": [{"figure": "fcr", "weight": 90, "target": 1, "direction": "higher"}]},
            "bad_weights",
        ),
        (
            {"items": [{"figure": "fcr", "weight": 50, "target": 1, "direction": "higher"}] * 2},
            "bad_figure",
        ),
    ],
)
def test_a_bad_scorecard_is_refused_with_a_code(change: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidInput, match=f"^{code}:"):
        check(_card(**change))


def test_weeks_and_months_hold_a_day() -> None:
    assert bucket("w", date(2026, 12, 6)) == ("2026-W49", date(2026, 11, 30), date(2026, 12, 6))
    assert bucket("m", date(2026, 2, 14)) == ("2026-02", date(2026, 2, 1), date(2026, 2, 28))
    assert bucket("w", date(2027, 1, 1))[0] == "2026-W53"


ITEMS = [
    {"label": "问候语规范", "points": 5, "critical": False},
    {"label": "准确理解问题", "points": 10, "critical": False},
    {"label": "解决方案正确", "points": 15, "critical": True},
    {"label": "礼貌用语", "points": 5, "critical": False},
    {"label": "结束语", "points": 5, "critical": False},
]


def test_a_review_scores_the_share_of_points() -> None:
    assert review_score(ITEMS, [5, 10, 15, 5, 5]) == (100.0, False)
    assert review_score(ITEMS, [0, 5, 15, 5, 5]) == (75.0, False)  # 30 of 40


def test_a_failed_critical_item_zeroes_the_review() -> None:
    assert review_score(ITEMS, [5, 10, 0, 5, 5]) == (0.0, True)


def test_a_review_score_out_of_range_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"^bad_scores"):
        review_score(ITEMS, [6, 10, 15, 5, 5])
    with pytest.raises(InvalidInput, match=r"^bad_scores"):
        review_score(ITEMS, [5, 10, 15])
    # Items without points (no checklist allows it; a row written by hand): refused.
    with pytest.raises(InvalidInput, match=r"^bad_scores"):
        review_score([], [])
    with pytest.raises(InvalidInput, match=r"^bad_scores"):
        review_score([{"label": "x", "points": 0, "critical": False}], [0])


def test_checklist_checks() -> None:
    name, items = check_checklist({"name": "标准", "items": ITEMS})
    assert name == "标准" and items == ITEMS
    bad_ones: list[tuple[dict[str, Any], str]] = [
        ({"name": "x", "items": []}, "bad_items"),
        ({"name": "x", "items": [{"label": "a", "points": 101}]}, "bad_points"),
        ({"name": "x", "items": [{"label": "a", "points": 0}]}, "bad_points"),
        ({"name": "x", "items": [{"label": "", "points": 5}]}, "bad_label"),
        ({"name": "x", "items": [{"label": "a", "points": 5, "critical": "yes"}]}, "bad_critical"),
        ({"name": "", "items": ITEMS}, "bad_name"),
    ]
    for bad, code in bad_ones:
        with pytest.raises(InvalidInput, match=f"^{code}"):
            check_checklist(bad)
