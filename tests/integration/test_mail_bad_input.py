"""Bad mail in, through dovecot on loopback, as the admin sees it: malformed MIME (one
nested past Python's recursion limit, one without its boundary, headers with NUL and
broken bytes, thousands of attachments), a 30 MB message, a mass mailing to 500
addresses (in Cc) naming another customer's ticket. Each is recorded with a clear reason on
the admin's "recent mail in", none blocks the mailbox or reaches another customer, and
the 30 MB message is never fetched (only its first 64 KB of header)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from appliance.core import mail_in
from appliance.core.clock import now_ms
from appliance.core.store import customers as customer_store
from appliance.core.store import mail as mail_store
from tests.conftest import Agent
from tests.integration.test_mail_flow import BOX_ADDRESS, _setup, mail, tickets_of, until
from tests.mail_servers import Dovecot, SmtpServer

pytestmark = pytest.mark.timeout(180)
MakeAgent = Callable[..., Awaitable[Agent]]


@pytest.fixture
def imap() -> Iterator[Dovecot]:
    server = Dovecot()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def _nested(depth: int) -> bytes:
    parts = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    )
    return (
        b"From: deep@example.com\r\nTo: " + BOX_ADDRESS.encode() + b"\r\nSubject: deep\r\n"
        b"Message-ID: <deep@example.com>\r\n" + parts + b"Content-Type: text/plain\r\n\r\nhi\r\n"
    )


def _many_parts(count: int) -> bytes:
    parts = b"".join(
        b"--X\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename=f%d.bin\r\n\r\nabc%d\r\n" % (i, i)
        for i in range(count)
    )
    return (
        b"From: parts@example.com\r\nSubject: parts\r\nMessage-ID: <parts@example.com>\r\n"
        b"Content-Type: multipart/mixed; boundary=X\r\n\r\n"
        b"--X\r\nContent-Type: text/plain\r\n\r\nmany files\r\n" + parts + b"--X--\r\n"
    )


def _huge(size: int) -> bytes:
    head = (
        b"From: big@example.com\r\nTo: " + BOX_ADDRESS.encode() + b"\r\nSubject: video\r\n"
        b"Message-ID: <big@example.com>\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"
    return head + line * ((size - len(head)) // len(line) + 1)


async def test_bad_mail_is_recorded_for_the_admin_and_blocks_nothing(
    make_agent: MakeAgent,
    imap: Dovecot,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = await make_agent("root", role="admin", status=None)
    box = admin.running.box
    fetched: list[int] = []
    plain_fetch = mail_in._Session.fetch

    def spy(self: Any, uid: int) -> bytes | None:
        fetched.append(uid)
        return plain_fetch(self, uid)

    monkeypatch.setattr(mail_in._Session, "fetch", spy)

    # Customer A's ticket, whose tag a mass mailing will carry.
    await asyncio.to_thread(imap.append, mail("甲的工单", "甲的秘密", sender="a@example.com"))
    big = _huge(30 * 1024 * 1024)
    assert len(big) > 30 * 1024 * 1024
    others = [
        _nested(3000),
        b"From: nob@example.com\r\nSubject: no boundary\r\nContent-Type: multipart/mixed\r\n"
        b"\r\n--zzz\r\nContent-Type: text/plain\r\n\r\nhi\r\n--zzz--\r\n",
        b"From: \x00\xff <nul@exa\x00mple.com>\r\nSubject: \xc3\x28\x01bad\r\n\r\nbody\r\n",
        _many_parts(300),
        big,
    ]
    await _setup(box, imap, smtp_server)
    [first] = await until(lambda: tickets_of(box), "customer A's ticket")
    for raw in others:
        await asyncio.to_thread(imap.append, raw)
    crowd = ", ".join(f"c{i}@corp{i % 7}.example.cn" for i in range(500))
    tag = f"[#T{first.fields['number']}]"
    await asyncio.to_thread(
        imap.append,
        mail(f"通知 {tag}", "全员通知", sender="a@example.com", headers={"Cc": crowd}),
    )
    await asyncio.to_thread(imap.append, mail("正常的请求", "请回电", sender="ok@example.com"))

    async def all_in() -> list[dict[str, Any]]:
        state = await admin.get("/api/admin/mail")
        found: list[dict[str, Any]] = state["messages"]
        return found if len(found) == 8 else []

    shown = sorted(await until(all_in, "eight messages on the admin page"), key=lambda m: m["id"])
    got = [(m["sender"], m["outcome"], m["reason"].split(":")[0]) for m in shown]
    assert got[0] == ("a@example.com", "opened", "")
    assert got[1] == ("deep@example.com", "refused", "malformed")
    assert shown[1]["reason"] == "malformed: RecursionError"
    assert got[2] == ("nob@example.com", "opened", "")
    assert got[3][1:] == ("ignored", "null_sender")  # a broken byte makes no address
    assert "\x00" not in shown[3]["subject"] and "\x01" not in shown[3]["subject"]
    assert got[4] == ("parts@example.com", "opened", "")
    assert got[5] == ("big@example.com", "refused", "too_large")
    assert got[6] == ("a@example.com", "ignored", "too_many_recipients")
    assert got[7] == ("ok@example.com", "opened", "")
    assert shown[6]["ticket_id"] is None

    # The 30 MB message was never fetched, only its size and the head of its header.
    assert sorted(fetched) == [1, 2, 3, 4, 5, 7, 8]  # UID 6 is the 30 MB one
    # The many files: 20 kept.
    mails = await admin.get(f"/api/console/tickets/{shown[4]['ticket_id']}/mails")
    assert len(mails[0]["files"]) == 20

    # Nothing about customer A's ticket went to anyone but A; the mass mailing got no
    # answer; the large mail's sender was told politely.
    await asyncio.sleep(0.5)
    sent = [(str(m["To"]), str(m["Subject"])) for m in smtp_server.sink.messages]
    assert [to for to, subject in sent if tag in subject] == ["a@example.com"]
    assert ("big@example.com", "您的邮件未能送达：video") in sent
    assert not any(to.startswith("c") and "corp" in to for to, _ in sent)
    emails = await box.db.read(
        lambda c: [r[0] for r in c.execute("SELECT email FROM customers").fetchall()]
    )
    assert all("\x00" not in e for e in emails)
    crowd_customer = await box.db.read(
        lambda c: customer_store.by_contact(c, "c1@corp1.example.cn", "")
    )
    assert crowd_customer is None


async def test_an_address_smtp_cannot_carry_fails_once_and_holds_up_nothing(
    make_agent: MakeAgent, imap: Dovecot, smtp_server: SmtpServer
) -> None:
    admin = await make_agent("root", role="admin", status=None)
    box = admin.running.box
    await _setup(box, imap, smtp_server)

    def queue(to: str) -> Callable[[Any], int]:
        def job(conn: Any) -> int:
            smtp = mail_store.smtp(conn)
            return box.mail_out.queue(
                conn, smtp, "refused", None, to, {"body": "1 MB"}, now_ms(), subject="s"
            )

        return job

    # An internationalised address (valid, but smtplib has no SMTPUTF8), then a plain one.
    bad = await box.db.write(queue("张三@例子.公司"))
    good = await box.db.write(queue("ok@example.com"))
    box.mail_out.wake()

    async def settled() -> dict[int, Any]:
        rows = {o.id: o for o in await box.db.read(lambda c: mail_store.outbox(c, 10))}
        return rows if {rows[bad].state, rows[good].state} == {"failed", "sent"} else {}

    rows = await until(settled, "both mails settled")
    assert rows[bad].state == "failed" and rows[bad].attempts == 1
    assert rows[bad].last_error.startswith("UnicodeEncodeError")
    assert rows[good].state == "sent"
    assert [str(m["To"]) for m in smtp_server.sink.messages] == ["ok@example.com"]
