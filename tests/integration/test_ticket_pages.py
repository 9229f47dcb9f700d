"""The ticket pages over real HTTP: the shells hold every element their scripts look
up, load them from the versioned static folder, follow the language choice, and a
ticket outside the user's view is a 404 page, as the API answers it."""

from __future__ import annotations

import re
from importlib import resources

from yarl import URL

from tests.conftest import Agent

_STATIC = resources.files("appliance.webui") / "static"


async def page(agent: Agent, path: str, status: int = 200) -> str:
    """Fetch a console page without following redirects; check the status."""
    async with agent.http.get(agent.running.url(path), allow_redirects=False) as response:
        assert response.status == status, await response.text()
        assert response.content_type == "text/html"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        return await response.text()


def assert_hooks(html: str, script: str) -> None:
    """Every element the script looks up is in the page, and the page loads the script."""
    source = (_STATIC / script).read_text(encoding="utf-8")
    wanted = set(re.findall(r'\$\("([a-z-]+)"\)', source))
    assert len(wanted) > 10
    missing = {name for name in wanted if f'data-cb="{name}"' not in html}
    assert not missing, f"{script} looks for elements the page lacks: {missing}"
    assert re.search(f'src="/static/[0-9a-f]{{12}}/{re.escape(script)}"', html)
    assert re.search(r'href="/static/[0-9a-f]{12}/tickets\.css"', html)
    assert "<script>" not in html  # the CSP refuses inline scripts


async def test_the_list_and_a_ticket_page_hold_their_scripts_hooks(make_agent):
    agent = await make_agent("wangfang")
    listing = await page(agent, "/console/tickets")
    assert_hooks(listing, "ticket-list.js")
    views = re.findall(r'role="tab" data-view="(\w+)">([^<]+)<', listing)
    assert views == [
        ("mine", "我的"),
        ("my_groups", "我的组"),
        ("unassigned", "未分配"),
        ("pending", "等待客户"),
        ("open", "处理中"),
        ("all", "全部"),
        ("left", "留言与回电"),
        ("breaching", "即将超时"),
    ]
    assert 'data-role="agent"' in listing and 'data-page-size="25"' in listing
    assert '<a href="/console/tickets">工单</a>' in listing

    made = await agent.post(
        "/api/console/tickets", {"subject": "<b>打印机</b>卡纸", "channel": "phone"}, status=201
    )
    ticket = made["ticket"]
    shown = await page(agent, f"/console/tickets/{ticket['id']}")
    assert_hooks(shown, "ticket-page.js")
    assert f"<title>工单 {ticket['number']} · " in shown
    assert f'data-ticket-id="{ticket["id"]}"' in shown
    assert "<b>" not in shown  # the subject is the script's to show, as text


async def test_a_ticket_outside_the_view_is_a_404_page(make_agent):
    boss = await make_agent("boss", role="supervisor")
    agent = await make_agent("xiaoli")
    group = await boss.post("/api/console/groups", {"name": "售后"}, status=201)
    hidden = await boss.post(
        "/api/console/tickets",
        {"subject": "售后的工单", "group_id": group["group"]["id"]},
        status=201,
    )
    path = f"/console/tickets/{hidden['ticket']['id']}"
    assert "ticket-page.js" in await page(boss, path)
    for missing in (path, "/console/tickets/999999"):
        html = await page(agent, missing, status=404)
        assert 'data-cb="ticket-missing"' in html and "没有这个工单" in html
        assert "ticket-page.js" not in html
    async with agent.http.get(agent.running.url("/console/tickets/abc")) as r:
        assert r.status == 404


async def test_the_pages_follow_the_language_choice(make_agent, running):
    agent = await make_agent("li")
    agent.http.cookie_jar.update_cookies({"callbox_lang": "en"}, URL(running.url("/")))
    listing = await page(agent, "/console/tickets")
    assert ">Waiting on customer<" in listing and "New ticket for a call" in listing
    made = await agent.post("/api/console/tickets", {"subject": "x"}, status=201)
    shown = await page(agent, f"/console/tickets/{made['ticket']['id']}")
    assert f"<title>Ticket {made['ticket']['number']} · " in shown and ">Assign to me<" in shown
