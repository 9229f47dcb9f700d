"""The core of one appliance: storage and services, opened and closed together."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import Any

from dateutil.tz import tzlocal

from appliance.core import audit, restore, useragent
from appliance.core.accounts import Accounts
from appliance.core.actors import Visitor
from appliance.core.article_images import ArticleImages
from appliance.core.assignment import Dispatcher
from appliance.core.audit import AuditLog
from appliance.core.backup import Backups
from appliance.core.backup_settings import Sealer
from appliance.core.boxsettings import BoxSettings, Sites
from appliance.core.brand import Brand
from appliance.core.canned import Canned
from appliance.core.chats import Chats
from appliance.core.conversation import Message
from appliance.core.customers import Customers
from appliance.core.db import Database
from appliance.core.devices import Devices
from appliance.core.events import EventBus
from appliance.core.files import Files
from appliance.core.health import BackupStatusSource
from appliance.core.insight import Insight, run_retention
from appliance.core.invitations import Invitations
from appliance.core.iptable import IpTable
from appliance.core.kb_suggest import fill as fill_kb_index
from appliance.core.kb_transfer import Transfer
from appliance.core.knowledge import Knowledge
from appliance.core.load import LoadGauge, LoadLimits
from appliance.core.login import Login
from appliance.core.mail_admin import SEAL_INFO as MAIL_SEAL_INFO
from appliance.core.mail_admin import MailAdmin
from appliance.core.mail_in import MailIn
from appliance.core.mail_notices import MailNotices
from appliance.core.mail_out import MailOut
from appliance.core.mail_thread import Threading
from appliance.core.notifications import Notifications
from appliance.core.portal import Portal
from appliance.core.ratelimit import RateLimited, VisitorLimits
from appliance.core.ratings import Ratings
from appliance.core.readmarks import ReadMarks
from appliance.core.replytime import ReplyTime
from appliance.core.reports import Reports
from appliance.core.routing_config import RoutingConfig
from appliance.core.search import Search
from appliance.core.selfservice import SelfService
from appliance.core.sla import Sla
from appliance.core.teamwork import Teamwork
from appliance.core.throttle import LoginThrottle
from appliance.core.ticket_rules import Rules
from appliance.core.tickets import Tickets, run_recurring
from appliance.core.two_factor import TwoFactor
from appliance.core.user_admin import UserAdmin
from appliance.core.visitors import Visitors
from appliance.core.webhooks import Webhooks
from appliance.settings import Settings

_SECRET_FILE = "secret.key"  # noqa: S105 - a file name, not a secret
_SECRET_BYTES = 32


def write_private(path: Path, data: bytes) -> None:
    """Write a file atomically with mode 0600."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_secret(data_dir: Path) -> bytes:
    """Return the box's signing secret, creating it on first start."""
    path = data_dir / _SECRET_FILE
    if not path.exists():
        write_private(path, secrets.token_bytes(_SECRET_BYTES))
    secret = path.read_bytes()
    if len(secret) < _SECRET_BYTES:
        raise RuntimeError(f"{path} is damaged: expected {_SECRET_BYTES} bytes")
    return secret


