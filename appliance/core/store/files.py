"""Store of the files table: which message carries which file (core/files.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from appliance.core.conversation import Attachment

_COLUMNS = "id, name, kind, mime, size, sha256, width, height, thumb_sha256, thumb_mime"


def _attachment(row: sqlite3.Row | tuple[object, ...]) -> Attachment:
    return Attachment(*row)


def insert(
    conn: sqlite3.Connection,
    file: Attachment,
    *,
    conversation_id: str,
    message_id: str,
    seq: int,
    now: int,
) -> None:
    """Record the file a new message carries."""
    conn.execute(
        f"INSERT INTO files ({_COLUMNS}, conversation_id, message_id, seq, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            file.id,
            file.name,
            file.kind,
            file.mime,
            file.size,
            file.sha256,
            file.width,
            file.height,
            file.thumb_sha256,
            file.thumb_mime,
            conversation_id,
            message_id,
            seq,
            now,
        ),
    )


def in_range(
    conn: sqlite3.Connection, conversation_id: str, first: int, last: int
) -> dict[int, Attachment]:
    """Return the files of a conversation's messages with first <= seq <= last, by seq."""
    rows = conn.execute(
        f"SELECT seq, {_COLUMNS} FROM files WHERE conversation_id = ? AND seq BETWEEN ? AND ?",
        (conversation_id, first, last),
    )
    return {row[0]: _attachment(tuple(row)[1:]) for row in rows}


def of_message(conn: sqlite3.Connection, message_id: str) -> Attachment | None:
    """Return the file a message carries, if any."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM files WHERE message_id = ?", (message_id,))
    found = row.fetchone()
    return None if found is None else _attachment(found)


def get(conn: sqlite3.Connection, file_id: str) -> tuple[str, Attachment] | None:
    """Return a file's conversation and the file."""
    row = conn.execute(
        f"SELECT conversation_id, {_COLUMNS} FROM files WHERE id = ?", (file_id,)
    ).fetchone()
    return None if row is None else (row[0], _attachment(tuple(row)[1:]))


def counts(conn: sqlite3.Connection, conversation_ids: Iterable[str]) -> dict[str, int]:
    """Return how many files each of some conversations holds (those with none left out)."""
    ids = list(conversation_ids)
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT conversation_id, count(*) FROM files WHERE conversation_id IN ({marks})"
        " GROUP BY conversation_id",
        ids,
    )
    return {r[0]: r[1] for r in rows}


def hashes(conn: sqlite3.Connection) -> set[str]:
    """Return the hash of every stored file and thumbnail that a row names."""
    found: set[str] = set()
    for sha, thumb in conn.execute("SELECT sha256, thumb_sha256 FROM files"):
        found.add(sha)
        if thumb:
            found.add(thumb)
    return found
