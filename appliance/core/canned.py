"""Canned answers: a shortcut typed after `/` in the composer inserts a prepared text."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from appliance.core.actors import Staff
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from appliance.core.store import canned as store
from appliance.core.store.canned import Answer as Answer

_SHORTCUT = re.compile(r"^[\w-]{1,32}$")  # letters (Chinese too), digits, _ and -
_TITLE_MAX = 100
_BODY_MAX = 4000
_PER_OWNER = 500


class Canned:
    """Personal and shared canned answers."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_for(self, staff: Staff) -> list[Answer]:
        """Return the user's own answers and the shared ones, by shortcut."""
        return await self._db.read(lambda conn: store.visible_to(conn, staff.id))

    async def create(self, staff: Staff, data: dict[str, Any]) -> Answer:
        """Add a personal answer, or a shared one (supervisors only)."""
        shortcut = data.get("shortcut")
        if not isinstance(shortcut, str) or not _SHORTCUT.match(shortcut):
            raise InvalidInput("shortcut must be 1-32 letters, digits, _ or -")
        title = data.get("title") or shortcut
        body = data.get("body")
        if not isinstance(title, str) or len(title) > _TITLE_MAX:
            raise InvalidInput(f"title must be text of at most {_TITLE_MAX} characters")
        if not isinstance(body, str) or not body.strip() or len(body) > _BODY_MAX:
            raise InvalidInput(f"body must be text of 1-{_BODY_MAX} characters")
        shared = data.get("shared") is True
        if shared and not staff.overseer:
            raise Forbidden("only supervisors add shared answers")
        owner = None if shared else staff.id

        def job(conn: sqlite3.Connection) -> Answer:
            if store.count(conn, owner) >= _PER_OWNER:
                raise Conflict(f"at most {_PER_OWNER} answers")
            try:
                return store.insert(conn, owner, shortcut, title.strip(), body, now_ms())
            except sqlite3.IntegrityError as err:
                raise Conflict(f"shortcut /{shortcut} is taken") from err

        return await self._db.write(job)

    async def delete(self, staff: Staff, answer_id: int) -> None:
        """Delete one's own answer, or a shared one (supervisors only)."""

        def job(conn: sqlite3.Connection) -> None:
            found, owner = store.owner(conn, answer_id)
            if not found or (owner is not None and owner != staff.id):
                raise NotFound("no such answer")
            if owner is None and not staff.overseer:
                raise Forbidden("only supervisors delete shared answers")
            store.delete(conn, answer_id)

        await self._db.write(job)
