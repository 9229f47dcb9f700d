"""Core rules on a real SQLite: accounts, chats, assignment, rate limits."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core.accounts import AccountError
from appliance.core.actors import Staff, Visitor
from appliance.core.errors import Conflict, Forbidden, InvalidInput, MessageTooLarge, NotFound
from appliance.core.ratelimit import RateLimited, RateLimiter, check
from tests.conftest import helper_up

PASSWORD = "correct horse battery"


async def test_passwords_are_stored_as_argon2id(box):
    await box.accounts.create_user("a", PASSWORD, "agent")
    row = await box.db.fetchone("SELECT password_hash FROM users WHERE username = 'a'")
    assert row[0].startswith("$argon2id$")
    assert PASSWORD not in row[0]
    assert (await box.accounts.check_password("a", PASSWORD))[1]
    assert (await box.accounts.check_password("A", PASSWORD))[1]  # case-blind
    assert not (await box.accounts.check_password("a", "wrong!!!!"))[1]


@pytest.mark.parametrize(
    ("username", "password", "role"),
    [
        ("", PASSWORD, "agent"),
        ("has space", PASSWORD, "agent"),
        ("x", "short", "agent"),
        ("x", PASSWORD, "root"),
        ("x" * 65, PASSWORD, "agent"),
    ],
)
async def test_bad_account_input_is_refused(box, username, password, role):
    with pytest.raises(AccountError):
        await box.accounts.create_user(username, password, role)


async def test_sessions_expire_and_end(box):
    user = await box.accounts.create_user("s", PASSWORD, "agent")
    token, session = await box.accounts.create_session(user)
    assert (await box.accounts.get_session(token)).user.id == user.id
    assert await box.accounts.get_session(token + "x") is None
    await box.db.write(lambda c: c.execute("UPDATE sessions SET expires_at = 0"))
    assert await box.accounts.get_session(token) is None
    token, _ = await box.accounts.create_session(user)
    await box.accounts.end_session(token)
    assert await box.accounts.get_session(token) is None
    assert session.csrf_token


async def test_sequence_has_no_gaps_under_concurrent_senders(box):
    vid, _ = await box.visitors.issue()
    conv, _ = await box.chats.open(vid)
    await asyncio.gather(
        *(
            box.chats.post(conv.id, Visitor(vid), client_msg_id=f"m{i}", body=str(i))
            for i in range(100)
        )
    )
    messages = await box.chats.messages_after(conv.id, 0, 1000)
    assert [m.seq for m in messages] == list(range(1, 101))
    assert (await box.chats.get(conv.id)).last_seq == 100


async def test_message_rules(box):
    vid, _ = await box.visitors.issue()
    conv, _ = await box.chats.open(vid)
    agent = await box.accounts.create_user("owner", PASSWORD, "agent")

    async def send(body, client_id="c", actor=None):  # type: ignore[no-untyped-def]
        return await box.chats.post(
            conv.id, actor or Visitor(vid), client_msg_id=client_id, body=body
        )

    with pytest.raises(MessageTooLarge):
        await send("x" * 4097)
    with pytest.raises(InvalidInput):
        await send("   ")
    with pytest.raises(InvalidInput):
        await send(123)
    with pytest.raises(InvalidInput):
        await send("hi", client_id="")
    first, repeat = await send("hi")
    again, repeat2 = await send("different body, same id")
    assert (repeat, repeat2) == (False, True) and again == first
    await box.dispatcher.accept(conv.id, agent.id)
    with pytest.raises(Conflict):  # another sender cannot claim that id
        await send("hi", actor=Staff(agent.id, "owner"))
    await box.chats.close(conv.id, by="visitor")
    with pytest.raises(Conflict):
        await send("late", client_id="late")
    assert (await send("hi"))[1] is True  # a resend after close still gets its ack


async def test_a_visitor_acts_only_on_their_own_conversation(box):
    vid, _ = await box.visitors.issue()
    stranger = Visitor((await box.visitors.issue())[0])
    conv, _ = await box.chats.open(vid)
    await box.chats.post(conv.id, Visitor(vid), client_msg_id="c", body="mine")
    # Another visitor's conversation is simply not found, whatever they try.
    with pytest.raises(NotFound):
        await box.chats.post(conv.id, stranger, client_msg_id="x", body="hijack")
    with pytest.raises(NotFound):  # not even the repeat of a known client id
        await box.chats.post(conv.id, stranger, client_msg_id="c", body="mine")
    with pytest.raises(NotFound):
        await box.visitor_message(conv.id, stranger, client_msg_id="y", body="hijack")
    with pytest.raises(NotFound):
        await box.chats.history(conv.id, stranger)
    with pytest.raises(NotFound):
        await box.chats.get_for(conv.id, stranger)
    with pytest.raises(NotFound):
        await box.chats.close(conv.id, stranger)
    assert [m.body for m in await box.chats.history(conv.id, Visitor(vid))] == ["mine"]
    assert (await box.chats.get(conv.id)).status == "waiting"
    closed = await box.chats.close(conv.id, Visitor(vid))
    assert closed.status == "closed"


async def test_an_agent_posts_only_where_they_own_or_were_invited(box):
    owner = await box.accounts.create_user("owner", PASSWORD, "agent")
    guest = await box.accounts.create_user("guest", PASSWORD, "agent")
    other = await box.accounts.create_user("other", PASSWORD, "agent")
    boss = await box.accounts.create_user("boss", PASSWORD, "supervisor")
    vid, _ = await box.visitors.issue()
    conv, _ = await box.chats.open(vid)
    with pytest.raises(Forbidden):  # waiting: nobody's yet
        await box.chats.post(conv.id, Staff(owner.id, "owner"), client_msg_id="a", body="hi")
    with pytest.raises(NotFound):  # nor an agent's to end
        await box.chats.close(conv.id, Staff(owner.id, "owner"))
    await box.dispatcher.accept(conv.id, owner.id)
    message, _ = await box.chats.post(
        conv.id, Staff(owner.id, "Owner"), client_msg_id="a", body="hello"
    )
    assert (message.sender_type, message.sender_id, message.sender_name) == (
        "agent",
        str(owner.id),
        "Owner",
    )
    for intruder in (Staff(other.id, "other"), Staff(boss.id, "boss", "supervisor")):
        with pytest.raises(Forbidden):
            await box.chats.post(conv.id, intruder, client_msg_id="b", body="hi")
    for user in (owner, guest):
        await box.accounts.set_status(user.id, "online")
    await box.teamwork.invite(conv.id, Staff(owner.id, "owner"), guest.id)
    reply, _ = await box.chats.post(conv.id, Staff(guest.id, "guest"), client_msg_id="g", body="hi")
    assert reply.sender_id == str(guest.id)
    # The visitor reads the public messages; the console all of them.
    seen = [m.event for m in await box.chats.history(conv.id, Visitor(vid))]
    assert "joined" in seen


async def test_one_open_conversation_per_visitor(box):
    vid, _ = await box.visitors.issue()
    first, created = await box.chats.open(vid)
    second, created2 = await box.chats.open(vid)
    assert created and not created2 and first.id == second.id


async def test_visitor_tokens_cannot_be_forged(box):
    vid, token = await box.visitors.issue()
    assert box.visitors.verify(token) == vid
    other_id = "v_" + "A" * 16
    forged = f"{other_id}.{token.split('.')[1]}"
    for bad in (forged, token + "x", "", "nodot", "x" * 500, vid):
        assert box.visitors.verify(bad) is None


async def test_rate_limiter_bucket():
    now = [0.0]
    limiter = RateLimiter(rate=1.0, burst=2, clock=lambda: now[0])
    assert [limiter.hit("k") for _ in range(3)] == [0, 0, 1.0]
    now[0] = 0.5
    assert limiter.retry_after("k") == pytest.approx(0.5)
    now[0] = 1.0
    assert limiter.hit("k") == 0
    assert limiter.hit("other") == 0  # keys are independent
    with pytest.raises(RateLimited) as caught:
        check((limiter, "k"))
    assert caught.value.retry_after == 1


# -- assignment ---------------------------------------------------------------------


async def _agents(box, limits):  # type: ignore[no-untyped-def]
    users = []
    for i, limit in enumerate(limits):
        user = await box.accounts.create_user(f"agent{i}", PASSWORD, "agent", max_chats=limit)
        users.append(user)
    return users


async def _loads(box) -> dict[int, int]:  # type: ignore[no-untyped-def]
    rows = await box.db.fetchall(
        "SELECT agent_id, count(*) FROM conversations WHERE status = 'active' GROUP BY 1"
    )
    return {r[0]: r[1] for r in rows}


async def test_least_loaded_agent_gets_the_chat_and_queue_is_fifo(box):
    a, b = await _agents(box, [3, 3])
    for user in (a, b):
        await box.accounts.set_status(user.id, "online")
    convs = []
    for _ in range(4):
        vid, _ = await box.visitors.issue()
        conv, _ = await box.chats.open(vid)
        convs.append(conv)
        await box.dispatcher.wait_idle()
    assert await _loads(box) == {a.id: 2, b.id: 2}
    await box.accounts.set_status(a.id, "away")
    await box.accounts.set_status(b.id, "away")
    waiting = []
    for _ in range(3):
        vid, _ = await box.visitors.issue()
        conv, _ = await box.chats.open(vid)
        waiting.append(conv.id)
    await box.dispatcher.wait_idle()
    assert [c.id for c in await box.chats.list_waiting()] == waiting
    await box.accounts.set_status(b.id, "online")
    await box.dispatcher.wait_idle()
    # b had room for one: the oldest waiting conversation went first.
    assert [c.id for c in await box.chats.list_waiting()] == waiting[1:]
    assert (await box.chats.get(waiting[0])).agent_id == b.id


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    limits=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=4),
    events=st.lists(
        st.one_of(
            st.tuples(st.just("open"), st.integers(0, 0)),
            st.tuples(st.just("close"), st.integers(0, 20)),
            st.tuples(st.sampled_from(["online", "away", "offline"]), st.integers(0, 3)),
            st.tuples(st.just("accept"), st.integers(0, 3)),
        ),
        max_size=25,
    ),
)
def test_assignment_never_exceeds_limits_nor_loses_a_conversation(tmp_path_factory, limits, events):
    from appliance.core.box import Box
    from tests.conftest import make_settings

    async def scenario() -> None:
        box = Box(make_settings(tmp_path_factory.mktemp("prop")))
        await box.open()
        try:
            users = await _agents(box, limits)
            opened: list[str] = []
            tasks = []
            for kind, n in events:
                if kind == "open":
                    vid, _ = await box.visitors.issue()
                    conv, _ = await box.chats.open(vid)
                    opened.append(conv.id)
                elif kind == "close" and opened:
                    tasks.append(box.chats.close(opened[n % len(opened)], by="test"))
                elif kind == "accept":
                    waiting = await box.chats.list_waiting()
                    if waiting:
                        tasks.append(box.dispatcher.accept(waiting[0].id, users[n % len(users)].id))
                elif kind in ("online", "away", "offline"):
                    tasks.append(box.accounts.set_status(users[n % len(users)].id, kind))
            await asyncio.gather(*tasks, return_exceptions=True)
            await box.dispatcher.wait_idle()
            loads = await _loads(box)
            for user in users:
                assert loads.get(user.id, 0) <= user.max_chats
            rows = await box.db.fetchall("SELECT id, status, agent_id FROM conversations")
            assert {r[0] for r in rows} == set(opened)  # nothing lost
            for conv_id, status, agent_id in rows:
                assert (status == "active") == (agent_id is not None) or status == "closed"
                assigned = await box.db.fetchall(
                    "SELECT count(*) FROM messages"
                    " WHERE conversation_id = ? AND event = 'assigned'",
                    (conv_id,),
                )
                assert assigned[0][0] <= 1  # never assigned twice
            online_with_room = [
                u
                for u in users
                if (await box.accounts.get_user(u.id)).status == "online"
                and loads.get(u.id, 0) < u.max_chats
            ]
            if online_with_room:
                assert await box.chats.list_waiting() == []  # queue drained when possible
        finally:
            await box.close()

    asyncio.run(scenario())
    assert sqlite3.sqlite_version


async def test_a_console_user_sees_a_conversation_by_the_scope_core_reads(box):
    # Core reads the user's groups (Routing.actor) and decides; no handler applies scope.
    inside = await box.accounts.create_user("inside", PASSWORD, "agent")
    outside = await box.accounts.create_user("outside", PASSWORD, "agent")
    boss = await box.accounts.create_user("boss", PASSWORD, "supervisor")
    other = await box.routing.create_group({"name": "其他产品线"})
    await box.routing.update_agent(outside.id, {"groups": [other.id]})
    vid, _ = await box.visitors.issue()
    conv, _ = await box.chats.open(vid)  # waiting in the default group
    assert conv.group_id != other.id
    seen = await box.routing.actor(inside.id, "inside", "agent")
    assert conv.group_id in seen.groups
    assert (await box.chats.get_for(conv.id, seen)).id == conv.id
    assert await box.chats.history(conv.id, seen) == []
    blind = await box.routing.actor(outside.id, "outside", "agent")
    assert blind.groups == frozenset({other.id})
    for refused in (blind, Staff(inside.id, "inside")):  # no scope read: own chats only
        with pytest.raises(NotFound):
            await box.chats.get_for(conv.id, refused)
        with pytest.raises(NotFound):
            await box.chats.history(conv.id, refused)
    overseer = await box.routing.actor(boss.id, "boss", "supervisor")
    assert overseer.queues is None
    assert (await box.chats.get_for(conv.id, overseer)).id == conv.id
    # Once an agent owns it, it is theirs to see, scope or not; others' stays hidden.
    await box.dispatcher.accept(conv.id, inside.id)
    assert (await box.chats.get_for(conv.id, Staff(inside.id, "inside"))).id == conv.id
    with pytest.raises(NotFound):
        await box.chats.get_for(conv.id, blind)


async def _in_one_batch(box, lines):  # type: ignore[no-untyped-def]
    """Post lines (conversation, actor, client id, body) queued behind a job that holds
    the writer, so that they share one batch; return their results or errors."""
    gate = threading.Event()
    held = asyncio.ensure_future(box.db.write(lambda c: gate.wait(5)))
    await asyncio.sleep(0.05)  # the writer thread is inside the holding job
    posts = [
        asyncio.ensure_future(box.chats.post(conv, actor, client_msg_id=cid, body=body))
        for conv, actor, cid, body in lines
    ]
    await asyncio.sleep(0.05)  # each has queued its write
    gate.set()
    await held
    return await asyncio.gather(*posts, return_exceptions=True)


@pytest.mark.parametrize("away", [False, True], ids=["writer", "helper"])
async def test_the_lines_of_one_batch_are_stored_together_by_the_same_rules(box, monkeypatch, away):
    """Issue 18: a batch's chat lines are written in one call (three statements), and
    each is answered as if it had been written alone: by the writer thread itself, or
    by its helper process in a transaction of its own."""
    vid, _ = await box.visitors.issue()
    conv, _ = await box.chats.open(vid)
    other_vid, _ = await box.visitors.issue()
    other, _ = await box.chats.open(other_vid)
    gone_vid, _ = await box.visitors.issue()
    gone, _ = await box.chats.open(gone_vid)
    await box.chats.close(gone.id, by="visitor")
    stranger = Visitor((await box.visitors.issue())[0])
    agent = await box.accounts.create_user("owner", PASSWORD, "agent")
    await box.dispatcher.accept(conv.id, agent.id)
    me, staff = Visitor(vid), Staff(agent.id, "owner")
    before, _ = await box.chats.post(conv.id, me, client_msg_id="old", body="before")
    calls: list[int] = []
    grouped = box.chats.post_many

    def spy(conn, posts):  # type: ignore[no-untyped-def]
        calls.append(len(posts))
        return grouped(conn, posts)

    if away:  # the helper runs post_lines itself: count its transactions instead
        await helper_up(box)
        sent, requests = box.db.stats.away, box.db.helper.requests
    else:  # a run_many not sent away runs in the writer thread
        monkeypatch.setattr(box.chats, "post_many", spy)
    results = await _in_one_batch(
        box,
        [
            (conv.id, me, "a", "一"),
            (other.id, Visitor(other_vid), "x", "别的"),
            (conv.id, staff, "r1", "您好"),
            (conv.id, me, "a", "一, sent again"),  # a repeat of a line of this batch
            (conv.id, me, "old", "again"),  # a repeat of a stored line
            (conv.id, stranger, "s", "hijack"),
            (gone.id, Visitor(gone_vid), "late", "late"),
            (conv.id, staff, "a", "same id, other sender"),
            (conv.id, staff, "r2", "还在吗"),
            (conv.id, me, "b", "二"),
        ],
    )
    if away:  # one request, one transaction, for the whole batch
        assert (box.db.stats.away - sent, box.db.helper.requests - requests) == (1, 1)
    else:
        assert calls == [10]  # one call for the whole batch
    first, reply = results[0], results[2]
    assert results[3] == (first[0], True)
    assert results[4] == (before, True)
    assert isinstance(results[5], NotFound)
    assert isinstance(results[6], Conflict) and isinstance(results[7], Conflict)
    stored = await box.chats.messages_after(conv.id, before.seq, 100)
    assert [(m.body, m.seq) for m in stored] == [
        ("一", before.seq + 1),
        ("您好", before.seq + 2),
        ("还在吗", before.seq + 3),
        ("二", before.seq + 4),
    ]
    assert [m.id for m in stored[:2]] == [first[0].id, reply[0].id]
    assert (await box.chats.get(conv.id)).last_seq == before.seq + 4
    assert (await box.chats.get(conv.id)).answered_at is not None
    assert [m.body for m in await box.chats.messages_after(other.id, 0, 10)] == ["别的"]
    assert (await box.chats.get(gone.id)).last_seq == gone.last_seq + 1  # only "closed"
    # Every new line reached the search queue, in order.
    queued = await box.db.fetchall(
        "SELECT ref, part FROM search_queue WHERE kind = 'chat' ORDER BY id"
    )
    assert [(r[0], int(r[1])) for r in queued][-5:] == [
        (conv.id, before.seq + 1),
        (other.id, 1),
        (conv.id, before.seq + 2),
        (conv.id, before.seq + 3),
        (conv.id, before.seq + 4),
    ]


async def test_a_grouped_write_that_fails_runs_again_line_by_line(box, monkeypatch):
    """Should the batch's call fail after writing (a bug), nothing of it is kept: the
    batch runs again job by job, and every line is stored once."""
    vid, _ = await box.visitors.issue()
    conv, _ = await box.chats.open(vid)
    grouped = box.chats.post_many

    def broken(conn, posts):  # type: ignore[no-untyped-def]
        grouped(conn, posts)
        raise RuntimeError("a bug after writing")

    monkeypatch.setattr(box.chats, "post_many", broken)
    lines = [(conv.id, Visitor(vid), f"m{i}", f"第{i}行") for i in range(5)]
    results = await _in_one_batch(box, lines)
    assert [r[0].seq for r in results] == [1, 2, 3, 4, 5]
    stored = await box.chats.messages_after(conv.id, 0, 100)
    assert [m.body for m in stored if m.sender_type == "visitor"] == [f"第{i}行" for i in range(5)]
    assert box.db.stats.batches_rerun == 1
