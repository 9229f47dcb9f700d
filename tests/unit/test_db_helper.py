"""The writer's helper process (core/db_helper.py): a batch's chat lines are stored in
a second process, in queue order with the writer's own jobs, and a lost helper loses
nothing acknowledged and announces every line it may have stored."""

from __future__ import annotations

import asyncio
import copyreg
import os
import pickle
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from appliance.core import chat_lines, db_helper
from appliance.core import db as db_module
from appliance.core.actors import Staff, Visitor
from appliance.core.box import Box
from appliance.core.errors import Conflict
from appliance.core.events import MessageCreated
from tests.conftest import helper_up, make_settings

PASSWORD = "correct horse battery"


async def _behind_a_held_writer(box, calls):  # type: ignore[no-untyped-def]
    """Start calls (coroutine factories) queued behind a job that holds the writer, so
    that they share one batch; return their results or errors, in order."""
    gate = threading.Event()
    held = asyncio.ensure_future(box.db.write(lambda c: gate.wait(5)))
    await asyncio.sleep(0.05)
    tasks = []
    for call in calls:
        tasks.append(asyncio.ensure_future(call()))
        await asyncio.sleep(0)  # each queues its write before the next
    await asyncio.sleep(0.05)
    gate.set()
    await held
    return await asyncio.gather(*tasks, return_exceptions=True)


async def _a_chat_heard(box):  # type: ignore[no-untyped-def]
    """With the helper up: a visitor's chat, and the bodies of the messages announced."""
    await helper_up(box)
    vid, _ = await box.visitors.issue()
    conv, _ = await box.chats.open(vid)
    heard: list[str] = []
    box.bus.subscribe(
        lambda e: heard.append(e.message.body) if isinstance(e, MessageCreated) else None
    )
    return conv, Visitor(vid), heard


def _post(box, conv_id, actor, cid, body="一"):  # type: ignore[no-untyped-def]
    return lambda: box.chats.post(conv_id, actor, client_msg_id=cid, body=body)


async def test_the_helper_stores_lines_in_queue_order_with_the_writers_own_jobs(box):
    """A line, the close of its chat, then a line into it: three transactions (helper,
    writer, helper) in that order, so the last line is refused as after a close."""
    await helper_up(box)
    vid, _ = await box.visitors.issue()
    conv, _ = await box.chats.open(vid)
    me = Visitor(vid)
    away = box.db.stats.away
    results = await _behind_a_held_writer(
        box,
        [
            _post(box, conv.id, me, "a", "关之前"),
            lambda: box.chats.close(conv.id, me),
            _post(box, conv.id, me, "b", "关之后"),
        ],
    )
    assert results[0][0].body == "关之前" and results[0][1] is False
    assert results[1].status == "closed"
    assert isinstance(results[2], Conflict) and "closed" in str(results[2])
    assert box.db.stats.away - away == 2  # the two lines, each in a helper transaction
    stored = await box.chats.messages_after(conv.id, 0, 10)
    assert [(m.body, m.event) for m in stored][-2:] == [("关之前", None), ("", "closed")]


async def test_lines_and_the_writers_jobs_alternating_each_wait_their_turn(box):
    """Lines and the writer's own jobs alternating: each starts only once everything
    queued before it committed, whichever side ran it."""
    await helper_up(box)
    vid, _ = await box.visitors.issue()
    conv, _ = await box.chats.open(vid)
    me = Visitor(vid)

    def count(conn: sqlite3.Connection) -> int:
        sql = "SELECT count(*) FROM messages WHERE conversation_id = ? AND sender_type = ?"
        return int(conn.execute(sql, (conv.id, "visitor")).fetchone()[0])

    calls = []
    for i in range(3):
        calls.append(_post(box, conv.id, me, f"l{i}", f"第{i}行"))
        calls.append(lambda: box.db.write(count))
    away = box.db.stats.away
    results = await _behind_a_held_writer(box, calls)
    assert results[1::2] == [1, 2, 3]  # each of the writer's jobs saw the line before it
    assert box.db.stats.away - away == 3
    stored = await box.chats.messages_after(conv.id, 0, 10)
    assert [m.body for m in stored if m.sender_type == "visitor"] == [f"第{i}行" for i in range(3)]


