"""The knowledge base and search over HTTP: the console's article editor and its API,
staff search over articles, tickets and chats, and the visitors' public search."""

from __future__ import annotations

import msgspec
from aiohttp import web

from appliance.core import article_render
from appliance.webui.console_views import staff
from appliance.webui.contract import Contract, Operation, read_body, read_query, reply
from appliance.webui.keys import BOX
from appliance.webui.pages import render
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.visitor_views import client_address, visitor_id
from appliance.webui.wire import knowledge as wire
from appliance.webui.wire.team import Deleted

_TAG = "knowledge"
_REVIEWERS = "Reviewers only: supervisors, admins and named editors (403 otherwise)."
_ARTICLE = {"article_id": wire.Id}
_CATEGORY = {"category_id": wire.Id}


async def knowledge_page(request: web.Request) -> web.Response:
    """Show the knowledge base: articles by category and state, the editor, search."""
    return render(request, "knowledge.html")


# -- categories ----------------------------------------------------------------------


async def list_categories(request: web.Request) -> web.Response:
    """The categories in their order."""
    found = await request.app[BOX].knowledge.categories()
    return reply(wire.Categories([wire.category_out(c) for c in found]))


async def create_category(request: web.Request) -> web.Response:
    """Add a category."""
    body = await read_body(request, wire.CategoryInput)
    actor = await staff(request, current_session(request))
    made = await request.app[BOX].knowledge.save_category(actor, None, msgspec.to_builtins(body))
    return reply(wire.OneCategory(wire.category_out(made)), 201)


async def change_category(request: web.Request) -> web.Response:
    """Rename or move a category."""
    body = await read_body(request, wire.CategoryInput)
    actor = await staff(request, current_session(request))
    made = await request.app[BOX].knowledge.save_category(
        actor, int_path(request, "category_id"), msgspec.to_builtins(body)
    )
    return reply(wire.OneCategory(wire.category_out(made)))


async def delete_category(request: web.Request) -> web.Response:
    """Delete a category; its articles stay, without one."""
    actor = await staff(request, current_session(request))
    await request.app[BOX].knowledge.delete_category(actor, int_path(request, "category_id"))
    return reply(Deleted(True))


# -- articles ------------------------------------------------------------------------


async def list_articles(request: web.Request) -> web.Response:
    """A page of articles by category, state and audience, newest change first."""
    query = read_query(request, wire.ArticlesQuery)
    total, found = await request.app[BOX].knowledge.listing(
        category_id=query.category_id,
        state=query.state,
        audience=query.audience,
        limit=query.limit,
        offset=query.offset,
    )
    return reply(wire.Articles(total, [wire.article_out(a) for a in found]))


async def create_article(request: web.Request) -> web.Response:
    """Start an article as a draft."""
    body = await read_body(request, wire.ArticleInput)
    actor = await staff(request, current_session(request))
    values = msgspec.to_builtins(body)
    if body.audience is None:
        values.pop("audience", None)
    made = await request.app[BOX].knowledge.create(actor, values)
    return reply(wire.detail_out(made), 201)


async def get_article(request: web.Request) -> web.Response:
    """An article's newest version and its steps."""
    actor = await staff(request, current_session(request))
    found = await request.app[BOX].knowledge.detail(actor, int_path(request, "article_id"))
    return reply(wire.detail_out(found))


async def edit_article(request: web.Request) -> web.Response:
    """Save a new version over the one the editor started from."""
    body = await read_body(request, wire.ArticleChange)
    actor = await staff(request, current_session(request))
    values = msgspec.to_builtins(body)
    base = values.pop("base")
    for optional in ("audience", "category_id"):
        if values.get(optional) is None and optional in values:
            # Left out: unchanged. (A category is removed by deleting it.)
            values.pop(optional)
    found = await request.app[BOX].knowledge.edit(
        actor, int_path(request, "article_id"), base, values
    )
    return reply(wire.detail_out(found))


