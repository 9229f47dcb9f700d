"""Knowledge-base tools over HTTP: articles suggested beside a chat, a resolved ticket
made a draft article, and articles imported and exported as Markdown in a zip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web

from appliance.core import kb_suggest, kb_transfer
from appliance.core.clock import now_ms
from appliance.webui.console_views import staff
from appliance.webui.contract import Contract, Operation, read_query, reply
from appliance.webui.keys import BOX, BOX_PROFILE
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.wire import kb_tools as wire
from appliance.webui.wire import knowledge as kb_wire

_TAG = "knowledge"
_REVIEWERS = "Reviewers only: supervisors, admins and named editors (403 otherwise)."
# A public article's page for visitors, on the box's public host (issue 14 item 3).
PUBLIC_ARTICLE_PATH = "/help/a/{id}"  # help_views serves it (the slug is optional)
_CHUNK = 1024 * 1024  # bytes of an upload read at a time


def public_url(request: web.Request, article_id: int) -> str:
    """Return a public article's address for visitors ('' without a public host)."""
    host = request.app[BOX_PROFILE].profile.public_host
    return f"https://{host}{PUBLIC_ARTICLE_PATH.format(id=article_id)}" if host else ""


async def suggest(request: web.Request) -> web.Response:
    """Published articles that may answer what the visitor last wrote."""
    query = read_query(request, wire.SuggestQuery)
    actor = await staff(request, current_session(request))
    found = await kb_suggest.suggest(request.app[BOX].db, query.text, actor, query.limit)
    return reply(
        wire.Suggestions(
            [
                wire.Suggestion(
                    s.article_id,
                    s.title,
                    s.audience,  # type: ignore[arg-type]
                    [kb_wire.Piece(p.text, p.mark) for p in s.snippet],
                    s.summary,
                    public_url(request, s.article_id) if s.audience == "public" else "",
                )
                for s in found
            ]
        )
    )


async def ticket_to_article(request: web.Request) -> web.Response:
    """Start a draft article from a resolved ticket: its subject and its answer."""
    actor = await staff(request, current_session(request))
    box = request.app[BOX]
    detail = await box.tickets.detail(actor, int_path(request, "ticket_id"))
    values = kb_transfer.ticket_draft(detail.ticket, list(detail.events))
    made = await box.knowledge.create(actor, values)
    return reply(kb_wire.detail_out(made), 201)


async def _upload(request: web.Request) -> AsyncIterator[bytes]:
    # Streamed past the app's client_max_size, which bounds only read(), post(), json().
    async for chunk in request.content.iter_chunked(_CHUNK):
        yield chunk


async def start_import(request: web.Request) -> web.Response:
    """Take a zip of Markdown articles and import it in the background."""
    length = request.content_length
    if length is not None and length > kb_transfer.UPLOAD_MAX:
        raise web.HTTPRequestEntityTooLarge(max_size=kb_transfer.UPLOAD_MAX, actual_size=length)
    actor = await staff(request, current_session(request))
    job = await request.app[BOX].kb_transfer.start_import(actor, _upload(request))
    return reply(wire.job_out(job), 202)


async def import_state(request: web.Request) -> web.Response:
    """The running or last import, with its progress and report."""
    job = request.app[BOX].kb_transfer.job
    return reply(wire.ImportState(None if job is None else wire.job_out(job)))


async def export(request: web.Request) -> web.StreamResponse:
    """Stream every article as Markdown files in a zip."""
    actor = await staff(request, current_session(request))
    transfer = request.app[BOX].kb_transfer
    articles = await transfer.export_articles(actor)  # 403 here, before the download
    stamp = datetime.fromtimestamp(now_ms() / 1000, tz=UTC).astimezone().strftime("%Y%m%d-%H%M")
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="callbox-articles-{stamp}.zip"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    sink = kb_transfer.ZipSink()
    with kb_transfer.open_zip(sink) as zf:
        for start in range(0, len(articles), kb_transfer.EXPORT_BATCH):
            batch = await transfer.export_batch(articles[start : start + kb_transfer.EXPORT_BATCH])
            for article, version, category in batch:
                for path, text in kb_transfer.markdown_files(article, version, category):
                    zf.writestr(path, text)
            await response.write(sink.take())
    await response.write(sink.take())  # the zip's directory, written on close
    await response.write_eof()
    return response


CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/console/kb/suggest",
            suggest,
            "Articles that may answer what a visitor wrote (beside a chat)",
            _TAG,
            wire.Suggestions,
            query=wire.SuggestQuery,
            errors=(401, 422),
            description="`text`: the visitor's last messages, at most 600 characters. The "
            "rarest of its words that the index holds are searched for as "
            "alternatives and ranked by bm25. Published articles only, internal and public; "
            "`url` is a public article's page for visitors.",
        ),
        Operation(
            "POST",
            "/api/console/tickets/{ticket_id}/to-article",
            ticket_to_article,
            "Start a draft article from a resolved ticket",
            _TAG,
            kb_wire.ArticleDetail,
            status=201,
            path_types={"ticket_id": kb_wire.Id},
            errors=(401, 404, 409),
            description="The ticket's subject becomes the title, its last public reply from "
            "staff the body; an internal draft that goes through review as any other. 404 "
            "for a ticket the user may not see; 409 `not_resolved` unless it is resolved or "
            "closed, `no_answer` when no staff member replied publicly.",
        ),
        Operation(
            "POST",
            "/api/console/kb/import",
            start_import,
            "Import articles from a zip of Markdown files",
            _TAG,
            wire.ImportJob,
            status=202,
            upload=("application/octet-stream",),
            errors=(401, 403, 409, 413, 422),
            description=f"{_REVIEWERS} The body is the zip itself (at most 64 MB). Refused "
            "whole with 422 `bad_zip` when it is not a zip, holds more than 20,000 files, "
            "unpacks to more than 256 MB or names a path outside it. Runs in the "
            "background: follow it with GET. The same file imported again changes nothing; "
            "a changed one becomes a new version. 409 `busy` while an import runs.",
        ),
        Operation(
            "GET",
            "/api/console/kb/import",
            import_state,
            "The running or last import: progress and report",
            _TAG,
            wire.ImportState,
            errors=(401,),
        ),
        Operation(
            "GET",
            "/api/console/kb/export",
            export,
            "Every article as Markdown files in a zip (streamed)",
            _TAG,
            media="application/zip",
            errors=(401, 403),
            description=f"{_REVIEWERS} One `<category>/<id>-<title>.md` per article (its "
            "newest version; front matter: title, category, audience, state) and a "
            "`.en.md` beside it for an English version. Importing it again changes nothing.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the knowledge-base tools' API."""
    CONTRACT.install(app)
