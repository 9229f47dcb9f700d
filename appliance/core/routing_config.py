"""What supervisors edit about routing: groups, members' scope, topics, rules, points."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, InvalidInput, NotFound
from appliance.core.events import EventBus, RoutingChanged
from appliance.core.hours import HoursError, hours_json, parse_holidays, parse_hours
from appliance.core.routing import STRATEGIES, TIERS, matching_route
from appliance.core.validate import text, whole

_NAME_MAX = 64
_TAG_MAX = 32  # characters of a skill or region name
_TAGS_MAX = 32  # skills or regions per agent
_LIST_MAX = 200  # topics or rules
_LIMIT_MAX = 50  # concurrent chats
_SECONDS_MAX = 7 * 24 * 3600
_POINTS_MAX = 1e6

# Group fields a supervisor may set, with their bounds (seconds for durations).
_GROUP_INTS = {
    "target_wait": (1, _SECONDS_MAX),
    "answer_timeout": (1, _SECONDS_MAX),
    "max_wait": (1, _SECONDS_MAX),
    "fallback_after": (0, _SECONDS_MAX),
}
_GROUP_COLUMNS = (
    "id, name, strategy, target_wait, answer_timeout, max_wait, fallback_group_id,"
    " fallback_after, sticky, hours, holidays, is_default"
)


def _tags(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or len(value) > _TAGS_MAX:
        raise InvalidInput(f"{field} must be a list of at most {_TAGS_MAX} names")
    tags = sorted({text(v, field, _TAG_MAX, required=True) for v in value})
    return tags


def group_json(row: sqlite3.Row | dict[str, Any], members: list[int]) -> dict[str, Any]:
    """Return the API form of a group."""
    return {
        "id": row["id"],
        "name": row["name"],
        "strategy": row["strategy"],
        "target_wait": row["target_wait"],
        "answer_timeout": row["answer_timeout"],
        "max_wait": row["max_wait"],
        "fallback_group_id": row["fallback_group_id"],
        "fallback_after": row["fallback_after"],
        "sticky": bool(row["sticky"]),
        "hours": hours_json(parse_hours(row["hours"])),
        "holidays": sorted(d.isoformat() for d in parse_holidays(row["holidays"])),
        "is_default": bool(row["is_default"]),
        "members": members,
    }


@dataclass(frozen=True, slots=True)
class Target:
    """Where a new conversation queues."""

    group_id: int
    skill: str
    topic: str


def default_group(conn: sqlite3.Connection) -> int:
    """Return the default group's id (inside a write)."""
    row = conn.execute("SELECT id FROM groups WHERE is_default = 1").fetchone()
    if row is None:
        row = conn.execute("SELECT min(id) FROM groups").fetchone()
    if row is None or row[0] is None:
        raise Conflict("no group exists to take chats")
    return int(row[0])


def resolve(conn: sqlite3.Connection, topic: str, page_url: str, region: str) -> Target:
    """Choose a new conversation's group: the visitor's topic, else the first rule, else default."""
    if topic:
        row = conn.execute("SELECT group_id, skill FROM topics WHERE key = ?", (topic,)).fetchone()
        if row is not None:
            return Target(row[0], row[1], topic)
    route = matching_route(
        conn.execute(
            "SELECT url_pattern, region, group_id, skill FROM routes ORDER BY position, id"
        ),
        page_url,
        region,
    )
    if route is not None:
        return Target(route[2], route[3], "")
    return Target(default_group(conn), "", "")


