"""Settings the administrator changes at run time, and the websites that embed the widget.

Both are small and read on hot paths (every page view asks whether Do-Not-Track is
honoured; every identity proof needs its site's secret), so they live in memory,
loaded at start and replaced after each committed change.
"""

from __future__ import annotations

import logging
import re
import secrets
import sqlite3
from dataclasses import dataclass
from functools import partial
from typing import Any

from appliance.core import audit
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import InvalidInput, NotFound
from appliance.core.store import settings as store

_LOGGER = logging.getLogger(__name__)

_SECRET_BYTES = 32
_SITE_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_SITE_NAME_MAX = 100  # characters


@dataclass(frozen=True, slots=True)
class _Setting:
    stored_as: str  # key in box_settings
    kind: type
    default: int | bool
    low: int = 0
    high: int = 0


_SETTINGS = {
    "honour_dnt": _Setting("privacy.honour_dnt", bool, False),
    "page_view_days": _Setting("retention.page_view_days", int, 90, 1, 3650),
    "decline_quiet_days": _Setting("invite.decline_quiet_days", int, 7, 0, 365),
    # Agents see what a visitor types before it is sent; off by default (privacy).
    "sneak_peek": _Setting("privacy.sneak_peek", bool, False),
    # The portal shows a customer the tickets of their organisation too; off by default.
    "portal_organisation": _Setting("portal.organisation_tickets", bool, False),
}


def _stored(setting: _Setting, text: str) -> int | bool:
    """Read a stored value; a damaged one falls back to the default."""
    if setting.kind is bool:
        if text in ("0", "1"):
            return text == "1"
    elif text.isdigit() and setting.low <= int(text) <= setting.high:
        return int(text)
    _LOGGER.warning("box setting %s has a bad value; using the default", setting.stored_as)
    return setting.default


def _checked(name: str, value: Any) -> int | bool:
    setting = _SETTINGS[name]
    if setting.kind is bool:
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be true or false")
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{name} must be a whole number")
    if not setting.low <= value <= setting.high:
        raise InvalidInput(f"{name} must be between {setting.low} and {setting.high}")
    return value


def _save(
    values: dict[str, int | bool],
    change: dict[str, list[int | bool]],
    by: audit.Actor | None,
    conn: sqlite3.Connection,
) -> None:
    store.save(conn, [(_SETTINGS[n].stored_as, str(int(v))) for n, v in values.items()])
    if by is not None:
        audit.record(conn, by, "settings.privacy", "", change)


@dataclass(frozen=True, slots=True)
class Privacy:
    """The privacy and retention settings, as they stand."""

    honour_dnt: bool
    page_view_days: int
    decline_quiet_days: int
    sneak_peek: bool = False
    portal_organisation: bool = False


@dataclass(frozen=True, slots=True)
class Site:
    """A website that embeds the widget, with the secret that signs its customers."""

    key: str
    name: str
    secret: str
    created_at: int  # UTC ms


class BoxSettings:
    """Privacy and retention settings: typed, validated, held in memory."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._values: dict[str, int | bool] = {n: s.default for n, s in _SETTINGS.items()}

    async def load(self) -> None:
        """Read the stored settings; missing ones keep their defaults."""
        stored = await self._db.read(store.values)
        for name, setting in _SETTINGS.items():
            if setting.stored_as in stored:
                self._values[name] = _stored(setting, stored[setting.stored_as])

    @property
    def honour_dnt(self) -> bool:
        """Whether visitors who send Do-Not-Track or GPC are left untracked."""
        return bool(self._values["honour_dnt"])

    @property
    def page_view_days(self) -> int:
        """How many days visits and page views are kept."""
        return int(self._values["page_view_days"])

    @property
    def decline_quiet_days(self) -> int:
        """The fewest days between two automatic invitations of one visitor."""
        return int(self._values["decline_quiet_days"])

    @property
    def sneak_peek(self) -> bool:
        """Whether agents see what a visitor is typing before it is sent."""
        return bool(self._values["sneak_peek"])

    @property
    def portal_organisation(self) -> bool:
        """Whether the portal shows a customer their organisation's tickets too."""
        return bool(self._values["portal_organisation"])

    def current(self) -> Privacy:
        """Return the settings as they stand."""
        return Privacy(
            self.honour_dnt,
            self.page_view_days,
            self.decline_quiet_days,
            self.sneak_peek,
            self.portal_organisation,
        )

    async def update(self, data: dict[str, Any], *, by: audit.Actor | None = None) -> Privacy:
        """Change some settings (all checked first: none change on a bad one).

        `by`: who changes them, recorded in the audit log with each value before and after.
        """
        if not isinstance(data, dict):
            raise InvalidInput("settings must be an object")
        unknown = sorted(set(data) - set(_SETTINGS))
        if unknown:
            raise InvalidInput(f"unknown setting: {', '.join(unknown)}")
        values = {name: _checked(name, value) for name, value in data.items()}
        if values:
            # The audit log gets what changed, before and after (a save that changed
            # nothing is still recorded, with no detail).
            change = {
                name: [self._values[name], value]
                for name, value in values.items()
                if self._values[name] != value
            }
            await self._db.write(partial(_save, values, change, by))
            self._values.update(values)
        return self.current()


def _rotate(key: str, secret: str, by: audit.Actor | None, conn: sqlite3.Connection) -> Site:
    row = store.set_secret(conn, key, secret)
    if row is None:
        raise NotFound(f"no site {key!r}")
    if by is not None:
        audit.record(conn, by, "site.rotate_secret", key)
    return Site(*row)


def _create(
    key: str, name: str, secret: str, at: int, by: audit.Actor | None, conn: sqlite3.Connection
) -> Site:
    row = store.add_site(conn, key, name, secret, at)
    if row is None:
        raise InvalidInput(f"a site {key!r} exists already")
    if by is not None:
        audit.record(conn, by, "site.create", key, {"name": name})
    return Site(*row)


class Sites:
    """Websites that embed the widget; each has a secret that signs customer identities."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._secrets: dict[str, str] = {}

    async def load(self) -> None:
        """Read every site's secret into memory."""
        self._secrets = await self._db.read(store.site_secrets)

    async def list(self) -> list[Site]:
        """Return every site with its secret (for the administrator)."""
        return [Site(*row) for row in await self._db.read(store.sites)]

    def known(self, key: str) -> bool:
        """Tell whether a site key exists."""
        return key in self._secrets

    async def secret(self, key: str) -> str | None:
        """Return a site's signing secret, or None for an unknown site."""
        return self._secrets.get(key)

    async def rotate(self, key: str, *, by: audit.Actor | None = None) -> Site:
        """Give a site a new random secret; identities signed with the old one fail."""
        secret = secrets.token_hex(_SECRET_BYTES)
        site = await self._db.write(partial(_rotate, key, secret, by))
        self._secrets[key] = secret
        _LOGGER.info("site %s: secret rotated", key)
        return site

    async def create(self, key: str, name: str = "", *, by: audit.Actor | None = None) -> Site:
        """Add a site with a new random secret."""
        if not isinstance(key, str) or not _SITE_KEY.fullmatch(key):
            raise InvalidInput(
                "site key: 1 to 32 of a-z, 0-9, - and _, starting with a letter or digit"
            )
        if not isinstance(name, str) or len(name) > _SITE_NAME_MAX:
            raise InvalidInput(f"site name: text of at most {_SITE_NAME_MAX} characters")
        secret = secrets.token_hex(_SECRET_BYTES)
        site = await self._db.write(partial(_create, key, name.strip(), secret, now_ms(), by))
        self._secrets[key] = secret
        return site
