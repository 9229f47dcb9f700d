"""The company's look: its settings page with a live preview (overseers), its API, the
logo and staff photos as the widget loads them, and a user's own photo.

Pictures arrive as the raw request body (no multipart): at most images.UPLOAD_MAX
bytes, their type read from the bytes. They are served with nosniff, a sandboxing CSP
and a strong ETag: the logo under a URL that changes with it (cached for good), a
photo under the user's id (revalidated after a few minutes).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
from aiohttp import web

from appliance.core import brand as core
from appliance.core import images
from appliance.webui.audit_views import admin_actor
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.keys import BOX
from appliance.webui.pages import render
from appliance.webui.security import current_session
from appliance.webui.wire import brand as wire

_TAG = "brand"
_LOGO_CACHE = "public, max-age=31536000, immutable"  # its URL changes with the logo
_AVATAR_CACHE = "public, max-age=300"  # s: a new photo reaches visitors within minutes
_CHUNK = 64 * 1024  # bytes read from the socket at a time
# A picture is never a document: nothing in it may run, even opened on its own.
_PICTURE_CSP = "default-src 'none'; sandbox"
# The preview page frames the real widget: it draws its styles in a <style> of its own
# shadow root, and the settings page (same origin) frames it.
_PREVIEW_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; "
    "form-action 'none'"
)
_PICTURE_ERRORS = (
    "422 image_too_large: over 512 KB or 4096×4096 pixels; image_type: not a PNG, JPEG or "
    "WebP by its content (the name and Content-Type do not count); image_invalid: empty, "
    "damaged or cut short. The picture is decoded and re-encoded before it is stored."
)
_UPLOAD_TYPES = ("image/png", "image/jpeg", "image/webp", "application/octet-stream")


async def read_picture(request: web.Request) -> bytes:
    """Read an uploaded picture's bytes, refusing one over the limit before storing any."""
    limit = images.UPLOAD_MAX
    too_large = images.ImageTooLarge(f"the picture is over {limit // 1024} KB")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    data = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):
        data += chunk
        if len(data) > limit:
            raise too_large
    return bytes(data)


def _look(request: web.Request) -> web.Response:
    return reply(wire.OneLook(wire.look_out(request.app[BOX].brand.current())))


async def brand_page(request: web.Request) -> web.Response:
    """Show the look's settings beside a live preview of the widget."""
    context = {
        "limits": {
            "name": core.NAME_MAX,
            "welcome": core.WELCOME_MAX,
            "label": core.LABEL_MAX,
            "offset_x": core.OFFSET_X_MAX,
            "offset_y": core.OFFSET_Y_MAX,
            "open_after": core.OPEN_AFTER_MAX,
            "upload_kb": images.UPLOAD_MAX // 1024,
            "contrast": core.CONTRAST_MIN,
        },
        "widget_url": f"{request.scheme}://{request.host}/widget.js",
    }
    return render(request, "brand.html", context)


async def preview_page(request: web.Request) -> web.Response:
    """A stand-in web page that embeds the real widget, framed by the settings page."""
    response = render(request, "brand_preview.html")
    response.headers["Content-Security-Policy"] = _PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


async def get_look(request: web.Request) -> web.Response:
    """Return the look as it stands."""
    return _look(request)


async def put_look(request: web.Request) -> web.Response:
    """Replace the look (not the logo)."""
    change = await read_body(request, wire.LookChange)
    await request.app[BOX].brand.update(msgspec.to_builtins(change), by=admin_actor(request))
    return _look(request)


async def put_logo(request: web.Request) -> web.Response:
    """Store a new logo (the raw body), checked and re-encoded."""
    data = await read_picture(request)
    await request.app[BOX].brand.set_logo(data, by=admin_actor(request))
    return _look(request)


async def delete_logo(request: web.Request) -> web.Response:
    """Go back to no logo."""
    await request.app[BOX].brand.remove_logo(by=admin_actor(request))
    return _look(request)


async def _picture(
    request: web.Request, path: Path, etag: str, media: str, cache: str
) -> web.Response:
    headers = {
        "Cache-Control": cache,
        "ETag": etag,
        "Content-Security-Policy": _PICTURE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "inline",
    }
    tags = [
        t.strip().removeprefix("W/") for t in request.headers.get("If-None-Match", "").split(",")
    ]
    if etag in tags:
        return web.Response(status=304, headers=headers)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise web.HTTPNotFound(reason="no such picture") from None
    return web.Response(body=data, content_type=media, headers=headers)


