"""What every benchmark report records about where it ran: the code's git revision,
the machine, and the event loop used. Shared by the scripts in bench/."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent


def git_revision(*paths: str) -> str:
    """Return the git commit, marked dirty if any of the paths has local changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", *paths], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        return "unknown"
    return head + ("-dirty" if dirty else "")


def machine(**extra: Any) -> dict[str, Any]:
    """Return the CPU model, cores, memory, kernel and Python, plus what a bench adds."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        **extra,
    }


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """Return uvloop's loop factory when it is installed (as the appliance uses it)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
