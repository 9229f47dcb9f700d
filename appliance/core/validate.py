"""Checks on untrusted input shared by the core's rules; each raises InvalidInput."""

from __future__ import annotations

from typing import Any

from appliance.core.errors import InvalidInput


def text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    """Return a stripped string of at most `limit` characters (None is "")."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string")
    stripped: str = value.strip()
    if len(stripped) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters")
    if required and not stripped:
        raise InvalidInput(f"{field} is required")
    return stripped


def whole(value: Any, field: str, low: int, high: int) -> int:
    """Return an integer (not a bool) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} must be a whole number from {low} to {high}")
    return value


INT_MAX = 2**53 - 1  # the largest integer JSON clients (JavaScript) hold exactly; < SQLite's


def text_problem(value: str) -> str:
    """Return why a string is not storable text ("" when it is fine)."""
    if "\x00" in value:
        return "text must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "text must be valid Unicode (no lone surrogates)"
    return ""
