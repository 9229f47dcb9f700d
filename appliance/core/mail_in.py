"""Mail in: read IMAP mailboxes and turn each new message into a ticket or a reply.

Idempotent and independent of the unread flag: every pass lists the UIDs of the folder
without the box's own keyword ($Callbox; every UID on a server without keywords),
read or unread, and imports those not yet recorded for (mailbox, UIDVALIDITY, UID);
a message is read with BODY.PEEK (which leaves its flags alone), recorded in
`mail_messages` in the same transaction as its ticket, and only after that commit
flagged \\Seen and $Callbox on the server. A crash between the commit and the flag
leaves a message the next pass skips by its record, and a copy of a message already
imported (same Message-ID, another UID or mailbox) is recorded and set aside.

Each enabled mailbox has a watcher: a pass, then IMAP IDLE until the server says
something changed or `IDLE_WAIT` passes, then a pass again; a server without IDLE is
polled every `POLL`. A watcher that fails waits (doubling up to `RETRY_MAX`) and
connects again; its last outcome shows on the admin page.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import imaplib
import json
import logging
import re
import socket
import sqlite3
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from threading import Event
from typing import Any

from appliance.core.actors import Staff
from appliance.core.backup_settings import Sealer
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import NotFound
from appliance.core.mail_out import Check, MailOut
from appliance.core.mail_parse import Parsed, html_text, parse
from appliance.core.mail_thread import Threading, number_in_subject
from appliance.core.store import customers as customer_store
from appliance.core.store import mail as store
from appliance.core.store import tickets as ticket_store
from appliance.core.store.mail import MailboxRow
from appliance.core.ticketflow import State, Ticket
from appliance.core.tickets import SUBJECT_MAX, NewTicket, Tickets

_LOGGER = logging.getLogger(__name__)

MESSAGE_MAX = 25 * 1024 * 1024  # bytes of a message the box takes; a larger one is refused
HEAD_MAX = 64 * 1024  # bytes of a refused message's header read (who sent it, its subject)
RECIPIENTS_MAX = 100  # To and Cc addresses; more is a mass mailing, set aside
TIMEOUT = 30.0  # s the IMAP server may take to answer a command
IDLE_WAIT = 300.0  # s of IDLE before the session is renewed (also the fallback poll)
POLL = 60.0  # s between passes when the server has no IDLE
RETRY_MIN = 5.0  # s after a failed connection, doubling
RETRY_MAX = 600.0
KEYWORD = "$Callbox"  # the box's own flag: imported (or set aside), whatever \Seen says
FLAGS = rf"(\Seen {KEYWORD})"
_EXISTS = re.compile(rb"^\* \d+ (EXISTS|RECENT|EXPUNGE)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one message became."""

    outcome: str  # opened, replied, ignored, refused; 'seen' when recorded before
    reason: str = ""
    ticket_id: int | None = None
    threaded_by: str = ""


