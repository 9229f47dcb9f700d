"""The customer portal at /portal: server-rendered pages a customer reaches from the
internet through the relay (access.py lets /portal through, and nothing else of the
console), signed in by an e-mailed one-time link or the host site's signed identity.

The portal has its own session cookie (path /portal) and CSRF token, never the
console's: `signed_in` reads the one, and every form is read through `_form` or
`_reply_parts`, which refuse it without the other. What a customer may see and do on
a ticket is core's (`Tickets` with a `PortalCustomer`): another customer's ticket is
"not found", as one that does not exist.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict
from typing import Any
from urllib.parse import quote, unquote

import aiohttp_jinja2
from aiohttp import BodyPartReader, web

from appliance.core.conversation import Attachment
from appliance.core.errors import ChatError, NotFound
from appliance.core.portal import PortalSession
from appliance.core.ratelimit import RateLimited
from appliance.core.ticketflow import FINAL, State
from appliance.webui.assets import ASSETS
from appliance.webui.auth_views import safe_next
from appliance.webui.contract import Contract, Operation
from appliance.webui.i18n import CATALOG, LANG_COOKIE, LANGS
from appliance.webui.inputs import BadInput, read_form, whole_text
from appliance.webui.keys import BOX, BOX_PROFILE
from appliance.webui.pages import page_lang
from appliance.webui.security import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, csrf_cookie_token
from appliance.webui.team_views import int_path
from appliance.webui.wire import portal as forms
from appliance.webui.wire import wire_time
from appliance.webui.wire.tickets import TicketId

_LOGGER = logging.getLogger(__name__)

PORTAL_COOKIE = "callbox_portal"
_HOME = "/portal"
_TEXT_PART_MAX = 64 * 1024  # bytes of one text field of the reply's multipart form
_FORM_TYPES = ("application/x-www-form-urlencoded",)
_REPLY_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# The signed-in customer of a request (None: signed out), once read.
# The catalog's words for a ticket's states and for who wrote an entry.
_STATES = {
    "new": "portal_state_new",
    "open": "portal_state_open",
    "pending": "portal_state_pending",
    "resolved": "portal_state_resolved",
    "closed": "portal_state_closed",
    "merged": "portal_state_merged",
}
_PEOPLE = {
    "customer": "portal_by_customer",
    "agent": "portal_by_agent",
    "system": "portal_by_system",
}
_SIGNED: web.RequestKey[PortalSession | None] = web.RequestKey("portal_session")


class _Refused(Exception):
    """A portal request answered with a page saying why (status, catalog key)."""

    def __init__(self, status: int, key: str, **values: Any) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.values = values


async def signed_in(request: web.Request) -> PortalSession | None:
    """Return the customer signed in by the portal's cookie, or None."""
    if _SIGNED not in request:
        token = request.cookies.get(PORTAL_COOKIE)
        found = (
            await request.app[BOX].portal.session(token, request.remote or "") if token else None
        )
        request[_SIGNED] = found
    return request[_SIGNED]


async def _customer(request: web.Request) -> PortalSession:
    session = await signed_in(request)
    if session is None:
        if request.method == "GET":
            raise web.HTTPFound(_HOME)
        raise _Refused(401, "portal_signed_out")
    return session


