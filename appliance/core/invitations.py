"""Proactive chat: agents invite visitors, and rules a supervisor edits invite them too.

An invitation is pending until the visitor accepts (a chat opens, with the inviting
agent when they can take it), declines (recorded), or leaves (expired). Automatic
invitations are capped: one per visitor per quiet period, and only when someone in
the group could answer.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from appliance.core.actors import Staff
from appliance.core.chats import (
    Chats,
    Conversation,
    Message,
    append_message,
    read_conversation,
)
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import (
    AlreadyInvited,
    Chatting,
    InvalidInput,
    InvitationClosed,
    NotFound,
    StorageFull,
)
from appliance.core.events import EventBus, InvitationChanged, MessageCreated
from appliance.core.insight import DAY_MS, Insight
from appliance.core.live import SOURCE_KINDS, LiveVisitor, scope_of
from appliance.core.store import accounts as account_store
from appliance.core.store import conversations as conversation_store
from appliance.core.store import invitations as invitation_store
from appliance.core.store import routing as routing_store
from appliance.core.validate import text, whole
from appliance.core.visitor_records import Invitation

_LOGGER = logging.getLogger(__name__)

INVITE_TTL_MS = 10 * 60 * 1000  # a pending invitation nobody answered expires
MESSAGE_MAX = 500
RULES_MAX = 50
AUDIENCES = ("any", "new", "returning")
_TICK = 1.0  # s between passes over the live visitors
_STALE_CHECK_MS = 60_000


class QuietSettings(Protocol):
    """How long a visitor is left alone after an automatic invitation."""

    @property
    def decline_quiet_days(self) -> int:
        """Days between two automatic invitations to one visitor."""


@dataclass(frozen=True, slots=True)
class Rule:
    """An automatic invitation rule."""

    id: int
    name: str
    enabled: bool
    url_pattern: str
    min_seconds: int
    min_visits: int
    audience: str
    source: str
    message: str
    group_id: int | None

    def matches(self, visitor: LiveVisitor, now: int) -> bool:
        """Tell whether a visitor on their current page meets this rule."""
        page = visitor.current
        if not self.enabled or page is None:
            return False
        if self.url_pattern and not fnmatch.fnmatchcase(page.url, self.url_pattern):
            return False
        if now - page.started_at < self.min_seconds * 1000 or visitor.visits < self.min_visits:
            return False
        if self.audience == "new" and visitor.visits > 1:
            return False
        if self.audience == "returning" and visitor.visits <= 1:
            return False
        return self.source == "any" or visitor.source.get("kind") == self.source


def clean_rule(raw: Any) -> dict[str, Any]:
    """Validate one rule from the API."""
    if not isinstance(raw, dict):
        raise InvalidInput("each rule must be an object")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidInput("enabled must be true or false")
    audience = raw.get("audience", "any")
    if audience not in AUDIENCES:
        raise InvalidInput(f"audience must be one of {', '.join(AUDIENCES)}")
    source = raw.get("source", "any")
    if source != "any" and source not in SOURCE_KINDS:
        raise InvalidInput(f"source must be any or one of {', '.join(SOURCE_KINDS)}")
    group_id = raw.get("group_id")
    if group_id is not None:
        group_id = whole(group_id, "group_id", 1, 2**62)
    return {
        "name": text(raw.get("name"), "name", 64),
        "enabled": enabled,
        "url_pattern": text(raw.get("url_pattern"), "url_pattern", 256),
        "min_seconds": whole(raw.get("min_seconds", 0), "min_seconds", 0, 86400),
        "min_visits": whole(raw.get("min_visits", 0), "min_visits", 0, 1000),
        "audience": audience,
        "source": source,
        "message": text(raw.get("message"), "message", MESSAGE_MAX, required=True),
        "group_id": group_id,
    }


def clean_message(value: Any) -> str:
    """Validate an agent's invitation text."""
    return text(value, "message", MESSAGE_MAX, required=True)


