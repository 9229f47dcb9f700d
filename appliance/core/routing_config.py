"""What supervisors edit about routing: groups, members' scope, topics, rules, points."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from appliance.core.actors import Staff
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, InvalidInput, NotFound
from appliance.core.events import EventBus, RoutingChanged
from appliance.core.hours import HoursError, hours_json, parse_holidays, parse_hours
from appliance.core.routing import STRATEGIES, TIERS, matching_route
from appliance.core.store import accounts as account_store
from appliance.core.store import conversations as conversation_store
from appliance.core.store import routing as store
from appliance.core.store import workitems as work_store
from appliance.core.store.accounts import AgentScope as AgentScope
from appliance.core.store.routing import GroupConfig as GroupConfig
from appliance.core.store.routing import PriorityPoints as PriorityPoints
from appliance.core.store.routing import Rule as Rule
from appliance.core.store.routing import Topic as Topic
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


def _tags(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or len(value) > _TAGS_MAX:
        raise InvalidInput(f"{field} must be a list of at most {_TAGS_MAX} names")
    tags = sorted({text(v, field, _TAG_MAX, required=True) for v in value})
    return tags


@dataclass(frozen=True, slots=True)
class Target:
    """Where a new conversation queues."""

    group_id: int
    skill: str
    topic: str


def default_group(conn: sqlite3.Connection) -> int:
    """Return the default group's id (inside a write)."""
    group_id = store.default_group_id(conn)
    if group_id is None:
        raise Conflict("no group exists to take chats")
    return group_id


