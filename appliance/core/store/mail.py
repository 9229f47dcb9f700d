"""Store of the mail_settings, mailboxes, mail_messages, mail_outbox and mail_templates
tables: e-mail in and out."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SmtpRow:
    """The SMTP settings as stored (the password sealed)."""

    host: str
    port: int
    security: str
    user: str
    sealed: bytes | None
    from_address: str
    from_name: str
    notify: tuple[str, ...]
    updated_at: int


@dataclass(frozen=True, slots=True)
class MailboxRow:
    """A mailbox as stored (the password sealed)."""

    id: int
    name: str
    address: str
    host: str
    port: int
    security: str
    username: str
    sealed: bytes | None
    folder: str
    lang: str
    group_id: int | None
    enabled: bool
    status: str
    checked_at: int | None
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Imported:
    """A message already seen: what became of it."""

    id: int
    outcome: str
    ticket_id: int | None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A mail in the outbox."""

    id: int
    kind: str
    ticket_id: int | None
    message_id: str
    recipient: str
    raw: bytes
    state: str
    attempts: int
    attempt_id: str
    next_at: int
    last_error: str
    created_at: int
    sent_at: int | None


_SMTP = (
    "smtp_host, smtp_port, smtp_security, smtp_user, smtp_sealed, from_address, from_name,"
    " notify, updated_at"
)
_BOX = (
    "id, name, address, host, port, security, username, sealed, folder, lang, group_id,"
    " enabled, status, checked_at, created_at, updated_at"
)
_OUT = (
    "id, kind, ticket_id, message_id, recipient, raw, state, attempts, attempt_id, next_at,"
    " last_error, created_at, sent_at"
)
# Columns a change may name (the SET clauses are built from these only).
SMTP_COLUMNS = (
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_user",
    "smtp_sealed",
    "from_address",
    "from_name",
    "notify",
)
BOX_COLUMNS = (
    "name",
    "address",
    "host",
    "port",
    "security",
    "username",
    "sealed",
    "folder",
    "lang",
    "group_id",
    "enabled",
)


def _smtp(row: Any) -> SmtpRow:
    return SmtpRow(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], tuple(json.loads(row[7])), row[8]
    )


def _box(row: Any) -> MailboxRow:
    return MailboxRow(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        bool(row[11]),
        row[12],
        row[13],
        row[14],
        row[15],
    )


def _out(row: Any) -> Outgoing:
    return Outgoing(*(row[i] for i in range(13)))


# -- SMTP settings -----------------------------------------------------------------


def smtp(conn: sqlite3.Connection) -> SmtpRow:
    """Return the SMTP settings."""
    return _smtp(conn.execute(f"SELECT {_SMTP} FROM mail_settings WHERE id = 1").fetchone())


def change_smtp(conn: sqlite3.Connection, values: Mapping[str, Any], now: int) -> SmtpRow:
    """Change some SMTP settings (names from SMTP_COLUMNS); return them all."""
    assert set(values) <= set(SMTP_COLUMNS)
    stored = {k: json.dumps(list(v)) if k == "notify" else v for k, v in values.items()}
    sets = "".join(f"{k} = ?, " for k in stored)
    row = conn.execute(
        f"UPDATE mail_settings SET {sets}updated_at = ? WHERE id = 1 RETURNING {_SMTP}",
        (*stored.values(), now),
    ).fetchone()
    return _smtp(row)


# -- mailboxes ---------------------------------------------------------------------


def mailboxes(conn: sqlite3.Connection) -> list[MailboxRow]:
    """Return every mailbox, oldest first."""
    return [_box(r) for r in conn.execute(f"SELECT {_BOX} FROM mailboxes ORDER BY id")]


def mailbox(conn: sqlite3.Connection, mailbox_id: int) -> MailboxRow | None:
    """Return one mailbox."""
    row = conn.execute(f"SELECT {_BOX} FROM mailboxes WHERE id = ?", (mailbox_id,)).fetchone()
    return _box(row) if row is not None else None


