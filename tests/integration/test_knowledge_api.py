"""The knowledge base and search over real HTTP: states as core rules them, who may
approve, versions and diffs, votes, views and points; search that finds only what the
asker may see (internal articles never reach visitors; tickets and chats only their
viewers); bad input is a clear 422."""

from __future__ import annotations

from typing import Any

from tests.conftest import Agent, receive_until

_KB = "/api/console/kb"


def _article(**changes: Any) -> dict[str, Any]:
    return {
        "title": "宽带断线怎么办",
        "body": "先重启光猫，再检查网线。\n仍然不行请报修。",
        **changes,
    }


async def _publish(author: Agent, reviewer: Agent, **changes: Any) -> dict[str, Any]:
    made = await author.post(f"{_KB}/articles", _article(**changes), status=201)
    article_id = made["article"]["id"]
    await author.post(f"{_KB}/articles/{article_id}/move", {"to": "review"})
    done = await reviewer.post(f"{_KB}/articles/{article_id}/move", {"to": "published"})
    return done["article"]  # type: ignore[no-any-return]


async def test_article_states_reviewers_and_versions(make_agent):
    boss = await make_agent("boss", role="supervisor", status=None)
    writer = await make_agent("xiaowang", status=None)
    editor = await make_agent("laoli", status=None)
    category = await boss.post(
        f"{_KB}/categories", {"name": "宽带", "name_en": "Broadband"}, status=201
    )
    await writer.post(f"{_KB}/categories", {"name": "x"}, status=403)
    await boss.post(f"{_KB}/categories", {"name": "宽带"}, status=409)
    cat_id = category["category"]["id"]

    made = await writer.post(f"{_KB}/articles", _article(category_id=cat_id), status=201)
    article = made["article"]
    assert article["state"] == "draft" and article["version"] == 1
    assert article["published_version"] is None and made["may_review"] is False
    one = article["id"]
    # A draft cannot be approved; an agent cannot approve; the states are core's.
    answer = await boss.post(f"{_KB}/articles/{one}/move", {"to": "published"}, status=409)
    assert answer["error"]["code"] == "bad_move"
    await writer.post(f"{_KB}/articles/{one}/move", {"to": "review"})
    await writer.post(f"{_KB}/articles/{one}/move", {"to": "published"}, status=403)
    await editor.post(f"{_KB}/articles/{one}/move", {"to": "published"}, status=403)
    # A supervisor names an editor; the editor may then approve.
    await writer.call("PUT", f"{_KB}/editors/{editor.user_id}", {"editor": True}, status=403)
    named = await boss.call("PUT", f"{_KB}/editors/{editor.user_id}", {"editor": True})
    assert [e["user_id"] for e in named["editors"]] == [editor.user_id]
    sent_back = await editor.post(f"{_KB}/articles/{one}/move", {"to": "draft", "note": "补充步骤"})
    assert sent_back["article"]["state"] == "draft"
    assert sent_back["steps"][-1]["note"] == "补充步骤"

    # A new version over the right base; a stale base is refused and changes nothing.
    v2 = await writer.call(
        "PUT",
        f"{_KB}/articles/{one}",
        {
            **_article(body="先重启光猫，再检查网线。\n第三步：看指示灯。\n仍然不行请报修。"),
            "title_en": "Broadband drops",
            "body_en": "Restart the modem.",
            "base": 1,
        },
    )
    assert v2["article"]["version"] == 2 and v2["current"]["title_en"] == "Broadband drops"
    stale = await writer.call("PUT", f"{_KB}/articles/{one}", {**_article(), "base": 1}, 409)
    assert stale["error"]["code"] == "stale_version"
    await writer.post(f"{_KB}/articles/{one}/move", {"to": "review"})
    published = await editor.post(f"{_KB}/articles/{one}/move", {"to": "published"})
    assert published["article"]["state"] == "published"
    assert published["article"]["published_version"] == 2

    # Editing a published article: back to draft, the published version still read.
    v3 = await writer.call(
        "PUT", f"{_KB}/articles/{one}", {**_article(title="宽带掉线怎么办"), "base": 2}
    )
    assert v3["article"]["state"] == "draft" and v3["article"]["published_version"] == 2
    # Only a reviewer changes a published article's audience.
    answer = await writer.call(
        "PUT", f"{_KB}/articles/{one}", {**_article(), "audience": "public", "base": 3}, 403
    )
    versions = await writer.get(f"{_KB}/articles/{one}/versions")
    assert [v["version"] for v in versions["versions"]] == [3, 2, 1]
    diff = await writer.get(f"{_KB}/articles/{one}/diff?old=1&new=2")
    body = next(f for f in diff["fields"] if f["field"] == "body")
    assert "+第三步：看指示灯。" in body["lines"]
    assert {f["field"] for f in diff["fields"]} == {"body", "title_en", "body_en"}
    await writer.get(f"{_KB}/articles/{one}/diff?old=1&new=9", status=404)

    listed = await writer.get(f"{_KB}/articles?state=draft&category_id={cat_id}")
    assert [a["id"] for a in listed["articles"]] == [one]
    assert (await writer.get(f"{_KB}/articles?state=published"))["total"] == 0

    archived = await boss.post(f"{_KB}/articles/{one}/move", {"to": "archived"})
    assert archived["article"]["state"] == "archived"
    answer = await writer.call("PUT", f"{_KB}/articles/{one}", {**_article(), "base": 3}, 409)
    assert answer["error"]["code"] == "bad_move"
    restored = await boss.post(f"{_KB}/articles/{one}/move", {"to": "draft"})
    assert restored["article"]["state"] == "draft"
    steps = [(s["from_state"], s["to_state"]) for s in restored["steps"]]
    assert steps == [
        ("draft", "review"),
        ("review", "draft"),
        ("draft", "review"),
        ("review", "published"),
        ("published", "draft"),
        ("draft", "archived"),
        ("archived", "draft"),
    ]


