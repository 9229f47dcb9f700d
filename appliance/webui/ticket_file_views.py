"""Files customers attached to their replies in the portal, for the console: a staff
member who may see the ticket downloads them (docs/portal.md)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import msgspec
from aiohttp import web

from appliance.core.errors import NotFound
from appliance.webui.console_views import staff
from appliance.webui.contract import Contract, Operation
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.wire.tickets import TicketId

Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


async def get_file(request: web.Request) -> web.StreamResponse:
    """Send a file of a ticket's reply, as a download."""
    sha = request.match_info["sha256"]
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise web.HTTPNotFound()
    actor = await staff(request, current_session(request))
    box = request.app[BOX]
    detail = await box.tickets.detail(actor, int_path(request, "ticket_id"))  # 404 if unseen
    found = next(
        (
            f
            for e in detail.events
            if e.kind == "reply"
            for f in e.data.get("files", ())
            if isinstance(f, dict) and f.get("sha256") == sha
        ),
        None,
    )
    path = box.files.path_of(sha)
    if found is None or not path.is_file():
        raise NotFound("no such file")
    # Always a download, never rendered: a customer's file is not our page's content.
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(str(found['name']))}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )


CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/console/tickets/{ticket_id}/files/{sha256}",
            get_file,
            "Download a file a customer attached to a reply (the portal)",
            "tickets",
            path_types={"ticket_id": TicketId, "sha256": Sha256},
            errors=(401, 404),
            media="application/octet-stream",
            description="404 for a ticket the user may not see, or a file not in its replies.",
        ),
    ]
)
