"""The real `appliance` command: durability across SIGKILL, user CLI, first start."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp

from tests.conftest import csrf_in
from tests.system.processes import ApplianceProcess, cli

PASSWORD = "correct horse battery"


async def _visitor(http: aiohttp.ClientSession, box: ApplianceProcess) -> tuple[str, str]:
    async with http.post(box.url("/api/visitor/session"), json={}) as r:
        data = await r.json()
    token = data["token"]
    async with http.post(
        box.url("/api/visitor/conversations"),
        json={"name": "durable"},
        headers={"Authorization": f"Bearer {token}"},
    ) as r:
        conv = (await r.json())["conversation"]
    return token, conv["id"]


async def test_acknowledged_messages_survive_sigkill(tmp_path):
    data = tmp_path / "data"
    box = await asyncio.to_thread(ApplianceProcess, data)
    acked: dict[str, int] = {}
    try:
        async with aiohttp.ClientSession() as http:
            tokens = [await _visitor(http, box) for _ in range(4)]
            sockets = []
            for token, conv_id in tokens:
                ws = await http.ws_connect(f"ws://127.0.0.1:{box.port}/api/visitor/ws")
                await ws.send_json({"type": "auth", "token": token})
                assert (await ws.receive_json(timeout=5))["type"] == "ready"
                sockets.append((ws, conv_id))
            # Every socket sends a burst without waiting; acks come back as batches commit.
            pending = 0
            for ws, conv_id in sockets:
                for _ in range(8):
                    await ws.send_json(
                        {
                            "type": "send",
                            "conversation_id": conv_id,
                            "client_msg_id": uuid.uuid4().hex,
                            "body": "keep me",
                        }
                    )
                    pending += 1
            while len(acked) < pending:
                for ws, _ in sockets:
                    try:
                        frame = await ws.receive_json(timeout=0.05)
                    except TimeoutError:
                        continue
                    if frame["type"] == "ack":
                        acked[frame["client_msg_id"]] = frame["message"]["seq"]
                    assert frame["type"] != "error", frame
            # The instant the last ack is in, pull the plug.
            await asyncio.to_thread(box.kill)
            for ws, _ in sockets:
                await ws.close()
    finally:
        await asyncio.to_thread(box.kill)

    box = await asyncio.to_thread(ApplianceProcess, data)
    try:
        found: dict[str, int] = {}
        async with aiohttp.ClientSession() as http:
            for token, conv_id in tokens:
                async with http.get(
                    box.url(f"/api/visitor/conversations/{conv_id}/messages?after_seq=0"),
                    headers={"Authorization": f"Bearer {token}"},
                ) as r:
                    assert r.status == 200
                    for m in (await r.json())["messages"]:
                        if m["client_msg_id"]:
                            assert m["client_msg_id"] not in found, "stored twice"
                            found[m["client_msg_id"]] = m["seq"]
        assert found == acked
        assert len(acked) == 32
    finally:
        assert await asyncio.to_thread(box.stop) == 0


async def test_user_commands_and_first_start_hint(tmp_path):
    data = tmp_path / "data"
    box = await asyncio.to_thread(ApplianceProcess, data)
    try:
        text = "".join(box.output)
        assert "no administrator yet" in text
        assert "/setup?token=" in text
        assert "appliance user add --role admin" in text
    finally:
        assert await asyncio.to_thread(box.stop) == 0

    added = await asyncio.to_thread(
        cli,
        data,
        "user",
        "add",
        "it-admin",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert "created admin 'it-admin'" in added.stdout
    short = await asyncio.to_thread(
        cli, data, "user", "add", "x", "--password-stdin", stdin="short\n"
    )
    assert short.returncode == 1 and "at least 8" in short.stderr
    dup = await asyncio.to_thread(
        cli, data, "user", "add", "it-admin", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert dup.returncode == 1 and "taken" in dup.stderr
    listed = await asyncio.to_thread(cli, data, "user", "list")
    assert "it-admin" in listed.stdout and "admin" in listed.stdout
    # The only admin cannot be disabled: the box would have no one to run it.
    last = await asyncio.to_thread(cli, data, "user", "disable", "it-admin")
    assert last.returncode == 1 and "at least one enabled admin" in last.stderr
    agent = await asyncio.to_thread(
        cli, data, "user", "add", "li", "--role", "agent", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert agent.returncode == 0, agent.stderr
    disabled = await asyncio.to_thread(cli, data, "user", "disable", "li")
    assert disabled.returncode == 0
    listed = await asyncio.to_thread(cli, data, "user", "list")
    assert "disabled" in listed.stdout
    await asyncio.to_thread(cli, data, "user", "enable", "li")

    box = await asyncio.to_thread(ApplianceProcess, data)
    try:
        assert "no administrator yet" not in "".join(box.output)
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for a bare IP address
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(box.url("/login")) as page:
                html = await page.text()
            token = csrf_in(html)
            async with http.post(
                box.url("/login"),
                data={"username": "it-admin", "password": PASSWORD, "csrf_token": token},
                allow_redirects=False,
            ) as r:
                assert r.status == 302
    finally:
        assert await asyncio.to_thread(box.stop) == 0
    assert (data / "secret.key").stat().st_mode & 0o077 == 0


async def test_bad_setting_fails_at_start_naming_it(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "callbox.toml").write_text('port = "not a port"\n')
    result = await asyncio.to_thread(cli, data, "run")
    assert result.returncode == 2
    assert "port" in result.stderr


async def test_a_taken_port_fails_fast_and_releases_the_data_dir(tmp_path):
    import socket

    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await asyncio.to_thread(
            cli, data, "run", "--host", "127.0.0.1", "--port", str(port), "--no-mdns"
        )
    assert result.returncode == 1
    assert "address already in use" in result.stderr.lower()
