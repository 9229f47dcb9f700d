"""Bare aiohttp WebSocket fan-out server: the ceiling the appliance is measured against.

It speaks the part of docs/api.md that bench/ws_fanout.py uses, with the same frame
shapes, and does none of the appliance's other work: no database, no console login,
no rate limits, no per-socket send queue, no replay. A visitor's token is its id (the
"trivial hello"), a new conversation goes at once to the least loaded agent socket,
and a `send` is relayed to every socket joined to the conversation (the visitor's
own and its agent's) and then acknowledged, the same frames in the same order as the
appliance sends them.

With `--durable PATH` it also stores each line before relaying it, as the appliance
does: a writer thread inserts the lines waiting for it into a SQLite file (WAL,
synchronous=FULL: one fsync per commit) in one transaction (group commit), and a line
is relayed and acknowledged once its commit returned. Nothing else of the appliance
(no rows but the line, no indexer, no rollups): the floor a fan-out after a durable
commit can reach on this disk, measured in the same run as the bare server.

Run: python bench/baseline_server.py --port 0   (prints "listening on port N")
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import queue
import secrets
import signal
import sqlite3
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

_HEARTBEAT = 30.0  # s between server pings, as the appliance
_MAX_FRAME = 64 * 1024  # bytes of one frame, as the appliance
_AUTH_TIMEOUT = 10.0  # s for a visitor's first frame, as the appliance
_SHUTDOWN_TIMEOUT = 5.0  # s for open requests at stop
_SEND_ERRORS = (ConnectionError, RuntimeError)  # a peer that went away mid-send


def encode(frame: dict[str, Any]) -> str:
    """Encode one frame as the appliance does (compact JSON, UTF-8 kept as is)."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def _now_iso() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="milliseconds")


@dataclass(eq=False, slots=True)
class Agent:
    """One agent socket and how many conversations it holds."""

    id: int
    ws: web.WebSocketResponse
    load: int = 0


@dataclass(eq=False, slots=True)
class Conversation:
    """A conversation kept in memory only, with the sockets joined to it."""

    id: str
    visitor_id: str
    agent: Agent | None = None
    last_seq: int = 0
    created_at: str = field(default_factory=_now_iso)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)

    def public(self) -> dict[str, Any]:
        """Return the console form of docs/api.md."""
        agent = self.agent
        return {
            "id": self.id,
            "status": "active" if agent else "waiting",
            "agent": {"id": agent.id, "display_name": f"agent {agent.id}"} if agent else None,
            "created_at": self.created_at,
            "closed_at": None,
            "last_seq": self.last_seq,
            "visitor": {"id": self.visitor_id, "name": ""},
        }


