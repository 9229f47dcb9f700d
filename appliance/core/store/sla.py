"""Store of the sla_policies and ticket_sla tables: SLA policies and tickets' clocks."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from appliance.core.hours import hours_json, parse_holidays, parse_hours
from appliance.core.sla_clock import Clock
from appliance.core.sla_policy import METRICS, Conditions, Draft, Level, Policy, level_input

_POLICY_COLUMNS = (
    "id, position, name, enabled, conditions, first_response, next_response, resolution,"
    " hours, holidays, warn_share, levels, created_at, updated_at"
)
_CLOCK_COLUMNS = (
    "ticket_id, metric, policy_id, target_ms, used_ms, running_since, started_at, due_at,"
    " warn_at, next_at, warned_at, breached_at, fulfilled_at, stopped_at, levels_fired"
)


def _policy(row: sqlite3.Row) -> Policy:
    cond = json.loads(row["conditions"])
    return Policy(
        id=row["id"],
        position=row["position"],
        name=row["name"],
        enabled=bool(row["enabled"]),
        conditions=Conditions(
            group_ids=tuple(cond.get("group_ids", ())),
            types=tuple(cond.get("types", ())),
            priorities=tuple(cond.get("priorities", ())),
            tiers=tuple(cond.get("tiers", ())),
        ),
        targets={metric: row[metric] for metric in METRICS},
        hours=parse_hours(row["hours"]),
        holidays=parse_holidays(row["holidays"]),
        warn_share=row["warn_share"],
        levels=tuple(
            Level(lv["metric"], lv["offset_minutes"], lv["action"], lv.get("group_id"))
            for lv in json.loads(row["levels"])
        ),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _values(draft: Draft) -> dict[str, Any]:
    c = draft.conditions
    conditions = {
        "group_ids": list(c.group_ids),
        "types": list(c.types),
        "priorities": list(c.priorities),
        "tiers": list(c.tiers),
    }
    hours = hours_json(draft.hours)
    return {
        "name": draft.name,
        "enabled": int(draft.enabled),
        "conditions": json.dumps(conditions, ensure_ascii=False),
        **{metric: draft.targets.get(metric) for metric in METRICS},
        "hours": None if hours is None else json.dumps(hours),
        "holidays": json.dumps(sorted(d.isoformat() for d in draft.holidays)),
        "warn_share": draft.warn_share,
        "levels": json.dumps([level_input(lv) for lv in draft.levels]),
    }


def policies(conn: sqlite3.Connection) -> list[Policy]:
    """Return every policy, in the order they are tried."""
    rows = conn.execute(f"SELECT {_POLICY_COLUMNS} FROM sla_policies ORDER BY position, id")
    return [_policy(r) for r in rows]


def policy(conn: sqlite3.Connection, policy_id: int) -> Policy | None:
    """Return one policy, or None."""
    row = conn.execute(
        f"SELECT {_POLICY_COLUMNS} FROM sla_policies WHERE id = ?", (policy_id,)
    ).fetchone()
    return None if row is None else _policy(row)


def count_policies(conn: sqlite3.Connection) -> int:
    """Return how many policies there are."""
    return int(conn.execute("SELECT count(*) FROM sla_policies").fetchone()[0])


def insert_policy(conn: sqlite3.Connection, draft: Draft, now: int) -> Policy:
    """Store a policy after the others; raise sqlite3.IntegrityError if the name is taken."""
    values = _values(draft)
    row = conn.execute(
        "INSERT INTO sla_policies (name, position, enabled, conditions, first_response,"
        " next_response, resolution, hours, holidays, warn_share, levels, created_at,"
        " updated_at) VALUES (:name,"
        " (SELECT coalesce(max(position), 0) + 1 FROM sla_policies), :enabled, :conditions,"
        " :first_response, :next_response, :resolution, :hours, :holidays, :warn_share,"
        f" :levels, :now, :now) RETURNING {_POLICY_COLUMNS}",
        {**values, "now": now},
    ).fetchone()
    return _policy(row)


def update_policy(conn: sqlite3.Connection, policy_id: int, draft: Draft, now: int) -> Policy:
    """Replace a policy's settings; raise sqlite3.IntegrityError if the name is taken."""
    row = conn.execute(
        "UPDATE sla_policies SET name = :name, enabled = :enabled, conditions = :conditions,"
        " first_response = :first_response, next_response = :next_response,"
        " resolution = :resolution, hours = :hours, holidays = :holidays,"
        " warn_share = :warn_share, levels = :levels, updated_at = :now"
        f" WHERE id = :id RETURNING {_POLICY_COLUMNS}",
        {**_values(draft), "now": now, "id": policy_id},
    ).fetchone()
    return _policy(row)


