"""Switching the data folder to a checked restore, and the way back.

A restore never writes into the live files. The archive is unpacked and checked into
`<data>/restore-new/` (core/backup_archive.py `unpack`), which is then marked checked.
The switch happens while no box runs: at the start of `appliance run` (the admin
page's restore restarts the box in its process) or at once by `appliance restore`.
It moves every live entry of the data folder aside into `restore-previous-<time>/`,
then the restored entries in. `restore.json` journals the switch: a stop half-way is
finished at the next start, never left mixed.

The previous data stays until an admin removes it. If the restored box fails to
start, `roll_back` puts the previous data back (the restored files go to
`restore-failed-<time>/`); `undo` does the same on request after a start that worked.
The local archives (`backups/`) and these folders are never moved.

The admin audit log lives in the database a switch replaces, so each switch (restored,
rolled back, undone) is recorded by the box that starts on the data it switched to:
the journal keeps who asked (`by`, `address`) until `mark_recorded` says the log holds
it. A stop between the record and the mark records it twice, never not at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)

STAGED = "restore-new"
CHECKED = ".restore-checked.json"
STATUS = "restore.json"
LOCK = ".box.lock"
_KEPT = frozenset({"backups", STATUS, LOCK})
_PREFIX = "restore-"


class BoxRunning(Exception):
    """A box holds the data folder: it must stop before its files are switched."""


class RestoreError(Exception):
    """A switch that cannot be made or undone in this state."""


@dataclass(frozen=True, slots=True)
class RestoreStatus:
    """The last restore of this data folder, as journalled in restore.json."""

    # swapping, moving_in: the switch is under way; applied: switched, not yet started;
    # started: the restored box came up; rolled_back: it did not, the previous data is
    # back; undone: an admin went back to the previous data.
    state: str
    archive: str = ""
    box: str = ""
    created_at: int = 0  # UTC ms the archive was made
    previous: str = ""  # folder (in the data folder) holding the data it replaced
    failed: str = ""  # folder holding a restored data set that was put aside
    at: int = 0  # UTC ms of the last change of state
    error: str = ""
    by: str = ""  # who asked for the last switch: a console user's name or an OS account
    address: str = ""  # from where: the admin page's client address, or "cli"
    recorded: bool = False  # the live database's audit log holds the last switch


# The audit action that records a journal's state, once a box starts on its data.
AUDIT_ACTIONS = {
    "applied": "backup.restored",
    "started": "backup.restored",
    "rolled_back": "backup.restore_rolled_back",
    "undone": "backup.restore_undone",
}


def _now() -> int:
    return time.time_ns() // 1_000_000


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def status(data_dir: Path) -> RestoreStatus | None:
    """Return the journal of the last restore, or None."""
    path = data_dir / STATUS
    try:
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return RestoreStatus(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as err:
        _LOGGER.warning("%s is unreadable: %s", path, err)
        return None


def _write(data_dir: Path, state: RestoreStatus) -> RestoreStatus:
    path = data_dir / STATUS
    tmp = path.with_name(f".{STATUS}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(asdict(state), out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return state


def _live(data_dir: Path) -> list[Path]:
    """Return the data folder's entries a switch moves: all but archives and its own."""
    return [
        entry
        for entry in sorted(data_dir.iterdir())
        if entry.name not in _KEPT and not entry.name.startswith(_PREFIX)
    ]


def _folder(data_dir: Path, kind: str) -> str:
    name = f"{_PREFIX}{kind}-{_stamp()}"
    n = 1
    while (data_dir / name).exists():
        n += 1
        name = f"{_PREFIX}{kind}-{_stamp()}-{n}"
    return name


def _move_all(entries: list[Path], into: Path) -> None:
    into.mkdir(mode=0o700, exist_ok=True)
    for entry in entries:
        os.replace(entry, into / entry.name)


def staged(data_dir: Path) -> Path:
    """Return the folder a restore is unpacked and checked in."""
    return data_dir / STAGED


def clear_staged(data_dir: Path) -> None:
    """Remove an unpacked restore that was refused or given up."""
    shutil.rmtree(staged(data_dir), ignore_errors=True)


def mark_checked(
    data_dir: Path, archive: str, box: str, created_at: int, by: str, address: str
) -> None:
    """Mark the unpacked restore as checked: the next start switches to it.

    `by` and `address` say who asked, for the restored box's audit log.
    """
    info = {
        "archive": archive,
        "box": box,
        "created_at": created_at,
        "by": by,
        "address": address,
    }
    (staged(data_dir) / CHECKED).write_text(json.dumps(info), "utf-8")


def pending(data_dir: Path) -> bool:
    """Tell whether a checked restore waits for the next start."""
    return (staged(data_dir) / CHECKED).is_file()