def _same_origin(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise _Refused(403, "portal_form_expired")


def _csrf_ok(expected: str, supplied: str) -> bool:
    return bool(expected) and hmac.compare_digest(expected.encode(), supplied.encode())


async def _form(
    request: web.Request, session: PortalSession | None, *, anonymous: bool = False
) -> Mapping[str, str]:
    """Read a urlencoded form, refused (403) without the page's CSRF token: the
    session's; for a form shown before sign-in (`anonymous`), the double-submit
    cookie's will do too."""
    _same_origin(request)
    fields = await read_form(request)
    supplied = request.headers.get(CSRF_HEADER) or fields.get(CSRF_FIELD, "")
    expected = [session.csrf_token] if session else []
    if anonymous:
        expected.append(request.cookies.get(CSRF_COOKIE, ""))
    if not any(_csrf_ok(e, supplied) for e in expected):
        raise _Refused(403, "portal_form_expired")
    return fields


def render(
    request: web.Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    session: PortalSession | None = None,
) -> web.Response:
    """Render a portal page with its language, texts and CSRF token."""
    lang = page_lang(request)
    catalog = request.config_dict[CATALOG]
    profile = request.app[BOX_PROFILE].profile
    base: dict[str, Any] = {
        "lang": lang,
        "languages": catalog.names(),
        "t": catalog.translator(lang),
        "static_url": request.config_dict[ASSETS].url,
        "company": profile.company_name,
        "customer": session.customer if session else None,
        "csrf_token": session.csrf_token if session else "",
        "here": request.rel_url.path,
        "states": _STATES,
        "people": _PEOPLE,
    }
    base.update(context or {})
    response = web.Response(status=status, content_type="text/html")
    if session is None:
        base["csrf_token"] = csrf_cookie_token(request, response)
    response.text = aiohttp_jinja2.render_string(template, request, base)
    return response


def _message(
    request: web.Request, err: _Refused, session: PortalSession | None = None
) -> web.Response:
    t = request.config_dict[CATALOG].translator(page_lang(request))
    response = render(
        request,
        "portal_message.html",
        {"message": t(err.key, **err.values), "error": err.status >= 400},
        status=err.status,
        session=session,
    )
    if "seconds" in err.values:
        response.headers["Retry-After"] = str(err.values["seconds"])
    return response


def _origin(request: web.Request) -> str:
    """Where the e-mailed link points: the box's public host name when set (a Host
    header an attacker chose must never receive someone's link), else this request's."""
    host = request.app[BOX_PROFILE].profile.public_host
    if host:
        return f"https://{host}"
    return f"{request.scheme}://{request.host}"


def _set_session(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        PORTAL_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=request.secure,
        path=_HOME,
    )


# -- pages ----------------------------------------------------------------------------


async def home(request: web.Request) -> web.Response:
    """The sign-in form, or the signed-in customer's tickets."""
    session = await signed_in(request)
    if session is None:
        return render(request, "portal_sign_in.html")
    tickets = await request.app[BOX].tickets.of_visitor(session.actor)
    rows = [
        {
            "id": t.id,
            "number": t.fields["number"],
            "subject": t.fields["subject"],
            "state": t.state.value,
            "updated_at": wire_time(t.updated_at),
        }
        for t in tickets
    ]
    return render(request, "portal_tickets.html", {"tickets": rows}, session=session)


async def ask_link(request: web.Request) -> web.Response:
    """Queue a sign-in link to a known address; the answer is the same for any."""
    email = ""
    try:
        form = await _form(request, await signed_in(request), anonymous=True)
        email = form.get("email", "")[:254]
        await request.app[BOX].portal.request_link(
            email, request.remote or "", _origin(request), page_lang(request)
        )
    except _Refused as err:
        return _message(request, err)
    except RateLimited as err:
        return _message(request, _Refused(429, "portal_too_many", seconds=err.retry_after))
    except ChatError as err:
        t = request.config_dict[CATALOG].translator(page_lang(request))
        context = {"error": t("portal_email_invalid"), "email": email}
        return render(request, "portal_sign_in.html", context, status=err.status)
    return _message(request, _Refused(200, "portal_link_sent"))


async def link_page(request: web.Request) -> web.Response:
    """The e-mailed link's page: a button that spends it (a mail scanner's GET must
    not sign anyone in, nor spend the link)."""
    token = request.match_info["token"]
    if not await request.app[BOX].portal.link_is_live(token):
        return _message(request, _Refused(404, "portal_link_invalid"))
    return render(request, "portal_link.html", {"token": token})


async def use_link(request: web.Request) -> web.Response:
    """Spend the link and sign the customer in."""
    try:
        await _form(request, await signed_in(request), anonymous=True)
        token = await request.app[BOX].portal.redeem_link(request.match_info["token"])
    except _Refused as err:
        return _message(request, err)
    except NotFound:
        return _message(request, _Refused(404, "portal_link_invalid"))
    response = web.HTTPSeeOther(_HOME)
    _set_session(request, response, token)
    raise response


_SIGNED_FIELDS = ("site", "customer_id", "ts", "sig", "name", "email", "phone")


def _signed_data(fields: Mapping[str, str]) -> dict[str, Any]:
    """Read the host site's signed identity (bounded by core's checks; ts a whole number)."""
    data: dict[str, Any] = {k: fields.get(k, "") for k in _SIGNED_FIELDS}
    data["ts"] = whole_text(data["ts"], "ts", 2**40)
    return data


def _signed_refused(request: web.Request, err: ChatError) -> web.Response:
    key = {"replayed": "portal_signed_used", "expired": "portal_signed_expired"}
    status = 403 if err.status == 403 else 422 if err.status == 422 else 409
    return _message(request, _Refused(status, key.get(err.code, "portal_signed_invalid")))


async def signed_page(request: web.Request) -> web.Response:
    """The host site's signed link's page: a button that signs in. A GET signs nobody
    in and spends nothing: a page that loads it cannot sign a visitor in as someone
    else (login CSRF), and a link scanner does not use the signature up."""
    fields = {k: request.query.get(k, "") for k in _SIGNED_FIELDS}
    try:
        await request.app[BOX].portal.check_signed(_signed_data(fields))
    except ChatError as err:
        return _signed_refused(request, err)
    who = fields["name"] or fields["email"] or fields["customer_id"]
    context = {"fields": {k: v for k, v in fields.items() if v}, "who": who}
    return render(request, "portal_signed.html", context)


async def use_signed(request: web.Request) -> web.Response:
    """Spend the host site's signature (the page's form) and sign the customer in."""
    try:
        form = await _form(request, await signed_in(request), anonymous=True)
        token = await request.app[BOX].portal.redeem_signed(_signed_data(form))
    except _Refused as err:
        return _message(request, err)
    except ChatError as err:
        return _signed_refused(request, err)
    response = web.HTTPSeeOther(_HOME)
    _set_session(request, response, token)
    raise response


async def sign_out(request: web.Request) -> web.Response:
    """End the portal session."""
    try:
        session = await _customer(request)
        await _form(request, session)
    except _Refused as err:
        return _message(request, err)
    await request.app[BOX].portal.sign_out(request.cookies.get(PORTAL_COOKIE))
    response = web.HTTPSeeOther(_HOME)
    response.del_cookie(PORTAL_COOKIE, path=_HOME)
    raise response


async def set_lang(request: web.Request) -> web.Response:
    """Remember the page language and go back to the portal page."""
    try:
        form = await _form(request, await signed_in(request), anonymous=True)
    except _Refused as err:
        return _message(request, err)
    back = safe_next(form.get("next"))
    response = web.HTTPSeeOther(back if back.startswith(_HOME) else _HOME)
    lang = form.get("lang")
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, str(lang), samesite="Lax", path="/", max_age=31536000)
    raise response


