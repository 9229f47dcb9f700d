"""The period of the service desk's timed pass: from the environment or callbox.toml,
60 s by default, refused at start outside 1..3600 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.settings import TICKET_PASS_RANGE, SettingsError, load_settings


def test_default_environment_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLBOX_TICKET_PASS_SECONDS", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    assert load_settings({"data_dir": str(data)}).ticket_pass_seconds == 60
    (data / "callbox.toml").write_text("ticket_pass_seconds = 30\n", "utf-8")
    assert load_settings({"data_dir": str(data)}).ticket_pass_seconds == 30
    monkeypatch.setenv("CALLBOX_TICKET_PASS_SECONDS", "1")
    assert load_settings({"data_dir": str(data)}).ticket_pass_seconds == 1


@pytest.mark.parametrize("value", ["0", "-5", "3601", "1.5", "soon"])
def test_out_of_range_or_not_a_number_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CALLBOX_TICKET_PASS_SECONDS", value)
    with pytest.raises(SettingsError, match="ticket_pass_seconds"):
        load_settings({"data_dir": str(tmp_path / "data")})
    assert TICKET_PASS_RANGE == (1, 3600)
