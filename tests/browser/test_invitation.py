"""Proactive chat and customer identity in Debian's Chromium, on a shop of another origin.

An online agent invites a visitor who has the shop open in two tabs: both show the card;
accepting in one (by keyboard) opens the chat with that agent, their invitation as its
first message, and the other tab takes its card down and follows the chat. A visitor on
a phone declines and the box records it. A data-customer-* identity signed with the
secret of the shop's own site (data-site) links the visitor to the customer; the same
signature in another browser, or a forged one, is refused quietly and the chat still
works. A contact typed into the pre-chat form makes a (not verified) customer, and a
bad one is said in the form without losing the message.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from tests.browser.conftest import Appliance
from tests.browser.test_e2e import bodies_become, send
from tests.browser.test_queue_overflow import add_user, console_api
from tests.browser.test_tracking import Shop, eventually, rows, serve_shop, visitor_id_of
from tests.conftest import Agent

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20_000  # ms, the longest any single wait may take
DESKTOP = {"width": 1280, "height": 760}
AGENT_NAME = "王芳"
INVITE = "您好，我是王芳。看您在看蓝牙耳机，需要帮您推荐吗？"
REPLY = "这款耳机今天有优惠，下单立减 50 元。"
QUESTION = "续航真的有 30 小时吗？"
CARD = '[data-cb="invitation"]'


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    async with serve_shop() as served:
        yield served


async def visit(ctx: BrowserContext, shop: Shop, errors: list[str]) -> tuple[Page, str]:
    """Open the shop in a new tab; return it and the visitor's id."""
    page = await ctx.new_page()
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    await page.goto(f"{shop.origin}/shop/earphones.html")
    return page, await visitor_id_of(page)


async def visitor_row(agent: Agent, vid: str) -> dict[str, Any] | None:
    """Return the console's view of a visitor, None while the box does not list them."""
    async with agent.http.get(agent.running.url(f"/api/console/visitors/{vid}")) as response:
        if response.status == 404:
            return None
        assert response.status == 200, await response.text()
        return (await response.json())["visitor"]  # type: ignore[no-any-return]


async def seen_online(agent: Agent, vid: str) -> None:
    """Wait until the console sees the visitor live (their presence socket is up)."""
    await eventually(
        lambda: visitor_row(agent, vid),
        lambda v: v is not None and v["online"] is True,
        f"{vid} online",
    )


async def invitation_status(appliance: Appliance, invitation_id: int) -> dict[str, Any]:
    found = await rows(appliance, "SELECT * FROM invitations WHERE id = ?", invitation_id)
    assert len(found) == 1, invitation_id
    return found[0]


