"""A full disk (a real, small tmpfs): clear errors, nothing acknowledged lost, and the
box writes again once there is space. Needs root for the mount, like the network suite."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.core import db as db_module
from tests.conftest import Agent, Visitor, helper_up, receive_until

_DISK = "6m"  # size of the test's filesystem: migrations fit, a few hundred messages do not


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of its own, unmounted afterwards whatever happened."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={_DISK}", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of the filesystem; return the filler to delete later."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):  # big writes, then the last page's bytes
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


async def test_a_full_disk_gives_clear_errors_and_loses_nothing(
    make_app, http_sessions, small_disk, monkeypatch
):
    # With checkpoints beside the writer (core/db.py), a checkpoint that completes on the
    # full disk lets the writer reuse the WAL, so a write refused a moment ago may go
    # through: good for the box, a race for this test. Here the writer checkpoints
    # itself, as SQLite does by default, and the disk stays full until the test frees it.
    monkeypatch.setattr(db_module, "CHECKPOINT_APART", False)
    running = await make_app(
        data_dir=small_disk / "data", visitor_msg_burst=10_000, ip_msg_burst=10_000
    )
    user = await running.box.accounts.create_user("wang", "correct horse battery", "admin")
    agent = Agent(running, http_sessions(), user.id)
    assert (await agent.login("wang")).status == 302
    await agent.post("/api/console/presence", {"status": "online"})
    visitor = Visitor(running, http_sessions())
    await visitor.start()
    conv = await visitor.open()
    await helper_up(running.box, quiet=False)  # the helper stores the chat lines
    path = f"/api/visitor/conversations/{conv['id']}/messages"
    health = await agent.get("/api/admin/health")
    # A 6 MiB disk is low on space (disk_low) from the start, but writes reach it.
    assert health["storage"]["ok"] is True and health["disk"]["low"] is True
    assert health["warnings"] == ["disk_low"]

    filler = fill(small_disk)
    acked: list[str] = []
    refused = None
    for i in range(2000):  # the WAL may still have room for some: write until refused
        status, data, response = await visitor.request(
            "POST", path, {"client_msg_id": f"m{i}", "body": "满" * 1300}
        )
        if status == 201:
            acked.append(f"m{i}")
            continue
        refused = (status, data, response)
        break
    assert refused is not None, "the full disk never refused a write"
    status, data, response = refused
    assert status == 503 and data["error"]["code"] == "storage_full"
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Retry-After"]) >= 1 and data["error"]["retry_after"] >= 1

    # A socket gets an error frame with the code, and stays open.
    ws = await visitor.ws()
    await ws.send_json(
        {"type": "send", "conversation_id": conv["id"], "client_msg_id": "w1", "body": "满" * 1300}
    )
    err = await receive_until(ws, lambda f: f["type"] in ("error", "ack"))
    assert err["type"] == "error" and err["code"] == "storage_full" and err["ref"] == "w1"
    await ws.send_json({"type": "ping"})
    assert (await receive_until(ws, lambda f: f["type"] == "pong"))["type"] == "pong"

    health = await agent.get("/api/admin/health")
    assert health["status"] == "degraded" and health["storage"]["ok"] is False
    assert health["warnings"] == ["storage_failing", "disk_low"]
    assert health["storage"]["failures"] >= 2 and health["storage"]["since"]
    async with agent.http.get(running.url("/admin")) as page:
        assert 'data-cb="storage-full"' in await page.text()

    # Space again: the same socket's resend goes through, and nothing acknowledged is lost.
    filler.unlink()
    await ws.send_json(
        {"type": "send", "conversation_id": conv["id"], "client_msg_id": "w1", "body": "好了"}
    )
    ack = await receive_until(ws, lambda f: f["type"] in ("error", "ack"))
    assert ack["type"] == "ack", ack
    await ws.close()
    assert (await agent.get("/api/admin/health"))["storage"]["ok"] is True
    status, data, _ = await visitor.request("GET", f"{path}?after_seq=0")
    stored = {m["client_msg_id"] for m in data["messages"] if m.get("client_msg_id")}
    assert set(acked) <= stored and "w1" in stored
    # The helper met the full disk itself and told it as the disk's (not a lost helper).
    assert running.box.db.stats.away >= 1 and running.box.db.helper_lost == 0
    # The background work that hit the full disk (routing passes) lives on: a new
    # chat is still given to the agent.
    console = await agent.ws()
    late = Visitor(running, http_sessions())
    await late.start()
    opened = await late.open()
    given = await receive_until(
        console,
        lambda f: (
            f["type"] == "conversation"
            and f["conversation"]["id"] == opened["id"]
            and f["conversation"]["status"] == "active"
        ),
        timeout=10,
    )
    assert given["conversation"]["agent"]["id"] == user.id
    await console.close()