def add_mailbox(conn: sqlite3.Connection, values: Mapping[str, Any], now: int) -> MailboxRow:
    """Add a mailbox (every name of BOX_COLUMNS it sets); return it."""
    assert set(values) <= set(BOX_COLUMNS)
    names = ", ".join(values)
    marks = ", ".join("?" * len(values))
    row = conn.execute(
        f"INSERT INTO mailboxes ({names}, created_at, updated_at) VALUES ({marks}, ?, ?)"
        f" RETURNING {_BOX}",
        (*values.values(), now, now),
    ).fetchone()
    return _box(row)


def change_mailbox(
    conn: sqlite3.Connection, mailbox_id: int, values: Mapping[str, Any], now: int
) -> MailboxRow | None:
    """Change some fields of a mailbox; None when there is no such mailbox."""
    assert set(values) <= set(BOX_COLUMNS)
    sets = "".join(f"{k} = ?, " for k in values)
    row = conn.execute(
        f"UPDATE mailboxes SET {sets}updated_at = ? WHERE id = ? RETURNING {_BOX}",
        (*values.values(), now, mailbox_id),
    ).fetchone()
    return _box(row) if row is not None else None


def set_status(conn: sqlite3.Connection, mailbox_id: int, status: str, now: int) -> None:
    """Record the outcome of a mailbox's last connection."""
    conn.execute(
        "UPDATE mailboxes SET status = ?, checked_at = ? WHERE id = ?",
        (status[:500], now, mailbox_id),
    )


# -- imported messages ----------------------------------------------------------------


def seen_uids(
    conn: sqlite3.Connection, mailbox_id: int, uidvalidity: int, uids: Iterable[int]
) -> set[int]:
    """Return which of these UIDs of a mailbox (under a UIDVALIDITY) were recorded."""
    wanted = list(uids)
    found: set[int] = set()
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        rows = conn.execute(
            "SELECT uid FROM mail_messages WHERE mailbox_id = ? AND uidvalidity = ?"
            f" AND uid IN ({', '.join('?' * len(part))})",
            (mailbox_id, uidvalidity, *part),
        )
        found.update(r[0] for r in rows)
    return found


def by_message_id(conn: sqlite3.Connection, message_id: str) -> Imported | None:
    """Return the first recorded message with this Message-ID (any mailbox)."""
    row = conn.execute(
        "SELECT id, outcome, ticket_id FROM mail_messages WHERE message_id = ? ORDER BY id LIMIT 1",
        (message_id,),
    ).fetchone()
    return Imported(row[0], row[1], row[2]) if row is not None else None


def record(conn: sqlite3.Connection, values: Mapping[str, Any]) -> int:
    """Record a message seen in a mailbox; return its row id."""
    names = ", ".join(values)
    marks = ", ".join("?" * len(values))
    row = conn.execute(
        f"INSERT INTO mail_messages ({names}) VALUES ({marks}) RETURNING id",
        tuple(values.values()),
    ).fetchone()
    return int(row[0])


def messages_of(conn: sqlite3.Connection, ticket_id: int) -> list[dict[str, Any]]:
    """Return the recorded messages of a ticket (sender, subject, html, attachments)."""
    rows = conn.execute(
        "SELECT id, sender, subject, html, attachments, at FROM mail_messages"
        " WHERE ticket_id = ? ORDER BY id",
        (ticket_id,),
    )
    return [
        {
            "id": r[0],
            "sender": r[1],
            "subject": r[2],
            "html": r[3],
            "attachments": json.loads(r[4]),
            "at": r[5],
        }
        for r in rows
    ]


