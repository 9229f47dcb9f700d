"""Two-factor login: enrolment, codes, recovery codes, the roles that must use it."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.core import audit, totp
from appliance.core.accounts import ROLES, User
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, InvalidInput
from appliance.core.store import two_factor as store
from appliance.core.store.accounts import Role

ISSUER = "Callbox"  # the name an authenticator app shows above the code


class WrongCode(InvalidInput):
    """The code was not the authenticator's (or was used already)."""

    code = "wrong_code"


class TwoFactorRequired(Conflict):
    """The user's role must log in with a code: it cannot be switched off."""

    code = "two_factor_required"


class NotEnrolling(Conflict):
    """There is no new secret waiting to be confirmed."""

    code = "not_enrolling"


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A new secret for the user's authenticator app, not yet confirmed."""

    secret: str
    uri: str  # otpauth://, what the QR code holds


# Recovery codes carry ~50 random bits, so their hash needs no stretching against
# guessing; argon2 at a low cost still makes a stolen database slow to try, and a login
# that checks all ten stays around tens of ms (tests/unit/test_totp.py measures none,
# bench/ does not need to: it runs only when someone types a recovery code).
_RECOVERY_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


def _recovery_match(hashes: list[tuple[int, str]], key: str) -> int | None:
    """Return the id of the stored code `key` is; every hash is checked (same time)."""
    found = None
    for code_id, code_hash in hashes:
        try:
            if _RECOVERY_HASHER.verify(code_hash, key):
                found = code_id
        except (VerificationError, InvalidHashError):
            pass
    return found


class TwoFactor:
    """Authenticator codes and recovery codes for console users."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def required_roles(self) -> list[Role]:
        """Return the roles whose users must log in with a code."""
        roles = await self._db.read(store.required_roles)
        return [r for r in ROLES if r in roles]

    async def set_required_roles(
        self, roles: Iterable[str], *, by: audit.Actor | None = None
    ) -> list[Role]:
        """Replace the roles that must log in with a code (they enrol at next login)."""
        wanted = set(roles)
        if not wanted <= set(ROLES):
            raise InvalidInput(f"roles must be among {', '.join(ROLES)}")
        after = [r for r in ROLES if r in wanted]

        def change(conn: sqlite3.Connection) -> None:
            before = [r for r in ROLES if r in store.required_roles(conn)]
            store.set_required_roles(conn, wanted)
            if by is not None and before != after:
                audit.record(conn, by, "settings.two_factor", "", {"roles": [before, after]})

        await self._db.write(change)
        return after

    async def is_on(self, user_id: int) -> bool:
        """Tell whether a user logs in with a code."""
        state = await self._db.read(lambda conn: store.state(conn, user_id))
        return state is not None and state.secret is not None

    async def recovery_left(self, user_id: int) -> int:
        """Return how many unused recovery codes a user has."""
        return len(await self._db.read(lambda conn: store.unused_recovery_codes(conn, user_id)))

    async def start(self, user: User) -> Enrolment:
        """Give a user a new secret to scan; it counts only once confirmed with a code.

        A user who already logs in with a code keeps the old secret until the new one
        is confirmed (a new phone).
        """
        secret = totp.new_secret()
        await self._db.write(lambda conn: store.set_pending(conn, user.id, secret))
        return Enrolment(secret, totp.provisioning_uri(secret, user.username, ISSUER))

    async def pending(self, user: User) -> Enrolment | None:
        """Return the secret waiting for confirmation, if any."""
        state = await self._db.read(lambda conn: store.state(conn, user.id))
        if state is None or state.pending_secret is None:
            return None
        secret = state.pending_secret
        return Enrolment(secret, totp.provisioning_uri(secret, user.username, ISSUER))

    async def confirm(self, user_id: int, code: str) -> list[str]:
        """Switch two-factor login on with the pending secret; return new recovery codes.

        The recovery codes are returned once, here; only their hashes are kept.
        """
        state = await self._db.read(lambda conn: store.state(conn, user_id))
        if state is None or state.pending_secret is None:
            raise NotEnrolling("start the set-up first")
        secret = state.pending_secret
        step = totp.matching_step(secret, code, self._clock())
        if step is None:
            raise WrongCode("the code does not match: check the phone's time and try again")
        codes = totp.new_recovery_codes()
        hashes = await asyncio.to_thread(self._hash_codes, codes)

        def switch_on(conn: sqlite3.Connection) -> bool:
            if not store.confirm(conn, user_id, secret, step, now_ms()):
                return False
            store.replace_recovery_codes(conn, user_id, hashes)
            return True

        if not await self._db.write(switch_on):
            raise NotEnrolling("the set-up was started again elsewhere: use the newest code")
        return codes

    @staticmethod
    def _hash_codes(codes: list[str]) -> list[str]:
        keys = [totp.recovery_key(c) for c in codes]
        return [_RECOVERY_HASHER.hash(k) for k in keys if k is not None]

    async def verify(self, user_id: int, code: str, *, use: bool = True) -> bool:
        """Check an authenticator code or a recovery code; with `use`, spend it.

        A code of a step already used (or older) is refused, as is a used recovery
        code. Without `use` the same work is done and nothing is recorded: the login
        checks a code even after a wrong password, so the time taken tells nothing.
        """
        state = await self._db.read(lambda conn: store.state(conn, user_id))
        secret = state.secret if state is not None else None
        if totp.is_totp_code(code):
            step = totp.matching_step(secret, code, self._clock()) if secret else None
            if step is None or not use:
                return False
            return await self._db.write(lambda conn: store.use_step(conn, user_id, step))
        key = totp.recovery_key(code)
        if key is None:
            return False
        hashes = await self._db.read(lambda conn: store.unused_recovery_codes(conn, user_id))
        found = await asyncio.to_thread(_recovery_match, hashes, key)
        if found is None or secret is None or not use:
            return False
        now = now_ms()
        return await self._db.write(lambda conn: store.use_recovery_code(conn, found, now))

    async def new_recovery_codes(self, user_id: int, code: str) -> list[str]:
        """Replace a user's recovery codes, after a code from their authenticator."""
        if not await self.is_on(user_id):
            raise NotEnrolling("two-factor login is off")
        if not totp.is_totp_code(code) or not await self.verify(user_id, code):
            raise WrongCode("the code does not match")
        codes = totp.new_recovery_codes()
        hashes = await asyncio.to_thread(self._hash_codes, codes)
        await self._db.write(lambda conn: store.replace_recovery_codes(conn, user_id, hashes))
        return codes

    async def turn_off(self, user: User, code: str) -> None:
        """Switch a user's own two-factor login off, after a code (not if their role
        must use it)."""
        if user.role in await self.required_roles():
            raise TwoFactorRequired("your role must log in with a code")
        if not await self.is_on(user.id):
            raise NotEnrolling("two-factor login is off")
        if not await self.verify(user.id, code):
            raise WrongCode("the code does not match")
        await self._db.write(lambda conn: store.clear(conn, user.id))

    async def reset(self, user_id: int) -> bool:
        """Switch a user's two-factor login off (an admin, for a lost phone); tell
        whether it was on."""
        return await self._db.write(lambda conn: store.clear(conn, user_id))