def delete_policy(conn: sqlite3.Connection, policy_id: int) -> None:
    """Delete a policy (clocks that named it keep their history, policy_id set NULL)."""
    conn.execute("DELETE FROM sla_policies WHERE id = ?", (policy_id,))


def set_positions(conn: sqlite3.Connection, ids: Iterable[int], now: int) -> None:
    """Put the policies in the given order (1, 2, ...)."""
    conn.executemany(
        "UPDATE sla_policies SET position = ?, updated_at = ? WHERE id = ?",
        [(n, now, policy_id) for n, policy_id in enumerate(ids, start=1)],
    )


def _clock(row: sqlite3.Row) -> Clock:
    return Clock(
        ticket_id=row["ticket_id"],
        metric=row["metric"],
        policy_id=row["policy_id"],
        target=row["target_ms"],
        used=row["used_ms"],
        running_since=row["running_since"],
        started_at=row["started_at"],
        due_at=row["due_at"],
        warn_at=row["warn_at"],
        next_at=row["next_at"],
        warned_at=row["warned_at"],
        breached_at=row["breached_at"],
        fulfilled_at=row["fulfilled_at"],
        stopped_at=row["stopped_at"],
        levels_fired=frozenset(json.loads(row["levels_fired"])),
    )


def clocks(conn: sqlite3.Connection, ticket_id: int) -> list[Clock]:
    """Return a ticket's clocks (none before it is tracked)."""
    rows = conn.execute(
        f"SELECT {_CLOCK_COLUMNS} FROM ticket_sla WHERE ticket_id = ? ORDER BY metric",
        (ticket_id,),
    )
    return [_clock(r) for r in rows]


def live_clocks_of(conn: sqlite3.Connection, policy_id: int) -> list[Clock]:
    """Return the clocks measured against a policy that are neither fulfilled nor stopped."""
    rows = conn.execute(
        f"SELECT {_CLOCK_COLUMNS} FROM ticket_sla"
        " WHERE policy_id = ? AND stopped_at IS NULL AND fulfilled_at IS NULL",
        (policy_id,),
    )
    return [_clock(r) for r in rows]


def due_clocks(conn: sqlite3.Connection, now: int, limit: int) -> list[Clock]:
    """Return clocks with a firing due by `now`, the longest due first."""
    rows = conn.execute(
        f"SELECT {_CLOCK_COLUMNS} FROM ticket_sla WHERE next_at IS NOT NULL AND next_at <= ?"
        " ORDER BY next_at LIMIT ?",
        (now, limit),
    )
    return [_clock(r) for r in rows]


def save(conn: sqlite3.Connection, clock: Clock) -> None:
    """Store a clock, replacing the ticket's clock of that metric."""
    conn.execute(
        f"INSERT OR REPLACE INTO ticket_sla ({_CLOCK_COLUMNS})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            clock.ticket_id,
            clock.metric,
            clock.policy_id,
            clock.target,
            clock.used,
            clock.running_since,
            clock.started_at,
            clock.due_at,
            clock.warn_at,
            clock.next_at,
            clock.warned_at,
            clock.breached_at,
            clock.fulfilled_at,
            clock.stopped_at,
            json.dumps(sorted(clock.levels_fired)),
        ),
    )


def count_breached(conn: sqlite3.Connection) -> int:
    """Return how many SLA clocks have breached their target so far (for /metrics)."""
    row = conn.execute("SELECT count(*) FROM ticket_sla WHERE breached_at IS NOT NULL").fetchone()
    return int(row[0])
