"""Store of the groups, group_members, topics, routes, priority_points tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from appliance.core.hours import parse_holidays, parse_hours


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


Schedule = dict[str, list[tuple[int, int]]]  # day -> [open, close) in minutes, box-local


Strategy = Literal["least_busy", "longest_idle", "round_robin"]  # core.routing.STRATEGIES


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """A group as a supervisor sets it; durations in seconds, hours None: always open."""

    id: int
    name: str
    strategy: Strategy
    target_wait: int
    answer_timeout: int
    max_wait: int
    fallback_group_id: int | None
    fallback_after: int
    sticky: bool
    hours: Schedule | None
    holidays: tuple[date, ...]
    is_default: bool
    members: tuple[int, ...]
    lead_id: int | None = None  # the management line, for escalation
    manager_id: int | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    """A pre-chat topic a visitor may choose, and where it queues."""

    key: str
    label: str
    group_id: int
    skill: str


@dataclass(frozen=True, slots=True)
class Rule:
    """A routing rule for chats without a topic; empty pattern or region: any."""

    url_pattern: str
    region: str
    group_id: int
    skill: str


@dataclass(frozen=True, slots=True)
class PriorityPoints:
    """Who is served first: points per visitor tier and topic, per target wait waited,
    and for a warm transfer."""

    tier: dict[str, float]
    topic: dict[str, float]
    wait: float
    transfer: float


_GROUP_COLUMNS = (
    "id, name, strategy, target_wait, answer_timeout, max_wait, fallback_group_id,"
    " fallback_after, sticky, hours, holidays, is_default, lead_id, manager_id"
)


_DEFAULT_POINTS = {"wait": 30.0, "transfer": 40.0}


def groups(conn: sqlite3.Connection) -> list[GroupConfig]:
    """Return every group with its members, by name."""
    members: dict[int, list[int]] = {}
    for gid, uid in conn.execute("SELECT group_id, user_id FROM group_members ORDER BY user_id"):
        members.setdefault(gid, []).append(uid)
    return [
        GroupConfig(
            id=row["id"],
            name=row["name"],
            strategy=row["strategy"],
            target_wait=row["target_wait"],
            answer_timeout=row["answer_timeout"],
            max_wait=row["max_wait"],
            fallback_group_id=row["fallback_group_id"],
            fallback_after=row["fallback_after"],
            sticky=bool(row["sticky"]),
            hours=parse_hours(row["hours"]),
            holidays=tuple(sorted(parse_holidays(row["holidays"]))),
            is_default=bool(row["is_default"]),
            members=tuple(members.get(row["id"], ())),
            lead_id=row["lead_id"],
            manager_id=row["manager_id"],
        )
        for row in conn.execute(f"SELECT {_GROUP_COLUMNS} FROM groups ORDER BY name")
    ]


def line_of(conn: sqlite3.Connection, group_id: int) -> tuple[int | None, int | None]:
    """A group's lead and manager (None where unset or no such group)."""
    row = conn.execute(
        "SELECT lead_id, manager_id FROM groups WHERE id = ?", (group_id,)
    ).fetchone()
    return (row[0], row[1]) if row is not None else (None, None)


def experts_of(conn: sqlite3.Connection, group_id: int) -> list[int]:
    """The active expert-tier members of a group."""
    rows = conn.execute(
        "SELECT u.id FROM group_members m JOIN users u ON u.id = m.user_id"
        " WHERE m.group_id = ? AND u.tier = 'expert' AND u.disabled = 0 ORDER BY u.id",
        (group_id,),
    )
    return [int(r[0]) for r in rows]


def group_ids(conn: sqlite3.Connection) -> set[int]:
    """Return every group's id."""
    return {r[0] for r in conn.execute("SELECT id FROM groups")}


def is_default(conn: sqlite3.Connection, group_id: int) -> bool | None:
    """Tell whether a group is the default one; None when there is no such group."""
    row = conn.execute("SELECT is_default FROM groups WHERE id = ?", (group_id,)).fetchone()
    return None if row is None else bool(row[0])


