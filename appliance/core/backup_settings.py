"""Backup settings as the admin sees them, their checks, and the sealed WebDAV password.

The password of the off-box target must be usable by the box at 3 a.m., so it cannot
be hashed; it is sealed instead (AES-GCM) under a key derived (HKDF) from the box's
`secret.key`, a file beside the database but not in it: a copy of the database alone
(a support bundle, say) does not give the password away. Archives hold both, encrypted.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.core.errors import InvalidInput
from appliance.core.store.backups import SettingsRow

_LOGGER = logging.getLogger(__name__)

_SEAL_INFO = b"callbox backup target credentials v1"
_NONCE = 12  # bytes


@dataclass(frozen=True, slots=True)
class Settings:
    """The backup settings, as the admin sees them (no password)."""

    recipient: str
    key_created_at: int | None
    enabled: bool
    daily_at: str
    keep_daily: int
    keep_weekly: int
    local_dir: str  # '' = the data folder's backups/
    webdav_url: str
    webdav_user: str
    webdav_password_set: bool


def settings_of(row: SettingsRow) -> Settings:
    """Return the settings of a stored row, without the sealed password."""
    return Settings(
        row.recipient,
        row.key_created_at,
        row.enabled,
        row.daily_at,
        row.keep_daily,
        row.keep_weekly,
        row.local_dir,
        row.webdav_url,
        row.webdav_user,
        row.webdav_sealed is not None,
    )


class Sealer:
    """Seals and unseals the target password under the box's secret (other services
    seal theirs under their own `info`, so each gets a key of its own)."""

    def __init__(
        self, secret: bytes, info: bytes = _SEAL_INFO, what: str = "the WebDAV password"
    ) -> None:
        self._key = HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(secret)
        self._info = info
        self._what = what

    def seal(self, password: str) -> bytes:
        """Return the password sealed (nonce + ciphertext with its tag)."""
        nonce = secrets.token_bytes(_NONCE)
        return nonce + AESGCM(self._key).encrypt(nonce, password.encode(), self._info)

    def unseal(self, sealed: bytes | None) -> str:
        """Return the password ('' for none, or one sealed under another secret)."""
        if not sealed:
            return ""
        try:
            return AESGCM(self._key).decrypt(sealed[:_NONCE], sealed[_NONCE:], self._info).decode()
        except InvalidTag:
            # Sealed under another secret.key (a database restored without its folder):
            # the server will refuse the empty password, and the page asks for it again.
            _LOGGER.warning("%s cannot be unsealed: enter it again", self._what)
            return ""


def check_local_dir(text: str, data_dir: Path) -> str:
    """Return a usable local folder for archives (made if missing); raise InvalidInput."""
    if not text:
        return ""
    path = Path(text)
    if not path.is_absolute() or ".." in path.parts:
        raise InvalidInput("local_dir must be an absolute path, such as /mnt/backup/callbox")
    data = data_dir.resolve()
    inside = path.resolve()
    if inside == data or (data in inside.parents and inside != data / "backups"):
        raise InvalidInput("local_dir may not be inside the data folder (but its backups/)")
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as err:
        raise InvalidInput(f"local_dir cannot be made: {err.strerror}") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise InvalidInput("local_dir is not writable by the box")
    return str(path)


def check_webdav_url(url: str) -> str:
    """Return a WebDAV folder URL if it is usable ('' clears it); raise InvalidInput."""
    url = url.strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise InvalidInput(f"webdav_url is not a URL ({err})") from err
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("webdav_url must be an http:// or https:// address")
    if parts.username or parts.password:
        raise InvalidInput("webdav_url may not hold a user or password: use the fields")
    if parts.query or parts.fragment or port == 0:
        raise InvalidInput("webdav_url may not have a query, a fragment or port 0")
    return url