class Box:
    """Every core service of the appliance, over one data directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.bus = EventBus()
        self.db = Database(settings.db_path, helper=settings.writer_helper)
        self.audit = AuditLog(self.db)  # what admins did; services record into it
        # The backup service reports its last run here for the health page (health.py).
        self.backup_status: BackupStatusSource | None = None
        self.accounts = Accounts(
            self.db,
            self.bus,
            session_ttl=settings.session_ttl,
            max_chats_default=settings.max_chats_default,
        )
        self.two_factor = TwoFactor(self.db)
        self.login = Login(
            self.accounts,
            self.two_factor,
            LoginThrottle(settings.login_attempts, settings.login_window),
        )
        self.user_admin = UserAdmin(self.db, self.bus, self.accounts)
        self.chats = Chats(self.db, self.bus, max_message_bytes=settings.max_message_bytes)
        self.dispatcher = Dispatcher(self.db, self.chats, self.bus)
        self.load = LoadGauge(
            self.db.oldest_wait,
            LoadLimits(
                loop_lag=settings.overload_loop_lag,
                writer_wait=settings.overload_writer_wait,
                writer_saturated=settings.overload_writer_saturated,
                loop_saturated=settings.overload_loop_saturated,
            ),
        )
        self.read_marks = ReadMarks(self.db, self.chats)  # read state of each chat
        self.ratings = Ratings(self.db, self.bus)  # visitors' ratings of ended chats
        self.files = Files(self.db, self.chats, settings.data_dir)  # pictures and files in chats
        self.visitors = Visitors(
            self.db, load_secret(settings.data_dir), on_change=self._customers_changed
        )
        self.routing = RoutingConfig(self.db, self.bus)
        self.teamwork = Teamwork(self.db, self.chats, self.bus)
        self.canned = Canned(self.db)
        # Outgoing webhooks; services queue events with webhooks.enqueue_in.
        self.webhooks = Webhooks(self.db)
        self.rules = Rules(self.db)  # supervisors' triggers and timed rules
        self.sla = Sla(self.db, tzlocal())  # SLA policies and tickets' clocks
        self.notifications = Notifications(self.db, self.bus)  # the console's bell
        self._mail_parts()
        self.tickets = Tickets(
            self.db,
            self.bus,
            rules=self.rules,
            webhooks=self.webhooks,
            sla=self.sla,
            chats=self.chats,
            notifications=self.notifications,
            mail=self.mail_out,
        )
        self.mail_in = MailIn(
            self.db,
            self.tickets,
            self._threading,
            self._mail_sealer,
            self.mail_out,
            settings.data_dir / "mail",
        )
        self.mail = MailAdmin(self.db, self._mail_sealer, self.mail_in, self.mail_out)
        self.devices = Devices(self.db)
        self.knowledge = Knowledge(self.db)  # articles, reviews, votes, points
        self.search = Search(self.db)  # articles, tickets and chats; keeps the index
        # Suggestions and deflection before a chat; pictures in articles.
        self.selfservice = SelfService(self.db, settings.kb_deflection_window)
        self.article_images = ArticleImages(self.db, settings.data_dir)
        self.kb_transfer = Transfer(self.db, settings.data_dir / "kb-import")  # zips in, out
        # Encrypted, scheduled backups and restores (core/backup.py).
        self.backups = Backups(self.db, settings.data_dir, load_secret(settings.data_dir))
        self.backup_status = self.backups  # the health page's last backup
        self.limits = VisitorLimits(
            msg_rate=settings.visitor_msg_rate,
            msg_burst=settings.visitor_msg_burst,
            ip_msg_rate=settings.ip_msg_rate,
            ip_msg_burst=settings.ip_msg_burst,
            conv_rate=settings.visitor_conv_rate,
            conv_burst=settings.visitor_conv_burst,
            ip_conv_rate=settings.ip_conv_rate,
            ip_conv_burst=settings.ip_conv_burst,
            view_rate=settings.visitor_view_rate,
            view_burst=settings.visitor_view_burst,
            ip_view_rate=settings.ip_view_rate,
            ip_view_burst=settings.ip_view_burst,
        )
        self._insight_parts()
        # The widget's look and the staff's photos (core/brand.py), and the reply-time
        # hint the widget shows from the live queue.
        self.brand = Brand(self.db, settings.data_dir)
        self.reports = Reports(self.db)  # rollups of the report events, and figures
        self.reply_time = ReplyTime(self.db, lambda: self.dispatcher.places)

    def _mail_parts(self) -> None:
        """Mail out's sealer, threading key and outbox (docs/email.md)."""
        secret = load_secret(self.settings.data_dir)
        self._mail_sealer = Sealer(secret, MAIL_SEAL_INFO, "a mail password")
        self._threading = Threading(secret)
        self.mail_out = MailOut(
            self.db, self._threading, self._mail_sealer, lang=self.settings.lang
        )
        self.ratings.transcript_mail = self.mail_out.queue_transcript  # asked as chats end
        self.mail_notices = MailNotices(self.db, self._threading)  # SLA mail choices, ratings

    def _insight_parts(self) -> None:
        """Visitor insight and proactive chat, over the IP table and the admin's settings."""
        self.iptable = IpTable(self.db)
        self.box_settings = BoxSettings(self.db)
        self.sites = Sites(self.db)
        self.insight = Insight(
            self.db, self.bus, locator=self.iptable, privacy=self.box_settings, sites=self.sites
        )
        self.customers = Customers(self.db, self.sites.secret, on_change=self._customers_changed)
        self.portal = Portal(  # customers' sign-in
            self.db,
            self.customers,
            self.mail_out,
            share_organisation=lambda: self.box_settings.portal_organisation,
        )
        self.invitations = Invitations(
            self.db,
            self.bus,
            self.chats,
            self.insight,
            self.box_settings,
            kick=self.dispatcher.kick,
        )
        self._retention: asyncio.Task[None] | None = None
        self._recurring: asyncio.Task[None] | None = None

    async def visitor_message(
        self,
        conv_id: str,
        visitor: Visitor,
        *,
        client_msg_id: Any,
        body: Any,
        origin: object | None = None,
    ) -> tuple[Message, bool]:
        """Post a visitor's message under their rate limit; return it and whether it repeats.

        Only new, accepted messages spend the allowance: a refused one (422) costs
        nothing, and a resend of a stored message is answered with it even when the
        visitor is out of allowance, so a client that lost an ack can always recover it.
        """
        client_msg_id, _ = self.chats.check_post(client_msg_id, body)
        self.load.admit_line()  # refused before the allowance is spent: it is sent again
        wait = self.limits.message_wait(visitor.id, visitor.address)
        if wait > 0:
            seen = await self.chats.sent(conv_id, visitor, client_msg_id)
            if seen is not None:
                return seen, True
            raise RateLimited(wait)
        message, repeat = await self.chats.post(
            conv_id, visitor, client_msg_id=client_msg_id, body=body, origin=origin
        )
        if not repeat:
            self.limits.message_spent(visitor.id, visitor.address)
        return message, repeat

    def _customers_changed(self, visitor_ids: list[str]) -> None:
        self.insight.customers_changed(visitor_ids)
        self.dispatcher.kick()  # a tier change re-orders the queue

    async def open(self) -> None:
        """Open the database (migrating it) and start background work."""
        await self.db.open()
        # Work may have waited while the box was down.
        self.dispatcher.start()
        await self.box_settings.load()
        await self.files.open()
        await self.sites.load()
        await self.brand.load()
        await self.iptable.load()
        await asyncio.to_thread(useragent.load)  # builds the parser off the event loop
        await self.insight.open()
        await self.invitations.open()
        await self.rules.load()
        await self.notifications.open()
        await self.tickets.carry_over(self.settings.lang)  # work items from before tickets
        self._retention = asyncio.get_running_loop().create_task(run_retention(self.insight))
        self._recurring = asyncio.get_running_loop().create_task(
            run_recurring(
                self.tickets,
                self.settings.ticket_confirm_days,
                every=float(self.settings.ticket_pass_seconds),
            )
        )
        await self.webhooks.open()  # sends what was still queued when the box stopped
        await self.mail_out.open()  # the same for the outbox
        await self.mail_in.open()
        await self.backups.open()  # catches up once on a backup missed while it was down
        await self.knowledge.open()
        await self.search.open()  # indexes what was queued, then any backfill
        self.reports.start()  # folds events written while the box was down first
        self.load.start()
        await fill_kb_index(self.db)  # the articles-only index, once after an upgrade
        await self._record_restore()

    async def _record_restore(self) -> None:
        """Record in this database's audit log a restore switch it does not yet hold."""
        data_dir = self.settings.data_dir
        journal = await asyncio.to_thread(restore.unrecorded, data_dir)
        if journal is None:
            return
        detail = {"box": journal.box, "made": journal.created_at, "previous": journal.previous}
        if journal.error:
            detail["error"] = journal.error
        await self.audit.add(
            audit.Actor(None, journal.by, journal.address or audit.CLI),
            restore.AUDIT_ACTIONS[journal.state],
            journal.archive,
            detail,
        )
        await asyncio.to_thread(restore.mark_recorded, data_dir)

    async def close(self) -> None:
        """Stop background work and close the database."""
        for task in (self._retention, self._recurring):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.invitations.close()
        await self.insight.close()
        await self.dispatcher.close()
        await self.webhooks.close()  # pending deliveries stay in the log
        await self.mail_in.close()
        await self.mail_out.close()  # queued mail stays in the outbox
        await self.notifications.close()
        await self.backups.close()
        await self.read_marks.close()
        await self.search.close()
        await self.kb_transfer.close()
        await self.knowledge.close()  # writes the views still counted
        await self.reports.close()
        await self.load.stop()
        await self.db.close()
