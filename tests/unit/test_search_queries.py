"""The labelled query set (issue 14 item 7): 61 queries over a fixed corpus of
articles, tickets and chats, searched through the box's own Search by four askers (a
visitor, two agents of different groups, a supervisor). Each query lists every
document it must find; each asker must get exactly those of them they may see:
recall 1.0 on the expected hits, and no hit outside what the asker may open
(internal articles never reach a visitor; tickets and chats only their viewers)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from appliance.core.actors import Staff
from appliance.core.box import Box
from appliance.core.tickets import NewTicket

# label -> (audience, zh-CN title, body)
_ARTICLES = {
    "A1": ("public", "宽带断线怎么办", "先重启光猫，再检查网线。宽带仍然不通请报修。"),
    "A2": ("internal", "宽带报修内部流程", "工程师上门前先核对地址。"),
    "A3": ("public", "X200 路由器型号说明", "X200 型号支持双频 WiFi。"),
    "A4": ("public", "4G 套餐资费", "４Ｇ套餐每月30元，含10GB流量。"),
    "A5": ("public", "携号转网办理", "携号转网需要本人身份证。"),
    "A6": ("internal", "退款审批", "退款超过500元需主管审批。"),
    "A7": ("public", "國際漫遊費用說明", "出國前請開通國際漫遊。"),
    "A8": ("public", "发票抬头修改", "发票抬头填写错误可以在七天内修改。"),
    "A9": ("public", "5G 信号弱怎么办", "5G信号弱，网速慢时请切换到4G。"),
    "A10": ("internal", "VIP 客户专线", "ＶＩＰ客户专线：４００－８８８－１２３４"),
    "A11": ("public", "iPhone 15 收不到短信验证码", "请检查短信拦截设置。"),
    "A12": ("public", "停机与复机", "手机停机后如何复机：缴清欠费即可自动复机。"),
}
_DRAFT = ("public", "草稿专用词", "从未发布的草稿")
_ARCHIVED = ("public", "归档专用词", "已经归档的文章")

# label -> (group: 1, 2 or None, subject, description, (public reply, internal note))
_TICKETS = {
    "T1": (1, "宽带安装预约", "客户想预约宽带安装", ("已预约周三上门", "")),
    "T2": (2, "退款申请", "套餐退款，X200 退货", ("", "财务已处理退款")),
    "T3": (None, "发票重开", "发票抬头写错了", ("", "")),
}
# label -> (serving agent: "a1", "a2" or None, group, the visitor's messages)
_CHATS = {
    "C1": ("a1", 1, ("我的宽带一直掉线", "路由器是X200")),
    "C2": ("a2", 2, ("我要办理携号转网",)),
    "C3": (None, 1, ("想问4G套餐",)),  # waiting in group 1's queue
}

_QUERIES: list[tuple[str, set[str]]] = [
    # 2-character words, in simplified and traditional form
    ("宽带", {"A1", "A2", "T1", "C1"}),
    ("寬帶", {"A1", "A2", "T1", "C1"}),
    ("退款", {"A6", "T2"}),
    ("漫游", {"A7"}),
    ("發票", {"A8", "T3"}),
    ("发票", {"A8", "T3"}),
    ("抬头", {"A8", "T3"}),
    ("信号", {"A9"}),
    ("短信", {"A11"}),
    ("停机", {"A12"}),
    ("复机", {"A12"}),
    ("预约", {"T1"}),
    ("上门", {"A2", "T1"}),  # an internal article and a public ticket reply
    ("财务", {"T2"}),  # an internal ticket note
    ("掉线", {"C1"}),
    ("光猫", {"A1"}),
    ("流量", {"A4"}),
    ("套餐", {"A4", "T2", "C3"}),
    # 1-character words
    ("宽", {"A1", "A2", "T1", "C1"}),
    ("退", {"A6", "T2"}),
    ("元", {"A4", "A6"}),
    # longer words and words inside words
    ("携号转网", {"A5", "C2"}),
    ("携号转", {"A5", "C2"}),
    ("转网", {"A5", "C2"}),
    ("号转", {"A5", "C2"}),
    ("国际漫游", {"A7"}),
    ("國際漫遊", {"A7"}),
    ("费用说明", {"A7"}),
    ("主管审批", {"A6"}),
    ("身份证", {"A5"}),
    ("验证码", {"A11"}),
    ("路由器", {"A3", "C1"}),
    # mixed scripts, letters and digits, full width
    ("X200", {"A3", "T2", "C1"}),
    ("Ｘ２００", {"A3", "T2", "C1"}),
    ("x20", {"A3", "T2", "C1"}),  # letters+digits also find the words they begin
    ("X200 型号", {"A3"}),
    ("4G 套餐", {"A4", "C3"}),
    ("4g套餐", {"A4", "C3"}),
    ("４Ｇ", {"A4", "A9", "C3"}),
    ("5G", {"A9"}),
    ("5g 网速", {"A9"}),
    ("30元", {"A4"}),
    ("vip", {"A10"}),
    ("ＶＩＰ", {"A10"}),
    ("400", {"A10"}),
    ("1234", {"A10"}),
    ("iphone", {"A11"}),
    ("iPhone 15", {"A11"}),
    ("WIFI", {"A3"}),
    ("wi", {"A3"}),
    # never published, or archived: nobody finds them
    ("草稿专用词", set()),
    ("归档专用词", set()),
    # typos and near misses that must not match
    ("宽代", set()),
    ("带宽", set()),
    ("退宽", set()),
    ("宽带带", set()),
    ("x2000", set()),
    ("套参", set()),
    ("漫游国际", set()),
    ("6G", set()),
    ("？？", set()),
]


@dataclass(frozen=True, slots=True)
class Corpus:
    box: Box
    refs: dict[str, tuple[str, str]]  # label -> (kind, ref)
    askers: dict[str, Staff | None]


def _may_see(asker: str, label: str) -> bool:
    """The reference rule, written from the corpus: who may open what."""
    if label.startswith("A"):
        return asker != "visitor" or _ARTICLES[label][0] == "public"
    if asker == "visitor":
        return False
    if asker == "boss":
        return True
    mine = 1 if asker == "a1" else 2
    if label.startswith("T"):
        group = _TICKETS[label][0]
        return group is None or group == mine
    agent, group, _ = _CHATS[label]
    return agent == asker or (agent is None and group == mine)


@pytest.fixture
async def corpus(box: Box) -> AsyncIterator[Corpus]:
    """The fixed corpus, written through the box's services (chats as rows)."""
    users = {}
    for name, role in (("boss", "supervisor"), ("a1", "agent"), ("a2", "agent")):
        user = await box.accounts.create_user(name, "pw-" * 4, role, name)
        users[name] = user.id
    g1 = (await box.routing.create_group({"name": "宽带组"})).id
    g2 = (await box.routing.create_group({"name": "售后组"})).id
    groups = {1: g1, 2: g2}
    boss = Staff(users["boss"], "boss", "supervisor")
    askers: dict[str, Staff | None] = {
        "visitor": None,
        "a1": Staff(users["a1"], "a1", groups=frozenset({g1})),
        "a2": Staff(users["a2"], "a2", groups=frozenset({g2})),
        "boss": boss,
    }
    refs: dict[str, tuple[str, str]] = {}
    for label, (audience, title, body) in _ARTICLES.items():
        made = await box.knowledge.create(
            boss, {"title": title, "body": body, "audience": audience}
        )
        await box.knowledge.move(boss, made.article.id, "review")
        await box.knowledge.move(boss, made.article.id, "published")
        refs[label] = ("article", str(made.article.id))
    audience, title, body = _DRAFT
    await box.knowledge.create(boss, {"title": title, "body": body, "audience": audience})
    audience, title, body = _ARCHIVED
    gone = await box.knowledge.create(boss, {"title": title, "body": body, "audience": audience})
    for to in ("review", "published", "archived"):
        await box.knowledge.move(boss, gone.article.id, to)

    for label, (group, subject, description, (reply, note)) in _TICKETS.items():
        ticket = await box.tickets.create(
            boss,
            NewTicket(subject, description, group_id=None if group is None else groups[group]),
        )
        if reply:
            await box.tickets.comment(boss, ticket.id, reply, public=True)
        if note:
            await box.tickets.comment(boss, ticket.id, note, public=False)
        refs[label] = ("ticket", str(ticket.id))

    def chats(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO visitors (id, created_at, last_seen_at) VALUES ('v1', 0, 0)")
        for label, (agent, group, lines) in _CHATS.items():
            conn.execute(
                "INSERT INTO conversations (id, visitor_id, status, agent_id, group_id,"
                " created_at, last_seq) VALUES (?, 'v1', ?, ?, ?, 1, ?)",
                (
                    label.lower(),
                    "waiting" if agent is None else "active",
                    None if agent is None else users[agent],
                    groups[group],
                    len(lines),
                ),
            )
            for seq, line in enumerate(lines, 1):
                conn.execute(
                    "INSERT INTO messages (id, conversation_id, seq, sender_type, body,"
                    " created_at) VALUES (?, ?, ?, 'visitor', ?, ?)",
                    (f"{label}-{seq}", label.lower(), seq, line, seq),
                )
            refs[label] = ("chat", label.lower())

    await box.db.write(chats)
    await box.search.catch_up(rounds=10)
    yield Corpus(box, refs, askers)


async def test_every_query_finds_its_hits_and_only_what_the_asker_may_see(corpus: Corpus) -> None:
    assert len(_QUERIES) >= 50
    labels = {ref: label for label, ref in corpus.refs.items()}
    misses = []
    for query, want in _QUERIES:
        for asker, staff in corpus.askers.items():
            found = await corpus.box.search.search(query, staff, limit=50)
            got = {labels[(h.kind, h.ref)] for h in found.hits}
            expected = {label for label in want if _may_see(asker, label)}
            if got != expected:
                misses.append((query, asker, sorted(expected), sorted(got)))
    assert misses == []


async def test_visitors_never_reach_internal_articles_tickets_or_chats(corpus: Corpus) -> None:
    hidden = {ref for label, ref in corpus.refs.items() if not _may_see("visitor", label)}
    for query, _ in _QUERIES:
        found = await corpus.box.search.search(query, None, limit=50)
        assert not {(h.kind, h.ref) for h in found.hits} & hidden
        assert all(h.kind == "article" for h in found.hits)
