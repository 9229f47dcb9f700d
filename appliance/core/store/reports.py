"""Store of the report_events, report_sums, report_state tables.

report_events is written by the triggers of migration 0029 (in the transaction of the
row each event records); this module reads it, and owns the rollups made from it
(report_sums: one row per period, dimension, bucket and key, with its sums and figures;
migration 0035).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from appliance.core.report_rollup import Deltas, ReportEvent

_EVENT = "id, at, kind, agent_id, group_id, topic, channel, site, ref, value, detail"


@dataclass(frozen=True, slots=True)
class State:
    """How far the rollups are: the last event folded, in which zone, when (UTC ms)."""

    cursor: int
    zone: str
    rolled_at: int
    figures: int  # the version of the figures stored (report_figures.FIGURES_VERSION)


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


RowKey = tuple[str, str, str, str]  # period, dim, bucket, key
Sums = dict[str, tuple[int, int]]  # metric -> (n, total)


def encode_sums(sums: Sums) -> str:
    """Return a row's sums as stored (zero sums left out, metrics in order)."""
    return json.dumps(
        {m: [n, t] for m, (n, t) in sorted(sums.items()) if n or t}, separators=(",", ":")
    )


def decode_sums(text: str) -> Sums:
    """Return a row's sums from their stored JSON."""
    return {m: (int(v[0]), int(v[1])) for m, v in json.loads(text).items()}


def sums_of(conn: sqlite3.Connection, keys: Iterable[RowKey]) -> dict[RowKey, Sums]:
    """Return the stored sums of rows (those that exist), by their keys."""
    found: dict[RowKey, Sums] = {}
    for key in keys:
        row = conn.execute(
            "SELECT sums FROM report_sums WHERE period = ? AND dim = ? AND bucket = ? AND key = ?",
            key,
        ).fetchone()
        if row is not None:
            found[key] = decode_sums(row[0])
    return found


@dataclass(frozen=True, slots=True)
class SumRow:
    """A row to store: its key, all its sums, its figures (JSON) and backlog step."""

    key: RowKey
    sums: str
    figures: str | None
    backlog: int


def put_rows(conn: sqlite3.Connection, rows: Iterable[SumRow]) -> None:
    """Store whole rows, replacing what their keys held (a row with no sums goes)."""
    every = list(rows)
    keep = [r for r in every if r.sums != "{}"]
    gone = [r.key for r in every if r.sums == "{}"]
    conn.executemany(
        "DELETE FROM report_sums WHERE period = ? AND dim = ? AND bucket = ? AND key = ?", gone
    )
    conn.executemany(
        "INSERT INTO report_sums (period, dim, bucket, key, sums, figures, backlog)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (period, dim, bucket, key)"
        " DO UPDATE SET sums = excluded.sums, figures = excluded.figures,"
        " backlog = excluded.backlog",
        [(*r.key, r.sums, r.figures, r.backlog) for r in sorted(keep, key=lambda r: r.key)],
    )


def by_row(deltas: Deltas) -> dict[RowKey, Sums]:
    """Return deltas grouped by the row they go to."""
    found: dict[RowKey, Sums] = {}
    for (period, bucket, dim, key, metric), (n, total) in deltas.items():
        found.setdefault((period, dim, bucket, key), {})[metric] = (n, total)
    return found


def merged(
    base: dict[RowKey, Sums], deltas: dict[RowKey, Sums], figures: Callable[[Sums], str]
) -> list[SumRow]:
    """Return the rows that base (stored sums) plus deltas make, with their figures."""
    found: list[SumRow] = []
    for key, adds in deltas.items():
        sums = dict(base.get(key, {}))
        for metric, (n, total) in adds.items():
            was_n, was_total = sums.get(metric, (0, 0))
            sums[metric] = (was_n + n, was_total + total)
        sums = {m: v for m, v in sums.items() if v[0] or v[1]}
        found.append(
            SumRow(
                key,
                encode_sums(sums),
                figures(sums) if sums else None,
                sums.get("backlog", (0, 0))[1],
            )
        )
    return found


def add_deltas(conn: sqlite3.Connection, deltas: Deltas, figures: Callable[[Sums], str]) -> None:
    """Add sums to the rows in one go, reading and writing on this connection (the
    benchmark's direct fold; the pass reads on the reader and writes the rows)."""
    grouped = by_row(deltas)
    put_rows(conn, merged(sums_of(conn, grouped), grouped, figures))


def clear_rollups(conn: sqlite3.Connection) -> None:
    """Forget every rollup and start the cursor again (a backfill)."""
    conn.execute("DELETE FROM report_sums")
    conn.execute("UPDATE report_state SET cursor = 0")


@dataclass(frozen=True, slots=True)
class PassWrite:
    """What one report pass stores, made on a reader (core/reports.py): the rows it
    touched and the cursor past its events, if the state is still the one it read."""

    seen: State
    rebuild: bool  # the zone changed: every rollup goes first
    rows: list[SumRow]
    cursor: int
    zone: str
    now: int  # UTC ms
    count: int  # events folded