def _entry(event: Any) -> dict[str, Any]:
    data = event.data
    return {
        "at": wire_time(event.at),
        "by": event.by.value,
        "kind": event.kind,
        "body": data.get("description", "") if event.kind == "created" else data.get("body", ""),
        "comment": data.get("comment", ""),
        "to": data.get("to", ""),
        "score": data.get("score"),
        "files": [f for f in data.get("files", ()) if isinstance(f, dict)],
    }


async def _ticket_page(
    request: web.Request,
    session: PortalSession,
    ticket_id: int,
    *,
    status: int = 200,
    error: str = "",
) -> web.Response:
    try:
        ticket, thread = await request.app[BOX].tickets.for_visitor(session.actor, ticket_id)
    except NotFound:
        return _message(request, _Refused(404, "portal_no_ticket"), session)
    entries = [_entry(e) for e in thread]
    limits = request.app[BOX].files.limits
    context = {
        "ticket": {
            "id": ticket.id,
            "number": ticket.fields["number"],
            "subject": ticket.fields["subject"],
            "state": ticket.state.value,
        },
        "thread": entries,
        "can_reply": ticket.state not in FINAL,
        "can_confirm": ticket.state == State.RESOLVED,
        "can_rate": ticket.state in (State.RESOLVED, State.CLOSED)
        and not any(e["kind"] == "rating" for e in entries),
        "max_mb": limits.max_mb,
        "accept": ",".join(f".{e}" for e in limits.extensions()),
        "error": error,
    }
    return render(request, "portal_ticket.html", context, status=status, session=session)


