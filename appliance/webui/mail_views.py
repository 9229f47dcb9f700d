"""The admin API of e-mail: the SMTP server, mailboxes, templates and connection tests
(admins only, LAN only by default; docs/email.md). Every change is audited."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from appliance.core.mail_admin import MailAdmin
from appliance.webui.audit_views import admin_actor
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.keys import BOX
from appliance.webui.team_views import int_path
from appliance.webui.wire import mail as wire
from appliance.webui.wire.chat import Id


def _mail(request: web.Request) -> MailAdmin:
    return request.app[BOX].mail


async def _state(request: web.Request, status: int = 200) -> web.Response:
    return reply(wire.state_out(await _mail(request).state()), status)


async def get_mail(request: web.Request) -> web.Response:
    """Return the SMTP server, mailboxes, templates and recent mail in and out."""
    return await _state(request)


async def put_smtp(request: web.Request) -> web.Response:
    """Change some SMTP settings."""
    change = await read_body(request, wire.SmtpChange)
    await _mail(request).change_smtp(admin_actor(request), msgspec.to_builtins(change))
    return await _state(request)


async def post_smtp_test(request: web.Request) -> web.Response:
    """Connect and log in to the SMTP server (nothing is sent)."""
    return reply(wire.check_out(await _mail(request).test_smtp(admin_actor(request))))


async def post_mailbox(request: web.Request) -> web.Response:
    """Add a mailbox."""
    new = await read_body(request, wire.MailboxNew)
    row = await _mail(request).add_mailbox(admin_actor(request), msgspec.to_builtins(new))
    return reply(wire.mailbox_out(row), 201)


async def patch_mailbox(request: web.Request) -> web.Response:
    """Change a mailbox."""
    mailbox_id = int_path(request, "mailbox_id")
    change = await read_body(request, wire.MailboxChange)
    row = await _mail(request).change_mailbox(
        admin_actor(request), mailbox_id, msgspec.to_builtins(change)
    )
    return reply(wire.mailbox_out(row))


async def post_mailbox_test(request: web.Request) -> web.Response:
    """Log in to a mailbox and open its folder."""
    mailbox_id = int_path(request, "mailbox_id")
    check = await _mail(request).test_mailbox(admin_actor(request), mailbox_id)
    return reply(wire.check_out(check))


async def put_template(request: web.Request) -> web.Response:
    """Change a mail template, or reset it to the built-in wording."""
    change = await read_body(request, wire.TemplateChange)
    await _mail(request).set_template(
        admin_actor(request),
        change.kind,
        change.lang,
        change.subject,
        change.body,
        reset=change.reset,
    )
    return await _state(request)


_ADMINS = "Admins only (else 403), from the LAN only."
_TAG = "admin"
_BASE = "/api/admin/mail"
_BOX: dict[str, Any] = {"mailbox_id": Id}
_CODES = (
    "422 codes: bad_host, bad_port (1-65535), bad_security (tls, starttls, none), "
    "bad_user, bad_password (over 256 characters), bad_address, bad_name, bad_folder, "
    "bad_lang (zh-CN, en), bad_notify, no_group; nothing changes."
)

CONTRACT = Contract(
    [
        Operation(
            "GET",
            _BASE,
            get_mail,
            "E-mail settings: the SMTP server, mailboxes, templates, recent mail in and out",
            _TAG,
            wire.MailSettings,
            errors=(401, 403),
            description=f"{_ADMINS} Passwords are never answered, only whether one is set.",
        ),
        Operation(
            "PUT",
            _BASE + "/smtp",
            put_smtp,
            "Change the SMTP settings",
            _TAG,
            wire.MailSettings,
            body=wire.SmtpChange,
            errors=(401, 403, 413, 422),
            description=f"{_ADMINS} Any subset of the fields. {_CODES} The password is "
            "stored sealed; '' removes it.",
        ),
        Operation(
            "POST",
            _BASE + "/smtp/test",
            post_smtp_test,
            "Test the SMTP server: connect, TLS, log in (nothing is sent)",
            _TAG,
            wire.ConnectionTest,
            errors=(401, 403),
            description=f"{_ADMINS} Always 200; `ok` and `code` say how it went.",
        ),
        Operation(
            "POST",
            _BASE + "/mailboxes",
            post_mailbox,
            "Add an IMAP mailbox",
            _TAG,
            wire.Mailbox,
            status=201,
            body=wire.MailboxNew,
            errors=(401, 403, 413, 422),
            description=f"{_ADMINS} The box starts reading it at once. {_CODES}",
        ),
        Operation(
            "PATCH",
            _BASE + "/mailboxes/{mailbox_id}",
            patch_mailbox,
            "Change an IMAP mailbox",
            _TAG,
            wire.Mailbox,
            body=wire.MailboxChange,
            path_types=_BOX,
            errors=(401, 403, 404, 413, 422),
            description=f"{_ADMINS} `enabled` false stops reading it. {_CODES}",
        ),
        Operation(
            "POST",
            _BASE + "/mailboxes/{mailbox_id}/test",
            post_mailbox_test,
            "Test a mailbox: connect, TLS, log in, open the folder",
            _TAG,
            wire.ConnectionTest,
            path_types=_BOX,
            errors=(401, 403, 404),
            description=f"{_ADMINS} 200 with `ok` and `code` (auth_failed for a wrong "
            "user name or password).",
        ),
        Operation(
            "PUT",
            _BASE + "/templates",
            put_template,
            "Change a mail template, or reset it",
            _TAG,
            wire.MailSettings,
            body=wire.TemplateChange,
            errors=(401, 403, 413, 422),
            description=f"{_ADMINS} Fields in braces: {{number}}, {{subject}}, {{name}}, "
            "{body}, {marker} (keep {marker}: it threads replies from clients that drop "
            "headers). 422 bad_template for an empty or too long text, or a reply or "
            "answered template without {body}.",
        ),
    ]
)
