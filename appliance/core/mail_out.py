"""Mail out: what a ticket's changes send, rendered into the outbox in the change's
own transaction, and the sender that hands the outbox to the SMTP server.

Nothing queued is lost: a mail is a row of `mail_outbox`, written with the reply or
state change that caused it, so it commits with it or not at all, and waits there
while the box or the mail server is down. Nothing is sent twice in the normal course:
before the SMTP transaction the sender marks the row 'sending' under a new attempt id
and commits that, and it records the outcome only for that attempt. The one window
left is a crash after the server accepted the mail (its 250 to DATA) and before 'sent'
is committed: the row is still 'sending' at the next start and is queued again, so
such a mail goes out at least once, never silently lost, and the repeat carries the
same Message-ID (the bytes were rendered once, at queue time), by which the receiver's
server or client drops it. That is the strongest promise SMTP allows: it has no
transaction id the sender could ask about after a crash.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
import re
import secrets
import smtplib
import socket
import sqlite3
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from appliance.core import mail_notices, mail_templates
from appliance.core.backup_settings import Sealer
from appliance.core.clock import local_text, now_ms
from appliance.core.conversation import Conversation, Message
from appliance.core.db import Database
from appliance.core.errors import StorageFull
from appliance.core.mail_thread import Threading, subject_tag
from appliance.core.store import conversations as conversation_store
from appliance.core.store import customers as customer_store
from appliance.core.store import mail as store
from appliance.core.store.mail import Outgoing, SmtpRow
from appliance.core.ticketflow import By, Event, Ticket
from appliance.core.webhook_sender import Retry, backoff

_LOGGER = logging.getLogger(__name__)

TIMEOUT = 30.0  # s one SMTP connection may wait for the server at each step
IDLE_POLL = 60.0  # s between looks at the outbox when nothing wakes the sender
BATCH = 20  # mails claimed per pass
RETRY = Retry(base=30.0, cap=3600.0, attempts=24)  # about a day of trying
_HOLD = 30.0  # s the sender waits when the database cannot record an outcome
_BARE_LF = re.compile(rb"(?<!\r)\n")
NOTICES = ("received", "answered", "resolved", "satisfaction")


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of a connection test: ok, or a code and what the server said."""

    ok: bool
    code: str  # ok, auth_failed, connect_failed, tls_failed, timeout, folder_missing, …
    detail: str


def smtp_check(err: BaseException) -> Check:
    """Return the test outcome an SMTP or socket error means."""
    if isinstance(err, smtplib.SMTPAuthenticationError):
        return Check(False, "auth_failed", "the server refused the user name or password")
    if isinstance(err, smtplib.SMTPNotSupportedError):
        return Check(False, "not_supported", str(err)[:200])
    if isinstance(err, ssl.SSLError | ssl.CertificateError):
        return Check(False, "tls_failed", f"TLS failed: {err}"[:200])
    if isinstance(err, TimeoutError | socket.timeout):
        return Check(False, "timeout", "the server did not answer in time")
    if isinstance(err, smtplib.SMTPException):
        return Check(False, "refused", str(err)[:200])
    return Check(False, "connect_failed", f"cannot connect: {err}"[:200])


TRANSCRIPT_MAX = 200_000  # characters of a mailed transcript; a longer chat is cut


def _transcript_line(m: Message, lang: str) -> str:
    """Return one message as a transcript line: [time] who: text."""
    at = local_text(m.created_at)[11:]  # HH:MM in the box's zone
    if m.event is not None:
        return f"[{at}] — {m.body}"
    who = m.sender_name or mail_templates.VISITOR[lang]
    body = f"{mail_templates.FILE[lang]} {m.body}" if m.file is not None else m.body
    return f"[{at}] {who}: {body}"


def _crlf(raw: bytes) -> bytes:
    """Return a mail with CRLF line ends (a mail queued before they were rendered so
    has bare LFs)."""
    return _BARE_LF.sub(b"\r\n", raw)


