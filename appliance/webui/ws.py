"""The WebSocket protocol of docs/api.md, for visitors and agents."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from appliance.core.actors import Actor, Staff, Visitor
from appliance.core.box import Box
from appliance.core.clock import utc_offset_minutes
from appliance.core.conversation import Conversation
from appliance.core.db import queued_hook
from appliance.core.errors import ChatError, InvalidInput
from appliance.core.live import Filter, scope_of
from appliance.core.ratelimit import RateLimited
from appliance.webui.hub import Connection, Hub, invitation_frame
from appliance.webui.inputs import decode_json, do_not_track
from appliance.webui.keys import BOX, HUB, SETTINGS
from appliance.webui.security import current_session
from appliance.webui.wire import account, frames
from appliance.webui.wire.chat import message_out

_LOGGER = logging.getLogger(__name__)

_AUTH_TIMEOUT = 10.0  # s for a visitor's first frame
_HEARTBEAT = 30.0  # s between server pings; a silent peer is dropped after it
_TYPING_INTERVAL = 0.5  # s, typing frames closer than this are dropped
_REPLAY_PAGE = 500  # messages per read while replaying
_CLOSE_BAD_FRAME = 1007  # RFC 6455: payload data inconsistent with the message type
_LOG_EVERY = 60.0  # s between log lines a peer can cause
# Frames of one socket handled at once. Past this the socket is not read until one
# finishes: TCP pushes back on a sender faster than the box (bench/README.md, issue 18).
_IN_FLIGHT = 64


class _Throttled:
    """Log at most once per _LOG_EVERY seconds (peers can trigger these)."""

    def __init__(self) -> None:
        self._at = -_LOG_EVERY

    def exception(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._at >= _LOG_EVERY:
            self._at = now
            _LOGGER.exception(message, *args)


_LOG_ONCE = _Throttled()


class BadFrame(ValueError):
    """A frame that does not follow the protocol."""


def parse_frame(data: str) -> frames.ClientFrame:
    """Decode a text frame into its type, every field checked; raise BadFrame if off."""
    try:
        frame = frames.decode_frame(data)
    except msgspec.DecodeError as err:
        raise BadFrame("frame is not valid JSON text") from err
    except msgspec.ValidationError as err:
        raise BadFrame(str(err)) from err
    if "\\u0000" in data:
        # JSON can only carry NUL escaped; the types cannot refuse it, the input rules do.
        try:
            decode_json(data)
        except InvalidInput as err:
            raise BadFrame(err.message) from err
    return frame


def _error(
    code: str,
    message: str,
    ref: str | None = None,
    *,
    conversation_id: str | msgspec.UnsetType = msgspec.UNSET,
    retry_after: int | None = None,
) -> frames.ErrorFrame:
    return frames.ErrorFrame(
        code,
        message,
        ref=msgspec.UNSET if ref is None else ref,
        conversation_id=conversation_id,
        retry_after=msgspec.UNSET if retry_after is None else retry_after,
    )


class Peer:
    """Protocol state of one socket: what it may do and what it has joined."""

    def __init__(self, box: Box, hub: Hub, conn: Connection, address: str) -> None:
        self.box = box
        self.hub = hub
        self.conn = conn
        self.address = address
        self._last_typing: dict[str, float] = {}

    @property
    def actor(self) -> Actor:
        """Who acts through this socket: the visitor, or the console user with the scope
        core read at connect (the hub renews it when routing changes)."""
        conn = self.conn
        if conn.kind == "visitor":
            return Visitor(conn.principal, self.address, conn.dnt)
        groups = conn.groups if conn.groups is not None else frozenset()
        regions = conn.scope.regions or frozenset()
        return Staff(int(conn.principal), conn.name, conn.role or "agent", groups, regions)

    async def allowed(self, conv_id: str) -> Conversation:
        """Return the conversation if this socket may see it (core decides); else raise."""
        return await self.box.chats.get_for(conv_id, self.actor)

    async def handle(self, frame: frames.ClientFrame) -> None:
        """Act on one frame; protocol errors raise BadFrame, rule errors answer `error`."""
        agent = self.conn.kind == "agent"
        match frame:
            case frames.Ping():
                self.conn.send(frames.Pong())
            case frames.Leave():
                self.hub.leave(self.conn, frame.conversation_id)
            case frames.Join():
                await self._join(frame.conversation_id, frame.after_seq)
            case frames.Send():
                await self._send(frame)
            case frames.WatchVisitors() if agent:
                self._watch(frame)
            case frames.UnwatchVisitors() if agent:
                self.conn.watch = None
            case frames.Typing():
                self._typing(frame.conversation_id, frame.active, frame.internal)
            case frames.Read():
                await self._read(frame.conversation_id, frame.seq)
            case frames.Peek() if not agent:
                self._peek(frame.conversation_id, frame.text)
            case _:
                raise BadFrame(f"unexpected frame type {type(frame).__name__}")

    def _watch(self, frame: frames.WatchVisitors) -> None:
        try:
            filt = Filter.parse(msgspec.structs.asdict(frame.filter))
        except ValueError as err:
            raise BadFrame(str(err)) from err
        self.hub.watch_visitors(self.conn, filt, frame.offset, max(1, frame.limit))

    async def _join(self, conv_id: str, after_seq: int) -> None:
        try:
            conv = await self.allowed(conv_id)
        except ChatError as err:
            self.conn.send(_error(err.code, err.message, conversation_id=conv_id))
            return
        self.hub.join(self.conn, conv_id, after_seq, conv.visitor_name)
        try:
            cursor = after_seq
            while True:
                page = await self.box.chats.history(conv_id, self.actor, cursor, _REPLAY_PAGE)
                for message in page:
                    self.conn.deliver_replay(conv_id, message)
                if len(page) < _REPLAY_PAGE:
                    break
                cursor = page[-1].seq
        finally:
            self.conn.finish_replay(conv_id)
        # How far the others have read, as it stands: a visitor hears of the agents'
        # side, a console of both.
        visitor_seq, agent_seq = await self.box.read_marks.get(conv_id)
        if self.conn.kind == "agent" and visitor_seq:
            self.conn.send(frames.ReadNow(conv_id, "visitor", visitor_seq))
        if agent_seq:
            self.conn.send(frames.ReadNow(conv_id, "agent", agent_seq))

    async def _send(self, frame: frames.Send) -> None:
        conv_id, client_msg_id, body = frame.conversation_id, frame.client_msg_id, frame.body
        conn, actor = self.conn, self.actor
        try:
            if isinstance(actor, Visitor):
                message, _ = await self.box.visitor_message(
                    conv_id, actor, client_msg_id=client_msg_id, body=body, origin=conn
                )
            else:
                if conv_id not in conn.joined:
                    await self.allowed(conv_id)  # the console's scope: not joined yet
                self.box.load.admit_line()
                message, _ = await self.box.chats.post(
                    conv_id, actor, client_msg_id=client_msg_id, body=body, origin=conn
                )
        except RateLimited as err:
            conn.send(
                _error(
                    "rate_limited", "too many messages", client_msg_id, retry_after=err.retry_after
                )
            )
            return
        except ChatError as err:
            retry = getattr(err, "retry_after", None)
            conn.send(_error(err.code, err.message, client_msg_id, retry_after=retry))
            return
        # The hub already put the ack in the message's place in the stream, unless this
        # socket had not joined the conversation, was replaying it, or it was a resend.
        if not conn.took_streamed_ack(conv_id, client_msg_id):
            conn.send(frames.Ack(client_msg_id, message_out(message)))

    async def _read(self, conv_id: str, seq: int) -> None:
        if conv_id not in self.conn.joined:
            self.conn.send(_error("not_joined", "join it first", conversation_id=conv_id))
            return
        try:
            moved = await self.box.read_marks.mark(conv_id, self.actor, seq)
        except ChatError as err:
            self.conn.send(_error(err.code, err.message))
            return
        if moved is not None:
            self.hub.read_now(self.conn, conv_id, *moved)

    def _peek(self, conv_id: str, text: str) -> None:
        if not self.box.box_settings.sneak_peek:
            return  # switched off: an older widget's frame is dropped, never relayed
        if conv_id not in self.conn.joined:
            self.conn.send(_error("not_joined", "join it first", conversation_id=conv_id))
            return
        if self.hub.peek_allowed(self.conn.principal, time.monotonic()):
            self.hub.peek(self.conn, conv_id, text)

    def _typing(self, conv_id: str, active: bool, internal: bool) -> None:
        if conv_id not in self.conn.joined:
            return
        now = time.monotonic()
        if active and now - self._last_typing.get(conv_id, 0.0) < _TYPING_INTERVAL:
            return
        self._last_typing[conv_id] = now
        self.hub.typing(self.conn, conv_id, active, internal and self.conn.kind == "agent")


class _Lanes:
    """A socket's frames in flight, one lane per conversation.

    A `send` waits for its commit. Handled one at a time, a console with 100 chats could
    send one line per commit, and its replies queued behind each other whenever commits
    slowed (bench/README.md, issue 18). Now each frame runs in its own task, and a frame
    starts once the one before it in its conversation has reached the writer's queue
    (db.queued_hook) or finished: the writer runs jobs in queue order, so lines are
    stored, acknowledged and fanned out in the order they came, while one commit
    carries many of them. At most _IN_FLIGHT frames run at once; the reader waits for
    a free place.
    """

    def __init__(self, peer: Peer) -> None:
        self._peer = peer
        self.refusing = False  # a bad frame came: the socket closes after what runs
        self._tails: dict[str, tuple[asyncio.Task[None], asyncio.Future[None]]] = {}
        self._places = asyncio.Semaphore(_IN_FLIGHT)
        self._running: set[asyncio.Task[None]] = set()

    def busy(self, conv_id: str) -> asyncio.Task[None] | None:
        """Return the last unfinished task of a conversation's lane, if any."""
        tail = self._tails.get(conv_id)
        return tail[0] if tail is not None and not tail[0].done() else None

    async def add(self, conv_id: str, frame: frames.ClientFrame) -> None:
        """Start a frame after the one before it in its conversation (waits for a place)."""
        await self._places.acquire()
        tail = self._tails.get(conv_id)
        before = tail[1] if tail is not None and not tail[0].done() else None
        point: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._run(before, point, frame))
        self._tails[conv_id] = (task, point)
        self._running.add(task)
        task.add_done_callback(lambda done: self._done(conv_id, done, point))

    def _done(self, conv_id: str, task: asyncio.Task[None], point: asyncio.Future[None]) -> None:
        _reach(point)
        self._running.discard(task)
        self._places.release()
        tail = self._tails.get(conv_id)
        if tail is not None and tail[0] is task:
            del self._tails[conv_id]  # the lane is empty: a long-lived console keeps none

    async def _run(
        self,
        before: asyncio.Future[None] | None,
        point: asyncio.Future[None],
        frame: frames.ClientFrame,
    ) -> None:
        if before is not None:
            await before
        queued_hook.set(lambda: _reach(point))  # this task's own context
        try:
            await _handle(self._peer, frame)
        except BadFrame as err:
            _reach(point)  # frames after it in its lane must not wait for it
            await self.refuse(err)

    async def refuse(self, err: BadFrame) -> None:
        """Answer a bad frame after the frames already running have been answered, then
        close the socket once that is written (the first bad frame only)."""
        if self.refusing:
            return
        self.refusing = True
        await self.drain()
        conn = self._peer.conn
        conn.send(_error("bad_frame", str(err)))
        conn.end(_CLOSE_BAD_FRAME, b"bad frame")

    async def drain(self) -> None:
        """Let the frames in flight finish (their writes complete; acks may not reach)."""
        others = self._running - {asyncio.current_task()}
        if others:
            await asyncio.gather(*others, return_exceptions=True)


