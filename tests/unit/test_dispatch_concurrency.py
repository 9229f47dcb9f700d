"""The dispatcher over a real SQLite store under concurrent events (hypothesis).

Agents go on and offline, visitors open chats, agents accept, transfer and close, all
at once while routing passes run. After every burst the store must hold: no chat lost
or given twice, nobody past their limit by the router's hand, nobody out of scope, no
seq gap, and no chat left waiting while someone in scope has room.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core.actors import Staff
from appliance.core.box import Box
from appliance.core.errors import ChatError
from tests.conftest import make_settings

# id: (groups, regions, max_chats); group 1 is the default, group 2 takes topic "buy".
AGENTS = {
    1: ({1}, [], 2),
    2: ({1, 2}, [], 1),
    3: ({2}, ["北京"], 2),
    4: ({2}, [], 1),
}
REGIONS = ["", "北京", "上海"]

op = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(["", "buy"]), st.sampled_from(REGIONS)),
    st.tuples(
        st.just("presence"),
        st.sampled_from(sorted(AGENTS)),
        st.sampled_from(["online", "away", "offline"]),
    ),
    st.tuples(st.just("close"), st.integers(0, 30)),
    st.tuples(st.just("accept"), st.integers(0, 30), st.sampled_from(sorted(AGENTS))),
    st.tuples(st.just("to_agent"), st.integers(0, 30), st.sampled_from(sorted(AGENTS))),
    st.tuples(st.just("to_group"), st.integers(0, 30), st.sampled_from([1, 2])),
)
bursts = st.lists(st.lists(op, min_size=1, max_size=8), min_size=1, max_size=6)


def _seed(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO groups (id, name, created_at) VALUES (2, 'sales', 0)")
    conn.execute("INSERT INTO topics (key, label, group_id) VALUES ('buy', 'Buy', 2)")
    for uid, (groups, regions, limit) in AGENTS.items():
        conn.execute(
            "INSERT INTO users (id, username, display_name, password_hash, role, max_chats,"
            " regions, created_at) VALUES (?, ?, ?, 'x', 'agent', ?, ?, 0)",
            (uid, f"a{uid}", f"a{uid}", limit, json.dumps(regions, ensure_ascii=False)),
        )
        for gid in groups:
            conn.execute("INSERT INTO group_members VALUES (?, ?)", (gid, uid))


async def _apply(box: Box, convs: list[str], step: tuple[Any, ...]) -> None:
    kind = step[0]
    try:
        if kind == "open":
            visitor_id, _ = await box.visitors.issue()
            conv, _ = await box.chats.open(visitor_id, topic=step[1], region=step[2])
            convs.append(conv.id)
        elif kind == "presence":
            await box.accounts.set_status(step[1], step[2])
        elif not convs:
            return
        else:
            conv_id = convs[step[1] % len(convs)]
            conv = await box.chats.get(conv_id)
            assert conv is not None
            owner = Staff(conv.agent_id or 1, "owner")
            if kind == "close":
                await box.chats.close(conv_id, by="test")
            elif kind == "accept":
                await box.dispatcher.accept(conv_id, step[2])
            elif kind == "to_agent":
                await box.teamwork.transfer(conv_id, owner, agent_id=step[2], note="n")
            elif kind == "to_group":
                await box.teamwork.transfer(conv_id, owner, group_id=step[2])
    except ChatError:
        pass  # refused by the rules (not waiting, at limit, offline, closed...): fine


def _check(conn: sqlite3.Connection, convs: list[str]) -> None:
    rows = {
        r[0]: r
        for r in conn.execute(
            "SELECT id, status, agent_id, group_id, region, last_seq, transfer_pending"
            " FROM conversations"
        )
    }
    assert sorted(rows) == sorted(convs), "a conversation was lost or invented"
    members = {}
    for gid, uid in conn.execute("SELECT group_id, user_id FROM group_members"):
        members.setdefault(uid, set()).add(gid)
    for conv_id, status, agent, group, region, last_seq, pending in rows.values():
        assert status != "waiting" or agent is None, (status, agent)
        assert status != "active" or agent is not None, (status, agent)
        assert not pending or status == "active"
        seqs = [
            r[0]
            for r in conn.execute(
                "SELECT seq FROM messages WHERE conversation_id = ? ORDER BY seq", (conv_id,)
            )
        ]
        assert seqs == list(range(1, last_seq + 1)), "seq gap or duplicate"
        events = [
            r
            for r in conn.execute(
                "SELECT event, sender_id FROM messages WHERE conversation_id = ? AND event IN"
                " ('assigned', 'transferred', 'missed', 'closed') ORDER BY seq",
                (conv_id,),
            )
        ]
        # Given out only from the queue: never two "assigned" without a ring-out between.
        given_out = False
        for event, _sender in events:
            if event == "assigned":
                assert not given_out, "assigned twice"
                given_out = True
            elif event == "missed":
                given_out = False
        if status == "active" and events and events[-1][0] == "assigned":
            # The router's (or an accept's) choice: in the group's scope.
            assert group in members[agent], "assigned out of group"
            regions = json.loads(
                conn.execute("SELECT regions FROM users WHERE id = ?", (agent,)).fetchone()[0]
            )
            assert not regions or region in regions, "assigned out of region"
    # Nobody past their limit, except by a direct hand-off they did not choose: none here
    # (transfers to an agent check the limit too).
    for uid, limit in conn.execute("SELECT id, max_chats FROM users"):
        load = conn.execute(
            "SELECT count(*) FROM conversations WHERE agent_id = ? AND status = 'active'", (uid,)
        ).fetchone()[0]
        assert load <= limit, f"agent {uid} has {load} chats over a limit of {limit}"
    # Nothing waits while an online agent in scope has room.
    online = {
        r[0]: r[1] for r in conn.execute("SELECT id, max_chats FROM users WHERE status = 'online'")
    }
    for conv_id, status, _agent, group, region, _seq, _pending in rows.values():
        if status != "waiting":
            continue
        missed = {
            r[0]
            for r in conn.execute(
                "SELECT user_id FROM missed_chats WHERE conversation_id = ?", (conv_id,)
            )
        }
        for uid, limit in online.items():
            load = conn.execute(
                "SELECT count(*) FROM conversations WHERE agent_id = ? AND status = 'active'",
                (uid,),
            ).fetchone()[0]
            groups, regions, _ = AGENTS[uid]
            eligible = group in groups and (not regions or region in regions) and uid not in missed
            assert not (eligible and load < limit), f"{conv_id} waits while agent {uid} has room"


async def _scenario(data_dir: Path, plan: list[list[tuple[Any, ...]]]) -> None:
    box = Box(make_settings(data_dir))
    await box.open()
    try:
        await box.db.write(_seed)
        convs: list[str] = []
        for burst in plan:
            await asyncio.gather(*(_apply(box, convs, step) for step in burst))
            await box.dispatcher.dispatch()
            await box.dispatcher.wait_idle()
            await box.db.write(lambda conn: _check(conn, convs))
    finally:
        await box.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan=bursts)
def test_router_keeps_its_promises_under_concurrent_events(
    plan: list[list[tuple[Any, ...]]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_scenario(Path(tmp) / "data", plan))
