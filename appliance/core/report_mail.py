"""Scheduled reports by e-mail: subscriptions a supervisor sets, and the runner that
mails each due one once per period (docs/reports.md).

A subscription's slots are its hour of the box's local time every day, every Monday
or every 1st. A slot mails the period that just ended (yesterday, last ISO week, last
month). The runner looks each minute at the newest slot at or before now: if it is
later than the subscription's `served_until`, it reads the report and, in one write
job, queues the mails (one outbox row per address, the CSV attached) and moves
`served_until` to the slot, only if nobody moved it meanwhile. So a restart never
mails a period twice, and a box that was off for days mails the newest period once,
not once per missed slot. A change of the schedule (frequency or hour) sets
`served_until` to the change's time: slots before it never count. "Send now" queues
the mails with the manual mark and leaves the schedule alone.
"""

from __future__ import annotations

import logging
import sqlite3
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from appliance.core import mail_templates
from appliance.core.clock import now_ms
from appliance.core.contact import normal_email
from appliance.core.db import Database
from appliance.core.errors import InvalidInput, LimitReached, NotFound
from appliance.core.mail_out import MailOut
from appliance.core.periodic import Periodic
from appliance.core.report_rollup import DIMS, PERIODS
from appliance.core.reports import Report, Reports, box_zone
from appliance.core.store import mail as mail_store
from appliance.core.store import report_mail as store
from appliance.core.store.report_mail import MAX_SUBSCRIPTIONS, Subscription

_LOGGER = logging.getLogger(__name__)

FREQUENCIES = ("daily", "weekly", "monthly")
MAX_RECIPIENTS = 20
NAME_MAX = 100
KIND = "report"
EVERY = 60.0  # s between the runner's looks
CSV_TYPE = "text/csv"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A report as mailed: the CSV attachment's bytes and the body's plain-text table."""

    csv: bytes
    table: str


# (report, language) -> what the mail carries; the web side renders it with the page's
# catalog and the reports page's own CSV writer (webui/report_mail_views.py).
Render = Callable[[Report, str], Rendered]


@dataclass(frozen=True, slots=True)
class Slot:
    """A schedule's slot and the period it mails."""

    at: datetime  # aware, the box's zone
    first: date
    last: date
    label: str  # 2026-12-05, 2026-W49, 2026-11

    @property
    def ms(self) -> int:
        return int(self.at.timestamp() * 1000)


def _month_before(day: date) -> date:
    """Return the 1st of the month before `day`'s."""
    first = day.replace(day=1) - timedelta(days=1)
    return first.replace(day=1)


def last_slot(now: datetime, frequency: str, hour: int) -> Slot:
    """Return the newest slot at or before `now` (aware, in the box's zone)."""
    zone = now.tzinfo
    today = now.date()
    if frequency == "daily":
        day = today
        back: Callable[[date], date] = lambda d: d - timedelta(days=1)  # noqa: E731
    elif frequency == "weekly":
        day = today - timedelta(days=today.weekday())
        back = lambda d: d - timedelta(days=7)  # noqa: E731
    elif frequency == "monthly":
        day = today.replace(day=1)
        back = _month_before
    else:
        raise ValueError(frequency)
    at = datetime.combine(day, time(hour), tzinfo=zone)
    if at > now:
        day = back(day)
        at = datetime.combine(day, time(hour), tzinfo=zone)
    return slot_of(day, at, frequency)


