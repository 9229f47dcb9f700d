"""Every released schema upgrades to head with its rows intact, and the app serves them.

For each released schema the test builds a real database at exactly that version,
fills it the way that version's code wrote rows, then starts the real app over it
(Box.open applies the newer migrations) and uses the old data through HTTP. A new
migration that breaks old rows (a NOT NULL column without a default, a constraint the
old rows violate, a dropped column the code still reads) fails here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from argon2 import PasswordHasher

from appliance.core.clock import now_ms
from appliance.core.migrate import apply_migrations, migration_files
from tests.conftest import PASSWORD, Agent, Running

# Append a schema here when a release ships it, with the rows its code wrote in fill().
RELEASED = ("0001", "0002", "0003", "0004")

_SECRET = bytes(range(32))  # the box's signing secret, as an old box left it on disk
_ACTIVE_AGE = 20_000  # ms: younger than an answer timeout, so no pass rings it out
_HOUR = 3_600_000  # ms


@dataclass
class Seed:
    """What an old box held: ids, tokens and the messages each conversation had."""

    version: int
    data_dir: Path
    session_token: str = "old-session-token-0123456789abcdef"
    csrf_token: str = "old-csrf-0123456789"
    visitor_id: str = "v_oldvisitor0001"
    waiting_visitor_id: str = "v_oldvisitor0002"
    active: str = "c_oldactive000001"
    waiting: str = "c_oldwaiting00001"
    closed: str = "c_oldclosed000001"
    active_age: int = _ACTIVE_AGE  # ms since the chat in progress began
    ann: int = 0
    boss: int = 0
    # conversation id -> [(seq, sender_type, body, visibility)]
    messages: dict[str, list[tuple[int, str, str, str]]] = field(default_factory=dict)

    @property
    def visitor_token(self) -> str:
        """Return the token the old box gave the visitor (`<id>.<HMAC(id)>`)."""
        mac = hmac.new(_SECRET, self.visitor_id.encode(), hashlib.sha256).digest()
        return self.visitor_id + "." + base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def _message(
    conn: sqlite3.Connection,
    seed: Seed,
    conv: str,
    sender: tuple[str, str, str],
    body: str,
    at: int,
    *,
    client_msg_id: str | None = None,
    event: str | None = None,
    visibility: str = "public",
) -> None:
    seq = len(seed.messages.setdefault(conv, [])) + 1
    row: dict[str, Any] = {
        "id": f"m_{conv}_{seq}",
        "conversation_id": conv,
        "seq": seq,
        "client_msg_id": client_msg_id,
        "sender_type": sender[0],
        "sender_id": sender[1],
        "sender_name": sender[2],
        "body": body,
        "event": event,
        "created_at": at,
    }
    if seed.version >= 3:
        row["visibility"] = visibility
    names = ", ".join(row)
    conn.execute(
        f"INSERT INTO messages ({names}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608
        tuple(row.values()),
    )
    conn.execute("UPDATE conversations SET last_seq = ? WHERE id = ?", (seq, conv))
    seed.messages[conv].append((seq, sender[0], body, visibility))


def _conversation(conn: sqlite3.Connection, seed: Seed, **row: Any) -> None:
    if seed.version >= 3:
        row.setdefault("group_id", _default_group(conn))
        row.setdefault("queued_at", row["created_at"])
    else:
        row = {k: v for k, v in row.items() if k not in ("answered_at", "first_assigned_at")}
    conn.execute(
        f"INSERT INTO conversations ({', '.join(row)})"  # noqa: S608
        f" VALUES ({', '.join('?' * len(row))})",
        tuple(row.values()),
    )


def _default_group(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT id FROM groups WHERE is_default = 1").fetchone()[0])


def fill(conn: sqlite3.Connection, seed: Seed, password_hash: str) -> None:
    """Write the rows a box at this schema held, as that version's code wrote them."""
    now = int(time.time() * 1000)
    v = seed.version
    ann, boss = (
        conn.execute(
            "INSERT INTO users (username, display_name, password_hash, role, created_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (name, display, password_hash, role, now - 30 * 24 * _HOUR),
        ).fetchone()[0]
        for name, display, role in (("ann", "Ann 安", "agent"), ("boss", "Boss", "admin"))
    )
    seed.ann, seed.boss = ann, boss
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            hashlib.sha256(seed.session_token.encode()).hexdigest(),
            boss,
            seed.csrf_token,
            now - _HOUR,
            now + 24 * _HOUR,
        ),
    )
    for vid in (seed.visitor_id, seed.waiting_visitor_id):
        conn.execute(
            "INSERT INTO visitors (id, created_at, last_seen_at) VALUES (?, ?, ?)",
            (vid, now - 3 * _HOUR, now - 10_000),
        )
    visitor = ("visitor", seed.visitor_id, "小王")
    agent = ("agent", str(ann), "Ann 安")
    system = ("system", "", "")

    # A conversation from last hour, answered and closed.
    start = now - 2 * _HOUR
    _conversation(
        conn,
        seed,
        id=seed.closed,
        visitor_id=seed.visitor_id,
        status="closed",
        agent_id=ann,
        visitor_name="小王",
        page_url="https://shop.example/cart",
        lang="zh-CN",
        visitor_ip="192.0.2.7",
        created_at=start,
        assigned_at=start + 1_000,
        first_assigned_at=start + 1_000,
        answered_at=start + 5_000,
        closed_at=start + 60_000,
        closed_by="visitor",
    )
    _message(conn, seed, seed.closed, visitor, "你好，订单 42 没到", start, client_msg_id="k1")
    _message(conn, seed, seed.closed, system, "", start + 1_000, event="assigned")
    _message(conn, seed, seed.closed, agent, "我来查一下", start + 5_000, client_msg_id="a1")
    _message(conn, seed, seed.closed, system, "", start + 60_000, event="closed")

    # The same visitor's chat in progress with Ann.
    start = now - seed.active_age
    _conversation(
        conn,
        seed,
        id=seed.active,
        visitor_id=seed.visitor_id,
        status="active",
        agent_id=ann,
        visitor_name="小王",
        page_url="https://shop.example/pay",
        created_at=start,
        assigned_at=start + 500,
        first_assigned_at=start + 500,
        answered_at=start + 3_000,
    )
    _message(conn, seed, seed.active, visitor, "付款失败了", start, client_msg_id="c-1")
    _message(conn, seed, seed.active, agent, "请再试一次", start + 3_000, client_msg_id="a-1")

    # Another visitor waits in the queue.
    start = now - 10_000
    _conversation(
        conn,
        seed,
        id=seed.waiting,
        visitor_id=seed.waiting_visitor_id,
        status="waiting",
        visitor_name="Li",
        created_at=start,
    )
    waiter = ("visitor", seed.waiting_visitor_id, "Li")
    _message(conn, seed, seed.waiting, waiter, "anyone there?", start, client_msg_id="w-1")

    if v >= 2:
        conn.execute(
            "INSERT INTO staff_devices (name, public_key, address, created_at)"
            " VALUES ('ann-laptop', ?, '100.64.7.2', ?)",
            (base64.b64encode(bytes(range(1, 33))).decode(), now - 24 * _HOUR),
        )
    if v >= 3:
        _seed_routing(conn, seed, now)
    if v >= 4:
        _seed_insight(conn, seed, now)


