"""Store of the user_avatars table."""

from __future__ import annotations

import sqlite3


def all_digests(conn: sqlite3.Connection) -> dict[int, str]:
    """Return every user's current picture digest, by user id."""
    return {row[0]: row[1] for row in conn.execute("SELECT user_id, digest FROM user_avatars")}


def set_digest(conn: sqlite3.Connection, user_id: int, digest: str, at: int) -> str | None:
    """Name a user's new picture; return the digest it replaces, if any."""
    row = conn.execute("SELECT digest FROM user_avatars WHERE user_id = ?", (user_id,)).fetchone()
    conn.execute(
        "INSERT INTO user_avatars (user_id, digest, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET digest = excluded.digest,"
        " updated_at = excluded.updated_at",
        (user_id, digest, at),
    )
    return None if row is None else str(row[0])


def remove(conn: sqlite3.Connection, user_id: int) -> str | None:
    """Forget a user's picture; return the digest it had, if any."""
    row = conn.execute(
        "DELETE FROM user_avatars WHERE user_id = ? RETURNING digest", (user_id,)
    ).fetchone()
    return None if row is None else str(row[0])
