"""A console login, step by step: the password, then as needed a code from the
authenticator, a new password (after an admin's reset) and enrolment (when the
user's role must use two-factor login). No session exists until every step is done.

What the steps reveal: a wrong password for an account without two-factor login is
refused at once, as before. For an account with it, the code is asked for whether the
password was right or not, and a refusal after the code does not say which of the two
was wrong, so guessing passwords without the phone learns nothing. (That the code step
appears tells that the account exists and uses two-factor login; nothing tells
whether its password was right.) A new password or an enrolment is asked for only
after the password (and code) were right: they are the user's own steps.

Between steps the login is a ticket: a random token in the page's form, kept in
memory for `TICKET_TTL` seconds, at most `MAX_TICKETS` at once (the oldest go first).
A restart forgets them: the user types the password again.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from appliance.core.accounts import AccountError, Accounts, User
from appliance.core.throttle import LoginThrottle
from appliance.core.two_factor import Enrolment, TwoFactor

TICKET_TTL = 600.0  # s from the password to the last step (time to install an app)
MAX_TICKETS = 10_000  # logins between steps held at once
CODE_TRIES = 5  # codes tried on one ticket before the password must be typed again

Stage = Literal["code", "password", "enrol", "codes"]


class LoginRefused(Exception):
    """The login did not work; `again`: the same step may be tried again, else start over."""

    def __init__(self, again: bool) -> None:
        super().__init__("login refused")
        self.again = again


@dataclass(slots=True)
class _Ticket:
    username: str  # as typed: the throttle's key
    user_id: int | None
    password_ok: bool
    stages: list[Stage]  # still to do, the current one first
    expires: float
    tries: int = 0


@dataclass(frozen=True, slots=True)
class Step:
    """Where a login stands: `done` (with the user), or the step to show next."""

    stage: Literal["done", "code", "password", "enrol", "codes"]
    ticket: str = ""
    user: User | None = None
    enrolment: Enrolment | None = None  # stage "enrol": what to scan
    codes: list[str] = field(default_factory=list)  # stage "codes": shown this once


class Login:
    """The steps of console logins in progress."""

    def __init__(
        self,
        accounts: Accounts,
        two_factor: TwoFactor,
        throttle: LoginThrottle,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = accounts
        self._two_factor = two_factor
        self.throttle = throttle
        self._clock = clock
        # In order of creation; all live equally long, so the expired are at the front.
        self._tickets: dict[str, _Ticket] = {}

    def __len__(self) -> int:
        return len(self._tickets)

    async def password(self, username: str, password: str, address: str) -> Step | None:
        """Check a user name and password; return the next step, or None (refused).

        Raise RateLimited when the address has tried too often.
        """
        await self.throttle.attempt(username, address)
        facts, ok = await self._accounts.check_password(username, password)
        if facts is not None and facts.two_factor:
            # Counted as a failure until the code is right too (then given back).
            stages: list[Stage] = ["code"]
            if ok:
                stages += self._after_code(facts.must_change_password, False, False)
            return self._new(username, facts.user.id, ok, stages)
        if not ok or facts is None:
            return None
        self.throttle.succeeded(username, address)
        stages = self._after_code(facts.must_change_password, facts.two_factor_required, True)
        if not stages:
            return Step("done", user=facts.user)
        return await self._show(self._new(username, facts.user.id, True, stages).ticket, fresh=True)

    @staticmethod
    def _after_code(must_change: bool, required: bool, missing: bool) -> list[Stage]:
        stages: list[Stage] = ["password"] if must_change else []
        if required and missing:
            stages += ["enrol", "codes"]
        return stages

    def _new(self, username: str, user_id: int, ok: bool, stages: list[Stage]) -> Step:
        now = self._clock()
        self._expire(now)
        while len(self._tickets) >= MAX_TICKETS:
            del self._tickets[next(iter(self._tickets))]
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = _Ticket(username, user_id, ok, stages, now + TICKET_TTL)
        return Step(stages[0], ticket)

    def _expire(self, now: float) -> None:
        while self._tickets:
            first = next(iter(self._tickets))
            if self._tickets[first].expires > now:
                return
            del self._tickets[first]

    def _get(self, ticket: str, stage: Stage) -> _Ticket:
        self._expire(self._clock())
        found = self._tickets.get(ticket) if isinstance(ticket, str) else None
        if found is None or found.stages[0] != stage:
            raise LoginRefused(again=False)
        return found

    def stage(self, ticket: str) -> Stage | None:
        """Return the step a ticket waits at, or None when it is unknown or expired."""
        self._expire(self._clock())
        found = self._tickets.get(ticket)
        return found.stages[0] if found is not None else None

    async def code(self, ticket: str, code: str, address: str) -> Step:
        """Check the code of the code step; raise LoginRefused or RateLimited."""
        pending = self._get(ticket, "code")
        await self.throttle.attempt(pending.username, address)
        assert pending.user_id is not None
        # The same work whether the password was right or not; only then is a code spent.
        right = await self._two_factor.verify(pending.user_id, code, use=pending.password_ok)
        if not (right and pending.password_ok):
            pending.tries += 1
            if pending.tries >= CODE_TRIES:
                self._tickets.pop(ticket, None)
                raise LoginRefused(again=False)
            raise LoginRefused(again=True)
        self.throttle.succeeded(pending.username, address, attempts=2)
        return await self._next(ticket, pending)

    async def new_password(self, ticket: str, password: str, again: str) -> Step:
        """Replace a temporary password; raise AccountError (422) for an unusable one."""
        pending = self._get(ticket, "password")
        assert pending.user_id is not None
        if password != again:
            raise AccountError("the two passwords differ")
        if await self._accounts.is_password(pending.user_id, password):
            raise AccountError("choose a password other than the temporary one")
        await self._accounts.set_password(pending.user_id, password)
        return await self._next(ticket, pending)

    async def confirm(self, ticket: str, code: str, address: str) -> Step:
        """Confirm enrolment with a first code; the next step shows the recovery codes."""
        pending = self._get(ticket, "enrol")
        assert pending.user_id is not None
        await self.throttle.attempt(pending.username, address)
        codes = await self._two_factor.confirm(pending.user_id, code)  # WrongCode: 422
        self.throttle.succeeded(pending.username, address)
        pending.stages.pop(0)
        return Step("codes", ticket, codes=codes)

    async def finish(self, ticket: str) -> Step:
        """Leave the recovery codes' page."""
        pending = self._get(ticket, "codes")
        return await self._next(ticket, pending)

    async def show(self, ticket: str) -> Step:
        """Return a ticket's current step again (to show its page once more)."""
        return await self._show(ticket)

    async def _next(self, ticket: str, pending: _Ticket) -> Step:
        pending.stages.pop(0)
        if pending.stages:
            return await self._show(ticket, fresh=True)
        del self._tickets[ticket]
        assert pending.user_id is not None
        user = await self._accounts.get_user(pending.user_id)
        if user is None or user.disabled:
            raise LoginRefused(again=False)
        return Step("done", user=user)

    async def _show(self, ticket: str, *, fresh: bool = False) -> Step:
        pending = self._tickets.get(ticket)
        if pending is None:
            raise LoginRefused(again=False)
        stage = pending.stages[0]
        if stage != "enrol":
            return Step(stage, ticket)
        assert pending.user_id is not None
        user = await self._accounts.get_user(pending.user_id)
        if user is None:
            raise LoginRefused(again=False)
        # A new secret when the step begins; the same one when its page is shown again.
        enrolment = None if fresh else await self._two_factor.pending(user)
        if enrolment is None:
            enrolment = await self._two_factor.start(user)
        return Step("enrol", ticket, enrolment=enrolment)