def _seed_routing(conn: sqlite3.Connection, seed: Seed, now: int) -> None:
    ann, boss = seed.ann, seed.boss
    default = _default_group(conn)
    support = conn.execute(
        "INSERT INTO groups (name, strategy, hours, created_at)"
        " VALUES ('Support', 'round_robin', '', ?) RETURNING id",
        (now - 24 * _HOUR,),
    ).fetchone()[0]
    conn.executemany(
        "INSERT INTO group_members (group_id, user_id) VALUES (?, ?)",
        [(default, ann), (default, boss), (support, ann)],
    )
    conn.execute("UPDATE users SET skills = '[\"billing\"]', tier = 'expert' WHERE id = ?", (ann,))
    conn.execute(
        "INSERT INTO topics (key, label, group_id, skill) VALUES ('billing', '付款', ?, 'billing')",
        (support,),
    )
    conn.execute(
        "INSERT INTO routes (url_pattern, group_id) VALUES ('https://shop.example/pay*', ?)",
        (support,),
    )
    conn.execute("UPDATE visitors SET tier = 'vip' WHERE id = ?", (seed.visitor_id,))
    conn.execute(
        "INSERT INTO participants (conversation_id, user_id, joined_at) VALUES (?, ?, ?)",
        (seed.active, boss, now - 5_000),
    )
    conn.execute(
        "INSERT INTO missed_chats (conversation_id, user_id, at) VALUES (?, ?, ?)",
        (seed.closed, boss, now - 2 * _HOUR),
    )
    _message(
        conn,
        seed,
        seed.active,
        ("agent", str(boss), "Boss"),
        "VIP，优先处理",
        now - 4_000,
        client_msg_id="n-1",
        visibility="staff",
    )
    conn.execute(
        "INSERT INTO canned_answers (owner_id, shortcut, title, body, created_at)"
        " VALUES (?, 'retry', '再试', '请再试一次', ?)",
        (ann, now - 24 * _HOUR),
    )
    conn.execute(
        "INSERT INTO work_items (id, kind, visitor_id, group_id, name, contact, body, created_at)"
        " VALUES ('w_oldcallback01', 'callback', ?, ?, 'Li', '+8613800000000', 'call me', ?)",
        (seed.waiting_visitor_id, support, now - _HOUR),
    )


