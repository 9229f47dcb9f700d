"""Switching a data folder to a checked restore: the old data kept aside, a stop
half-way finished at the next start, a failed start rolled back, undo, the lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.core import restore


def _tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _box(data: Path, tag: str) -> None:
    data.mkdir(exist_ok=True)
    (data / "callbox.db").write_text(f"db {tag}")
    (data / "callbox.db-wal").write_text(f"wal {tag}")
    (data / "secret.key").write_text(f"key {tag}")
    (data / "uploads").mkdir(exist_ok=True)
    (data / "uploads" / f"file-{tag}").write_text(tag)


def _stage(data: Path) -> None:
    new = restore.staged(data)
    new.mkdir()
    (new / "callbox.db").write_text("db restored")
    (new / "secret.key").write_text("key restored")
    (new / "uploads").mkdir()
    (new / "uploads" / "file-restored").write_text("restored")
    restore.mark_checked(
        data, "callbox-desk-20261206T000000Z.tar.age", "desk", 1_765_000_000_000, "ann", "10.0.0.9"
    )


RESTORED = {
    "callbox.db": "db restored",
    "secret.key": "key restored",
    "uploads/file-restored": "restored",
}


def _live(data: Path) -> dict[str, str]:
    return {
        name: text
        for name, text in _tree(data).items()
        if not name.startswith(("restore-", "backups/", "restore.json", ".box"))
    }


def test_a_checked_restore_switches_and_keeps_the_old_data_aside(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _box(data, "old")
    (data / "backups").mkdir()
    (data / "backups" / "kept.tar.age").write_text("archive")
    before = _live(data)
    assert restore.apply_pending(data) is None  # nothing waits
    _stage(data)
    journal = restore.apply_pending(data)
    assert journal is not None and journal.state == "applied"
    assert _live(data) == RESTORED
    assert _tree(data / journal.previous) == before  # the WAL went with its database
    assert (data / "backups" / "kept.tar.age").read_text() == "archive"
    assert not restore.staged(data).exists()
    assert restore.confirm_started(data).state == "started"  # type: ignore[union-attr]

    removed = restore.remove_previous(data)
    assert removed.previous == "" and not (data / journal.previous).exists()
    with pytest.raises(restore.RestoreError):
        restore.remove_previous(data)


def test_a_stop_half_way_is_finished_at_the_next_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _box(data, "old")
    _stage(data)
    # As if the box stopped after moving two entries aside, with the journal saying so.
    previous = "restore-previous-20261206-000000"
    (data / previous).mkdir()
    for name in ("callbox.db", "callbox.db-wal"):
        (data / name).rename(data / previous / name)
    (data / "restore.json").write_text(
        json.dumps({"state": "swapping", "archive": "a.tar.age", "previous": previous})
    )
    journal = restore.apply_pending(data)
    assert journal is not None and journal.state == "applied" and journal.previous == previous
    assert _live(data) == RESTORED
    assert set(_tree(data / previous)) == {
        "callbox.db",
        "callbox.db-wal",
        "secret.key",
        "uploads/file-old",
    }


def test_a_restored_box_that_does_not_start_goes_back_and_undo_goes_back_on_request(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    _box(data, "old")
    before = _live(data)
    _stage(data)
    restore.apply_pending(data)
    back = restore.roll_back(data, "migration 0099 failed")
    assert back is not None and back.state == "rolled_back" and "0099" in back.error
    assert _live(data) == before
    assert _tree(data / back.failed) == RESTORED
    assert restore.roll_back(data, "again") is None  # nothing applied any more

    _stage(data)
    restore.apply_pending(data)
    restore.confirm_started(data)
    assert restore.roll_back(data, "late") is None  # it started: only undo goes back
    undone = restore.undo(data, "root", "cli")
    assert undone.state == "undone" and _live(data) == before
    with pytest.raises(restore.RestoreError):
        restore.undo(data, "root", "cli")


def test_each_switch_waits_to_be_recorded_by_the_box_that_starts_on_its_data(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    _box(data, "old")
    assert restore.unrecorded(data) is None  # no restore yet
    _stage(data)
    restore.apply_pending(data)
    applied = restore.unrecorded(data)
    assert applied is not None and (applied.state, applied.by, applied.address) == (
        "applied",
        "ann",
        "10.0.0.9",
    )
    restore.mark_recorded(data)
    assert restore.unrecorded(data) is None
    restore.confirm_started(data)
    assert restore.unrecorded(data) is None  # the start is the same switch

    # Going back is a switch of its own, recorded by the box on the previous data.
    undone = restore.undo(data, "root", "cli")
    assert restore.unrecorded(data) == undone
    assert (undone.state, undone.by, undone.address) == ("undone", "root", "cli")
    restore.mark_recorded(data)
    assert restore.unrecorded(data) is None

    _stage(data)
    restore.apply_pending(data)
    restore.mark_recorded(data)
    back = restore.roll_back(data, "migration 0099 failed")
    assert back is not None and restore.unrecorded(data) == back
    assert (back.by, back.address) == ("ann", "10.0.0.9")  # the restore's asker


def test_a_restore_onto_an_empty_folder_has_no_previous_data(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    data.mkdir()
    _stage(data)
    journal = restore.apply_pending(data)
    assert journal is not None and journal.previous == ""
    assert _live(data) == RESTORED


def test_an_unchecked_restore_is_never_switched_to(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _box(data, "old")
    before = _live(data)
    restore.staged(data).mkdir()
    (restore.staged(data) / "callbox.db").write_text("half unpacked")
    assert restore.apply_pending(data) is None
    assert _live(data) == before and not restore.staged(data).exists()


def test_one_box_at_a_time_holds_the_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with restore.data_lock(data), pytest.raises(restore.BoxRunning), restore.data_lock(data):
        pass
    with restore.data_lock(data):
        pass
