"""Supervisor pages: wallboard, routing settings and work items, and the routing API
round trip the settings page makes, with real clients against the app on loopback."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from yarl import URL

from tests.conftest import Agent

_STATIC = resources.files("appliance.webui") / "static"


async def call(agent: Agent, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    """Send a console API request with the agent's CSRF token; check the status."""
    async with agent.http.request(
        method, agent.running.url(path), json=body, headers={"X-CSRF-Token": agent.csrf}
    ) as response:
        assert response.status == status, await response.text()
        return await response.json()


async def page(agent: Agent, path: str, status: int = 200) -> str:
    """Fetch a console page without following redirects; check the status."""
    async with agent.http.get(agent.running.url(path), allow_redirects=False) as response:
        assert response.status == status, await response.text()
        if status == 200:
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        return await response.text()


def hooks(script: str) -> tuple[set[str], set[str]]:
    """Return the data-cb and data-f names a page script looks up."""
    source = (_STATIC / script).read_text(encoding="utf-8")
    cb = set(re.findall(r'\$\("([a-z-]+)"\)', source))
    cb |= set(re.findall(r"""clone\("([a-z-]+)"\)""", source))
    cb |= set(re.findall(r"""\[data-cb="([a-z-]+)"\]'""", source))
    fields = set(re.findall(r"""(?:field\(\w+, |f\()"([a-z-]+)"\)""", source))
    return cb, fields


def assert_hooks(html: str, script: str) -> None:
    """Check that every element the script needs is in the page, and the script is loaded."""
    cb, fields = hooks(script)
    assert cb and fields
    missing = {n for n in cb if f'data-cb="{n}"' not in html}
    missing |= {n for n in fields if f'data-f="{n}"' not in html}
    assert not missing, f"{script} looks for elements the page lacks: {missing}"
    assert re.search(f'src="/static/[0-9a-f]{{12}}/{re.escape(script)}"', html)
    assert "<script>" not in html  # the CSP refuses inline scripts
    assert re.search(r'href="/static/[0-9a-f]{12}/supervisor\.css"', html)


async def test_supervisor_sees_every_page_with_its_script_hooks(make_agent):
    boss = await make_agent("boss", role="supervisor")
    board = await page(boss, "/console/board")
    assert_hooks(board, "board.js")
    assert "监控大屏" in board and 'href="/console" data-cb="watch-live"' in board
    assert 'data-poll-ms="2000"' in board

    routing = await page(boss, "/console/routing")
    assert_hooks(routing, "routing.js")
    for strategy in ("least_busy", "longest_idle", "round_robin"):
        assert f'<option value="{strategy}">' in routing
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        assert f'name="day-{day}"' in routing
    for tier in ("vip", "member", "new"):
        assert f'name="tier-{tier}"' in routing

    for script in ("board.js", "routing.js", "supervisor.css"):
        async with boss.http.get(boss.running.url(f"/static/{script}")) as r:
            assert r.status == 200


async def test_pages_follow_the_language_choice(make_agent, running):
    admin = await make_agent("root", role="admin")
    admin.http.cookie_jar.update_cookies({"callbox_lang": "en"}, URL(running.url("/")))
    board = await page(admin, "/console/board")
    assert "Wallboard" in board and "Service level now" in board
    assert 'data-l-target="Target: answered within {seconds} s"' in board
    routing = await page(admin, "/console/routing")
    assert "Least busy" in routing and "Always open" in routing
    tickets = await page(admin, "/console/tickets?view=left")
    assert ">Messages &amp; call-backs<" in tickets and ">Breaching soon<" in tickets


