"""The portal's migration (0028) and store: the mail tables built anew keep their rows
and take the sign-in link's kind; tokens are spent once and only before they expire."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from appliance.core.migrate import apply_migrations, migration_files
from appliance.core.store import portal as store


def _upto(prefix: str) -> str:
    return next(name for name, _ in migration_files() if name.startswith(prefix + "_"))


def _outbox_row(kind: str, message_id: str) -> tuple[object, ...]:
    return (kind, message_id, "a@example.com", b"raw", 5, 1)


_INSERT = (
    "INSERT INTO mail_outbox (kind, message_id, recipient, raw, next_at, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def test_mail_tables_keep_their_rows_and_take_the_link_kind(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "box.db")
    conn.execute("PRAGMA foreign_keys = ON")
    apply_migrations(conn, upto=_upto("0025"))
    conn.execute(_INSERT, _outbox_row("answered", "m1@example.com"))
    conn.execute(
        "INSERT INTO mail_templates (kind, lang, subject, body, updated_at)"
        " VALUES ('received', 'en', 'Got it', 'Thanks {name}', 7)"
    )
    conn.commit()
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(_INSERT, _outbox_row("portal_link", "m2@example.com"))
    conn.rollback()
    apply_migrations(conn)
    rows = conn.execute("SELECT id, kind, message_id, state FROM mail_outbox").fetchall()
    assert rows == [(1, "answered", "m1@example.com", "queued")]
    templates = conn.execute("SELECT kind, lang, subject, body FROM mail_templates").fetchall()
    assert templates == [("received", "en", "Got it", "Thanks {name}")]
    conn.execute(_INSERT, _outbox_row("portal_link", "m2@example.com"))
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "mail_outbox_due" in indexes
    assert not any(
        name.endswith("_0025") for (name,) in conn.execute("SELECT name FROM sqlite_master")
    )
    conn.close()


def test_a_token_is_spent_once_and_only_before_it_expires(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "box.db")
    apply_migrations(conn)
    conn.execute("INSERT INTO customers (email, created_at, updated_at) VALUES ('a@x.cn', 1, 1)")
    store.add_token(conn, "a" * 64, 1, "a@x.cn", 100, 200)
    store.add_token(conn, "b" * 64, 1, "a@x.cn", 100, 200)
    assert store.recent_tokens(conn, "a@x.cn", 100) == 2
    assert store.recent_tokens(conn, "a@x.cn", 101) == 0
    assert store.use_token(conn, "b" * 64, 200) is None  # expired at its moment
    found = store.use_token(conn, "a" * 64, 199)
    assert found is not None and found.customer_id == 1
    assert store.use_token(conn, "a" * 64, 199) is None  # once
    assert not store.link_state(conn, "a" * 64, 150)
    store.add_session(conn, "c" * 64, 1, "a@x.cn", "t" * 32, 100, 300)
    assert store.session(conn, "c" * 64, 299) is not None
    assert store.session(conn, "c" * 64, 300) is None
    assert store.prune(conn, 300) == 3
    conn.close()
