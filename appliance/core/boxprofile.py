"""Who the box is: company name, public chat host name, time zone, default language.

Set in the first-boot setup (and later on the admin page), kept in box_settings.

The time zone: the box's OS zone is the default. Changing the OS zone needs root,
which the appliance does not have (it runs as its own user), so a chosen zone is
the appliance's own: from its next start it runs in that zone (the process's TZ),
and every local time it shows or computes (business hours, SLA clocks, reports,
the pages) follows it. It applies at start, not at once, so that no clock of a
running box works in two zones. An empty choice means the OS zone.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.core.db import Database
from appliance.core.errors import InvalidInput
from appliance.core.store import settings as store

_LOGGER = logging.getLogger(__name__)

COMPANY_MAX = 100  # characters
_PREFIX = "box."
_HOST = re.compile(
    r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
)
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]{0,30}(/[A-Za-z0-9_+-]{1,30}){0,2}$")
_LOCALTIME = Path("/etc/localtime")
_ETC_TIMEZONE = Path("/etc/timezone")


@dataclass(frozen=True, slots=True)
class Profile:
    """The box's identity as the administrator set it ("" = not set)."""

    company_name: str = ""
    public_host: str = ""
    time_zone: str = ""  # IANA name; "" = the OS zone
    default_lang: str = ""  # "" = the `lang` setting


def check_company(value: object) -> str:
    """Validate a company name: one line of text."""
    if not isinstance(value, str):
        raise InvalidInput("company_name must be text")
    value = value.strip()
    if len(value) > COMPANY_MAX or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidInput(f"company_name: one line of at most {COMPANY_MAX} characters")
    return value


def check_host(value: object) -> str:
    """Validate the public chat host name (a DNS name visitors' browsers will use)."""
    if not isinstance(value, str):
        raise InvalidInput("public_host must be text")
    value = value.strip().lower().rstrip(".")
    if value and not _HOST.match(value):
        raise InvalidInput("public_host must be a full host name such as chat.example.com")
    return value


def check_zone(value: object) -> str:
    """Validate an IANA time zone name ("" = the OS zone)."""
    if not isinstance(value, str):
        raise InvalidInput("time_zone must be text")
    value = value.strip()
    if not value:
        return ""
    if not _ZONE.match(value):
        raise InvalidInput("time_zone must be a zone name such as Asia/Shanghai")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {value!r}") from None
    return value


def os_zone() -> str:
    """Return the name of the OS's zone, as far as it can be told ("" if not)."""
    try:
        target = os.readlink(_LOCALTIME)
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    try:
        return _ETC_TIMEZONE.read_text("utf-8").strip()
    except OSError:
        return ""


def stored_zone(db_path: Path) -> str:
    """Return the chosen zone straight from the database file ("" if none or unreadable).

    Read before the core opens, so that the whole process starts in that zone.
    """
    if not db_path.exists():
        return ""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            value = store.values(conn, _PREFIX + "time_zone").get(_PREFIX + "time_zone", "")
        finally:
            conn.close()
        return check_zone(value)
    except (sqlite3.Error, InvalidInput) as err:
        _LOGGER.warning("the chosen time zone could not be read; using the OS zone: %s", err)
        return ""


class BoxProfile:
    """The box's identity, held in memory, changed by the administrator."""

    def __init__(self, langs: tuple[str, ...]) -> None:
        self._db: Database | None = None
        self._langs = langs
        self.profile = Profile()

    async def open(self, db: Database) -> None:
        """Read the stored profile from the box's database."""
        self._db = db
        stored = await self._db.read(lambda conn: store.values(conn, _PREFIX))
        values = {k[len(_PREFIX) :]: v for k, v in stored.items()}
        self.profile = Profile(**{k: v for k, v in values.items() if k in asdict(Profile())})

    def _check_lang(self, value: object) -> str:
        if value not in (*self._langs, ""):
            raise InvalidInput(f"default_lang must be one of {', '.join(self._langs)}")
        assert isinstance(value, str)
        return value

    async def update(self, change: dict[str, Any]) -> Profile:
        """Change some fields (all checked first: none change on a bad one)."""
        checks = {
            "company_name": check_company,
            "public_host": check_host,
            "time_zone": check_zone,
            "default_lang": self._check_lang,
        }
        unknown = sorted(set(change) - set(checks))
        if unknown:
            raise InvalidInput(f"unknown field: {', '.join(unknown)}")
        values = {name: checks[name](value) for name, value in change.items()}
        if values:
            assert self._db is not None, "open() first"
            pairs = [(_PREFIX + name, value) for name, value in values.items()]
            await self._db.write(lambda conn: store.save(conn, pairs))
            self.profile = Profile(**{**asdict(self.profile), **values})
        return self.profile