async def test_votes_views_and_points(make_agent, make_visitor, running):
    boss = await make_agent("boss", role="supervisor", status=None)
    writer = await make_agent("xiaozhang", status=None)
    helper = await make_agent("xiaoli", status=None)
    article = await _publish(writer, boss, audience="public")
    one = article["id"]
    # A second author's version: both are credited once the article is published again.
    await helper.call("PUT", f"{_KB}/articles/{one}", {**_article(note="补充"), "base": 1})
    await helper.post(f"{_KB}/articles/{one}/move", {"to": "review"})
    await boss.post(f"{_KB}/articles/{one}/move", {"to": "published"})

    visitor = await make_visitor()
    status, voted, _ = await visitor.request(
        "POST", f"/api/visitor/kb/articles/{one}/vote", {"helpful": True}
    )
    assert status == 200 and voted == {"helpful": 1, "not_helpful": 0}
    # Voting again changes nothing; changing the vote moves the counts.
    status, voted, _ = await visitor.request(
        "POST", f"/api/visitor/kb/articles/{one}/vote", {"helpful": True}
    )
    assert voted == {"helpful": 1, "not_helpful": 0}
    await helper.post(f"{_KB}/articles/{one}/vote", {"helpful": True})
    changed = await helper.post(f"{_KB}/articles/{one}/vote", {"helpful": False})
    assert changed == {"helpful": 1, "not_helpful": 1}

    for _ in range(3):
        status, read, _ = await visitor.request("GET", f"/api/visitor/kb/articles/{one}")
        assert status == 200 and read["article"]["title"] == "宽带断线怎么办"
    await running.box.knowledge.write_views()  # else within VIEW_FLUSH seconds
    assert (await writer.get(f"{_KB}/articles/{one}"))["article"]["views"] == 3

    points = {c["name"]: c for c in (await writer.get(f"{_KB}/contributors"))["contributors"]}
    # The creator: published (10) and one net helpful vote (visitor +1; helper +1 -1).
    assert points["xiaozhang"]["points"] == 11 and points["xiaozhang"]["helpful"] == 1
    assert points["xiaoli"]["points"] == 10 and points["xiaoli"]["published"] == 1
    one_user = await boss.get(f"{_KB}/contributors?user_id={helper.user_id}")
    assert [c["name"] for c in one_user["contributors"]] == ["xiaoli"]
    status, _, _ = await visitor.request(
        "POST", f"/api/visitor/kb/articles/{one}/vote", {"helpful": "yes"}
    )
    assert status == 422