async def test_invitation_accepted_in_one_tab_and_declined_on_a_phone(
    chromium: Browser, appliance: Appliance, shop: Shop
) -> None:
    expect.set_options(timeout=WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    await add_user(appliance, "wangfang", "--role", "agent", "--display-name", AGENT_NAME)
    await appliance.start()
    shop.box = appliance.origin
    errors: list[str] = []
    async with console_api(appliance, "wangfang") as agent:
        await agent.post("/api/console/presence", {"status": "online"})
        ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
        phone_ctx = await chromium.new_context(
            locale="zh-CN",
            viewport={"width": 390, "height": 740},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
        )
        for c in (ctx, phone_ctx):
            c.set_default_timeout(WAIT)
        try:
            # ---- one visitor, two tabs; the agent invites them ----
            tab, vid = await visit(ctx, shop, errors)
            other, same = await visit(ctx, shop, errors)
            assert same == vid
            await seen_online(agent, vid)
            path = f"/api/console/visitors/{vid}/invite"
            invited = (await agent.post(path, {"message": INVITE}, status=201))["invitation"]

            card = tab.locator(CARD)
            await expect(card).to_be_visible()
            await expect(card).to_have_attribute("role", "dialog")
            await expect(card).to_have_attribute("aria-label", "在线客服邀请")
            await expect(card.locator('[data-cb="invite-agent"]')).to_have_text(AGENT_NAME)
            await expect(card.locator('[data-cb="invite-message"]')).to_have_text(INVITE)
            await expect(card.locator('[data-cb="invite-accept"]')).to_have_text("接受")
            await expect(card.locator('[data-cb="invite-decline"]')).to_have_text("不用了")
            await expect(other.locator(CARD)).to_be_visible()
            # Not modal: the page keeps its focus.
            assert await tab.evaluate("() => document.activeElement === document.body")
            await tab.screenshot(path=ARTIFACTS / "widget-invitation.png")

            # ---- accepted by keyboard: the chat opens with the agent ----
            accept = card.locator('[data-cb="invite-accept"]')
            await accept.focus()
            await expect(accept).to_be_focused()
            await accept.press("Enter")
            await expect(card).to_be_hidden()
            await expect(tab.locator('[data-cb="panel"]')).to_be_visible()
            status = tab.locator('[data-cb="status"]')
            await expect(status).to_have_attribute("data-state", "active")
            await expect(status).to_have_text(f"客服 {AGENT_NAME} 正在为您服务")
            await bodies_become(tab, [INVITE])
            first = tab.locator('[data-cb="message"][data-sender="agent"]').first
            await expect(first.locator(".who")).to_have_text(AGENT_NAME)

            # ---- the other tab: its card goes, and it follows the chat ----
            await expect(other.locator(CARD)).to_be_hidden()
            await expect(other.locator('[data-cb="status"]')).to_have_attribute(
                "data-state", "active"
            )

            record = await eventually(
                lambda: invitation_status(appliance, invited["id"]),
                lambda r: r["status"] == "accepted",
                "invitation accepted",
            )
            mine = (await agent.get("/api/console/conversations?scope=mine"))["conversations"]
            assert [c["id"] for c in mine] == [record["conversation_id"]], mine
            assert mine[0]["status"] == "active"
            assert mine[0]["visitor"]["id"] == vid

            # ---- they talk ----
            conv_path = f"/api/console/conversations/{record['conversation_id']}"
            await agent.post(
                conv_path + "/messages",
                {"client_msg_id": "reply-1", "body": REPLY},
                status=201,
            )
            await bodies_become(tab, [INVITE, REPLY])
            await send(tab, QUESTION)
            await bodies_become(tab, [INVITE, REPLY, QUESTION])
            messages = (await agent.get(conv_path + "/messages"))["messages"]
            said = [m["body"] for m in messages if m["sender_type"] != "system"]
            assert said == [INVITE, REPLY, QUESTION], messages
            # A second invitation to someone in a chat is refused by the box.
            await agent.post(path, {"message": INVITE}, status=409)

            # ---- a visitor on a phone says no thanks ----
            phone, vid2 = await visit(phone_ctx, shop, errors)
            await seen_online(agent, vid2)
            path2 = f"/api/console/visitors/{vid2}/invite"
            invited2 = (await agent.post(path2, {"message": INVITE}, status=201))["invitation"]
            card2 = phone.locator(CARD)
            await expect(card2).to_be_visible()
            box = await card2.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
            decline = card2.locator('[data-cb="invite-decline"]')
            target = await decline.bounding_box()
            assert target is not None and target["height"] >= 44, target  # thumb-sized
            await phone.screenshot(path=ARTIFACTS / "widget-invitation-phone.png")
            await decline.tap()
            await expect(card2).to_be_hidden()
            await eventually(
                lambda: invitation_status(appliance, invited2["id"]),
                lambda r: r["status"] == "declined" and r["conversation_id"] is None,
                "invitation declined",
            )
            # Still the usual chat button, and no chat was opened.
            await phone.locator('[data-cb="launcher"]').tap()
            await expect(phone.locator('[data-cb="status"]')).to_have_attribute(
                "data-state", "idle"
            )
        finally:
            await phone_ctx.close()
            await ctx.close()
    assert not errors, errors


def sign(secret: str, customer_id: str, ts: int) -> str:
    """Sign as the host site's server does (docs/api.md), independently of the box's code."""
    return hmac.new(secret.encode(), f"{customer_id}:{ts}".encode(), hashlib.sha256).hexdigest()


async def customer_of(appliance: Appliance, vid: str) -> dict[str, Any] | None:
    found = await rows(
        appliance,
        "SELECT c.* FROM visitors v JOIN customers c ON c.id = v.customer_id WHERE v.id = ?",
        vid,
    )
    return found[0] if found else None


async def test_signed_identity_links_the_visitor(
    chromium: Browser, appliance: Appliance, shop: Shop
) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "root", "--role", "admin", "--display-name", "管理员")
    await appliance.start()
    shop.box = appliance.origin
    # The shop is a site of its own, with its own signing secret.
    async with console_api(appliance, "root") as admin:
        await admin.post("/api/admin/sites", {"key": "shop", "name": "Acme 商城"}, status=201)
    secret = (await rows(appliance, "SELECT secret FROM sites WHERE key = 'shop'"))[0]["secret"]
    ts = int(time.time())
    signed = {
        "data-site": "shop",
        "data-customer-id": "C-8812",
        "data-customer-ts": str(ts),
        "data-customer-sig": sign(secret, "C-8812", ts),
        "data-customer-name": "张伟",
        "data-customer-email": "zhangwei@example.cn",
    }
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    try:
        # ---- the shop vouches for its logged-in customer ----
        shop.attrs = signed
        ctx = await chromium.new_context(locale="zh-CN")
        contexts.append(ctx)
        page, vid = await visit(ctx, shop, errors)
        customer = await eventually(
            lambda: customer_of(appliance, vid), lambda c: c is not None, "linked customer"
        )
        assert customer["external_id"] == "C-8812"
        assert customer["verified"] == 1
        assert (customer["name"], customer["email"]) == ("张伟", "zhangwei@example.cn")
        assert customer["site"] == "shop"
        # Identity and page view go out side by side: either may land first.
        await eventually(
            lambda: rows(appliance, "SELECT site FROM visits WHERE visitor_id = ?", vid),
            lambda v: v == [{"site": "shop"}],
            "the visit filed under the shop's site",
        )

        # ---- a copied signature (another browser) and a forged one: refused quietly ----
        for attrs, code in (
            (signed, "replayed"),
            (
                {**signed, "data-customer-sig": sign("not the secret", "C-8812", ts)},
                "bad_signature",
            ),
        ):
            shop.attrs = attrs
            ctx = await chromium.new_context(locale="zh-CN")
            ctx.set_default_timeout(WAIT)
            contexts.append(ctx)
            debug: list[str] = []
            page = await ctx.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m, log=debug: _keep_debug(m, log))
            await page.goto(f"{shop.origin}/shop/earphones.html")
            other = await visitor_id_of(page)
            await eventually(
                lambda log=debug: list(log),
                lambda log, code=code: any(
                    "identity not accepted" in line and code in line for line in log
                ),
                f"console.debug about {code}",
            )
            assert await customer_of(appliance, other) is None
            # The chat works all the same.
            await page.locator('[data-cb="launcher"]').click()
            await send(page, "你好")
            await bodies_become(page, ["你好"])
        # The first visitor is still the customer's.
        assert (await customer_of(appliance, vid) or {}).get("external_id") == "C-8812"
    finally:
        for c in contexts:
            await c.close()
    assert not errors, errors


