"""Outgoing webhooks against a real receiver on loopback: signed deliveries, retries
after a 500 and a dropped connection, a restart with a delivery still pending, giving
up and redelivering; the API's input checks and who may use it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from appliance.core.webhook_sender import Retry
from tests.conftest import Agent

_FAST = Retry(base=0.05, cap=0.2, attempts=5)  # retries within a test's patience


@dataclass
class Request:
    """What the receiver got, and what it answered (0: it dropped the connection)."""

    path: str
    headers: dict[str, str]
    body: bytes
    answer: int


@dataclass
class Receiver:
    """A company system on loopback that answers as its script says, then 200."""

    server: TestServer | None = None
    script: list[str] = field(default_factory=list)  # "500", "close", "hang"
    stuck: set[str] = field(default_factory=set)  # paths that hang whatever the script
    requests: list[Request] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        data = await request.read()
        mode = (
            "hang" if request.path in self.stuck else self.script.pop(0) if self.script else "200"
        )
        answer = 0 if mode in ("close", "hang") else int(mode)
        self.requests.append(Request(request.path, dict(request.headers), data, answer))
        if mode == "hang":
            await self.release.wait()  # the box stops before this answer
            return web.Response(status=503)
        if mode == "close":
            assert request.transport is not None
            request.transport.close()
        return web.Response(status=answer or 200, text="ok")

    def delivered(self) -> list[Request]:
        return [r for r in self.requests if 200 <= r.answer < 300]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", found.handle)
    found.server = TestServer(app, host="127.0.0.1")
    await found.server.start_server()
    yield found
    found.release.set()
    await found.server.close()


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until check() holds; fail after the timeout."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def verify(secret: str, request: Request) -> bool:
    """Check a delivery as docs/webhooks.md tells a receiver to."""
    stamp = request.headers["X-Callbox-Timestamp"]
    if abs(time.time() - int(stamp)) > 300:
        return False
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), request.headers["X-Callbox-Signature"])


async def newest(boss: Agent, hook_id: int, status: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll the webhook's log through the API until its newest delivery has `status`."""
    deadline = time.monotonic() + timeout
    while True:
        log = await boss.get(f"/api/console/webhooks/{hook_id}/deliveries")
        if log["deliveries"] and log["deliveries"][0]["status"] == status:
            return log["deliveries"][0]  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, log
        await asyncio.sleep(0.02)


async def test_a_failing_receiver_gets_the_delivery_once_it_recovers(running, make_agent, receiver):
    running.box.webhooks.sender.retry = _FAST
    boss = await make_agent(role="supervisor", status=None)
    made = await boss.post(
        "/api/console/webhooks",
        {"name": "CRM", "url": receiver.url(), "events": ["ticket.created"]},
        status=201,
    )
    hook, secret = made["webhook"], made["secret"]
    assert hook["enabled"] and hook["events"] == ["ticket.created"]
    assert secret not in json.dumps(await boss.get("/api/console/webhooks"))
    receiver.script = ["500", "close"]  # then it recovers

    queued = await running.box.webhooks.enqueue(
        "ticket.created", {"ticket": {"id": 7, "subject": "退款没到账"}}
    )
    assert queued == 1
    await until(lambda: len(receiver.delivered()) == 1)
    await asyncio.sleep(0.3)  # nothing comes after the 2xx
    assert [r.answer for r in receiver.requests] == [500, 0, 200]

    ok = receiver.delivered()[0]
    assert verify(secret, ok)
    assert not verify("cbwh_" + "0" * 64, ok)
    assert ok.headers["Content-Type"] == "application/json"
    assert ok.headers["X-Callbox-Event"] == "ticket.created"
    envelope = json.loads(ok.body)
    assert envelope["data"] == {"ticket": {"id": 7, "subject": "退款没到账"}}
    assert envelope["event"] == "ticket.created"
    # Every attempt was the same delivery, with the same body.
    assert {r.headers["X-Callbox-Delivery"] for r in receiver.requests} == {envelope["id"]}
    assert {r.body for r in receiver.requests} == {ok.body}

    logged = await newest(boss, hook["id"], "delivered")
    assert logged["id"] == envelope["id"]
    assert logged["status"] == "delivered" and logged["attempts"] == 3
    assert logged["last_status_code"] == 200 and logged["last_error"] == ""
    assert logged["next_attempt_at"] is None and logged["delivered_at"] is not None
    assert logged["delivered_at"][-6] in "+-"  # a wire time with the box's offset
    assert logged["payload"] == envelope["data"]


