"""The mails of an e-mail ticket for the console: their sanitised HTML and the files
kept with them (to staff who may see the ticket; docs/email.md)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from aiohttp import web

from appliance.webui.console_views import staff
from appliance.webui.contract import Contract, Operation, reply
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.wire import wire_time
from appliance.webui.wire.tickets import TicketId

Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class MailFile(msgspec.Struct):
    """A file kept with a mail: an attachment, or an inline image (`cid` set)."""

    name: str
    type: str
    size: int
    sha256: str
    cid: str


class TicketMail(msgspec.Struct):
    """A mail of a ticket, with its sanitised HTML ('' when it had only text)."""

    id: int
    sender: str
    subject: str
    html: str
    files: list[MailFile]
    at: str


async def get_mails(request: web.Request) -> web.Response:
    """Return the mails of a ticket."""
    actor = await staff(request, current_session(request))
    found = await request.app[BOX].mail_in.of_ticket(actor, int_path(request, "ticket_id"))
    return reply(
        [
            TicketMail(
                m["id"],
                m["sender"],
                m["subject"],
                m["html"],
                [MailFile(**f) for f in m["attachments"]],
                wire_time(m["at"]),
            )
            for m in found
        ]
    )


async def get_file(request: web.Request) -> web.StreamResponse:
    """Send a file kept with a ticket's mail, as a download."""
    sha = request.match_info["sha256"]
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise web.HTTPNotFound()
    actor = await staff(request, current_session(request))
    path, name = await request.app[BOX].mail_in.file_of(actor, int_path(request, "ticket_id"), sha)
    # Always a download, never rendered: a customer's file is not our page's content.
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )


_BASE = "/api/console/tickets/{ticket_id}/mails"
_PATH: dict[str, Any] = {"ticket_id": TicketId}

CONTRACT = Contract(
    [
        Operation(
            "GET",
            _BASE,
            get_mails,
            "The mails of an e-mail ticket: sanitised HTML and kept files",
            "tickets",
            list[TicketMail],
            path_types=_PATH,
            errors=(401, 404),
            description="404 for a ticket the user may not see. The HTML is sanitised "
            "(no scripts, styles, forms or remote images) but is still the customer's.",
        ),
        Operation(
            "GET",
            _BASE + "/files/{sha256}",
            get_file,
            "Download a file kept with a ticket's mail",
            "tickets",
            path_types={**_PATH, "sha256": Sha256},
            errors=(401, 404),
            media="application/octet-stream",
            description="Always sent as an attachment (application/octet-stream, nosniff).",
        ),
    ]
)