async def get_logo(request: web.Request) -> web.Response:
    """Serve the logo; its URL names its content, so it may be cached for good."""
    digest = request.match_info["digest"]
    path = request.app[BOX].brand.logo_path(digest)
    if path is None:
        raise web.HTTPNotFound(reason="no such logo")
    return await _picture(request, path, f'"{digest}"', "image/png", _LOGO_CACHE)


async def get_avatar(request: web.Request) -> web.Response:
    """Serve a console user's photo (visitors see it when that user answers)."""
    try:
        user_id = int(request.match_info["user_id"])
    except ValueError:
        raise web.HTTPNotFound(reason="no such photo") from None
    found = request.app[BOX].brand.avatar(user_id)
    if found is None:
        raise web.HTTPNotFound(reason="no such photo")
    path, digest = found
    return await _picture(request, path, f'"{digest}"', "image/jpeg", _AVATAR_CACHE)


def _avatar_out(request: web.Request, user_id: int) -> web.Response:
    found = request.app[BOX].brand.avatar(user_id)
    url = f"/api/visitor/avatars/{user_id}?v={found[1]}" if found else ""
    return reply(wire.Avatar(url))


async def get_my_avatar(request: web.Request) -> web.Response:
    """Return the URL of the user's own photo ("" without one)."""
    return _avatar_out(request, current_session(request).user.id)


async def put_my_avatar(request: web.Request) -> web.Response:
    """Store the user's own photo (the raw body), checked, cropped and re-encoded."""
    user_id = current_session(request).user.id
    data = await read_picture(request)
    await request.app[BOX].brand.set_avatar(user_id, data)
    return _avatar_out(request, user_id)


async def delete_my_avatar(request: web.Request) -> web.Response:
    """Remove the user's own photo."""
    user_id = current_session(request).user.id
    await request.app[BOX].brand.remove_avatar(user_id)
    return _avatar_out(request, user_id)


_OVERSEERS = "Supervisors and admins (else 403); recorded in the audit log."

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/console/brand",
            brand_page,
            "The widget's look, with a live preview (overseers)",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            "/console/brand/preview",
            preview_page,
            "A stand-in page that embeds the widget, for the settings page's preview",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            "/api/console/brand",
            get_look,
            "The widget's look",
            _TAG,
            wire.OneLook,
            errors=(401, 403),
            description="Supervisors and admins (else 403).",
        ),
        Operation(
            "PUT",
            "/api/console/brand",
            put_look,
            "Replace the widget's look (the logo has its own operations)",
            _TAG,
            wire.OneLook,
            body=wire.LookChange,
            errors=(401, 403, 413, 422),
            description=f"{_OVERSEERS} 422 color_invalid: not #rrggbb or #rgb; "
            "color_low_contrast: the chosen text colour on it is under WCAG AA's 4.5:1 "
            "(auto always picks a readable one); invalid: another field out of bounds.",
        ),
        Operation(
            "PUT",
            "/api/console/brand/logo",
            put_logo,
            "Upload the logo (the body is the picture)",
            _TAG,
            wire.OneLook,
            upload=_UPLOAD_TYPES,
            errors=(401, 403, 422),
            description=f"{_OVERSEERS} {_PICTURE_ERRORS} Stored as a PNG within 512×160 px.",
        ),
        Operation(
            "DELETE",
            "/api/console/brand/logo",
            delete_logo,
            "Remove the logo",
            _TAG,
            wire.OneLook,
            errors=(401, 403),
            description=_OVERSEERS,
        ),
        Operation(
            "GET",
            "/api/visitor/logo/{digest}",
            get_logo,
            "The company's logo (PNG), under a URL that changes with it",
            "visitor",
            media="image/png",
            errors=(404,),
            token=False,
        ),
        Operation(
            "GET",
            "/api/visitor/avatars/{user_id}",
            get_avatar,
            "A console user's photo (JPEG), shown to visitors when they answer",
            "visitor",
            path_types={"user_id": int},
            media="image/jpeg",
            errors=(404,),
            token=False,
        ),
        Operation(
            "GET",
            "/api/console/account/avatar",
            get_my_avatar,
            "The URL of your own photo (empty without one)",
            "account",
            wire.Avatar,
            errors=(401,),
        ),
        Operation(
            "PUT",
            "/api/console/account/avatar",
            put_my_avatar,
            "Upload your own photo (the body is the picture)",
            "account",
            wire.Avatar,
            upload=_UPLOAD_TYPES,
            errors=(401, 422),
            description=f"{_PICTURE_ERRORS} Cropped square, stored as a 256 px JPEG.",
        ),
        Operation(
            "DELETE",
            "/api/console/account/avatar",
            delete_my_avatar,
            "Remove your own photo",
            "account",
            wire.Avatar,
            errors=(401,),
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the look's pages and API."""
    CONTRACT.install(app)