def default_group_id(conn: sqlite3.Connection) -> int | None:
    """Return the default group's id, else the oldest group's, else None."""
    row = conn.execute("SELECT id FROM groups WHERE is_default = 1").fetchone()
    if row is None:
        row = conn.execute("SELECT min(id) FROM groups").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def insert_group(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    """Store a group from column values; raise sqlite3.IntegrityError on a taken name."""
    columns = ", ".join(values)
    cursor = conn.execute(
        f"INSERT INTO groups ({columns}) VALUES ({', '.join('?' * len(values))})",
        tuple(values.values()),
    )
    return int(cursor.lastrowid or 0)


def update_group(conn: sqlite3.Connection, group_id: int, values: dict[str, Any]) -> None:
    """Change some of a group's columns; raise sqlite3.IntegrityError on a taken name."""
    if values:
        sets = ", ".join(f"{k} = ?" for k in values)
        conn.execute(f"UPDATE groups SET {sets} WHERE id = ?", (*values.values(), group_id))


def delete_group(conn: sqlite3.Connection, group_id: int) -> None:
    """Delete a group (its members, topics and rules go with it)."""
    conn.execute("DELETE FROM groups WHERE id = ?", (group_id,))


def set_rr_cursor(conn: sqlite3.Connection, group_id: int, user_id: int) -> None:
    """Remember the agent a round-robin group gave its last chat to."""
    conn.execute("UPDATE groups SET rr_cursor = ? WHERE id = ?", (user_id, group_id))


def planner_groups(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Return the router's view of every group as rows of (id, strategy, target_wait,
    max_wait, fallback_group_id, fallback_after, sticky, hours, holidays, rr_cursor)."""
    return conn.execute(
        "SELECT id, strategy, target_wait, max_wait, fallback_group_id, fallback_after,"
        " sticky, hours, holidays, rr_cursor FROM groups"
    ).fetchall()


def longest_answer_timeout(conn: sqlite3.Connection, default: int) -> int:
    """Return the longest answer timeout of any group (s), or default when none."""
    return max((r[0] for r in conn.execute("SELECT answer_timeout FROM groups")), default=default)


def memberships(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """Return every (group id, user id) pair."""
    return [(r[0], r[1]) for r in conn.execute("SELECT group_id, user_id FROM group_members")]


def groups_of(conn: sqlite3.Connection, user_id: int) -> frozenset[int]:
    """Return the groups a user belongs to."""
    rows = conn.execute("SELECT group_id FROM group_members WHERE user_id = ?", (user_id,))
    return frozenset(r[0] for r in rows)


def set_members(conn: sqlite3.Connection, group_id: int, user_ids: Iterable[int]) -> None:
    """Replace a group's members."""
    conn.execute("DELETE FROM group_members WHERE group_id = ?", (group_id,))
    conn.executemany(
        "INSERT INTO group_members (group_id, user_id) VALUES (?, ?)",
        [(group_id, u) for u in user_ids],
    )


def set_groups_of(conn: sqlite3.Connection, user_id: int, group_ids: Iterable[int]) -> None:
    """Replace the groups a user belongs to."""
    conn.execute("DELETE FROM group_members WHERE user_id = ?", (user_id,))
    conn.executemany(
        "INSERT INTO group_members (group_id, user_id) VALUES (?, ?)",
        [(g, user_id) for g in group_ids],
    )


def join_default_group(conn: sqlite3.Connection, user_id: int) -> None:
    """Make a user a member of the default group."""
    conn.execute(
        "INSERT INTO group_members (group_id, user_id)"
        " SELECT id, ? FROM groups WHERE is_default = 1",
        (user_id,),
    )


def topics(conn: sqlite3.Connection) -> list[Topic]:
    """Return the pre-chat topics in display order."""
    rows = conn.execute("SELECT key, label, group_id, skill FROM topics ORDER BY position, key")
    return [Topic(*r) for r in rows]


def topic(conn: sqlite3.Connection, key: str) -> Topic | None:
    """Return one pre-chat topic."""
    row = conn.execute(
        "SELECT key, label, group_id, skill FROM topics WHERE key = ?", (key,)
    ).fetchone()
    return None if row is None else Topic(*row)


def set_topics(conn: sqlite3.Connection, new: Iterable[Topic]) -> None:
    """Replace the pre-chat topics; their order is the display order."""
    conn.execute("DELETE FROM topics")
    conn.executemany(
        "INSERT INTO topics (key, label, group_id, skill, position) VALUES (?, ?, ?, ?, ?)",
        [(t.key, t.label, t.group_id, t.skill, i) for i, t in enumerate(new)],
    )


def rules(conn: sqlite3.Connection) -> list[Rule]:
    """Return the routing rules in the order they are tried."""
    rows = conn.execute(
        "SELECT url_pattern, region, group_id, skill FROM routes ORDER BY position, id"
    )
    return [Rule(*r) for r in rows]


def set_rules(conn: sqlite3.Connection, new: Iterable[Rule]) -> None:
    """Replace the routing rules; their order is the order they are tried in."""
    conn.execute("DELETE FROM routes")
    conn.executemany(
        "INSERT INTO routes (position, url_pattern, region, group_id, skill)"
        " VALUES (?, ?, ?, ?, ?)",
        [(i, r.url_pattern, r.region, r.group_id, r.skill) for i, r in enumerate(new)],
    )


def points(conn: sqlite3.Connection) -> PriorityPoints:
    """Return the priority points (wait 30 and transfer 40 when not set)."""
    tier: dict[str, float] = {}
    topic_points: dict[str, float] = {}
    scalars = dict(_DEFAULT_POINTS)
    for kind, key, value in conn.execute("SELECT kind, key, points FROM priority_points"):
        if kind == "tier":
            tier[key] = value
        elif kind == "topic":
            topic_points[key] = value
        else:
            scalars[kind] = value
    return PriorityPoints(tier, topic_points, scalars["wait"], scalars["transfer"])


def set_points(conn: sqlite3.Connection, rows: Iterable[tuple[str, str, float]]) -> None:
    """Replace the tier and topic points; set the (kind, key, points) rows given."""
    conn.execute("DELETE FROM priority_points WHERE kind IN ('tier', 'topic')")
    conn.executemany(
        "INSERT OR REPLACE INTO priority_points (kind, key, points) VALUES (?, ?, ?)", rows
    )
