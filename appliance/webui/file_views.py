"""Pictures and files in chats over HTTP: uploads, reads, the limits; and the widget's
parts it loads on first use.

An upload's body is the file itself (no multipart): the browser sends a File as is,
with its progress events, and the box streams it to disk (core/files.py). Reads answer
only the conversation's visitor (bearer token) or the console users who may see it;
anyone else gets 404. Each read says how to treat the bytes: its media type from the
content, `nosniff`, a `Content-Disposition` that makes anything but a picture a
download, and a sandboxing CSP should a browser render it anyway.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import msgspec
from aiohttp import web

from appliance.core.actors import Actor
from appliance.core.files import UploadIncomplete
from appliance.webui.assets import ASSETS, WIDGET_LATER_PARTS
from appliance.webui.audit_views import admin_actor
from appliance.webui.console_views import staff
from appliance.webui.contract import Contract, Operation, read_body, read_query, reply
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.visitor_views import visitor_actor
from appliance.webui.wire import chat
from appliance.webui.wire import files as wire
from appliance.webui.wire.chat import message_out

_CHUNK = 64 * 1024  # bytes read from the socket at a time
_SEND_CHUNK = 256 * 1024  # bytes per write of a file being read
_CACHE = "private, max-age=86400"  # s: a file never changes under its id
# Should a browser render a file anyway (an old one, a save-then-open), it runs nothing.
_FILE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
_LAZY_CACHE = "public, max-age=300"  # s, as the widget itself: upgrades reach visitors soon
# The widget's parts loaded on first use (ES modules, and the look's plain script), the
# only static files the visitor surface serves: /static/ is not reachable through the
# relay, so the widget must never load from there.
LAZY_PARTS = frozenset({"widget-files.js", "emoji-picker.js", "image-viewer.js", "widget-look.js"})
# And the files of static/widget/later/ (the rating form), with their strings filled in.
_LATER_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}\.js")
# The body's media types the document lists; any is taken (application/pdf, the Office
# types, application/zip...), and none is believed: the content decides.
_UPLOAD_TYPES = (
    "application/octet-stream",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
)


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    """Yield the request body; a connection lost on the way is a clear error."""
    try:
        async for chunk in request.content.iter_chunked(_CHUNK):
            yield chunk
    except (OSError, aiohttp.ClientPayloadError, asyncio.IncompleteReadError) as err:
        raise UploadIncomplete("the upload stopped before its end") from err
    except aiohttp.http_exceptions.HttpProcessingError as err:
        raise UploadIncomplete("the upload stopped before its end") from err


async def _upload(request: web.Request, actor: Actor) -> web.Response:
    query = read_query(request, wire.UploadQuery)
    message, repeat = await request.app[BOX].files.upload(
        request.match_info["conv_id"],
        actor,
        client_msg_id=query.client_msg_id,
        name=query.name,
        declared=request.headers.get("Content-Type", ""),
        length=request.content_length,
        body=_body(request),
    )
    return reply(chat.OneMessage(message_out(message)), 200 if repeat else 201)


def disposition(name: str, inline: bool) -> str:
    """Return a Content-Disposition with the name in ASCII and in UTF-8 (RFC 6266)."""
    fallback = "".join(c if " " <= c < "\x7f" and c not in '"\\%' else "_" for c in name)
    how = "inline" if inline else "attachment"
    return f"{how}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def _read(request: web.Request, actor: Actor) -> web.StreamResponse:
    query = read_query(request, wire.FileQuery)
    served = await request.app[BOX].files.find(
        request.match_info["conv_id"], request.match_info["file_id"], actor, thumb=query.thumb
    )
    headers = {
        "Content-Type": served.mime,
        "Content-Disposition": disposition(
            served.name, served.kind == "image" and not query.download
        ),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": _FILE_CSP,
        "Cache-Control": _CACHE,
    }
    return web.FileResponse(served.path, chunk_size=_SEND_CHUNK, headers=headers)


async def visitor_upload(request: web.Request) -> web.Response:
    """Send a file into the visitor's conversation."""
    return await _upload(request, visitor_actor(request))


async def visitor_file(request: web.Request) -> web.StreamResponse:
    """Read a file of the visitor's conversation."""
    return await _read(request, visitor_actor(request))


async def console_upload(request: web.Request) -> web.Response:
    """Send a file into a conversation the user owns or was invited into."""
    return await _upload(request, await staff(request, current_session(request)))


async def console_file(request: web.Request) -> web.StreamResponse:
    """Read a file of a conversation the user may see."""
    return await _read(request, await staff(request, current_session(request)))


async def visitor_limits(request: web.Request) -> web.Response:
    """Return what the box takes (size, formats)."""
    return reply(wire.limits_out(request.app[BOX].files.limits))


async def lazy_part(request: web.Request) -> web.Response:
    """Serve a part of the widget it loads on first use (the emoji picker, the rating form)."""
    name = request.match_info["name"]
    files = request.config_dict[ASSETS].files
    asset = files.get(name) if name in LAZY_PARTS else None
    if asset is None and _LATER_NAME.fullmatch(name):
        asset = files.get(WIDGET_LATER_PARTS + name)
    if asset is None:
        raise web.HTTPNotFound(reason="no such part")
    return asset.respond(request, _LAZY_CACHE)