def store_passes(conn: sqlite3.Connection, passes: list[PassWrite]) -> list[int]:
    """Store report passes (inside a write; the writer's helper process may run it:
    core/db_helper.py): each one's count of events, -1 if the state moved since it was
    read (the pass and the backfill are the rows' only writers, and each moves it)."""
    done = []
    for one in passes:
        if state(conn) != one.seen:
            done.append(-1)
            continue
        if one.rebuild:
            clear_rollups(conn)
        put_rows(conn, one.rows)
        set_state(conn, one.cursor, one.zone, one.now)
        done.append(one.count)
    return done


def state(conn: sqlite3.Connection) -> State:
    """Return how far the rollups are."""
    row = conn.execute(
        "SELECT cursor, zone, rolled_at, figures FROM report_state WHERE id = 1"
    ).fetchone()
    return State(*row)


def set_state(conn: sqlite3.Connection, cursor: int, zone: str, now: int) -> None:
    """Record how far the rollups are."""
    conn.execute(
        "UPDATE report_state SET cursor = ?, zone = ?, rolled_at = ? WHERE id = 1",
        (cursor, zone, now),
    )


def bucket_rows(
    conn: sqlite3.Connection, period: str, dim: str, first: str, last: str, stored: bool = True
) -> list[tuple[str, str, str | None, str | None, int]]:
    """Return the rows (bucket, key, figures, sums, backlog step) of a period's buckets
    from first to last; the sums only where the figures are still to be made (all of
    them when the stored figures are not to be used)."""
    figures = "figures" if stored else "NULL"
    return conn.execute(
        f"SELECT bucket, key, {figures}, CASE WHEN {figures} IS NULL THEN sums END, backlog"
        " FROM report_sums WHERE period = ? AND dim = ? AND bucket BETWEEN ? AND ?",
        (period, dim, first, last),
    ).fetchall()


def forget_figures(conn: sqlite3.Connection, version: int) -> None:
    """Forget every stored figure (made by another version) and record the version the
    ones made from now on are."""
    conn.execute("UPDATE report_sums SET figures = NULL WHERE figures IS NOT NULL")
    conn.execute("UPDATE report_state SET figures = ? WHERE id = 1", (version,))


def unfigured(conn: sqlite3.Connection, limit: int) -> list[tuple[int, str]]:
    """Return (id, sums) of rows whose figures are still to be made (carried over)."""
    return conn.execute(
        "SELECT id, sums FROM report_sums WHERE figures IS NULL ORDER BY id LIMIT ?", (limit,)
    ).fetchall()


def set_figures(conn: sqlite3.Connection, figures: Iterable[tuple[int, str, str]]) -> None:
    """Store rows' figures (id, sums they were made from, figures) where the sums hold."""
    conn.executemany(
        "UPDATE report_sums SET figures = ? WHERE id = ? AND sums = ? AND figures IS NULL",
        [(f, i, s) for i, s, f in figures],
    )


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
    the whole months before its month from the month rows, then the days of its month
    before it (so a long history costs months, not days), from the partial index."""
    month = first_day[:7]
    rows = conn.execute(
        "SELECT key, sum(backlog) FROM ("
        " SELECT key, backlog FROM report_sums INDEXED BY report_sums_backlog"
        "  WHERE period = 'm' AND dim = ? AND bucket < ? AND backlog != 0"
        " UNION ALL"
        " SELECT key, backlog FROM report_sums INDEXED BY report_sums_backlog"
        "  WHERE period = 'd' AND dim = ? AND bucket >= ? AND bucket < ? AND backlog != 0"
        ") GROUP BY key",
        (dim, month, dim, f"{month}-01", first_day),
    )
    return {r[0]: int(r[1]) for r in rows}


def rollup_rows(conn: sqlite3.Connection) -> list[tuple[str, str, str, str, str, int, int]]:
    """Return every rollup sum as (period, bucket, dim, key, metric, n, total), ordered
    (to compare a backfill with the passes)."""
    found = [
        (period, bucket, dim, key, metric, n, total)
        for period, dim, bucket, key, sums in conn.execute(
            "SELECT period, dim, bucket, key, sums FROM report_sums"
        )
        for metric, (n, total) in decode_sums(sums).items()
    ]
    return sorted(found, key=lambda r: (r[0], r[2], r[1], r[3], r[4]))


def row_figures(conn: sqlite3.Connection) -> list[tuple[str, str, str, str, str | None]]:
    """Return every row's stored figures (period, dim, bucket, key, figures JSON), ordered."""
    return conn.execute(
        "SELECT period, dim, bucket, key, figures FROM report_sums"
        " ORDER BY period, dim, bucket, key"
    ).fetchall()


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
    path = json.dumps(metric)  # a JSON path's key, quoted (metrics hold ':')
    row = conn.execute(
        "SELECT coalesce(sum(json_extract(sums, ?)), 0), coalesce(sum(json_extract(sums, ?)), 0)"
        " FROM report_sums WHERE period = 'd' AND dim = 'all' AND key = ''"
        " AND bucket BETWEEN ? AND ?",
        (f"$.{path}[0]", f"$.{path}[1]", first_day, last_day),
    ).fetchone()
    return int(row[0]), int(row[1])
