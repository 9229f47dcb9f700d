"""The admin audit log through the real entry points: every admin action of the API and
of the `appliance` command leaves exactly one entry, with who did it and from where;
the log reads back filtered and paged, and exports as a CSV Excel opens in Chinese."""

from __future__ import annotations

import argparse
import base64
import csv
import getpass
import hashlib
import io
import json
import re
import sqlite3
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from yarl import URL

from appliance import cli
from appliance.core import audit
from appliance.core.box import Box
from appliance.relay import commands as relay_commands
from appliance.relay import state as relay_state
from appliance.relay.wireguard import WireGuardError
from appliance.settings import Settings
from appliance.webui.i18n import LANG_COOKIE
from appliance.webui.keys import SETUP_TOKEN
from tests.conftest import PASSWORD, Agent, Running, csrf_in, make_settings
from tests.testca import make_ca_and_server

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MakeAgent = Callable[..., Awaitable[Agent]]
ME = getpass.getuser()


async def entries(box: Box) -> list[audit.Entry]:
    return (await box.audit.page(audit.Query(limit=audit.PAGE_MAX))).entries


async def one_new(box: Box, before: list[audit.Entry]) -> audit.Entry:
    """Return the one entry added since `before`; fail unless there is exactly one."""
    now = await entries(box)
    added = now[: len(now) - len(before)]
    assert len(added) == 1, added
    return added[0]


async def test_every_admin_action_of_the_api_is_recorded_once(
    running: Running, http_sessions: Callable[[], Any], make_agent: MakeAgent
):
    box = running.box
    # First-boot setup: nobody is logged in yet; the link's holder, from their address.
    token = running.server.app[SETUP_TOKEN][0]
    http = http_sessions()
    async with http.get(running.url(f"/setup?token={token}")) as r:
        csrf = csrf_in(await r.text())
    form = {"csrf_token": csrf, "token": token, "username": "root", "password": PASSWORD}
    async with http.post(
        running.url("/setup"), data={**form, "password2": PASSWORD}, allow_redirects=False
    ) as r:
        assert r.status == 302
    (setup,) = await entries(box)
    root = next(u for u in await box.accounts.list_users() if u.username == "root")
    assert (setup.user_id, setup.user_name, setup.address) == (None, "", "127.0.0.1")
    assert (setup.action, setup.target) == ("user.create", "root")
    assert json.loads(setup.detail) == {"id": root.id, "role": "admin"}

    admin = Agent(running, http, root.id)
    admin.csrf = (await admin.get("/api/console/me"))["csrf_token"]
    who = (root.id, "root", "127.0.0.1")

    before = await entries(box)
    async with http.post(
        running.url("/api/admin/ip-table?format=ip2region"),
        data=(FIXTURES / "ip2region_v2.txt").read_bytes(),
        headers={"X-CSRF-Token": admin.csrf, "Content-Type": "text/plain"},
    ) as r:
        assert r.status == 200
    entry = await one_new(box, before)
    assert (entry.user_id, entry.user_name, entry.address) == who
    assert (entry.action, json.loads(entry.detail)) == (
        "iptable.import",
        {"format": "ip2region", "ranges": 5},
    )

    before = await entries(box)
    await admin.call("PUT", "/api/admin/privacy", {"honour_dnt": True, "page_view_days": 30})
    entry = await one_new(box, before)
    assert (entry.user_id, entry.user_name, entry.address) == who
    assert entry.action == "settings.privacy"
    assert json.loads(entry.detail) == {"honour_dnt": [False, True], "page_view_days": [90, 30]}

    before = await entries(box)
    await admin.post("/api/admin/sites", {"key": "shop", "name": "上海门店"}, status=201)
    entry = await one_new(box, before)
    assert (entry.user_id, entry.user_name, entry.address) == who
    assert (entry.action, entry.target, json.loads(entry.detail)) == (
        "site.create",
        "shop",
        {"name": "上海门店"},
    )

    before = await entries(box)
    rotated = await admin.post("/api/admin/sites/shop/secret")
    entry = await one_new(box, before)
    assert (entry.user_id, entry.user_name, entry.address) == who
    assert (entry.action, entry.target, entry.detail) == ("site.rotate_secret", "shop", "{}")
    assert rotated["site"]["secret"] not in str(await entries(box))

    # Refused actions change nothing, and so leave nothing.
    before = await entries(box)
    await admin.call("PUT", "/api/admin/privacy", {"page_view_days": 0}, status=422)
    await admin.post("/api/admin/sites", {"key": "shop"}, status=422)
    await admin.post("/api/admin/sites/nope/secret", status=404)
    async with http.post(
        running.url("/api/admin/ip-table"),
        data=b"1.0.0.0|bad|x|0|0|0|0\n",
        headers={"X-CSRF-Token": admin.csrf, "Content-Type": "text/plain"},
    ) as r:
        assert r.status == 422
    assert await entries(box) == before

    # The log reads back through the API: newest first, filtered, paged.
    page = await admin.get("/api/admin/audit?limit=2")
    assert [e["action"] for e in page["entries"]] == ["site.rotate_secret", "site.create"]
    assert page["entries"][0]["user_name"] == "root" and page["entries"][0]["user_id"] == root.id
    assert re.match(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", page["entries"][0]["at"]
    )
    rest = await admin.get(f"/api/admin/audit?limit=2&before={page['next_before']}")
    assert [e["action"] for e in rest["entries"]] == ["settings.privacy", "iptable.import"]
    sites = await admin.get("/api/admin/audit?action=site.")
    assert [e["target"] for e in sites["entries"]] == ["shop", "shop"]
    facets = await admin.get("/api/admin/audit/facets")
    assert facets["users"] == ["root"] and "user.create" in facets["actions"]
    for bad in ("action=Site", "since=2026-13-01", "since=2026-12-02&until=2026-12-01", "limit=0"):
        error = await admin.get(f"/api/admin/audit?{bad}", status=422)
        assert error["error"]["code"] == "invalid"

    # Not for other roles.
    boss = await make_agent(role="supervisor", status=None)
    await boss.get("/api/admin/audit", status=403)
    async with boss.http.get(running.url("/api/admin/audit.csv")) as r:
        assert r.status == 403


