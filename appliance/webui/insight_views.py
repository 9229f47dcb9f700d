"""Visitor insight over HTTP: tracking and invitations for the widget; live visitors,
customer profiles and invitation rules for the console."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance.core.accounts import OVERSEERS, Session
from appliance.core.errors import InvalidInput
from appliance.core.live import Filter, Scope, agent_scope
from appliance.webui.inputs import decode_json, query_int
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.visitor_views import client_address, read_json, visitor_id

_BEACON_MAX = 1024  # bytes of a dwell beacon


def do_not_track(request: web.Request) -> bool:
    """Tell whether the browser asked not to be tracked (DNT or Global Privacy Control)."""
    return request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1"


async def scope_of(request: web.Request, session: Session) -> Scope:
    """Return whose visitors this console user sees: their regions and groups."""
    user = session.user
    if user.role in OVERSEERS:
        return Scope()
    routing = request.app[BOX].routing
    return agent_scope(await routing.regions_of(user.id), await routing.groups_of(user.id))


# -- visitor surface --------------------------------------------------------------


async def record_page_view(request: web.Request) -> web.Response:
    """Record a page view of the visitor (a visit starts after 30 quiet minutes)."""
    box = request.app[BOX]
    vid = visitor_id(request)
    data = await read_json(request)
    if not box.insight.tracked(do_not_track(request)):
        box.insight.forget(vid)
        return web.json_response({"tracked": False})
    box.limits.page_view(vid, client_address(request))
    site = data.get("site") or "default"
    if not isinstance(site, str):
        raise InvalidInput("site must be a string")
    view = await box.insight.page_view(
        vid,
        url=data.get("url"),
        title=data.get("title"),
        referrer=data.get("referrer"),
        site=site,
        ip=client_address(request),
        user_agent=request.headers.get("User-Agent", ""),
    )
    if view is None:
        return web.json_response({"tracked": False})
    return web.json_response({"tracked": True, "page_view": view}, status=201)


async def record_dwell(request: web.Request) -> web.Response:
    """Take a sendBeacon report of a page's visible time (token in the body, no header)."""
    box = request.app[BOX]
    raw = await request.content.read(_BEACON_MAX + 1)
    if len(raw) > _BEACON_MAX:
        raise web.HTTPRequestEntityTooLarge(max_size=_BEACON_MAX, actual_size=len(raw))
    data = decode_json(raw)
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object")
    token = data.get("token")
    vid = box.visitors.verify(token) if isinstance(token, str) else None
    if vid is None:
        raise web.HTTPUnauthorized(reason="a valid visitor token is required")
    box.limits.beacon(vid, client_address(request))
    await box.insight.dwell(vid, int_path(request, "view_id"), data.get("dwell_ms"))
    return web.Response(status=204)


async def identify(request: web.Request) -> web.Response:
    """Link the visitor to the customer the host site signed for."""
    box = request.app[BOX]
    vid = visitor_id(request)
    data = await read_json(request)
    box.limits.identify(vid, client_address(request))
    customer = await box.customers.identify(vid, data)
    return web.json_response({"customer": {"id": customer["id"], "name": customer["name"]}})


async def accept_invitation(request: web.Request) -> web.Response:
    """Accept an invitation: the chat opens (with the inviting agent when they can)."""
    box = request.app[BOX]
    vid = visitor_id(request)
    data = await read_json(request)
    lang = data.get("lang") if isinstance(data.get("lang"), str) else ""
    conv = await box.invitations.accept(
        vid, int_path(request, "invitation_id"), ip=client_address(request), lang=str(lang)[:16]
    )
    return web.json_response({"conversation": conv.public()}, status=201)


async def decline_invitation(request: web.Request) -> web.Response:
    """Decline an invitation; it is recorded."""
    box = request.app[BOX]
    invitation = await box.invitations.decline(
        visitor_id(request), int_path(request, "invitation_id")
    )
    return web.json_response(
        {"invitation": {"id": invitation["id"], "status": invitation["status"]}}
    )


# -- console ----------------------------------------------------------------------


def _paging(request: web.Request) -> tuple[int, int]:
    offset = query_int(request, "offset", 0, 10**6)
    return offset, max(1, query_int(request, "limit", 50, 200))


def parse_filter(raw: Any) -> Filter:
    """Validate a live-list filter; a bad one is a 422."""
    if not isinstance(raw, dict):
        raise InvalidInput("filter must be an object")
    try:
        return Filter.parse(raw)
    except ValueError as err:
        raise InvalidInput(str(err)) from err