async def ticket_page(request: web.Request) -> web.Response:
    """One of the customer's tickets: its public thread, reply, confirm, rate."""
    ticket_id = int_path(request, "ticket_id")
    session = await _customer(request)
    return await _ticket_page(request, session, ticket_id)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk():
        yield chunk


async def _text_part(part: BodyPartReader) -> str:
    raw = b""
    while chunk := await part.read_chunk():
        raw += chunk
        if len(raw) > _TEXT_PART_MAX:
            raise _Refused(413, "portal_too_long")
    try:
        return raw.decode(part.get_charset("utf-8"))
    except (LookupError, UnicodeDecodeError) as err:
        raise BadInput("a form field is not valid text") from err


async def _reply_parts(
    request: web.Request, session: PortalSession, ticket_id: int
) -> tuple[str, Attachment | None]:
    """Read the reply form: the CSRF token must come first; a file is streamed to the
    uploads folder under the admin's limits (core/files.py), never held in memory."""
    if request.content_type != "multipart/form-data":
        form = await _form(request, session)
        return form.get("body", ""), None
    _same_origin(request)
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as err:
        raise BadInput("the form body cannot be parsed") from err
    body, attachment, checked = "", None, False
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadInput("nested multipart forms are not accepted")
            if part.filename is None:
                value = await _text_part(part)
                if part.name == CSRF_FIELD:
                    checked = _csrf_ok(session.csrf_token, value)
                elif part.name == "body" and checked:
                    body = value
                if not checked:
                    raise _Refused(403, "portal_form_expired")
            elif not checked:
                raise _Refused(403, "portal_form_expired")
            elif part.filename and attachment is None:
                # Some clients percent-encode a non-ASCII name (aiohttp's, curl's);
                # browsers send it as UTF-8, which is never all ASCII.
                name = part.filename
                attachment = await request.app[BOX].files.receive(
                    session.actor,
                    name=unquote(name) if name.isascii() else name,
                    declared=part.headers.get("Content-Type", ""),
                    length=None,
                    body=_chunks(part),
                )
            else:
                await part.release()  # an empty file field, or a second file
    except ValueError as err:
        raise BadInput("the form body cannot be parsed") from err
    if not checked:
        raise _Refused(403, "portal_form_expired")
    return body, attachment


