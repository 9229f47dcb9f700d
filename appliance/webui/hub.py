"""Realtime fan-out: which socket hears about which conversation.

Core emits committed events on the bus; the hub turns each into one encoded frame
and queues it on every interested connection. A connection that cannot keep up is
closed rather than buffered without bound: its client resumes from its last seq.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import WSCloseCode, web

from appliance.core.actors import Visitor
from appliance.core.box import Box
from appliance.core.conversation import Message
from appliance.core.events import (
    AccountChanged,
    AgentStatusChanged,
    ConversationChanged,
    Event,
    FeedbackChanged,
    InvitationChanged,
    MessageCreated,
    NoticeAdded,
    QueueChanged,
    RoutingChanged,
    TicketChanged,
)
from appliance.core.live import Filter, Scope, agent_scope
from appliance.core.readmarks import Reader
from appliance.core.routing import Place
from appliance.core.ticketflow import Ticket
from appliance.core.visitor_records import Invitation
from appliance.webui.wire import feedback as feedback_wire
from appliance.webui.wire import frames, tickets
from appliance.webui.wire import insight as insight_wire
from appliance.webui.wire import notifications as notice_wire
from appliance.webui.wire.chat import (
    AgentRef,
    Presence,
    console_conversation_out,
    conversation_out,
    message_out,
)

_LOGGER = logging.getLogger(__name__)

_SEND_QUEUE = 1000  # frames waiting for one slow socket before it is closed
# s a slow socket's close may wait for its client to read; then it is cut (a close that
# waits for the client to drain what is queued would wait for ever on one that never reads)
_CLOSE_SLOW = 5.0
_VISITORS_TICK = 1.0  # s between live visitor list frames to watching consoles
_PEEK_RATE = 4  # sneak peeks relayed per visitor per second; more are dropped


def encode(frame: Any) -> str:
    """Encode one frame, once for all its sockets (a `wire.frames` type, or plain data)."""
    return frames.encode_frame(frame)


@dataclass(slots=True)
class SocketStats:
    """Counters of the hub's sockets for /metrics."""

    slow_closed: int = 0  # sockets closed because their client stopped reading


@dataclass(slots=True)
class Joined:
    """What a connection has been sent of one conversation."""

    last_seq: int
    replaying: bool = True
    held: list[tuple[int, str]] = field(default_factory=list)
    visitor_name: str = ""


