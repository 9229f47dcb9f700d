"""When backups run and which archives stay: pure functions over times and names.

The schedule is one local time a day. `due` answers whether the newest slot (the last
time of day at or before now) is still unserved: a box that was down for a week runs
once when it comes back, not seven times, because only the newest slot counts. A run
of either kind started at or after the slot serves it, so a manual backup taken that
morning makes the nightly one wait for the next night.

Retention keeps the newest archive of each of the last N days that have one, and the
newest of each of the last M ISO weeks, and always the newest archive of all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

ARCHIVE_SUFFIX = ".tar.age"
# callbox-<box>-20261206T193000Z.tar.age: the time is UTC, so names sort and never repeat
# across a clock change; retention reads it back in the box's zone.
_NAME = re.compile(r"^callbox-([a-z0-9][a-z0-9-]{0,62})-(\d{8}T\d{6}Z)\.tar\.age$")
_STAMP = "%Y%m%dT%H%M%SZ"
_DAILY_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

Now = Callable[[], datetime]  # returns an aware datetime in the box's zone


def parse_daily_at(text: str) -> time:
    """Return the time of day of 'HH:MM' (24 h); raise ValueError otherwise."""
    found = _DAILY_AT.match(text)
    if found is None:
        raise ValueError(f"not a time of day (HH:MM): {text!r}")
    return time(int(found[1]), int(found[2]))


def _at(day: date, at: time, zone: tzinfo | None) -> datetime:
    return datetime.combine(day, at, tzinfo=zone)


def last_slot(now: datetime, at: time) -> datetime:
    """Return the newest scheduled time at or before `now` (in now's zone)."""
    slot = _at(now.date(), at, now.tzinfo)
    if slot > now:
        slot = _at(now.date() - timedelta(days=1), at, now.tzinfo)
    return slot


def next_slot(now: datetime, at: time) -> datetime:
    """Return the first scheduled time after `now`."""
    slot = _at(now.date(), at, now.tzinfo)
    if slot <= now:
        slot = _at(now.date() + timedelta(days=1), at, now.tzinfo)
    return slot


def due(now: datetime, at: time, served_until: datetime | None) -> bool:
    """Tell whether the newest slot still needs a run.

    `served_until` is the latest of when the key was made and when the newest run
    started: slots before it are served (or predate backups).
    """
    return served_until is None or last_slot(now, at) > served_until


@dataclass(frozen=True, slots=True, order=True)
class ArchiveName:
    """An archive's name, read back: when it was made and on which box."""

    made: datetime  # UTC
    box: str
    name: str


def box_label(hostname: str) -> str:
    """Return a name for archives from a host name: lower-case letters, digits, '-'."""
    label = re.sub(r"[^a-z0-9-]+", "-", hostname.lower()).strip("-")[:63].strip("-")
    return label or "box"


def archive_name(box: str, made: datetime) -> str:
    """Return the file name of an archive made at `made` by `box`."""
    return f"callbox-{box_label(box)}-{made.astimezone(UTC).strftime(_STAMP)}{ARCHIVE_SUFFIX}"


def read_name(name: str) -> ArchiveName | None:
    """Return what an archive's name says, or None for a file that is not our archive."""
    found = _NAME.match(name)
    if found is None:
        return None
    try:
        made = datetime.strptime(found[2], _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None
    return ArchiveName(made, found[1], name)


def to_prune(names: Iterable[str], keep_daily: int, keep_weekly: int, zone: tzinfo) -> list[str]:
    """Return the archives retention lets go, the oldest first; other files are ignored."""
    found = sorted((a for a in map(read_name, names) if a is not None), reverse=True)
    keep: set[str] = set()
    days: set[date] = set()
    weeks: set[tuple[int, int]] = set()
    for archive in found:  # the newest first: the first one of a day or week is its newest
        local = archive.made.astimezone(zone)
        day = local.date()
        iso = day.isocalendar()
        week = (iso.year, iso.week)
        if day not in days and len(days) < keep_daily:
            days.add(day)
            keep.add(archive.name)
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.add(week)
            keep.add(archive.name)
    if found:
        keep.add(found[0].name)
    return [a.name for a in reversed(found) if a.name not in keep]
