"""Mail out beyond the requester's notices, against aiosmtpd on loopback: SLA warnings
and breaches mailed to the console users who asked for them (in the firing's own
transaction), and the satisfaction follow-up with its signed, single-use links."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from appliance.core import audit, mail_notices
from appliance.core.clock import now_ms
from appliance.core.store import customers as customer_store
from appliance.core.store import mail as mail_store
from appliance.core.store import settings as settings_store
from appliance.core.store import tickets as ticket_store
from tests.conftest import Agent
from tests.mail_servers import SmtpServer, idle_mailbox

MakeAgent = Callable[..., Awaitable[Agent]]
BY = audit.Actor(None, "test", "127.0.0.1")
_MIN = 60_000  # ms


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


async def _smtp(agent: Agent, smtp: SmtpServer) -> None:
    await agent.running.box.mail.change_smtp(
        BY,
        {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "user": smtp.user,
            "password": smtp.password,
            "from_address": "help@example.com",
        },
    )


async def _until(check: Callable[[], bool], what: str) -> None:
    for _ in range(300):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _text(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


async def test_account_page_choices_of_sla_mail(make_agent: MakeAgent) -> None:
    agent = await make_agent("li", status=None)
    path = "/api/console/account/mail-notices"
    assert await agent.get(path) == {"address": "", "sla_warning": False, "sla_breach": True}
    bad = await agent.call("PUT", path, {"address": "nobody", "sla_warning": True,
                                         "sla_breach": True}, status=422)  # fmt: skip
    assert "bad_address" in str(bad)
    await agent.call("PUT", path, {"address": "x" * 300, "sla_warning": 1}, status=422)
    good = {"address": "Li@Example.com", "sla_warning": True, "sla_breach": False}
    assert (await agent.call("PUT", path, good))["address"] == "Li@example.com"
    assert await agent.get(path) == {**good, "address": "Li@example.com"}


async def test_sla_warnings_and_breaches_are_mailed_to_who_asked(
    make_agent: MakeAgent, smtp: SmtpServer
) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    owner = await make_agent("owner")
    follower = await make_agent("follower", status=None)
    silent = await make_agent("silent", status=None)  # never gave an address
    box = owner.running.box
    await _smtp(boss, smtp)
    path = "/api/console/account/mail-notices"
    # The owner keeps the default (breaches only); the follower wants warnings too.
    await owner.call("PUT", path, {"address": "owner@corp.example.com", "sla_warning": False,
                                   "sla_breach": True})  # fmt: skip
    await follower.call("PUT", path, {"address": "f@corp.example.com", "sla_warning": True,
                                      "sla_breach": True})  # fmt: skip
    groups = (await boss.get("/api/console/groups"))["groups"]
    group = next(g["id"] for g in groups if g["is_default"])
    policy = {"name": "十分钟", "targets": {"first_response": 10}, "warn_share": 0.5}
    await boss.post("/api/console/sla-policies", policy, status=201)
    made = await owner.post(
        "/api/console/tickets",
        {"subject": "打印机卡纸", "group_id": group, "owner_id": owner.user_id},
        status=201,
    )
    ticket = made["ticket"]
    await boss.call(
        "PATCH",
        f"/api/console/tickets/{ticket['id']}",
        {"followers": [follower.user_id, silent.user_id]},
    )
    t0 = (await box.tickets.history(ticket["id"]))[0].at
    # The SLA passes run at moments ahead of the wall clock; the sender follows them,
    # or the mails they queue would not be due yet.
    box.mail_out._now = lambda: max(now_ms(), t0 + 60 * _MIN)

    assert await box.tickets.run_sla(t0 + 5 * _MIN + 1) == 1  # the warning
    await _until(lambda: len(smtp.sink.messages) == 1, "the warning mail")
    [warning] = smtp.sink.messages
    assert warning["To"] == "f@corp.example.com"
    assert str(warning["Subject"]) == f"SLA 即将到期：工单 {ticket['number']} 打印机卡纸"
    assert warning["Auto-Submitted"] == "auto-generated"
    assert "首次响应时限将于" in _text(warning)
    # Not the ticket's token: an answer to it must not thread into the ticket.
    assert box.mail_in._threading.ticket_of_id(str(warning["Message-ID"]).strip("<>")) is None

    assert await box.tickets.run_sla(t0 + 10 * _MIN + 1) == 1  # the breach
    await _until(lambda: len(smtp.sink.messages) == 3, "the breach mails")
    breaches = {str(m["To"]): m for m in smtp.sink.messages[1:]}
    assert set(breaches) == {"owner@corp.example.com", "f@corp.example.com"}
    assert all(str(m["Subject"]).startswith("SLA 已超时") for m in breaches.values())
    # Each firing once: a later pass mails nothing more.
    assert await box.tickets.run_sla(t0 + 60 * _MIN) == 0
    await asyncio.sleep(0.3)
    assert len(smtp.sink.messages) == 3
    kinds = await box.db.read(lambda c: [o.kind for o in mail_store.outbox(c, 10)])
    assert sorted(kinds) == ["sla_breach", "sla_breach", "sla_warning"]


async def _mail_ticket(agent: Agent) -> int:
    box = agent.running.box
    row = await idle_mailbox(box)
    msg = EmailMessage()
    msg["From"] = "王小明 <wang@example.com>"
    msg["Subject"] = "发票"
    msg["Message-ID"] = "<rate-me@client.example.com>"
    msg.set_content("请开发票")
    outcome = await box.mail_in.import_message(row, 1, 1, bytes(msg))
    assert outcome.ticket_id is not None
    return outcome.ticket_id


async def test_the_satisfaction_follow_up_rates_once_by_a_signed_link(
    make_agent: MakeAgent, smtp: SmtpServer
) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    box = boss.running.box
    await _smtp(boss, smtp)
    await box.db.write(lambda c: settings_store.save(c, [("box.public_host", "chat.example.com")]))
    ticket_id = await _mail_ticket(boss)
    path = f"/api/console/tickets/{ticket_id}"
    await boss.post(f"{path}/comments", {"body": "已开好", "public": True}, status=201)
    await boss.post(f"{path}/state", {"to": "resolved"})
    assert not any("请评价" in str(m["Subject"]) for m in smtp.sink.messages)
    # Closed for the customer once the resolved period passed (or they confirmed).
    [closed] = await box.tickets.auto_close(0, now=now_ms() + 1)
    assert closed.id == ticket_id
    await _until(
        lambda: any("请评价" in str(m["Subject"]) for m in smtp.sink.messages), "the follow-up"
    )
    [follow] = [m for m in smtp.sink.messages if "请评价" in str(m["Subject"])]
    assert follow["To"] == "wang@example.com"
    links = re.findall(r"https://chat\.example\.com(/api/visitor/mail-rating\?\S+)", _text(follow))
    assert len(links) == 5
    four = next(link for link in links if link.endswith("score=4"))
    token = parse_qs(urlsplit(four).query)["t"][0]

    # Opening the link (as a mail scanner would) records nothing: it asks.
    async with boss.http.get(boss.running.url(four)) as page:
        assert page.status == 200
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        html = await page.text()
    assert 'data-state="ask"' in html and 'value="4" checked' in html
    assert not await box.db.read(lambda c: ticket_store.has_entry(c, ticket_id, "rating"))

    async def post(form: dict[str, str]) -> str:
        url = boss.running.url("/api/visitor/mail-rating")
        async with boss.http.post(url, data=form) as answer:
            assert answer.status == 200
            return await answer.text()

    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert 'data-state="invalid"' in await post({"t": forged, "score": "1"})
    other = mail_notices.rating_token(box.mail_in._threading, ticket_id + 1, 10**13)
    assert 'data-state="invalid"' in await post({"t": other, "score": "1"})
    expired = mail_notices.rating_token(box.mail_in._threading, ticket_id, 1)
    assert 'data-state="invalid"' in await post({"t": expired, "score": "1"})
    assert 'data-state="thanks"' in await post({"t": token, "score": "4", "comment": "很快"})
    assert 'data-state="rated"' in await post({"t": token, "score": "1"})  # single use
    ratings = [
        e.data
        for e in await box.db.read(lambda c: ticket_store.events(c, ticket_id))
        if e.kind == "rating"
    ]
    assert ratings == [{"score": 4, "comment": "很快", "via": "mail"}]
    async with boss.http.post(
        boss.running.url("/api/visitor/mail-rating"), data={"t": token, "score": "9"}
    ) as bad:
        assert bad.status == 422

    # Once per ticket: asked again (as a second close would), nothing more is queued.
    def again(conn: Any) -> int:
        ticket = ticket_store.get(conn, ticket_id)
        assert ticket is not None
        smtp_row = mail_store.smtp(conn)
        customer = customer_store.get(conn, ticket.fields["requester_id"])
        assert customer is not None
        return mail_notices.queue_satisfaction(
            box.mail_out, box.mail_in._threading, conn, smtp_row, ticket, customer, 0
        )

    assert await box.db.write(again) == 0
    kinds: list[Any] = await box.db.read(lambda c: [o.kind for o in mail_store.outbox(c, 20)])
    assert kinds.count("satisfaction") == 1


async def test_the_admin_words_and_switches_the_new_mails(make_agent: MakeAgent) -> None:
    admin = await make_agent("root", role="admin", status=None)
    path = "/api/admin/mail/templates"
    body = {"kind": "satisfaction", "lang": "en", "subject": "Rate us", "body": "no links"}
    assert "bad_template" in str(await admin.call("PUT", path, body, status=422))
    body["body"] = "Dear {name}, please rate {number}:\n{body}\n{marker}"
    state = await admin.call("PUT", path, body)
    kinds = {(t["kind"], t["custom"]) for t in state["templates"] if t["lang"] == "en"}
    assert {("satisfaction", True), ("sla_warning", False), ("sla_breach", False)} <= kinds
    warn = {"kind": "sla_warning", "lang": "zh-CN", "subject": "快到期 {number}", "body": "{body}"}
    await admin.call("PUT", path, warn)
    smtp = await admin.call(
        "PUT", "/api/admin/mail/smtp", {"notify": ["received", "resolved", "satisfaction"]}
    )
    assert smtp["smtp"]["notify"] == ["received", "resolved", "satisfaction"]


async def test_an_sla_mail_commits_with_its_firing_or_not_at_all(make_agent: MakeAgent) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    box = boss.running.box
    await box.mail.change_smtp(BY, {"from_address": "help@example.com"})  # no server: kept
    await boss.call("PUT", "/api/console/account/mail-notices",
                    {"address": "boss@corp.example.com", "sla_warning": True,
                     "sla_breach": True})  # fmt: skip
    policy = {"name": "全部", "targets": {"first_response": 10}, "warn_share": 0.5}
    await boss.post("/api/console/sla-policies", policy, status=201)
    made = await boss.post(
        "/api/console/tickets", {"subject": "停电", "owner_id": boss.user_id}, status=201
    )
    ticket_id = made["ticket"]["id"]
    t0 = (await box.tickets.history(ticket_id))[0].at

    def refuse(conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.mail_outbox"
            " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
        )

    # The mail cannot be queued: the warning, its console notice and the clock's mark
    # roll back with it, and the warning comes again at the next pass.
    await box.db.write(refuse)
    with pytest.raises(sqlite3.IntegrityError):
        await box.tickets.run_sla(t0 + 6 * _MIN)
    changes = [e.data.get("change") for e in await box.tickets.history(ticket_id)]
    assert "warning" not in changes
    assert (await boss.get("/api/console/notifications"))["notices"] == []
    await box.db.write(lambda conn: conn.execute("DROP TRIGGER temp.refuse"))
    assert await box.tickets.run_sla(t0 + 6 * _MIN) == 1
    outbox = await box.db.read(lambda c: mail_store.outbox(c, 10))
    assert [(o.kind, o.recipient, o.state) for o in outbox] == [
        ("sla_warning", "boss@corp.example.com", "queued")
    ]
    assert len((await boss.get("/api/console/notifications"))["notices"]) == 1