async def list_visitors(request: web.Request) -> web.Response:
    """Return one page of the live visitors in the user's scope, filtered."""
    session = current_session(request)
    offset, limit = _paging(request)
    filt = parse_filter(dict(request.query))
    scope = await scope_of(request, session)
    total, rows = request.app[BOX].insight.live.query(scope, filt, offset, limit)
    return web.json_response({"total": total, "offset": offset, "limit": limit, "visitors": rows})


def _visitor_path(request: web.Request) -> str:
    vid = request.match_info["visitor_id"]
    if len(vid) > 64:
        raise web.HTTPNotFound()
    return vid


async def visitor_detail(request: web.Request) -> web.Response:
    """Return a visitor: live row, trail with dwell, visits, conversations, customer."""
    session = current_session(request)
    box = request.app[BOX]
    visitor, data = await box.insight.detail(_visitor_path(request))
    in_scope = (await scope_of(request, session)).sees(visitor)
    if not in_scope and not await box.insight.served_by(visitor.id, session.user.id):
        raise web.HTTPNotFound()  # neither in scope nor someone they chat(ted) with
    customer = data["customer"]
    data["customer"] = await box.customers.profile(customer["id"]) if customer else None
    return web.json_response({"visitor": data})


async def invite_visitor(request: web.Request) -> web.Response:
    """Invite a visitor on the site to chat with the current agent."""
    session = current_session(request)
    box = request.app[BOX]
    vid = _visitor_path(request)
    data = await read_json(request)
    invitation = await box.invitations.invite(
        session.user.id, vid, data.get("message"), await scope_of(request, session)
    )
    return web.json_response({"invitation": invitation}, status=201)


async def list_customers(request: web.Request) -> web.Response:
    """Find customers by name, e-mail, phone or external id."""
    found = await request.app[BOX].customers.search(request.query.get("q", ""))
    return web.json_response({"customers": found})


async def get_customer(request: web.Request) -> web.Response:
    """Return a customer profile with visits and conversations across devices."""
    profile = await request.app[BOX].customers.profile(int_path(request, "customer_id"))
    return web.json_response({"customer": profile})


async def patch_customer(request: web.Request) -> web.Response:
    """Edit a customer's contact data, tier or notes."""
    box = request.app[BOX]
    customer_id = int_path(request, "customer_id")
    await box.customers.update(customer_id, await read_json(request))
    return web.json_response({"customer": await box.customers.profile(customer_id)})


async def get_invite_rules(request: web.Request) -> web.Response:
    """Return the automatic invitation rules."""
    rules = [r.public() for r in request.app[BOX].invitations.rules]
    return web.json_response({"rules": rules})


async def put_invite_rules(request: web.Request) -> web.Response:
    """Replace the automatic invitation rules (supervisors)."""
    data = await read_json(request)
    rules = await request.app[BOX].invitations.set_rules(data.get("rules"))
    return web.json_response({"rules": rules})


async def list_invitations(request: web.Request) -> web.Response:
    """Return the latest invitations and how they ended (supervisors)."""
    return web.json_response({"invitations": await request.app[BOX].invitations.recent()})


def add_routes(app: web.Application) -> None:
    """Register the insight routes."""
    app.router.add_post("/api/visitor/pageviews", record_page_view)
    app.router.add_post("/api/visitor/pageviews/{view_id}/dwell", record_dwell)
    app.router.add_post("/api/visitor/identify", identify)
    app.router.add_post("/api/visitor/invitations/{invitation_id}/accept", accept_invitation)
    app.router.add_post("/api/visitor/invitations/{invitation_id}/decline", decline_invitation)
    app.router.add_get("/api/console/visitors", list_visitors)
    app.router.add_get("/api/console/visitors/{visitor_id}", visitor_detail)
    app.router.add_post("/api/console/visitors/{visitor_id}/invite", invite_visitor)
    app.router.add_get("/api/console/customers", list_customers)
    app.router.add_get("/api/console/customers/{customer_id}", get_customer)
    app.router.add_patch("/api/console/customers/{customer_id}", patch_customer)
    app.router.add_get("/api/console/invite-rules", get_invite_rules)
    app.router.add_put("/api/console/invite-rules", put_invite_rules)
    app.router.add_get("/api/console/invitations", list_invitations)