class Invitations:
    """Invite, answer, expire; and the automatic rules."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        chats: Chats,
        insight: Insight,
        quiet: QuietSettings,
        kick: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._bus = bus
        self._chats = chats
        self._insight = insight
        self._quiet = quiet
        self._kick = kick  # a queued chat wakes the dispatcher
        self.rules: list[Rule] = []
        self._task: asyncio.Task[None] | None = None
        self._stale_check_at = 0  # ms; when to look for pending invitations past their TTL

    # -- start and stop -------------------------------------------------------

    async def open(self) -> None:
        """Load the rules and start the pass over live visitors."""
        await self._load_rules()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop the background pass."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(_TICK)
            try:
                await self.tick()
            except StorageFull:
                pass  # the store logs a full disk itself, once a minute; try next tick
            except sqlite3.Error:
                _LOGGER.exception("invitation pass failed")

    # -- the announcements ------------------------------------------------------

    def _announce(self, invitations: Iterable[Invitation]) -> None:
        for invitation in invitations:
            visitor = self._insight.live.get(invitation.visitor_id)
            if visitor is not None:
                visitor.invitation_id = invitation.id if invitation.pending else None
                self._insight.live.touch()
            self._bus.emit(InvitationChanged(invitation))

    # -- agents ---------------------------------------------------------------

    async def invite(self, actor: Staff, visitor_id: str, message: Any) -> Invitation:
        """Invite a visitor on the site, in the agent's scope, to chat with them."""
        agent_id = actor.id
        body = clean_message(message)
        visitor = self._insight.live.get(visitor_id)
        if visitor is None or not scope_of(actor).sees(visitor):
            raise NotFound("the visitor is not on the site")
        now = now_ms()

        def job(conn: sqlite3.Connection) -> Invitation:
            self._check_free(conn, visitor_id)
            return invitation_store.create(
                conn, visitor_id, visitor.visit_id, visitor.group_id, body, now, agent_id=agent_id
            )

        invitation: Invitation = await self._db.write(
            job, on_commit=lambda inv: self._announce([inv])
        )
        return invitation

    @staticmethod
    def _check_free(conn: sqlite3.Connection, visitor_id: str) -> None:
        if conversation_store.open_chat_of(conn, visitor_id) is not None:
            raise Chatting("the visitor is already in a chat")
        if invitation_store.has_pending(conn, visitor_id):
            raise AlreadyInvited("the visitor already has an invitation open")

    async def pending_for(self, visitor_id: str) -> list[Invitation]:
        """Return a visitor's pending invitations (sent again when their socket opens)."""
        found: list[Invitation] = await self._db.read(
            lambda conn: invitation_store.pending_of(conn, visitor_id)
        )
        return found

    async def recent(self, limit: int = 100) -> list[Invitation]:
        """Return the latest invitations, newest first (for supervisors)."""
        wanted = max(1, min(limit, 500))
        found: list[Invitation] = await self._db.read(
            lambda conn: invitation_store.recent(conn, wanted)
        )
        return found

    # -- visitors -------------------------------------------------------------

    async def decline(self, visitor_id: str, invitation_id: int) -> Invitation:
        """Record that the visitor said no."""
        now = now_ms()

        def job(conn: sqlite3.Connection) -> Invitation:
            self._pending(conn, visitor_id, invitation_id)
            return invitation_store.answer(conn, invitation_id, "declined", now)

        invitation: Invitation = await self._db.write(
            job, on_commit=lambda inv: self._announce([inv])
        )
        return invitation

    @staticmethod
    def _pending(conn: sqlite3.Connection, visitor_id: str, invitation_id: int) -> Invitation:
        found = invitation_store.get(conn, invitation_id)
        if found is None or found.visitor_id != visitor_id:
            raise NotFound("no such invitation")
        if not found.pending:
            raise InvitationClosed(f"the invitation is already {found.status}")
        return found

    async def accept(
        self, visitor_id: str, invitation_id: int, *, ip: str = "", lang: str = ""
    ) -> Conversation:
        """Open the chat: with the inviting agent when they can take it, else in the queue."""
        visitor = self._insight.live.get(visitor_id)
        page = visitor.current if visitor is not None else None
        region = visitor.region.get("label", "") if visitor is not None else ""
        live_group = visitor.group_id if visitor is not None else None
        now = now_ms()

        def job(conn: sqlite3.Connection) -> tuple[Any, ...]:
            invitation = self._pending(conn, visitor_id, invitation_id)
            agent_id = invitation.agent_id
            conv, created = self._chats.open_in(
                conn,
                visitor_id,
                page_url=page.url if page else "",
                lang=lang,
                ip=ip,
                region=region,
                group_id=invitation.group_id or live_group,
                preferred_agent_id=agent_id,
            )
            events: list[Message] = []
            before = conv
            agent = (
                account_store.free_agent(conn, agent_id)
                if created and agent_id is not None
                else None
            )
            if agent is not None:
                conv, assigned = self._chats.assign_in(
                    conn, conv, agent[0], agent[1], answered=True
                )
                events.append(assigned)
                events.append(
                    append_message(
                        conn,
                        conv.id,
                        sender_type="agent",
                        sender_id=str(agent[0]),
                        sender_name=agent[1],
                        body=invitation.message,
                    )
                )
            elif created:
                events.append(
                    append_message(
                        conn,
                        conv.id,
                        sender_type="system",
                        sender_name=account_store.display_name(conn, agent_id),
                        body=invitation.message,
                        event="invitation",
                    )
                )
            answered = invitation_store.answer(conn, invitation_id, "accepted", now, conv.id)
            after = read_conversation(conn, conv.id)
            return after, before if created else None, events, answered

        def announce(result: tuple[Any, ...]) -> None:
            after, before, messages, invitation = result
            if before is not None:
                self._chats.announce_changed(after, None if after.status == "waiting" else before)
            for message in messages:
                self._bus.emit(MessageCreated(after.id, visitor_id, message))
            self._announce([invitation])
            if after.status == "waiting":
                self._kick()

        result = await self._db.write(job, on_commit=announce)
        conversation: Conversation = result[0]
        return conversation

    # -- the pass: leaving visitors, stale invitations, automatic rules --------

    async def tick(self, now: int | None = None) -> None:
        """Expire what nobody answered and send the automatic invitations due."""
        now = now_ms() if now is None else now
        gone = self._insight.departed(now)
        gone_ids = [v.id for v in gone if v.invitation_id is not None]
        await self._expire(now, gone_ids)
        await self._auto_invite(now)

    async def _expire(self, now: int, visitor_ids: list[str]) -> None:
        def job(conn: sqlite3.Connection) -> list[Invitation]:
            return invitation_store.expire(conn, now, now - INVITE_TTL_MS, visitor_ids)

        if visitor_ids or await self._any_stale(now):
            await self._db.write(job, on_commit=self._announce)

    async def _any_stale(self, now: int) -> bool:
        # Looked for once a minute, not every tick: the time-to-live is ten minutes.
        if now < self._stale_check_at:
            return False
        self._stale_check_at = now + _STALE_CHECK_MS
        stale: bool = await self._db.read(
            lambda conn: invitation_store.any_pending_before(conn, now - INVITE_TTL_MS)
        )
        return stale

    async def _auto_invite(self, now: int) -> None:
        rules = [r for r in self.rules if r.enabled]
        if not rules:
            return
        quiet = max(self._quiet.decline_quiet_days * DAY_MS, 0)
        picks: list[tuple[LiveVisitor, Rule]] = []
        for visitor in self._insight.live:
            if (
                visitor.sockets == 0
                or visitor.conversation_id is not None
                or visitor.invitation_id is not None
                or visitor.auto_invited
                or (visitor.last_auto_invite_at and now - visitor.last_auto_invite_at < quiet)
            ):
                continue
            rule = next((r for r in rules if r.matches(visitor, now)), None)
            if rule is not None:
                picks.append((visitor, rule))
        if not picks:
            return
        open_groups = await self._db.read(account_store.groups_with_room)
        due = [(v, r) for v, r in picks if (r.group_id or v.group_id) in open_groups]
        if not due:
            return
        for visitor, _rule in due:
            visitor.auto_invited = True  # one per visit, whatever the write says
            visitor.last_auto_invite_at = now

        def job(conn: sqlite3.Connection) -> list[Invitation]:
            sent = []
            for visitor, rule in due:
                try:
                    self._check_free(conn, visitor.id)
                except (Chatting, AlreadyInvited):
                    continue
                group = rule.group_id or visitor.group_id
                sent.append(
                    invitation_store.create(
                        conn,
                        visitor.id,
                        visitor.visit_id,
                        group,
                        rule.message,
                        now,
                        rule_id=rule.id,
                    )
                )
            return sent

        await self._db.write(job, on_commit=self._announce)

    # -- rules ----------------------------------------------------------------

    async def _load_rules(self) -> None:
        self.rules = [Rule(**r) for r in await self._db.read(invitation_store.rules)]

    async def set_rules(self, raw: Any) -> list[Rule]:
        """Replace the automatic invitation rules (in the order they are tried)."""
        if not isinstance(raw, list) or len(raw) > RULES_MAX:
            raise InvalidInput(f"rules must be a list of at most {RULES_MAX}")
        clean = []
        for index, rule in enumerate(raw):
            try:
                clean.append(clean_rule(rule))
            except InvalidInput as err:  # the editor shows it next to the rule
                raise InvalidInput(f"rule {index + 1}: {err.message}") from err

        def job(conn: sqlite3.Connection) -> None:
            for rule in clean:
                group = rule["group_id"]
                if group is not None and not routing_store.group_exists(conn, group):
                    raise InvalidInput(f"group {group} does not exist")
            invitation_store.replace_rules(conn, clean)

        await self._db.write(job)
        await self._load_rules()
        return list(self.rules)
