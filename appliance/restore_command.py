"""`appliance restore` and `appliance restore-undo`: restoring onto a stopped box."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from appliance.core import audit, restore
from appliance.core.backup_archive import ArchiveRefused, Manifest, Progress, read_identity, unpack
from appliance.core.clock import local_text

_SHOW_EVERY = 1.0  # s between progress lines


class CommandError(Exception):
    """A restore command that cannot be carried out; the message says why."""


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the restore commands to the `appliance` command."""
    command = commands.add_parser(
        "restore",
        help="restore the data folder from an encrypted backup archive (the box stopped)",
        description="Check the archive (key, integrity, schema) beside the data, then "
        "switch to it; the data it replaces is kept in DATA/restore-previous-TIME.",
    )
    command.add_argument("archive", help="the .tar.age archive")
    command.add_argument(
        "--key-file",
        required=True,
        help="a file holding the emergency kit's key (AGE-SECRET-KEY-1…); - reads stdin",
    )
    commands.add_parser(
        "restore-undo",
        help="go back to the data the last restore replaced (the box stopped)",
    )


def _key(key_file: str) -> str:
    if key_file == "-":
        return sys.stdin.read()
    try:
        return Path(key_file).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CommandError(f"cannot read the key file: {err}") from err


def _unpack_showing_progress(archive: Path, identity: object, dest: Path) -> Manifest:
    """Unpack in a thread; print what it does every second."""
    progress = Progress()
    result: list[Manifest] = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            result.append(unpack(archive, identity, dest, progress))
        except BaseException as err:
            failed.append(err)

    worker = threading.Thread(target=work, name="callbox-restore")
    worker.start()
    while worker.is_alive():
        worker.join(_SHOW_EVERY)
        if progress.total:
            share = min(100, progress.done * 100 // progress.total)
            print(f"  {progress.phase}: {share}%", file=sys.stderr, flush=True)
    if failed:
        raise failed[0]
    return result[0]


def run_restore(data_dir: Path, args: argparse.Namespace) -> None:
    """Check an archive and switch the (stopped) box's data folder to it."""
    archive = Path(args.archive)
    if not archive.is_file():
        raise CommandError(f"no archive at {archive}")
    try:
        identity = read_identity(_key(args.key_file))
    except ArchiveRefused as err:
        raise CommandError(err.message) from err
    try:
        with restore.data_lock(data_dir):
            restore.clear_staged(data_dir)
            print(f"checking {archive} ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                manifest = _unpack_showing_progress(archive, identity, restore.staged(data_dir))
            except BaseException:
                restore.clear_staged(data_dir)
                raise
            who = audit.command_line()
            restore.mark_checked(
                data_dir, archive.name, manifest.box, manifest.created_at, who.name, who.address
            )
            # The box records the switch in the restored database's audit log as it starts.
            journal = restore.apply_pending(data_dir)
    except restore.BoxRunning as err:
        raise CommandError(f"{err} (or restore from the admin page)") from err
    except ArchiveRefused as err:
        raise CommandError(f"refused ({err.code}): {err.message}; nothing was replaced") from err
    assert journal is not None
    print(
        f"restored {archive.name}: box {manifest.box!r}, made {local_text(manifest.created_at)}, "
        f"schema {manifest.schema[-1] if manifest.schema else '-'}, "
        f"in {time.monotonic() - started:.1f} s"
    )
    if journal.previous:
        print(
            f"the data it replaced is kept in {data_dir / journal.previous}\n"
            "start the box (appliance run); if it fails to start it goes back by itself.\n"
            f"to go back later: stop the box, then appliance --data {data_dir} restore-undo"
        )


def run_undo(data_dir: Path) -> None:
    """Go back to the data the last restore replaced."""
    try:
        with restore.data_lock(data_dir):
            who = audit.command_line()
            # The box records it in the audit log as it starts on the data it went back to.
            journal = restore.undo(data_dir, who.name, who.address)
    except (restore.BoxRunning, restore.RestoreError) as err:
        raise CommandError(str(err)) from err
    print(f"back to the data from before the restore; the restored data is in {journal.failed}")