def _reach(point: asyncio.Future[None]) -> None:
    if not point.done():
        point.set_result(None)


def _lane_of(frame: frames.ClientFrame) -> str | None:
    """Return the conversation whose order a frame keeps, for frames that may run beside
    the reader; None for those handled at once (join, leave, ping, watch)."""
    if isinstance(frame, frames.Send | frames.Typing | frames.Read | frames.Peek):
        return frame.conversation_id
    return None


async def _handle(peer: Peer, frame: frames.ClientFrame) -> None:
    """Handle one frame; a rule's refusal or a bug of ours is answered on the socket."""
    conn = peer.conn
    try:
        await peer.handle(frame)
    except ChatError as err:  # a rule refused a frame outside send's own handling
        conn.send(_error(err.code, err.message))
    except BadFrame:
        raise
    except Exception:
        # A bug of ours, not the peer's: say so on the socket, keep it open,
        # and log it (a peer may repeat the frame, so not every time).
        _LOG_ONCE.exception("a %s frame failed", conn.kind)
        conn.send(_error("internal", "the box could not handle this frame"))


async def _serve(ws: web.WebSocketResponse, peer: Peer) -> None:
    """Read frames until the socket closes; a bad frame closes this socket only.

    Frames of one conversation are handled in the order they came. On a console's
    socket, sends, typing, read marks and peeks run in their conversation's lane beside
    the reader (_Lanes), while join, leave and the rest wait for their conversation's
    lane and run at once; a visitor's socket handles its frames one at a time.
    """
    conn = peer.conn
    peer.hub.add(conn)
    sender = asyncio.create_task(conn.run_sender())
    lanes = _Lanes(peer)
    # A visitor's socket carries one chat at a visitor's pace: its frames run one at a
    # time, without a task each (5 % of a core at 1,000 lines/s, bench/README.md).
    pipelined = conn.kind == "agent"
    try:
        async for msg in ws:
            if lanes.refusing:
                break  # a frame running in a lane was bad: nothing more is read
            if msg.type == WSMsgType.TEXT:
                try:
                    frame = parse_frame(msg.data)
                    lane = _lane_of(frame) if pipelined else None
                    if lane is not None:
                        await lanes.add(lane, frame)
                        continue
                    about = getattr(frame, "conversation_id", None)
                    before = lanes.busy(about) if isinstance(about, str) else None
                    if before is not None:
                        await asyncio.wait([before])
                    await _handle(peer, frame)
                except BadFrame as err:
                    await lanes.refuse(err)
                    break
            elif msg.type == WSMsgType.BINARY:
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"text frames only")
                break
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        await lanes.drain()
        peer.hub.remove(conn)
        await asyncio.gather(sender, return_exceptions=True)
        if not ws.closed:
            await ws.close()


