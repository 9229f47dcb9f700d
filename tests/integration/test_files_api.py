"""Pictures and files in chats over real HTTP: uploads, reads, limits and who may read."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import ExifTags, Image

from appliance.core import backup_archive, files
from appliance.core.ratelimit import RateLimiter
from tests import file_samples as samples
from tests.conftest import Agent, Running, Visitor, receive_until


async def _active(running: Running, conv_id: str) -> None:
    for _ in range(100):
        conv = await running.box.chats.get(conv_id)
        if conv is not None and conv.status == "active":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the conversation was not assigned")


async def _chat(make_agent: Any, make_visitor: Any) -> tuple[Agent, Visitor, str]:
    agent = await make_agent()
    visitor = await make_visitor()
    conv = await visitor.open(name="李雷")
    await _active(agent.running, conv["id"])
    return agent, visitor, conv["id"]


async def _upload(
    http: aiohttp.ClientSession,
    url: str,
    data: bytes,
    name: str,
    *,
    headers: dict[str, str],
    content_type: str = "application/octet-stream",
    client_msg_id: str | None = None,
) -> tuple[int, dict[str, Any]]:
    params = {"client_msg_id": client_msg_id or uuid.uuid4().hex, "name": name}
    async with http.post(
        url, params=params, data=io.BytesIO(data), headers={**headers, "Content-Type": content_type}
    ) as r:
        return r.status, await r.json()


def _visitor_url(visitor: Visitor, conv_id: str, tail: str = "") -> str:
    return visitor.running.url(f"/api/visitor/conversations/{conv_id}/files{tail}")


def _console_url(agent: Agent, conv_id: str, tail: str = "") -> str:
    return agent.running.url(f"/api/console/conversations/{conv_id}/files{tail}")


def _kept(data_dir: Path) -> list[str]:
    folder = data_dir / files.FOLDER
    if not folder.exists():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


async def test_a_visitor_sends_a_photo_the_agent_sees_it_without_its_gps_position(
    running, make_agent, make_visitor
):
    agent, visitor, conv_id = await _chat(make_agent, make_visitor)
    agent_ws = await agent.ws()
    await agent_ws.send_json({"type": "join", "conversation_id": conv_id, "after_seq": 0})
    photo = samples.jpeg_with_gps(1200, 900)
    status, body = await _upload(
        visitor.http,
        _visitor_url(visitor, conv_id),
        photo,
        "铭牌.jpg",
        headers=visitor.auth,
        content_type="image/jpeg",
    )
    assert status == 201, body
    message = body["message"]
    assert message["body"] == "铭牌.jpg" and message["sender_type"] == "visitor"
    file = message["file"]
    assert (file["kind"], file["type"], file["name"]) == ("image", "image/jpeg", "铭牌.jpg")
    assert (file["width"], file["height"], file["thumb"]) == (1200, 900, True)

    live = await receive_until(
        agent_ws, lambda f: f["type"] == "message" and f["message"].get("file") is not None
    )
    assert live["message"]["file"] == file
    await agent_ws.close()

    for http, url, auth in (
        (visitor.http, _visitor_url(visitor, conv_id, f"/{file['id']}"), visitor.auth),
        (agent.http, _console_url(agent, conv_id, f"/{file['id']}"), {}),
    ):
        async with http.get(url, headers=auth) as r:
            assert r.status == 200
            stored = await r.read()
            assert r.headers["Content-Type"] == "image/jpeg"
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["Content-Disposition"].startswith('inline; filename="__.jpg"')
            assert "filename*=UTF-8''%E9%93%AD%E7%89%8C.jpg" in r.headers["Content-Disposition"]
            assert "sandbox" in r.headers["Content-Security-Policy"]
        assert len(stored) == file["size"]
        picture = Image.open(io.BytesIO(stored))
        assert not picture.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert samples.SECRET not in stored and b"TestPhone" not in stored
        async with http.get(url, params={"thumb": "1"}, headers=auth) as r:
            assert r.headers["Content-Type"] == "image/webp"
            assert max(Image.open(io.BytesIO(await r.read())).size) == 480
        async with http.get(url, params={"download": "1"}, headers=auth) as r:
            assert r.headers["Content-Disposition"].startswith("attachment;")

    # In the data folder, named by content: the picture and its thumbnail, nothing half done.
    kept = _kept(running.box.settings.data_dir)
    assert len(kept) == 2 and all(len(k) == 67 and k[2] == "/" for k in kept)
    # ...and in the history the console and the visitor read.
    history = await agent.get(f"/api/console/conversations/{conv_id}/messages")
    assert [m["file"]["id"] for m in history["messages"] if "file" in m] == [file["id"]]
    status, mine, _ = await visitor.request("GET", f"/api/visitor/conversations/{conv_id}/messages")
    assert [m["file"] for m in mine["messages"] if "file" in m] == [file]


async def test_a_stranger_gets_404_for_a_file_of_someone_elses_chat(
    running, make_agent, make_visitor
):
    agent, visitor, conv_id = await _chat(make_agent, make_visitor)
    status, body = await _upload(
        visitor.http,
        _visitor_url(visitor, conv_id),
        samples.pdf(),
        "合同.pdf",
        headers=visitor.auth,
    )
    assert status == 201
    file_id = body["message"]["file"]["id"]
    stranger = await make_visitor()
    other_conv = (await stranger.open())["id"]
    for conv in (conv_id, other_conv):  # with the real conversation, or with their own
        async with stranger.http.get(
            _visitor_url(stranger, conv, f"/{file_id}"), headers=stranger.auth
        ) as r:
            assert r.status == 404
            assert (await r.json())["error"]["code"] == "not_found"
    async with stranger.http.get(_visitor_url(visitor, conv_id, f"/{file_id}")) as r:
        assert r.status == 401  # no token at all
    colleague = await make_agent(status="away")
    async with colleague.http.get(_console_url(colleague, conv_id, f"/{file_id}")) as r:
        assert r.status == 404
    boss = await make_agent(role="supervisor", status="away")
    async with boss.http.get(_console_url(boss, conv_id, f"/{file_id}")) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "application/pdf"
        assert r.headers["Content-Disposition"].startswith("attachment;")
        assert await r.read() == samples.pdf()
    async with agent.http.get(_console_url(agent, conv_id, "/f_nosuchfile")) as r:
        assert r.status == 404


@pytest.mark.parametrize(
    ("data", "name", "declared", "status", "code"),
    [
        (samples.html_page(), "photo.png", "image/png", 422, "type_mismatch"),
        (samples.exe(), "photo.png", "image/png", 422, "type_mismatch"),
        (samples.pdf(), "scan.pdf", "image/jpeg", 422, "type_mismatch"),
        (samples.plain_zip(), "report.docx", "", 422, "type_mismatch"),
        (samples.exe(), "setup.exe", "application/x-msdownload", 415, "type_not_allowed"),
        (b"just some text\n", "notes.txt", "text/plain", 415, "type_not_allowed"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "broken.png", "image/png", 422, "image_invalid"),
        (b"", "empty.pdf", "application/pdf", 422, "file_empty"),
    ],
    # Named, not derived from the bytes: the samples hold times, and every test worker
    # must collect the same ids.
    ids=[
        "html-as-png",
        "exe-as-png",
        "pdf-as-jpeg",
        "zip-as-docx",
        "exe",
        "text",
        "broken-png",
        "empty",
    ],
)
async def test_what_the_box_refuses_leaves_nothing_behind(
    running, make_agent, make_visitor, data, name, declared, status, code
):
    _, visitor, conv_id = await _chat(make_agent, make_visitor)
    got, body = await _upload(
        visitor.http,
        _visitor_url(visitor, conv_id),
        data,
        name,
        headers=visitor.auth,
        content_type=declared or "application/octet-stream",
    )
    assert (got, body["error"]["code"]) == (status, code)
    assert _kept(running.box.settings.data_dir) == []
    history = await running.box.chats.messages_after(conv_id, 0)
    assert [m for m in history if m.sender_type == "visitor"] == []


async def test_office_documents_and_zips_are_taken_and_named_for_what_they_are(
    running, make_agent, make_visitor
):
    _, visitor, conv_id = await _chat(make_agent, make_visitor)
    sent = {
        "方案.docx": (samples.docx(), "office", "方案.docx"),
        "表格": (samples.xlsx(), "office", "表格.xlsx"),
        "logs.zip": (samples.plain_zip(), "zip", "logs.zip"),
        "page.html": (samples.pdf(), "pdf", "page.html.pdf"),  # never saved as .html
    }
    for name, (data, kind, kept) in sent.items():
        status, body = await _upload(
            visitor.http, _visitor_url(visitor, conv_id), data, name, headers=visitor.auth
        )
        assert status == 201, body
        assert (body["message"]["file"]["kind"], body["message"]["file"]["name"]) == (kind, kept)


async def test_a_retry_gets_the_first_upload_and_stores_nothing_twice(
    running, make_agent, make_visitor
):
    _, visitor, conv_id = await _chat(make_agent, make_visitor)
    url = _visitor_url(visitor, conv_id)
    first = await _upload(
        visitor.http, url, samples.pdf(), "a.pdf", headers=visitor.auth, client_msg_id="up-1"
    )
    again = await _upload(
        visitor.http, url, samples.pdf(), "a.pdf", headers=visitor.auth, client_msg_id="up-1"
    )
    assert (first[0], again[0]) == (201, 200)
    assert first[1]["message"] == again[1]["message"]
    # The same bytes in another message: a second row, one file on disk.
    other = await _upload(visitor.http, url, samples.pdf(), "b.pdf", headers=visitor.auth)
    assert other[1]["message"]["file"]["id"] != first[1]["message"]["file"]["id"]
    assert len(_kept(running.box.settings.data_dir)) == 1
    counts = await running.box.files.counts([conv_id])
    assert counts == {conv_id: 2}


async def test_an_upload_cut_by_the_network_leaves_no_message_and_no_file(
    running, make_agent, make_visitor
):
    _, visitor, conv_id = await _chat(make_agent, make_visitor)
    host, port = running.server.host, running.server.port
    _, writer = await asyncio.open_connection(host, port)
    path = f"/api/visitor/conversations/{conv_id}/files?client_msg_id=cut&name=big.pdf"
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {visitor.token}\r\nContent-Type: application/pdf\r\n"
            f"Content-Length: {2 * 1024 * 1024}\r\n\r\n"
        ).encode()
        + samples.pdf()
        + bytes(300_000)
    )
    await writer.drain()
    for _ in range(100):  # the box has begun receiving it
        parts = list((running.box.files.folder).glob(".part-*"))
        if parts:
            break
        await asyncio.sleep(0.02)
    assert parts, "the upload never started"
    writer.close()  # the network goes away mid-upload
    await writer.wait_closed()
    for _ in range(100):
        if not list(running.box.files.folder.glob(".part-*")):
            break
        await asyncio.sleep(0.02)
    assert _kept(running.box.settings.data_dir) == []
    assert await running.box.chats.sent(conv_id, _as_visitor(visitor), "cut") is None
    # Sent again whole under the same id, it goes through once.
    status, _ = await _upload(
        visitor.http,
        _visitor_url(visitor, conv_id),
        samples.pdf(),
        "big.pdf",
        headers=visitor.auth,
        client_msg_id="cut",
    )
    assert status == 201


def _as_visitor(visitor: Visitor) -> Any:
    from appliance.core.actors import Visitor as VisitorActor

    return VisitorActor(visitor.visitor_id)


async def test_the_admin_sets_the_size_and_kinds_and_the_box_holds_to_them(
    running, make_agent, make_visitor
):
    admin = await make_agent(role="admin", status="away")
    defaults = await admin.get("/api/admin/files")
    assert (defaults["max_mb"], defaults["kinds"]) == (10, ["image", "pdf", "office", "zip"])
    assert "docx" in defaults["extensions"] and "txt" not in defaults["extensions"]

    for bad in (
        {"max_mb": 0},
        {"max_mb": 101},
        {"kinds": ["exe"]},
        {"colour": "red"},
        {"max_mb": "5"},
    ):
        await admin.call("PUT", "/api/admin/files", bad, status=422)
    agent = await make_agent(status="away")
    await agent.call("PUT", "/api/admin/files", {"max_mb": 1}, status=403)

    saved = await admin.call("PUT", "/api/admin/files", {"max_mb": 1, "kinds": ["image", "text"]})
    assert (saved["max_mb"], saved["max_bytes"], saved["kinds"]) == (
        1,
        1024 * 1024,
        ["image", "text"],
    )
    async with admin.http.get(running.url("/api/visitor/files/limits")) as r:
        assert (await r.json()) == saved
    entries = await admin.get("/api/admin/audit")
    change = next(e for e in entries["entries"] if e["action"] == "settings.files")
    assert change["detail"] == {
        "max_mb": [10, 1],
        "kinds": [["image", "pdf", "office", "zip"], ["image", "text"]],
    }

    _, visitor, conv_id = await _chat(make_agent, make_visitor)
    url = _visitor_url(visitor, conv_id)
    status, body = await _upload(visitor.http, url, samples.pdf(), "a.pdf", headers=visitor.auth)
    assert (status, body["error"]["code"]) == (415, "type_not_allowed")
    status, body = await _upload(visitor.http, url, b"ok\n", "a.txt", headers=visitor.auth)
    assert status == 201
    big = samples.pdf() + bytes(1024 * 1024)
    status, body = await _upload(visitor.http, url, big, "big.jpg", headers=visitor.auth)
    assert (status, body["error"]["code"]) == (413, "file_too_large")  # by Content-Length

    async def chunks():  # no Content-Length: refused as it streams past the limit
        for _ in range(20):
            yield bytes(100_000)

    async with visitor.http.post(
        url,
        params={"client_msg_id": "stream", "name": "x.png"},
        data=chunks(),
        headers={**visitor.auth, "Content-Type": "image/png"},
    ) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (413, "file_too_large")
    assert [k for k in _kept(running.box.settings.data_dir)] != []  # the text file only
    assert not list(running.box.files.folder.glob(".part-*"))

    # The limits outlive a restart of the box.
    await running.box.files.open()
    assert running.box.files.limits.max_mb == 1


async def test_uploads_are_rate_limited_and_bounded(running, make_agent, make_visitor, monkeypatch):
    monkeypatch.setattr(running.box.files, "_visitors", RateLimiter(0.01, 2))
    _, visitor, conv_id = await _chat(make_agent, make_visitor)
    url = _visitor_url(visitor, conv_id)
    statuses = [
        (await _upload(visitor.http, url, samples.pdf(), "a.pdf", headers=visitor.auth))[0]
        for _ in range(3)
    ]
    assert statuses == [201, 201, 429]


async def test_agents_send_files_only_into_chats_they_are_in(running, make_agent, make_visitor):
    agent, visitor, conv_id = await _chat(make_agent, make_visitor)
    headers = {"X-CSRF-Token": agent.csrf}
    status, body = await _upload(
        agent.http,
        _console_url(agent, conv_id),
        samples.small_png(),
        "截图.png",
        headers=headers,
        content_type="image/png",
    )
    assert status == 201, body
    assert body["message"]["sender_type"] == "agent"
    assert body["message"]["file"]["thumb"] is False  # small: shown as it is
    file_id = body["message"]["file"]["id"]
    async with visitor.http.get(
        _visitor_url(visitor, conv_id, f"/{file_id}"), headers=visitor.auth
    ) as r:
        assert (r.status, await r.read()) == (200, samples.small_png())  # small: kept as drawn
    boss = await make_agent(role="supervisor", status="away")
    status, body = await _upload(
        boss.http,
        _console_url(boss, conv_id),
        samples.small_png(),
        "x.png",
        headers={"X-CSRF-Token": boss.csrf},
    )
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await _upload(
        agent.http, _console_url(agent, conv_id), samples.small_png(), "x.png", headers={}
    )
    assert (status, body["error"]["code"]) == (403, "csrf")
    await agent.post(f"/api/console/conversations/{conv_id}/close")
    status, body = await _upload(
        visitor.http,
        _visitor_url(visitor, conv_id),
        samples.pdf(),
        "late.pdf",
        headers=visitor.auth,
    )
    assert (status, body["error"]["code"]) == (409, "conflict")


async def test_transcripts_and_history_show_the_files(running, make_agent, make_visitor):
    agent, visitor, conv_id = await _chat(make_agent, make_visitor)
    url = _visitor_url(visitor, conv_id)
    picture = await _upload(
        visitor.http, url, samples.jpeg_with_gps(), "p.jpg", headers=visitor.auth
    )
    document = await _upload(visitor.http, url, samples.pdf(), "合同.pdf", headers=visitor.auth)
    await agent.post(f"/api/console/conversations/{conv_id}/close")
    async with agent.http.get(running.url(f"/console/history/{conv_id}")) as r:
        page = await r.text()
    picture_id = picture[1]["message"]["file"]["id"]
    document_id = document[1]["message"]["file"]["id"]
    assert f'/api/console/conversations/{conv_id}/files/{picture_id}?thumb=1"' in page
    assert f'/api/console/conversations/{conv_id}/files/{document_id}?download=1"' in page
    assert "合同.pdf" in page
    async with agent.http.get(running.url("/console/history")) as r:
        listing = await r.text()
    assert 'data-cb="files-count"' in listing and "2 个文件" in listing


async def test_shortcodes_become_emoji_as_messages_are_stored(running, make_agent, make_visitor):
    agent, visitor, conv_id = await _chat(make_agent, make_visitor)
    status, body, _ = await visitor.request(
        "POST",
        f"/api/visitor/conversations/{conv_id}/messages",
        {"client_msg_id": "e1", "body": "好的:+1: 明天12:30:00见 :smile:"},
    )
    assert status == 201
    assert body["message"]["body"] == "好的\U0001f44d 明天12:30:00见 \U0001f604"
    reply = await agent.post(
        f"/api/console/conversations/{conv_id}/messages",
        {"client_msg_id": "a1", "body": ":pray: 谢谢"},
        status=201,
    )
    assert reply["message"]["body"] == "\U0001f64f 谢谢"


async def test_a_send_frame_cannot_attach_a_file(running, make_agent, make_visitor):
    agent, visitor, conv_id = await _chat(make_agent, make_visitor)
    status, body = await _upload(
        agent.http,
        _console_url(agent, conv_id),
        samples.pdf(),
        "a.pdf",
        headers={"X-CSRF-Token": agent.csrf},
    )
    assert status == 201
    forged = body["message"]["file"]
    ws = await visitor.ws()
    await ws.send_json({"type": "join", "conversation_id": conv_id, "after_seq": 0})
    for frame in (
        {
            "type": "send",
            "conversation_id": conv_id,
            "client_msg_id": "f1",
            "body": "x",
            "file": forged,
        },
        {
            "type": "send",
            "conversation_id": conv_id,
            "client_msg_id": "f2",
            "body": "y",
            "file": "f_" + "A" * 5000,
        },
    ):
        await ws.send_json(frame)
        ack = await receive_until(ws, lambda f: f["type"] == "ack")
        assert "file" not in ack["message"], ack
    await ws.send_str(
        json.dumps(
            {
                "type": "send",
                "conversation_id": conv_id,
                "client_msg_id": "f3",
                "body": 5,
                "file": forged,
            }
        )
    )
    refused = await receive_until(ws, lambda f: f["type"] == "error")
    assert refused["code"] == "bad_frame"
    await ws.close()
    stored = await running.box.chats.messages_after(conv_id, 0)
    assert [m.body for m in stored if m.file is not None] == ["a.pdf"]


async def test_backups_carry_the_files_and_leave_half_received_ones_out(
    running, make_agent, make_visitor
):
    _, visitor, conv_id = await _chat(make_agent, make_visitor)
    await _upload(
        visitor.http, _visitor_url(visitor, conv_id), samples.pdf(), "a.pdf", headers=visitor.auth
    )
    data_dir = running.box.settings.data_dir
    (running.box.files.folder / ".part-crashed").write_bytes(b"half")
    names = [name for _, name in backup_archive._included(data_dir, set())]
    uploads = [n for n in names if n.startswith("uploads/")]
    assert uploads == [f"uploads/{k}" for k in _kept(data_dir) if "/" in k]
    await running.box.files.open()  # the next start sweeps what a crash left
    assert not (running.box.files.folder / ".part-crashed").exists()


async def test_the_lazy_widget_parts_are_served_cross_origin(running):
    async with aiohttp.ClientSession() as http:
        for name in ("widget-files.js", "emoji-picker.js", "image-viewer.js"):
            async with http.get(running.url(f"/api/visitor/assets/{name}")) as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/javascript")
                assert r.headers["Access-Control-Allow-Origin"] == "*"
                assert "export function" in await r.text()
        for name in ("console.js", "..%2Fsecret.key", "widget-files.js.map"):
            async with http.get(running.url(f"/api/visitor/assets/{name}")) as r:
                assert r.status == 404