def _seed_insight(conn: sqlite3.Connection, seed: Seed, now: int) -> None:
    customer = conn.execute(
        "INSERT INTO customers (external_id, site, name, email, tier, verified,"
        " created_at, updated_at) VALUES ('cust-42', 'default', '王小明', 'wang@example.com',"
        " 'vip', 1, ?, ?) RETURNING id",
        (now - 24 * _HOUR, now - _HOUR),
    ).fetchone()[0]
    conn.execute(
        "UPDATE visitors SET customer_id = ?, visits = 2, region = '浙江',"
        ' device = \'{"os": "Android"}\' WHERE id = ?',
        (customer, seed.visitor_id),
    )
    visit = conn.execute(
        "INSERT INTO visits (visitor_id, site, started_at, last_seen_at, ip, country,"
        " province, city, region_status, source_kind, engine, keyword, landing_url, pages)"
        " VALUES (?, 'default', ?, ?, '192.0.2.7', '中国', '浙江', '杭州', 'found', 'search',"
        " 'baidu', '退款', 'https://shop.example/', 2) RETURNING id",
        (seed.visitor_id, now - 3 * _HOUR, now - 10_000),
    ).fetchone()[0]
    conn.executemany(
        "INSERT INTO page_views (visit_id, visitor_id, url, title, started_at, dwell_ms)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (visit, seed.visitor_id, "https://shop.example/", "首页", now - 3 * _HOUR, 12_000),
            (visit, seed.visitor_id, "https://shop.example/pay", "付款", now - 60_000, 0),
        ],
    )
    rule = conn.execute(
        "INSERT INTO invite_rules (name, url_pattern, min_seconds, message)"
        " VALUES ('pay page', '*/pay', 30, '需要帮忙吗？') RETURNING id"
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO invitations (visitor_id, visit_id, rule_id, message, status, created_at,"
        " answered_at, conversation_id) VALUES (?, ?, ?, '需要帮忙吗？', 'accepted', ?, ?, ?)",
        (seed.visitor_id, visit, rule, now - 2 * _HOUR, now - 2 * _HOUR, seed.closed),
    )
    conn.execute(
        "INSERT INTO sites (key, name, secret, created_at) VALUES ('shop', 'Shop', ?, ?)",
        ("ab" * 32, now - 24 * _HOUR),
    )
    conn.execute("INSERT INTO box_settings (key, value) VALUES ('retention.page_view_days', '30')")


def build(data_dir: Path, upto: str, password_hash: str, active_age: int = _ACTIVE_AGE) -> Seed:
    """Create a database at exactly schema `upto`, filled as that release filled it."""
    data_dir.mkdir(mode=0o700)
    fd = os.open(data_dir / "secret.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_SECRET)
    result = Seed(version=int(upto), data_dir=data_dir, active_age=active_age)
    conn = sqlite3.connect(data_dir / "callbox.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        name = next(name for name, _ in migration_files() if name.startswith(upto + "_"))
        applied = apply_migrations(conn, upto=name)
        assert [name[:4] for name in applied] == list(RELEASED[: result.version])
        conn.execute("BEGIN")
        fill(conn, result, password_hash)
        conn.execute("COMMIT")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    return result


@pytest.fixture(scope="module")
def password_hash() -> str:
    return PasswordHasher().hash(PASSWORD)


@pytest.fixture(params=RELEASED)
def old_box(request: pytest.FixtureRequest, tmp_path: Path, password_hash: str) -> Seed:
    """A data dir whose database is at a released schema (built outside the loop)."""
    return build(tmp_path / f"box{request.param}", request.param, password_hash)


Served = tuple[Seed, Running, Agent, Agent]


async def serve(
    seed: Seed,
    make_app: Callable[..., Awaitable[Running]],
    http_sessions: Callable[[], aiohttp.ClientSession],
) -> Served:
    """Upgrade through the app's own start; return it with Ann logged in by password and
    the admin on the session cookie they had before the upgrade."""
    running = await make_app(data_dir=seed.data_dir)
    # The first routing pass runs at start: what it does to old rows counts too.
    await running.box.dispatcher.wait_idle()
    ann = Agent(running, http_sessions(), seed.ann)
    response = await ann.login("ann")
    assert response.status == 302
    boss = Agent(running, http_sessions(), seed.boss)
    boss.http.cookie_jar.update_cookies(
        {"callbox_session": seed.session_token}, running.server.make_url("/")
    )
    me = await boss.get("/api/console/me")
    assert me["user"]["username"] == "boss"
    assert me["csrf_token"] == seed.csrf_token
    boss.csrf = me["csrf_token"]
    return seed, running, ann, boss


def _expected(seed: Seed, conv: str, *, staff: bool) -> list[tuple[int, str, str]]:
    return [(s, t, b) for s, t, b, vis in seed.messages[conv] if staff or vis == "public"]


def _got(messages: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    return [(m["seq"], m["sender_type"], m["body"]) for m in messages]


async def _list(agent: Agent, path: str, key: str) -> list[dict[str, Any]]:
    data = await agent.get(path)
    found: list[dict[str, Any]] = data[key]
    return found


async def test_released_schema_upgrades_and_is_served(
    old_box: Seed,
    make_app: Callable[..., Awaitable[Running]],
    http_sessions: Callable[[], aiohttp.ClientSession],
) -> None:
    served = await serve(old_box, make_app, http_sessions)
    await _release_data_kept(served)
    await _console_reads_old_chats(served)
    await _visitor_token_still_works(served, http_sessions())
    await _chats_continue(served)
    await _store_consistent(served)


async def _release_data_kept(served: Served) -> None:
    seed, running, ann, boss = served
    async with boss.http.get(running.url("/admin")) as page:
        assert page.status == 200
        assert ("ann-laptop" in await page.text()) == (seed.version >= 2)
    if seed.version >= 2:
        # A device from before expiry existed gets 90 days from the upgrade (0019).
        [device] = await running.box.devices.list()
        assert device.expires_at is not None and device.state(now_ms()) == "active"
        assert abs(device.expires_at - now_ms() - 90 * 86_400_000) < 3_600_000

    groups = {g["name"]: g for g in await _list(boss, "/api/console/groups", "groups")}
    default = next(g for g in groups.values() if g["is_default"])
    # Users from before groups existed join the default group, so they still see chats.
    assert {seed.ann, seed.boss} <= set(default["members"])
    conv = (await ann.get(f"/api/console/conversations/{seed.active}"))["conversation"]
    assert conv["group"] == {"id": default["id"], "name": default["name"]}
    if seed.version >= 3:
        assert groups["Support"]["members"] == [seed.ann]
        assert groups["Support"]["strategy"] == "round_robin"
        topics = await _list(boss, "/api/console/topics", "topics")
        assert [(t["key"], t["label"]) for t in topics] == [("billing", "付款")]
        canned = await _list(ann, "/api/console/canned", "answers")
        assert [c["shortcut"] for c in canned] == ["retry"]
        # A work item left before tickets is a ticket now, of its channel and group.
        (left,) = await _list(ann, "/api/console/tickets?view=left", "tickets")
        support = groups["Support"]["id"]
        assert (left["channel"], left["state"], left["group_id"]) == ("callback", "new", support)
        assert left["subject"] == "请回电 Li +8613800000000"
        assert conv["tier"] == "vip"
        assert [p["id"] for p in conv["participants"]] == [seed.boss]
    else:
        assert set(groups) == {default["name"]}
        assert (conv["tier"], conv["participants"]) == ("new", [])

    sites = await _list(boss, "/api/admin/sites", "sites")
    if seed.version >= 4:
        found = await _list(boss, "/api/console/customers?q=wang", "customers")
        assert [c["name"] for c in found] == ["王小明"]
        visitor = (await boss.get(f"/api/console/visitors/{seed.visitor_id}"))["visitor"]
        assert visitor["customer"]["external_id"] == "cust-42"
        assert [v["landing_url"] for v in visitor["visits"]] == ["https://shop.example/"]
        assert [s["url"] for s in visitor["trail"]][-1] == "https://shop.example/pay"
        assert {"default", "shop"} <= {s["key"] for s in sites}
        assert (await boss.get("/api/admin/privacy"))["page_view_days"] == 30
    else:
        # The insight release gives every older box its default site.
        assert [s["key"] for s in sites] == ["default"]


async def _console_reads_old_chats(served: Served) -> None:
    seed, running, ann, _ = served
    mine = (await ann.get("/api/console/conversations?scope=mine"))["conversations"]
    assert [c["id"] for c in mine] == [seed.active]
    assert mine[0]["agent"] == {"id": seed.ann, "display_name": "Ann 安"}
    assert mine[0]["last_seq"] == len(seed.messages[seed.active])
    messages = await ann.get(f"/api/console/conversations/{seed.active}/messages")
    assert _got(messages["messages"]) == _expected(seed, seed.active, staff=True)

    closed = (await ann.get("/api/console/conversations?scope=closed"))["conversations"]
    assert [c["id"] for c in closed] == [seed.closed]
    assert closed[0]["last_seq"] == 4
    messages = await ann.get(f"/api/console/conversations/{seed.closed}/messages?after_seq=2")
    assert _got(messages["messages"]) == _expected(seed, seed.closed, staff=True)[2:]
    async with ann.http.get(running.url(f"/console/history/{seed.closed}")) as page:
        assert page.status == 200
        assert "你好，订单 42 没到" in await page.text()

    waiting = (await ann.get("/api/console/conversations?scope=waiting"))["conversations"]
    assert [c["id"] for c in waiting] == [seed.waiting]


async def _visitor_token_still_works(served: Served, http: aiohttp.ClientSession) -> None:
    seed, running, _, _ = served
    auth = {"Authorization": f"Bearer {seed.visitor_token}"}
    async with http.post(
        running.url("/api/visitor/session"), json={"token": seed.visitor_token}
    ) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["visitor_id"] == seed.visitor_id
    async with http.post(
        running.url("/api/visitor/conversations"), json={}, headers=auth
    ) as response:
        assert response.status == 200, await response.text()
        conv = (await response.json())["conversation"]
    assert conv["id"] == seed.active
    url = running.url(f"/api/visitor/conversations/{seed.active}/messages")
    async with http.get(url, headers=auth) as response:
        got = _got((await response.json())["messages"])
    assert got == _expected(seed, seed.active, staff=False)  # staff notes stay hidden

    # A resend of a message stored before the upgrade is answered with it, not stored twice.
    async with http.post(
        url, json={"client_msg_id": "c-1", "body": "付款失败了"}, headers=auth
    ) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["message"]["seq"] == 1
    async with http.post(url, json={"client_msg_id": "c-2", "body": "好了吗"}, headers=auth) as r:
        assert r.status == 201, await r.text()
        assert (await r.json())["message"]["seq"] == conv["last_seq"] + 1
    async with http.get(
        running.url(f"/api/visitor/conversations/{seed.closed}"), headers=auth
    ) as response:
        assert (await response.json())["conversation"]["status"] == "closed"


async def _chats_continue(served: Served) -> None:
    seed, _, ann, _ = served
    conv = (await ann.get(f"/api/console/conversations/{seed.active}"))["conversation"]
    sent = await ann.post(
        f"/api/console/conversations/{seed.active}/messages",
        {"client_msg_id": "a-new", "body": "升级后的回复"},
        status=201,
    )
    assert sent["message"]["seq"] == conv["last_seq"] + 1

    taken = await ann.post(f"/api/console/conversations/{seed.waiting}/accept")
    assert taken["conversation"]["status"] == "active"
    sent = await ann.post(
        f"/api/console/conversations/{seed.waiting}/messages",
        {"client_msg_id": "w-new", "body": "hello"},
        status=201,
    )
    messages = await ann.get(f"/api/console/conversations/{seed.waiting}/messages")
    assert messages["messages"][0]["body"] == "anyone there?"
    assert messages["messages"][-1]["seq"] == sent["message"]["seq"] > 1


async def _store_consistent(served: Served) -> None:
    _, running, _, _ = served

    def check(conn: sqlite3.Connection) -> dict[str, Any]:
        return {
            "integrity": conn.execute("PRAGMA integrity_check").fetchall(),
            "foreign_keys": conn.execute("PRAGMA foreign_key_check").fetchall(),
            "migrations": conn.execute(
                "SELECT name, count(*) FROM schema_migrations GROUP BY name ORDER BY name"
            ).fetchall(),
            "messages": conn.execute(
                "SELECT conversation_id, count(*), min(seq), max(seq) FROM messages"
                " GROUP BY conversation_id"
            ).fetchall(),
            "last_seq": dict(conn.execute("SELECT id, last_seq FROM conversations").fetchall()),
        }

    found = await running.box.db.read(check)
    assert [tuple(r) for r in found["integrity"]] == [("ok",)]
    assert found["foreign_keys"] == []
    assert [tuple(r) for r in found["migrations"]] == [(n, 1) for n, _ in migration_files()]
    # Sequences stay dense, and each conversation's counter is its last message's.
    for conv_id, count, low, top in found["messages"]:
        assert (low, top) == (1, count)
        assert found["last_seq"][conv_id] == top


@pytest.fixture(
    params=RELEASED,
)
def answered_long_ago(request: pytest.FixtureRequest, tmp_path: Path, password_hash: str) -> Seed:
    """An old box whose chat in progress was answered well over an answer timeout ago."""
    return build(tmp_path / "box", request.param, password_hash, active_age=_HOUR)


async def test_answered_chat_stays_with_its_agent(
    answered_long_ago: Seed,
    make_app: Callable[..., Awaitable[Running]],
    http_sessions: Callable[[], aiohttp.ClientSession],
) -> None:
    seed, _, ann, _ = await serve(answered_long_ago, make_app, http_sessions)
    conv = (await ann.get(f"/api/console/conversations/{seed.active}"))["conversation"]
    assert (conv["status"], conv["agent"]) == ("active", {"id": seed.ann, "display_name": "Ann 安"})
    assert conv["last_seq"] == len(seed.messages[seed.active])
