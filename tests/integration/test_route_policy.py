"""Closed by default: every route the app registers, tried without a session and as
each role. A route that is not on the public list answers 401 (or, for a page, the
login redirect) without a session and 403 to a role its policy does not name."""

from __future__ import annotations

import re

from appliance.core.accounts import ROLES
from appliance.webui.policy import policy_of

# The public list, spelled out here too: widening it must be a visible change.
PUBLIC = {
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
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


def _routes(app) -> list[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "*") or route.resource is None:
            continue
        found.add((route.method, route.resource.canonical))
    return sorted(found)


def _url(template: str) -> str:
    if template.startswith("/static"):
        return "/static/console.css"
    return re.sub(r"\{[^}]+\}", "1", template)


async def test_every_route_is_closed_unless_public(running, make_agent, http_sessions):
    staff = {role: await make_agent(role=role) for role in ROLES}
    stranger = http_sessions()
    routes = _routes(running.server.app)
    public = {
        (m, p)
        for m, p in routes
        # Whole surfaces with their own proof: the visitor API (a bearer token) and the
        # customer portal (its own sign-in; tests/integration/test_portal.py).
        if policy_of(m, p).public and not p.startswith(("/api/visitor/", "/static", "/portal"))
    }
    assert public == PUBLIC
    checked = refused_roles = 0
    for method, template in routes:
        policy = policy_of(method, template)
        if policy.public:
            continue
        url = running.url(_url(template))
        async with stranger.request(method, url, allow_redirects=False) as r:
            if template.startswith("/api/") or method != "GET":
                assert r.status == 401, (method, template, r.status)
                assert (await r.json())["error"]["code"] == "not_authenticated"
            else:
                assert r.status == 302, (method, template, r.status)
                assert r.headers["Location"].startswith("/login?next=")
        for role, agent in staff.items():
            if role in policy.roles:
                continue
            async with agent.http.request(
                method, url, headers={"X-CSRF-Token": agent.csrf}, allow_redirects=False
            ) as r:
                assert r.status == 403, (role, method, template, r.status)
            refused_roles += 1
        checked += 1
    print(f"\nroute policy: {checked} closed routes checked, {refused_roles} role refusals")
    assert checked >= 60 and refused_roles >= 30


async def test_allowed_roles_get_past_the_policy(make_agent):
    """The table is the only role check: an allowed role reaches the handler."""
    for role in ("supervisor", "admin"):
        overseer = await make_agent(role=role)
        assert "groups" in await overseer.get("/api/console/groups")
        assert "queues" in await overseer.get("/api/console/board")
    admin = await make_agent(role="admin")
    assert (await admin.get("/api/admin/health"))["status"] in ("ok", "degraded")
    agent = await make_agent(role="agent")
    assert "conversations" in await agent.get("/api/console/conversations")
