"""The admin audit log: who did what on the admin side, from which address, and when.

An action and its record commit together: a service that does an admin action calls
`record(conn, actor, action, target, detail)` inside its own write job, so either
both are stored or neither is. An action that changes nothing in the database (a file,
the relay) records itself with `AuditLog.add`, once it has succeeded. The database
refuses to change or delete a record (migration 0018's triggers).

What may go in `detail`: names, counts, choices, addresses, before/after values of
settings. Never a password, key, token, secret or message body: `record` refuses a
detail field whose name says it is one (a programming error, so the action fails and
its test shows it), and bounds every value so one record stays small.
"""

from __future__ import annotations

import getpass
import json
import math
import re
import sqlite3
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from dateutil.tz import tzlocal

from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import InvalidInput
from appliance.core.store import audit as store
from appliance.core.store.audit import Entry as Entry
from appliance.core.store.audit import Filter

CLI = "cli"  # the address of actions taken with the `appliance` command
PAGE_MAX = 200  # entries in one page of the log
EXPORT_CHUNK = 500  # entries read at a time while a CSV streams out
NAME_MAX = 64  # characters of a user name, as recorded
ADDRESS_MAX = 64  # characters of an address
TARGET_MAX = 200  # characters of a target
DETAIL_MAX = 2000  # characters of a record's JSON detail
_VALUE_MAX = 200  # characters of one text value in detail
_LIST_MAX = 20  # items of one list in detail
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$")
_ACTION_MAX = 40  # characters
# Words that, as a part of a detail field's name ("new_password", "recovery_codes",
# "tokens"), say it would hold a secret or somebody's words.
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "private",
        "credential",
        "cookie",
        "otp",
        "totp",
        "recovery",
        "hash",
        "key",
        "body",
        "message",
        "text",
    }
)
_DATE_RANGE = (date(2000, 1, 1), date(2999, 12, 31))  # dates a filter may name


class AuditDetailError(RuntimeError):
    """A caller put something in an audit record that must not be there (a bug)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a console user (id and name as they are now), or the command line."""

    user_id: int | None
    name: str
    address: str  # the client's IP address, or CLI


def command_line() -> Actor:
    """Return the actor of an `appliance` command: the operating-system account."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        name = ""
    return Actor(None, name[:NAME_MAX], CLI)


def _secret_name(name: str) -> bool:
    parts = re.split(r"[^a-z]+", name.lower())
    return any(p in _SECRET_WORDS or p.removesuffix("s") in _SECRET_WORDS for p in parts)


def _value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN: the database would refuse the record
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value[:_VALUE_MAX]
    if isinstance(value, list | tuple):
        return [_value(v) for v in list(value)[:_LIST_MAX]]
    if isinstance(value, Mapping):
        return _detail(value)
    raise AuditDetailError(f"audit detail values are text, numbers or lists, not {type(value)}")


def _detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in detail.items():
        if not isinstance(name, str) or _secret_name(name):
            raise AuditDetailError(f"audit detail field {name!r} may hold a secret or a text")
        clean[name] = _value(value)
    return clean


def encode_detail(detail: Mapping[str, Any] | None) -> str:
    """Return the JSON a record stores for `detail`, checked and bounded."""
    clean = _detail(detail or {})
    text = json.dumps(clean, ensure_ascii=False, separators=(",", ":"))
    fields = list(clean)
    while len(text) > DETAIL_MAX and fields:
        clean.pop(fields.pop())  # the last fields go first
        clean["truncated"] = True
        text = json.dumps(clean, ensure_ascii=False, separators=(",", ":"))
    return text


def record(
    conn: sqlite3.Connection,
    actor: Actor,
    action: str,
    target: str = "",
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Append one admin action to the log, inside the caller's write transaction.

    `action` is a short code, area then verb ("user.role", "device.revoke",
    "settings.privacy", "backup.run"); `target` names what it acted on (a user name,
    a device, a site key); `detail` is a small object of facts (never a secret).
    Returns the record's id.
    """
    if not (_ACTION.match(action) and len(action) <= _ACTION_MAX):
        raise AuditDetailError(f"audit action {action!r} is not a code like 'user.role'")
    return store.insert(
        conn,
        now_ms(),
        actor.user_id,
        actor.name[:NAME_MAX],
        actor.address[:ADDRESS_MAX],
        action,
        target[:TARGET_MAX],
        encode_detail(detail),
    )


@dataclass(frozen=True, slots=True)
class Query:
    """Filters of the log as people give them: dates are days in the box's zone."""

    action: str = ""
    user: str = ""
    since: date | None = None  # from the start of this day
    until: date | None = None  # to the end of this day
    before: int | None = None  # the id the next page starts below
    limit: int = 50


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the log, newest first; `next_before` continues it (None: the end)."""

    entries: list[Entry]
    next_before: int | None


@dataclass(frozen=True, slots=True)
class Facets:
    """What the log's filters can choose from: the codes and names recorded so far."""

    actions: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)


def _checked(day: date) -> date:
    if not _DATE_RANGE[0] <= day <= _DATE_RANGE[1]:
        raise InvalidInput(f"dates must be between {_DATE_RANGE[0]} and {_DATE_RANGE[1]}")
    return day


def _midnight(day: date) -> int:
    """Return the start of a day in the box's zone, in UTC ms."""
    return int(datetime.combine(day, time.min, tzinfo=tzlocal()).timestamp() * 1000)


def _filter(query: Query) -> Filter:
    action = query.action
    if action and not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.?", action):
        raise InvalidInput("action must be a code like 'user.role', or a family like 'user.'")
    since = _midnight(_checked(query.since)) if query.since is not None else None
    until = None
    if query.until is not None:  # up to the start of the next day (23 to 25 hours on)
        until = _midnight(_checked(query.until) + timedelta(days=1))
    if since is not None and until is not None and since >= until:
        raise InvalidInput("the first day must not be after the last")
    return Filter(action, query.user.strip(), since, until, query.before)


class AuditLog:
    """Reading the admin audit log, and recording actions that have no write of their own."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        actor: Actor,
        action: str,
        target: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        """Record an action that changed nothing in the database (a file, the relay).

        Call it once the action succeeded; an action that writes the database records
        itself with `record` inside that write instead.
        """
        return await self._db.write(
            partial(record, actor=actor, action=action, target=target, detail=detail)
        )

    async def page(self, query: Query) -> Page:
        """Return one page of the entries that match, the newest first."""
        where = _filter(query)
        limit = max(1, min(query.limit, PAGE_MAX))
        rows = await self._db.read(partial(store.newest_first, where=where, limit=limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, rows[-1].id if more and rows else None)

    async def export(self, query: Query) -> AsyncIterator[list[Entry]]:
        """Yield every entry that matches, newest first, a chunk at a time."""
        where = _filter(query)
        while True:
            rows = await self._db.read(partial(store.newest_first, where=where, limit=EXPORT_CHUNK))
            if not rows:
                return
            yield rows
            if len(rows) < EXPORT_CHUNK:
                return
            where = replace(where, before=rows[-1].id)

    async def facets(self) -> Facets:
        """Return the action codes and user names the log holds, for its filters."""
        actions = await self._db.read(store.actions)
        users = await self._db.read(store.user_names)
        return Facets(actions, users)
