"""Users and roles through the admin API, on the app served on loopback: each action,
its effect on the user's own sessions and logins, the guards (no admin locks
themselves out, the last enabled admin stays), bad input as 4xx with codes, and the
login's steps after the password (a code, a temporary password, enrolment) as forms."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pyotp
import pytest

from appliance.core import audit
from appliance.core.accounts import LastAdmin
from tests.conftest import PASSWORD, Agent, Running, csrf_in


async def form_login(
    http: aiohttp.ClientSession, running: Running, username: str, password: str
) -> tuple[int, str]:
    """Post the login form; return the status and the page (or the redirect target)."""
    async with http.get(running.url("/login")) as page:
        token = csrf_in(await page.text())
    async with http.post(
        running.url("/login"),
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    ) as r:
        return r.status, r.headers.get("Location", "") if r.status == 302 else await r.text()


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} in the page"
    return found.group(1)


async def step(
    http: aiohttp.ClientSession, running: Running, page: str, path: str, **fields: str
) -> tuple[int, str]:
    """Post the next login step's form from the page that shows it."""
    data = {"ticket": hidden(page, "ticket"), "csrf_token": hidden(page, "csrf_token"), **fields}
    async with http.post(running.url(path), data=data, allow_redirects=False) as r:
        return r.status, r.headers.get("Location", "") if r.status == 302 else await r.text()


async def until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Read a console socket's frames until the box closes it; return them."""
    frames: list[dict[str, Any]] = []
    while True:
        message = await ws.receive(timeout=5)
        if message.type != aiohttp.WSMsgType.TEXT:
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            return frames
        frames.append(message.json())


def by_name(listing: dict[str, Any], username: str) -> dict[str, Any]:
    return next(u for u in listing["users"] if u["username"] == username)


async def test_an_admin_lists_and_adds_users_who_choose_their_password_at_login(
    make_agent, running, http_sessions
):
    admin = await make_agent("root", role="admin", status=None)
    listing = await admin.get("/api/admin/users")
    root = by_name(listing, "root")
    assert root["role"] == "admin" and root["disabled"] is False
    assert root["two_factor"] is False and root["sessions"] == 1
    assert root["last_login_at"] is not None and listing["two_factor_roles"] == []

    made = await admin.post(
        "/api/admin/users",
        {"username": "lina", "display_name": "李娜", "role": "supervisor"},
        status=201,
    )
    temporary = made["temporary_password"]
    assert len(temporary) >= 16 and made["user"]["must_change_password"] is True
    assert made["user"]["role"] == "supervisor" and made["user"]["last_login_at"] is None
    assert temporary not in str(await admin.get("/api/admin/users"))  # shown once

    http = http_sessions()
    status, page = await form_login(http, running, "lina", temporary)
    assert status == 200 and 'data-stage="password"' in page
    async with http.get(running.url("/api/console/me")) as r:
        assert r.status == 401  # no session before the new password
    status, page = await step(http, running, page, "/login/password", password="x", password2="x")
    assert status == 422 and 'data-stage="password"' in page
    status, target = await step(
        http, running, page, "/login/password", password="lina's own", password2="lina's own"
    )
    assert status == 302 and target == "/console"
    async with http.get(running.url("/api/console/me")) as r:
        assert r.status == 200 and (await r.json())["user"]["role"] == "supervisor"
    assert by_name(await admin.get("/api/admin/users"), "lina")["must_change_password"] is False
    assert (await form_login(http_sessions(), running, "lina", temporary))[0] == 401


async def test_a_role_change_takes_effect_and_reconnects_the_console(make_agent):
    admin = await make_agent("root", role="admin", status=None)
    lina = await make_agent("lina")
    await lina.get("/api/console/board", status=403)
    ws = await lina.ws()
    try:
        changed = await admin.call(
            "PUT", f"/api/admin/users/{lina.user_id}/role", {"role": "supervisor"}
        )
        assert changed["user"]["role"] == "supervisor"
        frames = await until_closed(ws)
        assert not any(f["type"] == "error" for f in frames)  # not signed out
    finally:
        await ws.close()
    await lina.get("/api/console/board")  # her session goes on, as a supervisor
    again = await lina.ws()  # and her console reconnects
    await again.close()