def recent(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """Return the newest recorded messages (for the admin page), without bodies."""
    rows = conn.execute(
        "SELECT id, mailbox_id, sender, subject, outcome, reason, threaded_by, ticket_id, at"
        " FROM mail_messages ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    keys = ("id", "mailbox_id", "sender", "subject", "outcome", "reason", "threaded_by")
    return [{**dict(zip(keys, r[:7], strict=True)), "ticket_id": r[7], "at": r[8]} for r in rows]


# -- the outbox ----------------------------------------------------------------------


def enqueue(conn: sqlite3.Connection, values: Mapping[str, Any]) -> int:
    """Queue a rendered mail; return its id."""
    names = ", ".join(values)
    marks = ", ".join("?" * len(values))
    row = conn.execute(
        f"INSERT INTO mail_outbox ({names}) VALUES ({marks}) RETURNING id",
        tuple(values.values()),
    ).fetchone()
    return int(row[0])


def due(conn: sqlite3.Connection, now: int, limit: int) -> list[Outgoing]:
    """Return queued mails whose attempt is due, oldest first."""
    rows = conn.execute(
        f"SELECT {_OUT} FROM mail_outbox WHERE state = 'queued' AND next_at <= ?"
        " ORDER BY next_at, id LIMIT ?",
        (now, limit),
    )
    return [_out(r) for r in rows]


def next_due(conn: sqlite3.Connection) -> int | None:
    """Return when the next queued mail is due (UTC ms), or None."""
    row = conn.execute("SELECT min(next_at) FROM mail_outbox WHERE state = 'queued'").fetchone()
    return int(row[0]) if row[0] is not None else None


def claim(conn: sqlite3.Connection, out_id: int, attempt_id: str) -> bool:
    """Mark a queued mail as being sent by this attempt; False if it is not queued."""
    cur = conn.execute(
        "UPDATE mail_outbox SET state = 'sending', attempt_id = ?, attempts = attempts + 1"
        " WHERE id = ? AND state = 'queued'",
        (attempt_id, out_id),
    )
    return cur.rowcount == 1


def settle(
    conn: sqlite3.Connection,
    out_id: int,
    attempt_id: str,
    state: str,
    now: int,
    *,
    error: str = "",
    next_at: int | None = None,
) -> bool:
    """Record an attempt's outcome (sent, queued again, failed); False if another
    attempt owns the mail now."""
    cur = conn.execute(
        "UPDATE mail_outbox SET state = ?, last_error = ?, next_at = coalesce(?, next_at),"
        " sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END"
        " WHERE id = ? AND attempt_id = ? AND state = 'sending'",
        (state, error[:500], next_at, state, now, out_id, attempt_id),
    )
    return cur.rowcount == 1


def requeue_sending(conn: sqlite3.Connection, now: int) -> int:
    """Queue again the mails a stopped box was sending (at least once); return how many."""
    return conn.execute(
        "UPDATE mail_outbox SET state = 'queued', next_at = ?,"
        " last_error = 'the box stopped during this attempt' WHERE state = 'sending'",
        (now,),
    ).rowcount


def outbox(conn: sqlite3.Connection, limit: int) -> list[Outgoing]:
    """Return the newest mails of the outbox."""
    rows = conn.execute(f"SELECT {_OUT} FROM mail_outbox ORDER BY id DESC LIMIT ?", (limit,))
    return [_out(r) for r in rows]


def outgoing(conn: sqlite3.Connection, out_id: int) -> Outgoing | None:
    """Return one mail of the outbox."""
    row = conn.execute(f"SELECT {_OUT} FROM mail_outbox WHERE id = ?", (out_id,)).fetchone()
    return _out(row) if row is not None else None


def last_sent_id(conn: sqlite3.Connection, ticket_id: int) -> str | None:
    """Return the Message-ID of the newest mail queued for a ticket, or None."""
    row = conn.execute(
        "SELECT message_id FROM mail_outbox WHERE ticket_id = ? ORDER BY id DESC LIMIT 1",
        (ticket_id,),
    ).fetchone()
    return str(row[0]) if row is not None else None


def last_incoming_id(conn: sqlite3.Connection, ticket_id: int) -> str | None:
    """Return the Message-ID of the newest customer mail of a ticket, or None."""
    row = conn.execute(
        "SELECT message_id FROM mail_messages WHERE ticket_id = ? AND message_id != ''"
        " ORDER BY id DESC LIMIT 1",
        (ticket_id,),
    ).fetchone()
    return str(row[0]) if row is not None else None


# -- templates -----------------------------------------------------------------------


def templates(conn: sqlite3.Connection) -> dict[tuple[str, str], tuple[str, str]]:
    """Return the admin's templates: (kind, lang) -> (subject, body)."""
    rows = conn.execute("SELECT kind, lang, subject, body FROM mail_templates")
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def set_template(
    conn: sqlite3.Connection, kind: str, lang: str, subject: str, body: str, now: int
) -> None:
    """Store the admin's wording of a template."""
    conn.execute(
        "INSERT INTO mail_templates (kind, lang, subject, body, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, lang) DO UPDATE SET"
        " subject = excluded.subject, body = excluded.body, updated_at = excluded.updated_at",
        (kind, lang, subject, body, now),
    )


def reset_template(conn: sqlite3.Connection, kind: str, lang: str) -> None:
    """Go back to the built-in wording of a template."""
    conn.execute("DELETE FROM mail_templates WHERE kind = ? AND lang = ?", (kind, lang))


def ticket_lang(conn: sqlite3.Connection, ticket_id: int) -> str:
    """Return the language of the mailbox a ticket's first mail came in by ('' if none)."""
    row = conn.execute(
        "SELECT b.lang FROM mail_messages m JOIN mailboxes b ON b.id = m.mailbox_id"
        " WHERE m.ticket_id = ? ORDER BY m.id LIMIT 1",
        (ticket_id,),
    ).fetchone()
    return str(row[0]) if row is not None else ""


def addresses(conn: sqlite3.Connection) -> set[str]:
    """Return the box's own addresses (every mailbox's and the sender's), lower case."""
    found = {str(r[0]).lower() for r in conn.execute("SELECT address FROM mailboxes")}
    found.add(smtp(conn).from_address.lower())
    return found - {""}


# -- SLA notices to staff, and the satisfaction follow-up (core/mail_notices.py) -------


@dataclass(frozen=True, slots=True)
class NoticePrefs:
    """A console user's SLA notices by mail ('' address: none)."""

    user_id: int
    address: str
    sla_warning: bool
    sla_breach: bool


def notice_prefs(conn: sqlite3.Connection, user_ids: Iterable[int]) -> dict[int, NoticePrefs]:
    """Return the stored choices of these users (a user without a row is left out)."""
    wanted = list(dict.fromkeys(user_ids))
    found: dict[int, NoticePrefs] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        rows = conn.execute(
            "SELECT user_id, address, sla_warning, sla_breach FROM mail_notice_prefs"
            f" WHERE user_id IN ({', '.join('?' * len(part))})",
            part,
        )
        for r in rows:
            found[r[0]] = NoticePrefs(r[0], r[1], bool(r[2]), bool(r[3]))
    return found


def set_notice_prefs(conn: sqlite3.Connection, prefs: NoticePrefs, now: int) -> None:
    """Store a user's choice of SLA notices by mail."""
    conn.execute(
        "INSERT INTO mail_notice_prefs (user_id, address, sla_warning, sla_breach, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET address = excluded.address,"
        " sla_warning = excluded.sla_warning, sla_breach = excluded.sla_breach,"
        " updated_at = excluded.updated_at",
        (prefs.user_id, prefs.address, int(prefs.sla_warning), int(prefs.sla_breach), now),
    )


def queued_kind(conn: sqlite3.Connection, ticket_id: int, kind: str) -> bool:
    """Tell whether a mail of this kind was ever queued for a ticket."""
    row = conn.execute(
        "SELECT 1 FROM mail_outbox WHERE ticket_id = ? AND kind = ? LIMIT 1", (ticket_id, kind)
    ).fetchone()
    return row is not None