def apply_pending(data_dir: Path) -> RestoreStatus | None:
    """Switch to a checked restore if one waits (or finish one a stop cut short).

    Return the new status when a switch was made, else None. Call it only while no
    box runs on the folder (`data_lock`).
    """
    journal = status(data_dir)
    if journal is not None and journal.state in ("swapping", "moving_in"):
        return _switch(data_dir, journal)
    new = staged(data_dir)
    if not pending(data_dir):
        if new.exists():
            _LOGGER.warning("removing an unchecked restore left in %s", new)
            clear_staged(data_dir)
        return None
    info = json.loads((new / CHECKED).read_text("utf-8"))
    journal = RestoreStatus(
        state="swapping",
        archive=str(info.get("archive", "")),
        box=str(info.get("box", "")),
        created_at=int(info.get("created_at", 0)),
        by=str(info.get("by", "")),
        address=str(info.get("address", "")),
        previous=_folder(data_dir, "previous") if _live(data_dir) else "",
        at=_now(),
    )
    return _switch(data_dir, _write(data_dir, journal))


def _switch(data_dir: Path, journal: RestoreStatus) -> RestoreStatus:
    if journal.state == "swapping":
        entries = _live(data_dir)
        if entries:
            if not journal.previous:
                journal = replace(journal, previous=_folder(data_dir, "previous"))
            _move_all(entries, data_dir / journal.previous)
        journal = _write(data_dir, replace(journal, state="moving_in", at=_now()))
    new = staged(data_dir)
    if new.is_dir():
        for entry in sorted(new.iterdir()):
            if entry.name != CHECKED:
                os.replace(entry, data_dir / entry.name)
        shutil.rmtree(new)
    _LOGGER.warning(
        "switched %s to the restored archive %s; the data it replaced is in %s",
        data_dir,
        journal.archive,
        journal.previous or "(nothing: the folder was empty)",
    )
    return _write(data_dir, replace(journal, state="applied", at=_now()))


def confirm_started(data_dir: Path) -> RestoreStatus | None:
    """Record that the restored box has started (called once it listens)."""
    journal = status(data_dir)
    if journal is None or journal.state != "applied":
        return journal
    return _write(data_dir, replace(journal, state="started", at=_now()))


def _go_back(
    data_dir: Path, journal: RestoreStatus, state: str, error: str, by: str, address: str
) -> RestoreStatus:
    failed = _folder(data_dir, "failed")
    _move_all(_live(data_dir), data_dir / failed)
    if journal.previous:
        previous = data_dir / journal.previous
        _move_all(sorted(previous.iterdir()), data_dir)
        previous.rmdir()
    return _write(
        data_dir,
        replace(
            journal,
            state=state,
            previous="",
            failed=failed,
            error=error[:2000],
            at=_now(),
            by=by,
            address=address,
            recorded=False,
        ),
    )


def roll_back(data_dir: Path, error: str) -> RestoreStatus | None:
    """Put the previous data back after a restored box failed to start."""
    journal = status(data_dir)
    if journal is None or journal.state != "applied":
        return None
    _LOGGER.error("the restored box did not start (%s): going back to the previous data", error)
    return _go_back(data_dir, journal, "rolled_back", error, journal.by, journal.address)


def undo(data_dir: Path, by: str, address: str) -> RestoreStatus:
    """Go back to the data the last restore replaced (while no box runs); `by` and
    `address` say who asked."""
    journal = status(data_dir)
    if journal is None or journal.state not in ("applied", "started") or not journal.previous:
        raise RestoreError("there is no restore to undo (or its previous data was removed)")
    return _go_back(data_dir, journal, "undone", "", by, address)


def unrecorded(data_dir: Path) -> RestoreStatus | None:
    """Return the journal when its last switch is not yet in the live audit log."""
    journal = status(data_dir)
    if journal is None or journal.recorded or journal.state not in AUDIT_ACTIONS:
        return None
    return journal


def mark_recorded(data_dir: Path) -> None:
    """Note that the live database's audit log now holds the last switch."""
    journal = status(data_dir)
    if journal is not None and not journal.recorded:
        _write(data_dir, replace(journal, recorded=True))


def remove_previous(data_dir: Path) -> RestoreStatus:
    """Delete the data a restore replaced, once the restored box is known to work."""
    journal = status(data_dir)
    if journal is None or journal.state != "started" or not journal.previous:
        raise RestoreError("there is no previous data to remove")
    shutil.rmtree(data_dir / journal.previous)
    return _write(data_dir, replace(journal, previous="", at=_now()))


@contextlib.contextmanager
def data_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data folder for one box (or one restore); raise BoxRunning if taken."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(data_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise BoxRunning(f"a box is running on {data_dir}: stop it first") from err
        yield
    finally:
        os.close(fd)
