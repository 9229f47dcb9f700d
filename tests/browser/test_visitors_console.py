"""The console's visitors view, in Debian's Chromium, with visitors arriving through the
relay path (PROXY v2 + TLS) from public addresses an imported IP table places.

Two agents scoped to Beijing and Shanghai see only their region's visitor, a supervisor
sees both; the source filter and the search box filter on the server; a visitor who
navigates moves in the list live; an agent's invitation shows its status live until the
visitor declines it. The routing page edits automatic invitation rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from appliance.webui.keys import HUB, RELAY_PEERS
from appliance.webui.relay_listener import VisitorListener
from tests.conftest import PASSWORD, Agent, Running, Visitor
from tests.testca import client_context, make_ca_and_server, server_context

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20_000  # ms, the longest any single wait may take
DESKTOP = {"width": 1440, "height": 860}
SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)

BEIJING_IP = "36.110.12.7"
SHANGHAI_IP = "58.32.200.9"
# ip2region source layout: start|end|country|region|province|city|isp
IP_TABLE = (
    "36.110.0.0|36.110.255.255|中国|0|北京|北京市|电信\n"
    "58.32.0.0|58.32.255.255|中国|0|上海|上海市|电信\n"
)
SHOP = "https://shop.example.cn"
BAIDU = "https://www.baidu.com/s?wd=%E8%B7%AF%E7%94%B1%E5%99%A8%E4%BB%B7%E6%A0%BC"  # 路由器价格
KEYWORD = "路由器价格"
INVITE = "您好，这款路由器今天有优惠，需要帮您介绍吗？"

ROWS = '[data-cb="visitor-rows"] [data-cb="visitor-row"]'
HOSTILE = '<img src=x onerror="document.title=1">商品 00'
AGENT_ZONE = "America/Los_Angeles"  # never the box's zone here (that is this machine's)


def proxy_v4(src: str, dst: str = "198.51.100.1") -> bytes:
    """Return a PROXY v2 header naming `src` as the visitor's address."""
    body = bytes(map(int, src.split("."))) + bytes(map(int, dst.split(".")))
    body += struct.pack("!HH", 40000, 443)
    return SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


class RelayStandIn:
    """A loopback port that plays the relay: each connection is passed on to the box's
    visitor listener behind a PROXY v2 header with the chosen source address."""

    def __init__(self, listener_port: int, source: str) -> None:
        self.listener_port = listener_port
        self.source = source
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_writer: asyncio.StreamWriter | None = None
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.listener_port)
            up_writer.write(proxy_v4(self.source))
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    w.close()
            self._tasks.discard(task)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()


