"""kill -9 while the box imports a mailbox (a real dovecot on loopback): after the
restart every message is a ticket exactly once, none is missing, and every message
ends flagged on the server."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from appliance.core import audit
from appliance.core.box import Box
from tests.conftest import make_settings
from tests.mail_servers import PASSWORD, USER, Dovecot

pytestmark = pytest.mark.timeout(240)

_MAILS = 60
_WAIT = 90.0  # s for a child to import what it must (a loaded 2-core machine)

# The child: the whole box over the data dir, reading the mailbox until it is killed.
_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from appliance.core.box import Box
    from tests.conftest import make_settings

    async def main(data_dir):
        box = Box(make_settings(data_dir))
        await box.open()
        await asyncio.Event().wait()

    asyncio.run(main(sys.argv[1]))
    """
)


def _count(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM mail_messages").fetchone()[0])


async def _until(db: Path, at_least: int, child: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + _WAIT
    while True:
        found = await asyncio.to_thread(_count, db) if db.exists() else 0
        if found >= at_least:
            return found
        assert child.poll() is None, "the box ended"
        assert time.monotonic() < deadline, f"{found} of {at_least} imported"
        await asyncio.sleep(0.02)


def _result(db: Path) -> tuple[list[tuple[int, str, int]], tuple[int, int]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT uid, outcome, ticket_id FROM mail_messages").fetchall()
        tickets = conn.execute("SELECT count(*), count(DISTINCT subject) FROM tickets")
        return rows, tickets.fetchone()


def _child(data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )


async def test_kill_9_mid_import_leaves_no_duplicate_and_no_gap(tmp_path: Path) -> None:
    dovecot = Dovecot()
    await asyncio.to_thread(dovecot.start)
    try:
        data_dir = tmp_path / "data"
        box = Box(make_settings(data_dir))
        await box.db.open()
        try:
            await box.mail.add_mailbox(
                audit.Actor(None, "test", "127.0.0.1"),
                {
                    "name": "support",
                    "address": "help@example.com",
                    "host": "127.0.0.1",
                    "port": dovecot.port,
                    "security": "none",
                    "username": USER,
                    "password": PASSWORD,
                },
            )
        finally:
            await box.mail_in.close()
            await box.db.close()
        for n in range(_MAILS):
            msg = EmailMessage()
            msg["From"] = f"c{n}@example.com"
            msg["Subject"] = f"请求 {n}"
            msg["Message-ID"] = f"<m{n}@client.example.com>"
            msg.set_content(f"第 {n} 封")
            await asyncio.to_thread(dovecot.append, bytes(msg))

        db = data_dir / "callbox.db"
        first = _child(data_dir)
        try:
            before = await _until(db, 5, first)
        finally:
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
        assert before < _MAILS, "the kill came too late to cut the import short"

        again = _child(data_dir)
        try:
            await _until(db, _MAILS, again)
            await asyncio.sleep(0.5)  # a duplicate would be recorded within this
        finally:
            again.send_signal(signal.SIGTERM)
            await asyncio.to_thread(again.wait, 20)

        rows, (total, subjects) = await asyncio.to_thread(_result, db)
        assert sorted(r[0] for r in rows) == list(range(1, _MAILS + 1))
        assert {r[1] for r in rows} == {"opened"}
        assert len({r[2] for r in rows}) == _MAILS
        assert (total, subjects) == (_MAILS, _MAILS)
        flags = await asyncio.to_thread(dovecot.flags)
        assert len(flags) == _MAILS and all("$Callbox" in f for f in flags.values())
    finally:
        await asyncio.to_thread(dovecot.stop)
