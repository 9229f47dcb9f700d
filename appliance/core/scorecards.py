"""Agent scorecards (KPI): weighted report figures turned into 0..100 points per agent.

A scorecard's items each name a figure of the reports (report_figures.FIGURES) or the
quality review's mean score (`quality`), a weight (the weights sum to 100), a target
and a direction. An item's points (`points`): higher-is-better gives 100 at or above
the target and falls in a straight line to 0 at nothing; lower-is-better gives 100 at
or below the target and falls in a straight line to 0 at twice the target. An agent's
score is the weighted mean of the points of the items that have a value; an item with
no value for that agent (no rated chats, no reviews) is left out and the others'
weights are scaled up to fill its share (`score`). Values come from the rollups via
`Reports.report`, never from the messages.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from appliance.core import audit
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import InvalidInput, LimitReached, NotFound
from appliance.core.report_figures import FIGURE_IDS
from appliance.core.reports import Reports, box_zone
from appliance.core.store import accounts as account_store
from appliance.core.store import quality as store
from appliance.core.store.quality import Card

QUALITY = "quality"  # the item of the quality review's mean score (0..100)
SCORABLE = (*FIGURE_IDS, QUALITY)
DIRECTIONS = ("higher", "lower")
NAME_MAX = 100  # characters of a scorecard's name
ITEMS_MAX = 30  # items of a scorecard
TARGET_MAX = 1e9  # the largest target (any figure's unit)
MAX_CARDS = 100  # scorecards a box keeps
PERIODS = ("w", "m")  # a scorecard is read per ISO week or per month


@dataclass(frozen=True, slots=True)
class Item:
    """One weighted figure of a scorecard."""

    figure: str
    weight: int
    target: float
    direction: str  # higher or lower (is better)


@dataclass(frozen=True, slots=True)
class Line:
    """One agent's score: the total (None: no item had a value) and each item's value
    and points (None: left out)."""

    agent_id: int
    name: str
    score: float | None
    values: tuple[float | int | None, ...]
    points: tuple[float | None, ...]
    excluded: tuple[str, ...]  # the figures left out for want of a value
    rank: int = 0  # 1 the best, among every agent of the period


@dataclass(frozen=True, slots=True)
class Standings:
    """A scorecard read over one week or month: its lines, best first."""

    card: Card
    period: str
    label: str  # 2026-W49, 2026-12
    first: date
    last: date
    lines: list[Line]


def points(value: float, target: float, direction: str) -> float:
    """Return an item's points (0..100) for a value against its target."""
    if direction == "higher":
        found = 100 * value / target
    else:
        found = 100.0 if value <= target else 100 * (2 * target - value) / target
    return round(min(100.0, max(0.0, found)), 1)


def score(items: Sequence[Item], values: Sequence[float | int | None]) -> Line:
    """Return one agent's points per item and total (agent id and name left blank)."""
    got: list[float | None] = []
    total = weights = 0.0
    excluded: list[str] = []
    for item, value in zip(items, values, strict=True):
        if value is None:
            got.append(None)
            excluded.append(item.figure)
            continue
        p = points(float(value), item.target, item.direction)
        got.append(p)
        total += p * item.weight
        weights += item.weight
    final = round(total / weights, 1) if weights > 0 else None
    return Line(0, "", final, tuple(values), tuple(got), tuple(excluded))


def check(fields: Mapping[str, Any]) -> tuple[str, list[Item]]:
    """Return a scorecard's name and items checked (422 with a code for what is wrong)."""
    name = " ".join(str(fields.get("name", "")).split())
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(f"bad_name: a name is 1 to {NAME_MAX} characters")
    raw = fields.get("items")
    if not isinstance(raw, list) or not 1 <= len(raw) <= ITEMS_MAX:
        raise InvalidInput(f"bad_items: 1 to {ITEMS_MAX} items")
    items: list[Item] = []
    for entry in raw:
        figure = entry.get("figure") if isinstance(entry, Mapping) else None
        if figure not in SCORABLE:
            raise InvalidInput(f"bad_figure: not a figure: {str(figure)[:40]}")
        if figure in (i.figure for i in items):
            raise InvalidInput(f"bad_figure: {figure} twice")
        weight, target = entry.get("weight"), entry.get("target")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
            raise InvalidInput("bad_weight: a weight is a whole number 1 to 100")
        if (
            not isinstance(target, int | float)
            or isinstance(target, bool)
            or not math.isfinite(target)
            or not 0 < target <= TARGET_MAX
        ):
            raise InvalidInput("bad_target: a target is a number above 0")
        direction = entry.get("direction")
        if direction not in DIRECTIONS:
            raise InvalidInput("bad_direction: higher or lower")
        items.append(Item(str(figure), weight, float(target), str(direction)))
    if sum(i.weight for i in items) != 100:
        raise InvalidInput("bad_weights: the weights must sum to 100")
    return name, items


def items_of(card: Card) -> list[Item]:
    """Return a stored scorecard's items."""
    return [
        Item(str(i["figure"]), int(i["weight"]), float(i["target"]), str(i["direction"]))
        for i in card.items
    ]


