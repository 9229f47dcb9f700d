"""Who may call which route: closed by default.

Every route of the app needs a console session unless this table says it is public,
and a role from the table when it names one. The `authorize` middleware applies it
before any handler runs, so a handler that forgets a check is still closed. Public
routes are the login and setup forms, the page language, the widget and the visitor
API (which proves a visitor by their bearer token), the customer portal (which signs
customers in itself, portal_views.py), the static files and this API's own
description. What a route does with the session (ownership, scope, rate limits) stays
with the core's rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from appliance.core.accounts import OVERSEERS, ROLES, Session
from appliance.webui.keys import SESSION
from appliance.webui.security import is_portal_path, is_visitor_path, json_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Policy:
    """Public, or the roles a console session must have."""

    public: bool = False
    roles: frozenset[str] = frozenset(ROLES)


PUBLIC = Policy(public=True)
STAFF = Policy()
OVERSEER = Policy(roles=frozenset(OVERSEERS))
ADMIN = Policy(roles=frozenset({"admin"}))

# The explicit public list (besides the visitor API and static files, whole surfaces).
_PUBLIC_ROUTES = frozenset(
    {
        ("GET", "/"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("POST", "/logout"),
        # The login's steps after the password; each proves itself by the ticket the
        # password step gave (core/login.py).
        ("POST", "/login/code"),
        ("POST", "/login/password"),
        ("POST", "/login/enrol"),
        ("POST", "/login/finish"),
        ("GET", "/setup"),
        ("POST", "/setup"),
        ("POST", "/lang"),
        ("GET", "/widget.js"),
        ("GET", "/api/openapi.json"),
    }
)
_PUBLIC_PREFIXES = ("/static/",)

# Routes closed to some staff roles; any other route needs only a session.
_ROLE_ROUTES: dict[tuple[str, str], Policy] = {
    ("GET", "/console/board"): OVERSEER,
    ("GET", "/console/routing"): OVERSEER,
    ("GET", "/console/sla-policies"): OVERSEER,
    ("GET", "/console/ticket-rules"): OVERSEER,
    ("GET", "/console/desk-settings"): OVERSEER,
    ("GET", "/api/console/board"): OVERSEER,
    ("GET", "/api/console/invitations"): OVERSEER,
    ("PUT", "/api/console/invite-rules"): OVERSEER,
    # The widget's look (brand_views.py).
    ("GET", "/console/brand"): OVERSEER,
    ("GET", "/console/brand/preview"): OVERSEER,
    ("GET", "/api/console/brand"): OVERSEER,
    ("PUT", "/api/console/brand"): OVERSEER,
    ("PUT", "/api/console/brand/logo"): OVERSEER,
    ("DELETE", "/api/console/brand/logo"): OVERSEER,
    **{
        (method, path): OVERSEER
        for path, methods in {
            "/api/console/groups": ("GET", "POST"),
            "/api/console/groups/{group_id}": ("PATCH", "DELETE"),
            "/api/console/groups/{group_id}/members": ("PUT",),
            "/api/console/agents": ("GET",),
            "/api/console/agents/{user_id}": ("PATCH",),
            "/api/console/topics": ("GET", "PUT"),
            "/api/console/routes": ("GET", "PUT"),
            "/api/console/priority": ("GET", "PUT"),
            "/api/console/ticket-types": ("PUT",),
            "/api/console/ticket-templates": ("POST",),
            "/api/console/ticket-templates/{template_id}": ("PUT", "DELETE"),
            "/api/console/ticket-schedules": ("POST",),
            "/api/console/ticket-schedules/preview": ("POST",),
            "/api/console/sla-policies": ("POST",),
            "/api/console/sla-policies/order": ("PUT",),
            "/api/console/sla-policies/{policy_id}": ("PATCH", "DELETE"),
            "/api/console/customers/{customer_id}/work": ("GET",),
            "/api/console/ticket-schedules/{schedule_id}": ("PUT", "DELETE"),
            "/api/console/ticket-rules": ("GET", "POST"),
            "/api/console/ticket-rules/order": ("PUT",),
            "/api/console/ticket-rules/preview": ("POST",),
            "/api/console/ticket-rules/{rule_id}": ("GET", "PUT", "DELETE"),
            "/api/console/webhooks": ("GET", "POST"),
            "/api/console/webhooks/{webhook_id}": ("PATCH", "DELETE"),
            "/api/console/webhooks/{webhook_id}/rotate-secret": ("POST",),
            "/api/console/webhooks/{webhook_id}/ping": ("POST",),
            "/api/console/webhooks/{webhook_id}/deliveries": ("GET",),
            "/api/console/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": ("POST",),
            "/api/console/kb/editors/{user_id}": ("PUT",),
            "/api/console/search/status": ("GET",),
            "/api/console/kb/deflection": ("GET",),
            "/console/reports": ("GET",),
            "/api/console/reports": ("GET",),
            "/api/console/reports.csv": ("GET",),
            "/api/console/reports/funnel": ("GET",),
            "/api/console/reports/funnel.csv": ("GET",),
            "/api/console/reports/plan": ("GET",),
            "/api/console/reports/plan.csv": ("GET",),
            "/api/console/reports/subscriptions": ("GET", "POST"),
            "/api/console/reports/subscriptions/{subscription_id}": ("PUT", "DELETE"),
            "/api/console/reports/subscriptions/{subscription_id}/send": ("POST",),
            # Scorecards and quality review (scorecard_views.py): agents read their own.
            "/console/history/{conv_id}/review": ("GET",),
            "/api/console/scorecards": ("POST",),
            "/api/console/scorecards/{card_id}": ("PUT", "DELETE"),
            "/api/console/qa/checklists": ("GET", "POST"),
            "/api/console/qa/checklists/{checklist_id}": ("PUT", "DELETE"),
            "/api/console/qa/reviews": ("POST",),
            "/api/console/qa/reviews/{review_id}": ("PUT", "DELETE"),
            "/api/console/qa/sample": ("GET",),
        }.items()
        for method in methods
    },
}
_ADMIN_PREFIXES = ("/admin", "/api/admin/")


def policy_of(method: str, path: str) -> Policy:
    """Return the policy of a route, by its method and path template."""
    method = "GET" if method == "HEAD" else method
    if (method, path) in _PUBLIC_ROUTES or is_visitor_path(path):
        return PUBLIC
    if is_portal_path(path):
        return PUBLIC  # to the console's policy: the portal has its own sign-in
    if path.startswith(_PUBLIC_PREFIXES):
        return PUBLIC
    if path == "/admin" or path.startswith(_ADMIN_PREFIXES[1]):
        return ADMIN
    return _ROLE_ROUTES.get((method, path), STAFF)


def _template(request: web.Request) -> str | None:
    """The matched route's path template, or None when nothing matched (404/405)."""
    route = request.match_info.route
    resource = route.resource
    if resource is None or request.match_info.http_exception is not None:
        return None
    return resource.canonical


@web.middleware
async def authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a request the route's policy does not allow, before its handler runs."""
    template = _template(request)
    if template is None:  # not a route of ours: the 404/405 answers for itself
        return await handler(request)
    policy = policy_of(request.method, template)
    if policy.public:
        return await handler(request)
    session: Session | None = request.get(SESSION)
    if session is None:
        if request.path.startswith("/api/") or request.method != "GET":
            return json_error(401, "not_authenticated", "log in first")
        raise web.HTTPFound(f"/login?next={request.rel_url.path}")
    if session.user.role not in policy.roles:
        if request.path.startswith("/api/"):
            return json_error(403, "forbidden", "your role may not do this")
        raise web.HTTPForbidden(reason="your role may not do this")
    return await handler(request)
