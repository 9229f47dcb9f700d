"""The company's look through the API: settings, refusals, logo and photos, the widget's
session call carrying the look and the reply-time hint, the audit log."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from PIL import Image

from appliance.core import replytime
from tests.conftest import Agent, Running

MakeAgent = Callable[..., Awaitable[Agent]]
_LOOK = {
    "color": "#0F766E",
    "text_color": "auto",
    "name": "Acme 客服",
    "welcome": {"zh-CN": "您好！有什么可以帮您？", "en": "Hi! How can we help?"},
    "label": {"zh-CN": "联系我们", "en": "Chat with us"},
    "position": "left",
    "offset_x": 24,
    "offset_y": 96,
    "open_after": 5,
}


def picture(fmt: str = "PNG", size: tuple[int, int] = (300, 120), **save: Any) -> bytes:
    """Return a real picture's bytes, made here."""
    mode = "RGBA" if fmt == "PNG" else "RGB"
    img = Image.new(mode, size, (15, 118, 110, 255) if mode == "RGBA" else (15, 118, 110))
    out = io.BytesIO()
    img.save(out, fmt, **save)
    return out.getvalue()


def with_location() -> bytes:
    """A JPEG whose EXIF says where it was taken (GPS) and with which camera."""
    exif = Image.Exif()
    exif[0x0110] = "Phone X"  # Model
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (31.0, 14.0, 0.0)  # latitude
    return picture("JPEG", (640, 480), exif=exif)


async def upload(
    agent: Agent, path: str, data: bytes, kind: str = "image/png", method: str = "PUT"
) -> tuple[int, Any]:
    headers = {"X-CSRF-Token": agent.csrf, "Content-Type": kind}
    async with agent.http.request(method, agent.running.url(path), data=data, headers=headers) as r:
        return r.status, await r.json()


async def session_look(running: Running, http: Any) -> dict[str, Any]:
    async with http.post(running.url("/api/visitor/session"), json={}) as r:
        assert r.status == 201
        return await r.json()  # type: ignore[no-any-return]


async def audit_of(admin: Agent, action: str) -> list[dict[str, Any]]:
    page = await admin.get(f"/api/admin/audit?action={action}")
    return page["entries"]  # type: ignore[no-any-return]


async def test_defaults_then_a_saved_look_reach_the_widget_session(
    running: Running, make_agent: MakeAgent
) -> None:
    boss = await make_agent(role="supervisor", status=None)
    first = await boss.get("/api/console/brand")
    assert first["look"] | {"version": ""} == {
        "color": "",
        "text_color": "auto",
        "name": "",
        "welcome": {},
        "label": {},
        "position": "right",
        "offset_x": 20,
        "offset_y": 20,
        "open_after": None,
        "logo": "",
        "version": "",
        "text": "",
        "contrast": None,
    }
    # Nothing set: the widget is told so (null) and draws its own defaults.
    assert (await session_look(running, boss.http))["brand"] is None

    saved = (await boss.call("PUT", "/api/console/brand", _LOOK))["look"]
    assert saved["color"] == "#0f766e"  # normalised
    assert saved["text"] == "#ffffff" and saved["contrast"] >= 4.5
    assert saved["version"] != first["look"]["version"]
    # A new page view gets it at once: no restart, no cache to wait out.
    widget = (await session_look(running, boss.http))["brand"]
    assert widget == {
        "version": saved["version"],
        "color": "#0f766e",
        "text": "#ffffff",
        "logo": "",
        "name": "Acme 客服",
        "welcome": _LOOK["welcome"],
        "label": _LOOK["label"],
        "position": "left",
        "offset_x": 24,
        "offset_y": 96,
        "open_after": 5,
    }
    # And it outlives a restart: it is in the database.
    await running.box.brand.load()
    assert running.box.brand.current().version == saved["version"]


async def test_a_change_is_in_the_audit_log_without_the_texts(
    running: Running, make_agent: MakeAgent
) -> None:
    admin = await make_agent(role="admin", status=None)
    await admin.call("PUT", "/api/console/brand", _LOOK)
    await admin.call("PUT", "/api/console/brand", {**_LOOK, "color": "#111", "welcome": {}})
    entries = await audit_of(admin, "brand.update")
    assert len(entries) == 2
    latest = entries[0]
    assert latest["user_id"] == admin.user_id
    assert latest["detail"] == {"color": ["#0f766e", "#111111"], "changed": ["welcome"]}
    assert "How can we help" not in str(entries)


