"""The backup schedule and retention: pure rules, then the box's schedule on a clock of
the test's own (a real database, real archives), catching up once after downtime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta, tzinfo
from pathlib import Path

import pytest
from dateutil import tz

from appliance.core import backup_schedule as schedule
from appliance.core.backup import Backups
from appliance.core.db import Database
from appliance.core.store import backups as store

_SH = tz.gettz("Asia/Shanghai")
_BE = tz.gettz("Europe/Berlin")
assert _SH is not None and _BE is not None
SHANGHAI: tzinfo = _SH
BERLIN: tzinfo = _BE  # has a clock change, unlike China
AT = time(3, 30)


def local(text: str, zone: tzinfo = SHANGHAI) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def test_the_newest_slot_is_today_after_the_time_and_yesterday_before_it() -> None:
    assert schedule.last_slot(local("2026-12-06 10:00"), AT) == local("2026-12-06 03:30")
    assert schedule.last_slot(local("2026-12-06 03:29"), AT) == local("2026-12-05 03:30")
    assert schedule.last_slot(local("2026-12-06 03:30"), AT) == local("2026-12-06 03:30")
    assert schedule.next_slot(local("2026-12-06 03:30"), AT) == local("2026-12-07 03:30")
    assert schedule.next_slot(local("2026-12-06 01:00"), AT) == local("2026-12-06 03:30")


def test_a_week_down_is_one_run_not_seven() -> None:
    last_run = local("2026-12-01 03:30")
    now = local("2026-12-08 09:00")
    assert schedule.due(now, AT, last_run)
    # The catch-up run starts now; it serves the newest slot and every one before it.
    assert not schedule.due(now + timedelta(minutes=5), AT, now)
    assert not schedule.due(local("2026-12-09 03:29"), AT, now)
    assert schedule.due(local("2026-12-09 03:30"), AT, now)


def test_a_manual_backup_after_the_slot_serves_it_and_the_first_key_waits_for_the_next() -> None:
    assert not schedule.due(local("2026-12-06 12:00"), AT, local("2026-12-06 08:00"))
    assert schedule.due(local("2026-12-06 12:00"), AT, local("2026-12-06 03:00"))


def test_the_slot_follows_the_local_clock_across_a_change() -> None:
    # Berlin leaves summer time at 03:00 on 2026-10-25; 03:30 stays 03:30 on the wall.
    summer = schedule.next_slot(local("2026-10-23 10:00", BERLIN), AT)
    winter = schedule.next_slot(local("2026-10-25 10:00", BERLIN), AT)
    assert (summer.hour, summer.minute, summer.utcoffset()) == (3, 30, timedelta(hours=2))
    assert (winter.hour, winter.minute, winter.utcoffset()) == (3, 30, timedelta(hours=1))
    assert winter == local("2026-10-26 03:30", BERLIN)


def test_names_round_trip_and_other_files_are_not_archives() -> None:
    made = datetime(2026, 12, 6, 19, 30, 5, tzinfo=UTC)
    name = schedule.archive_name("Front Desk.local", made)
    assert name == "callbox-front-desk-local-20261206T193005Z.tar.age"
    read = schedule.read_name(name)
    assert read is not None and read.made == made and read.box == "front-desk-local"
    for other in (
        "notes.txt",
        "callbox-x-20261206T193005Z.tar",
        ".callbox-x-20261206T193005Z.tar.age.part",
        "callbox-x-20261399T193005Z.tar.age",
        "callbox-../x-20261206T193005Z.tar.age",
    ):
        assert schedule.read_name(other) is None, other
    assert schedule.box_label("!!!") == "box"


def _names(stamps: list[str]) -> list[str]:
    return [schedule.archive_name("box", local(s)) for s in stamps]


def test_retention_keeps_the_newest_of_each_day_and_week() -> None:
    # Two weeks and more of nightly archives, with a second one on some days.
    nightly = [f"2026-11-{d:02d} 03:30" for d in range(9, 31)] + [
        f"2026-12-{d:02d} 03:30" for d in range(1, 7)
    ]
    extra = ["2026-12-06 15:00", "2026-12-05 11:00"]
    names = _names(nightly + extra)
    pruned = schedule.to_prune([*names, "notes.txt"], keep_daily=3, keep_weekly=2, zone=SHANGHAI)
    kept = sorted(set(names) - set(pruned))
    assert kept == sorted(
        _names(
            [
                "2026-12-06 15:00",  # today's newest (and this ISO week's newest)
                "2026-12-05 11:00",  # the 5th's newest
                "2026-12-04 03:30",
                "2026-11-29 03:30",  # last week's newest (weeks start on Monday)
            ]
        )
    )
    assert "notes.txt" not in pruned
    assert pruned == sorted(pruned)  # oldest first
    # Keeping nothing weekly and one daily still keeps the newest archive.
    assert set(names) - set(schedule.to_prune(names, 1, 0, SHANGHAI)) == set(
        _names(["2026-12-06 15:00"])
    )


class FakeClock:
    """The box's wall clock, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "data" / "callbox.db")
    await database.open()
    yield database
    await database.close()


async def _runs(backups: Backups) -> list[str]:
    return [r.trigger for r in reversed(await backups.runs(50)) if r.ok]


async def _settle(backups: Backups, ticks: int = 5) -> None:
    for _ in range(ticks):
        await asyncio.sleep(backups.tick * 2)
        await backups.wait()


