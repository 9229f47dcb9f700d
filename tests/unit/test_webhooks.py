"""Webhooks without a receiver: signing, backoff, the body, input checks, and queueing
inside another service's write (committed or rolled back with it)."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import typing

import pytest

from appliance.core.errors import InvalidInput
from appliance.core.store import webhooks as store
from appliance.core.webhook_sender import Retry, backoff, body, signature
from appliance.core.webhooks import EVENTS, check_events, check_name, check_url, new_secret
from appliance.webui.wire import webhooks as wire


def test_the_signature_is_the_hmac_of_timestamp_dot_body() -> None:
    secret, stamp, data = "cbwh_0123", "1795000000", b'{"event":"ticket.created"}'
    expected = hmac.new(b"cbwh_0123", b'1795000000.{"event":"ticket.created"}', hashlib.sha256)
    assert signature(secret, stamp, data) == "sha256=" + expected.hexdigest()
    # Any change to the key, the time or a byte of the body gives another signature.
    assert signature("cbwh_0124", stamp, data) != signature(secret, stamp, data)
    assert signature(secret, "1795000001", data) != signature(secret, stamp, data)
    assert signature(secret, stamp, data + b" ") != signature(secret, stamp, data)


def test_secrets_are_long_random_and_different() -> None:
    a, b = new_secret(), new_secret()
    assert a != b and a.startswith("cbwh_") and len(a) == 5 + 64


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter() -> None:
    retry = Retry(base=30.0, cap=3600.0, attempts=12)
    longest = [backoff(n, retry, 0.999999) for n in range(1, 12)]
    shortest = [backoff(n, retry, 0.0) for n in range(1, 12)]
    assert longest[:4] == pytest.approx([30, 60, 120, 240], rel=1e-5)
    assert shortest[:4] == [15, 30, 60, 120]  # jitter takes off up to half
    assert max(longest) == pytest.approx(3600, rel=1e-5)
    assert longest[7:] == pytest.approx([3600] * 4, rel=1e-5)
    assert all(s <= x for s, x in zip(shortest, longest, strict=True))
    assert longest == sorted(longest)
    # A huge count neither overflows nor passes the cap; a small base serves tests.
    assert backoff(10_000, retry, 0.5) == 2700
    assert backoff(1, Retry(base=0.05, cap=0.2), 0.0) == pytest.approx(0.025)


def test_the_body_is_an_envelope_around_the_payload_as_queued() -> None:
    payload = '{"ticket":{"id":7,"subject":"退款"}}'
    delivery = store.Delivery(
        "d_abc", 3, "ticket.created", payload, "queued", 0, 1, None, "", 1795000000123, None
    )
    data = body(delivery)
    assert data == body(delivery)  # the same bytes at every attempt
    decoded = json.loads(data)
    assert decoded["id"] == "d_abc" and decoded["event"] == "ticket.created"
    assert decoded["data"] == {"ticket": {"id": 7, "subject": "退款"}}
    assert decoded["created_at"].startswith("2026-11-")
    assert decoded["created_at"][-6] in "+-"  # ISO 8601 with the box's offset
    assert payload.encode() in data  # the stored payload, byte for byte


@pytest.mark.parametrize(
    "url",
    [
        "http://crm.example.com/hooks/callbox",
        "https://10.0.0.5:8443/in?token=abc",
        "http://[::1]:9000/",
        "https://客服.公司.cn/webhook",
        "http://localhost",
    ],
)
def test_good_urls_are_kept_as_given(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("http://", "name a host"),
        ("http:///path", "name a host"),
        ("http://user:pw@example.com/", "user name or password"),
        ("http://example.com/#top", "fragment"),
        ("http://example.com:99999/", "malformed"),
        ("http://exa mple.com/", "spaces"),
        ("http://example.com/\x00", "control"),
        ("http://" + "a" * 2000, "1-2000"),
        ("", "1-2000"),
        (7, "1-2000"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: object, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_url(url)
    assert says in refused.value.message


def test_names_and_event_filters_are_checked() -> None:
    assert check_name("  客服系统 CRM ") == "客服系统 CRM"
    for bad in ("", "   ", "x" * 65, None, "a\x07b"):
        with pytest.raises(InvalidInput):
            check_name(bad)
    assert check_events([]) == []
    assert check_events(["ticket.created", "ticket.replied", "ticket.created"]) == [
        "ticket.created",
        "ticket.replied",
    ]
    with pytest.raises(InvalidInput, match=r"unknown event 'ticket\.deleted'"):
        check_events(["ticket.deleted"])
    for bad in ("ticket.created", [1], None):
        with pytest.raises(InvalidInput, match="list of event names"):
            check_events(bad)


def test_the_wire_enumerations_are_the_cores() -> None:
    assert typing.get_args(wire.EventName) == EVENTS
    assert typing.get_args(wire.DeliveryStatus) == typing.get_args(store.Status)


async def test_enqueue_in_commits_and_rolls_back_with_the_callers_write(box) -> None:
    hooks = box.webhooks
    await hooks.sender.close()  # only the log here; the sender is tested with a receiver
    tickets, _ = await hooks.create(
        {"name": "tickets", "url": "http://127.0.0.1:9/a", "events": ["ticket.created"]}
    )
    every, _ = await hooks.create({"name": "all", "url": "http://127.0.0.1:9/b"})
    off, _ = await hooks.create({"name": "off", "url": "http://127.0.0.1:9/c", "enabled": False})

    def change(conn: sqlite3.Connection) -> int:
        # Another service's job: its own change and the event in one transaction.
        return hooks.enqueue_in(conn, "ticket.created", {"ticket": {"id": 1}}, 1_000)

    def failing(conn: sqlite3.Connection) -> int:
        hooks.enqueue_in(conn, "ticket.created", {"ticket": {"id": 2}}, 2_000)
        raise RuntimeError("the ticket change failed")

    woken: list[int] = []
    assert await box.db.write(change, on_commit=woken.append) == 2
    assert woken == [2]
    with pytest.raises(RuntimeError):
        await box.db.write(failing, on_commit=woken.append)
    assert woken == [2]  # nothing committed, nothing to wake for

    [first] = await hooks.deliveries(tickets.id)
    [second] = await hooks.deliveries(every.id)
    assert await hooks.deliveries(off.id) == []
    for delivery in (first, second):
        assert delivery.status == "queued" and delivery.attempts == 0
        assert delivery.event == "ticket.created" and delivery.created_at == 1_000
        assert json.loads(delivery.payload) == {"ticket": {"id": 1}}
    assert first.id != second.id and first.id.startswith("d_")

    # Only the webhook that wants every event gets ticket.replied.
    assert await hooks.enqueue("ticket.replied", {"ticket": {"id": 1}}) == 1
    assert [d.event for d in await hooks.deliveries(every.id)] == [
        "ticket.replied",
        "ticket.created",
    ]
    with pytest.raises(ValueError, match="not a webhook event"):
        await hooks.enqueue("ticket.deleted", {})
    with pytest.raises(ValueError, match="at most"):
        await hooks.enqueue("ticket.created", {"body": "x" * 300_000})
