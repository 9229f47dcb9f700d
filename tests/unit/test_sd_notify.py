"""sd_notify: what is read from the environment, what is sent, and that it never fails."""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_server import sd_notify as relay_copy

from appliance import sd_notify
from appliance.sd_notify import ServiceNotifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    try:
        yield sock, path
    finally:
        sock.close()


def test_without_a_socket_nothing_is_sent_and_no_watchdog() -> None:
    notifier = ServiceNotifier({"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled and notifier.watchdog_interval is None
    notifier.ready("up")  # a no-op, not an error


def test_reads_and_removes_the_variables(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    env = {
        "NOTIFY_SOCKET": path,
        "WATCHDOG_USEC": "3000000",
        "WATCHDOG_PID": str(os.getpid()),
        "OTHER": "kept",
    }
    notifier = ServiceNotifier(env)
    assert env == {"OTHER": "kept"}  # children (wg, nft, wireguard-go) see none of them
    assert notifier.watchdog_interval == 1.5  # half the timeout
    notifier.ready("console on port 8080")
    assert sock.recv(4096) == b"READY=1\nSTATUS=console on port 8080"
    notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=stopping"


def test_the_watchdog_of_another_process_is_not_ours(listener: tuple[socket.socket, str]) -> None:
    _, path = listener
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}
    notifier = ServiceNotifier(env)
    assert notifier.enabled and notifier.watchdog_interval is None


@pytest.mark.parametrize("usec", ["", "0", "-5", "soon"])
def test_no_watchdog_without_a_positive_timeout(
    listener: tuple[socket.socket, str], usec: str
) -> None:
    notifier = ServiceNotifier({"NOTIFY_SOCKET": listener[1], "WATCHDOG_USEC": usec})
    assert notifier.watchdog_interval is None


def test_abstract_socket_address() -> None:
    name = f"callbox-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        ServiceNotifier({"NOTIFY_SOCKET": "@" + name}).ready("up")
        assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_unusable_addresses_are_ignored() -> None:
    assert not ServiceNotifier({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled
    assert not ServiceNotifier({"NOTIFY_SOCKET": "relative/path"}).enabled


def test_a_send_that_fails_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = ServiceNotifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    with caplog.at_level(logging.WARNING, logger="appliance.sd_notify"):
        notifier.ready("up")
        notifier.send("WATCHDOG=1")
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "cannot notify the service manager"
    ]


async def test_watchdog_ticks_from_the_loop(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = ServiceNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    assert notifier.watchdog_interval == 0.1
    task = asyncio.create_task(notifier.async_watchdog())
    try:
        ticks = [await asyncio.to_thread(sock.recv, 4096) for _ in range(3)]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert ticks == [b"WATCHDOG=1"] * 3


def _code(module_file: str) -> str:
    """Return a module's code without its docstrings (they name the package)."""
    tree = ast.parse(Path(module_file).read_text())
    tree.body = [
        node
        for node in tree.body
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
    ]
    return ast.dump(tree)


def test_the_relay_copy_is_the_same_code() -> None:
    # Two packages for two hosts, one protocol: the copies must not drift apart.
    assert sd_notify.__file__ is not None and relay_copy.__file__ is not None
    assert _code(sd_notify.__file__) == _code(relay_copy.__file__)
