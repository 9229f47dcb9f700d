"""Canned answers: a shortcut typed after `/` in the composer inserts a prepared text."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, Forbidden, InvalidInput, NotFound

_SHORTCUT = re.compile(r"^[\w-]{1,32}$")  # letters (Chinese too), digits, _ and -
_TITLE_MAX = 100
_BODY_MAX = 4000
_PER_OWNER = 500


def _answer(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "shortcut": row["shortcut"],
        "title": row["title"],
        "body": row["body"],
        "shared": row["owner_id"] is None,
    }


class Canned:
    """Personal and shared canned answers."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_for(self, user_id: int) -> list[dict[str, Any]]:
        """Return the user's own answers and the shared ones, by shortcut."""
        rows = await self._db.fetchall(
            "SELECT id, owner_id, shortcut, title, body FROM canned_answers"
            " WHERE owner_id = ? OR owner_id IS NULL ORDER BY shortcut, owner_id IS NULL",
            (user_id,),
        )
        return [_answer(r) for r in rows]

    async def create(
        self, user_id: int, data: dict[str, Any], *, overseer: bool = False
    ) -> dict[str, Any]:
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
        if shared and not overseer:
            raise Forbidden("only supervisors add shared answers")
        owner = None if shared else user_id

        def job(conn: sqlite3.Connection) -> int:
            count = conn.execute(
                "SELECT count(*) FROM canned_answers WHERE owner_id IS ?", (owner,)
            ).fetchone()[0]
            if count >= _PER_OWNER:
                raise Conflict(f"at most {_PER_OWNER} answers")
            try:
                cursor = conn.execute(
                    "INSERT INTO canned_answers (owner_id, shortcut, title, body, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (owner, shortcut, title.strip(), body, now_ms()),
                )
            except sqlite3.IntegrityError as err:
                raise Conflict(f"shortcut /{shortcut} is taken") from err
            return int(cursor.lastrowid or 0)

        answer_id = await self._db.write(job)
        row = await self._db.fetchone(
            "SELECT id, owner_id, shortcut, title, body FROM canned_answers WHERE id = ?",
            (answer_id,),
        )
        assert row is not None
        return _answer(row)

    async def delete(self, user_id: int, answer_id: int, *, overseer: bool = False) -> None:
        """Delete one's own answer, or a shared one (supervisors only)."""

        def job(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT owner_id FROM canned_answers WHERE id = ?", (answer_id,)
            ).fetchone()
            if row is None or (row[0] is not None and row[0] != user_id):
                raise NotFound("no such answer")
            if row[0] is None and not overseer:
                raise Forbidden("only supervisors delete shared answers")
            conn.execute("DELETE FROM canned_answers WHERE id = ?", (answer_id,))

        await self._db.write(job)
