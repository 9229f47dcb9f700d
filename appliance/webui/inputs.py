"""Where untrusted text and numbers enter: JSON bodies and frames, forms, URLs, headers.

Every check happens here, once, before a handler or the core sees the value: text
must be valid Unicode without NUL (a lone surrogate such as "\\ud800" passes JSON and
Python but not SQLite's UTF-8 encoder), integers fit the range every client language
and SQLite agree on, and a body that cannot be parsed is a 400/422 with the API's
JSON error, never a 500.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from aiohttp import web
from multidict import MultiDictProxy

from appliance.core.errors import InvalidInput
from appliance.core.validate import INT_MAX, text_problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_MAX_DEPTH = 32  # nesting of a JSON value; no request or frame needs more
_MAX_INT_DIGITS = len(str(INT_MAX))
_FAST = msgspec.json.Decoder()  # any JSON value, to plain Python objects
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BadInput(InvalidInput):
    """Input that is not well-formed (as opposed to well-formed but refused)."""

    code, status = "bad_request", 400


def _parse_int(raw: str) -> int:
    digits = raw.lstrip("-")
    if len(digits) > _MAX_INT_DIGITS or abs(value := int(raw)) > INT_MAX:
        raise InvalidInput(f"numbers must be between -{INT_MAX} and {INT_MAX}")
    return value


def _parse_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise InvalidInput("numbers must be finite")
    return value


def _parse_constant(raw: str) -> float:
    raise InvalidInput(f"{raw} is not valid JSON")


def _check(value: Any, depth: int = 0) -> None:
    """Raise InvalidInput if any string (key or value) inside is not clean text, or any
    integer is out of range."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise InvalidInput(problem)
    elif isinstance(value, int):
        if not -INT_MAX <= value <= INT_MAX:
            raise InvalidInput(f"numbers must be between -{INT_MAX} and {INT_MAX}")
    elif isinstance(value, dict | list):
        if depth > _MAX_DEPTH:
            raise InvalidInput(f"JSON nested deeper than {_MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check(key, depth + 1)
                _check(item, depth + 1)
        else:
            for item in value:
                _check(item, depth + 1)


def decode_json(raw: bytes | str) -> Any:
    """Decode untrusted JSON strictly; raise InvalidInput with a clear reason.

    msgspec decodes well-formed JSON (0.7 µs for a page view's body against 10 µs for
    the standard library with the hooks below); what it refuses is decoded again by the
    standard library, whose hooks say why (a lone surrogate, NaN, a huge number)."""
    try:
        value = _FAST.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError):
        value = _slow_decode(raw)
    _check(value)
    return value


def _slow_decode(raw: bytes | str) -> Any:
    try:
        return json.loads(
            raw,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise InvalidInput("body is not valid JSON") from err


def _clean(value: str, where: str) -> str:
    problem = text_problem(value)
    if problem:
        raise BadInput(f"{where}: {problem}")
    return value


def check_request_text(request: web.Request) -> None:
    """Refuse a request whose path, query, cookies or headers carry invalid text."""
    # aiohttp decodes bytes that are not UTF-8 into lone surrogates (surrogateescape),
    # so this one check also catches raw invalid UTF-8 in any of these places.
    _clean(request.path, "path")
    for key, value in request.query.items():
        _clean(key, "query")
        _clean(value, f"query {key[:32]}")
    for name, value in request.headers.items():
        _clean(value, f"header {name[:32]}")
    for value in request.match_info.values():
        _clean(value, "path")


@web.middleware
async def clean_input(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the request line and headers before anything else reads them."""
    check_request_text(request)
    return await handler(request)


async def read_form(request: web.Request) -> Mapping[str, str]:
    """Read a urlencoded or multipart form of text fields; raise a clear 400/415."""
    if request.content_type not in _FORM_TYPES:
        if not request.can_read_body:
            return {}
        raise web.HTTPUnsupportedMediaType(reason="send a form")
    try:
        form: MultiDictProxy[Any] = await request.post()
    except web.HTTPException:
        raise
    except Exception as err:  # aiohttp raises ValueError, UnicodeDecodeError, AssertionError...
        raise BadInput("the form body cannot be parsed") from err
    fields: dict[str, str] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            raise BadInput("file fields are not accepted here")
        fields.setdefault(_clean(key, "form"), _clean(value, f"form field {key[:32]}"))
    return fields


def query_int(request: web.Request, name: str, default: int, high: int) -> int:
    """Return a whole-number query parameter in [0, high]; raise InvalidInput otherwise."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    return whole_text(raw, name, high)


def whole_text(raw: str, name: str, high: int) -> int:
    """Parse ASCII digits as a number in [0, high] ("²" is a digit to str.isdigit)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(high)) or int(raw) > high:
        raise InvalidInput(f"{name} must be a whole number from 0 to {high}")
    return int(raw)


def do_not_track(request: web.Request) -> bool:
    """Tell whether the browser asked not to be tracked (DNT or Global Privacy Control);
    whether that stops tracking is core's to decide (Insight.tracks)."""
    return request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1"