async def reply(request: web.Request) -> web.Response:
    """The customer writes on their ticket, with a file or not (a resolved ticket opens
    again: the customer says it is not solved)."""
    ticket_id = int_path(request, "ticket_id")
    box = request.app[BOX]
    try:
        session = await _customer(request)
    except _Refused as err:
        return _message(request, err)
    t = request.config_dict[CATALOG].translator(page_lang(request))
    try:
        # Another customer's ticket is not found before a byte of a file is read.
        await box.tickets.for_visitor(session.actor, ticket_id)
        wait = box.limits.message_wait(session.actor.id, session.actor.address)
        if wait > 0:
            raise RateLimited(wait)
        body, attachment = await _reply_parts(request, session, ticket_id)
        files = [_file_record(attachment)] if attachment is not None else []
        await box.tickets.customer_reply(session.actor, ticket_id, body, files)
        box.limits.message_spent(session.actor.id, session.actor.address)
    except _Refused as err:
        return _message(request, err, session)
    except NotFound:
        return _message(request, _Refused(404, "portal_no_ticket"), session)
    except RateLimited as err:
        return _message(request, _Refused(429, "portal_too_many", seconds=err.retry_after), session)
    except ChatError as err:
        if err.code == "bad_request":
            raise
        why = _REPLY_ERRORS.get(err.code, "portal_reply_refused")
        return await _ticket_page(
            request, session, ticket_id, status=err.status, error=t(why, mb=box.files.limits.max_mb)
        )
    raise web.HTTPSeeOther(f"/portal/tickets/{ticket_id}")


# Why a reply was refused, in the customer's words (by the core error's code).
_REPLY_ERRORS = {
    "file_too_large": "portal_file_too_large",
    "file_empty": "portal_file_refused",
    "type_mismatch": "portal_file_refused",
    "type_not_allowed": "portal_file_refused",
    "conflict": "portal_reply_closed",
}


def _file_record(file: Attachment) -> dict[str, Any]:
    kept = asdict(file)
    return {k: kept[k] for k in ("id", "name", "kind", "mime", "size", "sha256")}


async def confirm(request: web.Request) -> web.Response:
    """The customer confirms the resolution: the ticket closes."""
    ticket_id = int_path(request, "ticket_id")
    try:
        session = await _customer(request)
        await _form(request, session)
    except _Refused as err:
        return _message(request, err)
    try:
        await request.app[BOX].tickets.confirm(session.actor, ticket_id)
    except NotFound:
        return _message(request, _Refused(404, "portal_no_ticket"), session)
    except ChatError as err:
        t = request.config_dict[CATALOG].translator(page_lang(request))
        return await _ticket_page(
            request, session, ticket_id, status=err.status, error=t("portal_confirm_refused")
        )
    raise web.HTTPSeeOther(f"/portal/tickets/{ticket_id}")


async def rate(request: web.Request) -> web.Response:
    """The satisfaction follow-up: 1 to 5 and a comment, once."""
    ticket_id = int_path(request, "ticket_id")
    try:
        session = await _customer(request)
        form = await _form(request, session)
    except _Refused as err:
        return _message(request, err)
    t = request.config_dict[CATALOG].translator(page_lang(request))
    raw = form.get("score", "")
    score = int(raw) if raw in ("1", "2", "3", "4", "5") else 0
    try:
        await request.app[BOX].tickets.rate(
            session.actor, ticket_id, score, form.get("comment", "")
        )
    except NotFound:
        return _message(request, _Refused(404, "portal_no_ticket"), session)
    except ChatError as err:
        return await _ticket_page(
            request, session, ticket_id, status=err.status, error=t("portal_rating_refused")
        )
    raise web.HTTPSeeOther(f"/portal/tickets/{ticket_id}")


async def download(request: web.Request) -> web.StreamResponse:
    """Send a file of the ticket's public thread, as a download."""
    ticket_id = int_path(request, "ticket_id")
    sha = request.match_info["sha256"]
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise web.HTTPNotFound()
    session = await _customer(request)
    try:
        _, thread = await request.app[BOX].tickets.for_visitor(session.actor, ticket_id)
    except NotFound as err:
        raise web.HTTPNotFound() from err
    found = next(
        (f for e in thread for f in _entry(e)["files"] if f.get("sha256") == sha),
        None,
    )
    path = request.app[BOX].files.path_of(sha)
    if found is None or not path.is_file():
        raise web.HTTPNotFound()
    name = str(found.get("name", "file"))
    # Always a download, never rendered: a customer's file is not our page's content.
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )


# -- the contract -------------------------------------------------------------------

