"""A console user's SLA notices by mail (their account page), and the customer's
satisfaction link from a mail (a visitor route: it comes in through the relay's
visitor path; docs/email.md).

The link's page is plain HTML with no script: opening the link shows the score chosen
and a button; only the button's POST records the rating (mail scanners open links,
and a GET must not rate for the customer). The token is in the URL, so the pages send
no Referer and are never cached or framed.
"""

from __future__ import annotations

from typing import Annotated

import aiohttp_jinja2
import msgspec
from aiohttp import web

from appliance.core.errors import Conflict, NotFound
from appliance.webui.contract import Contract, Operation, convert, read_body, read_query, reply
from appliance.webui.i18n import CATALOG, LANGS
from appliance.webui.inputs import read_form
from appliance.webui.keys import BOX
from appliance.webui.pages import page_lang
from appliance.webui.security import current_session

Token = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Score = Annotated[int, msgspec.Meta(ge=1, le=5)]
Comment = Annotated[str, msgspec.Meta(max_length=1000)]
Lang = Annotated[str, msgspec.Meta(max_length=8)]

_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none';"
    " base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


class MailNotices(msgspec.Struct):
    """Which SLA notices reach the user by mail, and where ('' address: none)."""

    address: Annotated[str, msgspec.Meta(max_length=254)]
    sla_warning: bool
    sla_breach: bool


class RatingLink(msgspec.Struct):
    """What a satisfaction link carries."""

    t: Token
    score: Score
    lang: Lang = ""


class RatingForm(msgspec.Struct):
    """The confirmation of a rating from a mailed link."""

    t: Token
    score: Score
    comment: Comment = ""
    lang: Lang = ""


async def get_mail_notices(request: web.Request) -> web.Response:
    """Return the user's SLA notices by mail."""
    prefs = await request.app[BOX].mail_notices.prefs(current_session(request).user.id)
    return reply(MailNotices(prefs.address, prefs.sla_warning, prefs.sla_breach))


async def put_mail_notices(request: web.Request) -> web.Response:
    """Set the user's SLA notices by mail."""
    body = await read_body(request, MailNotices)
    prefs = await request.app[BOX].mail_notices.set_prefs(
        current_session(request).user.id, body.address, body.sla_warning, body.sla_breach
    )
    return reply(MailNotices(prefs.address, prefs.sla_warning, prefs.sla_breach))


def _page(
    request: web.Request, lang: str, state: str, link: RatingForm | None = None
) -> web.Response:
    lang = lang if lang in LANGS else page_lang(request)
    context = {
        "lang": lang,
        "t": request.config_dict[CATALOG].translator(lang),
        "state": state,
        "link": link,
    }
    response = web.Response(content_type="text/html", headers=_PAGE_HEADERS)
    response.text = aiohttp_jinja2.render_string("mail_rating.html", request, context)
    return response


async def rating_page(request: web.Request) -> web.Response:
    """Show the score a mailed link chose, with the button that records it."""
    link = read_query(request, RatingLink)
    ticket = request.app[BOX].mail_notices.rating_ticket(link.t)
    state = "ask" if ticket is not None else "invalid"
    return _page(request, link.lang, state, RatingForm(link.t, link.score, "", link.lang))


async def rate_from_mail(request: web.Request) -> web.Response:
    """Record the rating a mailed link's page confirms (once per ticket)."""
    form = convert(dict(await read_form(request)), RatingForm, strict=False)
    box = request.app[BOX]
    ticket_id = box.mail_notices.rating_ticket(form.t)
    if ticket_id is None:
        return _page(request, form.lang, "invalid")
    try:
        await box.tickets.rate_by_mail(ticket_id, form.score, form.comment)
    except Conflict as err:
        return _page(request, form.lang, "rated" if "rated" in str(err) else "open")
    except NotFound:
        return _page(request, form.lang, "invalid")
    return _page(request, form.lang, "thanks")


_FORM = ("application/x-www-form-urlencoded",)

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/console/account/mail-notices",
            get_mail_notices,
            "The user's SLA notices by mail",
            "account",
            MailNotices,
            errors=(401,),
        ),
        Operation(
            "PUT",
            "/api/console/account/mail-notices",
            put_mail_notices,
            "Set the user's SLA notices by mail (an empty address: none)",
            "account",
            MailNotices,
            body=MailNotices,
            errors=(401, 413, 422),
        ),
        Operation(
            "GET",
            "/api/visitor/mail-rating",
            rating_page,
            "The page a mailed satisfaction link opens (records nothing)",
            "visitor",
            query=RatingLink,
            media="text/html",
            errors=(422,),
            token=False,
            description="An invalid or expired link is a page saying so (200).",
        ),
        Operation(
            "POST",
            "/api/visitor/mail-rating",
            rate_from_mail,
            "Record the rating a mailed satisfaction link's page confirms (once per ticket)",
            "visitor",
            media="text/html",
            body=RatingForm,
            upload=_FORM,
            errors=(400, 413, 415, 422),
            token=False,
            description="The outcome is a page (200): thanks, already rated, not resolved "
            "any more, or an invalid or expired link.",
        ),
    ]
)