async def test_requests_are_pipelined_and_commit_in_order(box):
    """While the helper commits one request the next is already sent (HELPER_IN_FLIGHT
    at most); what comes after waits, counted in the queue depth, and all commit in
    the order they were queued."""
    conv, me, heard = await _a_chat_heard(box)
    helper = box.db.helper
    requests = helper.requests
    os.kill(helper._proc.pid, signal.SIGSTOP)  # it takes nothing from its socket
    try:
        tasks = []
        for i in range(db_module.HELPER_IN_FLIGHT + 1):
            tasks.append(asyncio.ensure_future(_post(box, conv.id, me, f"p{i}", f"第{i}")()))
            await asyncio.sleep(0.05)  # each its own request
        assert helper.in_flight == db_module.HELPER_IN_FLIGHT
        assert helper.requests - requests == db_module.HELPER_IN_FLIGHT
        assert box.db.queue_depth == 1 and box.db.oldest_wait() > 0
        assert not any(task.done() for task in tasks)
    finally:
        os.kill(helper._proc.pid, signal.SIGCONT)
    results = await asyncio.gather(*tasks)
    assert [message.seq for message, _ in results] == [1, 2, 3]
    assert helper.requests - requests == 3 and box.db.queue_depth == 0
    assert heard[-3:] == ["第0", "第1", "第2"]


async def test_a_lost_helper_loses_nothing_and_a_new_one_takes_over(box, monkeypatch):
    """The helper killed between two batches: the writer stores the lines itself (each
    once, announced), and starts a new helper once RESTART_AFTER has passed."""
    monkeypatch.setattr(db_helper, "RESTART_AFTER", 0.0)
    conv, me, heard = await _a_chat_heard(box)
    helper = box.db.helper
    first = helper._proc
    first.kill()
    first.wait()
    results = await _behind_a_held_writer(
        box, [_post(box, conv.id, me, f"k{i}", f"杀{i}") for i in range(3)]
    )
    assert [(r[0].body, r[1]) for r in results] == [(f"杀{i}", False) for i in range(3)]
    assert helper.lost == 1
    assert heard[-3:] == ["杀0", "杀1", "杀2"]
    await helper_up(box)  # a new process
    assert helper._proc is not None and helper._proc.pid != first.pid
    away = box.db.stats.away
    results = await _behind_a_held_writer(box, [_post(box, conv.id, me, "n", "新的")])
    assert results[0][0].seq == 4 and box.db.stats.away - away == 1
    stored = await box.chats.messages_after(conv.id, 0, 10)
    assert [m.body for m in stored if m.sender_type == "visitor"] == ["杀0", "杀1", "杀2", "新的"]