def bucket(period: str, day: date) -> tuple[str, date, date]:
    """Return the label, first and last day of the week or month holding `day`."""
    if period == "w":
        first = day - timedelta(days=day.weekday())
        iso = first.isocalendar()
        return f"{iso.year}-W{iso.week:02d}", first, first + timedelta(days=6)
    if period == "m":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return first.strftime("%Y-%m"), first, following - timedelta(days=1)
    raise InvalidInput("period must be w or m")


class Scorecards:
    """Scorecards a supervisor keeps, and each agent's score over a week or month."""

    def __init__(
        self,
        db: Database,
        reports: Reports,
        zone: Callable[[], tzinfo] = box_zone,
        now: Callable[[], int] = now_ms,
    ) -> None:
        self._db = db
        self._reports = reports
        self._zone = zone
        self._now = now

    async def all(self) -> list[Card]:
        """Return every scorecard."""
        return await self._db.read(store.cards)

    async def get(self, card_id: int) -> Card:
        """Return one scorecard, else NotFound."""
        found = await self._db.read(lambda conn: store.card(conn, card_id))
        if found is None:
            raise NotFound("no such scorecard")
        return found

    @staticmethod
    def _stored(items: list[Item]) -> list[dict[str, Any]]:
        return [
            {"figure": i.figure, "weight": i.weight, "target": i.target, "direction": i.direction}
            for i in items
        ]

    async def create(self, fields: Mapping[str, Any], by: audit.Actor) -> Card:
        """Add a scorecard (audited)."""
        name, items = check(fields)
        stored = self._stored(items)

        def write(conn: sqlite3.Connection) -> int:
            if store.card_count(conn) >= MAX_CARDS:
                raise LimitReached(f"at most {MAX_CARDS} scorecards")
            card_id = store.insert_card(conn, name, stored, self._now())
            audit.record(conn, by, "scorecard.create", name, {"id": card_id, "items": stored})
            return card_id

        return await self.get(await self._db.write(write))

    async def update(self, card_id: int, fields: Mapping[str, Any], by: audit.Actor) -> Card:
        """Change a scorecard's name and items (audited, with the items before and after)."""
        name, items = check(fields)
        stored = self._stored(items)

        def write(conn: sqlite3.Connection) -> None:
            before = store.card(conn, card_id)
            if before is None or not store.update_card(conn, card_id, name, stored, self._now()):
                raise NotFound("no such scorecard")
            audit.record(
                conn,
                by,
                "scorecard.update",
                name,
                {
                    "id": card_id,
                    "name_before": before.name,
                    "before": before.items,
                    "after": stored,
                },
            )

        await self._db.write(write)
        return await self.get(card_id)

    async def delete(self, card_id: int, by: audit.Actor) -> None:
        """Delete a scorecard (audited)."""

        def write(conn: sqlite3.Connection) -> None:
            before = store.card(conn, card_id)
            if before is None or not store.delete_card(conn, card_id):
                raise NotFound("no such scorecard")
            audit.record(conn, by, "scorecard.delete", before.name, {"id": card_id})

        await self._db.write(write)

    async def standings(
        self, card_id: int, period: str, day: date, agent_id: int | None = None
    ) -> Standings:
        """Return every agent's score over the week or month holding `day` (the box's
        zone), best first; with `agent_id`, that agent's line alone (ranked among all)."""
        card = await self.get(card_id)
        label, first, last = bucket(period, day)
        items = items_of(card)
        report = await self._reports.report(period, "agent", first, last)
        zone = self._zone()
        since = int(datetime.combine(first, time.min, tzinfo=zone).timestamp() * 1000)
        until = int(
            datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone).timestamp() * 1000
        )
        quality, staff = await self._db.read(
            lambda conn: (store.mean_scores(conn, since, until), account_store.users_by_name(conn))
        )
        figures: dict[int, dict[str, Any]] = {}
        names: dict[int, str] = {}
        for row in report.rows:
            if row.key.isdigit() and row.bucket == label:
                figures[int(row.key)] = row.values
                names[int(row.key)] = row.name
        for agent, (_, _, name) in quality.items():
            names.setdefault(agent, name)
        for user in staff:  # an agent with nothing in the period still has a line
            if user.role == "agent" and not user.disabled:
                names.setdefault(user.id, user.display_name)
        lines: list[Line] = []
        for agent in sorted(names):
            values = figures.get(agent, {})
            mean = quality.get(agent)
            found = score(
                items,
                [
                    (round(mean[0], 1) if mean else None)
                    if i.figure == QUALITY
                    else values.get(i.figure)
                    for i in items
                ],
            )
            lines.append(
                Line(agent, names[agent], found.score, found.values, found.points, found.excluded)
            )
        lines.sort(key=lambda line: (line.score is None, -(line.score or 0), line.name))
        ranked = [replace(line, rank=i) for i, line in enumerate(lines, start=1)]
        if agent_id is not None:  # an agent sees their own line, with its rank among all
            ranked = [line for line in ranked if line.agent_id == agent_id]
        return Standings(card, period, label, first, last, ranked)


def today(zone: tzinfo, now: int) -> date:
    """Return the box's local day at `now` (UTC ms)."""
    return datetime.fromtimestamp(now / 1000, tz=UTC).astimezone(zone).date()
