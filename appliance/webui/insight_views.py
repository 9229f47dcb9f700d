"""Visitor insight over HTTP: tracking and invitations for the widget; live visitors,
customer profiles and invitation rules for the console."""

from __future__ import annotations

from typing import Any, cast

import msgspec
from aiohttp import web

from appliance.core.actors import Visitor
from appliance.core.errors import InvalidInput
from appliance.core.live import Filter
from appliance.webui.console_views import staff
from appliance.webui.contract import Contract, Operation, convert, read_body, read_query, reply
from appliance.webui.inputs import decode_json, do_not_track
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.visitor_views import client_address, visitor_id
from appliance.webui.wire import insight as wire
from appliance.webui.wire.chat import OneConversation, conversation_out

_BEACON_MAX = 1024  # bytes of a dwell beacon


def tracking_actor(request: web.Request, vid: str) -> Visitor:
    """Return the visitor as the insight use cases take them."""
    return Visitor(vid, client_address(request), dnt=do_not_track(request))


# -- visitor surface --------------------------------------------------------------


async def record_page_view(request: web.Request) -> web.Response:
    """Record a page view of the visitor (a visit starts after 30 quiet minutes)."""
    box = request.app[BOX]
    # The widget sends its token in the body (text/plain: no preflight on a page view);
    # a bearer header, when given, is checked first, as on every other visitor route.
    vid = visitor_id(request) if "Authorization" in request.headers else None
    view = await read_body(request, wire.PageView)
    if vid is None:
        vid = box.visitors.verify(view.token) if view.token else None
        if vid is None:
            raise web.HTTPUnauthorized(reason="a valid visitor token is required")
    actor = tracking_actor(request, vid)
    box.limits.page_view(actor.id, actor.address)
    recorded = await box.insight.page_view(
        actor,
        url=view.url,
        title=view.title,
        referrer=view.referrer,
        site=view.site or "default",
        user_agent=request.headers.get("User-Agent", ""),
    )
    if recorded is None:
        return reply(wire.NotTracked(False))
    ref = wire.PageViewRef(recorded.id, recorded.visit_id, recorded.visit_number)
    return reply(wire.PageViewRecorded(True, ref), 201)


async def record_dwell(request: web.Request) -> web.Response:
    """Take a sendBeacon report of a page's visible time (token in the body, no header)."""
    box = request.app[BOX]
    raw = await request.content.read(_BEACON_MAX + 1)
    if len(raw) > _BEACON_MAX:
        raise web.HTTPRequestEntityTooLarge(max_size=_BEACON_MAX, actual_size=len(raw))
    data = decode_json(raw)
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object")
    # Who is asking before what they say: a beacon without a valid token is a 401.
    token = data.get("token")
    vid = box.visitors.verify(token) if isinstance(token, str) else None
    if vid is None:
        raise web.HTTPUnauthorized(reason="a valid visitor token is required")
    report = convert(data, wire.DwellReport)
    box.limits.beacon(vid, client_address(request))
    await box.insight.dwell(
        tracking_actor(request, vid), int_path(request, "view_id"), report.dwell_ms
    )
    return web.Response(status=204)


async def identify(request: web.Request) -> web.Response:
    """Link the visitor to the customer the host site signed for."""
    box = request.app[BOX]
    vid = visitor_id(request)
    identity = await read_body(request, wire.SignedIdentity)
    box.limits.identify(vid, client_address(request))
    customer = await box.customers.identify(vid, msgspec.to_builtins(identity))
    return reply(wire.Identified(wire.CustomerName(customer.id, customer.name)))


async def accept_invitation(request: web.Request) -> web.Response:
    """Accept an invitation: the chat opens (with the inviting agent when they can)."""
    box = request.app[BOX]
    vid = visitor_id(request)
    answer = await read_body(request, wire.Acceptance)
    conv = await box.invitations.accept(
        vid, int_path(request, "invitation_id"), ip=client_address(request), lang=answer.lang
    )
    return reply(OneConversation(conversation_out(conv)), 201)


async def decline_invitation(request: web.Request) -> web.Response:
    """Decline an invitation; it is recorded."""
    box = request.app[BOX]
    invitation = await box.invitations.decline(
        visitor_id(request), int_path(request, "invitation_id")
    )
    brief = wire.InvitationBrief(invitation.id, cast(wire.InvitationStatus, invitation.status))
    return reply(wire.Declined(brief))


# -- console ----------------------------------------------------------------------