async def test_agents_get_left_messages_but_not_the_supervisor_pages(make_agent, http_sessions):
    agent = await make_agent("xiaoli")
    await page(agent, "/console/board", status=403)
    await page(agent, "/console/routing", status=403)
    # The old work-items page is the ticket list's view of left messages now.
    async with agent.http.get(
        agent.running.url("/console/work-items"), allow_redirects=False
    ) as moved:
        assert moved.status == 302
        assert moved.headers["Location"] == "/console/tickets?view=left"
    work = await page(agent, "/console/tickets?view=left")
    assert 'data-view="left"' in work and "留言与回电" in work
    assert 'href="/console/board"' not in work and 'href="/console/routing"' not in work

    anonymous = Agent(agent.running, http_sessions(), 0)
    for path in ("/console/board", "/console/routing", "/console/tickets"):
        async with anonymous.http.get(agent.running.url(path), allow_redirects=False) as r:
            assert r.status == 302
            assert r.headers["Location"] == f"/login?next={path}"


_WEEK = {
    "mon": [["09:00", "12:00"], ["13:00", "18:00"]],
    "tue": [["09:00", "18:00"]],
    "wed": [],
    "thu": [["09:00", "18:00"]],
    "fri": [["09:00", "17:30"]],
    "sat": [],
    "sun": [],
}