def slot_of(day: date, at: datetime, frequency: str) -> Slot:
    """Return the slot of a day (the period before it: yesterday, last week, last month)."""
    last = day - timedelta(days=1)
    if frequency == "daily":
        return Slot(at, last, last, last.isoformat())
    if frequency == "weekly":
        first = day - timedelta(days=7)
        iso = first.isocalendar()
        return Slot(at, first, last, f"{iso.year}-W{iso.week:02d}")
    first = last.replace(day=1)
    return Slot(at, first, last, f"{first.year}-{first.month:02d}")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def plain_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return rows as a plain-text table, columns padded (a CJK character is two wide)."""
    lines = [list(head), *(list(r) for r in rows)]
    widths = [max(_width(line[i]) for line in lines) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        padded = (c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True))
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(lines[0]), rule, *(line(r) for r in lines[1:])])


def check(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Return a subscription's settings checked (422 with a code for what is wrong)."""
    name = " ".join(str(fields.get("name", "")).split())
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(f"bad_name: a name is 1 to {NAME_MAX} characters")
    raw = fields.get("recipients")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_RECIPIENTS:
        raise InvalidInput(f"bad_recipients: 1 to {MAX_RECIPIENTS} addresses")
    recipients: list[str] = []
    for address in raw:
        normal = normal_email(address) if isinstance(address, str) and len(address) <= 254 else None
        if not normal or not normal.isascii():
            raise InvalidInput(f"bad_address: not an e-mail address: {str(address)[:60]}")
        if normal not in recipients:
            recipients.append(normal)
    frequency = fields.get("frequency")
    if frequency not in FREQUENCIES:
        raise InvalidInput(f"bad_frequency: one of {', '.join(FREQUENCIES)}")
    hour = fields.get("hour")
    if not isinstance(hour, int) or isinstance(hour, bool) or not 0 <= hour <= 23:
        raise InvalidInput("bad_hour: an hour is 0 to 23")
    if fields.get("period") not in PERIODS:
        raise InvalidInput("bad_period: d, w or m")
    if fields.get("dim") not in DIMS:
        raise InvalidInput(f"bad_dim: one of {', '.join(DIMS)}")
    if fields.get("lang") not in mail_templates.LANGS:
        raise InvalidInput(f"bad_lang: one of {', '.join(mail_templates.LANGS)}")
    enabled = fields.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidInput("bad_enabled: true or false")
    return {
        "name": name,
        "recipients": recipients,
        "frequency": frequency,
        "hour": hour,
        "period": fields["period"],
        "dim": fields["dim"],
        "lang": fields["lang"],
        "enabled": enabled,
    }