async def test_the_csv_opens_in_excel_with_chinese_intact(running: Running, make_agent: MakeAgent):
    admin = await make_agent("张伟", role="admin", status=None)
    await admin.post("/api/admin/sites", {"key": "shop", "name": "上海门店"}, status=201)
    await admin.post("/api/admin/sites", {"key": "bj", "name": '=HYPERLINK("x")'}, status=201)
    async with admin.http.get(running.url("/api/admin/audit.csv?action=site.create")) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert re.match(
            r'attachment; filename="callbox-audit-\d{8}-\d{4}\.csv"',
            r.headers["Content-Disposition"],
        )
        raw = await r.read()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["时间", "用户", "用户 ID", "地址", "操作", "对象", "详情"]
    newest, oldest = rows[1], rows[2]
    assert len(rows) == 3
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", oldest[0])  # the box's local time
    assert oldest[1:6] == ["张伟", str(admin.user_id), "127.0.0.1", "site.create", "shop"]
    assert json.loads(oldest[6]) == {"name": "上海门店"}
    assert newest[5] == "bj" and newest[6] == '{"name":"=HYPERLINK(\\"x\\")"}'
    # A user name that is a formula stays text in a spreadsheet.
    formula = await make_agent("=cmd|x", role="admin", status=None)
    await formula.post("/api/admin/sites", {"key": "sz"}, status=201)
    async with formula.http.get(
        running.url("/api/admin/audit.csv"), params={"user": "=cmd|x"}
    ) as r:
        rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert rows[1][1] == "'=cmd|x" and len(rows) == 2
    # English headers for an English page; a bad filter answers before any download.
    admin.http.cookie_jar.update_cookies({LANG_COOKIE: "en"}, URL(running.url("/")))
    async with admin.http.get(running.url("/api/admin/audit.csv?until=2026-02-30")) as r:
        assert r.status == 422 and (await r.json())["error"]["code"] == "invalid"
    async with admin.http.get(running.url("/api/admin/audit.csv?since=2999-01-01")) as r:
        text = (await r.read()).decode("utf-8-sig")
    assert text == "Time,User,User ID,Address,Action,Target,Detail\r\n"


def test_the_user_commands_are_recorded_as_the_command_line(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["--data", str(data), "user", "add", "li", "--password-stdin"]) == 0
    assert cli.main(["--data", str(data), "user", "disable", "li"]) == 0
    assert cli.main(["--data", str(data), "user", "enable", "li"]) == 0
    assert cli.main(["--data", str(data), "user", "disable", "nobody"]) == 1
    assert cli.main(["--data", str(data), "user", "list"]) == 0
    capsys.readouterr()
    rows = _rows(data)
    assert [(r["action"], r["target"]) for r in rows] == [
        ("user.create", "li"),
        ("user.disable", "li"),
        ("user.enable", "li"),
    ]
    assert {(r["user_id"], r["user_name"], r["address"]) for r in rows} == {(None, ME, "cli")}
    assert json.loads(rows[0]["detail"]) == {"id": 1, "role": "agent"}


