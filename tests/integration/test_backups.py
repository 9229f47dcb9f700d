"""Backups and restores over the admin API, on real boxes on loopback.

A backup taken while visitors write chats restores onto a fresh data folder with
every message acknowledged before it started, and a consistent cut after that; Debian's
`age` opens it too. A restore from the admin page switches only after its check; a
wrong key or a damaged archive changes nothing. Archives go to a real WebDAV server
(WsgiDAV on loopback) too, where retention prunes them.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import sqlite3
import subprocess
import tarfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pyrage
import pytest

from appliance.core import backup, restore
from appliance.core.backup_archive import new_keys
from appliance.restore_command import run_restore
from appliance.webui.keys import RESTART
from tests.conftest import Agent, Running, Visitor
from tests.webdav_server import PASSWORD as DAV_PASSWORD
from tests.webdav_server import USER as DAV_USER
from tests.webdav_server import webdav_server

MakeApp = Callable[..., Awaitable[Running]]
MakeAgent = Callable[..., Awaitable[Agent]]
MakeVisitor = Callable[..., Awaitable[Visitor]]
AGE = shutil.which("age")
_WAIT = 30.0  # s a job may take here
# A visitor here sends far faster than a person: the limits would answer 429.
LOAD = {
    "visitor_msg_burst": 100_000,
    "ip_msg_burst": 100_000,
    "visitor_conv_burst": 100,
    "ip_conv_burst": 100,
}

pytestmark = pytest.mark.timeout(120)


async def wait_job(admin: Agent) -> dict[str, Any]:
    """Poll the backups state until the job ends; return the state."""
    deadline = asyncio.get_running_loop().time() + _WAIT
    while True:
        state = await admin.get("/api/admin/backups")
        job = state["job"]
        if job is not None and job["state"] != "running":
            return dict(state)
        assert asyncio.get_running_loop().time() < deadline, state
        await asyncio.sleep(0.05)


async def post_raw(agent: Agent, path: str, data: bytes) -> tuple[int, Any]:
    headers = {"X-CSRF-Token": agent.csrf, "Content-Type": "application/octet-stream"}
    async with agent.http.post(agent.running.url(path), data=data, headers=headers) as r:
        return r.status, await r.json()


def tree(folder: Path) -> dict[str, bytes]:
    """Every file of a data folder but the local archives, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.relative_to(folder).as_posix().startswith("backups/")
    }


def content(folder: Path) -> dict[str, Any]:
    """What a data folder holds, but the audit log (a restore attempt is recorded there)
    and the upload waiting for a restore: its other files' bytes, every other table's
    rows."""
    files = {
        k: v
        for k, v in tree(folder).items()
        if not k.startswith("callbox.db") and "upload.tar.age" not in k
    }
    db = folder / "callbox.db"
    names = [r[0] for r in rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    tables = {}
    for name in names:
        if name != "admin_audit":  # names from sqlite_master, not from input
            tables[name] = sorted(map(repr, rows(db, f'SELECT * FROM "{name}"')))  # noqa: S608
    return {"files": files, "tables": tables}


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


class ChatLoad:
    """Visitors writing chat lines as fast as the box acknowledges them."""

    def __init__(self, visitors: list[Visitor], convs: list[str]) -> None:
        self.visitors = visitors
        self.convs = convs
        self.acked: dict[str, list[int]] = {c: [] for c in convs}
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def _write(self, visitor: Visitor, conv: str) -> None:
        for n in itertools.count():
            if self.stop.is_set():
                return
            status, body, _ = await visitor.request(
                "POST",
                f"/api/visitor/conversations/{conv}/messages",
                {"client_msg_id": f"m{n}", "body": f"第{n}条消息 line {n}"},
            )
            assert status in (200, 201), body
            self.acked[conv].append(body["message"]["seq"])

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self._write(v, c))
            for v, c in zip(self.visitors, self.convs, strict=True)
        ]

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)

    def snapshot(self) -> dict[str, list[int]]:
        return {c: list(seqs) for c, seqs in self.acked.items()}