def _keep_debug(message: ConsoleMessage, log: list[str]) -> None:
    if message.type == "debug":
        log.append(message.text)


async def test_prechat_contact_makes_a_customer(
    chromium: Browser, appliance: Appliance, shop: Shop
) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "lihua", "--role", "supervisor", "--display-name", "李华")
    await appliance.start()
    shop.box = appliance.origin
    errors: list[str] = []
    async with console_api(appliance, "lihua") as lead:
        groups = (await lead.get("/api/console/groups"))["groups"]
        default = next(g["id"] for g in groups if g["is_default"])
        topics = [{"key": "after_sales", "label": "售后服务", "group_id": default}]
        await lead.call("PUT", "/api/console/topics", {"topics": topics})
        ctx = await chromium.new_context(locale="zh-CN", viewport=DESKTOP)
        ctx.set_default_timeout(WAIT)
        try:
            page, vid = await visit(ctx, shop, errors)
            await page.locator('[data-cb="launcher"]').click()
            prechat = page.locator('[data-cb="prechat"]')
            await expect(prechat).to_be_visible()
            contact = page.locator('[data-cb="contact"]')
            await expect(prechat.locator("label", has=contact)).to_contain_text(
                "手机或邮箱（选填）"
            )
            for name, value in (("type", "text"), ("maxlength", "254"), ("autocomplete", "email")):
                await expect(contact).to_have_attribute(name, value)

            # ---- a contact the box refuses: said in the form; the message is kept ----
            await page.locator('[data-cb="name"]').fill("李雷")
            await contact.fill("李雷的手机")
            await send(page, "我想退货")
            error = page.locator('[data-cb="prechat-error"]')
            await expect(error).to_have_text("请填写有效的电话号码或邮箱地址")
            await expect(contact).to_be_focused()
            await expect(page.locator('[data-cb="input"]')).to_have_value("我想退货")
            await expect(page.locator('[data-cb="message"]')).to_have_count(0)
            await expect(page.locator('[data-cb="status"]')).to_have_attribute("data-state", "idle")

            # ---- corrected, Enter in the field sends it ----
            await contact.fill("lilei@example.cn")
            await expect(error).to_be_hidden()
            await contact.press("Enter")
            await bodies_become(page, ["我想退货"])
            await expect(prechat).to_be_hidden()
            customer = await eventually(
                lambda: customer_of(appliance, vid), lambda c: c is not None, "typed customer"
            )
            assert (customer["name"], customer["email"]) == ("李雷", "lilei@example.cn")
            assert customer["verified"] == 0
        finally:
            await ctx.close()
    assert not errors, errors


