"""Pictures in articles: uploaded by staff, stored on the box, referenced from Markdown.

The type is read from the bytes (core/images.py `sniff`: PNG, JPEG or WebP only), and
the picture is decoded and written anew by core/chat_images.py, so what is served is
pixels the box wrote: no EXIF location, no trailing bytes a browser could sniff as
HTML. Files live in the data folder's `kb-images/` (backups carry them), named by the
hash of what was written, so the same picture uploaded twice is one file and a name
never changes content. A picture is reachable by anyone who knows its name (16 hex
digits); it is meant for articles, public ones included.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from appliance.core import chat_images, images
from appliance.core.actors import Staff
from appliance.core.article_render import IMAGE_NAME, IMAGE_PATH
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.store import article_images as store
from appliance.core.store.article_images import StoredImage

FOLDER = "kb-images"  # under the data folder
UPLOAD_MAX = 5 * 1024 * 1024  # bytes of an uploaded picture
_DIGEST_DIGITS = 16
_TYPES = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "WEBP": ("webp", "image/webp"),
}
_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}  # chat_images' names


def _write(folder: Path, data: bytes) -> Path:
    """Write an upload to a dot-file (backups skip those) for the decoder to read."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = folder / f".upload-{secrets.token_hex(8)}"
    tmp.write_bytes(data)
    return tmp


def _clean(folder: Path, data: bytes, kind: str) -> tuple[str, chat_images.Cleaned]:
    """Decode and re-encode a picture; store it under its content's name (blocking)."""
    tmp = _write(folder, data)
    try:
        cleaned = chat_images.clean(tmp, _FORMATS[kind])
    finally:
        tmp.unlink(missing_ok=True)
    ext, _media = _TYPES[kind]
    name = f"{hashlib.sha256(cleaned.data).hexdigest()[:_DIGEST_DIGITS]}.{ext}"
    final = folder / name
    if not final.exists():
        part = folder / f".{name}.tmp"
        with open(part, "wb") as f:
            f.write(cleaned.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, final)
    return name, cleaned


class ArticleImages:
    """Store and find the pictures of articles."""

    def __init__(self, db: Database, data_dir: Path, clock: Callable[[], int] = now_ms) -> None:
        self._db = db
        self._folder = data_dir / FOLDER
        self._now = clock
        self._lock = asyncio.Lock()  # one decode at a time: pictures are CPU and memory

    async def add(self, actor: Staff, data: bytes) -> StoredImage:
        """Check, re-encode and store an uploaded picture; return its row."""
        if len(data) > UPLOAD_MAX:
            raise images.ImageTooLarge(f"the picture is over {UPLOAD_MAX // (1024 * 1024)} MB")
        if not data:
            raise images.ImageInvalid("the upload is empty")
        kind = images.sniff(data)
        if kind is None:
            raise images.ImageType("the file is not a PNG, JPEG or WebP picture")
        async with self._lock:
            name, cleaned = await asyncio.to_thread(_clean, self._folder, data, kind)
        row = StoredImage(
            name,
            _TYPES[kind][1],
            len(cleaned.data),
            cleaned.width,
            cleaned.height,
            actor.id,
            self._now(),
        )
        await self._db.write(lambda conn: store.add(conn, row))
        return row

    async def find(self, name: str) -> tuple[StoredImage, Path] | None:
        """Return a stored picture's row and file, or None for a name the box never gave."""
        if not IMAGE_NAME.fullmatch(name):
            return None
        row = await self._db.read(lambda conn: store.get(conn, name))
        return None if row is None else (row, self._folder / row.name)


def markdown_of(image: StoredImage, alt: str = "") -> str:
    """Return the Markdown that shows a stored picture in an article."""
    text = alt.replace("[", "").replace("]", "").replace("\n", " ")[:100]
    return f"![{text}]({IMAGE_PATH}{image.name})"
