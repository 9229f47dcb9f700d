"""The customer portal over HTTP on loopback, with a real SMTP server (aiosmtpd): the
e-mailed link is single-use and expires, the answer never tells whether an address
is known, a customer sees only their own tickets and never an internal note, forms
need the portal's CSRF token, and the site's signed identity signs in once."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from html import unescape
from typing import Any

import aiohttp
import pytest

from appliance.core import portal as portal_module
from appliance.core.audit import Actor
from appliance.core.customers import sign
from appliance.core.portal import Portal
from tests.conftest import Agent, Running
from tests.file_samples import pdf
from tests.mail_servers import SmtpServer

MakeAgent = Callable[..., Awaitable[Agent]]
Sessions = Callable[[], aiohttp.ClientSession]
BY = Actor(None, "test", "127.0.0.1")
_WAIT = 10.0  # s for the outbox to hand a mail to the SMTP server
_LINK = re.compile(r"(https?://\S+/portal/sign-in/[A-Za-z0-9_-]+)")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(auth=False)
    server.start()
    yield server
    server.stop()


async def _mail_on(running: Running, smtp: SmtpServer) -> None:
    await running.box.mail.change_smtp(
        BY,
        {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "from_address": "help@example.com",
            "from_name": "客服中心",
        },
    )


async def _mails(smtp: SmtpServer, count: int) -> list[Any]:
    deadline = time.monotonic() + _WAIT
    while len(smtp.sink.messages) < count:
        assert time.monotonic() < deadline, f"expected {count} mails"
        await asyncio.sleep(0.05)
    return smtp.sink.messages


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def next_link(smtp: SmtpServer, seen: int = 0) -> str:
    """Wait for a sign-in link mail beyond the first `seen` ones; return its link."""
    deadline = time.monotonic() + _WAIT
    while True:
        found = [m for m in smtp.sink.messages if _LINK.search(_text(m))]
        if len(found) > seen:
            return link_in(found[seen])
        assert time.monotonic() < deadline, "no sign-in link mail came"
        await asyncio.sleep(0.05)


def _text(mail: Any) -> str:
    return str(mail.get_body(("plain",)).get_content())


def link_in(mail: Any) -> str:
    """The sign-in link an e-mail carries (text part)."""
    found = _LINK.search(mail.get_body(("plain",)).get_content())
    assert found, mail
    return found.group(1)


class Customer:
    """A browser of the portal: its own cookie jar, speaking forms."""

    def __init__(self, running: Running, http: aiohttp.ClientSession) -> None:
        self.running = running
        self.http = http

    async def page(self, path: str, status: int = 200) -> str:
        async with self.http.get(self.running.url(path), allow_redirects=False) as r:
            text = await r.text()
            assert r.status == status, (r.status, text[:400])
            return text

    async def form(
        self, path: str, data: Any, status: int = 303, *, page_of: str = "/portal"
    ) -> aiohttp.ClientResponse:
        token = _csrf(await self.page(page_of))
        fields = data if isinstance(data, aiohttp.FormData) else {"csrf_token": token, **data}
        async with self.http.post(self.running.url(path), data=fields, allow_redirects=False) as r:
            await r.read()
            assert r.status == status, (r.status, (await r.text())[:400])
            return r

    async def ask_link(self, email: str) -> str:
        async with self.http.get(self.running.url("/portal")) as r:
            token = _csrf(await r.text())
        async with self.http.post(
            self.running.url("/portal/sign-in"), data={"email": email, "csrf_token": token}
        ) as r:
            assert r.status == 200, await r.text()
            return await r.text()

    async def sign_in(self, link: str) -> None:
        path = "/portal/sign-in/" + link.rsplit("/", 1)[1]
        await self.form(path, {}, page_of=path)


def _local(link: str) -> str:
    return "/portal/sign-in/" + link.rsplit("/", 1)[1]


@pytest.fixture
def make_customer(running: Running, http_sessions: Sessions) -> Callable[[], Customer]:
    return lambda: Customer(running, http_sessions())


async def _ticket(agent: Agent, subject: str, email: str, name: str = "") -> dict[str, Any]:
    made = await agent.post(
        "/api/console/tickets",
        {
            "subject": subject,
            "description": f"{subject}：详情",
            "requester": {"email": email, "name": name},
        },
        status=201,
    )
    return made["ticket"]  # type: ignore[no-any-return]


def _message_of(html: str) -> str:
    found = re.search(r'data-portal="message">([^<]*)<', html)
    assert found, html[:500]
    return found.group(1)


async def test_link_is_single_use_and_the_answer_never_tells_who_exists(
    running: Running, make_agent: MakeAgent, make_customer: Callable[[], Customer], smtp: SmtpServer
) -> None:
    await _mail_on(running, smtp)
    agent = await make_agent(role="supervisor")
    mine = await _ticket(agent, "打印机卡纸", "li.lei@example.com", "李雷")
    customer = make_customer()
    known = await customer.ask_link("Li.Lei@example.com")
    unknown = await customer.ask_link("nobody@example.com")
    assert _message_of(known) == _message_of(unknown)  # the same words, whoever asks
    assert known == unknown  # and the same page, byte for byte
    mails = await _mails(smtp, 1)
    await asyncio.sleep(0.3)
    assert len(smtp.sink.messages) == 1  # none went to the unknown address
    assert mails[0]["To"] == "li.lei@example.com"
    assert mails[0]["Auto-Submitted"] == "auto-generated"
    link = link_in(mails[0])
    # Kept only as its SHA-256: the database alone signs nobody in.
    token = link.rsplit("/", 1)[1]
    with contextlib.closing(sqlite3.connect(running.box.settings.db_path)) as db:
        stored = [row[0] for row in db.execute("SELECT token_hash FROM portal_tokens")]
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    # The e-mailed link's page asks for a press: a mail scanner's GET spends nothing.
    await customer.page(_local(link))
    await customer.page(_local(link))
    await customer.sign_in(link)
    listing = await customer.page("/portal")
    assert "打印机卡纸" in listing and f"/portal/tickets/{mine['id']}" in listing
    # Once used, it is gone: another browser cannot use it again.
    other = make_customer()
    await other.page(_local(link), status=404)
    await other.form(_local(link), {}, status=404)
    await other.page("/portal/tickets/{}".format(mine["id"]), status=302)


async def test_link_expires_by_the_clock(
    running: Running, make_agent: MakeAgent, make_customer: Callable[[], Customer], smtp: SmtpServer
) -> None:
    await _mail_on(running, smtp)
    now = [int(time.time() * 1000)]  # the outbox's sender keeps the real time
    box = running.box
    box.portal = Portal(box.db, box.customers, box.mail_out, clock=lambda: now[0])
    agent = await make_agent(role="supervisor")
    await _ticket(agent, "网络断了", "han.mei@example.com")
    customer = make_customer()
    await customer.ask_link("han.mei@example.com")
    await customer.ask_link("han.mei@example.com")
    first, second = (link_in(m) for m in await _mails(smtp, 2))
    await customer.sign_in(second)
    now[0] += portal_module.LINK_TTL - 1
    await customer.page(_local(first))  # still good a moment before
    now[0] += 1
    await customer.page(_local(first), status=404)
    await customer.form(_local(first), {}, status=404, page_of="/portal")
    # Sessions expire too.
    assert "网络断了" in await customer.page("/portal")
    now[0] += portal_module.SESSION_TTL
    assert "网络断了" not in await customer.page("/portal")


async def test_links_are_rate_limited_per_address_and_per_client(
    running: Running, make_agent: MakeAgent, make_customer: Callable[[], Customer], smtp: SmtpServer
) -> None:
    await _mail_on(running, smtp)
    agent = await make_agent(role="supervisor")
    await _ticket(agent, "发票", "wang@example.com")
    customer = make_customer()
    for _ in range(portal_module.CLIENT_BURST):
        await customer.ask_link("wang@example.com")
    await _mails(smtp, portal_module.ADDRESS_MAILS)
    await asyncio.sleep(0.3)
    assert len(smtp.sink.messages) == portal_module.ADDRESS_MAILS  # the address's limit
    token = _csrf(await customer.page("/portal"))
    async with customer.http.post(
        running.url("/portal/sign-in"), data={"email": "x@example.com", "csrf_token": token}
    ) as r:
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0  # the client's limit


async def test_a_customer_never_sees_another_customers_ticket_or_a_note(
    running: Running, make_agent: MakeAgent, make_customer: Callable[[], Customer], smtp: SmtpServer
) -> None:
    await _mail_on(running, smtp)
    agent = await make_agent(role="supervisor")
    mine = await _ticket(agent, "我的路由器", "a@example.com")
    theirs = await _ticket(agent, "别人的机密合同", "b@example.com")
    await agent.post(
        f"/api/console/tickets/{mine['id']}/comments",
        {"body": "内部备注：客户信用差", "public": False},
        status=201,
    )
    await agent.post(
        f"/api/console/tickets/{mine['id']}/comments",
        {"body": "请重启路由器", "public": True},
        status=201,
    )
    customer = make_customer()
    await customer.ask_link("a@example.com")
    await customer.sign_in(await next_link(smtp))
    listing = await customer.page("/portal")
    assert "我的路由器" in listing and "别人的机密合同" not in listing
    page = await customer.page(f"/portal/tickets/{mine['id']}")
    assert "请重启路由器" in page and "内部备注" not in page and "信用" not in page
    # Another customer's ticket, a forged id and one that is no number: not found,
    # and nothing of the other ticket in the answer.
    for path in (f"/portal/tickets/{theirs['id']}", "/portal/tickets/999999"):
        body = await customer.page(path, status=404)
        assert "别人的机密合同" not in body and theirs["number"] not in body
    await customer.page("/portal/tickets/1e3", status=404)
    await customer.page("/portal/tickets/99999999999999999999", status=404)
    for action, data in (
        ("replies", {"body": "我也要看"}),
        ("confirm", {}),
        ("rating", {"score": "5"}),
    ):
        await customer.form(f"/portal/tickets/{theirs['id']}/{action}", data, status=404)
    await customer.page(f"/portal/tickets/{theirs['id']}/files/{'a' * 64}", status=404)
    await customer.page(f"/portal/tickets/{mine['id']}/files/{'a' * 64}", status=404)
    await customer.page(f"/portal/tickets/{mine['id']}/files/..%2f..%2fdb", status=404)
    detail = await agent.get(f"/api/console/tickets/{theirs['id']}")
    assert [e["kind"] for e in detail["history"]] == ["created"]  # untouched


async def test_forms_need_the_portal_csrf_token(
    running: Running, make_agent: MakeAgent, make_customer: Callable[[], Customer], smtp: SmtpServer
) -> None:
    await _mail_on(running, smtp)
    agent = await make_agent(role="supervisor")
    mine = await _ticket(agent, "空调漏水", "c@example.com")
    customer = make_customer()
    # Before sign-in: the double-submit cookie's token.
    async with customer.http.post(
        running.url("/portal/sign-in"), data={"email": "c@example.com"}
    ) as r:
        assert r.status == 403
    await customer.ask_link("c@example.com")
    await customer.sign_in(await next_link(smtp))
    url = running.url(f"/portal/tickets/{mine['id']}/replies")
    for data in ({"body": "没有令牌"}, {"body": "错的令牌", "csrf_token": "x" * 32}):
        async with customer.http.post(url, data=data, allow_redirects=False) as r:
            assert r.status == 403, await r.text()
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("body", "令牌不在最前")
    form.add_field("csrf_token", _csrf(await customer.page("/portal")))
    async with customer.http.post(url, data=form, allow_redirects=False) as r:
        assert r.status == 403
    token = _csrf(await customer.page("/portal"))
    async with customer.http.post(
        url,
        data={"body": "别的网站", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    ) as r:
        assert r.status == 403
    # A console session's token is not the portal's, nor the other way round.
    async with agent.http.post(url, data={"body": "客服冒充", "csrf_token": agent.csrf}) as r:
        assert r.status == 401
    detail = await agent.get(f"/api/console/tickets/{mine['id']}")
    assert [e["kind"] for e in detail["history"]] == ["created"]


async def test_reply_with_a_file_confirm_and_rate(
    running: Running, make_agent: MakeAgent, make_customer: Callable[[], Customer], smtp: SmtpServer
) -> None:
    await _mail_on(running, smtp)
    agent = await make_agent(role="supervisor")
    mine = await _ticket(agent, "屏幕闪烁", "d@example.com")
    customer = make_customer()
    await customer.ask_link("d@example.com")
    await customer.sign_in(await next_link(smtp))
    path = f"/portal/tickets/{mine['id']}"
    form = aiohttp.FormData()
    form.add_field("csrf_token", _csrf(await customer.page(path)))
    form.add_field("body", "附上日志")
    form.add_field("file", pdf(), filename="日志.pdf", content_type="application/pdf")
    await customer.form(path + "/replies", form)
    page = await customer.page(path)
    assert "附上日志" in page and "日志.pdf" in page, page[page.find("<ol") :][:2000]
    sha = re.search(r"/files/([0-9a-f]{64})", page)
    assert sha
    async with customer.http.get(running.url(f"{path}/files/{sha.group(1)}")) as r:
        assert r.status == 200 and await r.read() == pdf()
        assert r.headers["Content-Type"] == "application/octet-stream"
    # Staff who may see the ticket download it from the console.
    console_url = running.url(f"/api/console/tickets/{mine['id']}/files/{sha.group(1)}")
    async with agent.http.get(console_url) as r:
        assert r.status == 200 and await r.read() == pdf()
        assert "attachment" in r.headers["Content-Disposition"]
    async with agent.http.get(console_url.replace(sha.group(1), "b" * 64)) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    async with customer.http.get(console_url) as r:
        assert r.status == 401  # the portal's session is not the console's
    # A file whose content is not what its name says, or of a kind the admin does not
    # allow, is refused with the page again (core/files.py's checks).
    for name, data, status in (
        ("photo.png", pdf(), 422),
        ("notes.txt", b"plain text\n", 415),
    ):
        form = aiohttp.FormData()
        form.add_field("csrf_token", _csrf(await customer.page(path)))
        form.add_field("body", "")
        form.add_field("file", data, filename=name)
        await customer.form(path + "/replies", form, status=status)
    # An empty reply is refused too.
    await customer.form(path + "/replies", {"body": "  "}, status=422, page_of=path)
    await customer.form(path + "/confirm", {}, status=409, page_of=path)  # not resolved
    await agent.post(f"/api/console/tickets/{mine['id']}/state", {"to": "resolved"})
    await customer.form(path + "/rating", {"score": "9"}, status=422, page_of=path)
    await customer.form(path + "/confirm", {}, page_of=path)
    await customer.form(path + "/rating", {"score": "4", "comment": "快"}, page_of=path)
    await customer.form(path + "/rating", {"score": "5"}, status=409, page_of=path)
    detail = await agent.get(f"/api/console/tickets/{mine['id']}")
    assert detail["ticket"]["state"] == "closed"
    kinds = [(e["kind"], e["by"]) for e in detail["history"]]
    assert ("rating", "customer") in kinds and ("reply", "customer") in kinds
    page = await customer.page(path)
    assert 'data-portal="reply"' not in page  # closed: no more replies


async def test_reopen_by_replying_to_a_resolved_ticket(
    running: Running, make_agent: MakeAgent, make_customer: Callable[[], Customer], smtp: SmtpServer
) -> None:
    await _mail_on(running, smtp)
    agent = await make_agent(role="supervisor")
    mine = await _ticket(agent, "热水器", "e@example.com")
    await agent.post(f"/api/console/tickets/{mine['id']}/state", {"to": "resolved"})
    customer = make_customer()
    await customer.ask_link("e@example.com")
    await customer.sign_in(await next_link(smtp))
    path = f"/portal/tickets/{mine['id']}"
    await customer.form(path + "/replies", {"body": "还是不热"}, page_of=path)
    detail = await agent.get(f"/api/console/tickets/{mine['id']}")
    assert detail["ticket"]["state"] == "open"


def _hidden(html: str) -> dict[str, str]:
    """The hidden fields of a page's form, as a browser would post them."""
    found = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html)
    return {name: unescape(value) for name, value in found}