async def test_requests_a_lost_helper_held_run_here_in_order_and_are_announced(box):
    """The helper lost with two requests in flight, a chat's close and a line waiting
    behind them: the writer thread runs the two first, then the close, then refuses the
    line. A line the helper committed before it died is found stored and announced all
    the same (nobody had), and stored once."""
    conv, me, heard = await _a_chat_heard(box)
    helper = box.db.helper
    os.kill(helper._proc.pid, signal.SIGSTOP)
    calls = [
        _post(box, conv.id, me, "x", "已存"),
        _post(box, conv.id, me, "y", "未存"),
        lambda: box.chats.close(conv.id, me),
        _post(box, conv.id, me, "z", "关之后"),
    ]
    tasks = []
    for call in calls:
        tasks.append(asyncio.ensure_future(call()))
        await asyncio.sleep(0.05)
    assert helper.in_flight == 2 and box.db.queue_depth == 2
    # What the helper committed of its first request just before it died, written
    # beside the box.
    conn = sqlite3.connect(box.db.path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("BEGIN IMMEDIATE")
    chat_lines.post_lines(conn, [chat_lines.Post(conv.id, me, "x", "已存")])
    conn.execute("COMMIT")
    conn.close()
    helper._proc.kill()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [(r[0].body, r[1]) for r in results[:2]] == [("已存", False), ("未存", False)]
    assert results[2].status == "closed"
    assert isinstance(results[3], Conflict) and "closed" in str(results[3])
    assert helper.lost == 1 and heard[-3:] == ["已存", "未存", ""]  # the last: the close
    stored = await box.chats.messages_after(conv.id, 0, 10)
    assert [m.body for m in stored] == ["已存", "未存", ""]  # each once, then the close


async def test_a_helper_whose_socket_breaks_is_stopped_and_replaced(box, monkeypatch):
    """The socket to the helper broken while the process lives: that process is of no
    use any more, so it is killed (not left behind), and a new one takes over."""
    monkeypatch.setattr(db_helper, "RESTART_AFTER", 0.0)
    conv, me, _heard = await _a_chat_heard(box)
    helper = box.db.helper
    first = helper._proc
    helper._link._transport.abort()  # the box's end only
    for _ in range(200):
        if first.poll() is not None and helper.up:
            break
        await asyncio.sleep(0.025)
    assert first.poll() is not None and helper.lost == 1
    assert helper.up and helper._proc.pid != first.pid
    away = box.db.stats.away
    message, _ = await _post(box, conv.id, me, "n", "新的")()
    assert message.seq == 1 and box.db.stats.away - away == 1


async def test_a_hung_helper_is_stopped_and_its_lines_stored_here(box, monkeypatch):
    """A helper that stops answering (stopped, stuck) holds nobody's chat for ever:
    once a request waited HUNG_AFTER, the helper is killed, the writer stores what it
    held, each line once and announced, and a new helper takes over."""
    monkeypatch.setattr(db_helper, "HUNG_AFTER", 0.3)
    monkeypatch.setattr(db_helper, "RESTART_AFTER", 0.0)
    conv, me, heard = await _a_chat_heard(box)
    helper = box.db.helper
    first = helper._proc
    os.kill(first.pid, signal.SIGSTOP)
    posted = asyncio.ensure_future(_post(box, conv.id, me, "h", "挂起")())
    await asyncio.sleep(0.1)
    assert helper.in_flight == 1 and not posted.done()  # waiting on the stopped helper
    message, repeat = await asyncio.wait_for(posted, 5)
    assert (message.body, repeat) == ("挂起", False) and heard[-1] == "挂起"
    assert helper.lost == 1 and first.wait(5) == -signal.SIGKILL
    await helper_up(box)
    assert helper._proc.pid != first.pid
    away = box.db.stats.away
    message, _ = await _post(box, conv.id, me, "n", "新的")()
    assert message.seq == 2 and box.db.stats.away - away == 1
    stored = await box.chats.messages_after(conv.id, 0, 10)
    assert [m.body for m in stored] == ["挂起", "新的"]


async def test_a_helper_slower_than_the_limit_only_in_part_is_left_alone(box, monkeypatch):
    """The watch looks at the oldest request in flight: requests answered in time,
    one after another, never count as hung however long the helper has been busy."""
    monkeypatch.setattr(db_helper, "HUNG_AFTER", 1.0)
    conv, me, _heard = await _a_chat_heard(box)
    helper = box.db.helper
    for i in range(7):  # 1.4 s of requests, each answered a little after 0.2 s
        os.kill(helper._proc.pid, signal.SIGSTOP)
        posted = asyncio.ensure_future(_post(box, conv.id, me, f"s{i}", f"慢{i}")())
        await asyncio.sleep(0.2)
        os.kill(helper._proc.pid, signal.SIGCONT)
        await posted
    assert helper.lost == 0 and helper.up


async def test_a_box_closes_though_its_helper_hangs(settings, monkeypatch):  # type: ignore[no-untyped-def]
    """A line in flight to a stopped helper when the box closes: the close stores it
    here after HUNG_AFTER, and ends."""
    monkeypatch.setattr(db_helper, "HUNG_AFTER", 0.3)
    core = Box(settings)
    await core.open()
    conv, me, _heard = await _a_chat_heard(core)
    proc, path = core.db.helper._proc, core.db.path
    os.kill(proc.pid, signal.SIGSTOP)
    posted = asyncio.ensure_future(_post(core, conv.id, me, "c", "关机")())
    await asyncio.sleep(0.1)
    await asyncio.wait_for(core.close(), 10)
    assert (await posted)[0].body == "关机" and proc.poll() == -signal.SIGKILL
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT body FROM messages").fetchall() == [("关机",)]
    conn.close()


async def test_the_helper_answers_each_line_by_the_rules(box):
    """Refusals travel back from the helper one by one; the other lines are stored."""
    await helper_up(box)
    vid, _ = await box.visitors.issue()
    conv, _ = await box.chats.open(vid)
    agent = await box.accounts.create_user("li", PASSWORD, "agent")
    stranger = Visitor((await box.visitors.issue())[0])
    results = await _behind_a_held_writer(
        box,
        [
            _post(box, conv.id, Visitor(vid), "v", "你好"),
            _post(box, conv.id, stranger, "s", "hijack"),
            _post(box, conv.id, Staff(agent.id, "li"), "r", "not mine"),
        ],
    )
    assert results[0][0].body == "你好"
    assert [type(r).__name__ for r in results[1:]] == ["NotFound", "Forbidden"]


async def _run(helper: db_helper.Helper, fn, items):  # type: ignore[no-untyped-def]
    """Send one request and wait for its results."""
    answered = asyncio.get_running_loop().create_future()
    helper.send(fn, items, answered.set_result)
    return helper.results(await answered)


async def _started(path: Path) -> db_helper.Helper:
    helper = db_helper.Helper(path, checkpoint_apart=True)
    assert await helper.start()
    for _ in range(400):
        if helper.up:
            return helper
        await asyncio.sleep(0.025)
    await helper.close()
    raise AssertionError("the helper did not start")


async def test_the_helper_runs_only_what_it_is_allowed_to(tmp_path: Path):
    """A request naming anything but RUNS is refused, one whose items cannot be sent
    fails alone (the writer then runs it itself), and the helper goes on."""
    path = tmp_path / "x.db"
    sqlite3.connect(path).close()
    helper = await _started(path)
    try:
        with pytest.raises(db_helper.HelperFailed, match="not run here"):
            await _run(helper, os.system, ["true"])
        with pytest.raises(db_helper.HelperFailed, match="cannot be sent"):
            await _run(helper, chat_lines.post_lines, [lambda: "not data"])
        assert await _run(helper, chat_lines.post_lines, []) == []  # it goes on
        assert helper.in_flight == 0 and helper.lost == 0
    finally:
        await helper.close()


def test_a_request_that_raises_runs_item_by_item(tmp_path: Path):
    """A grouped write that raises (or answers the wrong count) is rolled back and run
    again item by item, each in a savepoint: the failing item is that item's failure,
    the others are committed. The request never fails whole for one item, since the
    box may have sent the next one already."""
    db = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    db.execute("CREATE TABLE t (v TEXT)")

    def store(conn: sqlite3.Connection, items: list[str]) -> list[str]:
        for item in items:
            conn.execute("INSERT INTO t VALUES (?)", (item,))
            if item == "bad":
                raise ValueError("bad item")
        return items

    reply = db_helper.run_request(db, store, ["a", "bad", "c"])
    assert reply[0] == "ok"
    results = pickle.loads(reply[1])  # noqa: S301 (our own)
    assert results[0::2] == ["a", "c"] and isinstance(results[1], ValueError)
    assert [r[0] for r in db.execute("SELECT v FROM t")] == ["a", "c"]
    reply = db_helper.run_request(db, lambda conn, items: [*items, "extra"], ["d"])
    assert reply[0] == "ok" and not db.in_transaction
    [wrong] = pickle.loads(reply[1])  # noqa: S301 (our own)
    assert isinstance(wrong, ValueError)  # a bad count even for one item: its failure
    reply = db_helper.run_request(db, lambda conn, items: items[:1], ["e", "f"])
    assert reply[0] == "ok" and pickle.loads(reply[1]) == ["e", "f"]  # noqa: S301 (item by item)
    db.close()


def test_the_helper_leaves_when_the_box_goes(tmp_path: Path):
    """Its socket closed (the box died, even by kill -9): the helper exits; it ignores
    the terminal's and systemd's signals, which are the box's to act on."""
    path = tmp_path / "x.db"
    sqlite3.connect(path).close()
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appliance.core.db_helper",
            str(path),
            str(theirs.fileno()),
            "apart",
        ],
        pass_fds=(theirs.fileno(),),
        env=db_helper._child_env(),
    )
    theirs.close()
    try:
        assert ours.recv(64)  # ready
        for sig in (signal.SIGINT, signal.SIGTERM):
            proc.send_signal(sig)
        time.sleep(0.2)
        assert proc.poll() is None
        ours.close()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_a_box_closes_its_helper(settings):  # type: ignore[no-untyped-def]
    core = Box(settings)
    await core.open()
    await helper_up(core)
    proc = core.db.helper._proc
    await core.close()
    assert proc.poll() == 0 and core.db.helper is None


