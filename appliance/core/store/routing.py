"""Store of the groups, group_members, topics, routes, priority_points tables."""

from __future__ import annotations

import sqlite3

# -- where visitor insight places a visitor -------------------------------------------


def placement(conn: sqlite3.Connection) -> tuple[list[tuple[str, str, int]], int | None]:
    """Return the routing rules (URL pattern, region, group) in order, and the default group."""
    rows = conn.execute("SELECT url_pattern, region, group_id FROM routes ORDER BY position, id")
    routes = [(r[0], r[1], r[2]) for r in rows]
    row = conn.execute("SELECT id FROM groups ORDER BY is_default DESC, id LIMIT 1").fetchone()
    return routes, (row[0] if row else None)


def group_exists(conn: sqlite3.Connection, group_id: int) -> bool:
    """Tell whether a group exists."""
    return conn.execute("SELECT 1 FROM groups WHERE id = ?", (group_id,)).fetchone() is not None


def groups_by_name(conn: sqlite3.Connection) -> list[tuple[int, str, int]]:
    """Return every group as (id, name, target_wait in s), by name."""
    rows = conn.execute("SELECT id, name, target_wait FROM groups ORDER BY name")
    return [(row[0], row[1], row[2]) for row in rows]