async def _post_signed(customer: Customer, fields: dict[str, str], **headers: str) -> int:
    url = customer.running.url("/portal/signed")
    async with customer.http.post(url, data=fields, headers=headers, allow_redirects=False) as r:
        await r.read()
        return r.status


async def test_signed_identity_signs_in_once(
    running: Running,
    make_visitor: Callable[[], Awaitable[Any]],
    make_customer: Callable[[], Customer],
) -> None:
    secret = await running.box.sites.secret("default")
    assert secret
    ts = int(time.time())
    query = f"customer_id=shop-42&ts={ts}&sig={sign(secret, 'shop-42', ts)}&name=%E5%BC%A0"
    customer = make_customer()
    # The link's page signs nobody in and spends nothing: a scanner may open it twice.
    page = await customer.page(f"/portal/signed?{query}")
    assert 'data-portal="use-signed"' in page and "张" in page
    assert 'action="/portal/sign-in"' in await customer.page("/portal")
    fields = _hidden(await customer.page(f"/portal/signed?{query}"))
    assert fields["customer_id"] == "shop-42" and fields["name"] == "张"
    assert fields["sig"] == sign(secret, "shop-42", ts) and fields["ts"] == str(ts)
    # A form posted from another site, or without the page's token, signs nobody in.
    evil = {"Origin": "https://evil.example"}
    assert await _post_signed(customer, fields, **evil) == 403
    assert await _post_signed(customer, {**fields, "csrf_token": ""}) == 403
    assert (
        await _post_signed(customer, {k: v for k, v in fields.items() if k != "csrf_token"}) == 403
    )
    stranger = make_customer()
    assert await _post_signed(stranger, fields) == 403  # another browser: not its token
    assert 'action="/portal/sign-in"' in await customer.page("/portal")
    # The button spends it.
    assert await _post_signed(customer, fields) == 303
    assert "/portal/sign-out" in await customer.page("/portal")
    # Once: the page says so, and a replayed form is refused.
    thief = make_customer()
    await thief.page(f"/portal/signed?{query}", status=409)
    token = _csrf(await thief.page("/portal"))
    assert await _post_signed(thief, {**fields, "csrf_token": token}) == 409
    assert 'action="/portal/sign-in"' in await thief.page("/portal")
    bad = f"customer_id=shop-43&ts={ts}&sig={sign(secret, 'shop-42', ts)}"
    await thief.page(f"/portal/signed?{bad}", status=403)
    forged = {**fields, "customer_id": "shop-43", "csrf_token": token}
    assert await _post_signed(thief, forged) == 403
    old = ts - 3600
    await thief.page(
        f"/portal/signed?customer_id=shop-42&ts={old}&sig={sign(secret, 'shop-42', old)}",
        status=403,
    )
    await thief.page("/portal/signed?customer_id=shop-42&ts=1e9&sig=00", status=422)
    await thief.page("/portal/signed", status=422)
    assert await _post_signed(thief, {**fields, "ts": "1e9", "csrf_token": token}) == 422
    assert await _post_signed(thief, {"csrf_token": token}) == 422
    # One signature, one use, in the portal or in the widget.
    visitor = await make_visitor()
    proof = {"customer_id": "shop-42", "ts": ts, "sig": sign(secret, "shop-42", ts)}
    status, data, _ = await visitor.request("POST", "/api/visitor/identify", proof)
    assert (status, data["error"]["code"]) == (409, "replayed")
    fresh = ts - 1
    proof = {"customer_id": "shop-42", "ts": fresh, "sig": sign(secret, "shop-42", fresh)}
    status, _, _ = await visitor.request("POST", "/api/visitor/identify", proof)
    assert status == 200
    query = f"customer_id=shop-42&ts={fresh}&sig={proof['sig']}"
    await thief.page(f"/portal/signed?{query}", status=409)
    widget_used = {"customer_id": "shop-42", "ts": str(fresh), "sig": str(proof["sig"])}
    assert await _post_signed(thief, {**widget_used, "csrf_token": token}) == 409