async def test_reset_password_ends_the_sessions_and_gives_a_one_time_password(
    make_agent, running, http_sessions
):
    admin = await make_agent("root", role="admin", status=None)
    lina = await make_agent("lina")
    ws = await lina.ws()
    try:
        reset = await admin.post(f"/api/admin/users/{lina.user_id}/password")
        frames = await until_closed(ws)
        assert frames[-1]["type"] == "error" and frames[-1]["code"] == "not_authenticated"
    finally:
        await ws.close()
    await lina.get("/api/console/me", status=401)
    assert reset["user"]["must_change_password"] is True and reset["user"]["sessions"] == 0
    assert (await form_login(http_sessions(), running, "lina", PASSWORD))[0] == 401
    status, page = await form_login(http_sessions(), running, "lina", reset["temporary_password"])
    assert status == 200 and 'data-stage="password"' in page


async def test_disable_and_enable(make_agent):
    admin = await make_agent("root", role="admin", status=None)
    lina = await make_agent("lina")
    off = await admin.post(f"/api/admin/users/{lina.user_id}/disable")
    assert off["user"]["disabled"] is True and off["user"]["sessions"] == 0
    await lina.get("/api/console/me", status=401)
    assert (await lina.login("lina")).status == 401
    on = await admin.post(f"/api/admin/users/{lina.user_id}/enable")
    assert on["user"]["disabled"] is False
    assert (await lina.login("lina")).status == 302


async def test_end_sessions_logs_a_user_out_everywhere(make_agent, running, http_sessions):
    admin = await make_agent("root", role="admin", status=None)
    lina = await make_agent("lina")
    second = Agent(running, http_sessions(), lina.user_id)
    assert (await second.login("lina")).status == 302
    ended = await admin.call("DELETE", f"/api/admin/users/{lina.user_id}/sessions")
    assert ended["ended"] == 2 and ended["user"]["sessions"] == 0
    await lina.get("/api/console/me", status=401)
    await second.get("/api/console/me", status=401)
    assert (await lina.login("lina")).status == 302  # she may simply log in again
    # An admin may log themselves out everywhere too.
    mine = await admin.call("DELETE", f"/api/admin/users/{admin.user_id}/sessions")
    assert mine["ended"] == 1
    await admin.get("/api/console/me", status=401)


async def test_an_admin_cannot_lock_themselves_out_nor_remove_the_last_admin(make_agent, running):
    admin = await make_agent("root", role="admin", status=None)
    me = f"/api/admin/users/{admin.user_id}"
    for method, path, body in (
        ("PUT", me + "/role", {"role": "agent"}),
        ("POST", me + "/disable", None),
        ("POST", me + "/password", None),
    ):
        refused = await admin.call(method, path, body, status=409)
        assert refused["error"]["code"] == "own_account"
    # Setting one's own role to what it is changes nothing and is fine.
    await admin.call("PUT", me + "/role", {"role": "admin"})
    # The last enabled admin, from the shell (no actor): refused as well.
    users = running.box.user_admin
    with pytest.raises(LastAdmin):
        await users.set_role(admin.user_id, "agent")
    with pytest.raises(LastAdmin):
        await users.set_disabled(admin.user_id, True)
    # With a second admin, each can be demoted by the other, but not both at once.
    other = await make_agent("root2", role="admin", status=None)
    results = await asyncio.gather(
        users.set_role(other.user_id, "agent"),
        users.set_role(admin.user_id, "agent"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, LastAdmin) for r in results) == 1
    listing = await running.box.user_admin.listing()
    assert sum(u.user.role == "admin" and not u.user.disabled for u in listing) == 1