async def move_article(request: web.Request) -> web.Response:
    """Submit for review, approve, send back, archive or restore an article."""
    body = await read_body(request, wire.MoveInput)
    actor = await staff(request, current_session(request))
    found = await request.app[BOX].knowledge.move(
        actor, int_path(request, "article_id"), body.to, body.note
    )
    return reply(wire.detail_out(found))


async def list_versions(request: web.Request) -> web.Response:
    """Every version of an article, newest first."""
    found = await request.app[BOX].knowledge.versions(int_path(request, "article_id"))
    return reply(wire.Versions([wire.brief_out(v) for v in found]))


async def diff_versions(request: web.Request) -> web.Response:
    """What changed between two versions, field by field (unified diff lines)."""
    query = read_query(request, wire.DiffQuery)
    fields = await request.app[BOX].knowledge.diff(
        int_path(request, "article_id"), query.old, query.new
    )
    return reply(
        wire.Diff(
            query.old,
            query.new,
            [wire.FieldDiff(f.field, f.lines) for f in fields],  # type: ignore[arg-type]
        )
    )


async def vote_article(request: web.Request) -> web.Response:
    """A staff member's vote on a published article."""
    body = await read_body(request, wire.VoteInput)
    session = current_session(request)
    found = await request.app[BOX].knowledge.vote(
        f"u:{session.user.id}", int_path(request, "article_id"), body.helpful, public=False
    )
    return reply(wire.Voted(found.helpful, found.not_helpful))


async def list_contributors(request: web.Request) -> web.Response:
    """Contributors' points (知识奖赏), most first; or one user's."""
    query = read_query(request, wire.ContributorsQuery)
    found = await request.app[BOX].knowledge.contributors(query.user_id)
    return reply(
        wire.Contributors(
            [wire.Contributor(c.user_id, c.name, c.points, c.published, c.helpful) for c in found]
        )
    )


async def list_editors(request: web.Request) -> web.Response:
    """The users named editors."""
    found = await request.app[BOX].knowledge.editors()
    return reply(wire.Editors([wire.Editor(u, n) for u, n in found]))


async def set_editor(request: web.Request) -> web.Response:
    """Name a user an editor, or take it back."""
    body = await read_body(request, wire.EditorInput)
    actor = await staff(request, current_session(request))
    found = await request.app[BOX].knowledge.set_editor(
        actor, int_path(request, "user_id"), body.editor
    )
    return reply(wire.Editors([wire.Editor(u, n) for u, n in found]))


# -- search --------------------------------------------------------------------------


async def search(request: web.Request) -> web.Response:
    """Search articles, tickets and chats, each within what the user may see."""
    query = read_query(request, wire.SearchQuery)
    actor = await staff(request, current_session(request))
    kinds = [k.strip() for k in query.kinds.split(",") if k.strip()]
    found = await request.app[BOX].search.search(query.q, actor, kinds, query.limit)
    return reply(wire.results_out(found))


async def search_status(request: web.Request) -> web.Response:
    """The index: changes waiting, documents held, the backfill's progress."""
    return reply(wire.status_out(await request.app[BOX].search.status()))


# -- visitors ------------------------------------------------------------------------


async def public_search(request: web.Request) -> web.Response:
    """Search the published public articles (a visitor's search)."""
    box = request.app[BOX]
    vid = visitor_id(request)
    box.limits.page_view(vid, client_address(request))
    query = read_query(request, wire.PublicSearchQuery)
    found = await box.search.search(query.q, None, ("article",), query.limit)
    if found.terms:  # self-service before a chat (core/selfservice.py)
        await box.selfservice.record(vid, "search")
    return reply(wire.results_out(found))