async def test_a_backup_under_chat_load_restores_onto_a_fresh_box(
    make_app: MakeApp,
    make_agent: MakeAgent,
    make_visitor: MakeVisitor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backup, "PAUSE", 0.1)  # s per MiB read: chats go on meanwhile
    running = await make_app(**LOAD)
    data = running.box.settings.data_dir
    admin = await make_agent("root", role="admin", status=None, on=running)
    ticket = await admin.post(
        "/api/console/tickets",
        {"subject": "宽带报修", "channel": "phone", "requester": {"name": "王芳"}},
        status=201,
    )
    (data / "uploads" / "9f").mkdir(parents=True)
    upload = os.urandom(1_200_000)
    (data / "uploads" / "9f" / "9f86d081884c7d65").write_bytes(upload)
    kit = await admin.post("/api/admin/backups/key", {}, status=201)
    assert kit["identity"].startswith("AGE-SECRET-KEY-1") and kit["box"]
    state = await admin.get("/api/admin/backups")
    assert state["key"] == {
        "ready": True,
        "recipient": kit["recipient"],
        "created_at": kit["created_at"],
    }
    assert kit["identity"] not in str(state)

    visitors = [await make_visitor(on=running) for _ in range(4)]
    convs = [(await v.open())["id"] for v in visitors]
    load = ChatLoad(visitors, convs)
    load.start()
    while sum(map(len, load.acked.values())) < 40:
        await asyncio.sleep(0.01)
    before = load.snapshot()
    job = await admin.post("/api/admin/backups/run", status=202)
    assert job["kind"] == "backup" and job["state"] == "running" and job["source"] == "manual"
    state = await wait_job(admin)
    after = load.snapshot()
    await load.finish()
    final = load.snapshot()
    job = state["job"]
    assert job["state"] == "done", job
    assert job["code"] == "" and job["size"] > 1_200_000
    assert state["runs"][0]["ok"] is True and state["runs"][0]["archive"] == job["archive"]
    assert state["runs"][0]["targets"] == [{"target": "local", "ok": True, "error": ""}]
    assert sum(map(len, after.values())) > sum(map(len, before.values()))  # chats went on
    last = running.box.backups.last_result()
    assert last is not None and last.ok and last.archive == job["archive"]
    archive = data / "backups" / job["archive"]
    assert archive.is_file()

    # Onto a fresh box, from the command line, as after losing the first one.
    key_file = tmp_path / "key.txt"
    key_file.write_text(kit["identity"] + "\n")
    fresh = tmp_path / "fresh"
    args = argparse.Namespace(archive=str(archive), key_file=str(key_file))
    await asyncio.to_thread(run_restore, fresh, args)
    assert restore.status(fresh).state == "applied"  # type: ignore[union-attr]
    db = fresh / "callbox.db"
    for conv, acked in before.items():
        stored = [
            r[0]
            for r in rows(
                db,
                "SELECT seq FROM messages WHERE conversation_id = ?"
                " AND sender_type = 'visitor' ORDER BY seq",
                (conv,),
            )
        ]
        assert set(acked) <= set(stored), conv  # everything acknowledged before the backup
        assert stored == final[conv][: len(stored)], conv  # and a clean cut, no gaps
    assert (fresh / "uploads" / "9f" / "9f86d081884c7d65").read_bytes() == upload
    assert (fresh / "secret.key").read_bytes() == (data / "secret.key").read_bytes()

    restored = await make_app(data_dir=fresh, **LOAD)
    assert restore.confirm_started(fresh).state == "started"  # type: ignore[union-attr]
    # The same visitor token works: the box's signing secret came back with the data.
    visitors[0].running = restored
    status, body, _ = await visitors[0].request("GET", f"/api/visitor/conversations/{convs[0]}")
    assert status == 200, body
    subjects = rows(db, "SELECT subject FROM tickets WHERE id = ?", (ticket["ticket"]["id"],))
    assert subjects == [("宽带报修",)]
    admin2 = await make_agent("root2", role="admin", status=None, on=restored)
    assert (await admin2.get("/api/admin/backups"))["key"]["recipient"] == kit["recipient"]
    # The restored box's audit log holds the command-line restore that brought it in.
    log = (await admin2.get("/api/admin/audit?action=backup.restored"))["entries"]
    assert [(e["action"], e["target"], e["address"]) for e in log] == [
        ("backup.restored", job["archive"], "cli")
    ]
    assert restore.unrecorded(fresh) is None  # and only once

    # And Debian's age opens the same archive without the box.
    assert AGE is not None, "Debian's age is not installed (scripts/install-deps)"
    plain = tmp_path / "callbox.tar"
    await asyncio.to_thread(
        subprocess.run,
        [AGE, "-d", "-i", str(key_file), "-o", str(plain), str(archive)],
        check=True,
        timeout=60,
    )
    with tarfile.open(plain) as tar:
        names = tar.getnames()
    assert "callbox.db" in names and "uploads/9f/9f86d081884c7d65" in names