async def test_a_box_without_the_helper_stores_lines_itself(tmp_path: Path):
    """writer_helper = false: no second process; the writer thread stores the lines."""
    core = Box(make_settings(tmp_path / "data", writer_helper=False))
    await core.open()
    try:
        assert core.db.helper is None and not core.db.helper_up
        vid, _ = await core.visitors.issue()
        conv, _ = await core.chats.open(vid)
        results = await _behind_a_held_writer(
            core, [_post(core, conv.id, Visitor(vid), f"w{i}", f"第{i}行") for i in range(3)]
        )
        assert [r[0].seq for r in results] == [1, 2, 3] and core.db.stats.away == 0
    finally:
        await core.close()


async def test_the_indexer_and_the_report_pass_store_through_the_helper(box):
    """The search indexer's batches (read, split and stored there) and the report
    pass's rows go to the helper too, and are found as if the writer had stored them."""
    await box.search.close()  # this test steps the indexer itself
    await helper_up(box)
    assert box.db.helper_up
    vid, _ = await box.visitors.issue()
    conv, _ = await box.chats.open(vid)
    await box.chats.post(conv.id, Visitor(vid), client_msg_id="q", body="打印机卡纸了")
    while await box.search.step():  # what the box queued before: the helper may take it
        pass
    await box.chats.post(conv.id, Visitor(vid), client_msg_id="r", body="携号转网怎么办")
    away = box.db.stats.away
    assert await box.search.step() == 1
    assert box.db.stats.away - away == 1
    found = await box.search.search("携号转网", Staff(1, "boss", role="supervisor"), ("chat",), 5)
    assert [hit.ref for hit in found.hits] == [conv.id]
    away = box.db.stats.away
    assert await box.reports.roll() > 0
    assert box.db.stats.away - away >= 1
    row = await box.db.fetchone("SELECT cursor FROM report_state WHERE id = 1")
    assert row[0] > 0
    assert (await box.db.fetchone("SELECT count(*) FROM report_sums"))[0] > 0


