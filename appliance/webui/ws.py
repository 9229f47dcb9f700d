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
                    conv_id, actor, client_msg_id=client_msg_id, body=body
                )
            else:
                if conv_id not in conn.joined:
                    await self.allowed(conv_id)  # the console's scope: not joined yet
                message, _ = await self.box.chats.post(
                    conv_id, actor, client_msg_id=client_msg_id, body=body
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


async def _serve(ws: web.WebSocketResponse, peer: Peer) -> None:
    """Read frames until the socket closes; a bad frame closes this socket only."""
    conn = peer.conn
    peer.hub.add(conn)
    sender = asyncio.create_task(conn.run_sender())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                try:
                    await peer.handle(parse_frame(msg.data))
                except BadFrame as err:
                    await ws.send_str(frames.encode_frame(_error("bad_frame", str(err))))
                    await ws.close(code=_CLOSE_BAD_FRAME, message=b"bad frame")
                    break
                except ChatError as err:  # a rule refused a frame outside send's own handling
                    conn.send(_error(err.code, err.message))
                except Exception:
                    # A bug of ours, not the peer's: say so on the socket, keep it open,
                    # and log it (a peer may repeat the frame, so not every time).
                    _LOG_ONCE.exception("a %s frame failed", conn.kind)
                    conn.send(_error("internal", "the box could not handle this frame"))
            elif msg.type == WSMsgType.BINARY:
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"text frames only")
                break
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
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
    conn = Connection(ws, "visitor", visitor_id)
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
    conn = Connection(ws, "agent", str(user.id), user.display_name)
    conn.role = user.role
    box = request.app[BOX]
    actor = await box.routing.actor(user.id, user.display_name, user.role)
    conn.groups, conn.scope = actor.queues, scope_of(actor)
    conn.send(frames.ConsoleReady(account.user_out(user), utc_offset_minutes()))
    await _serve(ws, Peer(request.app[BOX], request.app[HUB], conn, request.remote or ""))
    return ws