async def test_a_delivery_pending_at_a_stop_is_sent_after_the_restart(make_app, receiver, tmp_path):
    data = tmp_path / "restart"
    first = await make_app(data_dir=data)
    hook, secret = await first.box.webhooks.create({"name": "ERP", "url": receiver.url()})
    receiver.script = ["hang"]
    await first.box.webhooks.enqueue("ticket.replied", {"ticket": {"id": 9}})
    await until(lambda: len(receiver.requests) == 1)
    await first.server.close()  # the box stops with the attempt in flight
    receiver.release.set()

    second = await make_app(data_dir=data)
    await until(lambda: len(receiver.delivered()) == 1)
    delivered = receiver.delivered()[0]
    assert verify(secret, delivered)
    assert (
        delivered.headers["X-Callbox-Delivery"]
        == receiver.requests[0].headers["X-Callbox-Delivery"]
    )
    assert json.loads(delivered.body)["data"] == {"ticket": {"id": 9}}

    async def settled() -> bool:
        [logged] = await second.box.webhooks.deliveries(hook.id)
        return logged.status == "delivered"

    deadline = time.monotonic() + 10
    while not await settled():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    [logged] = await second.box.webhooks.deliveries(hook.id)
    # The cut-short attempt had no outcome to record: one attempt, delivered.
    assert (logged.status, logged.attempts, logged.last_status_code) == ("delivered", 1, 200)


async def test_a_receiver_that_keeps_failing_is_given_up_then_redelivered(
    running, make_agent, receiver
):
    running.box.webhooks.sender.retry = Retry(base=0.02, cap=0.05, attempts=3)
    boss = await make_agent(role="admin", status=None)
    made = await boss.post(
        "/api/console/webhooks", {"name": "bot", "url": receiver.url("/in")}, status=201
    )
    hook_id = made["webhook"]["id"]
    receiver.script = ["500"] * 3
    ping = (await boss.post(f"/api/console/webhooks/{hook_id}/ping", status=202))["delivery"]
    assert ping["event"] == "webhook.ping" and ping["status"] == "queued"
    logged = await newest(boss, hook_id, "gave_up")
    assert logged["id"] == ping["id"] and logged["attempts"] == 3
    assert logged["last_status_code"] == 500 and logged["last_error"] == "HTTP 500"
    assert logged["next_attempt_at"] is None and logged["delivered_at"] is None
    await asyncio.sleep(0.2)
    assert len(receiver.requests) == 3  # given up: no fourth attempt
    assert json.loads(receiver.requests[0].body)["data"] == {"webhook_id": hook_id, "name": "bot"}

    # Redelivered: same id, attempts from 0. While its attempt is in flight it is
    # pending and cannot be redelivered again; then a 503, then the receiver takes it.
    receiver.script = ["hang"]
    redeliver = f"/api/console/webhooks/{hook_id}/deliveries/{ping['id']}/redeliver"
    again = (await boss.post(redeliver, status=202))["delivery"]
    assert again["id"] == ping["id"] and again["attempts"] == 0 and again["status"] == "queued"
    await until(lambda: len(receiver.requests) == 4)
    busy = await boss.post(redeliver, status=409)
    assert busy["error"]["code"] == "conflict"
    receiver.release.set()
    logged = await newest(boss, hook_id, "delivered")
    assert logged["attempts"] == 2 and logged["last_status_code"] == 200
    assert [r.headers["X-Callbox-Delivery"] for r in receiver.delivered()] == [ping["id"]]
    missing = f"/api/console/webhooks/{hook_id}/deliveries/d_nope/redeliver"
    assert (await boss.post(missing, status=404))["error"]["code"] == "not_found"


