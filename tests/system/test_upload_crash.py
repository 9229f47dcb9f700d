"""The real `appliance` command: an acknowledged upload survives SIGKILL, a cut one
leaves nothing (mirrors test_appliance_process's test for messages)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import uuid

import aiohttp

from tests import file_samples as samples
from tests.system.processes import ApplianceProcess


async def _visitor(http: aiohttp.ClientSession, box: ApplianceProcess) -> tuple[str, str]:
    async with http.post(box.url("/api/visitor/session"), json={}) as r:
        token = (await r.json())["token"]
    async with http.post(
        box.url("/api/visitor/conversations"),
        json={"name": "durable"},
        headers={"Authorization": f"Bearer {token}"},
    ) as r:
        conv = (await r.json())["conversation"]
    return token, conv["id"]


async def _upload(
    http: aiohttp.ClientSession, box: ApplianceProcess, token: str, conv_id: str, data: bytes
) -> tuple[str, dict[str, object]]:
    client_msg_id = uuid.uuid4().hex
    async with http.post(
        box.url(f"/api/visitor/conversations/{conv_id}/files"),
        params={"client_msg_id": client_msg_id, "name": "doc.pdf"},
        data=io.BytesIO(data),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
    ) as r:
        body = await r.json()
        assert r.status == 201, body
    return client_msg_id, body["message"]


async def _trickle(box: ApplianceProcess, token: str, conv_id: str) -> asyncio.StreamWriter:
    """Begin an upload that will still be going when the box dies."""
    _, writer = await asyncio.open_connection("127.0.0.1", box.port)
    path = f"/api/visitor/conversations/{conv_id}/files?client_msg_id=in-flight&name=cut.pdf"
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{box.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/pdf\r\n"
            f"Content-Length: {5 * 1024 * 1024}\r\n\r\n"
        ).encode()
        + samples.pdf()
        + bytes(200_000)
    )
    await writer.drain()
    return writer


async def test_acknowledged_uploads_survive_sigkill_and_cut_ones_leave_nothing(tmp_path):
    data = tmp_path / "data"
    box = await asyncio.to_thread(ApplianceProcess, data)
    acked: dict[str, dict[str, object]] = {}
    sent: dict[str, bytes] = {}
    try:
        async with aiohttp.ClientSession() as http:
            chats = [await _visitor(http, box) for _ in range(3)]
            cut_token, cut_conv = await _visitor(http, box)
            writer = await _trickle(box, cut_token, cut_conv)
            for _ in range(2):
                # Every visitor sends two files at once; each answer comes after its commit.
                jobs = []
                for token, conv_id in chats:
                    for _ in range(2):
                        body = samples.pdf() + os.urandom(64 * 1024)
                        jobs.append((body, _upload(http, box, token, conv_id, body)))
                results = await asyncio.gather(*(job for _, job in jobs))
                for (body, _), (client_msg_id, message) in zip(jobs, results, strict=True):
                    acked[client_msg_id] = message
                    sent[client_msg_id] = body
            # The instant the last acknowledgement is in, pull the plug.
            await asyncio.to_thread(box.kill)
            writer.close()
    finally:
        await asyncio.to_thread(box.kill)

    box = await asyncio.to_thread(ApplianceProcess, data)
    try:
        found: dict[str, dict[str, object]] = {}
        async with aiohttp.ClientSession() as http:
            for token, conv_id in [*chats, (cut_token, cut_conv)]:
                auth = {"Authorization": f"Bearer {token}"}
                async with http.get(
                    box.url(f"/api/visitor/conversations/{conv_id}/messages?after_seq=0"),
                    headers=auth,
                ) as r:
                    assert r.status == 200
                    messages = [m for m in (await r.json())["messages"] if m["client_msg_id"]]
                for m in messages:
                    assert m["client_msg_id"] not in found, "stored twice"
                    found[m["client_msg_id"]] = m
                    file_id = m["file"]["id"]
                    async with http.get(
                        box.url(f"/api/visitor/conversations/{conv_id}/files/{file_id}"),
                        headers=auth,
                    ) as r:
                        assert r.status == 200
                        stored = await r.read()
                    expected = sent[m["client_msg_id"]]
                    assert hashlib.sha256(stored).digest() == hashlib.sha256(expected).digest()
        assert found == acked
        assert len(acked) == 12
        assert "in-flight" not in found  # the cut upload: no message...
        assert not list((data / "uploads").glob(".part-*"))  # ...and no half file
        kept = [p for p in (data / "uploads").rglob("*") if p.is_file()]
        assert len(kept) == 12
    finally:
        assert await asyncio.to_thread(box.stop) == 0
