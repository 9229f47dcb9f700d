"""The supervisor's wallboard: queues and agents, as they are now."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from appliance.core.chats import AGENT_LOAD
from appliance.core.clock import now_ms
from appliance.core.db import Database

_WINDOW = 3600_000  # ms of recent chats behind the service level


async def board(db: Database) -> dict[str, Any]:
    """Return every queue (waiting, longest wait, service level) and agent (status, load)."""
    return {"queues": await queue_board(db), "agents": await agent_board(db)}


async def queue_board(db: Database) -> list[dict[str, Any]]:
    """Return every queue: waiting, pending transfers, longest wait, service level now."""
    now = now_ms()
    since = now - _WINDOW
    queues = []
    for row in await db.fetchall(
        "SELECT g.id, g.name, g.target_wait,"
        " (SELECT count(*) FROM conversations c"
        "   WHERE c.group_id = g.id AND c.status = 'waiting') AS waiting,"
        " (SELECT min(c.queued_at) FROM conversations c"
        "   WHERE c.group_id = g.id AND c.status = 'waiting') AS oldest,"
        " (SELECT count(*) FROM conversations c WHERE c.transfer_group_id = g.id"
        "   AND c.transfer_pending = 1) AS transfers,"
        " (SELECT count(*) FROM conversations c WHERE c.group_id = g.id AND c.created_at > :since"
        "   AND c.first_assigned_at - c.created_at <= g.target_wait * 1000) AS in_time,"
        # Chats still waiting inside their target are not yet late or on time.
        " (SELECT count(*) FROM conversations c WHERE c.group_id = g.id AND c.created_at > :since"
        "   AND NOT (c.first_assigned_at IS NULL AND c.status = 'waiting'"
        "            AND :now - c.created_at <= g.target_wait * 1000)) AS offered"
        " FROM groups g ORDER BY g.name",
        {"since": since, "now": now},
    ):
        queues.append(
            {
                "id": row["id"],
                "name": row["name"],
                "waiting": row["waiting"],
                "transfers": row["transfers"],
                "longest_wait": (now - row["oldest"]) // 1000 if row["oldest"] else 0,
                "target_wait": row["target_wait"],
                "service_level": (
                    round(row["in_time"] / row["offered"], 3) if row["offered"] else None
                ),
                "offered": row["offered"],
            }
        )
    return queues


async def agent_board(db: Database) -> list[dict[str, Any]]:
    """Return every enabled user: status, load, missed chats today, groups."""
    midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    agents = []
    for row in await db.fetchall(
        "SELECT u.id, u.display_name, u.role, u.status, u.max_chats, u.tier,"
        f" {AGENT_LOAD} AS load,"
        " (SELECT count(*) FROM missed_chats m WHERE m.user_id = u.id AND m.at >= :midnight)"
        "   AS missed,"
        " (SELECT json_group_array(group_id) FROM group_members m WHERE m.user_id = u.id)"
        "   AS groups"
        " FROM users u WHERE u.disabled = 0 ORDER BY u.status = 'offline', u.display_name",
        {"midnight": int(midnight.timestamp() * 1000)},
    ):
        agents.append(
            {
                "id": row["id"],
                "display_name": row["display_name"],
                "role": row["role"],
                "status": row["status"],
                "tier": row["tier"],
                "load": row["load"],
                "max_chats": row["max_chats"],
                "missed_today": row["missed"],
                "groups": sorted(json.loads(row["groups"])),
            }
        )
    return agents
