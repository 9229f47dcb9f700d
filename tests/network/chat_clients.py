"""Chat clients that run *inside* a test host: `python -m tests.network.chat_clients ...`.

    visitor --control SOCK --base URL [--resolve NAME=IP] [--ca PEM]
        what the website widget does: POST /api/visitor/session and
        /api/visitor/conversations, then the visitor WebSocket (auth, join, send)
    agent --control SOCK --base URL --username U --password-file F [--ca PEM]
        what the agent console does: GET /login (CSRF meta and cookie), POST /login,
        POST /api/console/presence, then the console WebSocket with Origin = the base URL
    request --base URL --path P [--username U --password-file F] [--ca PEM]
        one-shot: log in (when a user is given), GET a path, print {status, body}

The two long-lived clients are daemons (topology.Topology.spawn) driven over a Unix
socket in the work dir, one JSON request line and one JSON answer line per
connection (a path-named Unix socket is reachable from every network namespace):

    {"cmd": "start", "name": ...}                   visitor: session, conversation, socket
    {"cmd": "login"}                                agent: log in and open the socket
    {"cmd": "send", "conversation_id", "body"}      queue in the outbox, send if connected
    {"cmd": "presence", "status"}                   agent: online, away or offline
    {"cmd": "state"}                                everything below, as JSON

Like the widget, a client keeps per conversation the highest `seq` it has shown
(drops any `seq <= last`, counting them as `repeats`), and an outbox of
sent-but-unacknowledged messages with their `client_msg_id`. Its socket reconnects
with exponential backoff and jitter, then joins with `after_seq` and resends the
outbox. A ping every `--heartbeat` s with nothing heard since the previous one drops
a half-open socket (the widget does the same every 25 s). It prints `READY {json}`
once its control socket listens and `EVENT {json}` lines as things happen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import signal
import socket
import ssl
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

BACKOFF_START = 0.25  # s, first reconnect delay, doubled per failed attempt
BACKOFF_CAP = 2.0  # s (the widget: 0.5 s to 10 s; shorter here to keep the tests fast)
_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=8, sock_connect=4)
_WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=1.0)  # s for a close handshake
_CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')


def emit(tag: str, **fields: Any) -> None:
    print(f"{tag} {json.dumps({'time': time.time(), **fields})}", flush=True)


class _Resolver(AbstractResolver):
    """Resolve the names given on the command line (like curl --resolve); nothing else."""

    def __init__(self, table: dict[str, str]) -> None:
        self._table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self._table:
            raise OSError(f"no address for {host}")
        return [
            ResolveResult(
                hostname=host,
                host=self._table[host],
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=0,
            )
        ]

    async def close(self) -> None:
        pass


def http_session(args: argparse.Namespace) -> aiohttp.ClientSession:
    """A browser-like session: the given CA only, the given names, its own cookie jar."""
    context = ssl.create_default_context(cafile=args.ca) if args.ca else None
    table = dict(item.split("=", 1) for item in args.resolve)
    connector = aiohttp.TCPConnector(ssl=context or True, resolver=_Resolver(table))
    return aiohttp.ClientSession(
        connector=connector,
        timeout=_HTTP_TIMEOUT,
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies of a numeric host, too
    )


async def login(http: aiohttp.ClientSession, base: str, username: str, password: str) -> str:
    """Log in like the login page: its CSRF meta (and cookie), then the form. Return the
    session's CSRF token for the console API."""
    async with http.get(f"{base}/login") as page:
        page.raise_for_status()
        found = _CSRF_META.search(await page.text())
    if not found:
        raise RuntimeError("no csrf-token meta on the login page")
    form = {"username": username, "password": password, "csrf_token": found.group(1)}
    async with http.post(f"{base}/login", data=form, allow_redirects=False) as answer:
        if answer.status != 302:
            raise RuntimeError(f"login refused: {answer.status}")
    async with http.get(f"{base}/api/console/me") as me:
        me.raise_for_status()
        return str((await me.json())["csrf_token"])


class Conversation:
    """What a client has shown of one conversation."""

    def __init__(self) -> None:
        self.last_seq = 0
        self.messages: list[dict[str, Any]] = []
        self.repeats = 0  # message frames dropped as already shown (seq <= last_seq)
        self.gaps: list[tuple[int, int]] = []  # (expected seq, received seq)
        self.info: dict[str, Any] = {}

    def add(self, message: dict[str, Any]) -> None:
        seq = message["seq"]
        if seq <= self.last_seq:
            self.repeats += 1
            return
        if seq != self.last_seq + 1:
            self.gaps.append((self.last_seq + 1, seq))
        self.last_seq = seq
        self.messages.append(message)

    def public(self) -> dict[str, Any]:
        return {
            "last_seq": self.last_seq,
            "messages": [
                {
                    k: m[k]
                    for k in ("seq", "sender_type", "sender_name", "body", "client_msg_id", "event")
                }
                for m in self.messages
            ],
            "repeats": self.repeats,
            "gaps": self.gaps,
            "info": self.info,
        }