@pytest.mark.parametrize("color", ["blue", "#12345", "#ggg", "0f766e0", "#0f766e "])
async def test_a_bad_colour_is_refused(make_agent: MakeAgent, color: str) -> None:
    boss = await make_agent(role="supervisor", status=None)
    error = (await boss.call("PUT", "/api/console/brand", {"color": color}, status=422))["error"]
    assert error["code"] in ("color_invalid", "invalid")
    if len(color) <= 7:
        assert error["code"] == "color_invalid", error
        assert "#1a73e8" in error["message"]


async def test_low_contrast_text_is_refused_and_auto_picks_the_readable_one(
    make_agent: MakeAgent,
) -> None:
    boss = await make_agent(role="supervisor", status=None)
    yellow = {"color": "#ffd400", "text_color": "white"}
    error = (await boss.call("PUT", "/api/console/brand", yellow, status=422))["error"]
    assert error["code"] == "color_low_contrast"
    assert "1.4:1" in error["message"] and "4.5:1" in error["message"]
    # Nothing changed.
    assert (await boss.get("/api/console/brand"))["look"]["color"] == ""
    look = (await boss.call("PUT", "/api/console/brand", {**yellow, "text_color": "auto"}))["look"]
    assert look["text"] == "#000000" and look["contrast"] >= 4.5
    black = {"color": "#1e3a8a", "text_color": "black"}
    error = (await boss.call("PUT", "/api/console/brand", black, status=422))["error"]
    assert error["code"] == "color_low_contrast"


@pytest.mark.parametrize(
    "change",
    [
        {"offset_y": 301},
        {"offset_x": -1},
        {"position": "top"},
        {"welcome": {"fr": "Bonjour"}},
        {"welcome": {"en": "x" * 301}},
        {"label": {"en": "x" * 25}},
        {"name": "x" * 41},
        {"open_after": 601},
        {"text_color": "red"},
        {"logo": "/etc/passwd"},
    ],
)
async def test_out_of_bounds_is_refused(make_agent: MakeAgent, change: dict[str, Any]) -> None:
    boss = await make_agent(role="supervisor", status=None)
    error = (await boss.call("PUT", "/api/console/brand", change, status=422))["error"]
    assert error["code"] == "invalid"


async def test_agents_and_strangers_are_refused(
    running: Running, make_agent: MakeAgent, http_sessions: Callable[[], Any]
) -> None:
    agent = await make_agent()
    await agent.get("/api/console/brand", status=403)
    await agent.call("PUT", "/api/console/brand", _LOOK, status=403)
    await agent.call("DELETE", "/api/console/brand/logo", status=403)
    status, body = await upload(agent, "/api/console/brand/logo", picture())
    assert status == 403 and body["error"]["code"] == "forbidden"
    async with agent.http.get(running.url("/console/brand")) as page:
        assert page.status == 403
    stranger = http_sessions()
    async with stranger.get(running.url("/api/console/brand")) as r:
        assert r.status == 401
    assert running.box.brand.current().color == ""


async def test_a_logo_is_re_encoded_stored_and_served_safely(
    running: Running, make_agent: MakeAgent
) -> None:
    admin = await make_agent(role="admin", status=None)
    status, body = await upload(admin, "/api/console/brand/logo", picture("WEBP", (1024, 300)))
    assert status == 200, body
    url = body["look"]["logo"]
    assert url.startswith("/api/visitor/logo/")
    async with admin.http.get(running.url(url)) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "image/png"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in r.headers["Content-Security-Policy"]
        assert "immutable" in r.headers["Cache-Control"]
        etag = r.headers["ETag"]
        stored = Image.open(io.BytesIO(await r.read()))
    assert stored.format == "PNG" and stored.size == (512, 150)  # shrunk to fit 512×160
    async with admin.http.get(running.url(url), headers={"If-None-Match": etag}) as r:
        assert r.status == 304
    files = list((running.box.settings.data_dir / "brand").iterdir())
    assert [f.name for f in files] == [f"logo-{url.rsplit('/', 1)[1]}.png"]
    widget = (await session_look(running, admin.http))["brand"]
    assert widget["logo"] == url

    # A new logo replaces the old one: the old URL and file are gone.
    status, body = await upload(admin, "/api/console/brand/logo", picture("JPEG"), "image/jpeg")
    assert status == 200 and body["look"]["logo"] != url
    async with admin.http.get(running.url(url)) as r:
        assert r.status == 404
    assert len(list((running.box.settings.data_dir / "brand").iterdir())) == 1
    removed = (await admin.call("DELETE", "/api/console/brand/logo"))["look"]
    assert removed["logo"] == ""
    assert list((running.box.settings.data_dir / "brand").iterdir()) == []
    actions = [e["action"] for e in await audit_of(admin, "brand.")]
    assert actions == ["brand.logo_remove", "brand.logo", "brand.logo"]


