"""Time-based one-time codes (RFC 6238, computed by pyotp) and recovery codes.

Pure functions: no storage, no clock of their own. What an authenticator app shows is
pyotp's default: SHA-1, 6 digits, a new code every 30 seconds, which every common
app (Google Authenticator, Microsoft Authenticator, FreeOTP, 1Password) reads from
the otpauth:// address in the QR code.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime

import pyotp

STEP = 30  # s a code is shown for
DIGITS = 6
# Steps either side of the box's "now" a code may come from: phone clocks drift, and a
# code typed in its last seconds arrives in the next step.
DRIFT = 1
RECOVERY_CODES = 10  # codes given at once
# No 0/o, 1/l/i: the codes are read off paper and typed by hand.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 10  # characters: 10 × log2(31) ≈ 49.5 bits each
_TYPED_MAX = 64  # characters of a typed code looked at


def new_secret() -> str:
    """Return a new authenticator secret (base32, 160 bits as RFC 4226 advises)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """Return the otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(
        name=account, issuer_name=issuer
    )


def step_at(at: float) -> int:
    """Return the 30-second step a moment (Unix seconds) falls in."""
    return int(at // STEP)


def code_at(secret: str, at: float) -> str:
    """Return the code an authenticator shows at a moment (for tests and tools)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).at(datetime.fromtimestamp(at, UTC))


def _typed(text: str) -> str:
    """A typed code without the spaces and dashes people and apps put in it."""
    return "".join(c for c in text[:_TYPED_MAX] if c not in " -\t").lower()


def is_totp_code(text: str) -> bool:
    """Tell whether text looks like an authenticator's code (six digits)."""
    typed = _typed(text)
    return len(typed) == DIGITS and typed.isascii() and typed.isdigit()


def matching_step(secret: str, text: str, at: float) -> int | None:
    """Return the step whose code `text` is, within DRIFT steps of `at`, or None.

    Every candidate is compared, in constant time, whether or not one matched.
    """
    if not is_totp_code(text):
        return None
    typed = _typed(text).encode()
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    now = step_at(at)
    found = None
    for step in range(now - DRIFT, now + DRIFT + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), typed):
            found = step
    return found


def new_recovery_codes() -> list[str]:
    """Return RECOVERY_CODES new recovery codes, shown as xxxxx-xxxxx."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def recovery_key(text: str) -> str | None:
    """Return a typed recovery code in its stored form, or None if it cannot be one."""
    typed = _typed(text)
    if len(typed) != _RECOVERY_LENGTH or any(c not in _RECOVERY_ALPHABET for c in typed):
        return None
    return typed
