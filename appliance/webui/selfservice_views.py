"""Self-service before a chat over HTTP: the widget's suggested articles; for staff,
the deflection figure, the pages an article is suggested on, a rendered preview of an
article body and the upload of pictures for articles."""

from __future__ import annotations

from aiohttp import web

from appliance.core import article_images, article_render, images
from appliance.core.article_render import IMAGE_PATH
from appliance.webui.console_views import staff
from appliance.webui.contract import Contract, Operation, read_body, read_query, reply
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.visitor_views import client_address, visitor_id
from appliance.webui.wire import selfservice as wire
from appliance.webui.wire import wire_time
from appliance.webui.wire.knowledge import Id

_TAG = "knowledge"
_CHUNK = 64 * 1024  # bytes read from the socket at a time
_UPLOAD_TYPES = ("image/png", "image/jpeg", "image/webp", "application/octet-stream")


async def suggested(request: web.Request) -> web.Response:
    """Articles to offer on the visitor's page before a chat."""
    box = request.app[BOX]
    box.limits.page_view(visitor_id(request), client_address(request))
    query = read_query(request, wire.SuggestedQuery)
    found = await box.selfservice.suggested(query.path, query.limit)
    return reply(wire.suggested_out(found))


async def deflection(request: web.Request) -> web.Response:
    """How many self-serving visitors started no chat within the window."""
    query = read_query(request, wire.DeflectionQuery)
    report = await request.app[BOX].selfservice.deflection(query.days)
    c = report.counts
    return reply(
        wire.Deflection(
            wire_time(report.since),
            wire_time(report.until),
            report.window,
            c.visitors,
            c.deflected,
            c.chatted,
            c.pending,
            report.rate,
        )
    )


async def get_pages(request: web.Request) -> web.Response:
    """The page prefixes an article is suggested on."""
    found = await request.app[BOX].selfservice.pages(int_path(request, "article_id"))
    return reply(wire.Pages(found))


async def put_pages(request: web.Request) -> web.Response:
    """Replace the page prefixes an article is suggested on."""
    body = await read_body(request, wire.PagesInput)
    box = request.app[BOX]
    actor = await staff(request, current_session(request))
    found = await box.selfservice.set_pages(
        actor, await box.knowledge.may_review(actor), int_path(request, "article_id"), body.prefixes
    )
    return reply(wire.Pages(found))


async def preview(request: web.Request) -> web.Response:
    """An article body as readers will see it."""
    body = await read_body(request, wire.PreviewInput)
    return reply(wire.Preview(await article_render.render_off_loop(body.body)))


async def _read_picture(request: web.Request) -> bytes:
    limit = article_images.UPLOAD_MAX
    too_large = images.ImageTooLarge(f"the picture is over {limit // (1024 * 1024)} MB")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    data = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):
        data += chunk
        if len(data) > limit:
            raise too_large
    return bytes(data)


async def upload_image(request: web.Request) -> web.Response:
    """Store a picture for articles; answer the Markdown that shows it."""
    query = read_query(request, wire.UploadQuery)
    actor = await staff(request, current_session(request))
    stored = await request.app[BOX].article_images.add(actor, await _read_picture(request))
    return reply(
        wire.UploadedImage(
            stored.name,
            IMAGE_PATH + stored.name,
            article_images.markdown_of(stored, query.alt),
            stored.media_type,
            stored.width,
            stored.height,
            stored.bytes,
        ),
        201,
    )


_KB = "/api/console/kb"

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/visitor/kb/suggested",
            suggested,
            "Articles to offer on the visitor's page before a chat",
            _TAG,
            wire.Suggested,
            query=wire.SuggestedQuery,
            errors=(401, 422, 429),
            description="Public, published articles only: those a reviewer placed on a "
            "prefix of `path` (whole segments), the most particular first, then the most "
            "helpful and most read. Counts against the visitor's page-view allowance.",
        ),
        Operation(
            "GET",
            _KB + "/deflection",
            deflection,
            "Self-service deflection: visitors who found their answer without a chat",
            _TAG,
            wire.Deflection,
            query=wire.DeflectionQuery,
            errors=(401, 403, 422),
            description="Supervisors and admins only. A visitor who searched, read an "
            "article or voted in the widget during the last `days` days and started no chat "
            "within the window (setting kb_deflection_window, 600 s by default) after the "
            "first of those counts as deflected (docs/knowledge-base.md).",
        ),
        Operation(
            "GET",
            _KB + "/articles/{article_id}/pages",
            get_pages,
            "The pages of the company's site an article is suggested on",
            _TAG,
            wire.Pages,
            path_types={"article_id": Id},
            errors=(401, 404),
        ),
        Operation(
            "PUT",
            _KB + "/articles/{article_id}/pages",
            put_pages,
            "Place an article on pages of the company's site (path prefixes)",
            _TAG,
            wire.Pages,
            body=wire.PagesInput,
            path_types={"article_id": Id},
            errors=(401, 403, 404, 413, 422),
            description="Reviewers only (403 otherwise). 422 bad_prefix: a prefix that is "
            "not a path from '/', or more than 20. Only a public, published article is ever "
            "suggested, whatever its pages.",
        ),
        Operation(
            "POST",
            _KB + "/preview",
            preview,
            "Render an article body (Markdown) as readers will see it",
            _TAG,
            wire.Preview,
            body=wire.PreviewInput,
            errors=(401, 413, 422),
        ),
        Operation(
            "POST",
            _KB + "/images",
            upload_image,
            "Upload a picture for articles (the body is the picture)",
            _TAG,
            wire.UploadedImage,
            status=201,
            query=wire.UploadQuery,
            upload=_UPLOAD_TYPES,
            errors=(401, 413, 422),
            description="Any staff member. 422 image_too_large: over 5 MB; image_type: not a "
            "PNG, JPEG or WebP by its content; image_invalid: empty or damaged. Decoded and "
            "written anew (no metadata) and served at `url` (/help/images/<name>).",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register self-service's routes."""
    CONTRACT.install(app)
