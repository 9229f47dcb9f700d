"""Fresh roots live for a module; the services systemd starts inside are theirs."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import psutil
import pytest

_LEAK_WAIT = 2.0  # s for processes a test ended to be gone


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


@pytest.fixture(autouse=True)
def no_leaked_threads_or_processes() -> Iterator[None]:
    """Fail a test that leaves threads or processes behind, in this PID namespace.

    Overrides tests/conftest.py's: what runs inside a fresh root's own PID namespace
    (the services its systemd starts and restarts) belongs to that root, which ends
    all of it at once when the module is done.
    """
    ours = _pid_namespace(os.getpid())
    threads = set(threading.enumerate())
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    deadline = time.monotonic() + _LEAK_WAIT
    while True:
        extra = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
        left = [
            p
            for p in psutil.Process().children(recursive=True)
            if p.pid not in children and _pid_namespace(p.pid) == ours
        ]
        if not (extra or left) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra, f"test leaked threads: {extra}"
    assert not left, f"test leaked processes: {left}"
