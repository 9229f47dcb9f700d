"""Recent warnings and errors for the health page: a bounded ring in memory, fed by a
logging handler, that never holds a message body, key, token or password.

The rule, and why it holds. Log calls in this codebase pass a constant format string
and %-style arguments (STYLE.md); the secrets and people's words a record could carry
are in its arguments or its exception, never in the format string. So an entry keeps
only the logger's name, the level, the time and the format string, with each argument
replaced by a safe summary:

- numbers, booleans and None stay as they are (counts, ports, seconds);
- a text that is an IP address stays (which client; addresses are not secrets);
- any other text, and every other object, becomes its type in angle quotes: `‹str›`;
- an exception becomes its class (and errno name): `‹PermissionError EACCES›`, never
  its message, which may quote input; a traceback becomes ` [ValueError]`.

A backstop covers records whose format string is not a constant (third-party
libraries): only its first line is kept, cut to 200 characters, and any run of 20 or
more token-like characters (letters, digits, + / = _ . -) that has both letters and
digits becomes `‹…›`.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RING_SIZE = 200  # entries kept (a repeat of the newest one only counts up)
TEXT_MAX = 200  # characters of an entry's text
# One %-conversion: an optional (name), flags, width, precision, length, the type.
_SPEC = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?"
    r"(?P<conv>[diouxXeEfFgGcrsa%])"
)
_TOKENISH = re.compile(r"[A-Za-z0-9+/=_.-]{20,}")


@dataclass(slots=True)
class LogEntry:
    """A warning or error as the health page shows it; `at` in UTC ms, of the latest."""

    at: int
    level: str
    logger: str
    text: str
    count: int = 1


def _summary(value: Any) -> str:
    if value is None or isinstance(value, bool | int | float):
        return str(value)
    if isinstance(value, str):
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return "‹str›"
    if isinstance(value, BaseException):
        name = type(value).__name__
        code = value.errno if isinstance(value, OSError) else None
        if isinstance(code, int) and code in errno.errorcode:
            return f"‹{name} {errno.errorcode[code]}›"
        return f"‹{name}›"
    return f"‹{type(value).__name__}›"


def _backstop(text: str) -> str:
    def hide(found: re.Match[str]) -> str:
        run = found.group(0)
        has_both = any(c.isdigit() for c in run) and any(c.isalpha() for c in run)
        return "‹…›" if has_both else run

    return _TOKENISH.sub(hide, text)


def scrub(record: logging.LogRecord) -> str:
    """Return a record's text by the rule above: its format string, arguments summarised."""
    template = record.msg if isinstance(record.msg, str) else f"‹{type(record.msg).__name__}›"
    template = template.strip().split("\n", 1)[0]
    args = record.args
    position = 0

    def fill(found: re.Match[str]) -> str:
        nonlocal position
        if found.group("conv") == "%":
            return "%"
        name = found.group("name")
        if name is not None:
            return _summary(args.get(name)) if isinstance(args, Mapping) else "‹?›"
        if isinstance(args, tuple) and position < len(args):
            position += 1
            return _summary(args[position - 1])
        return "‹?›"

    text = _SPEC.sub(fill, template) if args else template
    if record.exc_info and record.exc_info[0] is not None:
        text += f" [{record.exc_info[0].__name__}]"
    return _backstop(text)[:TEXT_MAX]


class LogRing(logging.Handler):
    """A logging handler that keeps the last warnings and errors, scrubbed, in memory."""

    def __init__(self, size: int = RING_SIZE, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self._entries: deque[LogEntry] = deque(maxlen=size)
        self.totals: dict[str, int] = {}  # records by level name since start (for /metrics)

    def emit(self, record: logging.LogRecord) -> None:
        """Keep a scrubbed copy of the record (called under the handler's lock)."""
        try:
            text = scrub(record)
        except Exception:  # a handler must never raise into the code that logs
            text = "‹unreadable log record›"
        at = int(record.created * 1000) if record.created else time.time_ns() // 1_000_000
        level = record.levelname
        self.totals[level] = self.totals.get(level, 0) + 1
        last = self._entries[-1] if self._entries else None
        if last is not None and (last.level, last.logger, last.text) == (
            level,
            record.name,
            text,
        ):
            last.count += 1
            last.at = at
            return
        self._entries.append(LogEntry(at, level, record.name, text))

    def recent(self) -> list[LogEntry]:
        """Return copies of the kept entries, the newest first."""
        assert self.lock is not None  # Handler.__init__ made it
        with self.lock:
            return [
                LogEntry(e.at, e.level, e.logger, e.text, e.count) for e in reversed(self._entries)
            ]

    def attach(self, logger: logging.Logger | None = None) -> None:
        """Start collecting the records of `logger` (the root logger: all of them)."""
        (logger or logging.getLogger()).addHandler(self)

    def detach(self, logger: logging.Logger | None = None) -> None:
        """Stop collecting."""
        (logger or logging.getLogger()).removeHandler(self)
