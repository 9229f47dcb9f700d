"""Visitor insight over a real store: visits, page views, dwell, privacy, retention,
the live list's scope, signed customer identities and invitations."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from appliance.core.actors import Staff, Visitor
from appliance.core.box import Box
from appliance.core.customers import sign
from appliance.core.errors import (
    AlreadyInvited,
    BadSignature,
    Chatting,
    Expired,
    InvalidInput,
    InvitationClosed,
    NotFound,
    Replayed,
)
from appliance.core.insight import DAY_MS, LIVE_GRACE_MS
from appliance.core.live import Filter, Scope, agent_scope
from appliance.core.visitor_records import short_region


def _overseer(user_id: int) -> Staff:
    """A supervisor: every visitor is in their scope."""
    return Staff(user_id, "li", "supervisor")


TABLE = (
    "1.2.3.0|1.2.3.255|中国|0|北京|北京市|联通\n"
    "5.6.7.0|5.6.7.255|中国|0|上海|上海市|电信\n"
    "8.8.0.0|8.8.255.255|美国|0|0|0|0\n"
).encode()
BEIJING, SHANGHAI = "1.2.3.4", "5.6.7.8"
BAIDU = "https://www.baidu.com/s?wd=%E5%AE%A2%E6%9C%8D%E7%B3%BB%E7%BB%9F&ie=utf-8"
UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
async def tracked(box: Box) -> Box:
    await box.iptable.import_csv(TABLE, "ip2region")
    return box


async def view(
    box: Box,
    vid: str,
    url: str = "https://shop.example/",
    *,
    ip: str = BEIJING,
    dnt: bool = False,
    **extra: Any,
) -> Any:
    fields: dict[str, Any] = {
        "url": url,
        "title": "Shop",
        "referrer": "",
        "site": "default",
        "user_agent": UA,
    }
    fields.update(extra)
    return await box.insight.page_view(Visitor(vid, ip, dnt=dnt), **fields)


async def new_visitor(box: Box) -> str:
    vid, _token = await box.visitors.issue()
    return vid


async def test_page_views_make_visits_with_source_region_and_device(tracked: Box) -> None:
    vid = await new_visitor(tracked)
    first = await view(tracked, vid, "https://shop.example/?from=ad", referrer=BAIDU)
    second = await view(tracked, vid, "https://shop.example/pricing", title="价格")
    assert first.visit_id == second.visit_id and first.visit_number == 1
    live = tracked.insight.live.get(vid)
    assert live is not None
    assert [s.url for s in live.trail] == [
        "https://shop.example/?from=ad",
        "https://shop.example/pricing",
    ]
    assert live.region["label"] == "北京" and live.region["status"] == "found"
    assert live.device["kind"] == "mobile"
    assert live.pages == 2 and live.visits == 1
    row = await tracked.db.fetchone(
        "SELECT source_kind, engine, keyword, pages FROM visits WHERE id = ?",
        (first.visit_id,),
    )
    assert tuple(row) == ("search", "baidu", "客服系统", 2)
    assert live.source == {
        "kind": "search",
        "engine": "baidu",
        "keyword": "客服系统",
        "site": "baidu.com",
        "campaign": "",
    }

    # Thirty quiet minutes later the next page view starts the second visit.
    await tracked.db.write(
        lambda c: c.execute("UPDATE visits SET last_seen_at = last_seen_at - 31 * 60000")
    )
    third = await view(tracked, vid, referrer="https://news.example.org/story")
    assert third.visit_id != first.visit_id and third.visit_number == 2
    live = tracked.insight.live.get(vid)
    assert live is not None and live.visits == 2 and live.source["kind"] == "referral"
    assert [s.url for s in live.trail] == ["https://shop.example/"]


async def test_bad_page_views_are_refused_and_store_nothing(tracked: Box) -> None:
    vid = await new_visitor(tracked)
    for bad in ("javascript:alert(1)", "ftp://x/", 42, "https://x/" + "a" * 3000):
        with pytest.raises(InvalidInput):
            await view(tracked, vid, bad)
    with pytest.raises(InvalidInput):
        await view(tracked, vid, site="no-such-site")
    assert (await tracked.db.fetchone("SELECT count(*) FROM page_views"))[0] == 0
    # A long title is cut, not refused.
    await view(tracked, vid, title="标题" * 500)
    row = await tracked.db.fetchone("SELECT length(title) FROM page_views")
    assert row[0] == 256


async def test_dwell_keeps_the_largest_report_bounded_by_wall_time(tracked: Box) -> None:
    vid = await new_visitor(tracked)
    other = await new_visitor(tracked)
    page = await view(tracked, vid)
    await tracked.db.write(
        lambda c: c.execute("UPDATE page_views SET started_at = started_at - 20000")
    )
    await tracked.insight.dwell(Visitor(vid), page.id, 5000)
    await tracked.insight.dwell(Visitor(vid), page.id, 3000)  # a late, smaller beacon
    row = await tracked.db.fetchone("SELECT dwell_ms FROM page_views")
    assert row[0] == 5000
    await tracked.insight.dwell(Visitor(vid), page.id, 10**9)  # more than the page has existed
    row = await tracked.db.fetchone("SELECT dwell_ms FROM page_views")
    assert 20000 <= row[0] < 25000
    with pytest.raises(NotFound):
        await tracked.insight.dwell(Visitor(other), page.id, 1000)
    with pytest.raises(InvalidInput):
        await tracked.insight.dwell(Visitor(vid), page.id, -1)


async def test_do_not_track_is_honoured_only_when_the_admin_says(tracked: Box) -> None:
    vid, shy = await new_visitor(tracked), await new_visitor(tracked)
    page = await view(tracked, shy, dnt=True)  # the admin has not turned it on: tracked
    assert page is not None and tracked.insight.live.get(shy) is not None
    await tracked.box_settings.update({"honour_dnt": True})
    assert not tracked.insight.tracks(Visitor(shy, dnt=True))
    assert tracked.insight.tracks(Visitor(shy))
    assert await view(tracked, shy, dnt=True) is None
    assert tracked.insight.live.get(shy) is None  # and they leave the live list
    await tracked.insight.dwell(Visitor(shy, dnt=True), page.id, 5000)
    count = await tracked.db.fetchone("SELECT count(*), max(dwell_ms) FROM page_views")
    assert tuple(count) == (1, 0)  # neither the page view nor the dwell was stored
    assert await view(tracked, vid) is not None  # no DNT header: tracked


async def test_a_socket_that_asks_not_to_be_tracked_does_not_list_the_visitor(
    tracked: Box,
) -> None:
    shy, plain = await new_visitor(tracked), await new_visitor(tracked)
    for vid in (shy, plain):
        await view(tracked, vid)
        tracked.insight.forget(vid)  # as after a restart: known, not listed
    await tracked.box_settings.update({"honour_dnt": True})
    tracked.insight.connected(Visitor(shy, dnt=True))
    tracked.insight.connected(Visitor(plain))
    for _ in range(50):
        if tracked.insight.live.get(plain) is not None:
            break
        await asyncio.sleep(0.02)
    assert tracked.insight.live.get(plain) is not None
    assert tracked.insight.live.get(shy) is None


async def test_retention_deletes_old_page_views_and_visits(tracked: Box) -> None:
    vid = await new_visitor(tracked)
    await view(tracked, vid)
    await tracked.box_settings.update({"page_view_days": 30})
    now = int(time.time() * 1000)
    assert (await tracked.insight.prune(now))["page_views"] == 0
    counts = await tracked.insight.prune(now + 31 * DAY_MS)
    assert counts["page_views"] == 1 and counts["visits"] == 1
    assert (await tracked.db.fetchone("SELECT count(*) FROM visits"))[0] == 0


async def test_live_list_is_scoped_by_region_and_group_and_filtered(tracked: Box) -> None:
    beijing, shanghai, abroad = [await new_visitor(tracked) for _ in range(3)]
    await view(tracked, beijing, referrer=BAIDU)
    await view(tracked, shanghai, "https://shop.example/cart", ip=SHANGHAI, title="购物车")
    await view(tracked, abroad, ip="8.8.8.8")
    default = tracked.insight.live.get(beijing).group_id  # type: ignore[union-attr]
    live = tracked.insight.live

    def ids(scope: Scope, **raw: str) -> set[str]:
        total, rows = live.query(scope, Filter.parse(raw), 0, 50)
        assert total == len(rows)
        return {r.id for r in rows}

    assert ids(Scope()) == {beijing, shanghai, abroad}
    assert ids(agent_scope(["北京"], [default])) == {beijing}
    assert ids(agent_scope(["上海"], [default])) == {shanghai}
    assert ids(agent_scope([], [default])) == {beijing, shanghai, abroad}
    assert ids(agent_scope([], [default + 100])) == set()  # another product line
    assert ids(Scope(), source="search") == {beijing}
    assert ids(Scope(), q="客服") == {beijing}  # the search keyword
    assert ids(Scope(), q="购物车") == {shanghai}  # the page title
    assert ids(Scope(), region="上海") == {shanghai}
    with pytest.raises(ValueError):
        Filter.parse({"source": "carrier-pigeon"})
    total, rows = live.query(Scope(), Filter(), 1, 1)
    assert total == 3 and len(rows) == 1


async def test_presence_keeps_a_visitor_listed_through_a_navigation(tracked: Box) -> None:
    vid = await new_visitor(tracked)
    await view(tracked, vid)
    tracked.insight.connected(Visitor(vid))
    tracked.insight.disconnected(vid)  # navigating away ...
    now = int(time.time() * 1000)
    assert tracked.insight.departed(now) == []
    tracked.insight.connected(Visitor(vid))  # ... and back on the next page
    assert tracked.insight.departed(now + 2 * LIVE_GRACE_MS) == []
    tracked.insight.disconnected(vid)
    gone = tracked.insight.departed(now + 2 * LIVE_GRACE_MS)
    assert [v.id for v in gone] == [vid] and tracked.insight.live.get(vid) is None


def test_region_names_lose_their_administrative_suffix() -> None:
    cases = {
        "广东省": "广东",
        "北京市": "北京",
        "广西壮族自治区": "广西",
        "新疆维吾尔自治区": "新疆",
        "香港特别行政区": "香港",
        "北京": "北京",
        "Guangdong": "Guangdong",
        "市": "市",
    }
    for name, short in cases.items():
        assert short_region(name) == short, name


# -- signed identities --------------------------------------------------------------


async def _secret(box: Box) -> str:
    secret = await box.sites.secret("default")
    assert secret
    return secret


async def test_signed_identity_links_visitors_across_devices(tracked: Box) -> None:
    secret = await _secret(tracked)
    phone, laptop = await new_visitor(tracked), await new_visitor(tracked)
    ts = int(time.time())
    proof = {"customer_id": "u-42", "ts": ts, "sig": sign(secret, "u-42", ts), "name": "王芳"}
    customer = await tracked.customers.identify(phone, proof)
    assert customer.verified and customer.name == "王芳"
    again = await tracked.customers.identify(phone, proof)  # the same page, reloaded
    assert again.id == customer.id
    ts2 = ts + 1
    await tracked.customers.identify(
        laptop, {"customer_id": "u-42", "ts": ts2, "sig": sign(secret, "u-42", ts2)}
    )
    await tracked.insight.page_view(
        Visitor(laptop, SHANGHAI),
        url="https://shop.example/",
        title="",
        referrer="",
        site="default",
        user_agent="",
    )
    profile = await tracked.customers.profile(customer.id)
    assert {v.id for v in profile.devices} == {phone, laptop}
    assert len(profile.visits) == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"sig": "0" * 64}, BadSignature),
        ({"customer_id": "u-43"}, BadSignature),  # the signature was for u-42
        ({"sig": "not hex"}, BadSignature),
        ({"ts_shift": -3600}, Expired),
        ({"ts_shift": 3600}, Expired),
        ({"site": "elsewhere"}, InvalidInput),
    ],
)
async def test_bad_identity_proofs_are_refused(
    tracked: Box, change: dict[str, Any], error: type[Exception]
) -> None:
    secret = await _secret(tracked)
    vid = await new_visitor(tracked)
    ts = int(time.time()) + change.pop("ts_shift", 0)
    proof = {"customer_id": "u-42", "ts": ts, "sig": sign(secret, "u-42", ts), **change}
    with pytest.raises(error):
        await tracked.customers.identify(vid, proof)
    row = await tracked.db.fetchone("SELECT customer_id FROM visitors WHERE id = ?", (vid,))
    assert row[0] is None


async def test_a_replayed_signature_does_not_identify_another_visitor(tracked: Box) -> None:
    secret = await _secret(tracked)
    owner, thief = await new_visitor(tracked), await new_visitor(tracked)
    ts = int(time.time())
    proof = {"customer_id": "u-42", "ts": ts, "sig": sign(secret, "u-42", ts)}
    await tracked.customers.identify(owner, proof)
    with pytest.raises(Replayed):
        await tracked.customers.identify(thief, proof)
    row = await tracked.db.fetchone("SELECT customer_id FROM visitors WHERE id = ?", (thief,))
    assert row[0] is None
    rotated = await tracked.sites.rotate("default")
    assert rotated  # the old secret's signatures stop working
    ts += 1
    with pytest.raises(BadSignature):
        await tracked.customers.identify(
            owner, {"customer_id": "u-42", "ts": ts, "sig": sign(secret, "u-42", ts)}
        )


async def test_prechat_contact_makes_an_unverified_customer(tracked: Box) -> None:
    secret = await _secret(tracked)
    signed, typist = await new_visitor(tracked), await new_visitor(tracked)
    ts = int(time.time())
    real = await tracked.customers.identify(
        signed,
        {"customer_id": "u-1", "ts": ts, "sig": sign(secret, "u-1", ts), "email": "a@b.cn"},
    )
    # Typing someone else's address never joins their profile.
    typed = await tracked.customers.from_prechat(typist, "李雷", "a@b.cn")
    assert typed is not None and typed.id != real.id and not typed.verified
    with pytest.raises(InvalidInput):
        await tracked.customers.from_prechat(typist, "", "not a contact")
    assert await tracked.customers.from_prechat(typist, "", "") is None


# -- invitations --------------------------------------------------------------------


async def online_agent(box: Box, name: str, max_chats: int = 5) -> int:
    user = await box.accounts.create_user(
        name, "correct horse battery", "agent", max_chats=max_chats
    )
    await box.accounts.set_status(user.id, "online")
    return user.id


async def test_invitation_accepted_opens_the_chat_with_the_agent(tracked: Box) -> None:
    agent = await online_agent(tracked, "li")
    vid = await new_visitor(tracked)
    await view(tracked, vid)
    invitation = await tracked.invitations.invite(_overseer(agent), vid, "您好，需要帮忙吗？")
    assert invitation.status == "pending"
    assert tracked.insight.live.get(vid).status == "invited"  # type: ignore[union-attr]
    with pytest.raises(AlreadyInvited):
        await tracked.invitations.invite(_overseer(agent), vid, "again")
    conv = await tracked.invitations.accept(vid, invitation.id)
    assert conv.status == "active" and conv.agent_id == agent and conv.answered_at
    messages = await tracked.chats.messages_after(conv.id)
    assert [(m.sender_type, m.event) for m in messages] == [
        ("system", "assigned"),
        ("agent", None),
    ]
    assert messages[1].body == "您好，需要帮忙吗？"
    with pytest.raises(InvitationClosed):
        await tracked.invitations.decline(vid, invitation.id)
    with pytest.raises(Chatting):
        await tracked.invitations.invite(_overseer(agent), vid, "more?")


async def test_invitation_to_a_busy_agent_queues_preferring_them(tracked: Box) -> None:
    agent = await online_agent(tracked, "busy", max_chats=0)
    vid = await new_visitor(tracked)
    await view(tracked, vid)
    invitation = await tracked.invitations.invite(_overseer(agent), vid, "Hi")
    conv = await tracked.invitations.accept(vid, invitation.id)
    assert conv.status == "waiting"
    row = await tracked.db.fetchone(
        "SELECT preferred_agent_id FROM conversations WHERE id = ?", (conv.id,)
    )
    assert row[0] == agent
    messages = await tracked.chats.messages_after(conv.id)
    assert messages[0].event == "invitation" and messages[0].body == "Hi"


async def test_declines_are_recorded_and_scope_and_absence_refuse(tracked: Box) -> None:
    agent = await online_agent(tracked, "wang")
    vid, stranger = await new_visitor(tracked), await new_visitor(tracked)
    await view(tracked, vid, ip=SHANGHAI)
    with pytest.raises(NotFound):  # not on the site
        await tracked.invitations.invite(_overseer(agent), stranger, "hi")
    default = tracked.insight.live.get(vid).group_id  # type: ignore[union-attr]
    with pytest.raises(NotFound):  # a Beijing agent does not see Shanghai's visitors
        await tracked.invitations.invite(
            Staff(agent, "li", "agent", frozenset([default]), frozenset(["北京"])), vid, "hi"
        )
    invitation = await tracked.invitations.invite(_overseer(agent), vid, "hi")
    with pytest.raises(NotFound):  # someone else's invitation
        await tracked.invitations.decline(stranger, invitation.id)
    declined = await tracked.invitations.decline(vid, invitation.id)
    assert declined.status == "declined" and declined.answered_at
    assert tracked.insight.live.get(vid).status == "browsing"  # type: ignore[union-attr]


async def test_pending_invitations_expire_when_the_visitor_leaves(tracked: Box) -> None:
    agent = await online_agent(tracked, "zhao")
    vid = await new_visitor(tracked)
    await view(tracked, vid)
    invitation = await tracked.invitations.invite(_overseer(agent), vid, "hi")
    await tracked.invitations.tick(int(time.time() * 1000) + 2 * LIVE_GRACE_MS)
    row = await tracked.db.fetchone("SELECT status FROM invitations WHERE id = ?", (invitation.id,))
    assert row[0] == "expired"


async def test_automatic_rules_invite_once_and_only_when_someone_can_answer(
    tracked: Box,
) -> None:
    rules = await tracked.invitations.set_rules(
        [
            {
                "name": "pricing",
                "url_pattern": "*/pricing*",
                "min_seconds": 30,
                "audience": "any",
                "source": "any",
                "message": "价格有疑问吗？",
            },
        ]
    )
    assert rules[0].id and rules[0].enabled is True
    vid, other = await new_visitor(tracked), await new_visitor(tracked)
    await view(tracked, vid, "https://shop.example/pricing")
    await view(tracked, other, "https://shop.example/about")
    for v in (vid, other):
        tracked.insight.connected(Visitor(v))
    now = int(time.time() * 1000)

    async def invitations() -> list[tuple[str, str]]:
        rows = await tracked.db.fetchall("SELECT visitor_id, status FROM invitations ORDER BY id")
        return [(r[0], r[1]) for r in rows]

    await tracked.invitations.tick(now + 40_000)
    assert await invitations() == []  # nobody online to answer
    await online_agent(tracked, "qian")
    await tracked.invitations.tick(now + 10_000)
    assert await invitations() == []  # not 30 s on the page yet
    await tracked.invitations.tick(now + 40_000)
    assert await invitations() == [(vid, "pending")]
    pending = (await tracked.invitations.pending_for(vid))[0]
    await tracked.invitations.decline(vid, pending.id)
    await tracked.invitations.tick(now + 90_000)
    assert await invitations() == [(vid, "declined")]  # capped: not pestered twice
    for bad in (
        [{"message": ""}],
        [{"message": "x", "audience": "everyone"}],
        [{"message": "x", "min_seconds": -1}],
        [{"message": "x", "group_id": 999}],
        "not a list",
    ):
        with pytest.raises(InvalidInput):
            await tracked.invitations.set_rules(bad)
    assert len(tracked.invitations.rules) == 1


async def test_marking_a_customer_vip_from_a_chat_covers_every_device(tracked: Box) -> None:
    secret = await _secret(tracked)
    phone, laptop = await new_visitor(tracked), await new_visitor(tracked)
    ts = int(time.time())
    for vid, at in ((phone, ts), (laptop, ts + 1)):
        await tracked.customers.identify(
            vid, {"customer_id": "u-9", "ts": at, "sig": sign(secret, "u-9", at)}
        )
    await view(tracked, laptop)
    await tracked.visitors.set_tier(phone, "vip")
    rows = await tracked.db.fetchall(
        "SELECT tier FROM visitors WHERE id IN (?, ?)", (phone, laptop)
    )
    assert [r[0] for r in rows] == ["vip", "vip"]
    assert (await tracked.db.fetchone("SELECT tier FROM customers"))[0] == "vip"
    for _ in range(50):  # the live list reloads the customer off the writer
        live = tracked.insight.live.get(laptop)
        if live is not None and live.tier == "vip":
            break
        await asyncio.sleep(0.02)
    assert live is not None and live.customer is not None and live.customer.tier == "vip"


async def test_an_agent_who_served_a_visitor_may_look_them_up(tracked: Box) -> None:
    agent = await online_agent(tracked, "sun")
    other = await online_agent(tracked, "zhou")
    vid = await new_visitor(tracked)
    await view(tracked, vid)
    invitation = await tracked.invitations.invite(_overseer(agent), vid, "hi")
    await tracked.invitations.accept(vid, invitation.id)
    assert await tracked.insight.served_by(vid, agent)
    assert not await tracked.insight.served_by(vid, other)
