"""Login throttling: an address that keeps failing is refused; a user name is only
slowed down, the same way whether it exists or not, so nobody can lock its owner out."""

from __future__ import annotations

import pytest

from appliance.core.accounts import Accounts
from appliance.core.ratelimit import Backoff, RateLimited
from tests.conftest import PASSWORD


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_grows_past_the_free_failures_is_capped_and_leaks_away():
    clock = Clock()
    backoff = Backoff(3, 300, base=0.5, cap=8.0, clock=clock)
    delays = []
    for _ in range(10):
        delays.append(backoff.delay("lina"))
        backoff.fail("lina")
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3:7] == [0.5, 1.0, 2.0, 4.0]
    assert max(delays) == 8.0 and delays[-1] == 8.0
    assert backoff.delay("someone else") == 0.0
    clock.now += 1000  # 10 failures at 3 per 300 s have leaked away
    assert backoff.delay("lina") == 0.0
    backoff.fail("lina")
    backoff.reset("lina")
    assert backoff.delay("lina") == 0.0


async def test_one_address_failing_refuses_that_address_only(box):
    accounts = Accounts(box.db, box.bus, login_attempts=5, login_window=300, login_backoff=0.01)
    await accounts.create_user("lina", PASSWORD, "agent")
    for _ in range(5):
        assert await accounts.authenticate("lina", "wrong", "10.0.0.66") is None
    with pytest.raises(RateLimited):
        await accounts.authenticate("lina", PASSWORD, "10.0.0.66")
    # The real user, at her own desk: slowed a little, never refused.
    for _ in range(3):
        assert await accounts.authenticate("lina", "wrong", "10.0.0.67") is None
    user = await accounts.authenticate("lina", PASSWORD, "10.0.0.8")
    assert user is not None and user.username == "lina"


async def test_known_and_unknown_names_are_slowed_alike(box):
    accounts = Accounts(box.db, box.bus, login_attempts=2, login_window=300, login_backoff=0.01)
    await accounts.create_user("known", PASSWORD, "agent")
    for i in range(4):
        for name in ("known", "nobody"):
            assert await accounts.authenticate(name, "wrong", f"10.0.1.{i}") is None
    backoff = accounts._by_user
    assert backoff.delay("known") == pytest.approx(backoff.delay("nobody"), rel=0.05)
    assert backoff.delay("known") > 0
