"""SQL of the pictures in articles (the files are in the data folder's kb-images/)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredImage:
    name: str
    media_type: str
    bytes: int
    width: int
    height: int
    uploaded_by: int | None
    uploaded_at: int


def add(conn: sqlite3.Connection, image: StoredImage) -> None:
    """Record a stored picture (the same picture uploaded again keeps its first row)."""
    conn.execute(
        "INSERT INTO kb_images (name, media_type, bytes, width, height, uploaded_by,"
        " uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        (
            image.name,
            image.media_type,
            image.bytes,
            image.width,
            image.height,
            image.uploaded_by,
            image.uploaded_at,
        ),
    )


def get(conn: sqlite3.Connection, name: str) -> StoredImage | None:
    """Return a stored picture's row."""
    row = conn.execute(
        "SELECT name, media_type, bytes, width, height, uploaded_by, uploaded_at"
        " FROM kb_images WHERE name = ?",
        (name,),
    ).fetchone()
    return None if row is None else StoredImage(*row)
