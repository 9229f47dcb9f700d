"""What ticket changes queue in the outbox, rendered once, in the change's transaction."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from appliance.core import audit
from appliance.core.box import Box
from appliance.core.store import mail as mail_store
from appliance.core.tickets import NewTicket, Requester

BY = audit.Actor(None, "test", "127.0.0.1")


def _read(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


async def test_notices_follow_the_ticket_in_the_requesters_language(box: Box) -> None:
    user = await box.accounts.create_user("boss", "correct horse battery", "supervisor")
    staff = await box.routing.actor(user.id, user.display_name, user.role)
    new = NewTicket(subject="打印机", channel="phone", requester=Requester(email="li@example.com"))
    # No from address: mail out is off, nothing is queued.
    ticket = await box.tickets.create(staff, new)
    assert await box.db.read(lambda c: mail_store.outbox(c, 10)) == []

    await box.mail.change_smtp(BY, {"from_address": "help@example.com", "from_name": "客服"})
    await box.mail.set_template(
        BY, "answered", "zh-CN", "新回复", "{name}：{body} {marker} {__class__}", reset=False
    )
    ticket = await box.tickets.create(staff, new)
    await box.tickets.comment(staff, ticket.id, "请重启打印机", public=True)
    await box.tickets.comment(staff, ticket.id, "内部备注", public=False)
    await box.tickets.move(staff, ticket.id, "resolved")
    queued = list(reversed(await box.db.read(lambda c: mail_store.outbox(c, 10))))
    # A phone ticket: no "received"; the answer as a notice; the resolution.
    assert [(o.kind, o.state, o.recipient) for o in queued] == [
        ("answered", "queued", "li@example.com"),
        ("resolved", "queued", "li@example.com"),
    ]
    answered, resolved = (_read(o.raw) for o in queued)
    number = ticket.fields["number"]
    assert str(answered["Subject"]) == f"新回复 [#T{number}]"
    text = answered.get_content()
    assert "请重启打印机" in text and "内部备注" not in text
    assert box.mail_in._threading.ticket_of_marker(text) == ticket.id
    assert "{__class__}" in text  # only the named fields are filled
    assert answered["Auto-Submitted"] == "auto-generated"
    assert "请确认" in str(resolved["Subject"])
    # Threaded under the earlier mail, each with its own signed Message-ID.
    assert resolved["In-Reply-To"] == f"<{queued[0].message_id}>"
    assert {box.mail_in._threading.ticket_of_id(o.message_id) for o in queued} == {ticket.id}

    # The admin turns the answered notice off: an answer queues nothing more.
    await box.mail.change_smtp(BY, {"notify": ["received", "resolved"]})
    other = await box.tickets.create(staff, new)
    await box.tickets.comment(staff, other.id, "好的", public=True)
    assert len(await box.db.read(lambda c: mail_store.outbox(c, 10))) == 2


def test_a_mail_goes_out_with_crlf_line_ends_even_if_queued_with_bare_lfs() -> None:
    from appliance.core.mail_out import _crlf

    assert _crlf(b"To: a\nSubject: b\r\n\r\nline\nline\r\n") == (
        b"To: a\r\nSubject: b\r\n\r\nline\r\nline\r\n"
    )