async def test_events_reach_only_the_webhooks_that_want_them(running, receiver):
    hooks = running.box.webhooks
    hooks.sender.retry = _FAST
    await hooks.create({"name": "a", "url": receiver.url("/a"), "events": ["ticket.created"]})
    every, _ = await hooks.create({"name": "b", "url": receiver.url("/b")})
    off, _ = await hooks.create({"name": "c", "url": receiver.url("/c"), "enabled": False})
    await hooks.enqueue("ticket.sla_breached", {"ticket": {"id": 1}})
    await hooks.enqueue("ticket.created", {"ticket": {"id": 2}})
    await until(lambda: len(receiver.delivered()) == 3)
    await asyncio.sleep(0.2)
    got = sorted((r.path, r.headers["X-Callbox-Event"]) for r in receiver.requests)
    assert got == [
        ("/a", "ticket.created"),
        ("/b", "ticket.created"),
        ("/b", "ticket.sla_breached"),
    ]
    assert await hooks.deliveries(off.id) == []

    # Deliveries queued for a webhook that is then disabled wait until it is enabled.
    receiver.script = ["hang"]
    await hooks.enqueue("ticket.updated", {"ticket": {"id": 3}})
    await until(lambda: len(receiver.requests) == 4)
    await hooks.update(every.id, {"enabled": False})
    assert await hooks.enqueue("ticket.replied", {"ticket": {"id": 3}}) == 0  # "b" is off
    receiver.release.set()
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 4
    await hooks.update(every.id, {"enabled": True})
    await until(lambda: len(receiver.delivered()) == 4)
    assert receiver.requests[-1].headers["X-Callbox-Event"] == "ticket.updated"


async def test_a_receiver_that_never_answers_holds_up_no_other(running, receiver):
    hooks = running.box.webhooks
    hooks.sender.retry = _FAST
    hooks.sender.timeout = 1.5  # s
    receiver.stuck = {"/slow"}
    slow, _ = await hooks.create({"name": "slow", "url": receiver.url("/slow")})
    await hooks.create({"name": "fast", "url": receiver.url("/fast")})
    for n in range(5):
        await hooks.enqueue("ticket.updated", {"ticket": {"id": n}})
    await until(lambda: len(receiver.delivered()) == 5)
    assert {r.path for r in receiver.delivered()} == {"/fast"}
    # Meanwhile the stuck webhook had one attempt in flight, not one per delivery.
    assert [r.path for r in receiver.requests].count("/slow") == 1

    async def timed_out() -> bool:
        log = await hooks.deliveries(slow.id)
        return any(d.status == "failed" for d in log)

    deadline = time.monotonic() + 5
    while not await timed_out():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    log = await hooks.deliveries(slow.id)
    failed = [d for d in log if d.status == "failed"]
    assert failed[0].last_error == "no answer within 1.5 s"
    assert failed[0].last_status_code is None and failed[0].attempts == 1