async def test_the_box_catches_up_once_after_downtime_then_keeps_the_time(
    db: Database, tmp_path: Path
) -> None:
    clock = FakeClock(local("2026-12-01 12:00"))
    data = tmp_path / "data"
    backups = Backups(db, data, b"s" * 32, now=clock, tick=0.02, hostname="desk")
    await backups.open()
    try:
        await backups.new_key(replace=False)  # made at 12:00: the 03:30 slot was before it
        await _settle(backups)
        assert await _runs(backups) == []
        assert backups.next_run() == local("2026-12-02 03:30")

        clock.at = local("2026-12-02 03:31")
        await _settle(backups)
        assert await _runs(backups) == ["schedule"]
    finally:
        await backups.close()

    # The box is down from the 2nd to the 6th: four nights missed.
    clock.at = local("2026-12-06 09:00")
    backups = Backups(db, data, b"s" * 32, now=clock, tick=0.02, hostname="desk")
    await backups.open()
    try:
        await _settle(backups)
        assert await _runs(backups) == ["schedule", "schedule"]
        clock.at = local("2026-12-06 23:59")
        await _settle(backups)
        assert await _runs(backups) == ["schedule", "schedule"]
        clock.at = local("2026-12-07 03:30")
        await _settle(backups)
        assert await _runs(backups) == ["schedule", "schedule", "schedule"]
        archives = sorted(p.name for p in (data / "backups").glob("*.tar.age"))
        assert len(archives) == 3
        last = backups.last_result()
        assert last is not None and last.ok and last.archive == archives[-1]

        # Turned off, it does not run; a later time of day moves the next slot.
        await backups.change({"enabled": False})
        clock.at = local("2026-12-08 04:00")
        await _settle(backups)
        assert len(await _runs(backups)) == 3 and backups.next_run() is None
        await backups.change({"enabled": True, "daily_at": "22:15"})
        assert backups.next_run() == local("2026-12-08 04:00")  # the 7th's 22:15 is unserved
        await _settle(backups)
        assert len(await _runs(backups)) == 4
        assert backups.next_run() == local("2026-12-08 22:15")
    finally:
        await backups.close()


async def test_a_backup_the_stop_cut_short_is_caught_up_at_the_next_start(
    db: Database, tmp_path: Path
) -> None:
    clock = FakeClock(local("2026-12-01 12:00"))
    data = tmp_path / "data"
    backups = Backups(db, data, b"s" * 32, now=clock, tick=0.02, hostname="desk")
    await backups.open()
    await backups.new_key(replace=False)
    await backups.close()
    # The box stopped during the 2nd's nightly run: the row has no end.
    started = int(local("2026-12-02 03:30").timestamp() * 1000)
    await db.write(lambda conn: store.start_run(conn, "schedule", started))
    clock.at = local("2026-12-02 08:00")
    backups = Backups(db, data, b"s" * 32, now=clock, tick=0.02, hostname="desk")
    await backups.open()
    try:
        await _settle(backups)
        runs = await backups.runs(10)
        assert [(r.trigger, r.ok) for r in runs] == [("schedule", True), ("schedule", False)]
        assert runs[1].error == store.INTERRUPTED
    finally:
        await backups.close()


async def _gone_share(db: Database, tmp_path: Path) -> tuple[Backups, FakeClock, Path]:
    """An open box whose backups go to a share that is gone (a file where it was)."""
    clock = FakeClock(local("2026-12-01 12:00"))
    backups = Backups(db, tmp_path / "data", b"s" * 32, now=clock, tick=0.02, hostname="desk")
    await backups.open()
    await backups.new_key(replace=False)
    folder = tmp_path / "nas"
    folder.mkdir()
    await backups.change({"local_dir": str(folder)})
    folder.rmdir()
    folder.write_text("the NAS share is gone: a file where the folder was")
    return backups, clock, folder


def _back(folder: Path) -> None:
    folder.unlink()
    folder.mkdir()


async def test_a_failed_scheduled_backup_is_tried_again_an_hour_later_three_times(
    db: Database, tmp_path: Path
) -> None:
    backups, clock, folder = await _gone_share(db, tmp_path)
    try:
        clock.at = local("2026-12-02 03:31")
        await _settle(backups)
        runs = await backups.runs(10)
        assert [r.ok for r in runs] == [False]
        assert backups.next_run() == local("2026-12-02 04:31")
        clock.at = local("2026-12-02 04:00")
        await _settle(backups)
        assert len(await backups.runs(10)) == 1  # not before its time

        for n, at in enumerate(("04:31", "05:32", "06:33"), start=2):
            clock.at = local(f"2026-12-02 {at}")
            await _settle(backups)
            assert [r.ok for r in await backups.runs(10)] == [False] * n
        # Three retries: then it waits for the next night, not every hour all day.
        assert backups.next_run() == local("2026-12-03 03:30")
        clock.at = local("2026-12-02 09:00")
        await _settle(backups)
        assert len(await backups.runs(10)) == 4

        # The share is back: the next night works and retries start afresh after it.
        _back(folder)
        clock.at = local("2026-12-03 03:30")
        await _settle(backups)
        assert (await backups.runs(10))[0].ok is True
        assert backups.next_run() == local("2026-12-04 03:30")
    finally:
        await backups.close()


async def test_a_retry_that_works_ends_the_retries(db: Database, tmp_path: Path) -> None:
    backups, clock, folder = await _gone_share(db, tmp_path)
    try:
        clock.at = local("2026-12-02 03:30")
        await _settle(backups)
        _back(folder)
        clock.at = local("2026-12-02 04:30")
        await _settle(backups)
        assert [r.ok for r in await backups.runs(10)] == [True, False]
        assert backups.next_run() == local("2026-12-03 03:30")
        clock.at = local("2026-12-02 05:30")
        await _settle(backups)
        assert len(await backups.runs(10)) == 2
    finally:
        await backups.close()