async def test_a_restore_from_the_admin_page_checks_first_and_changes_nothing_when_refused(
    make_app: MakeApp, make_agent: MakeAgent, make_visitor: MakeVisitor
) -> None:
    running = await make_app()
    data = running.box.settings.data_dir
    restarted = asyncio.Event()
    running.server.app[RESTART][0] = restarted.set
    admin = await make_agent("root", role="admin", status=None, on=running)
    kit = await admin.post("/api/admin/backups/key", {}, status=201)
    visitor = await make_visitor(on=running)
    conv = (await visitor.open())["id"]
    await visitor.request(
        "POST",
        f"/api/visitor/conversations/{conv}/messages",
        {"client_msg_id": "a", "body": "在备份里"},
    )
    await admin.post("/api/admin/backups/run", status=202)
    job = (await wait_job(admin))["job"]
    archive = (data / "backups" / job["archive"]).read_bytes()
    await visitor.request(
        "POST",
        f"/api/visitor/conversations/{conv}/messages",
        {"client_msg_id": "b", "body": "备份之后"},
    )
    await asyncio.sleep(0)

    def bodies() -> list[str]:
        return [r[0] for r in rows(data / "callbox.db", "SELECT body FROM messages ORDER BY seq")]

    assert bodies()[-2:] == ["在备份里", "备份之后"]

    # Not even age: refused as it arrives.
    for junk in (b"PK\x03\x04 a zip file", b"age", b""):
        status, answer = await post_raw(admin, "/api/admin/backups/upload", junk)
        assert status == 422 and answer["error"]["code"] == "not_a_backup", answer
    # Refused by the check: a key of another box, a damaged archive, an age file that
    # holds no backup (anyone with the public key can make one).
    recipient = pyrage.x25519.Recipient.from_str(kit["recipient"])
    middle = len(archive) // 2
    damaged = archive[:middle] + bytes([archive[middle] ^ 0x40]) + archive[middle + 1 :]
    for upload, key, code in (
        (archive, new_keys().identity, "wrong_key"),
        (damaged, kit["identity"], "damaged"),
        (pyrage.encrypt(b"PK\x03\x04 a zip file", [recipient]), kit["identity"], "not_a_backup"),
    ):
        # The search index takes in the chat's messages in the background: let it first.
        await running.box.search.catch_up()
        before = await asyncio.to_thread(content, data)
        status, answer = await post_raw(admin, "/api/admin/backups/upload", upload)
        assert status == 201 and answer == {"size": len(upload)}
        await admin.post("/api/admin/backups/restore", {"key": key, "source": "upload"}, status=202)
        state = await wait_job(admin)
        assert state["job"]["state"] == "failed" and state["job"]["code"] == code, state["job"]
        await running.box.search.catch_up()
        after = await asyncio.to_thread(content, data)
        assert after == before  # the attempt is in the audit log, nothing else
        assert not restore.staged(data).exists() and not restarted.is_set()
        assert state["restore"] is None and state["restore_pending"] is False
    for body, code in (
        ({"source": "upload"}, "invalid"),
        ({"key": "k", "source": "s3"}, "invalid"),
        ({"key": "k", "source": "local", "name": "../../etc/passwd"}, "invalid"),
        ({"key": "AGE-SECRET-KEY-1NOPE", "source": "upload"}, "key_invalid"),
        ({"key": "not a key", "source": "upload"}, "key_invalid"),
    ):
        answer = await admin.post("/api/admin/backups/restore", body, status=422)
        assert answer["error"]["code"] == code, (body, answer)

    # The right one: checked, then the box asks to restart; nothing switched yet.
    status, _ = await post_raw(admin, "/api/admin/backups/upload", archive)
    assert status == 201
    await admin.post(
        "/api/admin/backups/restore", {"key": kit["identity"], "source": "upload"}, status=202
    )
    state = await wait_job(admin)
    assert state["job"]["state"] == "done" and state["job"]["progress"]["phase"] == "restart"
    await asyncio.wait_for(restarted.wait(), 5)
    assert state["restore_pending"] is True and bodies()[-1] == "备份之后"

    # As `appliance run` does: stop, switch, start again on the same folder.
    await running.server.close()
    switched = await asyncio.to_thread(restore.apply_pending, data)
    assert switched is not None and switched.state == "applied" and switched.previous
    again = await make_app(data_dir=data)
    restore.confirm_started(data)
    assert bodies()[-1] == "在备份里"
    admin2 = await make_agent("root2", role="admin", status=None, on=again)
    state = await admin2.get("/api/admin/backups")
    assert state["restore"]["state"] == "started"
    assert state["restore"]["previous"] == switched.previous
    previous = data / switched.previous
    assert [r[0] for r in rows(previous / "callbox.db", "SELECT body FROM messages ORDER BY seq")][
        -1
    ] == "备份之后"
    removed = await admin2.call("DELETE", "/api/admin/backups/previous")
    assert removed["previous"] == "" and not previous.exists()
    await admin2.call("DELETE", "/api/admin/backups/previous", status=404)


