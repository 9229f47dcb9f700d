"""Numbered SQL migrations, applied at start, each in its own transaction."""

from __future__ import annotations

import logging
import re
import sqlite3
from importlib import resources

_LOGGER = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files() -> list[tuple[str, str]]:
    """Return (name, sql) of every packaged migration, in order."""
    folder = resources.files("appliance.core") / "migrations"
    found = [
        (entry.name, entry.read_text("utf-8"))
        for entry in folder.iterdir()
        if _NAME.match(entry.name)
    ]
    return sorted(found)


def apply_migrations(conn: sqlite3.Connection, upto: str | None = None) -> list[str]:
    """Apply every migration not yet recorded (up to `upto`); return the names applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (datetime('now')))"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    applied = []
    for name, sql in migration_files():
        if upto is not None and name > upto:
            break
        if name in done:
            continue
        # executescript commits first and runs statements verbatim, so the
        # transaction and the record of the migration are part of the script.
        escaped = name.replace("'", "''")
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{sql}\n;"
            f"INSERT INTO schema_migrations (name) VALUES ('{escaped}');\nCOMMIT;"
        )
        _LOGGER.info("applied migration %s", name)
        applied.append(name)
    return applied
