"""Knowledge-base tools over real HTTP: suggestions from a visitor's sentences, a
resolved ticket made a draft article, and articles imported and exported as
Markdown in a zip (bounded, idempotent, every version recorded, progress readable)."""

from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Any

from appliance.webui.keys import BOX_PROFILE
from tests.conftest import Agent

_KB = "/api/console/kb"


async def _publish(author: Agent, reviewer: Agent, title: str, body: str, audience: str) -> int:
    made = await author.post(
        f"{_KB}/articles", {"title": title, "body": body, "audience": audience}, status=201
    )
    article_id = int(made["article"]["id"])
    await author.post(f"{_KB}/articles/{article_id}/move", {"to": "review"})
    await reviewer.post(f"{_KB}/articles/{article_id}/move", {"to": "published"})
    return article_id


async def _post_zip(agent: Agent, data: bytes) -> tuple[int, Any]:
    headers = {"X-CSRF-Token": agent.csrf, "Content-Type": "application/octet-stream"}
    url = agent.running.url(f"{_KB}/import")
    async with agent.http.post(url, data=io.BytesIO(data), headers=headers) as response:
        return response.status, await response.json()


async def _finished(agent: Agent) -> dict[str, Any]:
    for _ in range(200):
        job = (await agent.get(f"{_KB}/import"))["job"]
        if job["state"] != "running":
            return job  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


