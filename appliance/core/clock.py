"""Time as the store keeps it (UTC milliseconds) and as people read it (box-local)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    """Return the current time in UTC milliseconds."""
    return time.time_ns() // 1_000_000


def local_iso(ms: int | None) -> str | None:
    """Render UTC milliseconds as ISO 8601 in the box's local zone, with its offset."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone().isoformat(timespec="milliseconds")


def local_text(ms: int | None) -> str:
    """Render UTC milliseconds as 'YYYY-MM-DD HH:MM' in the box's local zone."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def utc_offset_minutes() -> int:
    """Return the box's current offset from UTC in minutes (+480 in China)."""
    offset = datetime.now(tz=UTC).astimezone().utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0