async def test_archives_go_to_a_real_webdav_server_which_retention_prunes(
    make_app: MakeApp, make_agent: MakeAgent, tmp_path: Path
) -> None:
    running = await make_app()
    restarted = asyncio.Event()
    running.server.app[RESTART][0] = restarted.set
    admin = await make_agent("root", role="admin", status=None, on=running)
    kit = await admin.post("/api/admin/backups/key", {}, status=201)
    async with webdav_server(tmp_path / "dav") as dav:
        folder = dav.root / "callbox"
        folder.mkdir()
        old = [f"callbox-desk-2026010{d}T193000Z.tar.age" for d in (1, 2, 3)]
        for name in old:
            (folder / name).write_bytes(b"an old archive")
        (folder / "notes.txt").write_text("not ours")
        state = await admin.call(
            "PUT",
            "/api/admin/backups/settings",
            {
                "webdav_url": f"{dav.url}/callbox/",
                "webdav_user": DAV_USER,
                "webdav_password": DAV_PASSWORD,
                "keep_daily": 2,
                "keep_weekly": 0,
            },
        )
        assert state["settings"]["webdav_password_set"] is True
        assert DAV_PASSWORD not in str(state) and state["targets"] == ["webdav", "local"]
        sealed = rows(running.box.settings.db_path, "SELECT webdav_sealed FROM backup_settings")
        assert DAV_PASSWORD.encode() not in sealed[0][0]

        await admin.post("/api/admin/backups/run", status=202)
        state = await wait_job(admin)
        job = state["job"]
        assert job["state"] == "done", job
        assert state["runs"][0]["targets"] == [
            {"target": "webdav", "ok": True, "error": ""},
            {"target": "local", "ok": True, "error": ""},
        ]
        on_dav = sorted(p.name for p in folder.iterdir())
        # Two days kept: today's new archive and the newest old one; not ours stays.
        assert on_dav == sorted([job["archive"], old[-1], "notes.txt"])
        assert (folder / job["archive"]).read_bytes() == (
            running.box.settings.data_dir / "backups" / job["archive"]
        ).read_bytes()

        listed = await admin.get("/api/admin/backups/archives")
        assert listed["errors"] == []
        assert [(a["target"], a["name"]) for a in listed["archives"]] == [
            ("webdav", job["archive"]),
            ("local", job["archive"]),
            ("webdav", old[-1]),
        ]

        # A restore straight from the WebDAV server.
        await admin.post(
            "/api/admin/backups/restore",
            {"key": kit["identity"], "source": "webdav", "name": job["archive"]},
            status=202,
        )
        state = await wait_job(admin)
        assert state["job"]["state"] == "done", state["job"]
        await asyncio.wait_for(restarted.wait(), 5)
        assert state["restore_pending"] is True
        restore.clear_staged(running.box.settings.data_dir)

        # A wrong password: the off-box copy fails, named; the local one is still made.
        await admin.call("PUT", "/api/admin/backups/settings", {"webdav_password": "wrong"})
        await admin.post("/api/admin/backups/run", status=202)
        state = await wait_job(admin)
        assert state["job"]["state"] == "failed" and state["job"]["code"] == "target"
        webdav, local = state["runs"][0]["targets"]
        assert webdav["ok"] is False and "401" in webdav["error"] and local["ok"] is True
        assert running.box.backups.last_result().ok is False  # type: ignore[union-attr]
        listed = await admin.get("/api/admin/backups/archives")
        assert listed["errors"][0]["target"] == "webdav"


