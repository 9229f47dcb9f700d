"""E-mail in and out against real servers on loopback: dovecot (IMAP, IDLE) and
aiosmtpd (SMTP). A mail opens a ticket, replies thread by token, subject tag and
quoted marker, machines are ignored, a re-import duplicates nothing, attachments are
kept, and the outbox survives a restart with the server down and sends once."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from appliance.core import audit, mail_in, mail_out
from appliance.core.actors import Staff
from appliance.core.box import Box
from appliance.core.store import customers as customer_store
from appliance.core.store import mail as mail_store
from appliance.core.store import tickets as ticket_store
from appliance.core.ticketflow import Ticket
from appliance.core.webhook_sender import Retry
from tests.conftest import make_settings
from tests.mail_servers import PASSWORD, USER, Dovecot, SmtpServer

BY = audit.Actor(None, "test", "127.0.0.1")
CUSTOMER = "wang@example.com"
BOX_ADDRESS = "help@example.com"
_WAIT = 15.0  # s for a mail to travel through the servers and the box


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


async def until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    deadline = time.monotonic() + _WAIT
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _setup(box: Box, dovecot: Dovecot, smtp: SmtpServer) -> int:
    await box.mail.change_smtp(
        BY,
        {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "user": smtp.user,
            "password": smtp.password,
            "from_address": BOX_ADDRESS,
            "from_name": "客服中心",
        },
    )
    row = await box.mail.add_mailbox(
        BY,
        {
            "name": "support",
            "address": BOX_ADDRESS,
            "host": "127.0.0.1",
            "port": dovecot.port,
            "security": "none",
            "username": USER,
            "password": PASSWORD,
        },
    )
    return row.id


def mail(
    subject: str,
    body: str,
    *,
    sender: str = CUSTOMER,
    message_id: str = "",
    in_reply_to: str = "",
    headers: dict[str, str] | None = None,
    charset: str = "utf-8",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"王小明 <{sender}>"
    msg["To"] = BOX_ADDRESS
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or f"<{time.monotonic_ns()}@client.example.com>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    if charset == "utf-8":
        msg.set_content(body)
        return bytes(msg)
    # A body in a Chinese charset, base64, as Foxmail and Outlook send it.
    head = bytes(msg).split(b"\n\n", 1)[0].replace(b"\r\n", b"\n")
    head = b"\n".join(
        line for line in head.split(b"\n") if not line.lower().startswith(b"content-")
    )
    return (
        head
        + f"\nMIME-Version: 1.0\nContent-Type: text/plain; charset={charset}\n"
        "Content-Transfer-Encoding: base64\n\n".encode()
        + base64.encodebytes(body.encode("gbk" if charset == "gb2312" else charset))
    )


async def tickets_of(box: Box) -> list[Ticket]:
    def read(conn: Any) -> list[Ticket]:
        rows = conn.execute("SELECT id FROM tickets ORDER BY id").fetchall()
        return [t for t in (ticket_store.get(conn, r[0]) for r in rows) if t is not None]

    return list(await box.db.read(read))


async def events_of(box: Box, ticket_id: int) -> list[Any]:
    return list(await box.db.read(lambda conn: ticket_store.events(conn, ticket_id)))


async def agent(box: Box) -> Staff:
    user = await box.accounts.create_user("boss", "correct horse battery", "supervisor")
    return await box.routing.actor(user.id, user.display_name, user.role)


async def test_a_mail_opens_a_ticket_and_the_thread_goes_both_ways(
    box: Box, dovecot: Dovecot, smtp: SmtpServer
) -> None:
    await _setup(box, dovecot, smtp)
    first = mail("订单没到", "朱镕基的订单还没到，麻烦查一下。", charset="gb2312")
    await asyncio.to_thread(dovecot.append, first)
    [ticket] = await until(lambda: tickets_of(box), "the new ticket")
    assert ticket.fields["channel"] == "email"
    assert ticket.fields["subject"] == "订单没到"
    assert ticket.fields["description"] == "朱镕基的订单还没到，麻烦查一下。"
    customer = await box.db.read(lambda c: customer_store.get(c, ticket.fields["requester_id"]))
    assert customer is not None
    assert (customer.email, customer.name) == (CUSTOMER, "王小明")
    # Recorded, then flagged on the server (read or not, the keyword marks it done).
    flags = await until(lambda: asyncio.to_thread(dovecot.flags), "the flag")
    assert "$Callbox" in flags[1] and "\\Seen" in flags[1]

    # "ticket received" goes to the customer with a signed Message-ID and the tag.
    await until(lambda: _async(len(smtp.sink.messages) >= 1), "the received notice")
    notice = smtp.sink.messages[0]
    number = ticket.fields["number"]
    assert f"[#T{number}]" in str(notice["Subject"])
    assert notice["Auto-Submitted"] == "auto-generated"
    assert box.mail_in._threading.ticket_of_id(str(notice["Message-ID"]).strip("<>")) == ticket.id

    # The agent answers on the ticket page: it goes out by mail, threaded.
    staff = await agent(box)
    await box.tickets.comment(staff, ticket.id, "已经发货，明天到。", public=True)
    await until(lambda: _async(len(smtp.sink.messages) >= 2), "the reply")
    reply = smtp.sink.messages[1]
    body = reply.get_body()
    assert body is not None and "已经发货，明天到。" in body.get_content()
    assert reply["In-Reply-To"] is not None and "client.example.com" in str(reply["In-Reply-To"])
    assert reply["Auto-Submitted"] is None
    assert reply["To"] == CUSTOMER

    # The customer answers that mail: it joins the ticket by the token.
    answer = mail("Re: 订单", "收到，谢谢", in_reply_to=str(reply["Message-ID"]))
    await asyncio.to_thread(dovecot.append, answer)

    async def replied() -> bool:
        return any(
            e.kind == "reply" and e.by == "customer" for e in await events_of(box, ticket.id)
        )

    await until(replied, "the customer's reply on the ticket")
    assert len(await tickets_of(box)) == 1
    records = await box.db.read(lambda c: mail_store.recent(c, 10))
    [seen] = [m for m in records if m["outcome"] == "replied"]
    assert seen["threaded_by"] == "token"


async def _async(value: Any) -> Any:
    return value


async def test_replies_thread_by_subject_tag_and_by_quoted_marker(
    box: Box, dovecot: Dovecot, smtp: SmtpServer
) -> None:
    await _setup(box, dovecot, smtp)
    await asyncio.to_thread(dovecot.append, mail("发票问题", "请开发票"))
    [ticket] = await until(lambda: tickets_of(box), "the ticket")
    number = ticket.fields["number"]
    # Outlook-like: the threading headers dropped, the tag kept in the subject.
    await asyncio.to_thread(dovecot.append, mail(f"RE: 发票问题 [#T{number}]", "抬头写公司"))
    # Somebody else typing the tag does not get into the customer's ticket.
    await asyncio.to_thread(
        dovecot.append, mail(f"[#T{number}] hi", "我也要", sender="other@example.com")
    )
    # Gmail-like through a provider that rewrote our Message-ID: the quoted marker.
    marker = box.mail_in._threading.marker(ticket.id)
    quoted = f"好的\n\nOn Mon, help wrote:\n> 您好\n> {marker}\n"
    await asyncio.to_thread(dovecot.append, mail("Re: something", quoted))

    async def all_in() -> list[dict[str, Any]]:
        found = await box.db.read(lambda c: mail_store.recent(c, 10))
        return found if len(found) == 4 else []

    records = sorted(await until(all_in, "four messages"), key=lambda m: m["id"])
    assert [(m["outcome"], m["threaded_by"]) for m in records] == [
        ("opened", ""),
        ("replied", "subject"),
        ("opened", ""),
        ("replied", "marker"),
    ]
    assert records[1]["ticket_id"] == records[3]["ticket_id"] == ticket.id
    assert records[2]["ticket_id"] != ticket.id
    replies = [e for e in await events_of(box, ticket.id) if e.kind == "reply"]
    assert [e.data["body"] for e in replies] == ["抬头写公司", quoted.strip()]


async def test_machines_lists_and_bounces_open_nothing_and_send_nothing(
    box: Box, dovecot: Dovecot, smtp: SmtpServer
) -> None:
    await _setup(box, dovecot, smtp)
    machines = [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"List-Id": "<news.example.com>"},
        {"X-Autoreply": "yes"},
    ]
    for headers in machines:
        await asyncio.to_thread(dovecot.append, mail("Out of office", "away", headers=headers))
    await asyncio.to_thread(
        dovecot.append, mail("Undelivered", "failed", sender="mailer-daemon@example.com")
    )
    await asyncio.to_thread(dovecot.append, mail("loop", "x", sender=BOX_ADDRESS))

    async def all_in() -> list[dict[str, Any]]:
        found = await box.db.read(lambda c: mail_store.recent(c, 10))
        return found if len(found) == 6 else []

    records = await until(all_in, "six messages")
    assert sorted(m["reason"] for m in records) == sorted(
        ["auto_submitted", "precedence", "list", "auto_reply", "bounce", "loop"]
    )
    assert {m["outcome"] for m in records} == {"ignored"}
    assert await tickets_of(box) == []
    outbox = await box.db.read(lambda c: mail_store.outbox(c, 10))
    assert outbox == [] and smtp.sink.messages == []


async def test_a_reimport_after_a_crash_between_commit_and_flag_duplicates_nothing(
    box: Box, dovecot: Dovecot, smtp: SmtpServer
) -> None:
    raw = mail("重复", "只应有一张工单", message_id="<once@client.example.com>")
    await asyncio.to_thread(dovecot.append, raw)
    # The box imported UID 1 and stopped before flagging it: the record is committed,
    # the server still shows the message new.
    mailbox_id = await _setup_disabled(box, dovecot, smtp)
    row = await box.db.read(lambda c: mail_store.mailbox(c, mailbox_id))
    assert row is not None
    imap = await asyncio.to_thread(dovecot.client)
    await asyncio.to_thread(imap.select, "INBOX")
    _, uv = imap.response("UIDVALIDITY")
    await asyncio.to_thread(imap.logout)
    await box.mail_in.import_message(row, int(uv[0]), 1, raw)
    assert await asyncio.to_thread(dovecot.flags) == {1: ""}
    # The same message delivered again (another UID), as a provider retry would.
    await asyncio.to_thread(dovecot.append, raw)
    await box.mail.change_mailbox(BY, mailbox_id, {"enabled": True})
    flags = await until(lambda: _flagged(dovecot, 2), "both messages flagged")
    assert all("$Callbox" in f for f in flags.values())
    assert len(await tickets_of(box)) == 1
    records = await box.db.read(lambda c: mail_store.recent(c, 10))
    assert sorted((m["outcome"], m["reason"]) for m in records) == [
        ("ignored", "duplicate"),
        ("opened", ""),
    ]


async def _flagged(dovecot: Dovecot, count: int) -> dict[int, str]:
    flags = await asyncio.to_thread(dovecot.flags)
    done = {u: f for u, f in flags.items() if "$Callbox" in f}
    return done if len(done) == count else {}


async def _setup_disabled(box: Box, dovecot: Dovecot, smtp: SmtpServer) -> int:
    mailbox_id = await _setup(box, dovecot, smtp)
    await box.mail.change_mailbox(BY, mailbox_id, {"enabled": False})
    return mailbox_id


async def test_attachments_and_inline_images_are_kept_with_the_ticket(
    box: Box, dovecot: Dovecot, smtp: SmtpServer
) -> None:
    await _setup(box, dovecot, smtp)
    msg = EmailMessage()
    msg["From"] = CUSTOMER
    msg["To"] = BOX_ADDRESS
    msg["Subject"] = "截图"
    msg.set_content("见附件")
    msg.add_alternative('<p>见附件</p><img src="cid:shot1">', subtype="html")
    msg.get_payload()[1].add_related(  # type: ignore[index,union-attr]
        b"\x89PNG-image", maintype="image", subtype="png", cid="<shot1>"
    )
    msg.add_attachment("订单号 123".encode(), maintype="text", subtype="plain", filename="订单.txt")
    await asyncio.to_thread(dovecot.append, bytes(msg))
    [ticket] = await until(lambda: tickets_of(box), "the ticket")
    [record] = await box.db.read(lambda c: mail_store.messages_of(c, ticket.id))
    files = {a["name"]: a for a in record["attachments"]}
    assert set(files) == {"part-1", "订单.txt"}
    assert files["part-1"]["cid"] == "shot1"
    stored = box.mail_in.files / files["订单.txt"]["sha256"][:2] / files["订单.txt"]["sha256"]
    assert stored.read_bytes() == "订单号 123".encode()
    assert 'src="cid:shot1"' in record["html"]


async def test_the_outbox_survives_a_restart_with_the_server_down_and_sends_once(
    tmp_path: Path, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mail_out, "RETRY", Retry(base=0.2, cap=0.5, attempts=50))
    smtp = SmtpServer()  # not started: the mail server is down
    settings = make_settings(tmp_path / "data")
    first = Box(settings)
    await first.open()
    try:
        await _setup(first, dovecot, smtp)
        await asyncio.to_thread(dovecot.append, mail("停机测试", "邮件服务器停了"))
        [ticket] = await until(lambda: tickets_of(first), "the ticket")
        staff = await agent(first)
        await first.tickets.comment(staff, ticket.id, "我们来处理", public=True)

        async def tried() -> bool:
            out = await first.db.read(lambda c: mail_store.outbox(c, 10))
            return len(out) == 2 and all(o.attempts >= 1 for o in out)

        await until(tried, "failed attempts")
    finally:
        await first.close()
    # A crash in the middle of a send: one mail left 'sending' under its attempt.
    crashed = Box(settings)
    await crashed.db.open()
    out = await crashed.db.read(lambda c: mail_store.outbox(c, 10))
    assert {o.state for o in out} == {"queued"}
    await crashed.db.write(lambda c: mail_store.claim(c, out[0].id, "lost-attempt"))
    await crashed.db.close()

    smtp.start()  # the server is back
    try:
        again = Box(settings)
        await again.open()
        try:

            async def sent() -> bool:
                rows = await again.db.read(lambda c: mail_store.outbox(c, 10))
                return all(o.state == "sent" for o in rows)

            await until(sent, "the outbox sent")
            await asyncio.sleep(0.5)  # a second send would come within the retry's wait
        finally:
            await again.close()
        ids = sorted(str(m["Message-ID"]) for m in smtp.sink.messages)
        assert len(ids) == 2 and len(set(ids)) == 2
        assert {o.message_id for o in out} == {i.strip("<>") for i in ids}
    finally:
        smtp.stop()


async def test_bad_mail_is_recorded_and_leaks_nothing(
    box: Box, dovecot: Dovecot, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mail_in, "MESSAGE_MAX", 9000)  # bytes: stands for 25 MB
    await _setup(box, dovecot, smtp)
    await asyncio.to_thread(dovecot.append, mail("客户甲的工单", "甲的秘密"))
    [first] = await until(lambda: tickets_of(box), "the first ticket")
    # Another customer forges a token for the first customer's ticket.
    real = box.mail_in._threading.message_id(first.id, "example.com")
    forged = real.replace(real.split(".")[2], "0" * 16)
    await asyncio.to_thread(
        dovecot.append,
        mail("Re: 你好", "让我看看", sender="evil@example.com", in_reply_to=forged),
    )
    crowd = ",".join(f"c{i}@x.cn" for i in range(500))
    await asyncio.to_thread(
        dovecot.append, mail("群发", "hi", sender="bulk@example.com", headers={"Cc": crowd})
    )
    await asyncio.to_thread(dovecot.append, mail("大附件", "x" * 12000, sender="big@example.com"))

    async def all_in() -> list[dict[str, Any]]:
        found = await box.db.read(lambda c: mail_store.recent(c, 10))
        return found if len(found) == 4 else []

    records = {m["sender"]: m for m in await until(all_in, "four messages")}
    assert records["evil@example.com"]["outcome"] == "opened"
    assert records["evil@example.com"]["ticket_id"] != first.id
    assert (records["bulk@example.com"]["outcome"], records["bulk@example.com"]["reason"]) == (
        "ignored",
        "too_many_recipients",
    )
    assert records["big@example.com"]["outcome"] == "refused"
    assert records["big@example.com"]["reason"].startswith("too_large")
    # The sender of the large mail is told, politely; nobody else hears of ticket 1.
    await until(lambda: _async(len(smtp.sink.messages) >= 3), "the mails out")
    await asyncio.sleep(0.3)
    sent = {(str(m["To"]), str(m["Subject"])) for m in smtp.sink.messages}
    assert ("big@example.com", "您的邮件未能送达：大附件") in sent
    assert all(to != "evil@example.com" or first.fields["number"] not in s for to, s in sent)
    assert len([t for t in sent if t[0] == "bulk@example.com"]) == 0
    thread = [e.data.get("body") for e in await events_of(box, first.id)]
    assert "让我看看" not in thread


async def test_a_stop_during_a_send_waits_for_its_outcome(
    tmp_path: Path, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing the box while the SMTP step runs lets it end and commits its outcome:
    the mail is not left 'sending', to go out a second time at the next start."""
    entered, go = threading.Event(), threading.Event()
    send = mail_out.MailOut._send

    def held(self: mail_out.MailOut, *args: Any) -> None:
        entered.set()
        go.wait(10)
        send(self, *args)

    monkeypatch.setattr(mail_out.MailOut, "_send", held)
    smtp = SmtpServer()
    smtp.start()
    settings = make_settings(tmp_path / "data")
    try:
        box = Box(settings)
        await box.open()
        await _setup(box, dovecot, smtp)
        await asyncio.to_thread(dovecot.append, mail("停机时在发", "正在发送时关机"))
        assert await asyncio.to_thread(entered.wait, 20)  # a send is between claim and outcome
        closing = asyncio.ensure_future(box.close())
        await asyncio.sleep(0.3)
        assert not closing.done()  # it waits for the send
        go.set()
        await closing
        after = Box(settings)
        await after.db.open()
        try:
            out = await after.db.read(lambda c: mail_store.outbox(c, 10))
        finally:
            await after.db.close()
        assert "sending" not in {o.state for o in out}
        assert "sent" in {o.state for o in out}
        assert len(smtp.sink.messages) == sum(o.state == "sent" for o in out)
    finally:
        smtp.stop()
