"""The admin's side of e-mail: the SMTP server, the mailboxes, the templates, and the
connection tests. Passwords are sealed (core/backup_settings.Sealer, a key of their
own) and never answered; every change is audited in its own transaction."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from appliance.core import audit, mail_templates
from appliance.core.backup_settings import Sealer
from appliance.core.clock import now_ms
from appliance.core.contact import normal_email
from appliance.core.db import Database
from appliance.core.errors import InvalidInput, NotFound
from appliance.core.mail_in import MailIn
from appliance.core.mail_out import NOTICES, Check, MailOut
from appliance.core.store import mail as store
from appliance.core.store import routing as routing_store
from appliance.core.store.mail import MailboxRow, Outgoing, SmtpRow

SECURITY = ("tls", "starttls", "none")
PASSWORD_MAX = 256
SEAL_INFO = b"callbox mail credentials v1"
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[[0-9a-fA-F:.]+\]$")
OUTBOX_SHOWN = 50
MESSAGES_SHOWN = 50


def bad(code: str, message: str) -> InvalidInput:
    """Return a 422 with its own code (the admin page names the field by it)."""
    err = InvalidInput(message)
    err.code = code
    return err


@dataclass(frozen=True, slots=True)
class MailState:
    """Everything the admin page shows of e-mail (no password)."""

    smtp: SmtpRow
    mailboxes: list[MailboxRow]
    templates: dict[tuple[str, str], tuple[str, str]]
    outbox: list[Outgoing]
    messages: list[dict[str, Any]]


def _host(value: Any) -> str:
    host = str(value).strip()
    if not _HOST.match(host):
        raise bad("bad_host", "host must be a host name or an address, such as mail.example.com")
    return host


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise bad("bad_port", "port must be a number from 1 to 65535")
    return value


def _security(value: Any) -> str:
    if value not in SECURITY:
        raise bad("bad_security", f"security must be one of {', '.join(SECURITY)}")
    return str(value)


def _address(value: Any, *, required: bool) -> str:
    text = str(value).strip()
    if not text and not required:
        return ""
    found = normal_email(text)
    if not found:
        raise bad("bad_address", f"{text[:60]!r} is not an e-mail address")
    return found


def _text(value: Any, code: str, what: str, most: int, *, required: bool = False) -> str:
    text = str(value).strip()
    if len(text) > most or (required and not text) or any(ord(c) < 32 for c in text):
        raise bad(code, f"{what} is {'1' if required else '0'} to {most} characters of one line")
    return text


class MailAdmin:
    """Change and test the e-mail settings."""

    def __init__(
        self,
        db: Database,
        sealer: Sealer,
        mail_in: MailIn,
        mail_out: MailOut,
        *,
        clock: Any = now_ms,
    ) -> None:
        self._db = db
        self._sealer = sealer
        self._in = mail_in
        self._out = mail_out
        self._now = clock

    async def state(self) -> MailState:
        """Return the settings, mailboxes, templates and recent traffic."""

        def read(conn: sqlite3.Connection) -> MailState:
            return MailState(
                store.smtp(conn),
                store.mailboxes(conn),
                store.templates(conn),
                store.outbox(conn, OUTBOX_SHOWN),
                store.recent(conn, MESSAGES_SHOWN),
            )

        return await self._db.read(read)

    async def change_smtp(self, by: audit.Actor, fields: Mapping[str, Any]) -> SmtpRow:
        """Change some SMTP settings (an empty password removes it)."""
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "host":
                values["smtp_host"] = _host(value) if str(value).strip() else ""
            elif name == "port":
                values["smtp_port"] = _port(value)
            elif name == "security":
                values["smtp_security"] = _security(value)
            elif name == "user":
                values["smtp_user"] = _text(value, "bad_user", "user", 256)
            elif name == "password":
                secret = str(value)
                if len(secret) > PASSWORD_MAX:
                    raise bad("bad_password", f"a password is at most {PASSWORD_MAX} characters")
                values["smtp_sealed"] = self._sealer.seal(secret) if secret else None
            elif name == "from_address":
                values["from_address"] = _address(value, required=False)
            elif name == "from_name":
                values["from_name"] = _text(value, "bad_name", "from_name", 64)
            elif name == "notify":
                chosen = list(dict.fromkeys(value))
                if any(n not in NOTICES for n in chosen):
                    raise bad("bad_notify", f"notify names some of {', '.join(NOTICES)}")
                values["notify"] = chosen
        now = self._now()

        def job(conn: sqlite3.Connection) -> SmtpRow:
            row = store.change_smtp(conn, values, now)
            audit.record(conn, by, "mail.smtp", "", {"fields": sorted(fields)})
            return row

        row: SmtpRow = await self._db.write(job)
        self._out.wake()  # mail may have waited for a server
        return row

    def _box_values(self, conn: sqlite3.Connection, fields: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "name":
                values[name] = _text(value, "bad_name", "name", 64, required=True)
            elif name == "address":
                values[name] = _address(value, required=True)
            elif name == "host":
                values[name] = _host(value)
            elif name == "port":
                values[name] = _port(value)
            elif name == "security":
                values[name] = _security(value)
            elif name == "username":
                values[name] = _text(value, "bad_user", "username", 256, required=True)
            elif name == "password":
                secret = str(value)
                if len(secret) > PASSWORD_MAX:
                    raise bad("bad_password", f"a password is at most {PASSWORD_MAX} characters")
                values["sealed"] = self._sealer.seal(secret) if secret else None
            elif name == "folder":
                values[name] = _text(value, "bad_folder", "folder", 200, required=True)
            elif name == "lang":
                if value not in mail_templates.LANGS:
                    raise bad("bad_lang", f"lang must be one of {', '.join(mail_templates.LANGS)}")
                values[name] = value
            elif name == "group_id":
                if value is not None and not routing_store.group_exists(conn, value):
                    raise bad("no_group", "no such group")
                values[name] = value
            elif name == "enabled":
                values[name] = int(bool(value))
        return values

    async def add_mailbox(self, by: audit.Actor, fields: Mapping[str, Any]) -> MailboxRow:
        """Add a mailbox; its watcher starts."""
        now = self._now()

        def job(conn: sqlite3.Connection) -> MailboxRow:
            row = store.add_mailbox(conn, self._box_values(conn, fields), now)
            audit.record(
                conn, by, "mail.mailbox_add", row.name, {"id": row.id, "address": row.address}
            )
            return row

        row: MailboxRow = await self._db.write(job)
        await self._in.reload()
        return row

    async def change_mailbox(
        self, by: audit.Actor, mailbox_id: int, fields: Mapping[str, Any]
    ) -> MailboxRow:
        """Change a mailbox (enabled false stops reading it); its watcher restarts."""
        now = self._now()

        def job(conn: sqlite3.Connection) -> MailboxRow:
            values = self._box_values(conn, fields)
            row = store.change_mailbox(conn, mailbox_id, values, now)
            if row is None:
                raise NotFound("no such mailbox")
            audit.record(
                conn, by, "mail.mailbox_change", row.name, {"id": row.id, "fields": sorted(fields)}
            )
            return row

        row: MailboxRow = await self._db.write(job)
        await self._in.reload()
        return row

    async def set_template(
        self, by: audit.Actor, kind: str, lang: str, subject: str, body: str, *, reset: bool
    ) -> None:
        """Store the admin's wording of a template, or go back to the built-in one."""
        if reset:
            if kind not in mail_templates.KINDS or lang not in mail_templates.LANGS:
                raise bad("bad_template", "no such template")
        else:
            try:
                subject, body = mail_templates.check(kind, lang, subject, body)
            except InvalidInput as err:
                raise bad("bad_template", err.message) from err
        now = self._now()

        def job(conn: sqlite3.Connection) -> None:
            if reset:
                store.reset_template(conn, kind, lang)
            else:
                store.set_template(conn, kind, lang, subject, body, now)
            audit.record(conn, by, "mail.template", f"{kind}/{lang}", {"reset": reset})

        await self._db.write(job)

    async def test_mailbox(self, by: audit.Actor, mailbox_id: int) -> Check:
        """Log in to a saved mailbox and open its folder."""
        box = await self._db.read(lambda conn: store.mailbox(conn, mailbox_id))
        if box is None:
            raise NotFound("no such mailbox")
        check = await self._in.test(box)
        await self._tested(by, "mail.mailbox_test", box.name, check)
        return check

    async def test_smtp(self, by: audit.Actor) -> Check:
        """Connect and log in to the SMTP server (nothing is sent)."""
        smtp = await self._db.read(store.smtp)
        check = await self._out.test(smtp)
        await self._tested(by, "mail.smtp_test", smtp.host, check)
        return check

    async def _tested(self, by: audit.Actor, action: str, target: str, check: Check) -> None:
        def job(conn: sqlite3.Connection) -> None:
            audit.record(conn, by, action, target, {"ok": check.ok, "code": check.code})

        await self._db.write(job)


def with_password_state(row: MailboxRow) -> MailboxRow:
    """Return a mailbox row without its sealed password (for answers)."""
    return replace(row, sealed=b"" if row.sealed else None)