class Durable:
    """Lines stored in a SQLite file by one writer thread, many per commit."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._jobs: queue.SimpleQueue[tuple[tuple[str, int, str], asyncio.Future[None]] | None]
        self._jobs = queue.SimpleQueue()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="durable-writer", daemon=True)
        self._thread.start()

    async def store(self, conversation_id: str, seq: int, body: str) -> None:
        """Return once the line is committed (fsynced)."""
        done: asyncio.Future[None] = self._loop.create_future()
        self._jobs.put(((conversation_id, seq, body), done))
        await done

    def close(self) -> None:
        """Stop the writer thread after the lines already queued."""
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS lines (id INTEGER PRIMARY KEY,"
            " conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL)"
        )
        while True:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 500:
                    job = self._jobs.get_nowait()
                    if job is None:
                        self._jobs.put(None)
                        break
                    batch.append(job)
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO lines (conversation_id, seq, body) VALUES (?, ?, ?)",
                [row for row, _ in batch],
            )
            conn.execute("COMMIT")
            for _, done in batch:
                self._loop.call_soon_threadsafe(_resolve, done)
        conn.close()


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


async def _send(ws: web.WebSocketResponse, data: str) -> None:
    with contextlib.suppress(*_SEND_ERRORS):
        await ws.send_str(data)


class FanoutServer:
    """Visitor and agent sockets, paired through in-memory conversations."""

    def __init__(self, durable: Durable | None = None) -> None:
        self.durable = durable
        self.agents: dict[int, Agent] = {}
        self.conversations: dict[str, Conversation] = {}
        self._agent_ids = itertools.count(1)
        self._message_ids = itertools.count(1)

    def app(self) -> web.Application:
        """Return the aiohttp app with the routes the benchmark uses."""
        app = web.Application()
        app.router.add_post("/api/visitor/session", self.create_session)
        app.router.add_post("/api/visitor/conversations", self.open_conversation)
        app.router.add_get("/api/visitor/ws", self.visitor_ws)
        app.router.add_get("/api/console/ws", self.agent_ws)
        app.on_shutdown.append(self._close_sockets)
        return app

    async def create_session(self, request: web.Request) -> web.Response:
        """Issue a visitor identity; the token is the id itself."""
        visitor_id = "v_" + secrets.token_urlsafe(12)
        return web.json_response({"visitor_id": visitor_id, "token": visitor_id}, status=201)

    async def open_conversation(self, request: web.Request) -> web.Response:
        """Start a conversation and give it to the least loaded agent socket."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.startswith("v_"):
            raise web.HTTPUnauthorized()
        conv = Conversation("c_" + secrets.token_urlsafe(12), token)
        self.conversations[conv.id] = conv
        if self.agents:
            agent = min(self.agents.values(), key=lambda a: a.load)
            agent.load += 1
            conv.agent = agent
            await _send(agent.ws, encode({"type": "conversation", "conversation": conv.public()}))
        return web.json_response({"conversation": conv.public()}, status=201)

    async def visitor_ws(self, request: web.Request) -> web.WebSocketResponse:
        """Serve a visitor socket: an `auth` frame first, then the shared protocol."""
        ws = self._socket()
        await ws.prepare(request)
        try:
            first = await ws.receive(timeout=_AUTH_TIMEOUT)
        except TimeoutError:
            await ws.close()
            return ws
        frame = json.loads(first.data) if first.type == WSMsgType.TEXT else {}
        visitor_id = frame.get("token")
        if frame.get("type") != "auth" or not isinstance(visitor_id, str):
            await ws.close()
            return ws
        await ws.send_str(encode({"type": "ready", "visitor_id": visitor_id}))
        await self._serve(ws, "visitor", visitor_id)
        return ws

    async def agent_ws(self, request: web.Request) -> web.WebSocketResponse:
        """Serve an agent socket; it is an agent from its first byte."""
        ws = self._socket()
        await ws.prepare(request)
        agent = Agent(next(self._agent_ids), ws)
        self.agents[agent.id] = agent
        user = {"id": agent.id, "username": f"agent{agent.id}", "role": "agent"}
        await ws.send_str(encode({"type": "ready", "user": user}))
        try:
            await self._serve(ws, "agent", str(agent.id))
        finally:
            del self.agents[agent.id]
        return ws

    def _socket(self) -> web.WebSocketResponse:
        return web.WebSocketResponse(heartbeat=_HEARTBEAT, max_msg_size=_MAX_FRAME)

    async def _serve(self, ws: web.WebSocketResponse, sender_type: str, principal: str) -> None:
        joined: list[Conversation] = []
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                kind = frame.get("type")
                if kind == "send":
                    await self._relay(ws, frame, sender_type, principal)
                elif kind == "join":
                    conv = self.conversations.get(frame.get("conversation_id", ""))
                    if conv is not None and principal in (
                        conv.visitor_id,
                        str(conv.agent and conv.agent.id),
                    ):
                        conv.sockets.add(ws)
                        joined.append(conv)
                elif kind == "ping":
                    await _send(ws, '{"type":"pong"}')
        finally:
            for conv in joined:
                conv.sockets.discard(ws)

    async def _relay(
        self, ws: web.WebSocketResponse, frame: dict[str, Any], sender_type: str, principal: str
    ) -> None:
        conv = self.conversations.get(frame.get("conversation_id", ""))
        client_msg_id = frame.get("client_msg_id")
        if conv is None or ws not in conv.sockets:
            error = {"type": "error", "code": "not_found", "ref": client_msg_id}
            await _send(ws, encode(error))
            return
        conv.last_seq += 1
        seq = conv.last_seq
        if self.durable is not None:
            await self.durable.store(conv.id, seq, str(frame.get("body", "")))
        message = {
            "id": f"m_{next(self._message_ids)}",
            "conversation_id": conv.id,
            "seq": seq,
            "client_msg_id": client_msg_id,
            "sender_type": sender_type,
            "sender_name": principal,
            "body": frame.get("body", ""),
            "event": None,
            "created_at": _now_iso(),
        }
        data = encode({"type": "message", "message": message})
        for peer in list(conv.sockets):
            await _send(peer, data)
        await _send(ws, encode({"type": "ack", "client_msg_id": client_msg_id, "message": message}))

    async def _close_sockets(self, app: web.Application) -> None:
        for agent in list(self.agents.values()):
            await agent.ws.close()


async def serve(host: str, port: int, durable_path: Path | None = None) -> None:
    """Run the server until SIGINT or SIGTERM."""
    durable = Durable(durable_path) if durable_path is not None else None
    runner = web.AppRunner(
        FanoutServer(durable).app(),
        handle_signals=False,
        shutdown_timeout=_SHUTDOWN_TIMEOUT,
        access_log=None,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = [a[1] for a in runner.addresses if isinstance(a, tuple)]
    print(f"baseline: listening on port {bound[0] if bound else port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        if durable is not None:
            durable.close()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--durable", type=Path, help="store each line in this SQLite file first")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port, args.durable))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(args.host, args.port, args.durable))
    return 0


if __name__ == "__main__":
    sys.exit(main())
