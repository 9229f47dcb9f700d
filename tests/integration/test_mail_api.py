"""The e-mail admin API: admins only, clear 422 codes for bad settings, passwords never
answered, connection tests that say what went wrong, every change audited."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Agent, Running
from tests.mail_servers import PASSWORD, USER, Dovecot, SmtpServer, free_port, idle_mailbox
from tests.testca import client_context, make_ca_and_server, server_context

MakeAgent = Any


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    server.start()
    yield server
    server.stop()


def _box(dovecot: Dovecot, **changes: Any) -> dict[str, Any]:
    return {
        "name": "support",
        "address": "help@example.com",
        "host": "127.0.0.1",
        "port": dovecot.port,
        "security": "none",
        "username": USER,
        "password": PASSWORD,
        **changes,
    }


async def _admin(make_agent: MakeAgent) -> Agent:
    agent: Agent = await make_agent("root", role="admin", status=None)
    return agent


async def test_mailbox_settings_tests_and_audit(make_agent: MakeAgent, dovecot: Dovecot) -> None:
    admin = await _admin(make_agent)
    made = await admin.post("/api/admin/mail/mailboxes", _box(dovecot), status=201)
    assert made["password_set"] is True and "password" not in made and "sealed" not in made
    good = await admin.post(f"/api/admin/mail/mailboxes/{made['id']}/test")
    assert (good["ok"], good["code"]) == (True, "ok")

    await admin.call("PATCH", f"/api/admin/mail/mailboxes/{made['id']}", {"password": "wrong"})
    bad = await admin.post(f"/api/admin/mail/mailboxes/{made['id']}/test")
    assert (bad["ok"], bad["code"]) == (False, "auth_failed")
    assert "password" in bad["detail"]

    await admin.call(
        "PATCH", f"/api/admin/mail/mailboxes/{made['id']}", {"password": PASSWORD, "folder": "Nope"}
    )
    missing = await admin.post(f"/api/admin/mail/mailboxes/{made['id']}/test")
    assert missing["code"] == "folder_missing"

    await admin.call(
        "PATCH", f"/api/admin/mail/mailboxes/{made['id']}", {"port": free_port(), "enabled": False}
    )
    closed = await admin.post(f"/api/admin/mail/mailboxes/{made['id']}/test")
    assert closed["code"] == "connect_failed"

    state = await admin.get("/api/admin/mail")
    assert [b["enabled"] for b in state["mailboxes"]] == [False]
    log = (await admin.get("/api/admin/audit?action=mail."))["entries"]
    actions = [e["action"] for e in log]
    assert actions.count("mail.mailbox_test") == 4
    assert "mail.mailbox_add" in actions and actions.count("mail.mailbox_change") == 3
    assert not any("wrong" in str(e) or PASSWORD in str(e) for e in log)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"host": "bad host!"}, "bad_host"),
        ({"port": 0}, "bad_port"),
        ({"port": 70000}, "bad_port"),
        ({"security": "ssl3"}, "bad_security"),
        ({"address": "not-an-address"}, "bad_address"),
        ({"name": ""}, "bad_name"),
        ({"folder": ""}, "bad_folder"),
        ({"lang": "fr"}, "bad_lang"),
        ({"group_id": 999}, "no_group"),
    ],
)
async def test_bad_mailbox_settings_get_clear_codes(
    make_agent: MakeAgent, change: dict[str, Any], code: str
) -> None:
    admin = await _admin(make_agent)
    body = {
        "name": "s",
        "address": "help@example.com",
        "host": "127.0.0.1",
        "port": 993,
        "username": "u",
        "password": "p",
        **change,
    }
    answer = await admin.post("/api/admin/mail/mailboxes", body, status=422)
    assert answer["error"]["code"] == code
    assert (await admin.get("/api/admin/mail"))["mailboxes"] == []


async def test_smtp_settings_test_and_templates(make_agent: MakeAgent) -> None:
    admin = await _admin(make_agent)
    none = await admin.post("/api/admin/mail/smtp/test")
    assert (none["ok"], none["code"]) == (False, "not_configured")
    server = SmtpServer()
    server.start()
    try:
        state = await admin.call(
            "PUT",
            "/api/admin/mail/smtp",
            {
                "host": "127.0.0.1",
                "port": server.port,
                "security": "none",
                "user": server.user,
                "password": "wrong",
                "from_address": "help@example.com",
                "notify": ["received", "resolved"],
            },
        )
        assert state["smtp"]["password_set"] is True and "password" not in state["smtp"]
        bad = await admin.post("/api/admin/mail/smtp/test")
        assert (bad["ok"], bad["code"]) == (False, "auth_failed")
        await admin.call("PUT", "/api/admin/mail/smtp", {"password": server.password})
        good = await admin.post("/api/admin/mail/smtp/test")
        assert (good["ok"], good["code"]) == (True, "ok")
        assert server.sink.messages == []  # a test sends nothing
    finally:
        server.stop()
    for change, code in [
        ({"port": -1}, "bad_port"),
        ({"security": "x"}, "bad_security"),
        ({"from_address": "nobody"}, "bad_address"),
        ({"notify": ["spam"]}, "bad_notify"),
    ]:
        answer = await admin.call("PUT", "/api/admin/mail/smtp", change, status=422)
        assert code in str(answer)

    body = {"kind": "answered", "lang": "en", "subject": "Answer", "body": "no field"}
    assert "bad_template" in str(
        await admin.call("PUT", "/api/admin/mail/templates", body, status=422)
    )
    body["body"] = "Dear {name}: {body} {marker} {__class__}"
    state = await admin.call("PUT", "/api/admin/mail/templates", body)
    [mine] = [t for t in state["templates"] if (t["kind"], t["lang"]) == ("answered", "en")]
    assert mine["custom"] is True and mine["body"] == body["body"]
    reset = {"kind": "answered", "lang": "en", "reset": True}
    state = await admin.call("PUT", "/api/admin/mail/templates", reset)
    [mine] = [t for t in state["templates"] if (t["kind"], t["lang"]) == ("answered", "en")]
    assert mine["custom"] is False


async def test_mail_settings_are_for_admins_only(make_agent: MakeAgent) -> None:
    supervisor = await make_agent("sup", role="supervisor", status=None)
    await supervisor.get("/api/admin/mail", status=403)
    await supervisor.call("PUT", "/api/admin/mail/smtp", {"host": "x"}, status=403)


async def test_staff_read_a_tickets_mails_and_download_their_files(
    running: Running, make_agent: MakeAgent
) -> None:
    box = running.box
    row = await idle_mailbox(box)
    msg = EmailMessage()
    msg["From"] = "li@example.com"
    msg["Subject"] = "发票"
    msg["Message-ID"] = "<files@example.com>"
    msg.set_content("见附件")
    msg.add_alternative("<p onclick='x()'>见附件</p><script>alert(1)</script>", subtype="html")
    msg.add_attachment(b"<html><script>alert(1)</script>", maintype="text", subtype="html",
                       filename="发票 1.html")  # fmt: skip
    outcome = await box.mail_in.import_message(row, 1, 1, bytes(msg))
    assert outcome.outcome == "opened" and outcome.ticket_id is not None
    agent = await make_agent(status=None)
    [mail] = await agent.get(f"/api/console/tickets/{outcome.ticket_id}/mails")
    assert mail["sender"] == "li@example.com" and "script" not in mail["html"]
    assert "onclick" not in mail["html"]
    [file] = mail["files"]
    assert (file["name"], file["type"]) == ("发票 1.html", "text/html")
    url = running.url(f"/api/console/tickets/{outcome.ticket_id}/mails/files/{file['sha256']}")
    async with agent.http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert await response.read() == b"<html><script>alert(1)</script>"
    await agent.get(f"/api/console/tickets/{outcome.ticket_id}/mails/files/{'0' * 64}", 404)
    await agent.get(f"/api/console/tickets/{outcome.ticket_id + 1}/mails", 404)


async def test_smtp_with_starttls_checks_the_certificate(
    make_agent: MakeAgent, tmp_path: Path
) -> None:
    ca, cert, key = make_ca_and_server(tmp_path, ["localhost"])
    server = SmtpServer(tls=server_context(cert, key))
    server.start()
    admin = await _admin(make_agent)
    change = {
        "host": "localhost",
        "port": server.port,
        "security": "starttls",
        "user": server.user,
        "password": server.password,
        "from_address": "help@example.com",
    }
    try:
        await admin.call("PUT", "/api/admin/mail/smtp", change)
        # A certificate from a CA the box does not trust: refused, and said so.
        untrusted = await admin.post("/api/admin/mail/smtp/test")
        assert (untrusted["ok"], untrusted["code"]) == (False, "tls_failed")
        # With the CA trusted (as an admin would install it), it works.
        admin.running.box.mail_out._tls_given = client_context(ca)
        trusted = await admin.post("/api/admin/mail/smtp/test")
        assert (trusted["ok"], trusted["code"]) == (True, "ok")
    finally:
        server.stop()
