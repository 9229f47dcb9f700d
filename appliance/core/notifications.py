"""Console notifications (站内通知): the box tells console users what needs them.

The ticket service calls `sla_in` and `rule_in` inside the write job that records the
history entry causing the notification, so the entry and the notifications commit
together or not at all. Once a ticket write has committed, it calls `wake`: the new
rows are read back (committed ones only) and each is announced on the event bus as
`NoticeAdded`, for the web layer to push to the user's open consoles.

Who is told:
- an SLA warning or breach, and a level with the "notify" action: the ticket's owner
  (the active members of its group when it has none) and its followers;
- a level with "notify_manager": the group's manager, else its lead;
- a rule's "notify" action: the users it names, the owner and the members of the
  group as the rule resolved them (core/rules.py).
Disabled users are left out; each user gets one notification per cause.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import InvalidInput
from appliance.core.events import EventBus, NoticeAdded
from appliance.core.store import accounts as account_store
from appliance.core.store import notifications as store
from appliance.core.store import routing as routing_store
from appliance.core.store.notifications import KEEP as KEEP
from appliance.core.store.notifications import Notice as Notice
from appliance.core.ticketflow import Ticket

_LOGGER = logging.getLogger(__name__)

PAGE_MAX = 50  # notifications per page of the list
READ_IDS_MAX = 100  # notifications marked read by id in one request
RECIPIENTS_MAX = 500  # users told of one cause (a very large group is cut here)
_ANNOUNCE_BATCH = 500  # rows read per hop when announcing
_TEXT_MAX = 500  # characters of a rule's text kept (rules allow 500)

KINDS = ("sla_warning", "sla_breach", "sla_level", "rule")
_SLA_KIND = {"warning": "sla_warning", "breach": "sla_breach", "level": "sla_level"}


@dataclass(frozen=True, slots=True)
class NoticePage:
    """A page of one user's notifications, newest first, and how many are unread."""

    notices: list[Notice]
    unread: int
    more: bool  # older ones exist beyond this page


def _members(conn: sqlite3.Connection, group_ids: Iterable[int]) -> list[int]:
    wanted = set(group_ids)
    if not wanted:
        return []
    return sorted({user for group, user in routing_store.memberships(conn) if group in wanted})


def _active(conn: sqlite3.Connection, user_ids: Iterable[int]) -> list[int]:
    """The users that exist and are not disabled, once each, in the order given."""
    out: list[int] = []
    for user_id in dict.fromkeys(user_ids):
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            continue
        user = account_store.user(conn, user_id)
        if user is not None and not user.disabled:
            out.append(user_id)
        if len(out) >= RECIPIENTS_MAX:
            break
    return out


def sla_recipients(
    conn: sqlite3.Connection, ticket: Ticket, notify: Mapping[str, Any], *, followers: bool
) -> list[int]:
    """Who an SLA firing tells: the users and group members in its recorded `notify`,
    and the ticket's followers when `followers`."""
    users = list(notify.get("user_ids") or ())
    users += _members(conn, notify.get("group_ids") or ())
    if followers:
        users += list(ticket.fields.get("followers") or ())
    return _active(conn, users)


