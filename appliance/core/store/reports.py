"""Store of the report_events, report_rollups, report_state tables.

report_events is written by the triggers of migration 0029 (in the transaction of the
row each event records); this module reads it, and owns the rollups made from it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from appliance.core.report_rollup import Deltas, ReportEvent

_EVENT = "id, at, kind, agent_id, group_id, topic, channel, site, ref, value, detail"


@dataclass(frozen=True, slots=True)
class State:
    """How far the rollups are: the last event folded, in which zone, when (UTC ms)."""

    cursor: int
    zone: str
    rolled_at: int


def events_after(conn: sqlite3.Connection, cursor: int, limit: int) -> list[ReportEvent]:
    """Return up to `limit` events after an id, oldest first."""
    rows = conn.execute(
        f"SELECT {_EVENT} FROM report_events WHERE id > ? ORDER BY id LIMIT ?", (cursor, limit)
    )
    return [ReportEvent(*row) for row in rows]


def previous_presence(conn: sqlite3.Connection, agent_id: int, before: int) -> ReportEvent | None:
    """Return an agent's last presence event before an event id."""
    row = conn.execute(
        f"SELECT {_EVENT} FROM report_events WHERE agent_id = ? AND kind = 'presence'"
        " AND id < ? ORDER BY id DESC LIMIT 1",
        (agent_id, before),
    ).fetchone()
    return None if row is None else ReportEvent(*row)


def last_event_id(conn: sqlite3.Connection) -> int:
    """Return the newest event's id (0 when there is none)."""
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM report_events").fetchone()[0])


def add_event(conn: sqlite3.Connection, event: ReportEvent) -> int:
    """Insert an event as given but for its id (the tests' and the benchmark's streams)."""
    cur = conn.execute(
        "INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, site, ref,"
        " value, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event.at,
            event.kind,
            event.agent_id,
            event.group_id,
            event.topic,
            event.channel,
            event.site,
            event.ref,
            event.value,
            event.detail,
        ),
    )
    return int(cur.lastrowid or 0)


def add_deltas(conn: sqlite3.Connection, deltas: Deltas) -> None:
    """Add sums to the rollups (in the primary key's order: neighbouring pages)."""
    conn.executemany(
        "INSERT INTO report_rollups (period, bucket, dim, key, metric, n, total)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (period, dim, bucket, key, metric)"
        " DO UPDATE SET n = n + excluded.n, total = total + excluded.total",
        [
            (*key, n, total)
            for key, (n, total) in sorted(
                deltas.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1], kv[0][3], kv[0][4])
            )
            if n or total
        ],
    )


def clear_rollups(conn: sqlite3.Connection) -> None:
    """Forget every rollup and start the cursor again (a backfill)."""
    conn.execute("DELETE FROM report_rollups")
    conn.execute("UPDATE report_state SET cursor = 0")


def state(conn: sqlite3.Connection) -> State:
    """Return how far the rollups are."""
    row = conn.execute("SELECT cursor, zone, rolled_at FROM report_state WHERE id = 1").fetchone()
    return State(*row)


def set_state(conn: sqlite3.Connection, cursor: int, zone: str, now: int) -> None:
    """Record how far the rollups are."""
    conn.execute(
        "UPDATE report_state SET cursor = ?, zone = ?, rolled_at = ? WHERE id = 1",
        (cursor, zone, now),
    )


def cells(
    conn: sqlite3.Connection, period: str, dim: str, first: str, last: str
) -> list[tuple[str, str, str, int, int]]:
    """Return the rollup rows (bucket, key, metric, n, total) of a period's buckets from
    first to last (by the primary key's range)."""
    return conn.execute(
        "SELECT bucket, key, metric, n, total FROM report_rollups"
        " WHERE period = ? AND dim = ? AND bucket BETWEEN ? AND ?",
        (period, dim, first, last),
    ).fetchall()


def names(conn: sqlite3.Connection, dim: str, keys: Iterable[str]) -> dict[str, str]:
    """Return the names of a dimension's keys (agents, groups, topics), by their tables'
    keys; other dimensions' keys are their own names."""
    join = {
        "agent": "users n ON n.id = CAST(j.value AS INTEGER)",
        "group": "groups n ON n.id = CAST(j.value AS INTEGER)",
        "topic": "topics n ON n.key = j.value",
    }.get(dim)
    wanted = sorted(set(keys))
    if join is None or not wanted:
        return {}
    label = "display_name" if dim == "agent" else "name" if dim == "group" else "label"
    return {
        str(k): str(v or "")
        for k, v in conn.execute(
            f"SELECT j.value, n.{label} FROM json_each(?) j JOIN {join}", (json.dumps(wanted),)
        )
    }


def backlog_before(conn: sqlite3.Connection, dim: str, first_day: str) -> dict[str, int]:
    """Return each key's backlog steps summed over the days before one (YYYY-MM-DD):
    the whole months before its month from the month rollups, then the days of its
    month before it (so a long history costs months, not days)."""
    month = first_day[:7]
    # The partial indexes hold only backlog rows; the planner would take the primary
    # key's range, which holds every metric of those buckets.
    rows = conn.execute(
        "SELECT key, sum(total) FROM ("
        " SELECT key, total FROM report_rollups INDEXED BY report_rollups_backlog_m"
        "  WHERE period = 'm' AND metric = 'backlog' AND dim = ? AND bucket < ?"
        " UNION ALL"
        " SELECT key, total FROM report_rollups INDEXED BY report_rollups_backlog"
        "  WHERE period = 'd' AND metric = 'backlog' AND dim = ? AND bucket >= ? AND bucket < ?"
        ") GROUP BY key",
        (dim, month, dim, f"{month}-01", first_day),
    )
    return {r[0]: int(r[1]) for r in rows}


def rollup_rows(conn: sqlite3.Connection) -> list[tuple[str, str, str, str, str, int, int]]:
    """Return every rollup row, ordered (to compare a backfill with the passes)."""
    return list(
        conn.execute(
            "SELECT period, bucket, dim, key, metric, n, total FROM report_rollups"
            " WHERE n != 0 OR total != 0 ORDER BY period, dim, bucket, key, metric"
        )
    )


def offered_per_slot(conn: sqlite3.Connection, since: int, slot_ms: int) -> list[tuple[int, int]]:
    """Return (slot start, chats offered) for slots of `slot_ms` since a time (UTC ms)."""
    rows = conn.execute(
        "SELECT at / ? * ?, count(*) FROM report_events"
        " WHERE kind = 'chat_offered' AND at >= ? GROUP BY 1 ORDER BY 1",
        (slot_ms, slot_ms, since),
    )
    return [(int(r[0]), int(r[1])) for r in rows]


def scan(conn: sqlite3.Connection, since: int, until: int) -> Iterable[ReportEvent]:
    """Yield the events whose time falls in [since, until) (the raw scan the rollups spare)."""
    rows = conn.execute(
        f"SELECT {_EVENT} FROM report_events WHERE at >= ? AND at < ? ORDER BY id", (since, until)
    )
    for row in rows:
        yield ReportEvent(*row)


def metric_sum(
    conn: sqlite3.Connection, metric: str, first_day: str, last_day: str
) -> tuple[int, int]:
    """Return the whole centre's (n, total) of a metric over local days first..last."""
    row = conn.execute(
        "SELECT coalesce(sum(n), 0), coalesce(sum(total), 0) FROM report_rollups"
        " WHERE period = 'd' AND dim = 'all' AND key = '' AND metric = ?"
        " AND bucket BETWEEN ? AND ?",
        (metric, first_day, last_day),
    ).fetchone()
    return int(row[0]), int(row[1])
