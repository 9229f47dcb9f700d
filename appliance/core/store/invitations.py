"""Store of the invitations, invite_rules tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from appliance.core.visitor_records import Invitation

_SELECT = (
    "SELECT i.id, i.visitor_id, i.agent_id, u.display_name, i.rule_id, i.group_id, i.message,"
    " i.status, i.created_at, i.answered_at, i.conversation_id"
    " FROM invitations i LEFT JOIN users u ON u.id = i.agent_id"
)
RULE_FIELDS = (
    "id",
    "name",
    "enabled",
    "url_pattern",
    "min_seconds",
    "min_visits",
    "audience",
    "source",
    "message",
    "group_id",
)


def get(conn: sqlite3.Connection, invitation_id: int) -> Invitation | None:
    """Return an invitation, with the inviting agent's name."""
    row = conn.execute(_SELECT + " WHERE i.id = ?", (invitation_id,)).fetchone()
    return Invitation(*row) if row is not None else None


def pending_of(conn: sqlite3.Connection, visitor_id: str) -> list[Invitation]:
    """Return a visitor's pending invitations, oldest first."""
    rows = conn.execute(
        _SELECT + " WHERE i.visitor_id = ? AND i.status = 'pending' ORDER BY i.id", (visitor_id,)
    )
    return [Invitation(*r) for r in rows]


def recent(conn: sqlite3.Connection, limit: int) -> list[Invitation]:
    """Return the latest invitations, newest first."""
    return [Invitation(*r) for r in conn.execute(_SELECT + " ORDER BY i.id DESC LIMIT ?", (limit,))]


def has_pending(conn: sqlite3.Connection, visitor_id: str) -> bool:
    """Tell whether a visitor has an invitation open."""
    row = conn.execute(
        "SELECT 1 FROM invitations WHERE visitor_id = ? AND status = 'pending'", (visitor_id,)
    ).fetchone()
    return row is not None


def pending_id(conn: sqlite3.Connection, visitor_id: str) -> int | None:
    """Return the id of a visitor's latest pending invitation."""
    row = conn.execute(
        "SELECT id FROM invitations WHERE visitor_id = ? AND status = 'pending'"
        " ORDER BY id DESC LIMIT 1",
        (visitor_id,),
    ).fetchone()
    return int(row[0]) if row is not None else None


def last_automatic(conn: sqlite3.Connection, visitor_id: str) -> int:
    """Return when a rule last invited the visitor (0: never)."""
    row = conn.execute(
        "SELECT max(created_at) FROM invitations WHERE visitor_id = ? AND rule_id IS NOT NULL",
        (visitor_id,),
    ).fetchone()
    return int(row[0] or 0)


def create(
    conn: sqlite3.Connection,
    visitor_id: str,
    visit_id: int,
    group_id: int | None,
    message: str,
    now: int,
    *,
    agent_id: int | None = None,
    rule_id: int | None = None,
) -> Invitation:
    """Record a pending invitation, from an agent or a rule."""
    row = conn.execute(
        "INSERT INTO invitations (visitor_id, visit_id, agent_id, rule_id, group_id, message,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (visitor_id, visit_id, agent_id, rule_id, group_id, message, now),
    ).fetchone()
    found = get(conn, row[0])
    assert found is not None
    return found


def answer(
    conn: sqlite3.Connection,
    invitation_id: int,
    status: str,
    now: int,
    conversation_id: str | None = None,
) -> Invitation:
    """Record how an invitation ended: accepted (with its chat) or declined."""
    conn.execute(
        "UPDATE invitations SET status = ?, answered_at = ?,"
        " conversation_id = coalesce(?, conversation_id) WHERE id = ?",
        (status, now, conversation_id, invitation_id),
    )
    found = get(conn, invitation_id)
    assert found is not None
    return found


def expire(
    conn: sqlite3.Connection, now: int, older_than: int, visitor_ids: Sequence[str]
) -> list[Invitation]:
    """Expire pending invitations made before `older_than` or to these visitors."""
    marks = ", ".join("?" * len(visitor_ids))
    rows = conn.execute(
        "UPDATE invitations SET status = 'expired', answered_at = ?"
        f" WHERE status = 'pending' AND (created_at < ? OR visitor_id IN ({marks}))"
        " RETURNING id",
        (now, older_than, *visitor_ids),
    ).fetchall()
    return [found for r in rows if (found := get(conn, r[0])) is not None]


def any_pending_before(conn: sqlite3.Connection, older_than: int) -> bool:
    """Tell whether an invitation made before `older_than` is still pending."""
    row = conn.execute(
        "SELECT 1 FROM invitations WHERE status = 'pending' AND created_at < ? LIMIT 1",
        (older_than,),
    ).fetchone()
    return row is not None


def rules(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Return the automatic invitation rules, in the order they are tried."""
    rows = conn.execute(
        f"SELECT {', '.join(RULE_FIELDS)} FROM invite_rules ORDER BY position, id"
    ).fetchall()
    return [{**dict(zip(RULE_FIELDS, r, strict=True)), "enabled": bool(r[2])} for r in rows]


def replace_rules(conn: sqlite3.Connection, rules: Sequence[dict[str, Any]]) -> None:
    """Replace every rule with these, in this order (fields as RULE_FIELDS, no id)."""
    conn.execute("DELETE FROM invite_rules")
    for position, rule in enumerate(rules):
        conn.execute(
            "INSERT INTO invite_rules (position, name, enabled, url_pattern, min_seconds,"
            " min_visits, audience, source, message, group_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (position, *(rule[k] for k in RULE_FIELDS[1:])),
        )