async def test_invitation_accepted_while_the_agent_is_away_waits_for_them(
    chromium: Browser, appliance: Appliance, shop: Shop
) -> None:
    expect.set_options(timeout=WAIT)
    await add_user(appliance, "wangfang", "--role", "agent", "--display-name", AGENT_NAME)
    await appliance.start()
    shop.box = appliance.origin
    errors: list[str] = []
    async with console_api(appliance, "wangfang") as agent:
        await agent.post("/api/console/presence", {"status": "online"})
        ctx = await chromium.new_context(locale="en-US", viewport=DESKTOP)
        ctx.set_default_timeout(WAIT)
        try:
            shop.attrs = {"data-lang": "en"}
            page, vid = await visit(ctx, shop, errors)
            await seen_online(agent, vid)
            path = f"/api/console/visitors/{vid}/invite"
            await agent.post(path, {"message": INVITE}, status=201)
            card = page.locator(CARD)
            await expect(card).to_have_attribute("aria-label", "Chat invitation")
            await expect(card.locator('[data-cb="invite-accept"]')).to_have_text("Accept")
            await expect(card.locator('[data-cb="invite-decline"]')).to_have_text("No thanks")

            # ---- the agent steps away before the visitor answers: the chat waits ----
            await agent.post("/api/console/presence", {"status": "away"})
            await card.locator('[data-cb="invite-accept"]').click()
            status = page.locator('[data-cb="status"]')
            await expect(status).to_have_attribute("data-state", "waiting")
            # Their words are still the chat's first message, in their name.
            invited = page.locator('[data-cb="message"][data-event="invitation"]')
            await expect(invited.locator(".body")).to_have_text(INVITE)
            await expect(invited.locator(".who")).to_have_text(AGENT_NAME)
            await expect(invited).to_be_visible()

            # ---- back online, the router gives the chat to them ----
            await agent.post("/api/console/presence", {"status": "online"})
            await expect(status).to_have_text(f"Connected with {AGENT_NAME}")
        finally:
            await ctx.close()
    assert not errors, errors
