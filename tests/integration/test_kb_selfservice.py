"""Self-service before a chat over real HTTP: suggested articles by page, articles as
sanitised HTML, the deflection figure, pictures in articles and the public /help pages.
Internal, draft and archived articles never reach a visitor: 404, as a missing one."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image

from tests.conftest import Agent, Visitor

_KB = "/api/console/kb"
_MIN = 60_000  # ms

EVIL = (
    "## 重启光猫\n\n<script>alert(1)</script>\n\n[点我](javascript:alert(1)) "
    "![x](data:image/png;base64,iVBORw0KGgo=)\n\n| 指示灯 | 含义 |\n|-|-|\n| 红 | 断线 |"
)


async def _article(author: Agent, reviewer: Agent | None, **fields: Any) -> int:
    body = {"title": "宽带断线怎么办", "body": "先重启光猫。", "audience": "public", **fields}
    made = await author.post(f"{_KB}/articles", body, status=201)
    article_id: int = made["article"]["id"]
    if reviewer is not None:
        await author.post(f"{_KB}/articles/{article_id}/move", {"to": "review"})
        await reviewer.post(f"{_KB}/articles/{article_id}/move", {"to": "published"})
    return article_id


async def _get(visitor: Visitor, path: str) -> tuple[int, Any]:
    status, body, _ = await visitor.request("GET", path)
    return status, body


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def test_visitors_get_only_public_published_articles(make_agent, make_visitor):
    boss = await make_agent("boss", role="supervisor", status=None)
    writer = await make_agent("writer", status=None)
    public = await _article(writer, boss, body=EVIL, title_en="Broadband", body_en="**Restart**")
    internal = await _article(writer, boss, title="内部：报修流程", audience="internal")
    draft = await _article(writer, None, title="草稿文章")
    archived = await _article(writer, boss, title="旧文章")
    await boss.post(f"{_KB}/articles/{archived}/move", {"to": "archived"})
    # A published public article edited into a draft: visitors keep the published text.
    edited = await _article(writer, boss, title="已发布的标题")
    await writer.call(
        "PUT",
        f"{_KB}/articles/{edited}",
        {"title": "未发布的新标题", "body": "新草稿", "audience": "public", "base": 1},
    )

    visitor = await make_visitor()
    status, read = await _get(visitor, f"/api/visitor/kb/articles/{public}")
    assert status == 200
    html = read["article"]["html"]
    assert "<h2>重启光猫</h2>" in html and "<td>断线</td>" in html
    assert "<script" not in html and "&lt;script&gt;" in html  # shown as text
    assert 'href="javascript' not in html and 'src="data:' not in html
    assert read["article"]["html_en"] == "<p><strong>Restart</strong></p>\n"
    for hidden in (internal, draft, archived):
        status, body = await _get(visitor, f"/api/visitor/kb/articles/{hidden}")
        assert status == 404 and body["error"]["code"] == "not_found"

    # Suggestions: a placed article first, internal and draft ones never (even placed).
    for article_id in (internal, draft, public):
        await boss.call("PUT", f"{_KB}/articles/{article_id}/pages", {"prefixes": ["/shop/"]})
    await writer.call("PUT", f"{_KB}/articles/{public}/pages", {"prefixes": ["/x"]}, 403)
    status, found = await _get(visitor, "/api/visitor/kb/suggested?path=/shop/phones/x200")
    assert status == 200
    ids = [a["id"] for a in found["articles"]]
    assert ids[0] == public and set(ids) == {public, edited}
    titles = {a["id"]: a["title"] for a in found["articles"]}
    assert titles[edited] == "已发布的标题"  # never the unpublished draft's title
    status, found = await _get(visitor, "/api/visitor/kb/suggested?path=/shopping")
    assert {a["id"] for a in found["articles"]} == {public, edited}  # the fallback
    assert (await boss.get(f"{_KB}/articles/{public}/pages"))["prefixes"] == ["/shop"]
    bad = await boss.call("PUT", f"{_KB}/articles/{public}/pages", {"prefixes": ["shop"]}, 422)
    assert bad["error"]["code"] == "bad_prefix"
    status, _ = await _get(visitor, "/api/visitor/kb/suggested?limit=0")
    assert status == 422
    async with visitor.http.get(visitor.running.url("/api/visitor/kb/suggested")) as r:
        assert r.status == 401  # a visitor token is needed

    # Search finds only the public, published articles; never a vote on an internal one.
    status, seen = await _get(visitor, "/api/visitor/kb/search?q=光猫")
    assert {h["ref"] for h in seen["hits"]} == {str(public), str(edited)}
    status, _, _ = await visitor.request(
        "POST", f"/api/visitor/kb/articles/{internal}/vote", {"helpful": True}
    )
    assert status == 404


async def test_long_and_punctuation_queries_answer_clearly(make_visitor):
    visitor = await make_visitor()
    for long in ("a" * 1000, "宽带 " * 300, "宽" * 201):
        status, body = await _get(visitor, "/api/visitor/kb/search?q=" + long)
        assert status == 422 and body["error"]["code"] == "query_too_long"
    # 1,000 Chinese characters are 9,000 bytes of URL: the server refuses the request
    # line itself (over 8,190 bytes), a plain 400, before any handler.
    url = visitor.running.url("/api/visitor/kb/search?q=" + "宽" * 1000)
    async with visitor.http.get(url, headers=visitor.auth) as r:
        assert r.status == 400
    status, body = await _get(visitor, "/api/visitor/kb/search?q=" + "！？。，…—" * 20)
    assert status == 200 and body == {"terms": [], "hits": []}
    status, body = await _get(visitor, "/api/visitor/kb/search?q=" + "x" * 1001)
    assert status == 422


async def test_deflection_counts_visitors_without_a_chat(make_agent, make_visitor, running):
    boss = await make_agent("boss", role="supervisor", status=None)
    writer = await make_agent("writer", status=None)
    article = await _article(writer, boss)
    box = running.box
    clock = [box.selfservice.clock()]
    box.selfservice.clock = lambda: clock[0]

    reader, searcher, chatter = [await make_visitor() for _ in range(3)]
    assert (await _get(reader, f"/api/visitor/kb/articles/{article}"))[0] == 200
    status, _, _ = await reader.request(
        "POST", f"/api/visitor/kb/articles/{article}/vote", {"helpful": True}
    )
    assert status == 200
    assert (await _get(searcher, "/api/visitor/kb/search?q=宽带"))[0] == 200
    assert (await _get(searcher, "/api/visitor/kb/search?q=。。"))[0] == 200  # not counted
    assert (await _get(chatter, "/api/visitor/kb/search?q=宽带"))[0] == 200
    await chatter.open(name="张先生")  # a chat within the window: not deflected
    kinds = [k for k, _, _ in await box.selfservice.events(reader.visitor_id)]
    assert kinds == ["read", "vote"]
    assert len(await box.selfservice.events(searcher.visitor_id)) == 1

    clock[0] += _MIN  # within the window: the two without a chat are pending
    now = await boss.get(f"{_KB}/deflection")
    assert (now["visitors"], now["deflected"], now["chatted"], now["pending"]) == (3, 0, 1, 2)
    assert now["rate"] == 0.0 and now["window_seconds"] == 600.0
    clock[0] += 10 * _MIN  # the window is over
    later = await boss.get(f"{_KB}/deflection?days=1")
    assert (later["visitors"], later["deflected"], later["chatted"], later["pending"]) == (
        3,
        2,
        1,
        0,
    )
    assert abs(later["rate"] - 2 / 3) < 1e-9
    agent = await make_agent("plain", status=None)
    await agent.get(f"{_KB}/deflection", status=403)
    await boss.get(f"{_KB}/deflection?days=0", status=422)


async def test_pictures_are_stored_reencoded_and_served_with_their_type(make_agent, running):
    writer = await make_agent("writer", status=None)
    url = running.url(f"{_KB}/images?alt=光猫")
    headers = {"X-CSRF-Token": writer.csrf, "Content-Type": "image/png"}
    async with writer.http.post(url, data=_png(), headers=headers) as r:
        assert r.status == 201, await r.text()
        stored = await r.json()
    assert re.fullmatch(r"[0-9a-f]{16}\.png", stored["name"])
    assert stored["markdown"] == f"![光猫](/help/images/{stored['name']})"
    assert (stored["width"], stored["height"], stored["media_type"]) == (40, 20, "image/png")
    assert (running.box.settings.data_dir / "kb-images" / stored["name"]).is_file()
    async with writer.http.get(running.url(stored["url"])) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "image/png"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert Image.open(io.BytesIO(await r.read())).size == (40, 20)
    # A page claiming to be a picture, and a picture with HTML after its end.
    fake = {**headers, "Content-Type": "image/png"}
    async with writer.http.post(url, data=b"<html><script>x</script>", headers=fake) as r:
        assert r.status == 422 and (await r.json())["error"]["code"] == "image_type"
    async with writer.http.post(url, data=_png() + b"<script>x</script>", headers=fake) as r:
        assert r.status == 201
        again = await r.json()
    async with writer.http.get(running.url(again["url"])) as r:
        assert b"<script>" not in await r.read()
    for missing in ("0123456789abcdef.png", "..%2Fcallbox.db", "x.svg"):
        async with writer.http.get(running.url(f"/help/images/{missing}")) as r:
            assert r.status == 404
    preview = await writer.post(f"{_KB}/preview", {"body": stored["markdown"] + "\n<b>x</b>"})
    assert f'<img src="/help/images/{stored["name"]}" alt="光猫">' in preview["html"]
    assert "<b>" not in preview["html"]


async def test_help_pages_without_javascript(make_agent, running, http_sessions):
    boss = await make_agent("boss", role="supervisor", status=None)
    writer = await make_agent("writer", status=None)
    cat = await boss.post(f"{_KB}/categories", {"name": "宽带", "name_en": "Broadband"}, 201)
    public = await _article(
        writer,
        boss,
        category_id=cat["category"]["id"],
        body="先**重启**光猫。<script>x</script>",
        title_en="Broadband drops",
        body_en="Restart the modem.",
    )
    internal = await _article(writer, boss, title="内部报修流程", audience="internal")
    marked = await _article(writer, boss, title='<img src=x onerror="alert(1)">光猫指示灯')
    stranger = http_sessions()

    async def page(path: str, status: int = 200) -> str:
        async with stranger.get(running.url(path)) as r:
            assert r.status == status, (path, r.status)
            if status == 200:
                assert r.headers["Content-Type"].startswith("text/html")
                assert "script-src" not in r.headers["Content-Security-Policy"]
            return await r.text()

    index = await page("/help")
    assert '<html lang="zh-CN">' in index and "<title>帮助中心</title>" in index
    assert "宽带断线怎么办" in index and "内部报修流程" not in index
    link = re.search(r'href="(/help/a/\d+-[^"]+)"', index)
    assert link is not None and link.group(1).startswith(f"/help/a/{public}-")
    assert "<script" not in index and "<img" not in index  # a title is text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;光猫指示灯" in index
    assert "<h1>&lt;img src=x onerror=&#34;alert(1)&#34;&gt;光猫指示灯</h1>" in await page(
        f"/help/a/{marked}"
    )
    article = await page(link.group(1))
    assert "<h1>宽带断线怎么办</h1>" in article
    assert "<strong>重启</strong>" in article and "<script>x" not in article
    assert '<meta name="description" content="先重启光猫。' in article
    assert f'<link rel="canonical" href="{running.url(link.group(1))}">' in article
    english = await page(link.group(1) + "?lang=en")
    assert '<html lang="en">' in english and "<h1>Broadband drops</h1>" in english
    assert '<article lang="en">' in english
    await page(f"/help/a/{internal}-x", 404)
    await page("/help/a/999999", 404)
    await page("/help/a/abc", 404)
    found = await page("/help?q=光猫")
    assert "<mark>光猫</mark>" in found and "内部" not in found
    assert "搜索内容太长了" in await page("/help?q=" + "宽" * 800)
    assert "请输入文字或数字再搜索" in await page("/help?q=%EF%BC%81%EF%BC%9F")
    async with stranger.get(running.url("/help/help.css")) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/css")