class _GbkName(zipfile.ZipInfo):
    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def _zip(files: dict[str, str | bytes], *, utf8_names: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            data = text.encode() if isinstance(text, str) else text
            if utf8_names:
                zf.writestr(name, data)
            else:  # as a Chinese Windows tool writes it: GBK bytes, no UTF-8 flag
                info = _GbkName(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
    return buffer.getvalue()


async def test_suggestions_come_from_the_visitors_sentences(make_agent, running):
    boss = await make_agent("boss", role="supervisor", status=None)
    agent = await make_agent("xiaowang", status=None)
    broadband = await _publish(
        boss, boss, "宽带总是掉线怎么办", "先重启光猫。\n\n再检查网线。", "public"
    )
    internal = await _publish(
        boss, boss, "宽带报修内部流程", "工程师上门前先核对地址。", "internal"
    )
    await _publish(boss, boss, "发票抬头修改", "七天内可以修改发票抬头。", "public")
    draft = await boss.post(
        f"{_KB}/articles", {"title": "宽带草稿", "body": "宽带掉线草稿"}, status=201
    )

    found = await agent.get(f"{_KB}/suggest?text=你好，我家宽带从昨天开始一直掉线")
    ids = [s["article_id"] for s in found["suggestions"]]
    assert ids[0] == broadband and internal in ids  # the one holding more of the words first
    assert draft["article"]["id"] not in ids  # drafts are never suggested
    first = found["suggestions"][0]
    assert first["summary"] == "先重启光猫。" and first["audience"] == "public"
    assert [p["text"] for p in first["snippet"] if p["mark"]]
    by_id = {s["article_id"]: s for s in found["suggestions"]}
    assert by_id[internal]["url"] == ""  # an internal article has no page for visitors
    assert first["url"] == ""  # no public host set yet: no page to link to
    await running.server.app[BOX_PROFILE].update({"public_host": "chat.example.com"})
    found = await agent.get(f"{_KB}/suggest?text=宽带掉线")
    by_id = {s["article_id"]: s for s in found["suggestions"]}
    assert by_id[broadband]["url"] == f"https://chat.example.com/help/a/{broadband}"
    assert by_id[internal]["url"] == ""
    # Words no article holds, punctuation only: nothing, and no error.
    assert (await agent.get(f"{_KB}/suggest?text=今天天气不错"))["suggestions"] == []
    assert (await agent.get(f"{_KB}/suggest?text=？！……"))["suggestions"] == []
    await agent.get(f"{_KB}/suggest?text=" + "宽" * 601, status=422)
    await agent.get(f"{_KB}/suggest?text=宽带&limit=9", status=422)


async def test_a_resolved_ticket_becomes_a_draft_article(make_agent):
    boss = await make_agent("boss", role="supervisor", status=None)
    agent = await make_agent("xiaoli", status=None)
    made = await agent.post(
        "/api/console/tickets",
        {"subject": "光猫指示灯红色闪烁", "description": "客户说上不了网"},
        status=201,
    )
    tid = made["ticket"]["id"]
    path = f"/api/console/tickets/{tid}/to-article"
    answer = await agent.post(path, status=409)
    assert answer["error"]["code"] == "not_resolved"
    await agent.post(
        f"/api/console/tickets/{tid}/comments", {"body": "先试试重启", "public": True}, 201
    )
    await agent.post(
        f"/api/console/tickets/{tid}/comments", {"body": "内部：客户很着急", "public": False}, 201
    )
    await agent.post(
        f"/api/console/tickets/{tid}/comments",
        {"body": "光纤松了：把光纤插紧后重启光猫即可。", "public": True},
        201,
    )
    await agent.post(f"/api/console/tickets/{tid}/state", {"to": "resolved"})
    draft = await agent.post(path, status=201)
    assert draft["article"]["state"] == "draft" and draft["article"]["audience"] == "internal"
    assert draft["current"]["title"] == "光猫指示灯红色闪烁"
    assert draft["current"]["body"] == "光纤松了：把光纤插紧后重启光猫即可。"  # the last answer
    assert made["ticket"]["number"] in draft["current"]["note"]
    # It goes through review as any other draft.
    article_id = draft["article"]["id"]
    await agent.post(f"{_KB}/articles/{article_id}/move", {"to": "review"})
    await agent.post(f"{_KB}/articles/{article_id}/move", {"to": "published"}, status=403)
    await boss.post(f"{_KB}/articles/{article_id}/move", {"to": "published"})
    await agent.post("/api/console/tickets/999999/to-article", status=404)

    bare = await agent.post("/api/console/tickets", {"subject": "无人回复"}, status=201)
    await agent.post(f"/api/console/tickets/{bare['ticket']['id']}/state", {"to": "resolved"})
    answer = await agent.post(f"/api/console/tickets/{bare['ticket']['id']}/to-article", status=409)
    assert answer["error"]["code"] == "no_answer"


_WIFI = (
    '---\ntitle: "无线网络设置"\ncategory: "宽带"\naudience: public\nstate: published\n'
    "---\n打开路由器后台。\n"
)
_WIFI_EN = '---\ntitle: "Wi-Fi setup"\n---\nOpen the router page.\n'


async def test_import_export_round_trip_is_idempotent(make_agent):
    boss = await make_agent("boss", role="supervisor", status=None)
    agent = await make_agent("xiaozhao", status=None)
    files: dict[str, str | bytes] = {
        "宽带/无线网络.md": _WIFI,
        "宽带/无线网络.en.md": _WIFI_EN,
        "账单/发票.md": (
            "---\ntitle: 发票怎么开\nvisibility: internal # staff only\n---\n在账单页申请。"
        ),
        "没有标题.md": "正文：没有前言的文件用文件名作标题。",
        "图片/logo.png": b"\x89PNG not an article",
        "坏的.md": "---\ntitle: x\nstate: gone\n---\nbody",
        "空的.md": "---\ntitle: 空\n---\n",
    }
    status, _ = await _post_zip(agent, _zip(files))
    assert status == 403  # only reviewers import
    status, job = await _post_zip(boss, _zip(files))
    assert status == 202, job
    job = await _finished(boss)
    assert job["state"] == "done"
    assert (job["created"], job["updated"], job["unchanged"], job["failed"]) == (3, 0, 0, 2)
    assert job["total"] == job["done"] == 5
    assert {e["path"] for e in job["errors"]} == {"坏的.md", "空的.md"}

    listed = (await boss.get(f"{_KB}/articles?limit=100"))["articles"]
    by_title = {a["title"]: a for a in listed}
    assert set(by_title) == {"无线网络设置", "发票怎么开", "没有标题"}
    wifi = by_title["无线网络设置"]
    assert (wifi["state"], wifi["audience"], wifi["published_version"]) == (
        "published",
        "public",
        1,
    )
    assert by_title["发票怎么开"]["state"] == "draft"
    assert by_title["发票怎么开"]["audience"] == "internal"
    detail = await boss.get(f"{_KB}/articles/{wifi['id']}")
    assert detail["current"]["title_en"] == "Wi-Fi setup"
    assert detail["current"]["body"] == "打开路由器后台。"
    categories = {c["name"] for c in (await boss.get(f"{_KB}/categories"))["categories"]}
    assert categories == {"宽带", "账单"}  # the front matter's, else the top folder
    # Published by the import: searchable at once.
    hits = (await agent.get("/api/console/search?q=路由器&kinds=article"))["hits"]
    assert [h["ref"] for h in hits] == [str(wifi["id"])]

    # The same zip again: nothing changes. A changed file: a new version, recorded.
    status, _ = await _post_zip(boss, _zip(files))
    job = await _finished(boss)
    assert (job["created"], job["updated"], job["unchanged"]) == (0, 0, 3)
    files["宽带/无线网络.md"] = _WIFI.replace("打开路由器后台。", "打开路由器后台，改密码。")
    status, _ = await _post_zip(boss, _zip(files))
    job = await _finished(boss)
    assert (job["created"], job["updated"], job["unchanged"]) == (0, 1, 2)
    versions = await boss.get(f"{_KB}/articles/{wifi['id']}/versions")
    assert [v["version"] for v in versions["versions"]] == [2, 1]
    assert all("无线网络.md" in v["note"] for v in versions["versions"])

    # Export: every article with its front matter; importing the export creates copies
    # once (new file names), then nothing more.
    await agent.get(f"{_KB}/export", status=403)
    async with boss.http.get(boss.running.url(f"{_KB}/export")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/zip"
        exported = await response.read()
    with zipfile.ZipFile(io.BytesIO(exported)) as zf:
        names = zf.namelist()
        wifi_name = f"宽带/{wifi['id']:06d}-无线网络设置.md"
        assert wifi_name in names and wifi_name.replace(".md", ".en.md") in names
        text = zf.read(wifi_name).decode()
    assert text.startswith('---\ntitle: "无线网络设置"\ncategory: "宽带"\naudience: public\n')
    assert "state: draft" not in text and "打开路由器后台，改密码。" in text
    assert len([n for n in names if not n.endswith(".en.md")]) == 3
    await _post_zip(boss, exported)
    assert (await _finished(boss))["created"] == 3
    await _post_zip(boss, exported)
    assert (await _finished(boss))["unchanged"] == 3


async def test_unsafe_zips_are_refused_whole(make_agent):
    boss = await make_agent("boss", role="supervisor", status=None)
    for files in (
        {"../../etc/passwd.md": "x"},
        {"/abs/path.md": "x"},
        {"a/../../b.md": "x"},
        {"C:/windows.md": "x"},
    ):
        status, answer = await _post_zip(boss, _zip(files))  # type: ignore[arg-type]
        assert status == 422 and answer["error"]["code"] == "bad_zip", files
    status, answer = await _post_zip(boss, b"PK\x03\x04 not really a zip")
    assert status == 422 and answer["error"]["code"] == "bad_zip"
    # Too many files; declared too large (a zip bomb): refused before anything is written.
    many = await asyncio.to_thread(_zip, {f"{i}.md": "x" for i in range(20_001)})
    status, answer = await _post_zip(boss, many)
    assert status == 422 and "20000" in answer["error"]["message"]
    # A bomb: its directory says 300 MB unpacked (the size is a field in the zip).
    bomb = bytearray(_zip({"bomb.md": "0" * 1000}))
    at = bomb.index(b"PK\x01\x02") + 24  # the central directory's uncompressed size
    bomb[at : at + 4] = (300 * 1024 * 1024).to_bytes(4, "little")
    status, answer = await _post_zip(boss, bytes(bomb))
    assert status == 422 and "256 MB" in answer["error"]["message"]
    assert (await boss.get(f"{_KB}/articles"))["total"] == 0
    # A damaged file (its bytes do not match its CRC) is reported; the others go in.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("好的.md", "完好的文章")
        zf.writestr("坏了.md", "DAMAGED-BYTES-HERE")
    damaged = buffer.getvalue().replace(b"DAMAGED", b"XXXXXXX")
    status, _ = await _post_zip(boss, damaged)
    assert status == 202
    job = await _finished(boss)
    assert (job["created"], job["failed"]) == (1, 1)
    assert job["errors"][0]["path"] == "坏了.md" and "CRC" in job["errors"][0]["error"]
    # GBK file names without the UTF-8 flag are read as meant.
    status, _ = await _post_zip(boss, _zip({"宽带/光猫.md": "光猫重启方法"}, utf8_names=False))
    assert status == 202
    assert (await _finished(boss))["created"] == 1
    listed = (await boss.get(f"{_KB}/articles"))["articles"]
    assert [a["title"] for a in listed] == ["光猫", "好的"]