class Client:
    """One visitor or agent: its HTTP session, its socket (kept open), its state."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.kind = args.command
        self.base = args.base.rstrip("/")
        self.http = http_session(args)
        self.token = ""  # visitor bearer token
        self.csrf = ""  # agent CSRF token
        self.user: dict[str, Any] = {}
        self.conversations: dict[str, Conversation] = {}
        self.outbox: list[dict[str, str]] = []
        self.acks: dict[str, list[int]] = {}  # client_msg_id -> seq of each `ack` received
        self.sends: dict[str, int] = {}  # client_msg_id -> `send` frames written
        self.errors: list[dict[str, Any]] = []
        self.connects = 0
        self.disconnects: list[dict[str, Any]] = []
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.ready = False
        self._task: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- socket

    @property
    def ws_url(self) -> str:
        path = "/api/visitor/ws" if self.kind == "visitor" else "/api/console/ws"
        return re.sub(r"^http", "ws", self.base) + path

    def conversation(self, conv_id: str) -> Conversation:
        return self.conversations.setdefault(conv_id, Conversation())

    def start_socket(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._keep_connected())

    async def _keep_connected(self) -> None:
        attempt = 0
        while True:
            reason = "closed"
            try:
                await self._session()
            except (aiohttp.ClientError, OSError, TimeoutError, RuntimeError) as err:
                reason = f"{type(err).__name__}: {err}"
            was_ready, self.ready, self.ws = self.ready, False, None
            if was_ready:
                attempt = 0
                self.disconnects.append({"time": time.time(), "reason": reason})
                emit("EVENT", event="disconnected", reason=reason)
            base = min(BACKOFF_CAP, BACKOFF_START * 2**attempt)
            attempt += 1
            await asyncio.sleep(base / 2 + random.random() * base / 2)  # jitter, as the widget

    async def _session(self) -> None:
        origin = self.base if self.kind == "agent" else None
        async with self.http.ws_connect(
            self.ws_url, origin=origin, timeout=_WS_TIMEOUT, max_msg_size=1 << 20
        ) as ws:
            self.ws = ws
            if self.kind == "visitor":
                await ws.send_json({"type": "auth", "token": self.token})
            heard = asyncio.Event()
            loop = asyncio.get_running_loop()
            tasks = {
                loop.create_task(self._read(ws, heard)),
                loop.create_task(self._beat(ws, heard)),
            }
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                task.result()  # a reading error ends the session with its reason

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, heard: asyncio.Event) -> None:
        async for msg in ws:
            heard.set()
            if msg.type == aiohttp.WSMsgType.TEXT:
                await self._on_frame(json.loads(msg.data))

    async def _beat(self, ws: aiohttp.ClientWebSocketResponse, heard: asyncio.Event) -> None:
        """Ping; if nothing at all was heard since the previous ping, the socket is dead."""
        while True:
            heard.clear()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json({"type": "ping"})
            await asyncio.sleep(self.args.heartbeat)
            if not heard.is_set():
                emit("EVENT", event="stalled")
                raise TimeoutError("no answer to a ping: the connection stalled")

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ready":
            self.ready = True
            self.connects += 1
            if "user" in frame:
                self.user = frame["user"]
            emit("EVENT", event="ready", connects=self.connects)
            if self.kind == "agent":
                for conv in await self._api("GET", "/api/console/conversations?scope=mine"):
                    self.conversation(conv["id"]).info = conv
            for conv_id, conv in self.conversations.items():
                await self._join(conv_id, conv.last_seq)
            await self._flush()
        elif kind == "message":
            message = frame["message"]
            self.conversation(message["conversation_id"]).add(message)
            self._drop_from_outbox(message.get("client_msg_id"))  # our own, committed
        elif kind == "ack":
            self.acks.setdefault(frame["client_msg_id"], []).append(frame["message"]["seq"])
            self._drop_from_outbox(frame["client_msg_id"])
            if frame.get("stream"):  # in the message's place: no message frame follows
                message = frame["message"]
                self.conversation(message["conversation_id"]).add(message)
        elif kind == "conversation":
            conv = frame["conversation"]
            agent = conv.get("agent") or {}
            mine = self.kind == "visitor" or agent.get("id") == self.user.get("id")
            if mine or conv["id"] in self.conversations:
                new = conv["id"] not in self.conversations
                self.conversation(conv["id"]).info = conv
                if new and conv["status"] == "active":
                    await self._join(conv["id"], 0)
        elif kind == "error":
            self.errors.append(frame)
            emit("EVENT", event="error", frame=frame)

    def _drop_from_outbox(self, client_msg_id: str | None) -> None:
        self.outbox = [m for m in self.outbox if m["client_msg_id"] != client_msg_id]

    async def _join(self, conv_id: str, after_seq: int) -> None:
        if self.ws is not None and self.ready:
            await self.ws.send_json(
                {"type": "join", "conversation_id": conv_id, "after_seq": after_seq}
            )

    async def _flush(self) -> None:
        """(Re)send every unacknowledged message, with its original client_msg_id."""
        if self.ws is None or not self.ready:
            return
        for item in list(self.outbox):
            await self._send_frame(item)

    async def _send_frame(self, item: dict[str, str]) -> None:
        if self.ws is None or not self.ready:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.send_json({"type": "send", **item})
            self.sends[item["client_msg_id"]] = self.sends.get(item["client_msg_id"], 0) + 1

    async def _api(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"X-CSRF-Token": self.csrf} if method != "GET" else {}
        async with self.http.request(
            method, self.base + path, json=body, headers=headers
        ) as response:
            data = await response.json()
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {data}")
            return data.get("conversations", data)

    # --------------------------------------------------------------- commands

    async def command(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request["cmd"]
        if cmd == "start":  # visitor
            async with self.http.post(f"{self.base}/api/visitor/session", json={}) as r:
                session = await r.json()
                if r.status != 201:
                    raise RuntimeError(f"session: {r.status} {session}")
            self.token = session["token"]
            auth = {"Authorization": f"Bearer {self.token}"}
            fields = {"name": request.get("name", ""), "page_url": "https://www.acme.test/"}
            async with self.http.post(
                f"{self.base}/api/visitor/conversations", json=fields, headers=auth
            ) as r:
                opened = await r.json()
                if r.status not in (200, 201):
                    raise RuntimeError(f"conversation: {r.status} {opened}")
            conv = opened["conversation"]
            self.conversation(conv["id"]).info = conv
            self.start_socket()
            return {"visitor_id": session["visitor_id"], "conversation": conv}
        if cmd == "login":  # agent
            password = Path(self.args.password_file).read_text().strip()
            self.csrf = await login(self.http, self.base, self.args.username, password)
            me = await self._api("GET", "/api/console/me")
            self.user = me["user"]
            self.start_socket()
            return {"user": self.user}
        if cmd == "presence":
            return dict(
                await self._api("POST", "/api/console/presence", {"status": request["status"]})
            )
        if cmd == "send":
            item = {
                "conversation_id": request["conversation_id"],
                "client_msg_id": request.get("client_msg_id") or uuid.uuid4().hex,
                "body": request["body"],
            }
            self.outbox.append(item)
            await self._send_frame(item)
            return {"client_msg_id": item["client_msg_id"], "sent": self.ready}
        if cmd == "state":
            return {
                "connected": self.ready,
                "connects": self.connects,
                "disconnects": self.disconnects,
                "user": self.user,
                "conversations": {k: c.public() for k, c in self.conversations.items()},
                "outbox": self.outbox,
                "acks": self.acks,
                "sends": self.sends,
                "errors": self.errors,
            }
        raise ValueError(f"unknown command {cmd!r}")

    async def serve(self, control: str) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                request = json.loads(await reader.readline())
                answer = {"ok": True, **await self.command(request)}
            except Exception as err:  # the test sees what went wrong, the client lives on
                answer = {"ok": False, "error": f"{type(err).__name__}: {err}"}
            writer.write(json.dumps(answer).encode() + b"\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()

        server = await asyncio.start_unix_server(handle, control)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        emit("READY", kind=self.kind, control=control)
        async with server:
            await stop.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.http.close()


async def client_main(args: argparse.Namespace) -> None:
    await Client(args).serve(args.control)


async def request_main(args: argparse.Namespace) -> None:
    async with http_session(args) as http:
        base = args.base.rstrip("/")
        if args.username:
            await login(http, base, args.username, Path(args.password_file).read_text().strip())
        async with http.get(base + args.path, allow_redirects=False) as response:
            body = await response.text()
            print(json.dumps({"status": response.status, "body": body}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.network.chat_clients")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("visitor", "agent", "request"):
        sub = commands.add_parser(name)
        sub.add_argument("--base", required=True, help="http(s)://host[:port]")
        sub.add_argument("--ca", help="trust only this CA (PEM)")
        sub.add_argument("--resolve", action="append", default=[], metavar="NAME=IP")
        if name != "visitor":
            sub.add_argument("--username")
            sub.add_argument("--password-file")
        if name == "request":
            sub.add_argument("--path", required=True)
        else:
            sub.add_argument("--control", required=True, help="Unix socket to serve commands on")
            sub.add_argument("--heartbeat", type=float, default=5.0, help="s between pings")
    args = parser.parse_args(argv)
    if args.command == "request":
        asyncio.run(request_main(args))
    else:
        asyncio.run(client_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
