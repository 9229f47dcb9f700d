"""Store of the report_subscriptions table (scheduled reports by e-mail)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

_COLS = (
    "id, name, recipients, frequency, hour, period, dim, lang, enabled, served_until,"
    " last_period, last_sent_at, created_at, updated_at"
)
MAX_SUBSCRIPTIONS = 200  # subscriptions a box keeps


@dataclass(frozen=True, slots=True)
class Subscription:
    """A report mailed on a schedule to some addresses."""

    id: int
    name: str
    recipients: list[str]
    frequency: str  # daily, weekly (Mondays), monthly (the 1st)
    hour: int  # 0..23, the box's local time
    period: str  # d, w, m: the buckets of the report
    dim: str
    lang: str
    enabled: bool
    served_until: int  # UTC ms: the newest slot served, or when the schedule was set
    last_period: str  # the label of the period last mailed by the schedule ('' none)
    last_sent_at: int | None
    created_at: int
    updated_at: int


def _row(r: tuple[Any, ...]) -> Subscription:
    return Subscription(
        int(r[0]),
        str(r[1]),
        [str(a) for a in json.loads(str(r[2]))],
        str(r[3]),
        int(r[4]),
        str(r[5]),
        str(r[6]),
        str(r[7]),
        bool(r[8]),
        int(r[9]),
        str(r[10]),
        None if r[11] is None else int(r[11]),
        int(r[12]),
        int(r[13]),
    )


def all_of(conn: sqlite3.Connection) -> list[Subscription]:
    """Return every subscription, in the order they were added."""
    return [_row(r) for r in conn.execute(f"SELECT {_COLS} FROM report_subscriptions ORDER BY id")]


def enabled(conn: sqlite3.Connection) -> list[Subscription]:
    """Return the subscriptions the runner looks at."""
    rows = conn.execute(f"SELECT {_COLS} FROM report_subscriptions WHERE enabled = 1 ORDER BY id")
    return [_row(r) for r in rows]


def get(conn: sqlite3.Connection, sub_id: int) -> Subscription | None:
    """Return one subscription, or None."""
    row = conn.execute(
        f"SELECT {_COLS} FROM report_subscriptions WHERE id = ?", (sub_id,)
    ).fetchone()
    return None if row is None else _row(row)


def count(conn: sqlite3.Connection) -> int:
    """Return how many subscriptions there are."""
    return int(conn.execute("SELECT count(*) FROM report_subscriptions").fetchone()[0])


def insert(conn: sqlite3.Connection, s: Subscription) -> int:
    """Store a new subscription (its id is ignored); return its id."""
    row = conn.execute(
        "INSERT INTO report_subscriptions (name, recipients, frequency, hour, period, dim,"
        " lang, enabled, served_until, last_period, last_sent_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            s.name,
            json.dumps(s.recipients),
            s.frequency,
            s.hour,
            s.period,
            s.dim,
            s.lang,
            int(s.enabled),
            s.served_until,
            s.last_period,
            s.last_sent_at,
            s.created_at,
            s.updated_at,
        ),
    ).fetchone()
    return int(row[0])


def update(conn: sqlite3.Connection, s: Subscription) -> None:
    """Store a subscription's settings and schedule state."""
    conn.execute(
        "UPDATE report_subscriptions SET name = ?, recipients = ?, frequency = ?, hour = ?,"
        " period = ?, dim = ?, lang = ?, enabled = ?, served_until = ?, updated_at = ?"
        " WHERE id = ?",
        (
            s.name,
            json.dumps(s.recipients),
            s.frequency,
            s.hour,
            s.period,
            s.dim,
            s.lang,
            int(s.enabled),
            s.served_until,
            s.updated_at,
            s.id,
        ),
    )


def delete(conn: sqlite3.Connection, sub_id: int) -> bool:
    """Delete a subscription; return whether it existed."""
    return conn.execute("DELETE FROM report_subscriptions WHERE id = ?", (sub_id,)).rowcount > 0


def mark_served(
    conn: sqlite3.Connection, sub_id: int, seen: int, slot: int, label: str, now: int
) -> bool:
    """Record a slot as served if nobody served it meanwhile (served_until still `seen`);
    return whether this call did."""
    return (
        conn.execute(
            "UPDATE report_subscriptions SET served_until = ?, last_period = ?, last_sent_at = ?"
            " WHERE id = ? AND served_until = ?",
            (slot, label, now, sub_id, seen),
        ).rowcount
        > 0
    )
