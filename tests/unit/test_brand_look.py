"""The look's rules: colours, WCAG contrast, the readable text colour, the reply-time
estimate from the live queue."""

from __future__ import annotations

import pytest

from appliance.core import brand, replytime
from appliance.core.board import AgentNow
from appliance.core.routing import Place


def test_contrast_matches_the_wcag_figures() -> None:
    assert brand.contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert brand.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert brand.contrast("#2563eb", "#ffffff") == pytest.approx(5.17, abs=0.01)
    assert brand.contrast("#ffffff", "#2563eb") == brand.contrast("#2563eb", "#ffffff")


@pytest.mark.parametrize(
    ("color", "text"),
    [
        ("#2563eb", "#ffffff"),
        ("#ffd400", "#000000"),
        ("#0f766e", "#ffffff"),
        ("#a3e635", "#000000"),
    ],
)
def test_auto_picks_the_readable_text(color: str, text: str) -> None:
    assert brand.text_on(color) == text
    assert brand.contrast(color, text) >= brand.CONTRAST_MIN


def test_one_of_white_or_black_always_reads() -> None:
    for value in range(0, 256, 5):
        color = f"#{value:02x}{(value * 7) % 256:02x}{(value * 13) % 256:02x}"
        assert brand.contrast(color, brand.text_on(color)) >= brand.CONTRAST_MIN


def test_colours_are_normalised_or_refused() -> None:
    assert brand.parse_color("#17E") == "#1177ee"
    assert brand.parse_color("0F766E") == "#0f766e"
    for bad in ("", "#12", "#1234", "red", "#12345g", "rgb(0,0,0)"):
        with pytest.raises(brand.ColorInvalid):
            brand.parse_color(bad)


def test_a_chosen_text_colour_under_aa_is_refused() -> None:
    with pytest.raises(brand.ColorLowContrast, match=r"1\.4:1"):
        brand.checked({"color": "#ffd400", "text_color": "white"})
    look = brand.checked({"color": "#ffd400", "text_color": "black"})
    assert look.text == "#000000"


def test_the_version_follows_every_field() -> None:
    base = brand.checked({})
    assert base == brand.Look()
    seen = {base.version}
    for change in (
        {"color": "#111111"},
        {"name": "Acme"},
        {"welcome": {"en": "Hi"}},
        {"label": {"zh-CN": "咨询"}},
        {"position": "left"},
        {"offset_x": 0},
        {"offset_y": 80},
        {"open_after": 0},
    ):
        seen.add(brand.checked(change).version)
    seen.add(brand.checked({}, logo="ab" * 8).version)
    assert len(seen) == 10


def _agent(status: str = "online", load: int = 0, max_chats: int = 2) -> AgentNow:
    return AgentNow(1, "A", "agent", status, "member", load, max_chats, 0, (1,))


def test_no_estimate_without_anyone_online() -> None:
    assert replytime.estimate([], {}) is None
    assert replytime.estimate([_agent("away"), _agent(max_chats=0)], {}) is None


def test_a_free_agent_answers_within_a_minute() -> None:
    assert replytime.estimate([_agent(load=1)], {}) == replytime.SOON
    assert replytime.estimate([_agent(load=2)], {}) == 3 * replytime.SOON


def test_a_newcomer_waits_one_place_behind_the_queue() -> None:
    places = {"a": Place(1, 120, None), "b": Place(2, 240, None), "c": Place(1, None, "no_agent")}
    assert replytime.estimate([_agent(load=2)], places) == 360
    assert replytime.estimate([_agent(load=2)], {"a": Place(1, 10, None)}) == replytime.SOON
    assert replytime.estimate([_agent()], {"a": Place(1, 5 * 3600, None)}) is None
