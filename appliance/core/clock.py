"""Time as the store keeps it (UTC milliseconds) and as people read it (box-local)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

# Times on the wire are rendered many times a second (several per chat line), mostly
# within the same second: the text of the last second is kept, and only the
# milliseconds are put in (astimezone() per call was 2.7 % of the loop's GIL time at
# 10,000 visitors; bench/README.md, issue 18). time.tzname is in the key, so a zone set
# later (tzset) is seen at once.
_last_second: tuple[int, tuple[str, str], str, str] = (-1, ("", ""), "", "")


def now_ms() -> int:
    """Return the current time in UTC milliseconds."""
    return time.time_ns() // 1_000_000


def local_iso(ms: int | None) -> str | None:
    """Render UTC milliseconds as ISO 8601 in the box's local zone, with its offset."""
    if ms is None:
        return None
    global _last_second
    second, millis = divmod(ms, 1000)
    cached, zone, head, offset = _last_second
    if second != cached or zone != time.tzname:
        text = datetime.fromtimestamp(second, tz=UTC).astimezone().isoformat()
        head, offset = text[:19], text[19:]  # YYYY-MM-DDTHH:MM:SS, then ±HH:MM
        _last_second = (second, time.tzname, head, offset)
    return f"{head}.{millis:03d}{offset}"


def local_text(ms: int | None) -> str:
    """Render UTC milliseconds as 'YYYY-MM-DD HH:MM' in the box's local zone."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def utc_offset_minutes() -> int:
    """Return the box's current offset from UTC in minutes (+480 in China)."""
    offset = datetime.now(tz=UTC).astimezone().utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0
