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

from appliance.core.chats import (
    AGENT_LOAD,
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
from appliance.core.live import SOURCE_KINDS, LiveVisitor, Scope
from appliance.core.validate import text, whole

_LOGGER = logging.getLogger(__name__)

INVITE_TTL_MS = 10 * 60 * 1000  # a pending invitation nobody answered expires
MESSAGE_MAX = 500
RULES_MAX = 50
AUDIENCES = ("any", "new", "returning")
_TICK = 1.0  # s between passes over the live visitors
_STALE_CHECK_MS = 60_000
_RULE_FIELDS = (
    "id",
    "name",
    "enabled",
    "url_pattern",
    "min_seconds",
    "min_visits",
    "audience",
    "source",
    "message",
    "group_id",
)


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

    def public(self) -> dict[str, Any]:
        """Return the API form."""
        return {name: getattr(self, name) for name in _RULE_FIELDS}


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


def _invitation_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "visitor_id": row["visitor_id"],
        "agent_id": row["agent_id"],
        "agent": {"display_name": row["agent_name"]} if row["agent_id"] is not None else None,
        "rule_id": row["rule_id"],
        "group_id": row["group_id"],
        "message": row["message"],
        "status": row["status"],
        "created_at": row["created_at"],
        "answered_at": row["answered_at"],
        "conversation_id": row["conversation_id"],
    }


_SELECT = (
    "SELECT i.id, i.visitor_id, i.agent_id, u.display_name AS agent_name, i.rule_id,"
    " i.group_id, i.message, i.status, i.created_at, i.answered_at, i.conversation_id"
    " FROM invitations i LEFT JOIN users u ON u.id = i.agent_id"
)


