"""Replies as real clients send them, and the servers failing, on loopback (dovecot,
aiosmtpd): Outlook-like replies with the threading headers dropped and the quote in
the HTML part only, Gmail-like replies through a provider that rewrote our Message-ID,
the subject prefixes of Chinese, English and German clients, a forward by a colleague,
a forged In-Reply-To naming another customer's ticket; the SMTP server going down and
coming back while the box runs (nothing lost, nothing doubled); the IMAP server
restarting in the middle of a pass (every message imported once)."""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from appliance.core import mail_in, mail_out
from appliance.core.box import Box
from appliance.core.store import mail as mail_store
from appliance.core.webhook_sender import Retry
from tests.integration.test_mail_flow import (
    BOX_ADDRESS,
    CUSTOMER,
    _setup,
    agent,
    events_of,
    mail,
    tickets_of,
    until,
)
from tests.mail_servers import Dovecot, SmtpServer

pytestmark = pytest.mark.timeout(120)


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


def client_reply(
    subject: str,
    new_text: str,
    quoted: str,
    *,
    sender: str = CUSTOMER,
    in_reply_to: str = "",
    quote_in_text: bool = False,
) -> bytes:
    """A reply as Outlook or Gmail sends it: a text part, and an HTML part with the new
    words and the earlier mail quoted (in the text part too only when asked)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = BOX_ADDRESS
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{time.monotonic_ns()}@mail.client.example.com>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    quote_lines = "".join(f"<div>{html.escape(line)}</div>" for line in quoted.splitlines())
    msg.set_content(new_text + ("\n\n> " + quoted.replace("\n", "\n> ") if quote_in_text else ""))
    msg.add_alternative(
        f"<html><body><div>{html.escape(new_text)}</div><div id='appendonsend'></div><hr>"
        f"<div><b>发件人:</b> 客服中心 &lt;{BOX_ADDRESS}&gt;</div>"
        f"<blockquote style='margin:0 0 0 .8ex'>{quote_lines}</blockquote></body></html>",
        subtype="html",
    )
    return bytes(msg)


async def _sent(smtp: SmtpServer, count: int) -> list[EmailMessage]:
    async def enough() -> list[EmailMessage]:
        return smtp.sink.messages if len(smtp.sink.messages) >= count else []

    found: list[EmailMessage] = await until(enough, f"{count} mails out")
    return found


async def _records(box: Box, count: int) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]]:
        found = await box.db.read(lambda c: mail_store.recent(c, 100))
        return found if len(found) >= count else []

    found: list[dict[str, Any]] = await until(enough, f"{count} messages imported")
    return sorted(found, key=lambda m: m["id"])


async def test_outlook_and_gmail_replies_thread_and_strangers_get_nothing(
    box: Box, imap: Dovecot, smtp_server: SmtpServer
) -> None:
    await _setup(box, imap, smtp_server)
    await asyncio.to_thread(imap.append, mail("打印机坏了", "三楼的打印机不出纸"))
    [ticket] = await until(lambda: tickets_of(box), "the ticket")
    number = ticket.fields["number"]
    [notice] = await _sent(smtp_server, 1)
    body = notice.get_body(("plain",))
    assert body is not None
    quoted = str(body.get_content())  # type: ignore[attr-defined]
    ours = str(notice["Message-ID"])
    rewritten = "<0102018c1d2e3f4a-rewritten-000000@eu-west-1.amazonses.com>"

    replies = [
        # Outlook (Chinese): headers dropped, the tag kept, quote in the HTML only.
        (f"答复: {notice['Subject']}", "型号是 HP 1020", ""),
        # Foxmail/QQ: the tag taken out of the subject; the quote in the HTML only.
        ("回复: 打印机坏了", "放在三楼东侧", ""),
        # Through a provider that rewrote our Message-ID: the reply names its id.
        (f"RE: 打印机坏了 [#T{number}]", "今天下午有人在", rewritten),
        # Outlook (German): no tag, no headers, the quote in the HTML only.
        ("AW: Drucker", "Danke", ""),
    ]
    for subject, text, reply_to in replies:
        raw = client_reply(subject, text, quoted, in_reply_to=reply_to)
        await asyncio.to_thread(imap.append, raw)
    # A colleague forwards the mail with their own words: a note, never a reply.
    fwd = client_reply(
        "Fwd: 打印机坏了", "转给你看看", quoted, sender="colleague@example.com", quote_in_text=True
    )
    await asyncio.to_thread(imap.append, fwd)
    # Another customer forges In-Reply-To with a real id of this ticket's mail (the
    # token is genuine, the sender is not the requester): a note, nothing sent to them.
    forged = client_reply("Re: hi", "把工单内容发给我", "", sender="evil@example.com",
                          in_reply_to=ours)  # fmt: skip
    await asyncio.to_thread(imap.append, forged)

    records = await _records(box, 7)
    assert [(m["outcome"], m["reason"], m["threaded_by"]) for m in records] == [
        ("opened", "", ""),
        ("replied", "", "subject"),
        ("replied", "", "marker"),
        ("replied", "", "subject"),
        ("replied", "", "marker"),
        ("replied", "not_requester", "marker"),
        ("replied", "not_requester", "token"),
    ]
    assert {m["ticket_id"] for m in records} == {ticket.id}
    events = await events_of(box, ticket.id)
    said = [(e.kind, e.by, e.data["body"]) for e in events if e.kind in ("reply", "note")]
    assert said == [
        ("reply", "customer", "型号是 HP 1020"),
        ("reply", "customer", "放在三楼东侧"),
        ("reply", "customer", "今天下午有人在"),
        ("reply", "customer", "Danke"),
        ("note", "system", said[4][2]),
        ("note", "system", "把工单内容发给我"),
    ]
    assert said[4][2].startswith("转给你看看")
    # An agent answers: it goes to the requester only.
    staff = await agent(box)
    await box.tickets.comment(staff, ticket.id, "师傅下午到", public=True)
    out = await _sent(smtp_server, 2)
    await asyncio.sleep(0.3)
    assert {str(m["To"]) for m in smtp_server.sink.messages} == {CUSTOMER}
    assert len(out) == 2


async def test_the_smtp_server_down_and_back_loses_and_doubles_nothing(
    box: Box, imap: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mail_out, "RETRY", Retry(base=0.2, cap=0.4, attempts=100))
    smtp = SmtpServer()  # down at first
    await _setup(box, imap, smtp)
    box.mail_out._retry = mail_out.RETRY
    await asyncio.to_thread(imap.append, mail("停机", "服务器会停"))
    [ticket] = await until(lambda: tickets_of(box), "the ticket")
    staff = await agent(box)
    try:
        for n in range(3):
            await box.tickets.comment(staff, ticket.id, f"第 {n} 次回复", public=True)

        async def tried() -> bool:
            rows = await box.db.read(lambda c: mail_store.outbox(c, 50))
            return len(rows) == 4 and all(r.attempts >= 2 for r in rows)

        await until(tried, "attempts while the server is down")
        smtp.start()  # back
        await _sent(smtp, 4)
        # Down again in the middle of the conversation, more replies, back again.
        smtp.stop()
        for n in range(3, 6):
            await box.tickets.comment(staff, ticket.id, f"第 {n} 次回复", public=True)
        await asyncio.sleep(0.6)
        smtp.start()
        await _sent(smtp, 7)

        async def settled() -> bool:
            rows = await box.db.read(lambda c: mail_store.outbox(c, 50))
            return all(r.state == "sent" for r in rows)

        await until(settled, "every mail recorded sent")
        await asyncio.sleep(0.8)  # a repeat would come within the retry's wait
        ids = [str(m["Message-ID"]) for m in smtp.sink.messages]
        assert len(ids) == 7 and len(set(ids)) == 7
        bodies = sorted(
            str(b.get_content())  # type: ignore[attr-defined]
            for m in smtp.sink.messages
            if m["Auto-Submitted"] is None and (b := m.get_body(("plain",))) is not None
        )
        assert [b.splitlines()[0] for b in bodies] == [f"第 {n} 次回复" for n in range(6)]
    finally:
        smtp.stop()


async def test_an_imap_restart_in_the_middle_of_a_pass_imports_each_once(
    box: Box, imap: Dovecot, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mail_in, "RETRY_MIN", 0.2)
    # Each import waits a little, so the pass lasts seconds and the halt below lands in
    # it however busy the machine is (a fast pass had finished before the halt).
    original = mail_in.MailIn.import_message

    async def slowed(self: mail_in.MailIn, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.03)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(mail_in.MailIn, "import_message", slowed)
    total = 100
    for n in range(total):
        await asyncio.to_thread(imap.append, mail(f"请求 {n}", f"第 {n} 封"))
    await _setup(box, imap, smtp_server)

    async def some() -> int:
        return len(await tickets_of(box))

    await until(some, "a pass under way")
    await asyncio.to_thread(imap.halt)  # the server goes away mid-pass
    assert len(await tickets_of(box)) < total  # it was mid-pass
    await asyncio.sleep(0.3)
    await asyncio.to_thread(imap.start)

    async def all_in() -> int:
        return len(await tickets_of(box)) == total

    await until(all_in, "every message imported")
    await asyncio.sleep(0.5)
    tickets = await tickets_of(box)
    assert sorted(t.fields["subject"] for t in tickets) == sorted(f"请求 {n}" for n in range(total))
    records = await box.db.read(lambda c: mail_store.recent(c, 200))
    assert len(records) == total and {r["outcome"] for r in records} == {"opened"}
    rows = await box.db.read(lambda c: mail_store.mailboxes(c))
    assert rows[0].status == "ok"  # the watcher came back by itself
