"""Rendering of server-side pages with the shared context (language, CSRF, user)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from appliance.core.accounts import Session
from appliance.webui.assets import ASSETS
from appliance.webui.i18n import CATALOG, LANG_COOKIE, pick_lang
from appliance.webui.keys import BOX_PROFILE, SESSION, SETTINGS
from appliance.webui.security import csrf_cookie_token


def page_lang(request: web.Request) -> str:
    """Return the language of the console pages for this request."""
    default = request.app[BOX_PROFILE].profile.default_lang or request.app[SETTINGS].lang
    return pick_lang(request.cookies.get(LANG_COOKIE), default)


def page_text(request: web.Request) -> Callable[..., str]:
    """Return t(key, **values) for the pages in this request's language."""
    return request.config_dict[CATALOG].translator(page_lang(request))


def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """Render a page with language, translator, user and CSRF token in its context."""
    session: Session | None = request.get(SESSION)
    lang = page_lang(request)
    catalog = request.config_dict[CATALOG]
    base: dict[str, Any] = {
        "lang": lang,
        "languages": catalog.names(),
        "t": catalog.translator(lang),
        "static_url": request.config_dict[ASSETS].url,
        "user": session.user if session else None,
        "csrf_token": session.csrf_token if session else "",
        "next": request.query.get("next", ""),
        "request": request,
    }
    base.update(context or {})
    response = web.Response(status=status, content_type="text/html")
    if session is None:
        base["csrf_token"] = csrf_cookie_token(request, response)
    response.text = aiohttp_jinja2.render_string(template, request, base)
    return response