class ReportMail:
    """Report subscriptions, and the runner that mails them."""

    def __init__(
        self,
        db: Database,
        reports: Reports,
        mail_out: MailOut,
        render: Render,
        *,
        zone: Callable[[], tzinfo] = box_zone,
        now: Callable[[], int] = now_ms,
    ) -> None:
        self._db = db
        self._reports = reports
        self._mail_out = mail_out
        self._render = render
        self._zone = zone
        self._now = now
        self._passes = Periodic("scheduled report pass", EVERY, self.run_due)

    # -- settings ---------------------------------------------------------------------

    async def subscriptions(self) -> list[Subscription]:
        """Return every subscription."""
        return await self._db.read(store.all_of)

    async def mail_ready(self) -> bool:
        """Tell whether outgoing mail is set up (without it nothing is queued)."""
        smtp = await self._db.read(mail_store.smtp)
        return bool(smtp.from_address)

    async def create(self, fields: Mapping[str, Any]) -> Subscription:
        """Add a subscription; its first slot is the first one after now."""
        good = check(fields)
        now = self._now()

        def write(conn: sqlite3.Connection) -> Subscription:
            if store.count(conn) >= MAX_SUBSCRIPTIONS:
                raise LimitReached(f"at most {MAX_SUBSCRIPTIONS} scheduled reports")
            new = Subscription(0, **good, served_until=now, last_period="",
                               last_sent_at=None, created_at=now, updated_at=now)  # fmt: skip
            found = store.get(conn, store.insert(conn, new))
            assert found is not None
            return found

        return await self._db.write(write)

    async def update(self, sub_id: int, fields: Mapping[str, Any]) -> Subscription:
        """Change a subscription; a new schedule starts counting from now."""
        good = check(fields)
        now = self._now()

        def write(conn: sqlite3.Connection) -> Subscription:
            old = store.get(conn, sub_id)
            if old is None:
                raise NotFound("no such scheduled report")
            moved = (old.frequency, old.hour) != (good["frequency"], good["hour"])
            # Turned on again: the slots missed while off are not owed.
            woken = good["enabled"] and not old.enabled
            served = now if moved or woken else old.served_until
            new = replace(old, **good, served_until=served, updated_at=now)
            store.update(conn, new)
            return new

        return await self._db.write(write)

    async def delete(self, sub_id: int) -> None:
        """Delete a subscription (mails already queued still go)."""
        if not await self._db.write(lambda conn: store.delete(conn, sub_id)):
            raise NotFound("no such scheduled report")

    # -- mailing ----------------------------------------------------------------------

    def _local_now(self) -> datetime:
        return datetime.fromtimestamp(self._now() / 1000, tz=UTC).astimezone(self._zone())

    async def _render_for(self, sub: Subscription, slot: Slot) -> Rendered:
        found = await self._reports.report(sub.period, sub.dim, slot.first, slot.last)
        return self._render(found, sub.lang)

    def _queue(
        self,
        conn: sqlite3.Connection,
        sub: Subscription,
        slot: Slot,
        rendered: Rendered,
        now: int,
        manual: bool,
    ) -> int:
        smtp = mail_store.smtp(conn)
        if not smtp.from_address:
            return 0
        label = slot.label + (mail_templates.MANUAL[sub.lang] if manual else "")
        filename = f"callbox-report-{sub.dim}-{sub.period}-{slot.label}.csv"
        for to in sub.recipients:
            values = {"name": sub.name, "date": label, "body": rendered.table}
            self._mail_out.queue(conn, smtp, KIND, None, to, values, now, lang=sub.lang,
                                 attachments=[(filename, CSV_TYPE, rendered.csv)])  # fmt: skip
        return len(sub.recipients)

    async def send_now(self, sub_id: int) -> int:
        """Queue a subscription's newest period now, marked manual; the schedule stays
        as it is. Return how many mails were queued (0: no outgoing server set up)."""
        sub = await self._db.read(lambda conn: store.get(conn, sub_id))
        if sub is None:
            raise NotFound("no such scheduled report")
        slot = last_slot(self._local_now(), sub.frequency, sub.hour)
        rendered = await self._render_for(sub, slot)
        now = self._now()
        queued = await self._db.write(
            lambda conn: self._queue(conn, sub, slot, rendered, now, manual=True)
        )
        if queued:
            self._mail_out.wake()
        return queued

    async def run_due(self) -> int:
        """Queue the mails of every subscription whose newest slot is unserved; return
        how many subscriptions were served."""
        local = self._local_now()
        served = 0
        smtp = await self._db.read(mail_store.smtp)
        if not smtp.from_address:
            return 0  # nothing served: the newest period goes once mail is set up
        for sub in await self._db.read(store.enabled):
            slot = last_slot(local, sub.frequency, sub.hour)
            if slot.ms <= sub.served_until:
                continue
            rendered = await self._render_for(sub, slot)
            now = self._now()

            def write(conn: sqlite3.Connection, sub: Subscription = sub, slot: Slot = slot,
                      rendered: Rendered = rendered, now: int = now) -> bool:  # fmt: skip
                # Served only together with its mails; if another pass (or a change)
                # got there first, nothing is queued.
                if not store.mark_served(conn, sub.id, sub.served_until, slot.ms, slot.label, now):
                    return False
                self._queue(conn, sub, slot, rendered, now, manual=False)
                return True

            if await self._db.write(write):
                served += 1
        if served:
            self._mail_out.wake()
        return served

    def start(self) -> None:
        """Start the runner."""
        self._passes.start()

    async def close(self) -> None:
        """Stop the runner."""
        await self._passes.close()