def _filter(query: wire.VisitorQuery) -> Filter:
    """The live list's filter (trimmed, the search text lower-cased)."""
    try:
        return Filter.parse(
            {
                "q": query.q,
                "region": query.region,
                "source": query.source or "",
                "status": query.status or "",
            }
        )
    except ValueError as err:
        raise InvalidInput(str(err)) from err


async def list_visitors(request: web.Request) -> web.Response:
    """Return one page of the live visitors in the user's scope, filtered."""
    session = current_session(request)
    query = read_query(request, wire.VisitorQuery)
    actor = await staff(request, session)
    total, page = request.app[BOX].insight.visitors_for(
        actor, _filter(query), query.offset, query.limit
    )
    rows = [wire.live_visitor_out(v) for v in page]
    return reply(wire.Visitors(total, query.offset, query.limit, rows))


def _visitor_path(request: web.Request) -> str:
    vid = request.match_info["visitor_id"]
    if len(vid) > 64:
        raise web.HTTPNotFound()
    return vid


async def visitor_detail(request: web.Request) -> web.Response:
    """Return a visitor: live row, trail with dwell, visits, conversations, customer."""
    session = current_session(request)
    box = request.app[BOX]
    actor = await staff(request, session)
    detail = await box.insight.detail_for(_visitor_path(request), actor)
    return reply(wire.OneVisitor(wire.visitor_detail_out(detail)))


async def invite_visitor(request: web.Request) -> web.Response:
    """Invite a visitor on the site to chat with the current agent."""
    session = current_session(request)
    box = request.app[BOX]
    vid = _visitor_path(request)
    invite = await read_body(request, wire.Invite)
    invitation = await box.invitations.invite(await staff(request, session), vid, invite.message)
    return reply(wire.OneInvitation(wire.invitation_out(invitation)), 201)


async def list_customers(request: web.Request) -> web.Response:
    """Find customers by name, e-mail, phone or external id."""
    query = read_query(request, wire.CustomerQuery)
    found = await request.app[BOX].customers.search(query.q)
    return reply(wire.Customers([wire.customer_out(c) for c in found]))


async def get_customer(request: web.Request) -> web.Response:
    """Return a customer profile with visits and conversations across devices."""
    profile = await request.app[BOX].customers.profile(int_path(request, "customer_id"))
    return reply(wire.OneCustomer(wire.customer_profile_out(profile)))


async def patch_customer(request: web.Request) -> web.Response:
    """Edit a customer's contact data, tier or notes."""
    box = request.app[BOX]
    customer_id = int_path(request, "customer_id")
    change = await read_body(request, wire.CustomerChange)
    await box.customers.update(customer_id, msgspec.to_builtins(change))
    profile = await box.customers.profile(customer_id)
    return reply(wire.OneCustomer(wire.customer_profile_out(profile)))


async def get_invite_rules(request: web.Request) -> web.Response:
    """Return the automatic invitation rules."""
    rules = request.app[BOX].invitations.rules
    return reply(wire.InviteRules([wire.invite_rule_out(r) for r in rules]))


class _RuleList(msgspec.Struct):
    """The rules body before each rule is read, so that a refusal names its rule."""

    rules: list[Any]


def _rule(number: int, raw: Any) -> dict[str, Any]:
    try:
        rule = convert(raw, wire.InviteRule)
    except InvalidInput as err:  # the editor shows it next to the rule: "rule 3: …"
        raise InvalidInput(f"rule {number}: {err.message}") from err
    found: dict[str, Any] = msgspec.to_builtins(rule)
    return found


async def put_invite_rules(request: web.Request) -> web.Response:
    """Replace the automatic invitation rules (supervisors)."""
    given = await read_body(request, _RuleList)
    rules = [_rule(number, raw) for number, raw in enumerate(given.rules, 1)]
    saved = await request.app[BOX].invitations.set_rules(rules)
    return reply(wire.InviteRules([wire.invite_rule_out(r) for r in saved]))


async def list_invitations(request: web.Request) -> web.Response:
    """Return the latest invitations and how they ended (supervisors)."""
    recent = await request.app[BOX].invitations.recent()
    return reply(wire.Invitations([wire.invitation_out(i) for i in recent]))


_OVERSEERS = "Supervisors and admins only (else 403)."
_TAG = "insight"
_ID = {"view_id": wire.Id, "invitation_id": wire.Id, "customer_id": wire.Id}