class MailOut:
    """Queue the mails tickets send, and send the outbox."""

    def __init__(
        self,
        db: Database,
        threading: Threading,
        sealer: Sealer,
        *,
        lang: str = "zh-CN",
        clock: Callable[[], int] = now_ms,
        retry: Retry | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._db = db
        self._threading = threading
        self._sealer = sealer
        self._lang = lang if lang in mail_templates.LANGS else "zh-CN"
        self._now = clock
        self._retry = retry or RETRY
        self._tls_given = tls  # else made on first use, in a worker thread: loading the
        # system's CAs takes 0.1-0.4 s, too long for the event loop
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._attempting: asyncio.Task[None] | None = None  # a claim-send-settle in flight
        # SMTP is blocking; one thread of its own so a slow server holds no shared worker.
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def _context(self) -> ssl.SSLContext:
        """Return the TLS context (the system's CAs), made once (called off the loop)."""
        if self._tls_given is None:
            self._tls_given = ssl.create_default_context()
        return self._tls_given

    # -- queueing, inside a ticket change's transaction ------------------------------

    def queue_in(
        self, conn: sqlite3.Connection, ticket: Ticket, written: Sequence[Event], now: int
    ) -> int:
        """Queue what these new events of a ticket send its requester (and SLA notices
        to staff who asked for them: core/mail_notices.py); return how many."""
        smtp = store.smtp(conn)
        if not smtp.from_address:
            return 0
        sla = [e for e in written if e.kind == "sla"]
        staff = mail_notices.queue_sla(self, conn, smtp, ticket, sla, now, self._lang) if sla else 0
        requester = ticket.fields["requester_id"]
        if requester is None:
            return staff
        customer = customer_store.get(conn, requester)
        if customer is None or not customer.email:
            return staff
        email_ticket = ticket.fields["channel"] == "email"
        queued = 0
        for event in written:
            kind = ""
            body = ""
            if event.kind == "created" and email_ticket:
                kind = "received"
            elif event.kind == "reply" and event.by == By.AGENT:
                kind = "reply" if email_ticket else "answered"
                body = str(event.data.get("body", ""))
            elif event.kind == "state" and event.data.get("to") == "resolved":
                kind = "resolved"
            elif event.kind == "state" and event.data.get("to") == "closed":
                if "satisfaction" in smtp.notify:
                    queued += mail_notices.queue_satisfaction(
                        self, self._threading, conn, smtp, ticket, customer, now
                    )
                continue
            if not kind or (kind != "reply" and kind not in smtp.notify):
                continue
            values = {"name": customer.name, "body": body}
            self.queue(conn, smtp, kind, ticket, customer.email, values, now)
            queued += 1
        return queued + staff

    def lang_of(self, conn: sqlite3.Connection, ticket: Ticket | None) -> str:
        """Return the language of a ticket's mails (its mailbox's, else the box's)."""
        return self._lang_of(conn, ticket)

    def _lang_of(self, conn: sqlite3.Connection, ticket: Ticket | None) -> str:
        if ticket is not None:
            lang = store.ticket_lang(conn, ticket.id)
            if lang:
                return lang
        return self._lang

    def queue(
        self,
        conn: sqlite3.Connection,
        smtp: SmtpRow,
        kind: str,
        ticket: Ticket | None,
        to: str,
        values: dict[str, str],
        now: int,
        *,
        subject: str = "",
        lang: str = "",
        attachments: Sequence[tuple[str, str, bytes]] = (),
    ) -> int:
        """Render a mail from its template and queue it; return its outbox id.

        `attachments` are (file name, content type, bytes), added after the text."""
        lang = lang or self._lang_of(conn, ticket)
        own = store.templates(conn).get((kind, lang))
        subject_t, body_t = own or mail_templates.BUILT_IN[kind][lang]
        domain = smtp.from_address.rpartition("@")[2] or "callbox.invalid"
        msg = EmailMessage()
        fields = dict(values)
        if ticket is not None:
            number = str(ticket.fields["number"])
            fields.update(
                number=number,
                subject=str(ticket.fields["subject"]),
                marker=self._threading.marker(ticket.id),
            )
            message_id = self._threading.message_id(ticket.id, domain)
            # Thread under the customer's last mail and our last one (RFC 5322 3.6.4).
            earlier = [
                m
                for m in (
                    store.last_incoming_id(conn, ticket.id),
                    store.last_sent_id(conn, ticket.id),
                )
                if m
            ]
            if earlier:
                msg["In-Reply-To"] = f"<{earlier[0]}>" if earlier[0][0] != "<" else earlier[0]
                msg["References"] = " ".join(m if m[0] == "<" else f"<{m}>" for m in earlier)
            title = f"{mail_templates.fill(subject_t, fields)} {subject_tag(number)}"
        else:
            fields.setdefault("subject", subject)
            message_id = f"<cb.notice.{secrets.token_hex(12)}@{domain}>"
            title = mail_templates.fill(subject_t, fields)
        msg["Message-ID"] = message_id
        msg["Date"] = formatdate(now / 1000, localtime=True)
        msg["From"] = formataddr((smtp.from_name, smtp.from_address))
        msg["To"] = to
        msg["Subject"] = " ".join(title.split())[:250]
        if kind != "reply":
            # A notice, not a person: auto-responders must not answer it (RFC 3834).
            msg["Auto-Submitted"] = "auto-replied" if kind == "refused" else "auto-generated"
            msg["X-Auto-Response-Suppress"] = "All"
        msg.set_content(mail_templates.fill(body_t, fields))
        for filename, content_type, data in attachments:
            main, _, sub = content_type.partition("/")
            msg.add_attachment(
                data, maintype=main, subtype=sub or "octet-stream", filename=filename
            )
        return store.enqueue(
            conn,
            {
                "kind": kind,
                "ticket_id": ticket.id if ticket is not None else None,
                "message_id": message_id.strip("<>"),
                "recipient": to,
                # CRLF line ends, as SMTP wants (RFC 5321 2.3.8): smtplib sends bytes
                # as they are, and a server refuses a body of bare LFs as one long
                # line (aiosmtpd past 1,000 bytes; Postfix and Exchange refuse bare LF).
                "raw": msg.as_bytes(policy=policy.SMTP),
                "next_at": now,
                "created_at": now,
            },
        )

    def queue_transcript(
        self, conn: sqlite3.Connection, conv: Conversation, to: str, now: int
    ) -> bool:
        """Queue the transcript of an ended chat its visitor asked for (what the visitor
        saw: public messages only); return False when no outgoing server is set up."""
        smtp = store.smtp(conn)
        if not smtp.from_address:
            return False
        lang = self._lang
        lines: list[str] = []
        size = 0
        after = 0
        while size < TRANSCRIPT_MAX:
            batch = conversation_store.messages_after(conn, conv.id, after, 500, staff=False)
            if not batch:
                break
            for m in batch:
                line = _transcript_line(m, lang)
                size += len(line) + 1
                if size > TRANSCRIPT_MAX:
                    lines.append(mail_templates.CUT[lang])
                    break
                lines.append(line)
            after = batch[-1].seq
        values = {"body": "\n".join(lines), "date": local_text(conv.created_at)}
        self.queue(conn, smtp, "transcript", None, to, values, now, lang=lang)
        return True

    # -- the sender -------------------------------------------------------------------

    async def open(self) -> None:
        """Queue again what a stopped box was sending, and start the sender."""
        now = self._now()
        again = await self._db.write(lambda conn: store.requeue_sending(conn, now))
        if again:
            _LOGGER.warning("%d mail(s) were being sent when the box stopped: sending again", again)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="smtp")
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop the sender; what is queued stays in the outbox. An attempt in flight
        ends first (its SMTP step, at most TIMEOUT, then its outcome is committed): a
        mail the server took while the box stopped is not left 'sending' to go out
        again at the next start."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._attempting is not None:
            await asyncio.gather(self._attempting, return_exceptions=True)
            self._attempting = None
        if self._pool is not None:
            # Off the loop: an SMTP step in flight may take up to TIMEOUT to return.
            await asyncio.to_thread(self._pool.shutdown, True)
            self._pool = None

    def wake(self) -> None:
        """Look at the outbox now (a change queued mail)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            wait = IDLE_POLL
            try:
                wait = await self.send_due()
            except StorageFull:
                wait = _HOLD
            except Exception:
                _LOGGER.exception("the mail sender failed; trying again later")
                wait = _HOLD
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.05, wait))

    async def send_due(self) -> float:
        """Send every due mail; return the seconds until the next is due."""
        while True:
            now = self._now()
            smtp, due = await self._db.read(
                lambda conn, at=now: (store.smtp(conn), store.due(conn, at, BATCH))  # type: ignore[misc]
            )
            if not due or not smtp.host:
                break
            for mail in due:
                await self._attempt(smtp, mail)
        upcoming = await self._db.read(store.next_due)
        if upcoming is None:
            return IDLE_POLL
        return min(IDLE_POLL, max(0.0, (upcoming - self._now()) / 1000))

    async def _attempt(self, smtp: SmtpRow, mail: Outgoing) -> None:
        # Stopping the sender does not cut an attempt between its claim and its outcome.
        self._attempting = asyncio.ensure_future(self._attempt_once(smtp, mail))
        await asyncio.shield(self._attempting)

    async def _attempt_once(self, smtp: SmtpRow, mail: Outgoing) -> None:
        attempt = secrets.token_hex(8)
        claimed = await self._db.write(lambda conn: store.claim(conn, mail.id, attempt))
        if not claimed:
            return
        # Committed 'sending' before the first byte goes to the server (see the module).
        error: BaseException | None = None
        unsendable = False
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._pool, self._send, smtp, mail)
        except (OSError, smtplib.SMTPException) as err:
            error = err
        except Exception as err:  # e.g. an address smtplib cannot encode (non-ASCII,
            # no SMTPUTF8): the same every time, so failed at once, never left
            # 'sending' to stop the rest of the batch.
            error, unsendable = err, True
        now = self._now()
        if error is None:
            await self._db.write(lambda conn: store.settle(conn, mail.id, attempt, "sent", now))
            return
        attempts = mail.attempts + 1
        permanent = (
            unsendable
            or isinstance(error, smtplib.SMTPRecipientsRefused)
            or (isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500)
        )
        text = f"{type(error).__name__}: {error}"[:500]
        if permanent or attempts >= self._retry.attempts:
            state, next_at = "failed", None
        else:
            state = "queued"
            next_at = now + int(backoff(attempts, self._retry, random.random()) * 1000)  # noqa: S311
        _LOGGER.warning("mail %d not sent (attempt %d): %s", mail.id, attempts, state)
        await self._db.write(
            lambda conn: store.settle(
                conn, mail.id, attempt, state, now, error=text, next_at=next_at
            )
        )

    def _connect(self, smtp: SmtpRow) -> smtplib.SMTP:
        if smtp.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=TIMEOUT, context=self._context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT)
        try:
            client.ehlo()
            if smtp.security == "starttls":
                client.starttls(context=self._context())
                client.ehlo()
            password = self._sealer.unseal(smtp.sealed)
            if smtp.user:
                client.login(smtp.user, password)
        except BaseException:
            client.close()
            raise
        return client

    def _send(self, smtp: SmtpRow, mail: Outgoing) -> None:
        client = self._connect(smtp)
        try:
            client.sendmail(smtp.from_address, [mail.recipient], _crlf(mail.raw))
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()

    async def test(self, smtp: SmtpRow) -> Check:
        """Connect and log in to an SMTP server (nothing is sent); say how it went."""
        if not smtp.host:
            return Check(False, "not_configured", "no SMTP server is set")

        def run() -> Check:
            try:
                self._connect(smtp).quit()
            except (OSError, smtplib.SMTPException, ssl.CertificateError) as err:
                return smtp_check(err)
            return Check(True, "ok", f"connected to {smtp.host}:{smtp.port}")

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)