_TAG = "portal"
_ID = {"ticket_id": TicketId}
_PAGE = "text/html"
_AGAIN = {s: _PAGE for s in (401, 403, 404, 409, 413, 415, 422, 429)}


def _post(path: str, handler: Any, summary: str, form: type, **more: Any) -> Operation:
    return Operation(
        "POST",
        path,
        handler,
        summary,
        _TAG,
        status=303,
        body=form,
        upload=more.pop("upload", _FORM_TYPES),
        also=more.pop("also", _AGAIN),
        path_types=more.pop("path_types", {}),
        description=more.pop("description", ""),
    )


CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/portal",
            home,
            "The customer portal: sign-in form, or the customer's tickets",
            _TAG,
            media=_PAGE,
        ),
        Operation(
            "POST",
            "/portal/sign-in",
            ask_link,
            "Ask for a one-time sign-in link by e-mail (same answer for any address)",
            _TAG,
            body=forms.SignInForm,
            upload=_FORM_TYPES,
            media=_PAGE,
            also=_AGAIN,
            description="A link is mailed only when a customer has this address; the "
            "page says the same either way. Rate-limited per address and per client.",
        ),
        Operation(
            "GET",
            "/portal/sign-in/{token}",
            link_page,
            "The e-mailed link's page: a button that signs in",
            _TAG,
            media=_PAGE,
            also={404: _PAGE},
            description="404: the link is unknown, used or expired.",
        ),
        _post(
            "/portal/sign-in/{token}",
            use_link,
            "Spend the e-mailed link and sign in (once)",
            forms.CsrfForm,
        ),
        Operation(
            "GET",
            "/portal/signed",
            signed_page,
            "The host site's signed link's page: a button that signs in",
            _TAG,
            query=forms.SignedQuery,
            media=_PAGE,
            also={403: _PAGE, 409: _PAGE, 422: _PAGE},
            description="Signs nobody in and does not use the signature up. 403: a bad or "
            "expired signature; 409: already used.",
        ),
        _post(
            "/portal/signed",
            use_signed,
            "Spend the host site's signature and sign in (once per signature)",
            forms.SignedForm,
            description="The page's form: the signed fields as hidden inputs and its CSRF "
            "token. 403: a bad or expired signature, or a form from another site; "
            "409: already used.",
        ),
        _post("/portal/sign-out", sign_out, "Sign out of the portal", forms.CsrfForm),
        _post("/portal/lang", set_lang, "Choose the portal's language", forms.LangForm),
        Operation(
            "GET",
            "/portal/tickets/{ticket_id}",
            ticket_page,
            "One of the customer's tickets: its public thread",
            _TAG,
            media=_PAGE,
            path_types=_ID,
            also={302: _PAGE, 404: _PAGE},
            description="302 to the sign-in when signed out; 404 for a ticket that is "
            "not the customer's, as for one that does not exist.",
        ),
        _post(
            "/portal/tickets/{ticket_id}/replies",
            reply,
            "Reply on one's ticket, with a file or not (reopens a resolved one)",
            forms.ReplyForm,
            upload=_REPLY_TYPES,
            path_types=_ID,
            description="multipart/form-data with csrf_token as the first field.",
        ),
        _post(
            "/portal/tickets/{ticket_id}/confirm",
            confirm,
            "Confirm the resolution; the ticket closes",
            forms.CsrfForm,
            path_types=_ID,
        ),
        _post(
            "/portal/tickets/{ticket_id}/rating",
            rate,
            "Rate the service on a resolved or closed ticket (once)",
            forms.RatingForm,
            path_types=_ID,
        ),
        Operation(
            "GET",
            "/portal/tickets/{ticket_id}/files/{sha256}",
            download,
            "Download a file of the ticket's public thread",
            _TAG,
            path_types={**_ID, "sha256": str},
            media="application/octet-stream",
            also={302: _PAGE},
            errors=(404,),
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the portal's pages and forms."""
    CONTRACT.install(app)