class RoutingConfig:
    """Read and change the routing data; every change is announced on the bus."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    def _changed(self, _result: object = None) -> None:
        self._bus.emit(RoutingChanged())

    async def _write(self, job: Any) -> Any:
        return await self._db.write(job, on_commit=self._changed)

    # -- groups ---------------------------------------------------------------

    async def list_groups(self) -> list[dict[str, Any]]:
        """Return every group with its members."""
        rows = await self._db.fetchall(f"SELECT {_GROUP_COLUMNS} FROM groups ORDER BY name")
        members: dict[int, list[int]] = {}
        for gid, uid in await self._db.fetchall(
            "SELECT group_id, user_id FROM group_members ORDER BY user_id"
        ):
            members.setdefault(gid, []).append(uid)
        return [group_json(row, members.get(row["id"], [])) for row in rows]

    async def get_group(self, group_id: int) -> dict[str, Any]:
        """Return one group."""
        for group in await self.list_groups():
            if group["id"] == group_id:
                return group
        raise NotFound("no such group")

    def _group_values(self, conn: sqlite3.Connection, data: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if "name" in data:
            values["name"] = text(data["name"], "name", _NAME_MAX, required=True)
        if "strategy" in data:
            if data["strategy"] not in STRATEGIES:
                raise InvalidInput(f"strategy must be one of {', '.join(STRATEGIES)}")
            values["strategy"] = data["strategy"]
        for key, (low, high) in _GROUP_INTS.items():
            if key in data:
                values[key] = whole(data[key], key, low, high)
        if "sticky" in data:
            if not isinstance(data["sticky"], bool):
                raise InvalidInput("sticky must be true or false")
            values["sticky"] = int(data["sticky"])
        try:
            if "hours" in data:
                schedule = hours_json(parse_hours(data["hours"]))  # None: always open
                values["hours"] = "" if schedule is None else json.dumps(schedule)
            if "holidays" in data:
                days = sorted(d.isoformat() for d in parse_holidays(data["holidays"]))
                values["holidays"] = json.dumps(days)
        except HoursError as err:
            raise InvalidInput(str(err)) from err
        if "fallback_group_id" in data:
            fallback = data["fallback_group_id"]
            if fallback is not None:
                fallback = whole(fallback, "fallback_group_id", 1, 2**62)
                if (
                    conn.execute("SELECT 1 FROM groups WHERE id = ?", (fallback,)).fetchone()
                    is None
                ):
                    raise InvalidInput("fallback_group_id names no group")
            values["fallback_group_id"] = fallback
        return values

    async def create_group(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create a group."""
        if "name" not in data:
            raise InvalidInput("name is required")

        def job(conn: sqlite3.Connection) -> int:
            values = self._group_values(conn, data)
            values["created_at"] = now_ms()
            columns = ", ".join(values)
            try:
                cursor = conn.execute(
                    f"INSERT INTO groups ({columns}) VALUES ({', '.join('?' * len(values))})",
                    tuple(values.values()),
                )
            except sqlite3.IntegrityError as err:
                raise Conflict("a group with this name exists") from err
            return int(cursor.lastrowid or 0)

        return await self.get_group(await self._write(job))

    async def update_group(self, group_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Change a group's settings."""

        def job(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM groups WHERE id = ?", (group_id,)).fetchone() is None:
                raise NotFound("no such group")
            values = self._group_values(conn, data)
            if values.get("fallback_group_id") == group_id:
                raise InvalidInput("a group cannot fall back to itself")
            if not values:
                return
            sets = ", ".join(f"{k} = ?" for k in values)
            try:
                conn.execute(
                    f"UPDATE groups SET {sets} WHERE id = ?",
                    (*values.values(), group_id),
                )
            except sqlite3.IntegrityError as err:
                raise Conflict("a group with this name exists") from err

        await self._write(job)
        return await self.get_group(group_id)

    async def delete_group(self, group_id: int) -> None:
        """Delete a group; its open conversations move to the default group."""

        def job(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT is_default FROM groups WHERE id = ?", (group_id,)).fetchone()
            if row is None:
                raise NotFound("no such group")
            if row[0]:
                raise Conflict("the default group cannot be deleted")
            home = default_group(conn)
            conn.execute(
                "UPDATE conversations SET group_id = ? WHERE group_id = ? AND status != 'closed'",
                (home, group_id),
            )
            conn.execute("UPDATE conversations SET group_id = NULL WHERE group_id = ?", (group_id,))
            conn.execute(
                "UPDATE conversations SET transfer_group_id = ? WHERE transfer_group_id = ?",
                (home, group_id),
            )
            conn.execute("UPDATE work_items SET group_id = NULL WHERE group_id = ?", (group_id,))
            conn.execute("DELETE FROM groups WHERE id = ?", (group_id,))

        await self._write(job)

    async def set_members(self, group_id: int, user_ids: Any) -> dict[str, Any]:
        """Replace a group's members."""
        if not isinstance(user_ids, list) or len(user_ids) > 10_000:
            raise InvalidInput("members must be a list of user ids")
        ids = sorted({whole(u, "members", 1, 2**62) for u in user_ids})

        def job(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM groups WHERE id = ?", (group_id,)).fetchone() is None:
                raise NotFound("no such group")
            known = {r[0] for r in conn.execute("SELECT id FROM users")}
            missing = [u for u in ids if u not in known]
            if missing:
                raise InvalidInput(f"no such user: {missing[0]}")
            conn.execute("DELETE FROM group_members WHERE group_id = ?", (group_id,))
            conn.executemany(
                "INSERT INTO group_members (group_id, user_id) VALUES (?, ?)",
                [(group_id, u) for u in ids],
            )

        await self._write(job)
        return await self.get_group(group_id)

    # -- agents' scope --------------------------------------------------------

    async def memberships(self) -> dict[int, set[int]]:
        """Return each user's groups."""
        found: dict[int, set[int]] = {}
        for gid, uid in await self._db.fetchall("SELECT group_id, user_id FROM group_members"):
            found.setdefault(uid, set()).add(gid)
        return found

    async def groups_of(self, user_id: int) -> frozenset[int]:
        """Return the groups a user belongs to."""
        rows = await self._db.fetchall(
            "SELECT group_id FROM group_members WHERE user_id = ?", (user_id,)
        )
        return frozenset(r[0] for r in rows)

    async def regions_of(self, user_id: int) -> list[str]:
        """Return the regions an agent serves (empty: every region)."""
        row = await self._db.fetchone("SELECT regions FROM users WHERE id = ?", (user_id,))
        return list(json.loads(row[0])) if row is not None and row[0] else []

    async def list_agents(self) -> list[dict[str, Any]]:
        """Return every enabled user with their routing scope."""
        rows = await self._db.fetchall(
            "SELECT u.id, u.username, u.display_name, u.role, u.status, u.max_chats, u.tier,"
            " u.skills, u.regions,"
            " (SELECT json_group_array(group_id) FROM group_members m WHERE m.user_id = u.id)"
            " AS groups FROM users u WHERE u.disabled = 0 ORDER BY u.display_name, u.id"
        )
        return [
            {
                "id": r["id"],
                "username": r["username"],
                "display_name": r["display_name"],
                "role": r["role"],
                "status": r["status"],
                "max_chats": r["max_chats"],
                "tier": r["tier"],
                "skills": json.loads(r["skills"]),
                "regions": json.loads(r["regions"]),
                "groups": sorted(json.loads(r["groups"])),
            }
            for r in rows
        ]

    async def update_agent(self, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Change an agent's skills, regions, tier, limit or groups."""
        values: dict[str, Any] = {}
        if "skills" in data:
            values["skills"] = json.dumps(_tags(data["skills"], "skills"), ensure_ascii=False)
        if "regions" in data:
            values["regions"] = json.dumps(_tags(data["regions"], "regions"), ensure_ascii=False)
        if "tier" in data:
            if data["tier"] not in ("normal", "expert"):
                raise InvalidInput("tier must be normal or expert")
            values["tier"] = data["tier"]
        if "max_chats" in data:
            values["max_chats"] = whole(data["max_chats"], "max_chats", 0, _LIMIT_MAX)
        groups = None
        if "groups" in data:
            if not isinstance(data["groups"], list) or len(data["groups"]) > _LIST_MAX:
                raise InvalidInput("groups must be a list of group ids")
            groups = sorted({whole(g, "groups", 1, 2**62) for g in data["groups"]})

        def job(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                raise NotFound("no such user")
            if values:
                sets = ", ".join(f"{k} = ?" for k in values)
                conn.execute(
                    f"UPDATE users SET {sets} WHERE id = ?",
                    (*values.values(), user_id),
                )
            if groups is not None:
                known = {r[0] for r in conn.execute("SELECT id FROM groups")}
                if any(g not in known for g in groups):
                    raise InvalidInput("groups names a group that does not exist")
                conn.execute("DELETE FROM group_members WHERE user_id = ?", (user_id,))
                conn.executemany(
                    "INSERT INTO group_members (group_id, user_id) VALUES (?, ?)",
                    [(g, user_id) for g in groups],
                )

        await self._write(job)
        for agent in await self.list_agents():
            if agent["id"] == user_id:
                return agent
        raise NotFound("no such user")

    # -- topics, rules and points ---------------------------------------------

    async def get_topics(self) -> list[dict[str, Any]]:
        """Return the pre-chat topics in display order."""
        rows = await self._db.fetchall(
            "SELECT key, label, group_id, skill FROM topics ORDER BY position, key"
        )
        return [dict(zip(("key", "label", "group_id", "skill"), r, strict=True)) for r in rows]

    async def set_topics(self, topics: Any) -> list[dict[str, Any]]:
        """Replace the pre-chat topics."""
        if not isinstance(topics, list) or len(topics) > _LIST_MAX:
            raise InvalidInput(f"topics must be a list of at most {_LIST_MAX}")
        clean = []
        for i, t in enumerate(topics):
            if not isinstance(t, dict):
                raise InvalidInput("each topic is an object")
            key = text(t.get("key"), "key", _TAG_MAX, required=True)
            label = text(t.get("label"), "label", _NAME_MAX, required=True)
            clean.append(
                (
                    key,
                    label,
                    whole(t.get("group_id"), "group_id", 1, 2**62),
                    text(t.get("skill"), "skill", _TAG_MAX),
                    i,
                )
            )
        if len({c[0] for c in clean}) != len(clean):
            raise InvalidInput("topic keys must be unique")

        def job(conn: sqlite3.Connection) -> None:
            self._check_groups(conn, [c[2] for c in clean])
            conn.execute("DELETE FROM topics")
            conn.executemany(
                "INSERT INTO topics (key, label, group_id, skill, position) VALUES (?, ?, ?, ?, ?)",
                clean,
            )

        await self._write(job)
        return await self.get_topics()

    async def get_routes(self) -> list[dict[str, Any]]:
        """Return the routing rules in the order they are tried."""
        rows = await self._db.fetchall(
            "SELECT url_pattern, region, group_id, skill FROM routes ORDER BY position, id"
        )
        keys = ("url_pattern", "region", "group_id", "skill")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def set_routes(self, routes: Any) -> list[dict[str, Any]]:
        """Replace the routing rules."""
        if not isinstance(routes, list) or len(routes) > _LIST_MAX:
            raise InvalidInput(f"routes must be a list of at most {_LIST_MAX}")
        clean = []
        for i, r in enumerate(routes):
            if not isinstance(r, dict):
                raise InvalidInput("each route is an object")
            clean.append(
                (
                    i,
                    text(r.get("url_pattern"), "url_pattern", 512),
                    text(r.get("region"), "region", _TAG_MAX),
                    whole(r.get("group_id"), "group_id", 1, 2**62),
                    text(r.get("skill"), "skill", _TAG_MAX),
                )
            )

        def job(conn: sqlite3.Connection) -> None:
            self._check_groups(conn, [c[3] for c in clean])
            conn.execute("DELETE FROM routes")
            conn.executemany(
                "INSERT INTO routes (position, url_pattern, region, group_id, skill)"
                " VALUES (?, ?, ?, ?, ?)",
                clean,
            )

        await self._write(job)
        return await self.get_routes()

    @staticmethod
    def _check_groups(conn: sqlite3.Connection, ids: list[int]) -> None:
        known = {r[0] for r in conn.execute("SELECT id FROM groups")}
        for gid in ids:
            if gid not in known:
                raise InvalidInput(f"no such group: {gid}")

    async def get_points(self) -> dict[str, Any]:
        """Return the priority rules."""
        rows = await self._db.fetchall("SELECT kind, key, points FROM priority_points")
        return points_json(rows)

    async def set_points(self, data: Any) -> dict[str, Any]:
        """Replace the priority rules."""
        if not isinstance(data, dict):
            raise InvalidInput("points must be an object")
        rows: list[tuple[str, str, float]] = []

        def number(value: Any, field: str) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInput(f"{field} must be a number")
            if not -_POINTS_MAX <= value <= _POINTS_MAX:
                raise InvalidInput(f"{field} must be within ±{_POINTS_MAX:g}")
            return float(value)

        for kind in ("tier", "topic"):
            table = data.get(kind, {})
            if not isinstance(table, dict) or len(table) > _LIST_MAX:
                raise InvalidInput(f"{kind} must map names to points")
            for key, value in table.items():
                if kind == "tier" and key not in TIERS:
                    raise InvalidInput(f"tier must be one of {', '.join(TIERS)}")
                name = text(key, kind, _TAG_MAX, required=True)
                rows.append((kind, name, number(value, f"{kind}.{name}")))
        for kind in ("wait", "transfer"):
            if kind in data:
                rows.append((kind, "", number(data[kind], kind)))

        def job(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM priority_points WHERE kind IN ('tier', 'topic')")
            conn.executemany(
                "INSERT OR REPLACE INTO priority_points (kind, key, points) VALUES (?, ?, ?)", rows
            )

        await self._write(job)
        return await self.get_points()


def points_json(rows: Any) -> dict[str, Any]:
    """Return priority rows in their API form."""
    result: dict[str, Any] = {"tier": {}, "topic": {}, "wait": 30.0, "transfer": 40.0}
    for kind, key, points in rows:
        if kind in ("tier", "topic"):
            result[kind][key] = points
        else:
            result[kind] = points
    return result