class Notifications:
    """Write, announce, list and mark read the console users' notifications."""

    def __init__(self, db: Database, bus: EventBus, clock: Callable[[], int] = now_ms) -> None:
        self._db = db
        self._bus = bus
        self._now = clock
        self._announced = 0  # the highest id announced on the bus
        # The highest id written, possibly not committed yet (set in the writer thread).
        # A commit's wake reads only when it is above what was announced; a rolled-back
        # id is reused by the next row, so it costs at most a read that finds nothing.
        self._written = 0
        self._task: asyncio.Task[None] | None = None
        self._again = False

    async def open(self) -> None:
        """Start after what is already stored: only new notifications are announced."""
        self._announced = self._written = await self._db.read(store.newest_id)

    async def close(self) -> None:
        """Stop announcing."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # -- inside the ticket service's write jobs --------------------------------------

    def _add(
        self,
        conn: sqlite3.Connection,
        users: Sequence[int],
        kind: str,
        ticket: Ticket,
        seq: int,
        data: Mapping[str, Any],
        at: int,
    ) -> None:
        if not users:
            return
        last = store.add(conn, users, at=at, kind=kind, ticket_id=ticket.id, seq=seq, data=data)
        self._written = max(self._written, last)

    def sla_in(
        self, conn: sqlite3.Connection, ticket: Ticket, seq: int, data: Mapping[str, Any], at: int
    ) -> None:
        """Tell who an SLA firing names (its history entry `seq` has `data`: its change,
        metric, and for a level the action and the `notify` it resolved)."""
        notify = data.get("notify")
        if not isinstance(notify, Mapping):
            return
        kind = _SLA_KIND.get(str(data.get("change")))
        if kind is None:
            return
        manager = data.get("action") == "notify_manager"
        users = sla_recipients(conn, ticket, notify, followers=not manager)
        fields = ("metric", "change", "action", "offset_minutes", "due_at")
        self._add(conn, users, kind, ticket, seq, {k: data[k] for k in fields if k in data}, at)

    def rule_in(
        self,
        conn: sqlite3.Connection,
        ticket: Ticket,
        seq: int,
        rule_id: int,
        name: str,
        notify: Sequence[Mapping[str, Any]],
        at: int,
    ) -> None:
        """Tell the people a rule's notify actions name (its history entry is `seq`)."""
        for one in notify:
            users = list(one.get("user_ids") or ()) + _members(conn, one.get("group_ids") or ())
            data = {"rule_id": rule_id, "name": name, "text": str(one.get("text", ""))[:_TEXT_MAX]}
            self._add(conn, _active(conn, users), "rule", ticket, seq, data, at)

    # -- after a commit: announce what is new ------------------------------------------

    def wake(self) -> None:
        """Announce the notifications committed since the last announcement (call on
        the loop, after a commit)."""
        if self._written <= self._announced:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._announce())

    async def _announce(self) -> None:
        while True:
            self._again = False
            try:
                found = await self._db.read(
                    lambda conn: store.after(conn, self._announced, _ANNOUNCE_BATCH)
                )
            except sqlite3.Error:
                _LOGGER.exception("could not read new notifications; the next change retries")
                return
            for notice in found:
                self._announced = max(self._announced, notice.id)
                self._bus.emit(NoticeAdded(notice))
            if len(found) < _ANNOUNCE_BATCH and not self._again:
                return

    # -- the console's list ------------------------------------------------------------

    async def page(self, user_id: int, before: int | None = None, limit: int = 20) -> NoticePage:
        """A user's notifications, newest first (older than id `before`), and the
        number unread."""
        limit = max(1, min(limit, PAGE_MAX))

        def read(conn: sqlite3.Connection) -> NoticePage:
            found = store.page(conn, user_id, before, limit + 1)
            return NoticePage(found[:limit], store.unread(conn, user_id), len(found) > limit)

        return await self._db.read(read)

    async def unread(self, user_id: int) -> int:
        """How many of a user's notifications are unread."""
        return await self._db.read(lambda conn: store.unread(conn, user_id))

    async def mark_read(
        self, user_id: int, *, up_to: int | None = None, ids: Sequence[int] = ()
    ) -> int:
        """Mark a user's notifications read, up to an id (all: the newest) or by id;
        return how many are still unread."""
        if (up_to is None) == (not ids):
            raise InvalidInput("give either up_to or ids")
        if len(ids) > READ_IDS_MAX:
            raise InvalidInput(f"ids takes at most {READ_IDS_MAX} notifications")
        at = self._now()

        def job(conn: sqlite3.Connection) -> int:
            store.mark_read(conn, user_id, at, up_to=up_to, ids=ids)
            return store.unread(conn, user_id)

        return await self._db.write(job)
