"""Business hours per group: weekly opening times and holidays, in the box's time zone."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_MAX_SPANS = 8  # per day
_MAX_HOLIDAYS = 366


class HoursError(ValueError):
    """Opening hours or holidays that cannot be used; the message says which part."""


def _minutes(text: Any) -> int:
    if not isinstance(text, str) or not (match := _TIME.match(text)):
        raise HoursError(f"time {str(text)[:16]!r} must be HH:MM")
    value = int(match[1]) * 60 + int(match[2])
    if value > 24 * 60:
        raise HoursError("24:00 is the latest time")
    return value


def parse_hours(raw: Any) -> dict[str, list[tuple[int, int]]] | None:
    """Validate a weekly schedule; None means always open."""
    if raw in (None, "", {}):
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as err:
            raise HoursError("hours must be a JSON object") from err
    if not isinstance(raw, dict):
        raise HoursError("hours must map day names to lists of [open, close] times")
    schedule: dict[str, list[tuple[int, int]]] = {}
    for day, spans in raw.items():
        if day not in DAYS:
            raise HoursError(f"unknown day {str(day)[:8]!r}; use {', '.join(DAYS)}")
        if not isinstance(spans, list) or len(spans) > _MAX_SPANS:
            raise HoursError(f"{day}: a list of at most {_MAX_SPANS} [open, close] pairs")
        parsed = []
        for span in spans:
            if not isinstance(span, list | tuple) or len(span) != 2:
                raise HoursError(f"{day}: each span is [open, close]")
            start, end = _minutes(span[0]), _minutes(span[1])
            if start >= end:
                raise HoursError(f"{day}: {span[0]} is not before {span[1]}")
            parsed.append((start, end))
        schedule[day] = sorted(parsed)
    return schedule


def parse_holidays(raw: Any) -> frozenset[date]:
    """Validate a list of ISO dates (YYYY-MM-DD)."""
    if raw in (None, ""):
        return frozenset()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as err:
            raise HoursError("holidays must be a JSON list") from err
    if not isinstance(raw, list) or len(raw) > _MAX_HOLIDAYS:
        raise HoursError(f"holidays must be a list of at most {_MAX_HOLIDAYS} dates")
    days = set()
    for item in raw:
        try:
            days.add(date.fromisoformat(str(item)))
        except ValueError as err:
            raise HoursError(f"holiday {str(item)[:16]!r} must be YYYY-MM-DD") from err
    return frozenset(days)


def hours_json(schedule: dict[str, list[tuple[int, int]]] | None) -> dict[str, Any] | None:
    """Return a schedule in its stored and API form."""
    if schedule is None:
        return None
    return {
        day: [[f"{a // 60:02d}:{a % 60:02d}", f"{b // 60:02d}:{b % 60:02d}"] for a, b in spans]
        for day, spans in schedule.items()
    }


def is_open(
    schedule: dict[str, list[tuple[int, int]]] | None,
    holidays: frozenset[date],
    when: datetime,
) -> bool:
    """Tell whether a group takes chats at a box-local time."""
    if when.date() in holidays:
        return False
    if schedule is None:
        return True
    minute = when.hour * 60 + when.minute
    spans = schedule.get(DAYS[when.weekday()], [])
    return any(start <= minute < end for start, end in spans)
