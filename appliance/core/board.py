"""The supervisor's wallboard: queues and agents, as they are now."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.store import accounts as account_store
from appliance.core.store import conversations as conversation_store
from appliance.core.store import routing as routing_store

_WINDOW = 3600_000  # ms of recent chats behind the service level


@dataclass(frozen=True, slots=True)
class QueueNow:
    """A group's queue now and its service level over the last hour."""

    id: int
    name: str
    waiting: int
    transfers: int  # warm transfers pending
    longest_wait: int  # s the oldest waiting chat waited
    target_wait: int  # s
    service_level: float | None  # share given to an agent within target_wait
    offered: int  # the last hour's chats counted


@dataclass(frozen=True, slots=True)
class AgentNow:
    """A colleague now: presence, load, missed chats today, groups."""

    id: int
    display_name: str
    role: str
    status: str
    tier: str
    load: int
    max_chats: int
    missed_today: int
    groups: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Board:
    """Every queue and every enabled user."""

    queues: list[QueueNow]
    agents: list[AgentNow]


async def board(db: Database) -> Board:
    """Return every queue (waiting, longest wait, service level) and agent (status, load)."""
    return Board(await queue_board(db), await agent_board(db))


def _queues(conn: sqlite3.Connection, now: int) -> list[QueueNow]:
    figures = conversation_store.queue_figures(conn, now - _WINDOW, now)
    queues = []
    for group_id, name, target_wait in routing_store.groups_by_name(conn):
        got = figures.get(group_id, {})
        oldest, in_time, offered = (
            got.get("oldest", 0),
            got.get("in_time", 0),
            got.get("offered", 0),
        )
        queues.append(
            QueueNow(
                id=group_id,
                name=name,
                waiting=got.get("waiting", 0),
                transfers=got.get("transfers", 0),
                longest_wait=(now - oldest) // 1000 if oldest else 0,
                target_wait=target_wait,
                service_level=round(in_time / offered, 3) if offered else None,
                offered=offered,
            )
        )
    return queues


async def queue_board(db: Database) -> list[QueueNow]:
    """Return every queue: waiting, pending transfers, longest wait, service level now."""
    now = now_ms()
    return await db.read(lambda conn: _queues(conn, now))


async def agent_board(db: Database) -> list[AgentNow]:
    """Return every enabled user: status, load, missed chats today, groups."""
    midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    since = int(midnight.timestamp() * 1000)
    rows = await db.read(lambda conn: account_store.team_now(conn, since))
    return [
        AgentNow(
            id=row["id"],
            display_name=row["display_name"],
            role=row["role"],
            status=row["status"],
            tier=row["tier"],
            load=row["load"],
            max_chats=row["max_chats"],
            missed_today=row["missed"],
            groups=tuple(sorted(json.loads(row["groups"]))),
        )
        for row in rows
    ]
