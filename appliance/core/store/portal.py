"""Store of the portal_tokens and portal_sessions tables: the customer portal's
e-mailed sign-in tokens and sessions (kept as SHA-256 hashes)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A signed-in customer's session as stored."""

    customer_id: int
    email: str
    csrf_token: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A one-time sign-in token as stored."""

    customer_id: int
    email: str
    expires_at: int
    used_at: int | None


def add_token(
    conn: sqlite3.Connection,
    token_hash: str,
    customer_id: int,
    email: str,
    now: int,
    expires_at: int,
) -> None:
    """Record an e-mailed one-time token."""
    conn.execute(
        "INSERT INTO portal_tokens (token_hash, customer_id, email, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (token_hash, customer_id, email, now, expires_at),
    )


def use_token(conn: sqlite3.Connection, token_hash: str, now: int) -> TokenRow | None:
    """Mark an unused, unexpired token used; return it (None: no such token)."""
    row = conn.execute(
        "UPDATE portal_tokens SET used_at = ? WHERE token_hash = ?"
        " AND used_at IS NULL AND expires_at > ?"
        " RETURNING customer_id, email, expires_at, used_at",
        (now, token_hash, now),
    ).fetchone()
    return TokenRow(*row) if row is not None else None


def recent_tokens(conn: sqlite3.Connection, email: str, since: int) -> int:
    """How many mail tokens were made for an address since a moment."""
    row = conn.execute(
        "SELECT count(*) FROM portal_tokens WHERE email = ? AND created_at >= ?",
        (email, since),
    ).fetchone()
    return int(row[0])


def add_session(
    conn: sqlite3.Connection,
    token_hash: str,
    customer_id: int,
    email: str,
    csrf_token: str,
    now: int,
    expires_at: int,
) -> None:
    """Start a session."""
    conn.execute(
        "INSERT INTO portal_sessions"
        " (token_hash, customer_id, email, csrf_token, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (token_hash, customer_id, email, csrf_token, now, expires_at),
    )


def session(conn: sqlite3.Connection, token_hash: str, now: int) -> SessionRow | None:
    """Return an unexpired session."""
    row = conn.execute(
        "SELECT customer_id, email, csrf_token, expires_at FROM portal_sessions"
        " WHERE token_hash = ? AND expires_at > ?",
        (token_hash, now),
    ).fetchone()
    return SessionRow(*row) if row is not None else None


def end_session(conn: sqlite3.Connection, token_hash: str) -> None:
    """End a session."""
    conn.execute("DELETE FROM portal_sessions WHERE token_hash = ?", (token_hash,))


def prune(conn: sqlite3.Connection, now: int) -> int:
    """Delete expired tokens and sessions; return how many rows went."""
    gone = conn.execute("DELETE FROM portal_tokens WHERE expires_at <= ?", (now,)).rowcount
    gone += conn.execute("DELETE FROM portal_sessions WHERE expires_at <= ?", (now,)).rowcount
    return gone


def link_state(conn: sqlite3.Connection, token_hash: str, now: int) -> bool:
    """Tell whether a token is unused and unexpired."""
    row = conn.execute(
        "SELECT 1 FROM portal_tokens WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
        (token_hash, now),
    ).fetchone()
    return row is not None