class Connection:
    """One WebSocket of a visitor or an agent, with its own send queue."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        kind: str,
        principal: str,
        name: str = "",
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        self.transport = transport  # to cut a socket whose client stopped reading
        self.kind = kind  # "visitor" or "agent"
        self.principal = principal  # visitor id, or the agent's user id as text
        self.name = name
        self.dnt = False  # a visitor's browser asked not to be tracked (DNT, Sec-GPC)
        self.role = ""
        self.groups: frozenset[int] | None = frozenset()  # None: an overseer sees every queue
        self.places: dict[str, Place] = {}  # last queue place sent, per conversation
        # Whose live visitors a console sees: nobody's until the agent socket sets it.
        self.scope = Scope(regions=frozenset(), groups=frozenset())
        self.watch: tuple[Filter, int, int] | None = None  # live list filter, offset, limit
        self.watch_sent = ""  # the last visitors frame sent, to skip repeats
        self.joined: dict[str, Joined] = {}
        # Lines of this socket whose ack the hub put in the stream, until _send sees it.
        self._streamed_acks: set[tuple[str, str]] = set()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(_SEND_QUEUE)
        self.overflowed = False
        self.close_with: tuple[int, bytes] | None = None  # set by end()
        self.stats: SocketStats | None = None  # the hub's, once added
        self._closing: asyncio.Task[None] | None = None  # of a socket that fell behind

    @property
    def queued(self) -> int:
        """Return how many frames wait to be written to this socket."""
        return self._queue.qsize()

    def send(self, frame: Any) -> None:
        """Queue a frame; close the socket if the client has fallen too far behind."""
        if self.overflowed:
            return
        data = frame if isinstance(frame, str) else encode(frame)
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            self.overflowed = True
            if self.stats is not None:
                self.stats.slow_closed += 1
            _LOGGER.warning(
                "closing a %s socket that fell %d frames behind", self.kind, _SEND_QUEUE
            )
            self._closing = asyncio.get_running_loop().create_task(self._close_slow())

    async def _close_slow(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code=1013, message=b"too slow"), _CLOSE_SLOW)
        except TimeoutError:
            # A plain close would still wait to flush what the client never reads.
            if self.transport is not None:
                self.transport.abort()

    def sees_queue(self, group_id: int | None) -> bool:
        """Tell whether this console shows a group's waiting conversations."""
        return self.kind == "agent" and (self.groups is None or group_id in self.groups)

    def send_place(self, conv_id: str, place: Place) -> None:
        """Tell a waiting visitor their place in the queue, when it changed."""
        if self.places.get(conv_id) != place:
            self.places[conv_id] = place
            self.send(frames.Queue(conv_id, place.position, place.eta, place.overflow))

    def deliver(self, conv_id: str, seq: int, data: str) -> None:
        """Queue a message frame once, in seq order, unless the client already has it."""
        state = self.joined.get(conv_id)
        if state is None:
            return
        if state.replaying:
            state.held.append((seq, data))
        elif seq > state.last_seq:
            state.last_seq = seq
            self.send(data)

    def deliver_ack(self, conv_id: str, seq: int, client_msg_id: str, data: str) -> bool:
        """Queue the ack of this socket's own line in the message's place in the stream,
        if the socket streams the conversation now (not replaying it); remember it for
        the sender, who then sends no ack of its own (took_streamed_ack)."""
        state = self.joined.get(conv_id)
        if state is None or state.replaying or seq <= state.last_seq:
            return False
        state.last_seq = seq
        self.send(data)
        self._streamed_acks.add((conv_id, client_msg_id))
        return True

    def took_streamed_ack(self, conv_id: str, client_msg_id: str) -> bool:
        """Tell whether the hub sent this line's ack in the stream (and forget it)."""
        try:
            self._streamed_acks.remove((conv_id, client_msg_id))
        except KeyError:
            return False
        return True

    def deliver_replay(self, conv_id: str, message: Message) -> None:
        """Queue a message read from the store during a replay."""
        state = self.joined[conv_id]
        if message.seq > state.last_seq:
            state.last_seq = message.seq
            self.send(frames.MessageFrame(message_out(message)))

    def finish_replay(self, conv_id: str) -> None:
        """Release live messages that arrived while the replay was read."""
        state = self.joined[conv_id]
        state.replaying = False
        held, state.held = state.held, []
        for seq, data in held:
            self.deliver(conv_id, seq, data)

    async def run_sender(self) -> None:
        """Write queued frames to the socket until stopped (then close it, if asked to)."""
        while True:
            data = await self._queue.get()
            if data is None and self.close_with is not None and not self.ws.closed:
                await self.ws.close(code=self.close_with[0], message=self.close_with[1])
            if data is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(data)
            except (ConnectionError, RuntimeError):
                return

    def end(self, code: int, message: bytes) -> None:
        """Close the socket once what is queued has been sent."""
        self.close_with = (code, message)
        self.stop()

    def stop(self) -> None:
        """Make the sender finish after what is queued."""
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)