async def test_search_finds_articles_for_whoever_may_read_them(make_agent, make_visitor):
    boss = await make_agent("boss", role="supervisor", status=None)
    writer = await make_agent("xiaowang", status=None)
    public = await _publish(
        writer, boss, title="４Ｇ套餐退款说明", body="X200 型号的退款流程。", audience="public"
    )
    internal = await _publish(writer, boss, title="寬帶內部故障處理", body="只给客服看。")
    draft = await writer.post(
        f"{_KB}/articles", _article(title="退款草稿", body="未发布"), status=201
    )

    found = await writer.get("/api/console/search?q=退款&kinds=article")
    assert [h["ref"] for h in found["hits"]] == [str(public["id"])]
    assert found["terms"] == ["退款"]
    hit = found["hits"][0]
    assert any(p["mark"] and p["text"] == "退款" for p in hit["snippet"])
    for query in ("宽带", "寬帶", "故障"):
        hits = (await writer.get(f"/api/console/search?q={query}"))["hits"]
        assert [h["ref"] for h in hits] == [str(internal["id"])], query
    for query in ("4G 套餐", "4g", "X200 型号", "ｘ２００"):
        hits = (await writer.get(f"/api/console/search?q={query}"))["hits"]
        assert [h["ref"] for h in hits] == [str(public["id"])], query
    assert str(draft["article"]["id"]) not in str(await writer.get("/api/console/search?q=草稿"))

    visitor = await make_visitor()
    status, seen, _ = await visitor.request("GET", "/api/visitor/kb/search?q=宽带")
    assert status == 200 and seen["hits"] == []  # internal: never for visitors
    status, seen, _ = await visitor.request("GET", "/api/visitor/kb/search?q=退款")
    assert [h["ref"] for h in seen["hits"]] == [str(public["id"])]
    status, _, _ = await visitor.request("GET", f"/api/visitor/kb/articles/{internal['id']}")
    assert status == 404
    # Archived: out of the index for everyone.
    await boss.post(f"{_KB}/articles/{public['id']}/move", {"to": "archived"})
    status, seen, _ = await visitor.request("GET", "/api/visitor/kb/search?q=退款")
    assert seen["hits"] == []