def test_a_certificate_import_is_recorded(tmp_path, capsys):
    data = tmp_path / "data"
    _, cert, key = make_ca_and_server(tmp_path / "ca", ["chat.acme.test"])
    args = ["--data", str(data), "cert", "import", "--cert", str(cert), "--key", str(key)]
    assert cli.main(args) == 0
    capsys.readouterr()
    (row,) = _rows(data)
    assert (row["action"], row["target"], row["address"]) == (
        "cert.install",
        "CN=chat.acme.test",
        "cli",
    )
    assert json.loads(row["detail"])["via"] == "import"
    assert "PRIVATE KEY" not in json.dumps(row)


@pytest.fixture
async def fake_relay(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """The relay's enrolment API (HTTPS, pinned) and tunnel API, on loopback."""
    _, cert, key = make_ca_and_server(tmp_path / "relay-ca", ["127.0.0.1"])
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    devices: dict[str, str] = {}

    async def enrol(request: web.Request) -> web.Response:
        body = await request.json()
        assert body["secret"] == "one-time-s3cret"
        return web.json_response(
            {
                "tenant": "acme",
                "hostname": "chat.acme.test",
                "network": "100.64.7.0/24",
                "address": "100.64.7.1",
                "overlay": "100.64.0.0/10",
                "relay_address": "100.64.0.1",
                "relay_public_key": "K" * 43 + "=",
                "endpoint": "127.0.0.1:51820",
                "tunnel_api": f"http://127.0.0.1:{ports['tunnel']}",
            }
        )

    async def add_staff(request: web.Request) -> web.Response:
        body = await request.json()
        devices[body["name"]] = f"100.64.7.{len(devices) + 2}"
        return web.json_response({"address": devices[body["name"]]}, status=201)

    async def remove_staff(request: web.Request) -> web.Response:
        return web.json_response(
            {}, status=200 if devices.pop(request.match_info["n"], "") else 404
        )

    ports: dict[str, int] = {}
    runners = []
    for name, routes, context in (
        ("api", [web.post("/v1/enrol", enrol)], tls),
        (
            "tunnel",
            [web.post("/v1/staff", add_staff), web.delete("/v1/staff/{n}", remove_staff)],
            None,
        ),
    ):
        app = web.Application()
        app.add_routes(routes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        runners.append(runner)
        ports[name] = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    token = {
        "a": f"127.0.0.1:{ports['api']}",
        "f": hashlib.sha256(der).hexdigest(),
        "s": "one-time-s3cret",
        "e": 2**40,
    }
    text = "cbr1." + base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")
    try:
        yield {"token": text}
    finally:
        for runner in runners:
            await runner.cleanup()


class _NoTunnel:
    """Stands in for the WireGuard tunnel: the test makes no interface on this host."""

    def __init__(self, *_: object) -> None:
        pass

    async def up(self) -> None:
        raise WireGuardError("no tunnel in this test")


async def test_enrolment_and_staff_devices_are_recorded(tmp_path, fake_relay, monkeypatch, capsys):
    settings: Settings = make_settings(tmp_path / "data")
    monkeypatch.setattr(relay_commands, "Tunnel", _NoTunnel)
    await relay_commands.enroll(settings, argparse.Namespace(token=fake_relay["token"], relay=None))
    assert relay_state.load(settings.data_dir) is not None
    for command in ("add", "revoke"):
        args = argparse.Namespace(staff_command=command, name="li-phone", owner="李", days=None)
        await relay_commands.staff_command(settings, args)
    with pytest.raises(relay_commands.CommandError):  # revoked already: nothing happens
        await relay_commands.staff_command(
            settings, argparse.Namespace(staff_command="revoke", name="li-phone")
        )
    capsys.readouterr()
    rows = _rows(settings.data_dir)
    assert [(r["action"], r["target"]) for r in rows] == [
        ("relay.enrol", "acme"),
        ("device.add", "li-phone"),
        ("device.revoke", "li-phone"),
    ]
    assert {(r["user_id"], r["user_name"], r["address"]) for r in rows} == {(None, ME, "cli")}
    assert json.loads(rows[0]["detail"]) == {
        "relay": "127.0.0.1:51820",
        "hostname": "chat.acme.test",
        "address": "100.64.7.1",
    }
    assert json.loads(rows[1]["detail"]) == {"owner": "李", "address": "100.64.7.2"}
    assert "s3cret" not in json.dumps(rows) and "PrivateKey" not in json.dumps(rows)


def _rows(data_dir: Path) -> list[dict[str, Any]]:
    """Read the log straight from the file, oldest first."""
    conn = sqlite3.connect(data_dir / "callbox.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM admin_audit ORDER BY id")]
    finally:
        conn.close()
