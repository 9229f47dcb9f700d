"""The console's notifications over HTTP: the signed-in user's own list, and marking read.

Each user reads and marks only their own notifications: the user comes from the
session, never from the request.
"""

from __future__ import annotations

from aiohttp import web

from appliance.core.errors import InvalidInput
from appliance.webui.contract import Contract, Operation, read_body, read_query, reply
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.wire import notifications as wire

_TAG = "console"
_EVERY = 2**53 - 1  # "all": every id there is


async def list_notices(request: web.Request) -> web.Response:
    """The user's notifications, newest first, with the number unread."""
    query = read_query(request, wire.NoticesQuery)
    user = current_session(request).user
    found = await request.app[BOX].notifications.page(user.id, query.before, query.limit)
    return reply(
        wire.Notices([wire.notice_out(n) for n in found.notices], found.unread, found.more)
    )


async def read_notices(request: web.Request) -> web.Response:
    """Mark the user's notifications read: up to an id, by id, or all."""
    body = await read_body(request, wire.NoticesRead)
    given = [body.up_to is not None, body.ids is not None, body.all]
    if sum(given) != 1:
        raise InvalidInput("give exactly one of up_to, ids or all (true)")
    if body.ids is not None and not body.ids:
        raise InvalidInput("ids must name at least one notification")
    user = current_session(request).user
    unread = await request.app[BOX].notifications.mark_read(
        user.id, up_to=_EVERY if body.all else body.up_to, ids=body.ids or ()
    )
    return reply(wire.Unread(unread))


CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/console/notifications",
            list_notices,
            "The signed-in user's notifications, newest first, and how many are unread",
            _TAG,
            wire.Notices,
            query=wire.NoticesQuery,
            errors=(401, 422),
            description="A page of up to `limit` (at most 50); `before` an id pages on. "
            "Each user keeps their newest 200.",
        ),
        Operation(
            "POST",
            "/api/console/notifications/read",
            read_notices,
            "Mark the signed-in user's notifications read",
            _TAG,
            wire.Unread,
            body=wire.NoticesRead,
            errors=(401, 413, 422),
            description="Exactly one of `up_to` (every one up to this id), `ids` or "
            "`all`. Answers how many are still unread.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the notification routes."""
    CONTRACT.install(app)
