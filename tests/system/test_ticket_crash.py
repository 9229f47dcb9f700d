"""kill -9 while triggers and timed rules act on tickets: after the restart every
ticket is exactly what its history makes, no rule acted twice on a ticket, and the
pass that was cut short finishes the rest exactly once. The same for the SLA pass: a
kill between its batches leaves no firing recorded twice, and the next pass fires each
warning, breach and escalation level that was left, once (a raised priority rises once)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.core.box import Box
from appliance.core.store import tickets as store
from appliance.core.ticketflow import replay
from appliance.core.tickets import NewTicket
from tests.conftest import make_settings

_HOUR = 3600 * 1000
_TICKETS = 1200  # several batches of the timed pass (500 each)

_TIMED = {
    "name": "新单跟进",
    "kind": "timed",
    "conditions": {
        "all": [
            {"field": "hours_since_created", "op": "gt", "value": 1},
            {"field": "tags", "op": "not_contains", "value": ["跟进"]},
        ]
    },
    "actions": [
        {"type": "set_field", "field": "add_tags", "value": ["跟进"]},
        {"type": "add_note", "text": "一小时未处理"},
    ],
}
_TRIGGER = {
    "name": "加急单",
    "kind": "trigger",
    "on": ["created"],
    "conditions": {"all": [{"field": "subject", "op": "contains", "value": "急"}]},
    "actions": [{"type": "set_field", "field": "priority", "value": "urgent"}],
}

# The child: opens the same data dir, then creates tickets (each sets off the trigger)
# and runs the timed pass, printing after each commit, until it is killed.
_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from appliance.core import tickets
    from appliance.core.box import Box
    from appliance.core.events import TicketChanged
    from appliance.core.tickets import NewTicket
    from tests.conftest import make_settings

    tickets.TIMED_BATCH = 200  # more batches, more places for the kill to land

    def seen(event):
        if isinstance(event, TicketChanged) and "跟进" in event.ticket.fields["tags"]:
            print("timed", event.ticket.id, flush=True)

    async def main(data_dir, now):
        box = Box(make_settings(data_dir))
        box.bus.subscribe(seen)
        await box.db.open()
        await box.rules.load()
        boss = await box.routing.actor(1, "boss", "supervisor")
        n = 0
        while True:
            await box.tickets.create(boss, NewTicket(subject=f"急单 {n}"))
            print("created", n, flush=True)
            n += 1
            if n % 5 == 0:
                acted = await box.tickets.run_timed_rules(now)
                print("pass", acted, flush=True)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def _open(data_dir: Path) -> Box:
    box = Box(make_settings(data_dir))
    await box.db.open()
    await box.rules.load()
    return box


async def _kill_when(script: str, data_dir: Path, now: int, stop: Callable[[str], bool]) -> None:
    """Run a child on the data dir, reading what it prints after each commit; kill -9 it
    at the first line `stop` accepts."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(data_dir), str(now)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        while True:
            line = await asyncio.to_thread(child.stdout.readline)
            assert line, child.stderr.read() if child.stderr else "child ended"
            if stop(line):
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


async def _check(box: Box) -> dict[str, Any]:
    """Every ticket equals its replayed history; count what the rules did."""

    def read(conn: Any) -> dict[str, Any]:
        timed_runs, trigger_runs, ids = {}, {}, []
        for (ticket_id,) in conn.execute("SELECT id FROM tickets ORDER BY id"):
            events = store.events(conn, ticket_id)
            assert store.get(conn, ticket_id) == replay(events), ticket_id
            names = [e.data["name"] for e in events if e.kind == "rule"]
            timed_runs[ticket_id] = names.count("新单跟进")
            trigger_runs[ticket_id] = names.count("加急单")
            ids.append(ticket_id)
        return {"timed": timed_runs, "trigger": trigger_runs, "ids": ids}

    return await box.db.read(read)