async def public_article(request: web.Request) -> web.Response:
    """A published public article; the read is counted."""
    box = request.app[BOX]
    vid = visitor_id(request)
    box.limits.page_view(vid, client_address(request))
    article_id = int_path(request, "article_id")
    article, version = await box.knowledge.published(article_id, public=True)
    box.knowledge.count_view(article.id)
    await box.selfservice.record(vid, "read", article.id)
    html = await article_render.render_off_loop(version.body)
    html_en = await article_render.render_off_loop(version.body_en) if version.body_en else ""
    return reply(wire.OnePublicArticle(wire.public_out(article, version, html, html_en)))


async def public_vote(request: web.Request) -> web.Response:
    """A visitor's vote on a published public article (one per visitor, changeable)."""
    box = request.app[BOX]
    vid = visitor_id(request)
    box.limits.page_view(vid, client_address(request))
    body = await read_body(request, wire.VoteInput)
    found = await box.knowledge.vote(
        f"v:{vid}", int_path(request, "article_id"), body.helpful, public=True
    )
    await box.selfservice.record(vid, "vote", found.id)
    return reply(wire.Voted(found.helpful, found.not_helpful))


_BASE = "/api/console/kb"
_ONE = _BASE + "/articles/{article_id}"

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/console/knowledge",
            knowledge_page,
            "The knowledge base: articles, their editor and search",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            _BASE + "/categories",
            list_categories,
            "The knowledge base's categories",
            _TAG,
            wire.Categories,
            errors=(401,),
        ),
        Operation(
            "POST",
            _BASE + "/categories",
            create_category,
            "Add a category",
            _TAG,
            wire.OneCategory,
            status=201,
            body=wire.CategoryInput,
            errors=(401, 403, 409, 413, 422),
            description=_REVIEWERS + " 409: the name is taken.",
        ),
        Operation(
            "PUT",
            _BASE + "/categories/{category_id}",
            change_category,
            "Rename or move a category",
            _TAG,
            wire.OneCategory,
            body=wire.CategoryInput,
            path_types=_CATEGORY,
            errors=(401, 403, 404, 409, 413, 422),
            description=_REVIEWERS,
        ),
        Operation(
            "DELETE",
            _BASE + "/categories/{category_id}",
            delete_category,
            "Delete a category (its articles stay, without one)",
            _TAG,
            Deleted,
            path_types=_CATEGORY,
            errors=(401, 403, 404),
            description=_REVIEWERS,
        ),
        Operation(
            "GET",
            _BASE + "/articles",
            list_articles,
            "Articles by category, state and audience, newest change first",
            _TAG,
            wire.Articles,
            query=wire.ArticlesQuery,
            errors=(401, 422),
        ),
        Operation(
            "POST",
            _BASE + "/articles",
            create_article,
            "Start an article (a draft at version 1)",
            _TAG,
            wire.ArticleDetail,
            status=201,
            body=wire.ArticleInput,
            errors=(401, 413, 422),
            description="Any staff member. 422 invalid: a missing title or body, an "
            "English version with only one of title and body, an unknown category.",
        ),
        Operation(
            "GET",
            _ONE,
            get_article,
            "An article's newest version and the steps it went through",
            _TAG,
            wire.ArticleDetail,
            path_types=_ARTICLE,
            errors=(401, 404),
        ),
        Operation(
            "PUT",
            _ONE,
            edit_article,
            "Save a new version of an article",
            _TAG,
            wire.ArticleDetail,
            body=wire.ArticleChange,
            path_types=_ARTICLE,
            errors=(401, 403, 404, 409, 413, 422),
            description="`base` is the version the editor started from; 409 "
            "stale_version when a newer one was saved meanwhile, bad_move for an archived "
            "article. A published article goes back to draft (its published version stays "
            "readable). 403: only reviewers change a published article's audience.",
        ),
        Operation(
            "POST",
            _ONE + "/move",
            move_article,
            "Move an article: submit, approve, send back, archive, restore",
            _TAG,
            wire.ArticleDetail,
            body=wire.MoveInput,
            path_types=_ARTICLE,
            errors=(401, 403, 404, 409, 413, 422),
            description="draft→review by any staff member; review→published (approve), "
            "review→draft (send back), →archived and archived→draft by reviewers. 409 "
            "bad_move for a move the states do not allow.",
        ),
        Operation(
            "GET",
            _ONE + "/versions",
            list_versions,
            "Every version of an article, newest first",
            _TAG,
            wire.Versions,
            path_types=_ARTICLE,
            errors=(401, 404),
        ),
        Operation(
            "GET",
            _ONE + "/diff",
            diff_versions,
            "What changed between two versions, field by field",
            _TAG,
            wire.Diff,
            query=wire.DiffQuery,
            path_types=_ARTICLE,
            errors=(401, 404, 422),
        ),
        Operation(
            "POST",
            _ONE + "/vote",
            vote_article,
            "Vote on a published article (helpful or not; one vote per user)",
            _TAG,
            wire.Voted,
            body=wire.VoteInput,
            path_types=_ARTICLE,
            errors=(401, 404, 413, 422),
        ),
        Operation(
            "GET",
            _BASE + "/contributors",
            list_contributors,
            "Contributors' points (知识奖赏), most first; or one user's",
            _TAG,
            wire.Contributors,
            query=wire.ContributorsQuery,
            errors=(401, 422),
            description="For each credited user: points, articles credited for their "
            "publication, and net helpful votes. A user without points is not listed.",
        ),
        Operation(
            "GET",
            _BASE + "/editors",
            list_editors,
            "The users named editors (they approve articles)",
            _TAG,
            wire.Editors,
            errors=(401,),
        ),
        Operation(
            "PUT",
            _BASE + "/editors/{user_id}",
            set_editor,
            "Name a user an editor, or take it back",
            _TAG,
            wire.Editors,
            body=wire.EditorInput,
            path_types={"user_id": wire.Id},
            errors=(401, 403, 404, 413, 422),
            description="Supervisors and admins only.",
        ),
        Operation(
            "GET",
            "/api/console/search",
            search,
            "Search articles, tickets and chat transcripts",
            _TAG,
            wire.SearchResults,
            query=wire.SearchQuery,
            errors=(401, 422),
            description="Each hit only if the user may see it (tickets: their groups, "
            "ungrouped and their own; chats: their own and those they joined; supervisors "
            "everything). Ranked by bm25, titles weighted, newest first on a tie. Snippets "
            "come as pieces of text with the hits marked. 422 query_too_long beyond 200 "
            "characters or 16 words; a query without letters, digits or Chinese characters "
            "finds nothing (`terms` is empty).",
        ),
        Operation(
            "GET",
            "/api/console/search/status",
            search_status,
            "The search index: queued changes, documents, backfill progress",
            _TAG,
            wire.SearchStatus,
            errors=(401, 403),
            description="Supervisors and admins only.",
        ),
        Operation(
            "GET",
            "/api/visitor/kb/search",
            public_search,
            "Search the published public articles",
            _TAG,
            wire.SearchResults,
            query=wire.PublicSearchQuery,
            errors=(401, 422, 429),
            description="Never finds internal articles, tickets or chats. Counts against "
            "the visitor's page-view allowance.",
        ),
        Operation(
            "GET",
            "/api/visitor/kb/articles/{article_id}",
            public_article,
            "Read a published public article (the read is counted)",
            _TAG,
            wire.OnePublicArticle,
            path_types=_ARTICLE,
            errors=(401, 404, 429),
        ),
        Operation(
            "POST",
            "/api/visitor/kb/articles/{article_id}/vote",
            public_vote,
            "A visitor's vote on a public article (one per visitor, changeable)",
            _TAG,
            wire.Voted,
            body=wire.VoteInput,
            path_types=_ARTICLE,
            errors=(401, 404, 413, 422, 429),
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the knowledge base's page and API."""
    CONTRACT.install(app)