def _bomb() -> bytes:
    """A PNG that is small on the wire but 5000×5000 pixels once decoded."""
    out = io.BytesIO()
    Image.new("L", (5000, 5000)).save(out, "PNG", optimize=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "kind", "code"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * (512 * 1024), "image/png", "image_too_large"),
        (b"<html><script>alert(1)</script></html>", "image/png", "image_type"),
        (b"GIF89a" + b"\0" * 64, "image/gif", "image_type"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml", "image_type"),
        (picture()[:200], "image/png", "image_invalid"),
        (b"", "image/png", "image_invalid"),
        (None, "image/png", "image_too_large"),  # the pixel bomb
    ],
)
async def test_a_bad_logo_is_refused_and_nothing_is_stored(
    running: Running, make_agent: MakeAgent, data: bytes | None, kind: str, code: str
) -> None:
    admin = await make_agent(role="admin", status=None)
    status, body = await upload(
        admin, "/api/console/brand/logo", _bomb() if data is None else data, kind
    )
    assert status == 422, body
    assert body["error"]["code"] == code
    assert running.box.brand.current().logo == ""
    assert not (running.box.settings.data_dir / "brand").exists()
    assert await audit_of(admin, "brand.") == []


async def test_an_agents_photo_loses_its_metadata_and_shows_to_visitors(
    running: Running, make_agent: MakeAgent, http_sessions: Callable[[], Any]
) -> None:
    agent = await make_agent()
    assert (await agent.get("/api/console/account/avatar"))["url"] == ""
    status, body = await upload(agent, "/api/console/account/avatar", with_location(), "image/jpeg")
    assert status == 200, body
    assert body["url"].startswith(f"/api/visitor/avatars/{agent.user_id}?v=")
    stranger = http_sessions()  # what a visitor's browser loads: no session needed
    async with stranger.get(running.url(f"/api/visitor/avatars/{agent.user_id}")) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        etag = r.headers["ETag"]
        photo = Image.open(io.BytesIO(await r.read()))
    assert photo.size == (256, 256)
    assert dict(photo.getexif()) == {}  # no camera, no location
    headers = {"If-None-Match": etag}
    async with stranger.get(
        running.url(f"/api/visitor/avatars/{agent.user_id}"), headers=headers
    ) as r:
        assert r.status == 304

    status, body = await upload(agent, "/api/console/account/avatar", b"%PDF-1.7", "image/jpeg")
    assert status == 422 and body["error"]["code"] == "image_type"
    assert (await agent.call("DELETE", "/api/console/account/avatar"))["url"] == ""
    async with stranger.get(running.url(f"/api/visitor/avatars/{agent.user_id}")) as r:
        assert r.status == 404
    async with stranger.get(running.url("/api/visitor/avatars/nobody")) as r:
        assert r.status == 404
    assert list((running.box.settings.data_dir / "avatars").iterdir()) == []


async def test_the_session_says_how_soon_a_reply_comes(
    running: Running,
    make_agent: MakeAgent,
    make_visitor: Callable[..., Awaitable[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(replytime, "_CACHE_FOR", 0.0)
    boss = await make_agent(role="supervisor", status=None)
    assert (await session_look(running, boss.http))["reply_within"] is None  # nobody online
    await make_agent(max_chats=1)
    assert (await session_look(running, boss.http))["reply_within"] == replytime.SOON
