"""Mail out beyond the requester's notices: SLA warnings and breaches to the console
users who asked for them, and the satisfaction follow-up to the requester.

Both are queued by `MailOut.queue_in` inside the ticket write that causes them (the
SLA firing's transaction, the change that closed the ticket), so they commit with it
or not at all, as every mail of the outbox does.

- SLA: the users an SLA warning or breach tells on the console (the owner, else the
  group's members, and the followers: core/notifications.py) get a mail too when they
  gave an address on their account page and keep that kind on (breaches are on by
  default, warnings off). A notice has its own Message-ID, not the ticket's token: an
  agent's answer to it must not thread into the ticket as mail from a stranger.
- Satisfaction: once per ticket, when it closes (the customer confirmed, it closed by
  itself after the resolved period, or an agent closed it) and it was not rated: five
  links, one per score. A link carries `ticket.expiry.signature` under the box's
  threading key; it opens a page that asks to confirm (a GET records nothing: mail
  scanners open links), and the confirmation records the rating once, the ticket's
  history refusing a second.
"""

from __future__ import annotations

import hmac
import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from appliance.core import mail_templates
from appliance.core.clock import local_text, now_ms
from appliance.core.contact import normal_email
from appliance.core.db import Database
from appliance.core.errors import InvalidInput
from appliance.core.mail_thread import Threading
from appliance.core.notifications import sla_recipients
from appliance.core.store import accounts as account_store
from appliance.core.store import mail as store
from appliance.core.store import settings as settings_store
from appliance.core.store import tickets as ticket_store
from appliance.core.store.mail import NoticePrefs, SmtpRow
from appliance.core.ticketflow import Event, Ticket
from appliance.core.visitor_records import Customer

if TYPE_CHECKING:
    from appliance.core.mail_out import MailOut

RATING_FOR = 30 * 24 * 3600 * 1000  # ms a satisfaction link works
RATING_PATH = "/api/visitor/mail-rating"
_PURPOSE = "rating"
_TOKEN = re.compile(r"^(\d{1,12})\.([0-9a-z]{1,12})\.([0-9a-f]{20})$")
_SLA_KINDS = {"warning": "sla_warning", "breach": "sla_breach"}


def rating_token(threading: Threading, ticket_id: int, expires_at: int) -> str:
    """Return the signed token of a ticket's satisfaction links."""
    text = f"{ticket_id}.{_base36(expires_at)}"
    return f"{text}.{threading.sign(_PURPOSE, text)}"


def ticket_of_rating(threading: Threading, token: str, now: int) -> int | None:
    """Return the ticket a satisfaction token names while it is valid, else None."""
    found = _TOKEN.match(token)
    if found is None:
        return None
    ticket, expiry, sig = found.groups()
    text = f"{int(ticket)}.{expiry}"
    if not hmac.compare_digest(threading.sign(_PURPOSE, text), sig) or int(expiry, 36) < now:
        return None
    return int(ticket)


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def check_prefs(user_id: int, address: str, sla_warning: bool, sla_breach: bool) -> NoticePrefs:
    """Return a user's SLA mail choices checked (InvalidInput for a bad address)."""
    address = address.strip()
    if address:
        normal = normal_email(address)
        if not normal:
            raise InvalidInput("bad_address: not an e-mail address")
        address = normal
    return NoticePrefs(user_id, address, sla_warning, sla_breach)


def queue_sla(
    out: MailOut,
    conn: sqlite3.Connection,
    smtp: SmtpRow,
    ticket: Ticket,
    events: Sequence[Event],
    now: int,
    lang: str,
) -> int:
    """Queue the mails of a ticket's SLA warnings and breaches; return how many."""
    queued = 0
    for event in events:
        kind = _SLA_KINDS.get(str(event.data.get("change")))
        notify = event.data.get("notify")
        if kind is None or not isinstance(notify, dict):
            continue
        users = sla_recipients(conn, ticket, notify, followers=True)
        prefs = store.notice_prefs(conn, users)
        metric = mail_templates.METRIC.get(str(event.data.get("metric")), {}).get(lang, "SLA")
        due_at = event.data.get("due_at")
        due = mail_templates.DUE[str(event.data["change"])][lang].format(
            metric=metric, at=local_text(due_at if isinstance(due_at, int) else None)
        )
        for user_id in users:
            pref = prefs.get(user_id)
            wanted = pref is not None and (
                pref.sla_breach if kind == "sla_breach" else pref.sla_warning
            )
            if pref is None or not wanted or not pref.address:
                continue
            user = account_store.user(conn, user_id)
            values = {
                "name": user.display_name if user is not None else "",
                "body": due,
                "number": str(ticket.fields["number"]),
            }
            out.queue(
                conn, smtp, kind, None, pref.address, values, now,
                subject=str(ticket.fields["subject"]), lang=lang,
            )  # fmt: skip
            queued += 1
    return queued


def queue_satisfaction(
    out: MailOut,
    threading: Threading,
    conn: sqlite3.Connection,
    smtp: SmtpRow,
    ticket: Ticket,
    customer: Customer,
    now: int,
) -> int:
    """Queue a closed ticket's satisfaction follow-up, once per ticket; return 1 if
    queued (0 when rated, asked before, or the box has no public host for links)."""
    host = settings_store.values(conn, "box.public_host").get("box.public_host", "")
    if not host or not customer.email:
        return 0
    if store.queued_kind(conn, ticket.id, "satisfaction"):
        return 0
    if ticket_store.has_entry(conn, ticket.id, "rating"):
        return 0
    token = quote(rating_token(threading, ticket.id, now + RATING_FOR))
    lang = out.lang_of(conn, ticket)
    words = mail_templates.SCORES[lang]
    links = "\n".join(
        f"{n} - {words[n - 1]}: https://{host}{RATING_PATH}?t={token}&score={n}"
        for n in range(5, 0, -1)
    )
    out.queue(conn, smtp, "satisfaction", ticket, customer.email, {"name": customer.name,
              "body": links}, now)  # fmt: skip
    return 1


class MailNotices:
    """A console user's SLA mail choices, and the check of a satisfaction link."""

    def __init__(self, db: Database, threading: Threading, clock: Callable[[], int] = now_ms):
        self._db = db
        self._threading = threading
        self._now = clock

    async def prefs(self, user_id: int) -> NoticePrefs:
        """Return a user's SLA mail choices (the defaults when never set)."""
        found = await self._db.read(lambda conn: store.notice_prefs(conn, [user_id]))
        return found.get(user_id) or NoticePrefs(user_id, "", False, True)

    async def set_prefs(
        self, user_id: int, address: str, sla_warning: bool, sla_breach: bool
    ) -> NoticePrefs:
        """Store a user's SLA mail choices; return them as stored."""
        prefs = check_prefs(user_id, address, sla_warning, sla_breach)
        now = self._now()
        await self._db.write(lambda conn: store.set_notice_prefs(conn, prefs, now))
        return prefs

    def rating_ticket(self, token: str) -> int | None:
        """Return the ticket a satisfaction link's token names while valid, else None."""
        return ticket_of_rating(self._threading, token, self._now())