async def test_the_portal_speaks_chinese_first_and_english_on_request(
    running: Running, make_customer: Callable[[], Customer]
) -> None:
    customer = make_customer()
    assert "登录" in await customer.page("/portal")
    await customer.form("/portal/lang", {"lang": "en", "next": "/portal"})
    assert "Sign in to see your requests" in await customer.page("/portal")
    await customer.form("/portal/lang", {"lang": "en", "next": "//evil.example"})


async def test_a_console_session_is_not_a_portal_session(
    running: Running, make_agent: MakeAgent
) -> None:
    agent = await make_agent(role="admin")
    async with agent.http.get(running.url("/portal"), allow_redirects=False) as r:
        text = await r.text()
        assert r.status == 200 and 'action="/portal/sign-in"' in text


async def test_the_link_mail_is_a_template_the_admin_edits(
    running: Running, make_agent: MakeAgent, make_customer: Callable[[], Customer], smtp: SmtpServer
) -> None:
    await _mail_on(running, smtp)
    admin = await make_agent(role="admin")
    await _ticket(admin, "门禁卡", "f@example.com", "钱七")
    body = {"kind": "portal_link", "lang": "zh-CN", "subject": "登录", "body": "没有链接"}
    refused = await admin.call("PUT", "/api/admin/mail/templates", body, status=422)
    assert "{link}" in refused["error"]["message"]
    body["body"] = "{name}：点这里 {link}（{minutes} 分钟）"
    await admin.call("PUT", "/api/admin/mail/templates", body)
    customer = make_customer()
    await customer.ask_link("f@example.com")
    link = await next_link(smtp)
    mail = smtp.sink.messages[-1]
    assert mail["Subject"] == "登录"
    assert _text(mail).strip() == f"钱七：点这里 {link}（30 分钟）"