def _read(conn: sqlite3.Connection, invitation_id: int) -> dict[str, Any]:
    row = conn.execute(_SELECT + " WHERE i.id = ?", (invitation_id,)).fetchone()
    assert row is not None
    return _invitation_json(row)


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

    def _announce(self, invitations: Iterable[dict[str, Any]]) -> None:
        for invitation in invitations:
            visitor = self._insight.live.get(invitation["visitor_id"])
            if visitor is not None:
                pending = invitation["status"] == "pending"
                visitor.invitation = (
                    {"id": invitation["id"], "status": "pending"} if pending else None
                )
                self._insight.live.touch()
            self._bus.emit(InvitationChanged(invitation))

    # -- agents ---------------------------------------------------------------

    async def invite(
        self, agent_id: int, visitor_id: str, message: Any, scope: Scope
    ) -> dict[str, Any]:
        """Invite a visitor on the site to chat with this agent."""
        body = clean_message(message)
        visitor = self._insight.live.get(visitor_id)
        if visitor is None or not scope.sees(visitor):
            raise NotFound("the visitor is not on the site")
        now = now_ms()

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            self._check_free(conn, visitor_id)
            row = conn.execute(
                "INSERT INTO invitations (visitor_id, visit_id, agent_id, group_id, message,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (visitor_id, visitor.visit_id, agent_id, visitor.group_id, body, now),
            ).fetchone()
            return _read(conn, row[0])

        invitation: dict[str, Any] = await self._db.write(
            job, on_commit=lambda inv: self._announce([inv])
        )
        return invitation

    @staticmethod
    def _check_free(conn: sqlite3.Connection, visitor_id: str) -> None:
        if conn.execute(
            "SELECT 1 FROM conversations WHERE visitor_id = ? AND status != 'closed'",
            (visitor_id,),
        ).fetchone():
            raise Chatting("the visitor is already in a chat")
        if conn.execute(
            "SELECT 1 FROM invitations WHERE visitor_id = ? AND status = 'pending'",
            (visitor_id,),
        ).fetchone():
            raise AlreadyInvited("the visitor already has an invitation open")

    async def pending_for(self, visitor_id: str) -> list[dict[str, Any]]:
        """Return a visitor's pending invitations (sent again when their socket opens)."""
        rows = await self._db.fetchall(
            _SELECT + " WHERE i.visitor_id = ? AND i.status = 'pending' ORDER BY i.id",
            (visitor_id,),
        )
        return [_invitation_json(r) for r in rows]

    async def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the latest invitations, newest first (for supervisors)."""
        rows = await self._db.fetchall(
            _SELECT + " ORDER BY i.id DESC LIMIT ?", (max(1, min(limit, 500)),)
        )
        return [_invitation_json(r) for r in rows]

    # -- visitors -------------------------------------------------------------

    async def decline(self, visitor_id: str, invitation_id: int) -> dict[str, Any]:
        """Record that the visitor said no."""
        now = now_ms()

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            self._pending(conn, visitor_id, invitation_id)
            conn.execute(
                "UPDATE invitations SET status = 'declined', answered_at = ? WHERE id = ?",
                (now, invitation_id),
            )
            return _read(conn, invitation_id)

        invitation: dict[str, Any] = await self._db.write(
            job, on_commit=lambda inv: self._announce([inv])
        )
        return invitation

    @staticmethod
    def _pending(conn: sqlite3.Connection, visitor_id: str, invitation_id: int) -> sqlite3.Row:
        row = conn.execute(
            "SELECT * FROM invitations WHERE id = ? AND visitor_id = ?",
            (invitation_id, visitor_id),
        ).fetchone()
        if row is None:
            raise NotFound("no such invitation")
        if row["status"] != "pending":
            raise InvitationClosed(f"the invitation is already {row['status']}")
        found: sqlite3.Row = row
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
            agent_id = invitation["agent_id"]
            conv, created = self._chats.open_in(
                conn,
                visitor_id,
                page_url=page.url if page else "",
                lang=lang,
                ip=ip,
                region=region,
                group_id=invitation["group_id"] or live_group,
                preferred_agent_id=agent_id,
            )
            events: list[Message] = []
            before = conv
            agent = _free_agent(conn, agent_id) if created and agent_id is not None else None
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
                        body=invitation["message"],
                    )
                )
            elif created:
                events.append(
                    append_message(
                        conn,
                        conv.id,
                        sender_type="system",
                        sender_name=_agent_name(conn, agent_id),
                        body=invitation["message"],
                        event="invitation",
                    )
                )
            conn.execute(
                "UPDATE invitations SET status = 'accepted', answered_at = ?,"
                " conversation_id = ? WHERE id = ?",
                (now, conv.id, invitation_id),
            )
            after = read_conversation(conn, conv.id)
            return after, before if created else None, events, _read(conn, invitation_id)

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
        gone_ids = [v.id for v in gone if v.invitation is not None]
        await self._expire(now, gone_ids)
        await self._auto_invite(now)

    async def _expire(self, now: int, visitor_ids: list[str]) -> None:
        def job(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            marks = ", ".join("?" * len(visitor_ids))
            rows = conn.execute(
                "UPDATE invitations SET status = 'expired', answered_at = ?"
                f" WHERE status = 'pending' AND (created_at < ? OR visitor_id IN ({marks}))"
                " RETURNING id",
                (now, now - INVITE_TTL_MS, *visitor_ids),
            ).fetchall()
            return [_read(conn, r[0]) for r in rows]

        if visitor_ids or await self._any_stale(now):
            await self._db.write(job, on_commit=self._announce)

    async def _any_stale(self, now: int) -> bool:
        # Looked for once a minute, not every tick: the time-to-live is ten minutes.
        if now < self._stale_check_at:
            return False
        self._stale_check_at = now + _STALE_CHECK_MS
        row = await self._db.fetchone(
            "SELECT 1 FROM invitations WHERE status = 'pending' AND created_at < ? LIMIT 1",
            (now - INVITE_TTL_MS,),
        )
        return row is not None

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
                or visitor.invitation is not None
                or visitor.auto_invited
                or (visitor.last_auto_invite_at and now - visitor.last_auto_invite_at < quiet)
            ):
                continue
            rule = next((r for r in rules if r.matches(visitor, now)), None)
            if rule is not None:
                picks.append((visitor, rule))
        if not picks:
            return
        open_groups = await self._db.read(_groups_with_room)
        due = [(v, r) for v, r in picks if (r.group_id or v.group_id) in open_groups]
        if not due:
            return
        for visitor, _rule in due:
            visitor.auto_invited = True  # one per visit, whatever the write says
            visitor.last_auto_invite_at = now

        def job(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            sent = []
            for visitor, rule in due:
                try:
                    self._check_free(conn, visitor.id)
                except (Chatting, AlreadyInvited):
                    continue
                row = conn.execute(
                    "INSERT INTO invitations (visitor_id, visit_id, rule_id, group_id, message,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        visitor.id,
                        visitor.visit_id,
                        rule.id,
                        rule.group_id or visitor.group_id,
                        rule.message,
                        now,
                    ),
                ).fetchone()
                sent.append(_read(conn, row[0]))
            return sent

        await self._db.write(job, on_commit=self._announce)

    # -- rules ----------------------------------------------------------------

    async def _load_rules(self) -> None:
        rows = await self._db.fetchall(
            f"SELECT {', '.join(_RULE_FIELDS)} FROM invite_rules ORDER BY position, id"
        )
        self.rules = [Rule(**{**dict(r), "enabled": bool(r["enabled"])}) for r in rows]

    async def set_rules(self, raw: Any) -> list[dict[str, Any]]:
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
                if (
                    group is not None
                    and not conn.execute("SELECT 1 FROM groups WHERE id = ?", (group,)).fetchone()
                ):
                    raise InvalidInput(f"group {group} does not exist")
            conn.execute("DELETE FROM invite_rules")
            for position, rule in enumerate(clean):
                conn.execute(
                    "INSERT INTO invite_rules (position, name, enabled, url_pattern, min_seconds,"
                    " min_visits, audience, source, message, group_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (position, *(rule[k] for k in _RULE_FIELDS[1:])),
                )

        await self._db.write(job)
        await self._load_rules()
        return [r.public() for r in self.rules]


def _free_agent(conn: sqlite3.Connection, agent_id: int) -> tuple[int, str] | None:
    """Return (id, name) of the agent if they are online and under their chat limit."""
    row = conn.execute(
        f"SELECT u.id, u.display_name FROM users u WHERE u.id = ? AND u.status = 'online'"
        f" AND u.disabled = 0 AND u.max_chats > {AGENT_LOAD}",
        (agent_id,),
    ).fetchone()
    return (row[0], row[1]) if row else None


def _agent_name(conn: sqlite3.Connection, agent_id: int | None) -> str:
    if agent_id is None:
        return ""
    row = conn.execute("SELECT display_name FROM users WHERE id = ?", (agent_id,)).fetchone()
    return str(row[0]) if row else ""


def _groups_with_room(conn: sqlite3.Connection) -> set[int]:
    """The groups with an online agent under their limit (worth inviting into)."""
    rows = conn.execute(
        "SELECT DISTINCT gm.group_id FROM users u JOIN group_members gm ON gm.user_id = u.id"
        f" WHERE u.status = 'online' AND u.disabled = 0 AND u.max_chats > {AGENT_LOAD}"
    ).fetchall()
    return {r[0] for r in rows}
