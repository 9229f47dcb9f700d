"""Store of the ticket_rules and rule_runs tables: supervisors' ticket rules, and which
once-per-ticket rule ran on which ticket."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

from appliance.core.rule_input import parse_rule, rule_data
from appliance.core.rules import Kind, Rule

_COLUMNS = "id, kind, position, enabled, name, definition, created_at, updated_at"
_IN_COLUMNS = ("name", "kind", "enabled")  # kept as columns, not in the definition


def _rule(row: sqlite3.Row) -> Rule:
    data = json.loads(row["definition"])
    data.update(name=row["name"], kind=row["kind"], enabled=bool(row["enabled"]))
    rule = parse_rule(data, rule_id=row["id"], position=row["position"])
    return replace(rule, created_at=row["created_at"], updated_at=row["updated_at"])


def _definition(rule: Rule) -> str:
    data = rule_data(rule)
    for key in _IN_COLUMNS:
        del data[key]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def rules(conn: sqlite3.Connection, kind: Kind | None = None) -> list[Rule]:
    """Return the rules (of one kind, or all), triggers first, each kind in order."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM ticket_rules WHERE ?1 IS NULL OR kind = ?1"
        " ORDER BY kind = 'timed', position, id",
        (None if kind is None else kind.value,),
    )
    return [_rule(r) for r in rows]


def get(conn: sqlite3.Connection, rule_id: int) -> Rule | None:
    """Return one rule, or None."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM ticket_rules WHERE id = ?", (rule_id,)).fetchone()
    return None if row is None else _rule(row)


def count(conn: sqlite3.Connection, kind: Kind) -> int:
    """Return how many rules of a kind there are."""
    row = conn.execute("SELECT count(*) FROM ticket_rules WHERE kind = ?", (kind.value,))
    return int(row.fetchone()[0])


def insert(conn: sqlite3.Connection, rule: Rule, now: int) -> Rule:
    """Store a new rule after the last one of its kind; return it with its id."""
    row = conn.execute(
        "INSERT INTO ticket_rules"
        " (kind, position, enabled, name, definition, created_at, updated_at)"
        " VALUES (?1, (SELECT coalesce(max(position) + 1, 0) FROM ticket_rules WHERE kind = ?1),"
        f" ?2, ?3, ?4, ?5, ?5) RETURNING {_COLUMNS}",
        (rule.kind.value, rule.enabled, rule.name, _definition(rule), now),
    ).fetchone()
    return _rule(row)


def update(conn: sqlite3.Connection, rule: Rule, now: int) -> Rule | None:
    """Replace a rule's definition (its kind and position stay); None if it is gone."""
    row = conn.execute(
        "UPDATE ticket_rules SET enabled = ?, name = ?, definition = ?, updated_at = ?"
        f" WHERE id = ? RETURNING {_COLUMNS}",
        (rule.enabled, rule.name, _definition(rule), now, rule.id),
    ).fetchone()
    return None if row is None else _rule(row)


def delete(conn: sqlite3.Connection, rule_id: int) -> bool:
    """Delete a rule and its runs; tell whether it existed."""
    return conn.execute("DELETE FROM ticket_rules WHERE id = ?", (rule_id,)).rowcount > 0


def ids(conn: sqlite3.Connection, kind: Kind) -> list[int]:
    """Return the ids of a kind's rules, in order."""
    rows = conn.execute(
        "SELECT id FROM ticket_rules WHERE kind = ? ORDER BY position, id", (kind.value,)
    )
    return [int(r[0]) for r in rows]


def set_positions(conn: sqlite3.Connection, ordered: list[int]) -> None:
    """Number rules 0, 1, 2... in the order given."""
    conn.executemany(
        "UPDATE ticket_rules SET position = ? WHERE id = ?",
        [(position, rule_id) for position, rule_id in enumerate(ordered)],
    )


def record_run(conn: sqlite3.Connection, rule_id: int, ticket_id: int, now: int) -> bool:
    """Record that a rule ran on a ticket; False if it had already."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO rule_runs (rule_id, ticket_id, ran_at) VALUES (?, ?, ?)",
        (rule_id, ticket_id, now),
    )
    return cursor.rowcount == 1


def ran_on(conn: sqlite3.Connection, ticket_id: int) -> frozenset[int]:
    """Return the ids of the once-per-ticket rules that ran on a ticket."""
    rows = conn.execute("SELECT rule_id FROM rule_runs WHERE ticket_id = ?", (ticket_id,))
    return frozenset(int(r[0]) for r in rows)