CONTRACT = Contract(
    [
        Operation(
            "POST",
            "/api/visitor/pageviews",
            record_page_view,
            "Record a page view (a visit starts after 30 quiet minutes)",
            _TAG,
            wire.PageViewRecorded,
            status=201,
            also={200: wire.NotTracked},
            body=wire.PageView,
            upload=("application/json", "text/plain"),
            errors=(401, 413, 422, 429),
            description='201: recorded. 200 `{"tracked": false}`: not tracked, '
            "Do-Not-Track / GPC honoured (when the admin says so); nothing is stored. "
            "The token is the bearer header's or, without one, the body's `token` (JSON "
            "sent as text/plain: a simple request, no CORS preflight on a page view).",
        ),
        Operation(
            "POST",
            "/api/visitor/pageviews/{view_id}/dwell",
            record_dwell,
            "Report a page's visible time (navigator.sendBeacon, text/plain)",
            _TAG,
            status=204,
            body=wire.DwellReport,
            upload=("text/plain",),
            path_types=_ID,
            errors=(401, 404, 413, 422, 429),
            description="The body (JSON, sent as text/plain) carries the visitor token, so "
            "no Authorization header (and no CORS preflight) is needed. The largest report "
            "wins, bounded by the time since the page view.",
        ),
        Operation(
            "POST",
            "/api/visitor/identify",
            identify,
            "Identify the visitor as the customer the host site signed for",
            _TAG,
            wire.Identified,
            body=wire.SignedIdentity,
            errors=(401, 403, 409, 413, 422, 429),
            description="403 bad_signature (also for a malformed sig) or expired (older "
            "than 10 minutes); 409 replayed (the signature was already used by another "
            "visitor).",
        ),
        Operation(
            "POST",
            "/api/visitor/invitations/{invitation_id}/accept",
            accept_invitation,
            "Accept an invitation: the chat opens, with the inviting agent if they can",
            _TAG,
            wire.InvitedChat,
            status=201,
            body=wire.Acceptance,
            path_types=_ID,
            errors=(401, 404, 409, 413, 422),
        ),
        Operation(
            "POST",
            "/api/visitor/invitations/{invitation_id}/decline",
            decline_invitation,
            "Decline an invitation (recorded)",
            _TAG,
            wire.Declined,
            path_types=_ID,
            errors=(401, 404, 409),
        ),
        Operation(
            "GET",
            "/api/console/visitors",
            list_visitors,
            "One page of the live visitors in the user's scope, filtered",
            _TAG,
            wire.Visitors,
            query=wire.VisitorQuery,
            errors=(401, 422),
        ),
        Operation(
            "GET",
            "/api/console/visitors/{visitor_id}",
            visitor_detail,
            "A visitor: live row, trail with dwell times, visits, conversations, customer",
            _TAG,
            wire.OneVisitor,
            errors=(401, 404),
        ),
        Operation(
            "POST",
            "/api/console/visitors/{visitor_id}/invite",
            invite_visitor,
            "Invite a visitor on the site to chat with you",
            _TAG,
            wire.OneInvitation,
            status=201,
            body=wire.Invite,
            errors=(401, 403, 404, 409, 413, 422),
            description="404: the visitor left or is outside your scope; 409 chatting or "
            "already_invited.",
        ),
        Operation(
            "GET",
            "/api/console/customers",
            list_customers,
            "Find customers by name, e-mail, phone or external id",
            _TAG,
            wire.Customers,
            query=wire.CustomerQuery,
            errors=(401, 422),
        ),
        Operation(
            "GET",
            "/api/console/customers/{customer_id}",
            get_customer,
            "A customer profile with visits and conversations across devices",
            _TAG,
            wire.OneCustomer,
            path_types=_ID,
            errors=(401, 404),
        ),
        Operation(
            "PATCH",
            "/api/console/customers/{customer_id}",
            patch_customer,
            "Edit a customer's contact data, tier or notes",
            _TAG,
            wire.OneCustomer,
            body=wire.CustomerChange,
            path_types=_ID,
            errors=(401, 403, 404, 413, 422),
            description="Any subset of the fields; an unknown field answers 422.",
        ),
        Operation(
            "GET",
            "/api/console/invite-rules",
            get_invite_rules,
            "The automatic invitation rules, in the order they are tried",
            _TAG,
            wire.InviteRules,
            errors=(401,),
        ),
        Operation(
            "PUT",
            "/api/console/invite-rules",
            put_invite_rules,
            "Replace the automatic invitation rules",
            _TAG,
            wire.InviteRules,
            body=wire.InviteRules,
            errors=(401, 403, 413, 422),
            description=f"{_OVERSEERS} A refused rule is named: `rule 3: …` (from 1).",
        ),
        Operation(
            "GET",
            "/api/console/invitations",
            list_invitations,
            "The latest invitations and how they ended",
            _TAG,
            wire.Invitations,
            errors=(401, 403),
            description=_OVERSEERS,
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the insight routes."""
    CONTRACT.install(app)
