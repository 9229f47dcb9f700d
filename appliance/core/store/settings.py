"""Store of the sites, box_settings tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

# A site as stored: key, name, secret, created_at (UTC ms).
SiteRow = tuple[str, str, str, int]
_SITE = "key, name, secret, created_at"


def values(conn: sqlite3.Connection, prefix: str = "") -> dict[str, str]:
    """Return the stored settings whose key starts with `prefix` (all by default)."""
    rows = conn.execute(
        "SELECT key, value FROM box_settings WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
    )
    return {key: value for key, value in rows}


def save(conn: sqlite3.Connection, pairs: Iterable[tuple[str, str]]) -> None:
    """Store settings (key, value), replacing what was there."""
    conn.executemany(
        "INSERT INTO box_settings (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        list(pairs),
    )


def site_secrets(conn: sqlite3.Connection) -> dict[str, str]:
    """Return every site's signing secret, by key."""
    return {key: secret for key, secret in conn.execute("SELECT key, secret FROM sites")}


def sites(conn: sqlite3.Connection) -> list[SiteRow]:
    """Return every site, the oldest first."""
    rows = conn.execute(f"SELECT {_SITE} FROM sites ORDER BY created_at, key")
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def set_secret(conn: sqlite3.Connection, key: str, secret: str) -> SiteRow | None:
    """Give a site a new secret; None when there is no such site."""
    row = conn.execute(
        f"UPDATE sites SET secret = ? WHERE key = ? RETURNING {_SITE}", (secret, key)
    ).fetchone()
    return (row[0], row[1], row[2], row[3]) if row is not None else None


def add_site(conn: sqlite3.Connection, key: str, name: str, secret: str, at: int) -> SiteRow | None:
    """Add a site; None when one with this key exists."""
    row = conn.execute(
        "INSERT INTO sites (key, name, secret, created_at) VALUES (?, ?, ?, ?)"
        f" ON CONFLICT (key) DO NOTHING RETURNING {_SITE}",
        (key, name, secret, at),
    ).fetchone()
    return (row[0], row[1], row[2], row[3]) if row is not None else None