class _Session:
    """A blocking IMAP session (runs in the mailbox's own thread)."""

    def __init__(self, box: MailboxRow, password: str, tls: ssl.SSLContext) -> None:
        if box.security == "tls":
            self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                box.host, box.port, ssl_context=tls, timeout=TIMEOUT
            )
        else:
            self.imap = imaplib.IMAP4(box.host, box.port, timeout=TIMEOUT)
        try:
            if box.security == "starttls":
                self.imap.starttls(ssl_context=tls)
            self.imap.login(box.username, password)
        except BaseException:
            self.abort()
            raise

    def select(self, folder: str) -> int:
        """Select a folder; return its UIDVALIDITY."""
        status, data = self.imap.select(_quoted(folder))
        if status != "OK":
            raise imaplib.IMAP4.error(f"folder_missing: {data[0]!r}")
        _, values = self.imap.response("UIDVALIDITY")
        self.imap.untagged_responses.clear()  # from here on, only news (see idle)
        return int(values[0]) if values and values[0] else 0

    def uids(self) -> list[int]:
        """Return the UIDs the box has not flagged as done: read or unread alike."""
        status, data = self.imap.uid("SEARCH", "UNKEYWORD", KEYWORD)
        if status != "OK":  # a server without keywords: every message
            status, data = self.imap.uid("SEARCH", "ALL")
        if status != "OK":
            raise imaplib.IMAP4.error("UID SEARCH failed")
        return [int(u) for u in (data[0] or b"").split()]

    def size(self, uid: int) -> int:
        _, data = self.imap.uid("FETCH", str(uid), "(RFC822.SIZE)")
        found = re.search(rb"RFC822\.SIZE (\d+)", data[0] if data and data[0] else b"")
        return int(found.group(1)) if found else 0

    def fetch(self, uid: int) -> bytes | None:
        _, data = self.imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple):
                return bytes(item[1])
        return None  # expunged meanwhile

    def flag(self, uid: int) -> None:
        status, _ = self.imap.uid("STORE", str(uid), "+FLAGS.SILENT", FLAGS)
        if status != "OK":  # a server without keywords: \Seen alone
            self.imap.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")

    def can_idle(self) -> bool:
        return "IDLE" in self.imap.capabilities

    def idle(self, wait: float) -> bool:
        """Wait in IDLE until the folder changes (True) or `wait` passes (False; the
        session is then spent: a timed-out socket file cannot be read again)."""
        # The folder changed during the pass (an EXISTS came with a FETCH or STORE
        # answer, and imaplib kept it): the server will not say it again in IDLE.
        news = [self.imap.untagged_responses.pop(n, None) for n in ("EXISTS", "EXPUNGE")]
        self.imap.untagged_responses.clear()
        if any(news):
            return True
        tag = self.imap._new_tag()  # imaplib 3.11 has no IDLE command
        self.imap.send(tag + b" IDLE\r\n")
        if not self.imap.readline().startswith(b"+"):
            raise imaplib.IMAP4.error("IDLE refused")
        self.imap.sock.settimeout(wait)
        try:
            while True:
                line = self.imap.readline()
                if not line:
                    raise imaplib.IMAP4.abort("the server closed the connection")
                if _EXISTS.match(line):
                    break
        except TimeoutError:
            return False
        self.imap.sock.settimeout(TIMEOUT)
        self.imap.send(b"DONE\r\n")
        while not self.imap.readline().startswith(tag):
            pass
        return True

    def logout(self) -> None:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            self.imap.logout()

    def abort(self) -> None:
        """Close the connection (from any thread): a blocked read returns at once, then
        the socket and its file are closed."""
        with contextlib.suppress(OSError):
            self.imap.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError, ValueError):
            self.imap.shutdown()


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap_check(err: BaseException) -> Check:
    """Return the test outcome an IMAP or socket error means."""
    text = str(err)
    if isinstance(err, ssl.SSLError | ssl.CertificateError):
        return Check(False, "tls_failed", f"TLS failed: {err}"[:200])
    if isinstance(err, TimeoutError):
        return Check(False, "timeout", "the server did not answer in time")
    if isinstance(err, imaplib.IMAP4.error):
        if text.startswith("folder_missing"):
            return Check(False, "folder_missing", "the folder does not exist")
        if "AUTHENTICATIONFAILED" in text.upper() or "LOGIN" in text.upper():
            return Check(False, "auth_failed", "the server refused the user name or password")
        return Check(False, "refused", text[:200])
    return Check(False, "connect_failed", f"cannot connect: {err}"[:200])