def resolve(conn: sqlite3.Connection, topic: str, page_url: str, region: str) -> Target:
    """Choose a new conversation's group: the visitor's topic, else the first rule, else default."""
    if topic:
        chosen = store.topic(conn, topic)
        if chosen is not None:
            return Target(chosen.group_id, chosen.skill, topic)
    rules = [(r.url_pattern, r.region, r.group_id, r.skill) for r in store.rules(conn)]
    route = matching_route(rules, page_url, region)
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

    async def list_groups(self) -> list[GroupConfig]:
        """Return every group with its members."""
        return await self._db.read(store.groups)

    async def get_group(self, group_id: int) -> GroupConfig:
        """Return one group."""
        for group in await self.list_groups():
            if group.id == group_id:
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
        for key in ("lead_id", "manager_id"):
            if key in data:
                user_id = data[key]
                if user_id is not None:
                    user_id = whole(user_id, key, 1, 2**62)
                    user = account_store.user(conn, user_id)
                    if user is None or user.disabled:
                        raise InvalidInput(f"{key} must name an active console user")
                values[key] = user_id
        if "fallback_group_id" in data:
            fallback = data["fallback_group_id"]
            if fallback is not None:
                fallback = whole(fallback, "fallback_group_id", 1, 2**62)
                if not store.group_exists(conn, fallback):
                    raise InvalidInput("fallback_group_id names no group")
            values["fallback_group_id"] = fallback
        return values

    async def create_group(self, data: dict[str, Any]) -> GroupConfig:
        """Create a group."""
        if "name" not in data:
            raise InvalidInput("name is required")

        def job(conn: sqlite3.Connection) -> int:
            values = self._group_values(conn, data)
            values["created_at"] = now_ms()
            try:
                return store.insert_group(conn, values)
            except sqlite3.IntegrityError as err:
                raise Conflict("a group with this name exists") from err

        return await self.get_group(await self._write(job))

    async def update_group(self, group_id: int, data: dict[str, Any]) -> GroupConfig:
        """Change a group's settings."""

        def job(conn: sqlite3.Connection) -> None:
            if not store.group_exists(conn, group_id):
                raise NotFound("no such group")
            values = self._group_values(conn, data)
            if values.get("fallback_group_id") == group_id:
                raise InvalidInput("a group cannot fall back to itself")
            try:
                store.update_group(conn, group_id, values)
            except sqlite3.IntegrityError as err:
                raise Conflict("a group with this name exists") from err

        await self._write(job)
        return await self.get_group(group_id)

    async def delete_group(self, group_id: int) -> None:
        """Delete a group; its open conversations move to the default group."""

        def job(conn: sqlite3.Connection) -> None:
            default = store.is_default(conn, group_id)
            if default is None:
                raise NotFound("no such group")
            if default:
                raise Conflict("the default group cannot be deleted")
            conversation_store.move_out_of_group(conn, group_id, default_group(conn))
            work_store.forget_group(conn, group_id)
            store.delete_group(conn, group_id)

        await self._write(job)

    async def set_members(self, group_id: int, user_ids: Any) -> GroupConfig:
        """Replace a group's members."""
        if not isinstance(user_ids, list) or len(user_ids) > 10_000:
            raise InvalidInput("members must be a list of user ids")
        ids = sorted({whole(u, "members", 1, 2**62) for u in user_ids})

        def job(conn: sqlite3.Connection) -> None:
            if not store.group_exists(conn, group_id):
                raise NotFound("no such group")
            known = account_store.user_ids(conn)
            missing = [u for u in ids if u not in known]
            if missing:
                raise InvalidInput(f"no such user: {missing[0]}")
            store.set_members(conn, group_id, ids)

        await self._write(job)
        return await self.get_group(group_id)

    # -- agents' scope --------------------------------------------------------

    async def memberships(self) -> dict[int, set[int]]:
        """Return each user's groups."""
        found: dict[int, set[int]] = {}
        for gid, uid in await self._db.read(store.memberships):
            found.setdefault(uid, set()).add(gid)
        return found

    async def groups_of(self, user_id: int) -> frozenset[int]:
        """Return the groups a user belongs to."""
        return await self._db.read(lambda conn: store.groups_of(conn, user_id))

    async def actor(self, user_id: int, name: str, role: str) -> Staff:
        """Return a console user as the actor of a use case, with their scope now: the
        groups whose queues they work and the regions they serve."""

        def read(conn: sqlite3.Connection) -> Staff:
            groups = store.groups_of(conn, user_id)
            regions = frozenset(r for r in account_store.regions_of(conn, user_id) if r)
            dispatcher = account_store.is_dispatcher(conn, user_id)
            return Staff(user_id, name, role, frozenset(groups), regions, dispatcher)

        return await self._db.read(read)

    async def regions_of(self, user_id: int) -> list[str]:
        """Return the regions an agent serves (empty: every region)."""
        return await self._db.read(lambda conn: account_store.regions_of(conn, user_id))

    async def list_agents(self) -> list[AgentScope]:
        """Return every enabled user with their routing scope."""
        return await self._db.read(account_store.agents_with_scope)

    async def update_agent(self, user_id: int, data: dict[str, Any]) -> AgentScope:
        """Change an agent's skills, regions, tier, limit, groups, or whether they are
        a dispatcher (调度员)."""
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
        if "dispatcher" in data:
            if not isinstance(data["dispatcher"], bool):
                raise InvalidInput("dispatcher must be true or false")
            values["dispatcher"] = int(data["dispatcher"])
        groups = None
        if "groups" in data:
            if not isinstance(data["groups"], list) or len(data["groups"]) > _LIST_MAX:
                raise InvalidInput("groups must be a list of group ids")
            groups = sorted({whole(g, "groups", 1, 2**62) for g in data["groups"]})

        def job(conn: sqlite3.Connection) -> None:
            if not account_store.exists(conn, user_id):
                raise NotFound("no such user")
            account_store.set_scope(conn, user_id, values)
            if groups is not None:
                known = store.group_ids(conn)
                if any(g not in known for g in groups):
                    raise InvalidInput("groups names a group that does not exist")
                store.set_groups_of(conn, user_id, groups)

        await self._write(job)
        for agent in await self.list_agents():
            if agent.id == user_id:
                return agent
        raise NotFound("no such user")

    # -- topics, rules and points ---------------------------------------------

    async def get_topics(self) -> list[Topic]:
        """Return the pre-chat topics in display order."""
        return await self._db.read(store.topics)

    async def set_topics(self, topics: Any) -> list[Topic]:
        """Replace the pre-chat topics."""
        if not isinstance(topics, list) or len(topics) > _LIST_MAX:
            raise InvalidInput(f"topics must be a list of at most {_LIST_MAX}")
        clean = []
        for t in topics:
            if not isinstance(t, dict):
                raise InvalidInput("each topic is an object")
            key = text(t.get("key"), "key", _TAG_MAX, required=True)
            label = text(t.get("label"), "label", _NAME_MAX, required=True)
            group_id = whole(t.get("group_id"), "group_id", 1, 2**62)
            clean.append(Topic(key, label, group_id, text(t.get("skill"), "skill", _TAG_MAX)))
        if len({c.key for c in clean}) != len(clean):
            raise InvalidInput("topic keys must be unique")

        def job(conn: sqlite3.Connection) -> None:
            self._check_groups(conn, [c.group_id for c in clean])
            store.set_topics(conn, clean)

        await self._write(job)
        return await self.get_topics()

    async def get_routes(self) -> list[Rule]:
        """Return the routing rules in the order they are tried."""
        return await self._db.read(store.rules)

    async def set_routes(self, routes: Any) -> list[Rule]:
        """Replace the routing rules."""
        if not isinstance(routes, list) or len(routes) > _LIST_MAX:
            raise InvalidInput(f"routes must be a list of at most {_LIST_MAX}")
        clean = []
        for r in routes:
            if not isinstance(r, dict):
                raise InvalidInput("each route is an object")
            clean.append(
                Rule(
                    text(r.get("url_pattern"), "url_pattern", 512),
                    text(r.get("region"), "region", _TAG_MAX),
                    whole(r.get("group_id"), "group_id", 1, 2**62),
                    text(r.get("skill"), "skill", _TAG_MAX),
                )
            )

        def job(conn: sqlite3.Connection) -> None:
            self._check_groups(conn, [c.group_id for c in clean])
            store.set_rules(conn, clean)

        await self._write(job)
        return await self.get_routes()

    @staticmethod
    def _check_groups(conn: sqlite3.Connection, ids: list[int]) -> None:
        known = store.group_ids(conn)
        for gid in ids:
            if gid not in known:
                raise InvalidInput(f"no such group: {gid}")

    async def get_points(self) -> PriorityPoints:
        """Return the priority rules."""
        return await self._db.read(store.points)

    async def set_points(self, data: Any) -> PriorityPoints:
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

        await self._write(lambda conn: store.set_points(conn, rows))
        return await self.get_points()
