"""The service desk settings page (ticket types, templates, recurring tasks, webhooks)
over real HTTP: supervisors and admins get it with every element its scripts look up
and the words of the APIs as core has them; agents are refused and not shown the
links. And the one endpoint the page added: the next runs of a rule before saving,
the same runs the saved schedule then has."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib import resources

from yarl import URL

from appliance.core import recurrence, tickets, webhooks
from appliance.core.hours import DAYS
from tests.conftest import Agent, Running
from tests.integration.test_desk_editor_pages import page, vocabulary

_STATIC = resources.files("appliance.webui") / "static"
MakeAgent = Callable[..., Awaitable[Agent]]
PATH = "/console/desk-settings"
SCRIPTS = ("desk-types.js", "desk-templates.js", "desk-schedules.js", "desk-webhooks.js")
PREVIEW = "/api/console/ticket-schedules/preview"


def assert_hooks(page_html: str) -> None:
    """Every element the area scripts look up is in the page, which loads the entry."""
    for script in SCRIPTS:
        source = (_STATIC / script).read_text(encoding="utf-8")
        cb = set(re.findall(r'\$\("([a-z-]+)"\)', source))
        fields = set(re.findall(r'part\(\w+, "([a-z-]+)"\)', source))
        assert len(cb) > 5 and len(fields) > 2, script
        missing = {n for n in cb if f'data-cb="{n}"' not in page_html}
        missing |= {n for n in fields if f'data-f="{n}"' not in page_html}
        assert not missing, f"{script} looks for elements the page lacks: {missing}"
        area = re.search(r'data-cb="area-([a-z]+)"', source)
        assert area and f'data-cb="area-{area[1]}"' in page_html, script
    entry = (_STATIC / "desk-settings.js").read_text(encoding="utf-8")
    for script in SCRIPTS:
        assert f'from "./{script}"' in entry
    for asset in ("desk-settings.js", "supervisor.css", "desk-editors.css", "desk-settings.css"):
        assert re.search(f'"/static/[0-9a-f]{{12}}/{re.escape(asset)}"', page_html), asset
    assert "<script>" not in page_html  # the CSP refuses inline scripts


async def test_overseers_get_the_settings_page_with_its_scripts_hooks(
    make_agent: MakeAgent,
) -> None:
    for role in ("supervisor", "admin"):
        boss = await make_agent(f"boss-{role}", role=role)
        shown = await page(boss, PATH)
        assert_hooks(shown)
        assert "<title>服务台设置 · " in shown
        tabs = re.findall(r'role="tab"[^>]*data-area="([a-z]+)">([^<]+)<', shown)
        assert tabs == [
            ("types", "工单类型"),
            ("templates", "开单模版"),
            ("schedules", "定期巡检"),
            ("webhooks", "Webhook"),
        ]
        # The top bar leads there, after the other editors.
        nav = shown[shown.index('<header class="topbar">') : shown.index("</header>")]
        assert re.search(
            r'<a href="/console/ticket-rules">工单规则</a>\s*'
            r'<a href="/console/desk-settings">服务台设置</a>',
            nav,
        ), nav

    words = vocabulary(shown)
    assert words == {
        "areas": ["types", "templates", "schedules", "webhooks"],
        "priorities": list(tickets.PRIORITIES),
        "type_max": tickets.TYPE_MAX,
        "types_max": tickets.TYPES_MAX,
        "frequencies": list(recurrence.FREQUENCIES),
        "rule_max": recurrence.RULE_MAX,
        "weekdays": dict(zip(DAYS, ("MO", "TU", "WE", "TH", "FR", "SA", "SU"), strict=True)),
        "events": [e for e in webhooks.EVENTS if e != "webhook.ping"],
        "log_page": 20,
    }
    # The weekday boxes carry the RRULE codes, named as the routing page names days.
    boxes = re.findall(r'name="weekday" value="([A-Z]{2})"> <span data-day="\1">([^<]+)<', shown)
    assert boxes == [
        ("MO", "周一"),
        ("TU", "周二"),
        ("WE", "周三"),
        ("TH", "周四"),
        ("FR", "周五"),
        ("SA", "周六"),
        ("SU", "周日"),
    ]
    days = re.findall(r'<option value="(-?\d+)"[^>]*>([^<]+)</option>', shown)
    assert (
        days[0] == ("1", "1 日") and days[30] == ("31", "31 日") and days[31] == ("-1", "最后一天")
    )

    # The other editors and the ticket list lead there too.
    for other in ("/console/sla-policies", "/console/ticket-rules"):
        assert 'href="/console/desk-settings"' in await page(boss, other)
    listing = await page(boss, "/console/tickets")
    links = re.search(r'<nav class="desk-links".*?</nav>', listing, re.S)
    assert links and 'href="/console/desk-settings"' in links[0]


async def test_agents_are_refused_and_not_shown_the_link(make_agent: MakeAgent) -> None:
    agent = await make_agent("xiaowang")
    refused = await page(agent, PATH, status=403)
    assert "desk-settings.js" not in refused
    console = await page(agent, "/console/tickets")
    assert 'href="/console/desk-settings"' not in console
    # The APIs behind the page refuse an agent's changes; what they read stays readable.
    await agent.get("/api/console/ticket-types")
    await agent.get("/api/console/ticket-templates")
    await agent.get("/api/console/ticket-schedules")
    await agent.call("PUT", "/api/console/ticket-types", {"names": ["x"]}, status=403)
    await agent.post(PREVIEW, {"rule": "FREQ=DAILY;BYHOUR=9"}, status=403)
    await agent.get("/api/console/webhooks", status=403)


async def test_the_page_follows_the_language_choice(
    make_agent: MakeAgent, running: Running
) -> None:
    boss = await make_agent("chen", role="supervisor")
    boss.http.cookie_jar.update_cookies({"callbox_lang": "en"}, URL(running.url("/")))
    shown = await page(boss, PATH)
    assert "<title>Service desk settings · " in shown
    assert ">Recurring tasks</button>" in shown and ">Retired types<" in shown
    assert ">Mon</span>" in shown and ">the last day</option>" in shown
    assert '<a href="/console/desk-settings" aria-current="page">Service desk settings</a>' in shown


def _wall(text: str) -> datetime:
    return datetime.fromisoformat(text)  # the box's wall clock, with its offset


async def test_the_runs_shown_before_saving_are_the_saved_schedules(
    make_agent: MakeAgent,
) -> None:
    boss = await make_agent("chen", role="supervisor")
    rule = "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=14;BYMINUTE=30"
    # From today's midnight: a rule without seconds takes its start's (core/recurrence.py).
    today = datetime.now().astimezone().date().isoformat() + "T00:00:00"
    runs = (await boss.post(PREVIEW, {"rule": rule, "starts_at": today}))["runs"]
    assert len(runs) == 5
    walls = [_wall(r) for r in runs]
    assert walls == sorted(walls) and len(set(walls)) == 5
    assert {(w.strftime("%a"), w.hour, w.minute) for w in walls} <= {
        ("Mon", 14, 30),
        ("Thu", 14, 30),
    }
    assert walls[0] > datetime.now().astimezone()
    assert (walls[-1] - walls[0]).days < 21  # two a week: five within three weeks

    # Saved, the schedule runs next at the first of them; nothing was saved before.
    assert (await boss.get("/api/console/ticket-schedules"))["schedules"] == []
    template = (await boss.post("/api/console/ticket-templates", {"name": "巡检"}, status=201))[
        "template"
    ]
    body = {"name": "周巡检", "rule": rule, "template_id": template["id"], "starts_at": today}
    saved = (await boss.post("/api/console/ticket-schedules", body, status=201))["schedule"]
    assert saved["next_run_at"] == runs[0]

    # A start in the future counts from there, as the saved schedule would.
    later = (await boss.post(PREVIEW, {"rule": rule, "starts_at": "2031-01-01T00:00:00"}))["runs"]
    assert _wall(later[0]).date().isoformat() == "2031-01-02"  # the first Thursday
    # A rule that ends lists what is left of it; one that ended lists nothing.
    two = "FREQ=DAILY;COUNT=2;BYHOUR=9;BYMINUTE=0"
    assert len((await boss.post(PREVIEW, {"rule": two, "starts_at": "2031-01-01"}))["runs"]) == 2
    ended = "FREQ=DAILY;UNTIL=20210101T000000Z;BYHOUR=9"
    ended_runs = await boss.post(PREVIEW, {"rule": ended, "starts_at": "2020-12-30T00:00:00"})
    assert ended_runs["runs"] == []

    # What the box cannot use is refused as a save would refuse it: 422, a reason.
    for bad, reason in (
        ("FREQ=HOURLY", "FREQ must be one of"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "no month of the rule has that day"),
        ("nonsense", "rule"),
    ):
        refused = await boss.post(PREVIEW, {"rule": bad}, status=422)
        assert refused["error"]["code"] == "invalid"
        assert reason in refused["error"]["message"]
        saved_too = await boss.post(
            "/api/console/ticket-schedules", {**body, "rule": bad}, status=422
        )
        assert saved_too["error"]["message"] == refused["error"]["message"]
    await boss.post(PREVIEW, {"rule": "FREQ=DAILY", "starts_at": "yesterday"}, status=422)
    await boss.post(PREVIEW, {"rule": "x" * 257}, status=422)
    await boss.post(PREVIEW, {"rule": "FREQ=DAILY", "extra": 1}, status=422)
