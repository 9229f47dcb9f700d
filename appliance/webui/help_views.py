"""The public knowledge base as server-rendered pages: /help (categories and search),
/help/a/<id>-<slug> (one article), and the pictures of articles.

Readable without JavaScript and by search engines: each page has its title, a meta
description, a canonical link and the lang attribute of what it shows. Chinese by
default; `?lang=en` shows an article's English version when it has one (the page's
own words follow). They are part of the visitor surface (security.is_visitor_path),
so they reach the box through the relay as the widget does; the console never does.
Only public, published articles are shown; any other id is a 404 like a missing one.
Nothing here needs a script, a font or a file from elsewhere: the style sheet is
served under /help too, as /static/ is not reachable through the relay.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from typing import Annotated, Any
from urllib.parse import quote

import aiohttp_jinja2
import msgspec
from aiohttp import web

from appliance.core import article_render, textsearch
from appliance.core.errors import InvalidInput, NotFound
from appliance.webui.assets import ASSETS
from appliance.webui.contract import Contract, Operation, read_query
from appliance.webui.i18n import CATALOG
from appliance.webui.keys import BOX
from appliance.webui.visitor_views import client_address

_HELP_CACHE = "public, max-age=60"  # s: a published change shows within a minute
_IMAGE_CACHE = "public, max-age=31536000, immutable"  # a picture's name is its content's hash
_CSS_CACHE = "public, max-age=300"
_PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_PICTURE_CSP = "default-src 'none'; sandbox"  # a picture is never a document
PER_CATEGORY = 20  # articles listed under each category on the index
_SLUG_MAX = 60
_REF = re.compile(r"([1-9][0-9]{0,15})(?:-[^/]*)?")
_HOME = {"zh-CN": "/help", "en": "/help?lang=en"}


class HelpQuery(msgspec.Struct, forbid_unknown_fields=True):
    lang: Annotated[str, msgspec.Meta(max_length=8)] = ""
    q: Annotated[str, msgspec.Meta(max_length=1000)] = ""


def slug(title: str) -> str:
    """Return a URL piece from a title: letters, digits and Chinese kept, the rest '-'."""
    text = unicodedata.normalize("NFKC", title).lower()
    text = re.sub(r"[^\w]+", "-", text, flags=re.UNICODE).strip("-_")
    return text[:_SLUG_MAX].strip("-") or "article"


def article_url(article_id: int, title: str, lang: str = "zh-CN") -> str:
    """Return an article's canonical address on the box."""
    tail = "?lang=en" if lang == "en" else ""
    return f"/help/a/{article_id}-{quote(slug(title))}{tail}"


def _lang(query: HelpQuery) -> str:
    return "en" if query.lang == "en" else "zh-CN"


