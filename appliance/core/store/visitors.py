"""Store of the visitors table: anonymous visitor identities and what is known of them."""

from __future__ import annotations

import sqlite3


def upsert(conn: sqlite3.Connection, visitor_id: str, now: int, *, seen: bool = True) -> int:
    """Make sure a visitor row exists (it may predate a restore: the token alone proves
    the id); when `seen`, it was seen at `now`. Return its number of visits so far."""
    last_seen = "max(last_seen_at, excluded.last_seen_at)" if seen else "last_seen_at"
    row = conn.execute(
        "INSERT INTO visitors (id, created_at, last_seen_at) VALUES (?, ?, ?)"
        f" ON CONFLICT (id) DO UPDATE SET last_seen_at = {last_seen} RETURNING visits",
        (visitor_id, now, now),
    ).fetchone()
    return int(row[0])