async def moved_part(request: web.Request) -> web.Response:
    """Send a widget from before the one route (cached for minutes) to where its part is."""
    name = request.match_info["name"]
    if not _LATER_NAME.fullmatch(name):
        raise web.HTTPNotFound(reason="no such part")
    return web.Response(status=301, headers={"Location": f"/api/visitor/assets/{name}"})


async def get_limits(request: web.Request) -> web.Response:
    """Return the limits on files in chats."""
    return reply(wire.limits_out(request.app[BOX].files.limits))


async def put_limits(request: web.Request) -> web.Response:
    """Change the limits on files in chats."""
    change = await read_body(request, wire.FileLimitsChange)
    limits = await request.app[BOX].files.set_limits(
        msgspec.to_builtins(change), by=admin_actor(request)
    )
    return reply(wire.limits_out(limits))


_UPLOAD_ABOUT = (
    "The body is the file itself, sent as is (not multipart), with its media type as "
    "Content-Type. The answer comes once the file is stored and its message committed: "
    "201 the message with its `file`; 200 client_msg_id seen before, the original (the "
    "body is then not read). Codes: 413 file_too_large (the admin's limit, by "
    "Content-Length or as it streams), 415 type_not_allowed (a format the box or the "
    "admin does not take), 422 type_mismatch (the name or Content-Type claims another "
    "format than the content is), file_empty, image_invalid (a damaged picture), 400 "
    "upload_incomplete (the connection was lost: nothing is stored, send again with the "
    "same client_msg_id), 409 the conversation is closed, 429 too many uploads (per sender "
    "and address, and at most two at once each). Pictures are stored re-encoded, without "
    "EXIF, XMP or comments."
)
_READ_ABOUT = (
    "The file's bytes with its media type (read from its content), "
    "X-Content-Type-Options: nosniff and Content-Disposition: inline for pictures, "
    "attachment for anything else or with download=1. thumb=1: a picture's smaller copy "
    "when it has one. 404 for a file of a conversation the caller may not read."
)
_ADMINS = "Admins only (else 403), from the LAN only."

CONTRACT = Contract(
    [
        Operation(
            "POST",
            "/api/visitor/conversations/{conv_id}/files",
            visitor_upload,
            "Send a picture or file into the visitor's conversation",
            "visitor",
            chat.OneMessage,
            status=201,
            query=wire.UploadQuery,
            upload=_UPLOAD_TYPES,
            also={200: chat.OneMessage},
            errors=(401, 404, 409, 413, 415, 422, 429),
            description=_UPLOAD_ABOUT,
        ),
        Operation(
            "GET",
            "/api/visitor/conversations/{conv_id}/files/{file_id}",
            visitor_file,
            "A picture or file of the visitor's conversation",
            "visitor",
            query=wire.FileQuery,
            media="application/octet-stream",
            errors=(401, 404, 422),
            description=_READ_ABOUT,
        ),
        Operation(
            "GET",
            "/api/visitor/files/limits",
            visitor_limits,
            "The size and formats the box takes (no token needed)",
            "visitor",
            wire.FileLimits,
            token=False,
        ),
        Operation(
            "GET",
            "/api/visitor/assets/{name}",
            lazy_part,
            "A part of the widget loaded on first use (emoji-picker.js, rating.js, ...)",
            "visitor",
            media="text/javascript",
            errors=(404,),
            description="ES modules the widget imports (widget-files.js, emoji-picker.js, "
            "image-viewer.js) and scripts it adds (widget-look.js, rating.js), from the "
            "box's origin.",
            token=False,
        ),
        Operation(
            "GET",
            "/api/visitor/widget/{name}",
            moved_part,
            "Moved to /api/visitor/assets/{name} (for a widget cached from before)",
            "visitor",
            status=301,
            errors=(404,),
            token=False,
        ),
        Operation(
            "POST",
            "/api/console/conversations/{conv_id}/files",
            console_upload,
            "Send a picture or file as the assigned agent or an invited colleague",
            "console",
            chat.OneMessage,
            status=201,
            query=wire.UploadQuery,
            upload=_UPLOAD_TYPES,
            also={200: chat.OneMessage},
            errors=(401, 403, 404, 409, 413, 415, 422, 429),
            description=_UPLOAD_ABOUT + " 403: the user is neither its agent nor invited.",
        ),
        Operation(
            "GET",
            "/api/console/conversations/{conv_id}/files/{file_id}",
            console_file,
            "A picture or file of a conversation the user may see",
            "console",
            query=wire.FileQuery,
            media="application/octet-stream",
            errors=(401, 404, 422),
            description=_READ_ABOUT,
        ),
        Operation(
            "GET",
            "/api/admin/files",
            get_limits,
            "Limits on pictures and files in chats",
            "admin",
            wire.FileLimits,
            errors=(401, 403),
            description=_ADMINS,
        ),
        Operation(
            "PUT",
            "/api/admin/files",
            put_limits,
            "Change the limits on pictures and files in chats",
            "admin",
            wire.FileLimits,
            body=wire.FileLimitsChange,
            errors=(401, 403, 413, 422),
            description=f"{_ADMINS} Any of the fields; kinds [] switches uploads off. A "
            "value out of range answers 422 and changes nothing.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the file routes."""
    CONTRACT.install(app)
