"""The company's look in the visitor widget, and each console user's photo.

Supervisors and admins set a brand colour, a logo, the company name, a welcome text
and the launcher's label (each in every UI language), the launcher's side and offsets,
and whether the chat opens by itself. It is all one JSON object in box_settings
(`brand.look`), held in memory: every page view's session call reads it. Its
`version` (a hash of what it holds) changes with every change, so a widget that
cached the look knows when to take the new one and a logo's URL changes with the
logo. Pictures are files in the data folder, so backups carry them; `images.py`
checks and re-encodes them before they are written.

Colour and text: WCAG AA asks for 4.5:1 between text and its background. The text
on the brand colour (header, launcher, the visitor's bubbles, buttons) is white or
black: `auto` picks the one that reads better (one of them always reaches 4.5:1), and
a chosen one that falls short is refused with the ratio in the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import sqlite3
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from appliance.core import audit, images
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import InvalidInput
from appliance.core.store import avatars as avatar_store
from appliance.core.store import settings as settings_store
from appliance.settings import LANGS

_LOGGER = logging.getLogger(__name__)

STORED_AS = "brand.look"  # box_settings key of the whole look, as JSON
NAME_MAX = 40  # characters of the company name
WELCOME_MAX = 300  # characters of a welcome text
LABEL_MAX = 24  # characters of the launcher's label
OFFSET_X_MAX = 200  # px from the page's side
OFFSET_Y_MAX = 300  # px from the page's bottom (a site's fixed bottom bar)
OFFSET_DEFAULT = 20  # px
OPEN_AFTER_MAX = 600  # s before the chat opens by itself
CONTRAST_MIN = 4.5  # WCAG 2.x AA for normal text
POSITIONS = ("right", "left")
TEXT_COLORS = {"white": "#ffffff", "black": "#000000"}
_COLOR = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")
_VERSION_DIGITS = 12
LOGO_DIR = "brand"  # folder of the logo in the data folder
AVATAR_DIR = "avatars"  # folder of the users' photos in the data folder


class ColorInvalid(InvalidInput):
    code = "color_invalid"


class ColorLowContrast(InvalidInput):
    code = "color_low_contrast"


def parse_color(value: str) -> str:
    """Return a colour as #rrggbb (lower case) from #rgb or #rrggbb; raise ColorInvalid."""
    found = _COLOR.fullmatch(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise ColorInvalid("colour: a hex colour such as #1a73e8 or #17e")
    digits = found.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits


def luminance(color: str) -> float:
    """Return the WCAG relative luminance of a #rrggbb colour."""
    channels = []
    for i in (1, 3, 5):
        c = int(color[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """Return the WCAG contrast ratio of two #rrggbb colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(color: str, choice: str = "auto") -> str:
    """Return the text colour for a background: the chosen one, or the more readable."""
    if choice in TEXT_COLORS:
        return TEXT_COLORS[choice]
    white, black = TEXT_COLORS["white"], TEXT_COLORS["black"]
    return white if contrast(color, white) >= contrast(color, black) else black


@dataclass(frozen=True, slots=True)
class Look:
    """The widget's look as a company set it; empty texts and colour mean the defaults."""

    color: str = ""  # #rrggbb, or "" for the widget's own blue
    text_color: str = "auto"  # auto, white or black
    name: str = ""  # the header's title; "" shows the widget's own
    welcome: dict[str, str] = field(default_factory=dict)  # language -> text
    label: dict[str, str] = field(default_factory=dict)  # language -> the launcher's label
    position: str = "right"
    offset_x: int = OFFSET_DEFAULT
    offset_y: int = OFFSET_DEFAULT
    open_after: int | None = None  # s; None: never opens by itself
    logo: str = ""  # digest of the logo file, or ""

    @property
    def version(self) -> str:
        """Return a short hash of everything in the look: it changes with any change."""
        raw = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()[:_VERSION_DIGITS]

    @property
    def text(self) -> str:
        """Return the #rrggbb of text on the brand colour ("" with the default colour)."""
        return text_on(self.color, self.text_color) if self.color else ""


def _texts(name: str, value: Any, limit: int) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{name}: an object of texts by language ({', '.join(LANGS)})")
    unknown = sorted(set(value) - set(LANGS))
    if unknown:
        raise InvalidInput(f"{name}: unknown language {unknown[0]!r}; use {', '.join(LANGS)}")
    out = {}
    for lang, text in value.items():
        if not isinstance(text, str) or len(text) > limit:
            raise InvalidInput(f"{name}.{lang}: text of at most {limit} characters")
        if text.strip():
            out[lang] = text.strip()
    return out


def _whole(name: str, value: Any, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
        raise InvalidInput(f"{name}: a whole number from 0 to {high}")
    return value


def checked(data: dict[str, Any], logo: str = "") -> Look:
    """Return the look that `data` describes (missing fields: defaults); raise on a bad one."""
    if not isinstance(data, dict):
        raise InvalidInput("the look must be an object")
    unknown = sorted(set(data) - {f for f in Look.__dataclass_fields__ if f != "logo"})
    if unknown:
        raise InvalidInput(f"unknown field: {', '.join(unknown)}")
    look = Look(logo=logo)
    color = data.get("color", "")
    color = parse_color(color) if color != "" else ""
    text_color = data.get("text_color", "auto")
    if text_color not in ("auto", *TEXT_COLORS):
        raise InvalidInput("text_color: auto, white or black")
    if color and text_color in TEXT_COLORS:
        ratio = contrast(color, TEXT_COLORS[text_color])
        if ratio < CONTRAST_MIN:
            raise ColorLowContrast(
                f"{text_color} text on {color} has a contrast of {ratio:.1f}:1, under the "
                f"{CONTRAST_MIN}:1 that WCAG AA asks for; choose auto or the other text colour"
            )
    name = data.get("name", "")
    if not isinstance(name, str) or len(name.strip()) > NAME_MAX:
        raise InvalidInput(f"name: text of at most {NAME_MAX} characters")
    position = data.get("position", "right")
    if position not in POSITIONS:
        raise InvalidInput("position: right or left")
    open_after = data.get("open_after")
    return replace(
        look,
        color=color,
        text_color=text_color,
        name=name.strip(),
        welcome=_texts("welcome", data.get("welcome", {}), WELCOME_MAX),
        label=_texts("label", data.get("label", {}), LABEL_MAX),
        position=position,
        offset_x=_whole("offset_x", data.get("offset_x", OFFSET_DEFAULT), OFFSET_X_MAX),
        offset_y=_whole("offset_y", data.get("offset_y", OFFSET_DEFAULT), OFFSET_Y_MAX),
        open_after=None if open_after is None else _whole("open_after", open_after, OPEN_AFTER_MAX),
    )


def _changes(before: Look, after: Look) -> dict[str, Any]:
    """What the audit log keeps of a change: scalar settings before and after, and the
    names of the texts that changed (never the texts)."""
    detail: dict[str, Any] = {}
    texts = []
    for name in Look.__dataclass_fields__:
        old, new = getattr(before, name), getattr(after, name)
        if old == new:
            continue
        if name in ("welcome", "label", "name"):
            texts.append(name)
        elif name == "text_color":
            detail["foreground"] = [old, new]
        else:
            detail[name] = [old, new]
    if texts:
        detail["changed"] = texts
    return detail


def _stored(text: str | None) -> Look:
    if not text:
        return Look()
    try:
        data = json.loads(text)
        logo = data.pop("logo", "")
        return checked(data, logo if isinstance(logo, str) else "")
    except (ValueError, InvalidInput, AttributeError):
        _LOGGER.warning("the stored brand look is damaged; using the defaults")
        return Look()


def _encode(look: Look) -> str:
    return json.dumps(asdict(look), ensure_ascii=False, sort_keys=True)


def _save(
    look: Look,
    action: str,
    detail: dict[str, Any],
    by: audit.Actor | None,
    conn: sqlite3.Connection,
) -> None:
    settings_store.save(conn, [(STORED_AS, _encode(look))])
    if by is not None:
        audit.record(conn, by, action, "", detail)


def _write_file(path: Path, data: bytes) -> None:
    """Write a picture atomically: a dot-file (backups skip those) renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _remove_file(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class Brand:
    """The company's look and the users' photos: in memory, in box_settings, on disk."""

    def __init__(self, db: Database, data_dir: Path) -> None:
        self._db = db
        self._data_dir = data_dir
        self._look = Look()
        self._avatars: dict[int, str] = {}  # user id -> digest of their photo
        self._lock = asyncio.Lock()  # one change at a time: files and row stay in step

    async def load(self) -> None:
        """Read the look and who has a photo."""
        stored = await self._db.read(partial(settings_store.values, prefix=STORED_AS))
        self._look = _stored(stored.get(STORED_AS))
        self._avatars = await self._db.read(avatar_store.all_digests)

    def current(self) -> Look:
        """Return the look as it stands."""
        return self._look

    async def update(self, data: dict[str, Any], *, by: audit.Actor | None = None) -> Look:
        """Replace the look (the logo stays as it is); all checked before anything changes."""
        async with self._lock:
            look = checked(data, self._look.logo)
            await self._db.write(
                partial(_save, look, "brand.update", _changes(self._look, look), by)
            )
            self._look = look
            return look

    def _logo_path(self, digest: str) -> Path:
        return self._data_dir / LOGO_DIR / f"logo-{digest}.png"

    def logo_path(self, digest: str) -> Path | None:
        """Return the file of the current logo if `digest` names it, else None."""
        if not digest or digest != self._look.logo:
            return None
        return self._logo_path(digest)

    async def set_logo(self, data: bytes, *, by: audit.Actor | None = None) -> Look:
        """Check, re-encode and store a new logo; the old file goes once the new is in."""
        picture = await asyncio.to_thread(images.logo, data)
        async with self._lock:
            old = self._look.logo
            await asyncio.to_thread(_write_file, self._logo_path(picture.digest), picture.data)
            look = replace(self._look, logo=picture.digest)
            detail = {"bytes": len(picture.data), "uploaded": len(data)}
            await self._db.write(partial(_save, look, "brand.logo", detail, by))
            self._look = look
            if old and old != picture.digest:
                await asyncio.to_thread(_remove_file, self._logo_path(old))
            return look

    async def remove_logo(self, *, by: audit.Actor | None = None) -> Look:
        """Go back to no logo."""
        async with self._lock:
            old = self._look.logo
            look = replace(self._look, logo="")
            await self._db.write(partial(_save, look, "brand.logo_remove", {}, by))
            self._look = look
            if old:
                await asyncio.to_thread(_remove_file, self._logo_path(old))
            return look

    def _avatar_path(self, user_id: int, digest: str) -> Path:
        return self._data_dir / AVATAR_DIR / f"{user_id}-{digest}.jpg"

    def avatar(self, user_id: int) -> tuple[Path, str] | None:
        """Return a user's photo file and its digest, or None when they have none."""
        digest = self._avatars.get(user_id)
        return None if digest is None else (self._avatar_path(user_id, digest), digest)

    async def set_avatar(self, user_id: int, data: bytes) -> str:
        """Check, re-encode and store a user's photo; return its digest."""
        picture = await asyncio.to_thread(images.avatar, data)
        async with self._lock:
            path = self._avatar_path(user_id, picture.digest)
            await asyncio.to_thread(_write_file, path, picture.data)
            old = await self._db.write(partial(_set_avatar, user_id, picture.digest, now_ms()))
            self._avatars[user_id] = picture.digest
            if old and old != picture.digest:
                await asyncio.to_thread(_remove_file, self._avatar_path(user_id, old))
            return picture.digest

    async def remove_avatar(self, user_id: int) -> None:
        """Forget a user's photo."""
        async with self._lock:
            old = await self._db.write(partial(_remove_avatar, user_id))
            self._avatars.pop(user_id, None)
            if old:
                await asyncio.to_thread(_remove_file, self._avatar_path(user_id, old))


def _set_avatar(user_id: int, digest: str, at: int, conn: sqlite3.Connection) -> str | None:
    return avatar_store.set_digest(conn, user_id, digest, at)


def _remove_avatar(user_id: int, conn: sqlite3.Connection) -> str | None:
    return avatar_store.remove(conn, user_id)