class RemoteVisitor:
    """A visitor on the company's site, reaching the box through the relay stand-in."""

    def __init__(self, relay: RelayStandIn, ca: Path) -> None:
        self.base = f"https://127.0.0.1:{relay.port}"
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=client_context(ca)),
            headers={"User-Agent": UA},
        )
        self.token = ""
        self.visitor_id = ""
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
            return r.status, await r.json()

    async def arrive(self, url: str, title: str, referrer: str = "") -> None:
        """Open a session, record the landing page and keep a socket (presence) open."""
        status, data = await self.call("POST", "/api/visitor/session", {})
        assert status == 201, data
        self.token, self.visitor_id = data["token"], data["visitor_id"]
        await self.view(url, title, referrer)
        self.ws = await self.http.ws_connect(self.base + "/api/visitor/ws")
        await self.ws.send_json({"type": "auth", "token": self.token})
        ready = await self.ws.receive_json(timeout=5)
        assert ready["type"] == "ready", ready

    async def view(self, url: str, title: str, referrer: str = "") -> None:
        status, data = await self.call(
            "POST", "/api/visitor/pageviews", {"url": url, "title": title, "referrer": referrer}
        )
        assert status == 201 and data["tracked"], data

    async def frame(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """Read socket frames until one of this type arrives."""
        assert self.ws is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"no {kind} frame arrived"
            frame: dict[str, Any] = await self.ws.receive_json(timeout=left)
            if frame.get("type") == kind:
                return frame

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.http.close()


@pytest.fixture
async def relayed_box(
    make_app: Callable[..., Awaitable[Running]], tmp_path: Path
) -> AsyncIterator[tuple[Running, Callable[[str], Awaitable[RemoteVisitor]]]]:
    """The appliance on loopback with its relay-side visitor listener, and a factory of
    visitors arriving from a given public address."""
    running = await make_app()
    ca, cert, key = make_ca_and_server(tmp_path / "pki", ["127.0.0.1"])
    listener = VisitorListener(
        running.server.runner,
        server_context(cert, key),
        "127.0.0.1",
        0,
        running.server.app[RELAY_PEERS],
    )
    await listener.start()
    listener_port = listener._sock.getsockname()[1]  # type: ignore[union-attr]
    relays: list[RelayStandIn] = []
    visitors: list[RemoteVisitor] = []

    async def visitor_from(address: str) -> RemoteVisitor:
        relay = RelayStandIn(listener_port, address)
        await relay.start()
        relays.append(relay)
        visitor = RemoteVisitor(relay, ca)
        visitors.append(visitor)
        return visitor

    try:
        yield running, visitor_from
    finally:
        for visitor in visitors:
            await visitor.close()
        for relay in relays:
            await relay.stop()
        await listener.stop()


async def staff(
    running: Running, http: aiohttp.ClientSession, username: str, name: str, role: str
) -> Agent:
    """Create a console user and log them in over HTTP."""
    user = await running.box.accounts.create_user(username, PASSWORD, role, display_name=name)
    agent = Agent(running, http, user.id)
    assert (await agent.login(username)).status == 302
    return agent


async def console_for(
    chromium: Browser, running: Running, username: str, errors: list[str], sent: list[Any]
) -> tuple[BrowserContext, Page]:
    """Log a user into the console (Chinese UI) and open the visitors view; the frames
    the console sends go to `sent`."""
    # The agent's computer is in another zone than the box: times must still be the box's.
    ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP, timezone_id=AGENT_ZONE)
    ctx.set_default_timeout(WAIT)
    page = await ctx.new_page()
    page.on("pageerror", lambda e: errors.append(f"{username}: {e}"))
    page.on("websocket", lambda ws: ws.on("framesent", lambda data: sent.append(_json(data))))
    await page.goto(running.url("/login"))
    await page.locator('input[name="username"]').fill(username)
    await page.locator('input[name="password"]').fill(PASSWORD)
    await page.locator('[data-cb="login-form"] button[type="submit"]').click()
    await page.wait_for_url("**/console")
    await expect(page.locator('[data-cb="console"]')).to_have_attribute("data-conn", "online")
    await page.locator('[data-cb="view-visitors"]').click()
    await expect(page.locator('[data-cb="visitors"]')).to_be_visible()
    return ctx, page


def row(page: Page, visitor: RemoteVisitor) -> Any:
    return page.locator(f'{ROWS}[data-id="{visitor.visitor_id}"]')