def _socket(request: web.Request) -> web.WebSocketResponse:
    return web.WebSocketResponse(
        heartbeat=_HEARTBEAT, max_msg_size=request.app[SETTINGS].max_frame_bytes
    )


async def visitor_ws(request: web.Request) -> web.WebSocketResponse:
    """Serve a visitor's socket: the first frame must carry their token."""
    box = request.app[BOX]
    ws = _socket(request)
    await ws.prepare(request)
    try:
        first = await ws.receive(timeout=_AUTH_TIMEOUT)
    except TimeoutError:
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"auth timeout")
        return ws
    visitor_id = None
    if first.type == WSMsgType.TEXT:
        try:
            frame = parse_frame(first.data)
            if isinstance(frame, frames.Auth):
                visitor_id = box.visitors.verify(frame.token)
        except BadFrame:
            pass
    if visitor_id is None:
        if not ws.closed:
            refused = _error("not_authenticated", "send a valid auth frame")
            await ws.send_str(frames.encode_frame(refused))
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"not authenticated")
        return ws
    conn = Connection(ws, "visitor", visitor_id, transport=request.transport)
    conn.dnt = do_not_track(request)
    conn.send(frames.VisitorReady(visitor_id, peek=box.box_settings.sneak_peek))
    for invitation in await box.invitations.pending_for(visitor_id):
        conn.send(invitation_frame(invitation))
    await _serve(ws, Peer(box, request.app[HUB], conn, request.remote or ""))
    return ws


async def agent_ws(request: web.Request) -> web.WebSocketResponse:
    """Serve a console socket: session cookie, and an Origin of the console itself."""
    session = current_session(request)
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        # Cookies ride along on cross-site WebSocket requests; Origin is the guard.
        raise web.HTTPForbidden(reason="cross-origin WebSocket refused")
    ws = _socket(request)
    await ws.prepare(request)
    user = session.user
    conn = Connection(ws, "agent", str(user.id), user.display_name, request.transport)
    conn.role = user.role
    box = request.app[BOX]
    actor = await box.routing.actor(user.id, user.display_name, user.role)
    conn.groups, conn.scope = actor.queues, scope_of(actor)
    conn.send(frames.ConsoleReady(account.user_out(user), utc_offset_minutes()))
    await _serve(ws, Peer(request.app[BOX], request.app[HUB], conn, request.remote or ""))
    return ws
