"""`appliance reports-backfill`: rebuild the report rollups from the raw events."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from appliance.core.reports import Reports
from appliance.settings import Settings

_PROGRESS_EVERY = 1.0  # s between progress lines


def add_parsers(commands: Any) -> None:
    """Add the command to the `appliance` parser's subcommands."""
    commands.add_parser(
        "reports-backfill",
        help="rebuild the report rollups from the recorded events (safe while the box runs)",
    )


async def run(settings: Settings, _args: argparse.Namespace | None = None) -> None:
    """Rebuild the rollups, printing progress on stderr and the total on stdout."""
    from appliance.core.db import Database  # the command alone opens only the database

    db = Database(settings.db_path)
    await db.open()
    started = time.monotonic()
    shown = [0.0]

    def progress(done: int, of: int) -> None:
        now = time.monotonic()
        if now - shown[0] >= _PROGRESS_EVERY or done >= of:
            share = 100 * done / of if of else 100.0
            print(f"reports: {done}/{of} events ({share:.0f}%)", file=sys.stderr, flush=True)
            shown[0] = now

    try:
        done = await Reports(db).backfill(progress)
    finally:
        await db.close()
    print(f"reports: rollups rebuilt from {done} events in {time.monotonic() - started:.1f} s")