async def test_visitors_by_region_filters_live_updates_and_invitation(
    chromium: Browser,
    relayed_box: tuple[Running, Callable[[str], Awaitable[RemoteVisitor]]],
    http_sessions: Callable[[], aiohttp.ClientSession],
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    running, visitor_from = relayed_box
    admin = await staff(running, http_sessions(), "admin", "管理员", "admin")
    async with admin.http.post(
        running.url("/api/admin/ip-table?format=ip2region"),
        data=IP_TABLE.encode(),
        headers={"X-CSRF-Token": admin.csrf, "Content-Type": "text/plain"},
    ) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["ranges"] == 2
    bj = await staff(running, http_sessions(), "bj", "北京客服", "agent")
    sh = await staff(running, http_sessions(), "sh", "上海客服", "agent")
    await staff(running, http_sessions(), "boss", "陈主管", "supervisor")
    for agent, region in ((bj, "北京"), (sh, "上海")):
        await admin.call("PATCH", f"/api/console/agents/{agent.user_id}", {"regions": [region]})

    # ---- a visitor from Beijing via a Baidu search, one from Shanghai typing the address ----
    beijing = await visitor_from(BEIJING_IP)
    await beijing.arrive(f"{SHOP}/routers/ax3000", "AX3000 路由器 - 商城", BAIDU)
    shanghai = await visitor_from(SHANGHAI_IP)
    await shanghai.arrive(f"{SHOP}/", "首页 - 商城")

    errors: list[str] = []
    contexts: list[BrowserContext] = []
    try:
        sent: list[dict[str, Any]] = []
        sent_b: list[dict[str, Any]] = []
        ctx, b = await console_for(chromium, running, "bj", errors, sent_b)
        contexts.append(ctx)
        ctx, s = await console_for(chromium, running, "sh", errors, [])
        contexts.append(ctx)
        ctx, boss = await console_for(chromium, running, "boss", errors, sent)
        contexts.append(ctx)

        # ---- each agent sees only their region; the supervisor sees both ----
        await expect(b.locator(ROWS)).to_have_count(1)
        await expect(row(b, beijing).locator('[data-cb="visitor-region"]')).to_have_text("北京")
        await expect(row(b, beijing).locator('[data-cb="visitor-source"]')).to_have_text(
            f"百度：{KEYWORD}"
        )
        await expect(row(b, beijing).locator('[data-cb="visitor-page"]')).to_have_text(
            "AX3000 路由器 - 商城"
        )
        await expect(row(b, beijing)).to_contain_text("新访客")
        await expect(b.locator('[data-cb="visitors-total"]')).to_have_text("共 1 位访客")
        await expect(s.locator(ROWS)).to_have_count(1)
        await expect(row(s, shanghai).locator('[data-cb="visitor-region"]')).to_have_text("上海")
        await expect(row(s, shanghai).locator('[data-cb="visitor-source"]')).to_have_text(
            "直接访问"
        )
        await expect(boss.locator(ROWS)).to_have_count(2)
        await expect(boss.locator('[data-cb="visitors-total"]')).to_have_text("共 2 位访客")

        # ---- filters go to the server: by source, then by keyword ----
        await boss.locator('[data-cb="filter-source"]').select_option("search")
        await expect(boss.locator(ROWS)).to_have_count(1)
        await expect(row(boss, beijing)).to_be_visible()
        await expect(boss.locator('[data-cb="visitors-total"]')).to_have_text("共 1 位访客")
        await boss.locator('[data-cb="filter-source"]').select_option("")
        await expect(boss.locator(ROWS)).to_have_count(2)
        await boss.locator('[data-cb="filter-q"]').fill("首页")
        await expect(boss.locator(ROWS)).to_have_count(1)
        await expect(row(boss, shanghai)).to_be_visible()
        await boss.locator('[data-cb="filter-q"]').fill(KEYWORD)
        await expect(boss.locator(ROWS)).to_have_count(1)
        await expect(row(boss, beijing)).to_be_visible()
        await boss.locator('[data-cb="filter-q"]').fill("没有这个访客")
        await expect(boss.locator(ROWS)).to_have_count(0)
        await expect(boss.locator('[data-cb="visitors-empty"]')).to_be_visible()
        await boss.locator('[data-cb="filter-q"]').fill("")
        await expect(boss.locator(ROWS)).to_have_count(2)

        # ---- the Beijing visitor navigates: the row changes in place, live ----
        kept = await row(b, beijing).element_handle()
        await row(b, beijing).click()
        await expect(row(b, beijing)).to_have_attribute("aria-selected", "true")
        detail = b.locator('[data-cb="visitor-detail"]')
        await expect(detail.locator('[data-cb="trail-item"]')).to_have_count(1)
        await beijing.view(f"{SHOP}/cart", "购物车 - 商城")
        await expect(row(b, beijing).locator('[data-cb="visitor-page"]')).to_have_text(
            "购物车 - 商城"
        )
        await expect(row(b, beijing)).to_contain_text("本次 2 页")
        await expect(detail.locator('[data-cb="trail-item"]')).to_have_count(2)
        trail = (await bj.get(f"/api/console/visitors/{beijing.visitor_id}"))["visitor"]["trail"]
        for item, step in zip(
            await detail.locator('[data-cb="trail-item"]').all(), trail, strict=True
        ):
            await expect(item.locator(".time")).to_have_text(box_clock(step["started_at"]))
        assert kept is not None
        still = await kept.evaluate("(tr) => tr.isConnected && tr.getAttribute('aria-selected')")
        assert still == "true", "the row was rebuilt or lost its selection"

        # ---- the socket drops and comes back: the watch is sent again ----
        before = sum(1 for f in sent_b if f.get("type") == "watch_visitors")
        for conn in list(running.server.app[HUB].agents.get(str(bj.user_id), ())):
            await conn.ws.close(code=1012)  # as a restarting service does
        await eventually(lambda: sum(f.get("type") == "watch_visitors" for f in sent_b) > before)
        await expect(b.locator('[data-cb="console"]')).to_have_attribute("data-conn", "online")
        await beijing.view(f"{SHOP}/checkout", "结算 - 商城")
        await expect(row(b, beijing).locator('[data-cb="visitor-page"]')).to_have_text(
            "结算 - 商城"
        )

        # ---- invite: sent, pending, then declined by the visitor ----
        message = detail.locator('[data-cb="visitor-invite-message"]')
        await expect(message).to_have_value("您好，有什么可以帮您？")
        await message.fill(INVITE)
        await detail.locator('[data-cb="visitor-invite-send"]').click()
        status = detail.locator('[data-cb="visitor-invite-status"]')
        await expect(status).to_have_text("邀请已发送，等待访客回应…")
        offered = await beijing.frame("invitation")
        assert offered["invitation"]["message"] == INVITE
        await expect(row(b, beijing).locator('[data-cb="visitor-status"]')).to_have_text("已邀请")
        await expect(row(boss, beijing).locator('[data-cb="visitor-status"]')).to_have_text(
            "已邀请"
        )
        await b.screenshot(path=ARTIFACTS / "console-visitors.png")

        code, answer = await beijing.call(
            "POST", f"/api/visitor/invitations/{offered['invitation']['id']}/decline"
        )
        assert code == 200 and answer["invitation"]["status"] == "declined", answer
        await expect(status).to_have_text("访客谢绝了邀请。")
        await expect(row(b, beijing).locator('[data-cb="visitor-status"]')).to_have_text("浏览中")

        # ---- the Shanghai visitor is out of the Beijing agent's scope, by HTTP too ----
        gone = f"/api/console/visitors/{shanghai.visitor_id}"
        await bj.get(gone, status=404)
        await bj.post(gone + "/invite", {"message": INVITE}, status=404)
        assert (await sh.get(gone))["visitor"]["region"]["label"] == "上海"

        # ---- leaving the view stops the watch ----
        await boss.locator('[data-cb="view-chats"]').click()
        await expect(boss.locator('[data-cb="chat"]')).to_be_visible()
        await boss.wait_for_timeout(300)
        kinds = [f.get("type") for f in sent]
        assert "unwatch_visitors" in kinds, kinds
        watches = [f for f in sent if f.get("type") == "watch_visitors"]
        assert watches[0]["filter"] == {"q": "", "region": "", "source": "", "status": ""}
        assert any(f["filter"]["source"] == "search" for f in watches), watches
        assert any(f["filter"]["q"] == KEYWORD for f in watches), watches
        assert all(f["limit"] == 50 and f["offset"] == 0 for f in watches), watches
    finally:
        for ctx in contexts:
            await ctx.close()
    assert not errors, errors


async def eventually(check: Callable[[], bool], timeout: float = WAIT / 1000) -> None:
    """Wait until check() is true; fail after the timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.05)


def box_clock(wire_time: str) -> str:
    """Return HH:MM of a wire time (ISO 8601 in the box's zone, with its offset)."""
    return datetime.fromisoformat(wire_time).strftime("%H:%M")


def _json(payload: str | bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def test_supervisor_edits_invitation_rules(
    chromium: Browser,
    relayed_box: tuple[Running, Callable[[str], Awaitable[RemoteVisitor]]],
    http_sessions: Callable[[], aiohttp.ClientSession],
) -> None:
    expect.set_options(timeout=WAIT)
    running, _ = relayed_box
    boss = await staff(running, http_sessions(), "boss", "陈主管", "supervisor")
    errors: list[str] = []
    ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
    ctx.set_default_timeout(WAIT)
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(running.url("/login"))
        await page.locator('input[name="username"]').fill("boss")
        await page.locator('input[name="password"]').fill(PASSWORD)
        await page.locator('[data-cb="login-form"] button[type="submit"]').click()
        await page.wait_for_url("**/console")
        await page.goto(running.url("/console/routing"))
        section = page.locator('[data-cb="invite-rules"]')
        await expect(section.locator('[data-cb="invite-rules-empty"]')).to_be_visible()

        await section.locator('[data-cb="invite-rules-add"]').click()
        await section.locator('[data-cb="invite-rules-add"]').click()
        rules = section.locator('[data-cb="invite-rule"]')
        await expect(rules).to_have_count(2)
        first, second = rules.nth(0), rules.nth(1)
        await first.locator('[name="name"]').fill("价格页停留")
        await first.locator('[name="url_pattern"]').fill("*/pricing*")
        await first.locator('[name="min_seconds"]').fill("30")
        await first.locator('[name="source"]').select_option("search")
        await first.locator('[name="message"]').fill("看价格吗？我可以帮您比较。")
        await second.locator('[name="name"]').fill("回访")
        await second.locator('[name="audience"]').select_option("returning")
        await second.locator('[name="message"]').fill("")  # refused: a rule needs a message
        await section.locator('[data-cb="invite-rules-save"]').click()
        refused = second.locator('[data-f="error"]')
        await expect(refused).to_be_visible()
        await expect(refused).to_contain_text("message")
        await expect(first.locator('[data-f="error"]')).to_be_hidden()

        await second.locator('[name="message"]').fill("欢迎回来！")
        await second.locator('[data-f="up"]').click()
        await section.locator('[data-cb="invite-rules-save"]').click()
        await expect(section.locator('[data-cb="invite-rules-ok"]')).to_be_visible()
        saved = (await boss.get("/api/console/invite-rules"))["rules"]
        assert [r["name"] for r in saved] == ["回访", "价格页停留"]
        assert saved[1]["url_pattern"] == "*/pricing*"
        assert saved[1]["min_seconds"] == 30 and saved[1]["source"] == "search"
        assert saved[0]["audience"] == "returning" and saved[0]["message"] == "欢迎回来！"

        await page.reload()
        await expect(page.locator('[data-cb="invite-rule"]')).to_have_count(2)
        await expect(
            page.locator('[data-cb="invite-rule"]').nth(0).locator('[name="name"]')
        ).to_have_value("回访")
    finally:
        await ctx.close()
    assert not errors, errors


async def test_accepted_invitation_opens_the_chat_and_the_profile_panel(
    chromium: Browser,
    relayed_box: tuple[Running, Callable[[str], Awaitable[RemoteVisitor]]],
    http_sessions: Callable[[], aiohttp.ClientSession],
) -> None:
    expect.set_options(timeout=WAIT)
    running, visitor_from = relayed_box
    agent = await staff(running, http_sessions(), "wang", "王芳", "agent")
    shopper = await visitor_from(BEIJING_IP)
    await shopper.arrive(f"{SHOP}/routers/ax3000", "AX3000 路由器 - 商城", BAIDU)
    errors: list[str] = []
    ctx, page = await console_for(chromium, running, "wang", errors, [])
    try:
        await page.locator('[data-cb="presence"]').select_option("online")
        await expect(page.locator('[data-cb="console"]')).to_have_attribute("data-status", "online")
        # No IP table here: the region is unknown, and said so.
        await expect(row(page, shopper).locator('[data-cb="visitor-region"]')).to_have_text("未知")
        await row(page, shopper).click()
        await page.locator('[data-cb="visitor-invite-send"]').click()
        offered = await shopper.frame("invitation")
        assert offered["invitation"]["message"] == "您好，有什么可以帮您？"

        # ---- accepted: the chat is the inviting agent's and opens in the console ----
        code, answer = await shopper.call(
            "POST", f"/api/visitor/invitations/{offered['invitation']['id']}/accept", {}
        )
        assert code == 201, answer
        conv_id = answer["conversation"]["id"]
        await expect(page.locator('[data-cb="chat"]')).to_be_visible()
        await expect(page.locator('[data-cb="visitors"]')).to_be_hidden()
        mine = page.locator('[data-cb="mine-list"] [data-cb="conv"]')
        await expect(mine).to_have_count(1)
        await expect(mine).to_have_attribute("data-id", conv_id)
        await expect(mine).to_have_class(re.compile(r"\bselected\b"))
        # An unknown visitor: the panel shows only what this visit says.
        panel = page.locator('[data-cb="profile"]')
        await expect(panel).to_be_visible()
        await expect(panel.locator('[data-cb="profile-unknown"]')).to_be_visible()
        await expect(panel.locator('[data-cb="trail-item"]')).to_have_count(1)
        await expect(panel).to_contain_text(f"百度：{KEYWORD}")
        # Each fact under its own name: 访问 (new or returning) and 设备, not the live
        # list's paired column headings.
        await expect(panel.locator("dt", has_text="访问")).to_have_count(1)
        await expect(panel.locator("dt", has_text="设备")).to_have_count(1)
        await expect(panel).not_to_contain_text("地区 / 设备")

        # ---- a visitor who leaves a phone number in the pre-chat form is a customer ----
        caller = await visitor_from(SHANGHAI_IP)
        await caller.arrive(f"{SHOP}/support", "售后服务 - 商城")
        code, answer = await caller.call(
            "POST",
            "/api/visitor/conversations",
            {"name": "张先生", "contact": "13800138000", "page_url": f"{SHOP}/support"},
        )
        assert code in (200, 201), answer
        # A call from the same number last week left a ticket: found by the phone.
        made = await agent.post(
            "/api/console/tickets",
            {
                "subject": "白色款到货请回电",
                "channel": "phone",
                "requester": {"phone": "13800138000"},
            },
            status=201,
        )
        await expect(mine).to_have_count(2)
        await page.locator(f'[data-cb="conv"][data-id="{answer["conversation"]["id"]}"]').click()
        await expect(panel.locator('[data-cb="customer-head"]')).to_contain_text("张先生")
        # The profile lists the customer's tickets, each opening its page.
        tickets = panel.locator('[data-cb="profile-tickets"] li')
        await expect(tickets).to_have_count(1)
        await expect(tickets).to_contain_text(f"{made['ticket']['number']} 白色款到货请回电")
        await expect(tickets.locator(".state")).to_have_text("新建")
        await expect(tickets.locator("a")).to_have_attribute(
            "href", f"/console/tickets/{made['ticket']['id']}"
        )
        all_tickets = panel.locator('[data-cb="profile-tickets-all"]')
        await expect(all_tickets).to_have_text("全部 1 个工单")
        requester = made["ticket"]["requester_id"]
        await expect(all_tickets).to_have_attribute(
            "href", f"/console/tickets?view=all&requester_id={requester}"
        )
        await expect(panel.locator('[data-cb="customer-verified"]')).to_have_text("未验证")
        await expect(panel.locator('[data-cb="customer-phone"]')).to_have_value("13800138000")
        await panel.locator('[data-cb="customer-notes"]').fill("想要白色款，下午回电")
        await panel.locator('[data-cb="customer-organisation"]').fill("华东商贸")
        await panel.locator('[data-cb="customer-save"]').click()
        await expect(panel.locator('[data-cb="customer-saved"]')).to_be_visible()
        customer_id = await panel.get_attribute("data-customer-id")
        profile = (await agent.get(f"/api/console/customers/{customer_id}"))["customer"]
        assert profile["notes"] == "想要白色款，下午回电"
        assert profile["organisation"] == "华东商贸"
        assert profile["phone"] == "13800138000" and not profile["verified"]
        await expect(panel.locator('[data-cb="chat-item"]')).to_have_count(1)
        await expect(panel.locator('[data-cb="chat-item"] a')).to_have_attribute(
            "href", f"/console/history/{answer['conversation']['id']}"
        )
        # A tier chosen in the chat head is the customer's: the panel follows.
        await page.locator('[data-cb="tier"]').select_option("vip")
        await expect(panel.locator('[data-cb="customer-head"] .tier-vip')).to_have_text("VIP")
        await expect(panel.locator('[data-cb="customer-tier"]')).to_have_value("vip")
        # And the other way: a tier saved in the panel shows in the chat head and list.
        await panel.locator('[data-cb="customer-tier"]').select_option("member")
        await panel.locator('[data-cb="customer-save"]').click()
        await expect(page.locator('[data-cb="chat-badges"] .tier-member')).to_have_text("会员")
        await expect(page.locator('[data-cb="tier"]')).to_have_value("member")
        await page.screenshot(path=ARTIFACTS / "console-profile.png")
        # The link's list holds that customer's tickets only, until the filter is cleared.
        await page.goto(running.url(f"/console/tickets?view=all&requester_id={requester}"))
        rows = page.locator('[data-cb="ticket-rows"] [data-cb="ticket-row"]')
        await expect(rows).to_have_count(1)
        chip = page.locator('[data-cb="requester-filter"]')
        await expect(chip).to_have_text("客户：张先生 ×")
        await chip.click()
        await expect(chip).to_be_hidden()
        await page.wait_for_url(re.compile(r"/console/tickets\?view=all$"))
    finally:
        await ctx.close()
    assert not errors, errors


async def test_pages_of_fifty_and_private_addresses(
    chromium: Browser,
    make_app: Callable[..., Awaitable[Running]],
    http_sessions: Callable[[], aiohttp.ClientSession],
) -> None:
    expect.set_options(timeout=WAIT)
    # 55 visitors from one office address (loopback): a private network, not a region.
    running = await make_app(ip_conv_burst=200)
    await staff(running, http_sessions(), "boss", "陈主管", "supervisor")
    http = http_sessions()
    sockets = []
    for n in range(55):
        visitor = Visitor(running, http)
        await visitor.start()
        status, data, _ = await visitor.request(
            "POST",
            "/api/visitor/pageviews",
            {"url": f"{SHOP}/item/{n}", "title": HOSTILE if n == 0 else f"商品 {n:02d}"},
        )
        assert status == 201, data
        sockets.append(await visitor.ws())
    errors: list[str] = []
    sent: list[dict[str, Any]] = []
    ctx, page = await console_for(chromium, running, "boss", errors, sent)
    try:
        total = page.locator('[data-cb="visitors-total"]')
        shown = page.locator('[data-cb="visitors-range"]')
        await expect(total).to_have_text("共 55 位访客")
        await expect(page.locator(ROWS)).to_have_count(50)
        await expect(shown).to_have_text("第 1–50 位")
        await expect(page.locator('[data-cb="visitors-prev"]')).to_be_disabled()
        await expect(page.locator(ROWS).first.locator('[data-cb="visitor-region"]')).to_have_text(
            "内网"
        )
        await page.locator('[data-cb="visitors-next"]').click()
        await expect(page.locator(ROWS)).to_have_count(5)
        await expect(shown).to_have_text("第 51–55 位")
        # The oldest visitor is last. Their page title is their text, never markup.
        hostile = page.locator(ROWS).filter(has_text=HOSTILE)
        await expect(hostile.locator('[data-cb="visitor-page"]')).to_have_text(HOSTILE)
        assert await page.locator('[data-cb="visitors"] img').count() == 0
        link = hostile.locator("a.url")
        await expect(link).to_have_attribute("rel", "noopener noreferrer")
        await expect(link).to_have_attribute("href", f"{SHOP}/item/0")
        await expect(page.locator('[data-cb="visitors-next"]')).to_be_disabled()
        # A new filter starts again from the first page; typing goes out once, at the end.
        await page.locator('[data-cb="filter-q"]').press_sequentially("商品 07", delay=60)
        await expect(page.locator(ROWS)).to_have_count(1)
        await expect(page.locator(ROWS).locator('[data-cb="visitor-page"]')).to_have_text("商品 07")
        await expect(total).to_have_text("共 1 位访客")
        await page.locator('[data-cb="filter-q"]').fill("")
        await expect(page.locator(ROWS)).to_have_count(50)
        watches = [f for f in sent if f.get("type") == "watch_visitors"]
        assert [(f["offset"], f["filter"]["q"]) for f in watches] == [
            (0, ""),
            (50, ""),
            (0, "商品 07"),
            (0, ""),
        ], watches
    finally:
        await ctx.close()
        for ws in sockets:
            await ws.close()
    assert not errors, errors