class MailIn:
    """Watch the mailboxes and import their messages."""

    def __init__(
        self,
        db: Database,
        tickets: Tickets,
        threading: Threading,
        sealer: Sealer,
        mail_out: MailOut,
        files: Path,
        *,
        clock: Callable[[], int] = now_ms,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._db = db
        self._tickets = tickets
        self._threading = threading
        self._sealer = sealer
        self._out = mail_out
        self.files = files  # <data>/mail: attachments, named by their SHA-256
        self._now = clock
        self._tls_given = tls  # else made on first use, in a worker thread: loading the
        # system's CAs takes 0.1-0.4 s, too long for the event loop
        self._watchers: dict[int, asyncio.Task[None]] = {}
        self._sessions: dict[int, _Session] = {}
        self._pools: dict[int, concurrent.futures.ThreadPoolExecutor] = {}
        self._stopped: dict[int, Event] = {}  # set when a watcher must stop
        # UIDs this process flagged, per (mailbox, UIDVALIDITY): not flagged again
        self._flagged: dict[tuple[int, int], set[int]] = {}

    def _context(self) -> ssl.SSLContext:
        """Return the TLS context (the system's CAs), made once (called off the loop)."""
        if self._tls_given is None:
            self._tls_given = ssl.create_default_context()
        return self._tls_given

    # -- watchers -----------------------------------------------------------------------

    async def open(self) -> None:
        """Start a watcher for each enabled mailbox."""
        await self.reload()

    async def reload(self) -> None:
        """Restart the watchers after mailboxes changed."""
        await self._stop_all()
        for box in await self._db.read(store.mailboxes):
            if box.enabled:
                self._stopped[box.id] = Event()
                self._pools[box.id] = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix=f"imap-{box.id}"
                )
                self._watchers[box.id] = asyncio.get_running_loop().create_task(self._watch(box.id))

    async def close(self) -> None:
        """Stop every watcher (a message mid-import is either committed or not)."""
        await self._stop_all()

    async def _stop_all(self) -> None:
        for stopped in self._stopped.values():
            stopped.set()
        for session in list(self._sessions.values()):
            session.abort()
        for task in self._watchers.values():
            task.cancel()
        await asyncio.gather(*self._watchers.values(), return_exceptions=True)
        for pool in self._pools.values():
            await asyncio.to_thread(pool.shutdown, True)  # off the loop
        for session in list(self._sessions.values()):  # made while stopping
            session.abort()
        self._watchers.clear()
        self._sessions.clear()
        self._pools.clear()
        self._stopped.clear()

    async def _run(self, box_id: int, fn: Callable[[], object]) -> object:
        return await asyncio.get_running_loop().run_in_executor(self._pools.get(box_id), fn)

    async def _watch(self, box_id: int) -> None:
        delay = RETRY_MIN
        while True:
            box = await self._db.read(lambda conn: store.mailbox(conn, box_id))
            if box is None or not box.enabled:
                return
            try:
                await self._session_loop(box)
                delay = RETRY_MIN
            except asyncio.CancelledError:
                raise
            except Exception as err:
                check = imap_check(err)
                _LOGGER.warning("mailbox %d: %s", box_id, check.code)
                await self._status(box_id, f"{check.code}: {check.detail}")
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX, delay * 2)
            finally:
                session = self._sessions.pop(box_id, None)
                if session is not None:
                    session.abort()

    async def _session_loop(self, box: MailboxRow) -> None:
        password = self._sealer.unseal(box.sealed)
        stopped = self._stopped[box.id]

        def connect() -> _Session:
            made = _Session(box, password, self._context())
            self._sessions[box.id] = made
            if stopped.is_set():  # stopped while connecting: nobody will use it
                made.abort()
                raise imaplib.IMAP4.abort("stopped")
            return made

        session = await self._run(box.id, connect)
        assert isinstance(session, _Session)
        while True:
            await self.sync(box, session)
            await self._status(box.id, "ok")
            if not session.can_idle():
                await asyncio.sleep(POLL)
                continue
            changed = await self._run(box.id, lambda: session.idle(IDLE_WAIT))
            if not changed:
                return  # spent: the watcher connects again (the fallback poll)

    async def _status(self, box_id: int, status: str) -> None:
        now = self._now()
        await self._db.write(lambda conn: store.set_status(conn, box_id, status, now))

    async def sync(self, box: MailboxRow, session: _Session) -> int:
        """Import every message of the folder not yet recorded; return how many."""
        uidvalidity = await self._run(box.id, lambda: session.select(box.folder))
        assert isinstance(uidvalidity, int)
        listed = await self._run(box.id, session.uids)
        assert isinstance(listed, list)
        known = await self._db.read(lambda conn: store.seen_uids(conn, box.id, uidvalidity, listed))
        flagged = self._flagged.setdefault((box.id, uidvalidity), set())
        done = 0
        for uid in listed:
            if uid in known:  # recorded, but the box stopped before flagging it
                if uid not in flagged:  # (a server without keywords lists it every pass)
                    await self._run(box.id, lambda u=uid: session.flag(u))  # type: ignore[misc]
                    flagged.add(uid)
                continue
            size = await self._run(box.id, lambda u=uid: session.size(u))  # type: ignore[misc]
            assert isinstance(size, int)
            if size > MESSAGE_MAX:
                raw = None
                head = await self._run(box.id, lambda u=uid: _head(session, u))  # type: ignore[misc]
                assert isinstance(head, bytes)
                await self.refuse(box, uidvalidity, uid, parse(head), size)
            else:
                raw = await self._run(box.id, lambda u=uid: session.fetch(u))  # type: ignore[misc]
                if raw is None:
                    continue
                assert isinstance(raw, bytes)
                await self.import_message(box, uidvalidity, uid, raw)
            # Flagged only now that the record is committed (see the module's note).
            await self._run(box.id, lambda u=uid: session.flag(u))  # type: ignore[misc]
            flagged.add(uid)
            done += 1
        return done

    # -- one message ------------------------------------------------------------------

    def _keep(self, parsed: Parsed) -> list[dict[str, object]]:
        """Write a message's files into the data folder (named by content); return
        what the record lists of them."""
        kept: list[dict[str, object]] = []
        for item in parsed.attachments:
            digest = hashlib.sha256(item.data).hexdigest()
            path = self.files / digest[:2] / digest
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                tmp = path.with_suffix(".part")
                tmp.write_bytes(item.data)
                tmp.replace(path)
            kept.append(
                {
                    "name": item.name,
                    "type": item.content_type,
                    "size": len(item.data),
                    "sha256": digest,
                    "cid": item.cid,
                }
            )
        return kept

    async def import_message(
        self, box: MailboxRow, uidvalidity: int, uid: int, raw: bytes
    ) -> Outcome:
        """Import one message: open a ticket, add it to one, or set it aside."""
        try:
            parsed = await asyncio.to_thread(parse, raw)  # a large message takes a while
        except Exception as err:  # e.g. multiparts nested past Python's recursion limit
            return await self._malformed(box, uidvalidity, uid, raw, err)
        kept = await asyncio.to_thread(self._keep, parsed) if parsed.attachments else []
        now = self._now()

        def job(conn: sqlite3.Connection) -> tuple[Outcome, Ticket | None]:
            if store.seen_uids(conn, box.id, uidvalidity, [uid]):
                return Outcome("seen"), None
            record = {
                "mailbox_id": box.id,
                "uidvalidity": uidvalidity,
                "uid": uid,
                "message_id": parsed.message_id,
                "sender": parsed.sender[:254],
                "subject": parsed.subject,
                "at": now,
            }
            reason = self._set_aside(conn, parsed)
            if reason:
                earlier = (
                    store.by_message_id(conn, parsed.message_id) if reason == "duplicate" else None
                )
                ticket_id = earlier.ticket_id if earlier is not None else None
                store.record(
                    conn, {**record, "outcome": "ignored", "reason": reason, "ticket_id": ticket_id}
                )
                return Outcome("ignored", reason, ticket_id), None
            ticket, how = self._thread(conn, parsed)
            files = (
                {"attachments": kept, "dropped": list(parsed.dropped)}
                if kept or parsed.dropped
                else {}
            )
            mail = {"mail": {"from": parsed.sender, "message_id": parsed.message_id, **files}}
            if ticket is not None:
                requester = customer_store.get(conn, ticket.fields["requester_id"] or 0)
                mine = requester is not None and requester.email.lower() == parsed.sender.lower()
                done = self._tickets.add_mail(
                    conn,
                    ticket,
                    parsed.text,
                    now,
                    sender=parsed.sender,
                    from_requester=mine,
                    data=mail,
                )
                outcome = Outcome("replied", "" if mine else "not_requester", done.id, how)
            else:
                done = self._open(conn, box, parsed, now)
                outcome = Outcome("opened", "", done.id)
            store.record(
                conn,
                {
                    **record,
                    "outcome": outcome.outcome,
                    "reason": outcome.reason,
                    "threaded_by": how,
                    "ticket_id": done.id,
                    "html": parsed.html,
                    "attachments": json.dumps(kept),
                },
            )
            return outcome, done

        result: tuple[Outcome, Ticket | None] = await self._tickets.write_mail(job)
        return result[0]

    async def _malformed(
        self, box: MailboxRow, uidvalidity: int, uid: int, raw: bytes, err: Exception
    ) -> Outcome:
        """Record a message the parser cannot read as refused, with what its headers
        say, so it is flagged like any other and never blocks the mailbox."""
        _LOGGER.warning("mailbox %d: message %d cannot be read (%s)", box.id, uid,
                        type(err).__name__)  # fmt: skip
        head = re.split(rb"\r?\n\r?\n", raw[:HEAD_MAX], maxsplit=1)[0]
        try:
            known = parse(head)
            message_id, sender, subject = known.message_id, known.sender, known.subject
        except Exception:
            message_id = sender = subject = ""
        now = self._now()

        def job(conn: sqlite3.Connection) -> Outcome:
            if store.seen_uids(conn, box.id, uidvalidity, [uid]):
                return Outcome("seen")
            store.record(
                conn,
                {
                    "mailbox_id": box.id,
                    "uidvalidity": uidvalidity,
                    "uid": uid,
                    "message_id": message_id,
                    "sender": sender[:254],
                    "subject": subject,
                    "outcome": "refused",
                    "reason": f"malformed: {type(err).__name__}"[:200],
                    "at": now,
                },
            )
            return Outcome("refused", "malformed")

        done: Outcome = await self._db.write(job)
        return done

    def _set_aside(self, conn: sqlite3.Connection, parsed: Parsed) -> str:
        """Return why a message opens nothing ('' when it is a person's mail)."""
        if parsed.message_id and store.by_message_id(conn, parsed.message_id) is not None:
            return "duplicate"
        if parsed.automatic:
            return parsed.automatic
        if not parsed.sender:
            return "null_sender"
        if parsed.sender.lower() in store.addresses(conn):
            return "loop"  # the box's own mail come back
        if parsed.recipients > RECIPIENTS_MAX:
            return "too_many_recipients"
        return ""

    def _thread(self, conn: sqlite3.Connection, parsed: Parsed) -> tuple[Ticket | None, str]:
        """Find the ticket a message answers, and how (see core/mail_thread.py)."""
        found: Ticket | None = None
        how = ""
        ticket_id = self._threading.ticket_of_ids(parsed.in_reply_to + parsed.references)
        if ticket_id is not None:
            found, how = ticket_store.get(conn, ticket_id), "token"
        if found is None:
            number = number_in_subject(parsed.subject)
            candidate = ticket_store.by_number(conn, number) if number else None
            if candidate is not None:
                requester = customer_store.get(conn, candidate.fields["requester_id"] or 0)
                if requester is not None and requester.email.lower() == parsed.sender.lower():
                    found, how = candidate, "subject"
        if found is None:
            ticket_id = self._threading.ticket_of_marker(parsed.text)
            if ticket_id is None and parsed.html:
                # Outlook and others quote the earlier mail in the HTML part only,
                # their text part holding just the new words.
                ticket_id = self._threading.ticket_of_marker(html_text(parsed.html))
            if ticket_id is not None:
                found, how = ticket_store.get(conn, ticket_id), "marker"
        # A merged ticket answers through the one it went into.
        for _ in range(10):
            if found is None or found.state != State.MERGED or found.merged_into is None:
                break
            found = ticket_store.get(conn, found.merged_into)
        if found is not None and found.state in (State.CLOSED, State.MERGED):
            return None, ""  # closed: a new request is a new ticket
        return found, how if found is not None else ""

    def _open(
        self,
        conn: sqlite3.Connection,
        box: MailboxRow,
        parsed: Parsed,
        now: int,
    ) -> Ticket:
        customer = customer_store.by_contact(conn, parsed.sender, "")
        if customer is None:
            name = parsed.sender_name or parsed.sender.partition("@")[0]
            customer = customer_store.create(conn, name[:64], parsed.sender, "", now)
        subject = parsed.subject[:SUBJECT_MAX] or "(no subject)"
        new = NewTicket(
            subject=subject,
            description=parsed.text,
            channel="email",
            group_id=box.group_id,
        )
        # The creation holds the text; the message's record its HTML and files.
        return self._tickets.open_from_mail(conn, new, customer.id, now)

    async def refuse(
        self, box: MailboxRow, uidvalidity: int, uid: int, head: Parsed, size: int
    ) -> Outcome:
        """Record a message too large to take, and tell a person's sender politely."""
        now = self._now()

        def job(conn: sqlite3.Connection) -> Outcome:
            if store.seen_uids(conn, box.id, uidvalidity, [uid]):
                return Outcome("seen")
            person = bool(head.sender) and not self._set_aside(conn, head)  # before recording
            store.record(
                conn,
                {
                    "mailbox_id": box.id,
                    "uidvalidity": uidvalidity,
                    "uid": uid,
                    "message_id": head.message_id,
                    "sender": head.sender[:254],
                    "subject": head.subject,
                    "outcome": "refused",
                    "reason": f"too_large: {size} bytes",
                    "at": now,
                },
            )
            smtp = store.smtp(conn)
            if person and smtp.from_address:
                limit = f"{MESSAGE_MAX // (1024 * 1024)} MB"
                self._out.queue(
                    conn, smtp, "refused", None, head.sender, {"body": limit}, now,
                    subject=head.subject, lang=box.lang,
                )  # fmt: skip
            return Outcome("refused", "too_large")

        refused: Outcome = await self._db.write(job)
        self._out.wake()
        return refused

    async def of_ticket(self, actor: Staff, ticket_id: int) -> list[dict[str, Any]]:
        """Return the mails of a ticket the user may see: sender, subject, the sanitised
        HTML and the files kept (NotFound for a ticket they may not see)."""

        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            self._tickets.visible(conn, actor, ticket_id)
            return store.messages_of(conn, ticket_id)

        found: list[dict[str, Any]] = await self._db.read(read)
        return found

    async def file_of(self, actor: Staff, ticket_id: int, sha256: str) -> tuple[Path, str]:
        """Return the path and name of a file kept with a ticket the user may see."""
        for message in await self.of_ticket(actor, ticket_id):
            for item in message["attachments"]:
                if item["sha256"] == sha256:
                    path = self.files / sha256[:2] / sha256
                    if path.is_file():
                        return path, str(item["name"])
        raise NotFound("no such file")

    async def test(self, box: MailboxRow) -> Check:
        """Log in to a mailbox and open its folder; say how it went."""

        def run() -> Check:
            try:
                session = _Session(box, self._sealer.unseal(box.sealed), self._context())
            except (OSError, imaplib.IMAP4.error, ssl.CertificateError) as err:
                return imap_check(err)
            try:
                session.select(box.folder)
                count = len(session.uids())
            except (OSError, imaplib.IMAP4.error) as err:
                return imap_check(err)
            finally:
                session.logout()
            return Check(True, "ok", f"{box.folder}: {count} messages")

        return await asyncio.to_thread(run)


def _head(session: _Session, uid: int) -> bytes:
    # At most HEAD_MAX bytes (a partial fetch): a refused message's header may be huge.
    _, data = session.imap.uid("FETCH", str(uid), f"(BODY.PEEK[HEADER]<0.{HEAD_MAX}>)")
    for item in data:
        if isinstance(item, tuple):
            return bytes(item[1])
    return b""
