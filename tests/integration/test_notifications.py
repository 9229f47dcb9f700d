"""Console notifications over real HTTP and WebSockets: who an SLA warning, breach or
escalation tells and who a rule's notify action tells, each user's own list and
unread count, marking read, the live `notice` frame, and a notification that commits
with its history entry or not at all."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import jsonschema
import pytest

from appliance.core.store import notifications as notice_store
from appliance.webui.wire import frames
from appliance.webui.wire.notifications import NoticeFrame, notice_out
from tests.conftest import Agent, receive_until

_MIN = 60_000  # ms
MakeAgent = Callable[..., Awaitable[Agent]]


def _policy(group_b: int) -> dict[str, Any]:
    return {
        "name": "十分钟响应",
        "targets": {"first_response": 10},
        "warn_share": 0.5,
        "levels": [
            {"metric": "first_response", "offset_minutes": 0, "action": "notify_manager"},
            {
                "metric": "first_response",
                "offset_minutes": 0,
                "action": "reassign_group",
                "group_id": group_b,
            },
            {"metric": "first_response", "offset_minutes": 5, "action": "notify"},
        ],
    }


async def _default_group(boss: Agent) -> int:
    groups = (await boss.get("/api/console/groups"))["groups"]
    return int(next(g["id"] for g in groups if g["is_default"]))


async def _mine(agent: Agent, **query: Any) -> dict[str, Any]:
    path = "/api/console/notifications"
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    answer: dict[str, Any] = await agent.get(path)
    return answer


async def test_sla_tells_the_owner_followers_and_the_manager(make_agent: MakeAgent) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    owner = await make_agent("owner")
    follower = await make_agent("follower", status=None)
    gone = await make_agent("gone", status=None)
    bystander = await make_agent("bystander", status=None)
    box = owner.running.box
    group_a = await _default_group(boss)
    group_b = (await boss.post("/api/console/groups", {"name": "二线"}, status=201))["group"]
    await boss.call("PATCH", f"/api/console/groups/{group_a}", {"manager_id": boss.user_id})
    await boss.post("/api/console/sla-policies", _policy(group_b["id"]), status=201)

    made = await owner.post(
        "/api/console/tickets",
        {"subject": "打印机卡纸", "group_id": group_a, "owner_id": owner.user_id},
        status=201,
    )
    ticket = made["ticket"]
    await boss.call(
        "PATCH",
        f"/api/console/tickets/{ticket['id']}",
        {"followers": [follower.user_id, gone.user_id]},
    )
    await box.accounts.set_disabled("gone")
    t0 = (await box.tickets.history(ticket["id"]))[0].at
    ws = await owner.ws()
    try:
        # ---- half the target: the warning tells the owner and the followers ----
        assert await box.tickets.run_sla(t0 + 5 * _MIN + 1) == 1
        frame = await receive_until(ws, lambda f: f["type"] == "notice")
        notice = frame["notice"]
        assert notice["kind"] == "sla_warning" and notice["metric"] == "first_response"
        assert notice["ticket"] == {
            "id": ticket["id"],
            "number": ticket["number"],
            "subject": "打印机卡纸",
        }
        assert notice["read"] is False
        for agent in (owner, follower):
            listed = await _mine(agent)
            assert [n["kind"] for n in listed["notices"]] == ["sla_warning"]
            assert listed["unread"] == 1 and listed["more"] is False
        for agent in (boss, bystander):
            assert (await _mine(agent))["notices"] == []

        # ---- the deadline: the breach (owner, followers), then the manager is told ----
        assert await box.tickets.run_sla(t0 + 10 * _MIN + 1) == 3
        kinds = [n["kind"] for n in (await _mine(owner))["notices"]]
        assert kinds == ["sla_breach", "sla_warning"]
        assert [n["kind"] for n in (await _mine(follower))["notices"]] == kinds
        told = (await _mine(boss))["notices"]
        assert [(n["kind"], n["action"], n["offset_minutes"]) for n in told] == [
            ("sla_level", "notify_manager", 0)
        ]
        assert (await _mine(bystander))["notices"] == []
        # The frames came in the order the rows were written.
        breach = await receive_until(ws, lambda f: f["type"] == "notice")
        assert breach["notice"]["kind"] == "sla_breach"

        # ---- +5 minutes: "notify" tells the owner and followers again ----
        assert await box.tickets.run_sla(t0 + 15 * _MIN + 1) == 1
        level = (await _mine(owner))["notices"][0]
        assert (level["kind"], level["action"], level["offset_minutes"]) == (
            "sla_level",
            "notify",
            5,
        )
    finally:
        await ws.close()

    # Every notification names the history entry that caused it, which records whom
    # it told; the disabled follower was told nothing.
    history = {e.seq: e for e in await box.tickets.history(ticket["id"])}

    rows = await box.db.read(lambda conn: notice_store.after(conn, 0, 100))
    assert {n.user_id for n in rows} == {owner.user_id, follower.user_id, boss.user_id}
    for row in rows:
        cause = history[row.seq or 0]
        assert cause.kind == "sla" and cause.data["change"] == row.data["change"]
        assert "notify" in cause.data
    warning = next(e for e in history.values() if e.kind == "sla" and e.data["change"] == "warning")
    assert warning.data["notify"] == {"user_ids": [owner.user_id], "group_ids": []}
    manager = next(e for e in history.values() if e.data.get("action") == "notify_manager")
    assert manager.data["notify"] == {"user_ids": [boss.user_id], "group_ids": []}
    moved = await owner.get(f"/api/console/tickets/{ticket['id']}")
    assert moved["ticket"]["group_id"] == group_b["id"]


async def test_an_unowned_ticket_tells_its_group_and_a_rule_tells_whom_it_names(
    make_agent: MakeAgent,
) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    first = await make_agent("first", status=None)
    second = await make_agent("second", status=None)
    outsider = await make_agent("outsider", status=None)
    box = boss.running.box
    desk = (await boss.post("/api/console/groups", {"name": "前台"}, status=201))["group"]
    await boss.call(
        "PUT",
        f"/api/console/groups/{desk['id']}/members",
        {"members": [first.user_id, second.user_id]},
    )
    rule = {
        "name": "投诉提醒",
        "kind": "trigger",
        "on": ["created"],
        "conditions": {"all": [{"field": "type", "op": "is", "value": "投诉"}]},
        "actions": [
            {"type": "notify", "to": ["group", outsider.user_id], "text": "有新的投诉"},
        ],
    }
    await boss.post("/api/console/ticket-rules", rule, status=201)
    await boss.post(
        "/api/console/sla-policies",
        {"name": "全部", "targets": {"first_response": 10}, "warn_share": 0.5},
        status=201,
    )
    ticket = (
        await boss.post(
            "/api/console/tickets",
            {"subject": "发票开错了", "type": "投诉", "group_id": desk["id"]},
            status=201,
        )
    )["ticket"]
    # The rule's notification committed with the ticket's creation.
    for agent in (first, second, outsider):
        listed = await _mine(agent)
        assert [(n["kind"], n["rule_name"], n["text"]) for n in listed["notices"]] == [
            ("rule", "投诉提醒", "有新的投诉")
        ]
        assert listed["notices"][0]["ticket"]["id"] == ticket["id"]
    assert (await _mine(boss))["notices"] == []
    history = await box.tickets.history(ticket["id"])
    by_rule = next(e for e in history if e.kind == "rule")
    rows = await box.db.read(lambda conn: notice_store.after(conn, 0, 100))
    assert {r.seq for r in rows} == {by_rule.seq}

    # Unowned: the SLA warning goes to the members of the ticket's group.
    await box.tickets.run_sla(history[0].at + 5 * _MIN + 1)
    for agent in (first, second):
        assert (await _mine(agent))["notices"][0]["kind"] == "sla_warning"
    assert (await _mine(outsider))["notices"][0]["kind"] == "rule"


async def test_each_user_reads_and_marks_only_their_own(make_agent: MakeAgent) -> None:
    ann = await make_agent("ann", status=None)
    bob = await make_agent("bob", status=None)
    box = ann.running.box

    def give(user_id: int, count: int) -> Any:
        def job(conn: sqlite3.Connection) -> int:
            last = 0
            for n in range(count):
                last = notice_store.add(
                    conn,
                    [user_id],
                    at=1_000 + n,
                    kind="rule",
                    ticket_id=None,
                    seq=None,
                    data={"name": "规则", "text": f"第 {n} 条"},
                )
            return last

        return box.db.write(job)

    await give(ann.user_id, 25)
    await give(bob.user_id, 3)
    first = await _mine(ann, limit=10)
    assert first["unread"] == 25 and first["more"] is True
    texts = [n["text"] for n in first["notices"]]
    assert texts == [f"第 {n} 条" for n in range(24, 14, -1)]  # newest first
    ids = [n["id"] for n in first["notices"]]
    second = await _mine(ann, limit=10, before=ids[-1])
    assert [n["text"] for n in second["notices"]] == [f"第 {n} 条" for n in range(14, 4, -1)]

    # Mark one by id (another's ids change nothing), then every one up to an id: the
    # older ones too.
    bobs = [n["id"] for n in (await _mine(bob))["notices"]]
    assert (await ann.post("/api/console/notifications/read", {"ids": [ids[0], *bobs]}))[
        "unread"
    ] == 24
    assert (await _mine(bob))["unread"] == 3
    assert (await ann.post("/api/console/notifications/read", {"up_to": ids[-1]}))["unread"] == 8
    listed = await _mine(ann, limit=50)
    assert [n["text"] for n in listed["notices"] if not n["read"]] == [
        f"第 {n} 条" for n in range(23, 15, -1)
    ]
    assert (await ann.post("/api/console/notifications/read", {"all": True}))["unread"] == 0
    assert (await _mine(bob))["unread"] == 3

    # Bounded: a user keeps the newest KEEP.
    await give(bob.user_id, notice_store.KEEP + 5)
    kept = await box.db.read(lambda conn: notice_store.page(conn, bob.user_id, None, 1000))
    assert len(kept) == notice_store.KEEP
    assert kept[0].data["text"] == f"第 {notice_store.KEEP + 4} 条"


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=51", "limit=x", "before=0", "before=abc", "other=1"],
)
async def test_a_bad_list_query_is_a_422(make_agent: MakeAgent, query: str) -> None:
    agent = await make_agent(status=None)
    answer = await agent.get(f"/api/console/notifications?{query}", status=422)
    assert answer["error"]["code"] == "invalid"


async def test_bad_read_bodies_are_422_and_change_nothing(make_agent: MakeAgent) -> None:
    agent = await make_agent(status=None)
    bodies: list[dict[str, Any]] = [
        {},
        {"all": False},
        {"up_to": 1, "all": True},
        {"up_to": 1, "ids": [1]},
        {"ids": []},
        {"ids": list(range(1, 102))},
        {"up_to": 0},
        {"up_to": "1"},
        {"ids": [True]},
        {"nope": 1},
    ]
    for body in bodies:
        answer = await agent.post("/api/console/notifications/read", body, status=422)
        assert answer["error"]["code"] == "invalid", body
    # Without a session: 401, not someone else's list.
    url = agent.running.url("/api/console/notifications")
    async with aiohttp.ClientSession() as anonymous, anonymous.get(url) as r:
        assert r.status == 401


async def test_a_notification_commits_with_its_history_entry_or_not_at_all(
    make_agent: MakeAgent,
) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    box = boss.running.box
    await boss.post(
        "/api/console/sla-policies",
        {"name": "全部", "targets": {"first_response": 10}, "warn_share": 0.5},
        status=201,
    )
    ticket = (
        await boss.post(
            "/api/console/tickets", {"subject": "停电", "owner_id": boss.user_id}, status=201
        )
    )["ticket"]
    t0 = (await box.tickets.history(ticket["id"]))[0].at

    def refuse(conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.notifications"
            " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
        )

    def allow(conn: sqlite3.Connection) -> None:
        conn.execute("DROP TRIGGER temp.refuse")

    # The notification cannot be written: the warning's history entry and the mark
    # on its clock roll back with it, so the warning is not lost but comes again.
    await box.db.write(refuse)
    with pytest.raises(sqlite3.IntegrityError):
        await box.tickets.run_sla(t0 + 6 * _MIN)
    assert [e.kind for e in await box.tickets.history(ticket["id"]) if e.kind == "sla"] == [
        "sla"
    ]  # only the clock's start
    assert (await _mine(boss))["notices"] == []
    await box.db.write(allow)
    assert await box.tickets.run_sla(t0 + 6 * _MIN) == 1
    warning = [e for e in await box.tickets.history(ticket["id"]) if e.kind == "sla"][-1]
    assert warning.data["change"] == "warning"
    rows = await box.db.read(lambda conn: notice_store.after(conn, 0, 10))
    assert [(r.user_id, r.seq, r.kind) for r in rows] == [
        (boss.user_id, warning.seq, "sla_warning")
    ]


async def test_the_notice_frame_matches_its_schema_and_reaches_only_its_user(
    make_agent: MakeAgent,
) -> None:
    ann = await make_agent("ann", status=None)
    bob = await make_agent("bob", status=None)
    box = ann.running.box
    ann_ws, bob_ws = await ann.ws(), await bob.ws()
    try:

        def job(conn: sqlite3.Connection) -> int:
            return notice_store.add(
                conn,
                [ann.user_id],
                at=5_000,
                kind="rule",
                ticket_id=None,
                seq=None,
                data={"name": "规则", "text": "<b>不是标记</b>"},
            )

        box.notifications._written = await box.db.write(job)  # as a ticket write would
        box.notifications.wake()
        frame = await receive_until(ann_ws, lambda f: f["type"] == "notice")
        assert frame["notice"]["text"] == "<b>不是标记</b>"
        components = frames.frame_schemas()
        schema = {**components["NoticeFrame"], "components": {"schemas": components}}
        jsonschema.Draft202012Validator(schema).validate(frame)
        await bob_ws.send_json({"type": "ping"})
        pong = await bob_ws.receive_json(timeout=5)
        assert pong["type"] == "pong"  # nothing for bob came before it
        # A notice is the box's frame: a console that sends one is refused clearly.
        await ann_ws.send_str(json.dumps({"type": "notice", "notice": frame["notice"]}))
        refused = await receive_until(ann_ws, lambda f: f["type"] == "error")
        assert refused["code"] == "bad_frame"
    finally:
        await ann_ws.close()
        await bob_ws.close()
    rows = await box.db.read(lambda conn: notice_store.after(conn, 0, 10))
    assert (
        json.loads(frames.encode_frame(NoticeFrame(notice_out(rows[0]))))["notice"]
        == (frame["notice"])
    )
