"""Shapes of the e-mail admin API: the SMTP server, mailboxes, templates, tests and
recent traffic. Passwords go in, never out (only whether one is set)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core.mail_admin import MailState
from appliance.core.mail_out import Check
from appliance.core.mail_templates import BUILT_IN
from appliance.core.store.mail import MailboxRow, Outgoing
from appliance.webui.wire import Time, wire_time

Host = Annotated[str, msgspec.Meta(max_length=255)]
Port = Annotated[int, msgspec.Meta(description="1 to 65535 (else 422 bad_port)")]
Security = Annotated[
    str, msgspec.Meta(max_length=16, description="tls, starttls or none (else 422 bad_security)")
]
User = Annotated[str, msgspec.Meta(max_length=256)]
Password = Annotated[str, msgspec.Meta(max_length=256)]
Address = Annotated[str, msgspec.Meta(max_length=254)]
Name = Annotated[str, msgspec.Meta(max_length=64)]
Folder = Annotated[str, msgspec.Meta(max_length=200)]
Lang = Annotated[str, msgspec.Meta(max_length=8, description="zh-CN or en")]
Notice = Annotated[
    str, msgspec.Meta(max_length=16, description="received, answered, resolved, satisfaction")
]
Kind = Literal[
    "reply", "received", "answered", "resolved", "refused", "transcript", "portal_link",
    "sla_warning", "sla_breach", "satisfaction", "report",
]  # fmt: skip
TemplateLang = Literal["zh-CN", "en"]


class Smtp(msgspec.Struct):
    """The SMTP server mail goes out through, and who it is from."""

    host: str
    port: int
    security: str
    user: str
    password_set: bool
    from_address: str
    from_name: str
    notify: list[str]  # the notifications the requester gets


class SmtpChange(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Any subset of the SMTP settings; an empty password removes it, host '' stops
    mail out (it waits in the outbox)."""

    host: Host | msgspec.UnsetType = msgspec.UNSET
    port: Port | msgspec.UnsetType = msgspec.UNSET
    security: Security | msgspec.UnsetType = msgspec.UNSET
    user: User | msgspec.UnsetType = msgspec.UNSET
    password: Password | msgspec.UnsetType = msgspec.UNSET
    from_address: Address | msgspec.UnsetType = msgspec.UNSET
    from_name: Name | msgspec.UnsetType = msgspec.UNSET
    notify: Annotated[list[Notice], msgspec.Meta(max_length=8)] | msgspec.UnsetType = msgspec.UNSET


class Mailbox(msgspec.Struct):
    """An IMAP mailbox the box reads; `status` is its last connection's outcome."""

    id: int
    name: str
    address: str
    host: str
    port: int
    security: str
    username: str
    password_set: bool
    folder: str
    lang: str
    group_id: int | None
    enabled: bool
    status: str
    checked_at: Time | None


class MailboxNew(msgspec.Struct, forbid_unknown_fields=True):
    """A mailbox to read."""

    name: Name
    address: Address
    host: Host
    username: User
    password: Password
    port: Port = 993
    security: Security = "tls"
    folder: Folder = "INBOX"
    lang: Lang = "zh-CN"
    group_id: int | None = None
    enabled: bool = True


class MailboxChange(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Any subset of a mailbox's fields; an empty password removes it."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType = msgspec.UNSET
    host: Host | msgspec.UnsetType = msgspec.UNSET
    port: Port | msgspec.UnsetType = msgspec.UNSET
    security: Security | msgspec.UnsetType = msgspec.UNSET
    username: User | msgspec.UnsetType = msgspec.UNSET
    password: Password | msgspec.UnsetType = msgspec.UNSET
    folder: Folder | msgspec.UnsetType = msgspec.UNSET
    lang: Lang | msgspec.UnsetType = msgspec.UNSET
    group_id: int | msgspec.UnsetType | None = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class Template(msgspec.Struct):
    """A mail's wording in one language; `custom` false: the built-in text."""

    kind: str
    lang: str
    subject: str
    body: str
    custom: bool


class TemplateChange(msgspec.Struct, forbid_unknown_fields=True):
    """The admin's wording of a template, or `reset` to the built-in one."""

    kind: Kind
    lang: TemplateLang
    subject: Annotated[str, msgspec.Meta(max_length=200)] = ""
    body: Annotated[str, msgspec.Meta(max_length=10000)] = ""
    reset: bool = False


class OutMail(msgspec.Struct):
    """A mail of the outbox (without its text)."""

    id: int
    kind: str
    ticket_id: int | None
    message_id: str
    recipient: str
    state: str  # queued, sending, sent, failed
    attempts: int
    next_at: Time | None
    last_error: str
    created_at: Time
    sent_at: Time | None


class InMail(msgspec.Struct):
    """A message seen in a mailbox and what became of it."""

    id: int
    mailbox_id: int
    sender: str
    subject: str
    outcome: str  # opened, replied, ignored, refused
    reason: str
    threaded_by: str  # token, subject, marker, ''
    ticket_id: int | None
    at: Time


class MailSettings(msgspec.Struct):
    """Everything the admin page shows of e-mail."""

    smtp: Smtp
    mailboxes: list[Mailbox]
    templates: list[Template]
    outbox: list[OutMail]
    messages: list[InMail]


class ConnectionTest(msgspec.Struct):
    """A connection test's outcome: `code` ok, auth_failed, connect_failed, tls_failed,
    timeout, folder_missing, not_configured or refused, and what the server said."""

    ok: bool
    code: str
    detail: str


def mailbox_out(row: MailboxRow) -> Mailbox:
    """Return a mailbox for the wire (no password)."""
    return Mailbox(
        row.id,
        row.name,
        row.address,
        row.host,
        row.port,
        row.security,
        row.username,
        row.sealed is not None,
        row.folder,
        row.lang,
        row.group_id,
        row.enabled,
        row.status,
        wire_time(row.checked_at),
    )


def _out_mail(row: Outgoing) -> OutMail:
    return OutMail(
        row.id,
        row.kind,
        row.ticket_id,
        row.message_id,
        row.recipient,
        row.state,
        row.attempts,
        wire_time(row.next_at) if row.state == "queued" else None,
        row.last_error,
        wire_time(row.created_at),
        wire_time(row.sent_at),
    )


def state_out(state: MailState) -> MailSettings:
    """Return the admin page's view of e-mail."""
    smtp = state.smtp
    templates = []
    for kind, langs in BUILT_IN.items():
        for lang, built_in in langs.items():
            own = state.templates.get((kind, lang))
            subject, body = own or built_in
            templates.append(Template(kind, lang, subject, body, own is not None))
    return MailSettings(
        smtp=Smtp(
            smtp.host,
            smtp.port,
            smtp.security,
            smtp.user,
            smtp.sealed is not None,
            smtp.from_address,
            smtp.from_name,
            list(smtp.notify),
        ),
        mailboxes=[mailbox_out(b) for b in state.mailboxes],
        templates=templates,
        outbox=[_out_mail(o) for o in state.outbox],
        messages=[
            InMail(
                m["id"],
                m["mailbox_id"],
                m["sender"],
                m["subject"],
                m["outcome"],
                m["reason"],
                m["threaded_by"],
                m["ticket_id"],
                wire_time(m["at"]),
            )
            for m in state.messages
        ],
    )


def check_out(check: Check) -> ConnectionTest:
    """Return a connection test's outcome for the wire."""
    return ConnectionTest(check.ok, check.code, check.detail)