class Hub:
    """Registry of live connections, fed by the event bus."""

    def __init__(self, box: Box) -> None:
        self._box = box
        self.by_conversation: dict[str, set[Connection]] = {}
        self.visitors: dict[str, set[Connection]] = {}
        self.agents: dict[str, set[Connection]] = {}
        self._grace_tasks: dict[str, asyncio.Task[None]] = {}
        self._refresh_tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe = box.bus.subscribe(self._on_event)
        self._visitors_task: asyncio.Task[None] | None = None
        self._visitors_version = -1
        self._peeks: dict[str, collections.deque[float]] = {}  # visitor id -> recent peeks
        self.stats = SocketStats()

    def send_queues(self) -> tuple[int, int]:
        """Return the frames waiting on all sockets together and on the fullest one."""
        sizes = [
            c.queued for conns in (self.agents, self.visitors) for s in conns.values() for c in s
        ]
        return sum(sizes), max(sizes, default=0)

    # -- registry -------------------------------------------------------------

    def add(self, conn: Connection) -> None:
        """Register a connection."""
        registry = self.agents if conn.kind == "agent" else self.visitors
        registry.setdefault(conn.principal, set()).add(conn)
        conn.stats = self.stats
        if conn.kind == "agent":
            task = self._grace_tasks.pop(conn.principal, None)
            if task is not None:
                task.cancel()
        else:
            self._box.insight.connected(Visitor(conn.principal, dnt=conn.dnt))

    def remove(self, conn: Connection) -> None:
        """Forget a connection and its subscriptions."""
        conn.stop()
        registry = self.agents if conn.kind == "agent" else self.visitors
        conns = registry.get(conn.principal)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del registry[conn.principal]
                if conn.kind == "agent":
                    self.watch_presence(int(conn.principal))
        if conn.kind == "visitor":
            self._box.insight.disconnected(conn.principal)
            if conn.principal not in self.visitors:
                self._peeks.pop(conn.principal, None)
        for conv_id in conn.joined:
            subscribers = self.by_conversation.get(conv_id)
            if subscribers is not None:
                subscribers.discard(conn)
                if not subscribers:
                    del self.by_conversation[conv_id]
                elif conn.kind == "agent":
                    self._viewers(conv_id)

    def join(self, conn: Connection, conv_id: str, after_seq: int, visitor_name: str) -> None:
        """Subscribe a connection; live messages are held until finish_replay."""
        conn.joined[conv_id] = Joined(last_seq=after_seq, visitor_name=visitor_name)
        self.by_conversation.setdefault(conv_id, set()).add(conn)
        if conn.kind == "agent":
            self._viewers(conv_id)
        else:
            place = self._box.dispatcher.places.get(conv_id)
            if place is not None:
                conn.send_place(conv_id, place)

    def leave(self, conn: Connection, conv_id: str) -> None:
        """Unsubscribe a connection from one conversation (and update who is viewing it)."""
        if conn.joined.pop(conv_id, None) is None:
            return
        subscribers = self.by_conversation.get(conv_id)
        if subscribers is not None:
            subscribers.discard(conn)
            if not subscribers:
                del self.by_conversation[conv_id]
        if conn.kind == "agent":
            conn.send(frames.Left(conv_id))
            self._viewers(conv_id)

    def _viewers(self, conv_id: str) -> None:
        """Tell every console in a conversation which colleagues have it open (collision)."""
        conns = [c for c in self.by_conversation.get(conv_id, ()) if c.kind == "agent"]
        seen: dict[str, str] = {}
        for conn in conns:
            seen[conn.principal] = conn.name
        frame = encode(
            frames.Viewers(conv_id, [AgentRef(int(k), v) for k, v in sorted(seen.items())])
        )
        for conn in conns:
            conn.send(frame)

    def typing(self, sender: Connection, conv_id: str, active: bool, internal: bool) -> None:
        """Relay a typing state to the others in a conversation; internal stays with staff."""
        frame = encode(frames.TypingNow(conv_id, sender.kind, sender.name, active, internal))
        for conn in self.by_conversation.get(conv_id, ()):
            if conn.principal != sender.principal and (conn.kind == "agent" or not internal):
                conn.send(frame)

    def read_now(self, sender: Connection, conv_id: str, reader: Reader, seq: int) -> None:
        """Tell the others in a conversation how far one side has read it."""
        frame = encode(frames.ReadNow(conv_id, reader, seq))
        for conn in self.by_conversation.get(conv_id, ()):
            if conn is not sender:
                conn.send(frame)

    def peek_allowed(self, visitor_id: str, now: float) -> bool:
        """Spend one of a visitor's sneak peeks: at most _PEEK_RATE per second, over
        all their sockets."""
        times = self._peeks.setdefault(visitor_id, collections.deque(maxlen=_PEEK_RATE))
        if len(times) == _PEEK_RATE and now - times[0] < 1.0:
            return False
        times.append(now)
        return True

    def peek(self, sender: Connection, conv_id: str, text: str) -> None:
        """Relay what a visitor is typing to the consoles in the conversation (only)."""
        frame = encode(frames.PeekNow(conv_id, text))
        for conn in self.by_conversation.get(conv_id, ()):
            if conn.kind == "agent":
                conn.send(frame)

    def _feedback(self, event: FeedbackChanged) -> None:
        """Tell the chat's agent and the consoles that have it open what the visitor said."""
        found = event.feedback
        targets = {
            c for c in self.by_conversation.get(found.conversation_id, ()) if c.kind == "agent"
        }
        if found.agent_id is not None:
            targets.update(self.agents.get(str(found.agent_id), ()))
        if targets:
            frame = encode(feedback_wire.FeedbackFrame(feedback_wire.feedback_out(found)))
            for conn in targets:
                conn.send(frame)

    # -- presence -------------------------------------------------------------

    def watch_presence(self, user_id: int) -> None:
        """Set an online agent offline if no console of theirs returns within the grace."""
        key = str(user_id)
        if key in self.agents or key in self._grace_tasks:
            return
        self._grace_tasks[key] = asyncio.get_running_loop().create_task(
            self._presence_grace(user_id)
        )

    async def _presence_grace(self, user_id: int) -> None:
        try:
            await asyncio.sleep(self._box.settings.presence_grace)
            if str(user_id) in self.agents:
                return
            user = await self._box.accounts.get_user(user_id)
            if user is not None and user.status == "online":
                _LOGGER.info("agent %d left without logging off; set offline", user_id)
                await self._box.accounts.set_status(user_id, "offline")
        finally:
            self._grace_tasks.pop(str(user_id), None)

    # -- the live visitor list ---------------------------------------------------

    def start(self) -> None:
        """Start sending live visitor lists to the consoles that watch them."""
        self._visitors_task = asyncio.get_running_loop().create_task(self._visitor_frames())

    def watch_visitors(self, conn: Connection, filt: Filter, offset: int, limit: int) -> None:
        """Send a console one page of the live list now, and again whenever it changes."""
        conn.watch = (filt, offset, limit)
        conn.watch_sent = ""
        self.send_visitors([conn])

    async def _visitor_frames(self) -> None:
        while True:
            await asyncio.sleep(_VISITORS_TICK)
            live = self._box.insight.live
            if live.version == self._visitors_version:
                continue
            self._visitors_version = live.version
            watching = [c for conns in self.agents.values() for c in conns if c.watch]
            self.send_visitors(watching)

    def send_visitors(self, conns: list[Connection]) -> None:
        """Send each console its page of the live list, if it changed; consoles with the
        same scope and filter share one query."""
        live = self._box.insight.live
        encoded: dict[tuple[Scope, Filter, int, int], str] = {}
        for conn in conns:
            assert conn.watch is not None
            filt, offset, limit = conn.watch
            key = (conn.scope, filt, offset, limit)
            frame = encoded.get(key)
            if frame is None:
                total, page = live.query(conn.scope, filt, offset, limit)
                rows = [insight_wire.live_visitor_out(v) for v in page]
                visitors = insight_wire.VisitorsFrame(total, offset, limit, rows)
                frame = encoded[key] = encode(visitors)
            if frame != conn.watch_sent:
                conn.watch_sent = frame
                conn.send(frame)

    async def close(self) -> None:
        """Stop listening to the bus and cancel presence timers."""
        self._unsubscribe()
        tasks = list(self._grace_tasks.values()) + list(self._refresh_tasks)
        if self._visitors_task is not None:
            tasks.append(self._visitors_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- events ---------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, MessageCreated):
            subscribers = self.by_conversation.get(event.conversation_id)
            if subscribers:
                self._message_created(event, subscribers)
        elif isinstance(event, QueueChanged):
            for conv_id, place in event.places.items():
                for conn in self.by_conversation.get(conv_id, ()):
                    if conn.kind == "visitor":
                        conn.send_place(conv_id, place)
        elif isinstance(event, TicketChanged):
            self._ticket_changed(event.ticket)
        elif isinstance(event, RoutingChanged):
            self._refresh_groups()
        elif isinstance(event, ConversationChanged):
            self._conversation_changed(event)
        elif isinstance(event, InvitationChanged):
            self._invitation(event.invitation)
        elif isinstance(event, AgentStatusChanged):
            frame = encode(frames.PresenceNow(Presence(event.status)))
            for conn in self.agents.get(str(event.user_id), ()):
                conn.send(frame)
        elif isinstance(event, AccountChanged):
            self._account_changed(event)
        elif isinstance(event, FeedbackChanged):
            self._feedback(event)
        elif isinstance(event, NoticeAdded):
            # Only the user it was given to hears of it, on every console of theirs.
            told = self.agents.get(str(event.notice.user_id))
            if told:
                frame = encode(notice_wire.NoticeFrame(notice_wire.notice_out(event.notice)))
                for conn in told:
                    conn.send(frame)

    def _message_created(self, event: MessageCreated, subscribers: set[Connection]) -> None:
        """Send a new message to the sockets joined to its conversation; the socket it
        came from gets its ack in the message's place instead of a copy of it (two
        frames a line fewer to write, issue 18)."""
        conv_id, message = event.conversation_id, event.message
        out = message_out(message)
        data = encode(frames.MessageFrame(out))
        seq = message.seq
        staff_only = message.staff_only
        for conn in list(subscribers):
            # Notes and whispers never reach a visitor's socket.
            if staff_only and conn.kind != "agent":
                continue
            if conn is event.origin and message.client_msg_id is not None:
                ack = encode(frames.Ack(message.client_msg_id, out, stream=True))
                if conn.deliver_ack(conv_id, seq, message.client_msg_id, ack):
                    continue
            conn.deliver(conv_id, seq, data)

    def _account_changed(self, event: AccountChanged) -> None:
        """Close the user's consoles: signed out, they go to the login page; with a new
        role, they reconnect and are served as it."""
        for conn in list(self.agents.get(str(event.user_id), ())):
            if event.signed_out:
                conn.send(frames.ErrorFrame("not_authenticated", "your session has ended"))
                conn.end(WSCloseCode.POLICY_VIOLATION, b"signed out")
            else:
                conn.end(WSCloseCode.SERVICE_RESTART, b"role changed")

    def _ticket_changed(self, ticket: Ticket) -> None:
        """Tell the consoles that may see a ticket what became of it (core/tickets.py:
        overseers every ticket, an agent those of their groups, of no group, and their
        own)."""
        group_id = ticket.fields["group_id"]
        owner = str(ticket.fields["owner_id"])
        frame = encode(tickets.TicketFrame(tickets.ticket_brief(ticket)))
        for principal, conns in self.agents.items():
            for conn in conns:
                if group_id is None or principal == owner or conn.sees_queue(group_id):
                    conn.send(frame)

    def _conversation_changed(self, event: ConversationChanged) -> None:
        conv = event.conversation
        visitor_frame = encode(frames.ConversationFrame(conversation_out(conv)))
        for conn in self.visitors.get(event.visitor_id, ()):
            conn.send(visitor_frame)
        agent_frame = encode(frames.ConsoleConversationFrame(console_conversation_out(conv)))
        targets: set[Connection] = set()
        queued = (
            conv.transfer_pending
            or event.previous_transfer_pending
            or "waiting" in (conv.status, event.previous_status)
        )
        if queued:
            # The queue changed: the consoles that show this group's queue hear of it.
            group = conv.waits_in
            for conns in self.agents.values():
                targets.update(c for c in conns if c.sees_queue(group))
        people = [conv.agent_id, event.previous_agent_id, *(p.id for p in conv.participants)]
        for agent_id in people:
            if agent_id is not None:
                targets.update(self.agents.get(str(agent_id), ()))
        # Colleagues who have it open (supervisors watching, invited guests who left).
        targets.update(c for c in self.by_conversation.get(conv.id, ()) if c.kind == "agent")
        for conn in targets:
            conn.send(agent_frame)
        # Whoever lost the right to see it (handed over, left, taken over) stops hearing it.
        for conn in list(self.by_conversation.get(conv.id, ())):
            if conn.kind == "agent" and not conv.visible_to(int(conn.principal), conn.groups):
                self.leave(conn, conv.id)

    def _invitation(self, invitation: Invitation) -> None:
        if invitation.pending:
            frame = invitation_frame(invitation)
        else:
            status = cast(insight_wire.InvitationStatus, invitation.status)
            closed = insight_wire.InvitationClosedFrame(invitation.id, status)
            frame = encode(closed)
        for conn in self.visitors.get(invitation.visitor_id, ()):
            conn.send(frame)
        if invitation.agent_id is not None:
            changed = insight_wire.InvitationFrame(insight_wire.invitation_out(invitation))
            agent_frame = encode(changed)
            for conn in self.agents.get(str(invitation.agent_id), ()):
                conn.send(agent_frame)

    def _refresh_groups(self) -> None:
        """Reload which queues each connected console shows, after a routing edit."""
        if self.agents:
            task = asyncio.get_running_loop().create_task(self._load_groups())
            self._refresh_tasks.add(task)
            task.add_done_callback(self._refresh_tasks.discard)

    async def _load_groups(self) -> None:
        memberships = await self._box.routing.memberships()
        for principal, conns in list(self.agents.items()):
            regions = await self._box.routing.regions_of(int(principal))
            for conn in conns:
                if conn.groups is not None:
                    conn.groups = frozenset(memberships.get(int(conn.principal), ()))
                    conn.scope = agent_scope(regions, conn.groups)
                    conn.watch_sent = ""


def invitation_frame(invitation: Invitation) -> str:
    """Encode what a visitor sees of a pending invitation."""
    offer = insight_wire.OfferFrame(insight_wire.offered_invitation_out(invitation))
    return encode(offer)
