"""A restore from the admin page on the real `appliance run`: the box checks the
archive, stops, switches its data folder, and starts again in the same process on the
same port; a restored box that cannot start goes back to the previous data by itself.
The command line refuses to restore under a running box."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.browser.conftest import free_port
from tests.conftest import csrf_in
from tests.system.processes import ApplianceProcess, cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery"
_WAIT = 60.0  # s for a job, or for the box to come back


class Admin:
    """An admin's HTTP session with the box, which survives the box's restarts."""

    def __init__(self, http: aiohttp.ClientSession, box: ApplianceProcess) -> None:
        self.http = http
        self.box = box
        self.headers: dict[str, str] = {}

    async def login(self) -> None:
        async with self.http.get(self.box.url("/login")) as r:
            token = csrf_in(await r.text())
        async with self.http.post(
            self.box.url("/login"),
            data={"username": "root", "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
        ) as r:
            assert r.status == 302
        async with self.http.get(self.box.url("/api/console/me")) as r:
            self.headers = {"X-CSRF-Token": (await r.json())["csrf_token"]}

    async def call(self, method: str, path: str, status: int, **kw: Any) -> Any:
        async with self.http.request(method, self.box.url(path), headers=self.headers, **kw) as r:
            assert r.status == status, await r.text()
            return await r.json()

    async def state(self) -> dict[str, Any]:
        """Return the backups state, waiting while the box restarts."""
        deadline = asyncio.get_running_loop().time() + _WAIT
        while True:
            try:
                async with self.http.get(self.box.url("/api/admin/backups")) as r:
                    if r.status == 200:
                        return dict(await r.json())
            except aiohttp.ClientError:
                pass  # stopped for the switch
            assert asyncio.get_running_loop().time() < deadline, "the box did not come back"
            await asyncio.sleep(0.1)

    async def backup(self) -> str:
        await self.call("POST", "/api/admin/backups/run", 202)
        while (job := (await self.state())["job"])["state"] == "running":
            await asyncio.sleep(0.05)
        assert job["state"] == "done", job
        return str(job["archive"])

    async def restore(self, archive: bytes, key: str) -> dict[str, Any]:
        """Upload and restore; return the state once the box answers after its restart."""
        await self.call("POST", "/api/admin/backups/upload", 201, data=archive)
        await self.call(
            "POST", "/api/admin/backups/restore", 202, json={"key": key, "source": "upload"}
        )
        deadline = asyncio.get_running_loop().time() + _WAIT
        while True:
            state = await self.state()
            if (
                state["restore"] is not None
                and state["restore"]["state"]
                in (
                    "started",
                    "rolled_back",
                )
                and (state["job"] is None or state["job"]["kind"] != "restore")
            ):
                return state
            assert asyncio.get_running_loop().time() < deadline, state
            await asyncio.sleep(0.1)


def _bodies(data: Path) -> list[str]:
    conn = sqlite3.connect(f"{(data / 'callbox.db').as_uri()}?mode=ro", uri=True)
    try:
        return [
            r[0]
            for r in conn.execute(
                "SELECT body FROM messages WHERE sender_type = 'visitor' ORDER BY created_at, seq"
            )
        ]
    finally:
        conn.close()


def _audit(data: Path) -> list[tuple[str, str, str]]:
    """Return the audit log's (action, user name, address) rows, oldest first."""
    conn = sqlite3.connect(f"{(data / 'callbox.db').as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT action, user_name, address FROM admin_audit"
            " WHERE action LIKE 'backup.restor%' ORDER BY id"
        )
        return [tuple(r) for r in rows]
    finally:
        conn.close()


async def test_a_restore_restarts_the_box_onto_the_archive_or_back_if_it_cannot_start(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    made = await asyncio.to_thread(
        cli, data, "user", "add", "root", "--role", "admin", "--password-stdin", stdin=PASSWORD
    )
    assert made.returncode == 0, made.stderr
    box = await asyncio.to_thread(ApplianceProcess, data, port=free_port())
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            admin = Admin(http, box)
            await admin.login()
            kit = await admin.call("POST", "/api/admin/backups/key", 201, json={})
            async with http.post(box.url("/api/visitor/session"), json={}) as r:
                auth = {"Authorization": f"Bearer {(await r.json())['token']}"}
            async with http.post(box.url("/api/visitor/conversations"), json={}, headers=auth) as r:
                conv = (await r.json())["conversation"]["id"]

            async def say(text: str) -> None:
                async with http.post(
                    box.url(f"/api/visitor/conversations/{conv}/messages"),
                    json={"client_msg_id": text, "body": text},
                    headers=auth,
                ) as r:
                    assert r.status in (200, 201), await r.text()

            # An archive whose configuration this version refuses (the running box read
            # its settings at start: only a restored box would meet it).
            await say("one")
            (data / "callbox.toml").write_text('lang = "fr"\n')
            broken = (data / "backups" / await admin.backup()).read_bytes()
            (data / "callbox.toml").unlink()
            await say("two")
            good = (data / "backups" / await admin.backup()).read_bytes()
            await say("three")

            # Under a running box, the command line refuses and changes nothing.
            key_file = tmp_path / "key.txt"
            key_file.write_text(kit["identity"])
            archive_file = tmp_path / "good.tar.age"
            archive_file.write_bytes(good)
            refused = await asyncio.to_thread(
                cli, data, "restore", str(archive_file), "--key-file", str(key_file)
            )
            assert refused.returncode == 1 and "stop it first" in refused.stderr
            assert _bodies(data) == ["one", "two", "three"]

            state = await admin.restore(broken, kit["identity"])
            assert state["restore"]["state"] == "rolled_back", state["restore"]
            assert "lang" in state["restore"]["error"] and state["restore"]["failed"]
            assert _bodies(data) == ["one", "two", "three"]
            # The ask is in the log it was made in; the way back is recorded by the box
            # that came back on that data.
            assert _audit(data) == [
                ("backup.restore", "root", "127.0.0.1"),
                ("backup.restore_rolled_back", "root", "127.0.0.1"),
            ]

            state = await admin.restore(good, kit["identity"])
            assert state["restore"]["state"] == "started", state["restore"]
            previous = state["restore"]["previous"]
            assert _bodies(data) == ["one", "two"]
            assert _bodies(data / previous) == ["one", "two", "three"]
            # The restored database records the switch that brought it in, and who asked.
            assert _audit(data) == [("backup.restored", "root", "127.0.0.1")]
            await say("four")  # the restored box takes chats (the visitor's token held)
            assert _bodies(data)[-1] == "four"
    finally:
        await asyncio.to_thread(box.stop)
    # Stopped: the way back is the command line's.
    undone = await asyncio.to_thread(cli, data, "restore-undo")
    assert undone.returncode == 0, undone.stderr
    assert _bodies(data) == ["one", "two", "three"]
    # The box that starts on the data it went back to records the command's undo.
    box = await asyncio.to_thread(ApplianceProcess, data, port=free_port())
    await asyncio.to_thread(box.stop)
    *_, (action, _user, address) = _audit(data)
    assert (action, address) == ("backup.restore_undone", "cli")
