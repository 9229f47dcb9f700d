"""The service desk's editors (SLA policies, ticket rules) over real HTTP: supervisors
and admins get the pages with every element their scripts look up and the words of
the APIs as core has them; agents are refused as on the other overseer pages and are
not shown the links."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from yarl import URL

from appliance.core import rule_input, rules, sla_policy
from appliance.core.hours import DAYS
from appliance.core.tickets import CHANNELS
from tests.conftest import Agent, Running

_STATIC = resources.files("appliance.webui") / "static"
MakeAgent = Callable[..., Awaitable[Agent]]
_PAGES = {"/console/sla-policies": "sla-policies.js", "/console/ticket-rules": "ticket-rules.js"}


async def page(agent: Agent, path: str, status: int = 200) -> str:
    """Fetch a console page without following redirects; check the status."""
    async with agent.http.get(agent.running.url(path), allow_redirects=False) as response:
        assert response.status == status, await response.text()
        if status == 200:
            assert response.content_type == "text/html"
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        return await response.text()


def assert_hooks(page_html: str, script: str) -> None:
    """Every element the script looks up is in the page, and the page loads it."""
    source = (_STATIC / script).read_text(encoding="utf-8")
    cb = set(re.findall(r'\$\("([a-z-]+)"\)', source))
    fields = set(re.findall(r'part\(\w+, "([a-z-]+)"\)', source))
    assert len(cb) > 10 and len(fields) > 5
    missing = {n for n in cb if f'data-cb="{n}"' not in page_html}
    missing |= {n for n in fields if f'data-f="{n}"' not in page_html}
    assert not missing, f"{script} looks for elements the page lacks: {missing}"
    for asset in (script, "supervisor.css", "desk-editors.css"):
        assert re.search(f'"/static/[0-9a-f]{{12}}/{re.escape(asset)}"', page_html), asset
    assert "<script>" not in page_html  # the CSP refuses inline scripts


def vocabulary(page_html: str) -> dict[str, Any]:
    """The API's words the page gives its script (data-vocab)."""
    found = re.search(r"data-vocab='([^']*)'", page_html)
    assert found
    words: dict[str, Any] = json.loads(html.unescape(found[1]))
    return words


async def test_overseers_get_both_editors_with_their_scripts_hooks(make_agent: MakeAgent) -> None:
    for role in ("supervisor", "admin"):
        boss = await make_agent(f"boss-{role}", role=role)
        for path, script in _PAGES.items():
            shown = await page(boss, path)
            assert_hooks(shown, script)
            # The top bar leads to both, next to the routing settings.
            nav = shown[shown.index('<header class="topbar">') : shown.index("</header>")]
            assert re.search(
                r'href="/console/routing">路由设置</a>\s*'
                r'<a href="/console/sla-policies">SLA 策略</a>\s*'
                r'<a href="/console/ticket-rules">工单规则</a>',
                nav,
            ), nav

    sla = await page(boss, "/console/sla-policies")
    assert "<title>SLA 策略 · " in sla and ">新建策略<" in sla
    assert vocabulary(sla) == {
        "metrics": list(sla_policy.METRICS),
        "actions": list(sla_policy.ACTIONS),
        "priorities": list(rules.PRIORITIES),
        "tiers": list(rules.CUSTOMER_TIERS),
        "days": list(DAYS),
    }
    for day in DAYS:
        assert f'name="day-{day}"' in sla

    ticket_rules = await page(boss, "/console/ticket-rules")
    assert "<title>工单规则 · " in ticket_rules and ">触发器<" in ticket_rules
    words = vocabulary(ticket_rules)
    assert words["ops"] == {field: list(ops) for field, ops in rules.OPS.items()}
    assert words["moves"] == list(rule_input.SYSTEM_TARGETS)
    assert words["channels"] == list(CHANNELS)
    assert words["events"] == [e.value for e in rules.On]
    assert words["preview_max"] == rules.PREVIEW_MAX
    assert 'data-preview-page="20"' in ticket_rules

    # The ticket list leads an overseer to them too.
    listing = await page(boss, "/console/tickets")
    links = re.search(r'<nav class="desk-links".*?</nav>', listing, re.S)
    assert links, "no editor links on the ticket list"
    # and to the rest of the desk's settings (tests/integration/test_desk_settings_page.py).
    assert re.findall(r'href="([^"]+)"', links[0]) == [*_PAGES, "/console/desk-settings"]


async def test_agents_are_refused_and_not_shown_the_links(make_agent: MakeAgent) -> None:
    agent = await make_agent("xiaowang")
    for path in _PAGES:
        refused = await page(agent, path, status=403)
        assert "sla-policies.js" not in refused and "ticket-rules.js" not in refused
    # As for the routing page: the same answer.
    await page(agent, "/console/routing", status=403)
    listing = await page(agent, "/console/tickets")
    assert "desk-links" not in listing
    for path in _PAGES:
        assert f'href="{path}"' not in listing
    # And the APIs behind the pages refuse their changes (the policies stay readable).
    await agent.get("/api/console/sla-policies")
    body = {"name": "x", "targets": {"first_response": 60}}
    assert (await agent.post("/api/console/sla-policies", body, status=403))["error"][
        "code"
    ] == "forbidden"
    await agent.get("/api/console/ticket-rules", status=403)


async def test_the_editors_follow_the_language_choice(
    make_agent: MakeAgent, running: Running
) -> None:
    boss = await make_agent("chen", role="supervisor")
    boss.http.cookie_jar.update_cookies({"callbox_lang": "en"}, URL(running.url("/")))
    sla = await page(boss, "/console/sla-policies")
    assert "<title>SLA policies · " in sla and "Count around the clock" in sla
    assert ">Escalation levels<" in sla
    ticket_rules = await page(boss, "/console/ticket-rules")
    assert ">Timed rules<" in ticket_rules and ">Preview<" in ticket_rules
    assert '<a href="/console/ticket-rules">Ticket rules</a>' in ticket_rules
