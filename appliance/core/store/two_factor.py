"""Store of the user_totp, recovery_codes and two_factor_roles tables."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TotpState:
    """A user's two-factor state: the confirmed secret (None: off) and the last step used."""

    secret: str | None
    pending_secret: str | None
    last_step: int
    enabled_at: int | None


def state(conn: sqlite3.Connection, user_id: int) -> TotpState | None:
    """Return a user's two-factor row, or None when they never enrolled."""
    row = conn.execute(
        "SELECT secret, pending_secret, last_step, enabled_at FROM user_totp WHERE user_id = ?",
        (user_id,),
    ).fetchone()
    return None if row is None else TotpState(row[0], row[1], row[2], row[3])


def set_pending(conn: sqlite3.Connection, user_id: int, secret: str) -> None:
    """Keep a new secret until the user confirms it with a code."""
    conn.execute(
        "INSERT INTO user_totp (user_id, pending_secret) VALUES (?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET pending_secret = excluded.pending_secret",
        (user_id, secret),
    )


def confirm(conn: sqlite3.Connection, user_id: int, secret: str, step: int, now: int) -> bool:
    """Switch two-factor login on with the pending secret, if it is still `secret`."""
    row = conn.execute(
        "UPDATE user_totp SET secret = pending_secret, pending_secret = NULL,"
        " last_step = ?, enabled_at = ? WHERE user_id = ? AND pending_secret = ?"
        " RETURNING user_id",
        (step, now, user_id, secret),
    ).fetchone()
    return row is not None


def use_step(conn: sqlite3.Connection, user_id: int, step: int) -> bool:
    """Record a code's step as used; False when that step or a later one already was."""
    row = conn.execute(
        "UPDATE user_totp SET last_step = ? WHERE user_id = ? AND last_step < ?"
        " AND secret IS NOT NULL RETURNING user_id",
        (step, user_id, step),
    ).fetchone()
    return row is not None


def clear(conn: sqlite3.Connection, user_id: int) -> bool:
    """Switch a user's two-factor login off and forget their recovery codes."""
    conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
    row = conn.execute(
        "DELETE FROM user_totp WHERE user_id = ? RETURNING secret", (user_id,)
    ).fetchone()
    return row is not None and row[0] is not None


def replace_recovery_codes(conn: sqlite3.Connection, user_id: int, hashes: list[str]) -> None:
    """Store a user's new recovery codes (as hashes), dropping the old ones."""
    conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
    conn.executemany(
        "INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)",
        [(user_id, h) for h in hashes],
    )


def unused_recovery_codes(conn: sqlite3.Connection, user_id: int) -> list[tuple[int, str]]:
    """Return (id, hash) of a user's recovery codes not used yet."""
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT id, code_hash FROM recovery_codes WHERE user_id = ? AND used_at IS NULL"
            " ORDER BY id",
            (user_id,),
        )
    ]


def use_recovery_code(conn: sqlite3.Connection, code_id: int, now: int) -> bool:
    """Mark a recovery code used; False when it already was (a race of two logins)."""
    row = conn.execute(
        "UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at IS NULL RETURNING id",
        (now, code_id),
    ).fetchone()
    return row is not None


def required_roles(conn: sqlite3.Connection) -> set[str]:
    """Return the roles whose users must log in with a code."""
    return {r[0] for r in conn.execute("SELECT role FROM two_factor_roles")}


def set_required_roles(conn: sqlite3.Connection, roles: set[str]) -> None:
    """Replace the roles whose users must log in with a code."""
    conn.execute("DELETE FROM two_factor_roles")
    conn.executemany("INSERT INTO two_factor_roles (role) VALUES (?)", [(r,) for r in roles])