async def test_kill_9_mid_pass_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    box = await _open(data_dir)
    try:
        user = await box.accounts.create_user("boss", "correct horse battery", "supervisor")
        boss = await box.routing.actor(user.id, user.display_name, user.role)
        await box.rules.create(boss, _TIMED)
        await box.rules.create(boss, _TRIGGER)
        first = None
        for n in range(_TICKETS):
            made = await box.tickets.create(boss, NewTicket(subject=f"普通 {n}"))
            first = first or made
        assert first is not None
        now = first.created_at + 2 * _HOUR
    finally:
        await box.close()

    # Kill it in the middle of its first timed pass (7 batches), right after the first
    # batch committed: tickets and their triggers committed before it.
    await _kill_when(_CHILD, data_dir, now, lambda line: line.startswith("timed"))

    box = await _open(data_dir)
    try:
        seen = await _check(box)
        done = sum(seen["timed"].values())
        assert 0 < done < len(seen["ids"])  # the kill cut the pass short
        assert all(n <= 1 for n in seen["timed"].values())  # never twice
        urgent = [t for t in seen["ids"] if t > _TICKETS]
        assert len(urgent) >= 5  # what the child acknowledged is there
        assert all(seen["trigger"][t] == 1 for t in urgent)  # each new one, exactly once
        # The pass that was cut short finishes the rest, once.
        await box.tickets.run_timed_rules(now + 3 * _HOUR)
        after = await _check(box)
        assert all(n == 1 for n in after["timed"].values())
        assert await box.tickets.run_timed_rules(now + 4 * _HOUR) == 0
    finally:
        await box.close()


# The SLA child: fires what is due in small batches, printing after each commit, until
# it is killed.
_SLA_CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from appliance.core import sla, tickets
    from appliance.core.box import Box
    from appliance.core.events import TicketChanged
    from tests.conftest import make_settings

    sla.FIRE_BATCH = tickets.FIRE_BATCH = 10  # many commits, many places for the kill

    async def main(data_dir, now):
        box = Box(make_settings(data_dir))
        def seen(event):
            if isinstance(event, TicketChanged):
                print("fired", flush=True)
                time.sleep(0.002)  # the pass lasts long enough for the kill to land in it

        box.bus.subscribe(seen)
        await box.db.open()
        await box.rules.load()
        while True:
            print("pass", await box.tickets.run_sla(now), flush=True)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)
_SLA_TICKETS = 600
_POLICY = {
    "name": "全天",
    "targets": {"first_response": 60, "resolution": 120},
    "warn_share": 0.5,
    "levels": [{"metric": "first_response", "offset_minutes": 10, "action": "raise_priority"}],
}
# Due by three hours after creation, per ticket: first response warning, breach and its
# level; resolution warning and breach.
_FIRINGS = {
    ("first_response", "warning"),
    ("first_response", "breach"),
    ("first_response", "level"),
    ("resolution", "warning"),
    ("resolution", "breach"),
}


async def _sla_fired(box: Box) -> dict[int, list[tuple[str, str]]]:
    """Every ticket equals its replayed history; its SLA firings, in order."""

    def read(conn: Any) -> dict[int, list[tuple[str, str]]]:
        fired = {}
        for (ticket_id,) in conn.execute("SELECT id FROM tickets ORDER BY id"):
            events = store.events(conn, ticket_id)
            assert store.get(conn, ticket_id) == replay(events), ticket_id
            fired[ticket_id] = [
                (e.data["metric"], e.data["change"])
                for e in events
                if e.kind == "sla" and e.data["change"] in ("warning", "breach", "level")
            ]
        return fired

    return await box.db.read(read)


async def test_kill_9_while_sla_firings_are_written(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    box = await _open(data_dir)
    try:
        user = await box.accounts.create_user("boss", "correct horse battery", "supervisor")
        boss = await box.routing.actor(user.id, user.display_name, user.role)
        await box.sla.create(boss, _POLICY)
        first = None
        for n in range(_SLA_TICKETS):
            made = await box.tickets.create(boss, NewTicket(subject=f"报修 {n}"))
            first = first or made
        assert first is not None
        now = first.created_at + 3 * _HOUR
    finally:
        await box.close()

    # Kill it right after a few batches of its first pass committed.
    fired = []

    def third_batch(line: str) -> bool:
        assert not line.startswith("pass"), "the pass ended before the kill"
        fired.append(line.startswith("fired"))
        return sum(fired) >= 3

    await _kill_when(_SLA_CHILD, data_dir, now, third_batch)

    box = await _open(data_dir)
    try:
        seen = await _sla_fired(box)
        assert len(seen) == _SLA_TICKETS
        total = sum(len(f) for f in seen.values())
        assert 0 < total < len(_FIRINGS) * _SLA_TICKETS  # the kill cut the pass short
        for firings in seen.values():  # nothing recorded twice
            assert len(firings) == len(set(firings)) and set(firings) <= _FIRINGS
        # The next pass fires the rest, once each; the level raised each priority once.
        await box.tickets.run_sla(now)
        after = await _sla_fired(box)
        assert all(sorted(f) == sorted(_FIRINGS) for f in after.values())
        assert await box.tickets.run_sla(now) == 0

        def priorities(conn: Any) -> set[str]:
            return {row[0] for row in conn.execute("SELECT priority FROM tickets")}

        assert await box.db.read(priorities) == {"high"}
    finally:
        await box.close()