async def test_bad_input_is_refused_with_a_code(make_agent):
    admin = await make_agent("root", role="admin", status=None)
    agent = await make_agent("lina")
    for body, code in (
        ({"username": "has space"}, "invalid"),
        ({"username": ""}, "invalid"),
        ({"username": "x" * 65}, "invalid"),
        ({"username": "ok", "role": "root"}, "invalid"),
        ({"username": "ok", "extra": 1}, "invalid"),
        ({"username": "LINA"}, "invalid"),  # taken (names are case-blind)
        ({"username": 5}, "invalid"),
    ):
        refused = await admin.post("/api/admin/users", body, status=422)
        assert refused["error"]["code"] == code, body
    await admin.call("PUT", f"/api/admin/users/{agent.user_id}/role", {"role": "god"}, status=422)
    await admin.call("PUT", f"/api/admin/users/{agent.user_id}/role", {}, status=422)
    for path in ("/api/admin/users/999/disable", "/api/admin/users/abc/disable"):
        missing = await admin.post(path, status=404)
        assert missing["error"]["code"] == "not_found"
    await admin.call("DELETE", "/api/admin/users/999/two-factor", status=404)
    await admin.call("PUT", "/api/admin/two-factor", {"roles": ["root"]}, status=422)
    await admin.call("PUT", "/api/admin/two-factor", {"roles": "admin"}, status=422)
    # Not an admin: refused before anything is looked at.
    refused = await agent.post(f"/api/admin/users/{admin.user_id}/disable", status=403)
    assert refused["error"]["code"] == "forbidden"
    await agent.get("/api/admin/users", status=403)


async def _enrol(agent: Agent) -> tuple[str, list[str]]:
    enrolment = await agent.post("/api/console/account/two-factor/setup")
    assert enrolment["qr"].startswith("data:image/svg+xml")
    assert enrolment["uri"].startswith("otpauth://totp/Callbox:")
    secret = enrolment["secret"]
    wrong = await agent.post(
        "/api/console/account/two-factor/confirm", {"code": "12345x"}, status=422
    )
    assert wrong["error"]["code"] == "wrong_code"
    done = await agent.post(
        "/api/console/account/two-factor/confirm", {"code": pyotp.TOTP(secret).now()}
    )
    return secret, done["recovery_codes"]


async def test_two_factor_login_over_http_and_the_admin_reset(make_agent, running, http_sessions):
    admin = await make_agent("root", role="admin", status=None)
    lina = await make_agent("lina")
    assert (await lina.get("/api/console/account/two-factor"))["on"] is False
    _, codes = await _enrol(lina)
    status = await lina.get("/api/console/account/two-factor")
    assert status == {"on": True, "required": False, "recovery_codes_left": 10}
    assert by_name(await admin.get("/api/admin/users"), "lina")["two_factor"] is True

    # Wrong password: the code page all the same; a right code then does not help.
    http = http_sessions()
    code, page = await form_login(http, running, "lina", "not her password")
    assert code == 200 and 'data-stage="code"' in page
    status_code, again = await step(http, running, page, "/login/code", code=codes[0])
    assert status_code == 401 and 'data-stage="code"' in again
    # Right password, then a recovery code: in.
    http = http_sessions()
    code, page = await form_login(http, running, "lina", PASSWORD)
    assert code == 200 and 'data-stage="code"' in page
    status_code, target = await step(http, running, page, "/login/code", code=codes[0])
    assert status_code == 302 and target == "/console"
    assert (await lina.get("/api/console/account/two-factor"))["recovery_codes_left"] == 9

    reset = await admin.call("DELETE", f"/api/admin/users/{lina.user_id}/two-factor")
    assert reset["was_on"] is True and reset["user"]["two_factor"] is False
    code, target = await form_login(http_sessions(), running, "lina", PASSWORD)
    assert code == 302  # no code asked any more