async def test_bad_input_is_refused_with_a_reason_and_changes_nothing(make_agent):
    boss = await make_agent(role="supervisor", status=None)
    made = await boss.post(
        "/api/console/webhooks", {"name": "CRM", "url": "http://127.0.0.1:9/h"}, status=201
    )
    hook = made["webhook"]
    await boss.call("PATCH", f"/api/console/webhooks/{hook['id']}", {"enabled": False})
    before = await boss.get("/api/console/webhooks")
    refused = {
        "ftp://x.example/h": "http:// or https://",
        "http://": "host",
        "http://me:pw@x.example/": "user name or password",
        "http://x.example:70000/": "malformed",
    }
    for url, says in refused.items():
        answer = await boss.call(
            "POST", "/api/console/webhooks", {"name": "x", "url": url}, status=422
        )
        assert answer["error"]["code"] == "invalid" and says in answer["error"]["message"]
        answer = await boss.call(
            "PATCH", f"/api/console/webhooks/{hook['id']}", {"url": url}, status=422
        )
        assert says in answer["error"]["message"]
    bodies = [
        ({"name": "", "url": "http://x.example/"}, "name"),
        ({"name": "x" * 65, "url": "http://x.example/"}, "name"),
        ({"url": "http://x.example/"}, "name is required"),
        ({"name": "x", "url": "http://x.example/", "events": ["ticket.deleted"]}, "events"),
        ({"name": "x", "url": "http://x.example/", "events": "ticket.created"}, "events"),
        ({"name": "x", "url": "http://x.example/", "enabled": "yes"}, "enabled"),
    ]
    for body, says in bodies:
        answer = await boss.call("POST", "/api/console/webhooks", body, status=422)
        assert answer["error"]["code"] == "invalid" and says in answer["error"]["message"]
    deliveries = f"/api/console/webhooks/{hook['id']}/deliveries"
    for query in ("?limit=0", "?limit=101", "?before=d_unknown"):
        answer = await boss.get(deliveries + query, status=422)
        assert answer["error"]["code"] == "invalid"
    # A disabled webhook is not pinged; unknown ones are not found.
    conflict = await boss.post(f"/api/console/webhooks/{hook['id']}/ping", status=409)
    assert conflict["error"]["code"] == "conflict"
    await boss.call("PATCH", "/api/console/webhooks/999", {"name": "y"}, status=404)
    await boss.post("/api/console/webhooks/999/rotate-secret", status=404)
    await boss.get("/api/console/webhooks/999/deliveries", status=404)
    await boss.call("DELETE", "/api/console/webhooks/abc", status=404)
    assert await boss.get("/api/console/webhooks") == before
    assert await boss.get(deliveries) == {"deliveries": []}

    # Good input, for contrast: the change, the new secret, the deletion.
    changed = await boss.call(
        "PATCH",
        f"/api/console/webhooks/{hook['id']}",
        {"name": " 工单系统 ", "events": ["ticket.sla_warning", "ticket.sla_breached"]},
    )
    assert changed["webhook"]["name"] == "工单系统"
    assert changed["webhook"]["url"] == "http://127.0.0.1:9/h"
    rotated = await boss.post(f"/api/console/webhooks/{hook['id']}/rotate-secret")
    assert rotated["secret"] != made["secret"] and rotated["secret"].startswith("cbwh_")
    await boss.call("DELETE", f"/api/console/webhooks/{hook['id']}")
    assert await boss.get("/api/console/webhooks") == {"webhooks": []}


async def test_agents_may_not_touch_webhooks(running, make_agent):
    agent = await make_agent(role="agent")
    hook, _ = await running.box.webhooks.create({"name": "CRM", "url": "http://127.0.0.1:9/"})
    answer = await agent.get("/api/console/webhooks", status=403)
    assert answer["error"]["code"] == "forbidden"
    await agent.post(
        "/api/console/webhooks", {"name": "mine", "url": "http://127.0.0.1:9/"}, status=403
    )
    await agent.call("PATCH", f"/api/console/webhooks/{hook.id}", {"enabled": False}, status=403)
    await agent.call("DELETE", f"/api/console/webhooks/{hook.id}", status=403)
    await agent.post(f"/api/console/webhooks/{hook.id}/rotate-secret", status=403)
    await agent.post(f"/api/console/webhooks/{hook.id}/ping", status=403)
    await agent.get(f"/api/console/webhooks/{hook.id}/deliveries", status=403)
    [still] = await running.box.webhooks.list_webhooks()
    assert still == hook
    assert await running.box.webhooks.deliveries(hook.id) == []