async def test_a_helper_of_another_version_is_never_sent_a_request(
    tmp_path: Path, monkeypatch, caplog
):
    """A box upgraded in place while it ran would start a helper of the new code: it
    says which version it is, and the writer keeps storing the lines itself."""
    monkeypatch.setattr(db_helper, "_READY", ("ready", 999))  # the box's, not the helper's
    path = tmp_path / "x.db"
    sqlite3.connect(path).close()
    helper = db_helper.Helper(path, checkpoint_apart=True)
    assert await helper.start()
    try:
        deadline = time.monotonic() + 10
        while "another version" not in caplog.text and time.monotonic() < deadline:
            assert not helper.up
            await asyncio.sleep(0.025)
        assert "another version" in caplog.text and not helper.up
    finally:
        await helper.close()


async def test_a_helper_that_cannot_start_leaves_the_box_running(
    tmp_path: Path, monkeypatch, caplog
):
    """No interpreter to start it with (or an environment too large to pass): the box
    opens all the same, the writer stores the lines, and it tries again later."""
    monkeypatch.setattr(db_helper, "RESTART_AFTER", 0.0)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    monkeypatch.setenv("CALLBOX_TEST_HUGE", "x" * 200_000)  # not passed on
    core = Box(make_settings(tmp_path / "data"))
    await core.open()
    try:
        assert "did not start" in caplog.text and not core.db.helper_up
        vid, _ = await core.visitors.issue()
        conv, _ = await core.chats.open(vid)
        message, _ = await core.chats.post(conv.id, Visitor(vid), client_msg_id="a", body="在")
        assert message.seq == 1 and core.db.stats.away == 0
        monkeypatch.undo()  # an interpreter again: the next look starts it
        monkeypatch.setattr(db_helper, "RESTART_AFTER", 0.0)
        monkeypatch.setenv("CALLBOX_TEST_HUGE", "x" * 200_000)
        await helper_up(core)
        message, _ = await core.chats.post(conv.id, Visitor(vid), client_msg_id="b", body="了")
        assert message.seq == 2 and core.db.stats.away == 1
    finally:
        await core.close()