async def test_an_organisations_tickets_only_when_the_admin_allows_it(
    running: Running, make_agent: MakeAgent, make_customer: Callable[[], Customer], smtp: SmtpServer
) -> None:
    await _mail_on(running, smtp)
    agent = await make_agent(role="admin")
    mine = await _ticket(agent, "会议室投影仪故障", "a@acme.cn", "王经理")
    colleague = await _ticket(agent, "财务部打印机卡纸", "b@acme.cn", "李会计")
    stranger = await _ticket(agent, "别家公司的合同", "c@other.cn", "赵总")
    await agent.post(
        f"/api/console/tickets/{colleague['id']}/comments",
        {"body": "内部备注：先别催", "public": False},
        status=201,
    )
    # Staff type the organisation on the profiles; spaces are tidied.
    for ticket, organisation in (
        (mine, "  Acme  科技 "),
        (colleague, "Acme 科技"),
        (stranger, "Other"),
    ):
        changed = await agent.call(
            "PATCH",
            f"/api/console/customers/{ticket['requester_id']}",
            {"organisation": organisation},
        )
        assert changed["customer"]["organisation"] == " ".join(organisation.split())
    bad = await agent.call(
        "PATCH",
        f"/api/console/customers/{mine['requester_id']}",
        {"organisation": "x" * 101},
        status=422,
    )
    assert bad["error"]["code"] == "invalid"

    customer = make_customer()
    await customer.ask_link("a@acme.cn")
    await customer.sign_in(await next_link(smtp))
    # Off by default: their own tickets only.
    listing = await customer.page("/portal")
    assert "会议室投影仪故障" in listing and "财务部打印机卡纸" not in listing
    await customer.page(f"/portal/tickets/{colleague['id']}", status=404)
    # The admin allows it: the colleague's ticket shows (public thread only), the
    # other organisation's never.
    privacy = await agent.call("PUT", "/api/admin/privacy", {"portal_organisation": True})
    assert privacy["portal_organisation"] is True
    listing = await customer.page("/portal")
    assert "财务部打印机卡纸" in listing and "别家公司的合同" not in listing
    page = await customer.page(f"/portal/tickets/{colleague['id']}")
    assert "财务部打印机卡纸" in page and "先别催" not in page
    await customer.page(f"/portal/tickets/{stranger['id']}", status=404)
    # Taken back: gone again at once.
    await agent.call("PUT", "/api/admin/privacy", {"portal_organisation": False})
    await customer.page(f"/portal/tickets/{colleague['id']}", status=404)
