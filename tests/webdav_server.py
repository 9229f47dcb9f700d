"""A real WebDAV server for tests: WsgiDAV (with cheroot) in a child process, on
loopback, sharing a temporary folder behind HTTP Basic authentication."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_START_TIMEOUT = 20.0  # s for the server to accept connections
USER = "callbox"
PASSWORD = "dav-Pa55-word"


@dataclass(frozen=True)
class DavServer:
    """A running WebDAV server: its base URL and the folder it shares."""

    url: str
    root: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _WsgiDav:
    """The server process; start() and stop() block, so they run in threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.log_path = root.parent / f"wsgidav-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[str] | None = None

    def start(self) -> DavServer:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root.parent / f"wsgidav-{self.port}.json"
        config.write_text(
            json.dumps(
                {
                    "host": "127.0.0.1",
                    "port": self.port,
                    "provider_mapping": {"/": str(self.root)},
                    "http_authenticator": {
                        "accept_basic": True,
                        "accept_digest": False,
                        "default_to_digest": False,
                    },
                    "simple_dc": {"user_mapping": {"*": {USER: {"password": PASSWORD}}}},
                    "verbose": 1,
                }
            )
        )
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from wsgidav.server.server_cli import run; run()",
                "--config",
                str(config),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return DavServer(f"http://127.0.0.1:{self.port}", self.root)
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        "wsgidav did not start: " + self.log_path.read_text()
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None


@contextlib.asynccontextmanager
async def webdav_server(root: Path) -> AsyncIterator[DavServer]:
    """Serve `root` over WebDAV on loopback until the block ends."""
    server = _WsgiDav(root)
    try:
        yield await asyncio.to_thread(server.start)
    finally:
        await asyncio.to_thread(server.stop)