async def test_search_keeps_tickets_and_chats_to_their_viewers(make_agent, make_visitor):
    boss = await make_agent("boss", role="supervisor", status=None)
    owner = await make_agent("zhangsan")  # online: the chat comes to them
    other = await make_agent("lisi", status=None)
    owner_ws = await owner.ws()
    visitor = await make_visitor()
    conv = await visitor.open(name="王先生")
    await receive_until(
        owner_ws,
        lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "active",
    )
    status, _, _ = await visitor.request(
        "POST",
        f"/api/visitor/conversations/{conv['id']}/messages",
        {"client_msg_id": "m1", "body": "我的路由器型号是Ｘ２００，携号转网后上不了网"},
    )
    assert status == 201
    await owner_ws.close()

    group = await boss.post("/api/console/groups", {"name": "售后"}, status=201)
    group_id = group["group"]["id"]
    await boss.call("PUT", f"/api/console/groups/{group_id}/members", {"members": [owner.user_id]})
    ticket = await boss.post(
        "/api/console/tickets",
        {"subject": "携号转网失败", "description": "客户要求退款", "group_id": group_id},
        status=201,
    )
    ticket_id = str(ticket["ticket"]["id"])
    await boss.post(
        f"/api/console/tickets/{ticket_id}/comments", {"body": "已联系运营商", "public": False}, 201
    )

    def refs(answer: dict[str, Any]) -> set[tuple[str, str]]:
        return {(h["kind"], h["ref"]) for h in answer["hits"]}

    want = {("chat", conv["id"]), ("ticket", ticket_id)}
    assert refs(await boss.get("/api/console/search?q=携号转网")) == want
    owner_sees = await owner.get("/api/console/search?q=携号转网")
    assert refs(owner_sees) == want
    chat_hit = next(h for h in owner_sees["hits"] if h["kind"] == "chat")
    assert chat_hit["title"] == "王先生"
    assert [p["text"] for p in chat_hit["snippet"] if p["mark"]] == ["携号转网"]
    assert refs(await other.get("/api/console/search?q=携号转网")) == set()
    assert refs(await other.get("/api/console/search?q=x200")) == set()
    assert refs(await owner.get("/api/console/search?q=x200&kinds=chat")) == {("chat", conv["id"])}
    assert refs(await owner.get("/api/console/search?q=运营商")) == {("ticket", ticket_id)}
    assert refs(await owner.get("/api/console/search?q=退款&kinds=ticket")) == {
        ("ticket", ticket_id)
    }
    # A ticket with no group is every agent's; owning one is enough too.
    await boss.call("PATCH", f"/api/console/tickets/{ticket_id}", {"group_id": None})
    assert refs(await other.get("/api/console/search?q=携号转网")) == {("ticket", ticket_id)}

    status = await boss.get("/api/console/search/status")
    assert status["queued"] == 0 and status["documents"] == 3  # message, ticket, note
    await other.get("/api/console/search/status", status=403)


async def test_bad_search_and_article_input_is_a_clear_422(make_agent, make_visitor):
    agent = await make_agent("xiaoma", status=None)
    answer = await agent.get("/api/console/search?q=" + "宽" * 201, status=422)
    assert answer["error"]["code"] == "query_too_long"
    answer = await agent.get("/api/console/search?q=" + "x" * 1000, status=422)
    assert answer["error"]["code"] == "query_too_long"
    answer = await agent.get("/api/console/search?q=" + "x" * 1001, status=422)
    assert answer["error"]["code"] == "invalid"  # beyond the contract's bound
    answer = await agent.get("/api/console/search?q=宽带&kinds=secrets", status=422)
    assert answer["error"]["code"] == "invalid"
    empty = await agent.get("/api/console/search?q=%EF%BC%9F%EF%BC%81")  # ？！
    assert empty == {"terms": [], "hits": []}
    await agent.get("/api/console/search", status=422)
    for bad in (
        {"title": "", "body": "x"},
        {"title": "x", "body": ""},
        {"title": "x", "body": "y", "title_en": "only a title"},
        {"title": "x" * 201, "body": "y"},
        {"title": "x", "body": "y", "audience": "everyone"},
        {"title": "x", "body": "y", "category_id": 999},
        {"title": "x", "body": "y", "extra": 1},
        {"title": "x\u0000", "body": "y"},
    ):
        answer = await agent.post(f"{_KB}/articles", bad, status=422)
        assert answer["error"]["code"] == "invalid", bad
    assert (await agent.get(f"{_KB}/articles"))["total"] == 0
    await agent.get(f"{_KB}/articles/12345", status=404)
    await agent.get(f"{_KB}/articles/abc", status=404)
    await agent.get(f"{_KB}/articles?state=lost", status=422)
    visitor = await make_visitor()
    status, answer, _ = await visitor.request("GET", "/api/visitor/kb/search?q=" + "x" * 300)
    assert status == 422 and answer["error"]["code"] == "query_too_long"