async def test_routing_settings_round_trip(make_agent, make_visitor):
    boss = await make_agent("boss", role="supervisor")
    agent = await make_agent("xiaoli")
    groups = (await call(boss, "GET", "/api/console/groups"))["groups"]
    default = next(g for g in groups if g["is_default"])

    # A new group as the page sends it: every field, hours per day, holidays.
    form = {
        "name": "售后",
        "strategy": "longest_idle",
        "target_wait": 30,
        "answer_timeout": 20,
        "max_wait": 300,
        "fallback_group_id": default["id"],
        "fallback_after": 90,
        "sticky": False,
        "hours": _WEEK,
        "holidays": ["2026-10-01", "2026-10-02"],
    }
    created = (await call(boss, "POST", "/api/console/groups", form, status=201))["group"]
    gid = created["id"]
    assert {k: created[k] for k in form} == form
    assert created["members"] == [] and created["is_default"] is False

    # Bad hours are refused with a message the page can show, and change nothing.
    bad = dict(form, name="夜班", hours={"mon": [["09:00", "25:00"]]})
    error = (await call(boss, "POST", "/api/console/groups", bad, status=422))["error"]
    assert (
        error["code"] == "invalid"
        and error["message"] == "mon must be a time of day as HH:MM (24:00 at the latest)"
    )
    error = (
        await call(
            boss, "PATCH", f"/api/console/groups/{gid}", {"hours": {"mon": [["9", "18"]]}}, 422
        )
    )["error"]
    assert (
        error["message"] == "mon must be a time of day as HH:MM (24:00 at the latest)"
    )  # the contract's wording
    await call(boss, "PATCH", f"/api/console/groups/{gid}", {"holidays": ["10/01"]}, status=422)
    await call(boss, "PATCH", f"/api/console/groups/{gid}", {"target_wait": "30"}, status=422)
    names = [g["name"] for g in (await call(boss, "GET", "/api/console/groups"))["groups"]]
    assert "夜班" not in names
    again = (await call(boss, "GET", "/api/console/groups"))["groups"]
    assert next(g for g in again if g["id"] == gid)["hours"] == _WEEK

    # Rename and switch to "always open"; set the members.
    renamed = (
        await call(boss, "PATCH", f"/api/console/groups/{gid}", {"name": "售后服务", "hours": None})
    )["group"]
    assert renamed["name"] == "售后服务" and renamed["hours"] is None
    assert renamed["holidays"] == ["2026-10-01", "2026-10-02"]
    members = await call(
        boss, "PUT", f"/api/console/groups/{gid}/members", {"members": [agent.user_id]}
    )
    assert members["group"]["members"] == [agent.user_id]

    # The agent's scope, as one row of the page saves it.
    scope = {
        "skills": ["退款", "english"],
        "regions": ["上海"],
        "tier": "expert",
        "max_chats": 4,
        "groups": [default["id"], gid],
    }
    saved = (await call(boss, "PATCH", f"/api/console/agents/{agent.user_id}", scope))["agent"]
    assert saved["skills"] == ["english", "退款"] and saved["regions"] == ["上海"]
    assert saved["tier"] == "expert" and saved["max_chats"] == 4
    assert saved["groups"] == sorted([default["id"], gid])
    await call(boss, "PATCH", f"/api/console/agents/{agent.user_id}", {"tier": "boss"}, 422)

    # Topics, rules (their order kept) and priority points.
    topics = [
        {"key": "refund", "label": "退款", "group_id": gid, "skill": "退款"},
        {"key": "sales", "label": "购买咨询", "group_id": default["id"], "skill": ""},
    ]
    assert (await call(boss, "PUT", "/api/console/topics", {"topics": topics}))["topics"] == topics
    visitor = await make_visitor()
    status, offered, _ = await visitor.request("GET", "/api/visitor/topics")
    assert status == 200
    assert offered["topics"] == [
        {"key": "refund", "label": "退款"},
        {"key": "sales", "label": "购买咨询"},
    ]
    bad_topics = [{"key": "x", "label": "X", "group_id": 999_999, "skill": ""}]
    await call(boss, "PUT", "/api/console/topics", {"topics": bad_topics}, status=422)

    routes = [
        {"url_pattern": "*/after-sales/*", "region": "", "group_id": gid, "skill": ""},
        {"url_pattern": "", "region": "上海", "group_id": default["id"], "skill": "english"},
    ]
    assert (await call(boss, "PUT", "/api/console/routes", {"routes": routes}))["routes"] == routes
    reordered = routes[::-1]
    stored = await call(boss, "PUT", "/api/console/routes", {"routes": reordered})
    assert stored["routes"] == reordered
    assert (await call(boss, "GET", "/api/console/routes"))["routes"] == reordered

    points = {"tier": {"vip": 80, "member": 25, "new": 0}, "topic": {"refund": 15}}
    points |= {"wait": 25, "transfer": 50}
    assert (await call(boss, "PUT", "/api/console/priority", points))["priority"] == points
    assert (await call(boss, "GET", "/api/console/priority"))["priority"] == points
    await call(boss, "PUT", "/api/console/priority", {"tier": {"gold": 5}}, status=422)

    # The wallboard lists the new queue with its target.
    board = await call(boss, "GET", "/api/console/board")
    queue = next(q for q in board["queues"] if q["id"] == gid)
    assert queue["name"] == "售后服务" and queue["target_wait"] == 30
    assert queue["waiting"] == 0 and queue["service_level"] is None

    # Deleting the group takes its topics and rules with it.
    await call(boss, "DELETE", f"/api/console/groups/{gid}")
    left = (await call(boss, "GET", "/api/console/topics"))["topics"]
    assert [t["key"] for t in left] == ["sales"]
    await call(boss, "DELETE", f"/api/console/groups/{default['id']}", status=409)


async def test_agents_may_not_change_routing(make_agent):
    agent = await make_agent("xiaoli")
    user = agent.user_id
    attempts = [
        ("GET", "/api/console/groups", None),
        ("POST", "/api/console/groups", {"name": "mine"}),
        ("PATCH", "/api/console/groups/1", {"name": "mine"}),
        ("PUT", "/api/console/groups/1/members", {"members": [user]}),
        ("GET", "/api/console/agents", None),
        ("PATCH", f"/api/console/agents/{user}", {"max_chats": 50}),
        ("PUT", "/api/console/topics", {"topics": []}),
        ("PUT", "/api/console/routes", {"routes": []}),
        ("PUT", "/api/console/priority", {"tier": {"vip": 1000}}),
        ("GET", "/api/console/board", None),
    ]
    for method, path, body in attempts:
        error = (await call(agent, method, path, body, status=403))["error"]
        assert error["code"] == "forbidden", (method, path, error)