async def test_a_role_that_must_use_two_factor_enrols_at_its_next_login(
    make_agent, running, http_sessions
):
    admin = await make_agent("root", role="admin", status=None)
    await running.box.accounts.create_user("sam", PASSWORD, "supervisor")
    roles = await admin.call("PUT", "/api/admin/two-factor", {"roles": ["supervisor"]})
    assert roles == {"roles": ["supervisor"]}
    assert (await admin.get("/api/admin/two-factor")) == {"roles": ["supervisor"]}
    http = http_sessions()
    status, page = await form_login(http, running, "sam", PASSWORD)
    assert status == 200 and 'data-stage="enrol"' in page
    secret = re.search(r'data-cb="tf-secret">([A-Z2-7 ]+)<', page)
    assert secret and 'src="data:image/svg+xml' in page
    key = secret.group(1).replace(" ", "")
    status, again = await step(http, running, page, "/login/enrol", code="000000x")
    assert status == 422 and key in again.replace(" ", "")  # the same secret, shown again
    status, codes_page = await step(
        http, running, again, "/login/enrol", code=pyotp.TOTP(key).now()
    )
    assert status == 200 and 'data-stage="codes"' in codes_page
    assert len(re.findall(r"<li><code>[a-z2-9]{5}-[a-z2-9]{5}</code></li>", codes_page)) == 10
    # Sent again (a reload): the page once more, but the codes were shown once.
    status, reload = await step(http, running, again, "/login/enrol", code="123456")
    assert status == 200 and 'data-stage="codes"' in reload and "<li><code>" not in reload
    status, target = await step(http, running, codes_page, "/login/finish")
    assert status == 302 and target == "/console"
    async with http.get(running.url("/api/console/account/two-factor")) as r:
        assert await r.json() == {"on": True, "required": True, "recovery_codes_left": 10}


async def test_an_unknown_or_stale_ticket_goes_back_to_the_login(running, http_sessions):
    http = http_sessions()
    async with http.get(running.url("/login")) as page:
        token = csrf_in(await page.text())
    for path in ("/login/code", "/login/password", "/login/enrol", "/login/finish"):
        async with http.post(
            running.url(path),
            data={"ticket": "made-up", "code": "123456", "csrf_token": token},
            allow_redirects=False,
        ) as r:
            assert r.status == 401, path
            assert 'data-cb="login-form"' in await r.text()


async def test_each_action_leaves_one_audit_entry_and_a_refused_one_none(make_agent, running):
    box = running.box
    admin = await make_agent("root", role="admin", status=None)
    lina = await make_agent("lina")

    async def entries() -> list[audit.Entry]:
        return (await box.audit.page(audit.Query(limit=audit.PAGE_MAX))).entries

    async def one(method: str, path: str, body: Any = None, status: int = 200) -> audit.Entry:
        before = len(await entries())
        await admin.call(method, path, body, status=status)
        now = await entries()
        assert len(now) == before + 1, now[: len(now) - before]
        return now[0]

    user = f"/api/admin/users/{lina.user_id}"
    made = await one("POST", "/api/admin/users", {"username": "omar"}, status=201)
    assert (made.action, made.target, made.user_name, made.user_id) == (
        "user.create",
        "omar",
        "root",
        admin.user_id,
    )
    assert made.address == "127.0.0.1"
    role = await one("PUT", user + "/role", {"role": "supervisor"})
    assert (role.action, role.target) == ("user.role", "lina")
    assert json_of(role)["from"] == "agent" and json_of(role)["to"] == "supervisor"
    reset = await one("POST", user + "/password")
    assert reset.action == "user.passwd" and json_of(reset)["temporary"] is True
    assert "password" not in reset.detail.replace("passwd", "")  # the password is not there
    assert (await one("DELETE", user + "/sessions")).action == "user.sessions_end"
    assert (await one("DELETE", user + "/two-factor")).action == "user.totp_reset"
    assert (await one("POST", user + "/disable")).action == "user.disable"
    assert (await one("POST", user + "/enable")).action == "user.enable"
    roles = await one("PUT", "/api/admin/two-factor", {"roles": ["admin"]})
    assert roles.action == "settings.two_factor" and json_of(roles)["roles"] == [[], ["admin"]]

    before = len(await entries())
    me = f"/api/admin/users/{admin.user_id}"
    await admin.call("POST", me + "/disable", status=409)
    await admin.call("PUT", me + "/role", {"role": "agent"}, status=409)
    await admin.call("POST", "/api/admin/users", {"username": "omar"}, status=422)
    await admin.call("POST", "/api/admin/users/999/password", status=404)
    assert len(await entries()) == before


def json_of(entry: audit.Entry) -> dict[str, Any]:
    detail: dict[str, Any] = json.loads(entry.detail)
    return detail