async def test_settings_and_actions_refuse_bad_input_with_codes(
    running: Running, make_agent: MakeAgent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backup, "PAUSE", 0.3)  # s per MiB read: the run lasts a moment
    admin = await make_agent("root", role="admin", status=None)
    agent = await make_agent("li", status=None)
    await agent.get("/api/admin/backups", status=403)
    answer = await admin.post("/api/admin/backups/run", status=422)
    assert answer["error"]["code"] == "no_key"
    state = await admin.get("/api/admin/backups")
    assert state["key"]["ready"] is False and state["next_run"] is None
    for body, words in (
        ({"daily_at": "25:00"}, "daily_at"),
        ({"keep_daily": 0}, "keep_daily must be between 1 and 366"),
        ({"local_dir": "relative/path"}, "absolute"),
        ({"local_dir": str(running.box.settings.data_dir / "uploads")}, "inside the data folder"),
        ({"webdav_url": "ftp://nas/backups/"}, "http"),
        ({"webdav_url": "https://user:pw@nas/backups/"}, "user or password"),
        ({"nope": 1}, "unknown field"),
    ):
        answer = await admin.call("PUT", "/api/admin/backups/settings", body, status=422)
        assert words in answer["error"]["message"], (body, answer)
    elsewhere = tmp_path / "mnt" / "disk"
    state = await admin.call(
        "PUT",
        "/api/admin/backups/settings",
        {"local_dir": str(elsewhere), "daily_at": "23:45", "enabled": True},
    )
    assert state["settings"]["local_folder"] == str(elsewhere) and elsewhere.is_dir()
    await admin.post("/api/admin/backups/key", {}, status=201)
    answer = await admin.post("/api/admin/backups/key", {}, status=409)
    assert answer["error"]["code"] == "key_exists"
    replaced = await admin.post("/api/admin/backups/key", {"replace": True}, status=201)
    state = await admin.get("/api/admin/backups")
    assert state["key"]["recipient"] == replaced["recipient"] and state["next_run"]
    answer = await admin.post(
        "/api/admin/backups/restore",
        {"key": replaced["identity"], "source": "upload"},
        status=404,
    )
    assert answer["error"]["code"] == "not_found"
    answer = await admin.post(
        "/api/admin/backups/restore",
        {
            "key": replaced["identity"],
            "source": "webdav",
            "name": "callbox-x-20260101T000000Z.tar.age",
        },
        status=404,
    )
    await admin.post("/api/admin/backups/run", status=202)
    answer = await admin.post("/api/admin/backups/run", status=409)
    assert answer["error"]["code"] == "busy"
    assert (await wait_job(admin))["job"]["state"] == "done"
    assert any(p.name.endswith(".tar.age") for p in elsewhere.iterdir())
