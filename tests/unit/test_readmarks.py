"""Read marks on a real SQLite: one mark per side and chat, only forwards, written only
when one advanced, in one transaction per flush, and flushed when the box closes."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.core.actors import Staff, Visitor
from appliance.core.box import Box
from appliance.core.errors import NotFound
from appliance.core.readmarks import ReadMarks, SeqBeyondLast

PASSWORD = "correct horse battery"


async def _chat(box: Box) -> tuple[str, Visitor, Staff]:
    """A chat its agent took, with two visitor messages: seqs 1 (assigned) to 3."""
    user = await box.accounts.create_user("wangfang", PASSWORD, "agent")
    agent = Staff(user.id, "王芳")
    visitor = Visitor("v_reader")
    conv, _ = await box.chats.open(visitor.id)
    await box.db.write(lambda conn: box.chats.assign_in(conn, conv, user.id, "王芳"))
    for i in range(2):
        await box.chats.post(conv.id, visitor, client_msg_id=f"m{i}", body="你好")
    return conv.id, visitor, agent


def _count_writes(box: Box, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = box.db.write

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(box.db, "write", counted)
    return calls


async def test_marks_move_forwards_and_are_written_once_per_flush(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv_id, visitor, agent = await _chat(box)
    marks = ReadMarks(box.db, box.chats, flush_delay=3600)  # flushed by hand here
    writes = _count_writes(box, monkeypatch)
    assert await marks.mark(conv_id, visitor, 2) == ("visitor", 2)
    assert await marks.mark(conv_id, visitor, 2) is None
    assert await marks.mark(conv_id, visitor, 1) is None  # never backwards
    assert await marks.mark(conv_id, agent, 3) == ("agent", 3)
    assert await marks.mark(conv_id, visitor, 3) == ("visitor", 3)
    assert writes == []  # nothing yet: the flush coalesces
    await marks.flush()
    assert len(writes) == 1
    await marks.flush()  # nothing advanced since: no write at all
    assert len(writes) == 1
    rows = await box.db.fetchall("SELECT * FROM read_marks")
    assert [tuple(r) for r in rows] == [(conv_id, 3, 3)]
    # A fresh instance (a restarted box) reads them back.
    assert await ReadMarks(box.db, box.chats).get(conv_id) == (3, 3)
    await marks.close()


async def test_marks_follow_the_chat_rules(box: Box) -> None:
    conv_id, visitor, _agent = await _chat(box)
    marks = ReadMarks(box.db, box.chats, flush_delay=3600)
    with pytest.raises(SeqBeyondLast):
        await marks.mark(conv_id, visitor, 4)
    with pytest.raises(NotFound):
        await marks.mark(conv_id, Visitor("v_stranger"), 1)
    with pytest.raises(NotFound):
        await marks.mark("c_nope", visitor, 1)
    # A supervisor who sees it but is not in it reads without it counting.
    boss = await box.accounts.create_user("boss", PASSWORD, "supervisor")
    watcher = Staff(boss.id, "boss", "supervisor", frozenset())
    assert await marks.mark(conv_id, watcher, 3) is None
    assert await marks.get(conv_id) == (0, 0)
    # Closing writes what is pending.
    assert await marks.mark(conv_id, visitor, 1) == ("visitor", 1)
    await marks.close()
    rows = await box.db.fetchall("SELECT visitor_seq, agent_seq FROM read_marks")
    assert [tuple(r) for r in rows] == [(1, 0)]