def _page(
    request: web.Request, template: str, lang: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    catalog = request.config_dict[CATALOG]
    other = "zh-CN" if lang == "en" else "en"
    base = {
        "lang": lang,
        "t": catalog.translator(lang),
        "other": other,
        "home": _HOME[lang],
        "other_home": _HOME[other],
        "lang_field": "en" if lang == "en" else "",
    }
    base.update(context)
    response = web.Response(status=status, content_type="text/html")
    response.text = aiohttp_jinja2.render_string(template, request, base)
    response.headers["Content-Security-Policy"] = _PAGE_CSP
    response.headers["Cache-Control"] = _HELP_CACHE
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def help_index(request: web.Request) -> web.Response:
    """The public knowledge base: categories with their articles, and search."""
    box = request.app[BOX]
    box.limits.page_view(f"help:{client_address(request)}", client_address(request))
    query = read_query(request, HelpQuery)
    lang = _lang(query)
    hits: list[Any] = []
    problem = ""
    if query.q:
        try:
            found = await box.search.search(query.q, None, ("article",), 20)
        except InvalidInput as err:
            problem = "help_query_long" if err.code == "query_too_long" else "help_query_bad"
        else:
            hits = [(int(h.ref), h.title, h.snippet) for h in found.hits]
            if not found.terms:
                problem = "help_query_empty"
    entries = await box.selfservice.public_index(PER_CATEGORY)
    categories = await box.knowledge.categories()
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    for cat in [*categories, None]:
        cid = None if cat is None else cat.id
        rows = [
            (article_url(e.id, e.title, lang), (e.title_en if lang == "en" else "") or e.title)
            for e in entries
            if e.category_id == cid
        ]
        if rows:
            name = "" if cat is None else ((cat.name_en if lang == "en" else "") or cat.name)
            groups.append((name, rows))
    canonical = _origin(request) + _HOME[lang]
    return _page(
        request,
        "help_index.html",
        lang,
        {
            "groups": groups,
            "q": query.q[: textsearch.QUERY_MAX],
            "hits": [(article_url(i, title, lang), title, pieces) for i, title, pieces in hits],
            "searched": bool(query.q),
            "problem": problem,
            "canonical": canonical,
            "css": "/help/help.css",
        },
    )


async def help_article(request: web.Request) -> web.Response:
    """One public article, readable without JavaScript."""
    box = request.app[BOX]
    box.limits.page_view(f"help:{client_address(request)}", client_address(request))
    query = read_query(request, HelpQuery)
    lang = _lang(query)
    matched = _REF.fullmatch(request.match_info["ref"])
    try:
        if matched is None:
            raise NotFound("no such article")
        article, version = await box.knowledge.published(int(matched.group(1)), public=True)
    except NotFound:
        context = {"missing": True, "title": "", "css": "/help/help.css", "canonical": ""}
        return _page(request, "help_article.html", lang, context, status=404)
    box.knowledge.count_view(article.id)
    english = lang == "en" and bool(version.title_en)
    title = version.title_en if english else version.title
    body = version.body_en if english else version.body
    canonical = _origin(request) + article_url(article.id, version.title, lang)
    return _page(
        request,
        "help_article.html",
        lang,
        {
            "title": title,
            "body_lang": "en" if english else "zh-CN",
            "html": await article_render.render_off_loop(body),
            "description": article_render.plain(body),
            "canonical": canonical,
            "has_en": bool(version.title_en),
            "zh_url": article_url(article.id, version.title),
            "en_url": article_url(article.id, version.title, "en"),
            "other_url": article_url(article.id, version.title, "zh-CN" if lang == "en" else "en"),
            "helpful": article.helpful,
            "css": "/help/help.css",
        },
    )


async def help_css(request: web.Request) -> web.Response:
    """The help pages' style sheet (served here: /static/ is not on the visitor surface)."""
    return request.config_dict[ASSETS].files["help.css"].respond(request, _CSS_CACHE)


async def help_image(request: web.Request) -> web.Response:
    """A picture of an article, with the type the box wrote it as."""
    found = await request.app[BOX].article_images.find(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound(reason="no such picture")
    row, path = found
    etag = f'"{row.name}"'
    headers = {
        "Cache-Control": _IMAGE_CACHE,
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
    return web.Response(body=data, content_type=row.media_type, headers=headers)


_HTML_ABOUT = (
    "An HTML page for visitors and search engines, reachable through the relay. "
    "`lang=en`: English (an article's English version when it has one)."
)

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/help",
            help_index,
            "The public knowledge base: categories, articles and search",
            "help",
            query=HelpQuery,
            media="text/html",
            errors=(422, 429),
            description=_HTML_ABOUT + " `q`: a search; one over 200 characters or without "
            "letters, digits or Chinese characters is answered with a message, not a 4xx.",
            token=False,
        ),
        Operation(
            "GET",
            "/help/a/{ref}",
            help_article,
            "One public article (`ref`: its id, a dash and its title's slug)",
            "help",
            query=HelpQuery,
            media="text/html",
            errors=(404, 422, 429),
            description=_HTML_ABOUT + " 404 for an internal, unpublished or archived "
            "article, as for one that does not exist.",
            token=False,
        ),
        Operation(
            "GET",
            "/help/help.css",
            help_css,
            "The style sheet of the help pages",
            "help",
            media="text/css",
            token=False,
        ),
        Operation(
            "GET",
            "/help/images/{name}",
            help_image,
            "A picture of an article (PNG, JPEG or WebP, as the box wrote it)",
            "help",
            media="application/octet-stream",
            errors=(404,),
            description="X-Content-Type-Options: nosniff, cached for good (the name is the "
            "content's hash).",
            token=False,
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the help pages."""
    CONTRACT.install(app)
