"""Console accounts: login, cookies, CSRF, rate limits, setup link, roles, logout."""

from __future__ import annotations

from tests.conftest import PASSWORD, Agent, csrf_in


async def test_login_sets_a_hardened_session_cookie(running, make_agent, http_sessions):
    agent = await make_agent("zhangwei")
    me = await agent.get("/api/console/me")
    assert me["user"]["username"] == "zhangwei" and me["user"]["status"] == "online"
    fresh = http_sessions()
    async with fresh.get(running.url("/login")) as page:
        token = csrf_in(await page.text())
    async with fresh.post(
        running.url("/login"),
        data={"username": "zhangwei", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    ) as r:
        assert r.status == 302
        cookie = next(v for v in r.headers.getall("Set-Cookie") if "callbox_session" in v)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on the LAN; Secure is set under TLS


async def test_wrong_password_then_lockout_with_retry_after(running, http_sessions):
    await running.box.accounts.create_user("lina", PASSWORD, "agent")
    agent = Agent(running, http_sessions(), 0)
    statuses = [(await agent.login("lina", "wrong password")).status for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    # Even the right password waits now: the limit is on attempts, not on failures seen.
    response = await agent.login("lina")
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1


async def test_unknown_user_and_wrong_password_look_the_same(running, http_sessions):
    await running.box.accounts.create_user("known", PASSWORD, "agent")
    agent = Agent(running, http_sessions(), 0)
    a = await agent.login("known", "nope-nope-nope")
    b = await agent.login("unknown", "nope-nope-nope")
    assert a.status == b.status == 401


async def test_state_changes_without_csrf_token_are_refused(make_agent):
    agent = await make_agent()
    url = agent.running.url("/api/console/presence")
    async with agent.http.post(url, json={"status": "away"}) as r:
        assert r.status == 403 and (await r.json())["error"]["code"] == "csrf"
    async with agent.http.post(
        url, json={"status": "away"}, headers={"X-CSRF-Token": "wrong"}
    ) as r:
        assert r.status == 403
    async with agent.http.post(
        url,
        json={"status": "away"},
        headers={"X-CSRF-Token": agent.csrf, "Origin": "https://evil.example"},
    ) as r:
        assert r.status == 403
    async with agent.http.post(url, data={"status": "away"}) as r:  # a plain form post
        assert r.status == 403
    assert (await agent.get("/api/console/me"))["user"]["status"] == "online"
    await agent.post("/api/console/presence", {"status": "away"})
    assert (await agent.get("/api/console/me"))["user"]["status"] == "away"


async def test_login_form_itself_needs_the_csrf_cookie(running, http_sessions):
    await running.box.accounts.create_user("mei", PASSWORD, "agent")
    http = http_sessions()
    async with http.post(
        running.url("/login"),
        data={"username": "mei", "password": PASSWORD, "csrf_token": "guessed"},
        allow_redirects=False,
    ) as r:
        assert r.status == 403


async def test_logout_ends_the_session(make_agent):
    agent = await make_agent()
    async with agent.http.post(
        agent.running.url("/logout"), data={"csrf_token": agent.csrf}, allow_redirects=False
    ) as r:
        assert r.status == 302
    await agent.get("/api/console/me", status=401)
    async with agent.http.get(agent.running.url("/console"), allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"].startswith("/login")


async def test_disabled_user_loses_access_at_once(make_agent):
    agent = await make_agent("temp")
    await agent.running.box.accounts.set_disabled("temp")
    await agent.get("/api/console/me", status=401)
    assert (await agent.login("temp")).status == 401


async def test_first_boot_setup_link_works_once(make_app, http_sessions):
    from appliance.webui.keys import SETUP_TOKEN

    running = await make_app()
    token = running.server.app[SETUP_TOKEN][0]
    assert token
    http = http_sessions()
    async with http.get(running.url("/setup?token=wrong")) as r:
        assert r.status == 404
    async with http.get(running.url(f"/setup?token={token}")) as r:
        assert r.status == 200
        csrf = csrf_in(await r.text())
    form = {
        "csrf_token": csrf,
        "token": token,
        "username": "root",
        "display_name": "IT",
        "password": PASSWORD,
        "password2": PASSWORD,
    }
    async with http.post(running.url("/setup"), data=form, allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/setup"  # on to the next steps
    async with http.get(running.url("/api/console/me")) as r:
        assert (await r.json())["user"]["role"] == "admin"
    other = http_sessions()
    async with other.get(running.url(f"/setup?token={token}")) as r:
        assert r.status == 404  # used up
    assert running.server.app[SETUP_TOKEN][0] is None


async def test_agents_see_only_their_own_history_supervisors_see_all(make_agent, make_visitor):
    first = await make_agent(max_chats=1)
    second = await make_agent(max_chats=1)
    boss = await make_agent(role="supervisor", status=None)
    convs = [await (await make_visitor()).open() for _ in range(2)]
    await first.running.box.dispatcher.wait_idle()
    owners = {}
    for agent in (first, second):
        mine = await agent.get("/api/console/conversations?scope=mine")
        for conv in mine["conversations"]:
            owners[conv["id"]] = agent
            await agent.post(f"/api/console/conversations/{conv['id']}/close")
    assert set(owners) == {c["id"] for c in convs}
    first_closed = await first.get("/api/console/conversations?scope=closed")
    assert [c["id"] for c in first_closed["conversations"]] == [
        cid for cid, a in owners.items() if a is first
    ]
    other = next(cid for cid, a in owners.items() if a is second)
    await first.get(f"/api/console/conversations/{other}", status=404)
    everything = await boss.get("/api/console/conversations?scope=closed")
    assert {c["id"] for c in everything["conversations"]} == set(owners)
    async with first.http.get(first.running.url("/console/history")) as r:
        html = await r.text()
    assert other not in html


async def test_language_switch_is_remembered(make_agent):
    agent = await make_agent()
    async with agent.http.get(agent.running.url("/console/history")) as r:
        assert '<html lang="zh-CN">' in await r.text()
    async with agent.http.post(
        agent.running.url("/lang"),
        data={"lang": "en", "next": "/console/history", "csrf_token": agent.csrf},
    ) as r:
        html = await r.text()
    assert '<html lang="en">' in html and "Closed conversations" in html
