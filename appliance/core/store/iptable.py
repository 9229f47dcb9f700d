"""Store of the ip_ranges table, and the staging tables an import fills.

An import stages rows in a TEMP table (it lives on the writer's connection, across its
transactions), copies them into a twin of ip_ranges, and swaps the twin in by renaming.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

_STAGE = "temp.ip_ranges_import"
_NEXT = "ip_ranges_next"
_CREATE_RANGES = re.compile(r'CREATE TABLE\s+"?ip_ranges"?', re.IGNORECASE)
_FETCH = 10_000  # rows per fetch when reading the table
# A staged row: line number, start, end (16-byte addresses), country, province, city, isp.
StagedRow = tuple[int, bytes, bytes, str, str, str, str]
Range = tuple[bytes, bytes, str, str, str, str]


def create_stage(conn: sqlite3.Connection) -> None:
    """Make an empty stage, and an empty twin of ip_ranges."""
    drop_stage(conn)
    conn.execute(
        f"CREATE TABLE {_STAGE} (start BLOB NOT NULL, line INTEGER NOT NULL, "
        '"end" BLOB NOT NULL, country TEXT NOT NULL, province TEXT NOT NULL, '
        "city TEXT NOT NULL, isp TEXT NOT NULL, PRIMARY KEY (start, line)) WITHOUT ROWID"
    )
    # The twin takes the table's own definition, so it follows the migrations.
    # (ip_ranges has no secondary index; one added later must be recreated here.)
    ddl = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'ip_ranges'"
    ).fetchone()[0]
    conn.execute(_CREATE_RANGES.sub(f"CREATE TABLE {_NEXT}", ddl, count=1))


def drop_stage(conn: sqlite3.Connection) -> None:
    """Drop the stage and the twin, if there."""
    conn.execute(f"DROP TABLE IF EXISTS {_STAGE}")
    conn.execute(f"DROP TABLE IF EXISTS {_NEXT}")


def stage(conn: sqlite3.Connection, rows: list[StagedRow]) -> None:
    """Add parsed rows to the stage."""
    conn.executemany(
        f'INSERT INTO {_STAGE} (line, start, "end", country, province, city, isp)'
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def staged_after(
    conn: sqlite3.Connection, after: tuple[bytes, int], limit: int
) -> list[tuple[Any, ...]]:
    """Return staged rows (start, line, end, country, province, city, isp) after
    (start, line), in that order."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(
        f'SELECT start, line, "end", country, province, city, isp FROM {_STAGE}'
        " WHERE (start, line) > (?, ?) ORDER BY start, line LIMIT ?",
        (*after, limit),
    ).fetchall()


def add_to_twin(conn: sqlite3.Connection, ranges: Iterable[Range]) -> None:
    """Add checked ranges to the twin."""
    conn.executemany(f"INSERT INTO {_NEXT} VALUES (?, ?, ?, ?, ?, ?)", list(ranges))


def swap_in_twin(conn: sqlite3.Connection) -> None:
    """Put the twin in the table's place; drop the stage."""
    conn.execute("DROP TABLE ip_ranges")
    conn.execute(f"ALTER TABLE {_NEXT} RENAME TO ip_ranges")
    conn.execute(f"DROP TABLE {_STAGE}")


def ranges(conn: sqlite3.Connection) -> Iterator[Range]:
    """Yield every range (start, end, country, province, city, isp) in address order."""
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: 700,000 Row objects cost seconds
    cursor.execute(
        'SELECT start, "end", country, province, city, isp FROM ip_ranges ORDER BY start'
    )
    cursor.arraysize = _FETCH
    yield from cursor