def test_the_helper_works_under_the_boxs_own_loop(tmp_path: Path):
    """`appliance run` runs on uvloop, whose transports are not asyncio's classes: the
    lines go through the helper there too, and a lost helper's lines run here."""
    import uvloop

    async def main() -> tuple[int, int, list[int]]:
        core = Box(make_settings(tmp_path / "data"))
        await core.open()
        try:
            conv, me, _heard = await _a_chat_heard(core)
            seqs = []
            for i in range(3):
                message, _ = await _post(core, conv.id, me, f"u{i}", f"第{i}")()
                seqs.append(message.seq)
            away = core.db.stats.away
            os.kill(core.db.helper._proc.pid, signal.SIGSTOP)
            task = asyncio.ensure_future(_post(core, conv.id, me, "k", "杀")())
            await asyncio.sleep(0.05)
            core.db.helper._proc.kill()
            message, _ = await task
            seqs.append(message.seq)
            return away, core.db.helper.lost, seqs
        finally:
            await core.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        away, lost, seqs = runner.run(main())
    assert away == 3 and lost == 1 and seqs == [1, 2, 3, 4]


def test_what_travels_to_the_helper_comes_back_equal():
    """Lines, actors and messages are pickled by their fields' values (a reducer, not
    3.11's per-object fields() walk): every field survives the round trip."""
    from appliance.core.conversation import Attachment, Message

    staff = Staff(7, "李雷", "supervisor", frozenset({1, 2}), frozenset({"华东"}), True)
    picture = Attachment("f_1", "图.png", "image", "image/png", 10, "ab" * 32, 640, 480)
    message = Message(
        "m_1", "c_1", 3, "cid", "agent", "7", "李雷", "图.png", None, 1796625800000,
        "staff", picture,
    )  # fmt: skip
    values = [
        chat_lines.Post("c_1", staff, "cid", "你好"),
        chat_lines.Post("c_2", Visitor("v_1", "1.2.3.4", True), "cid2", "在吗"),
        (message, False, "v_1"),
    ]
    assert pickle.loads(pickle.dumps(values, pickle.HIGHEST_PROTOCOL)) == values  # noqa: S301
    for cls in (chat_lines.Post, Staff, Visitor, Message, Attachment):
        assert cls in copyreg.dispatch_table
