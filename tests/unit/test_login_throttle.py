"""Login throttling: an address that keeps failing is refused; a user name is only
slowed down, the same way whether it exists or not, so nobody can lock its owner out.
The delay is capped, spent without holding the loop, and the memory stays bounded."""

from __future__ import annotations

import asyncio

import pytest

from appliance.core.login import Login
from appliance.core.ratelimit import Backoff, RateLimited
from appliance.core.throttle import LoginThrottle, address_key
from tests.conftest import PASSWORD


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def login_of(box, **throttle) -> Login:  # type: ignore[no-untyped-def]
    """The box's login steps over a throttle of its own (delays shrunk for the test)."""
    settings = {"base": 0.001, "cap": 0.004, **throttle}
    return Login(box.accounts, box.two_factor, LoginThrottle(5, 300, **settings))


async def user_of(login: Login, name: str, password: str, address: str):  # type: ignore[no-untyped-def]
    step = await login.password(name, password, address)
    return None if step is None else step.user


def test_backoff_grows_past_the_free_failures_is_capped_and_leaks_away():
    clock = Clock()
    backoff = Backoff(3, 300, base=0.5, cap=4.0, clock=clock)
    delays = []
    for _ in range(10):
        delays.append(backoff.delay("lina"))
        backoff.fail("lina")
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3:6] == [0.5, 1.0, 2.0]
    assert delays[6:] == [4.0] * 4  # capped: the owner waits at most this long
    assert backoff.delay("someone else") == 0.0
    clock.now += 1000  # 10 failures at 3 per 300 s have leaked away
    assert backoff.delay("lina") == 0.0
    backoff.fail("lina")
    backoff.reset("lina")
    assert backoff.delay("lina") == 0.0


def test_the_login_delay_is_capped_at_a_few_seconds():
    clock = Clock()
    throttle = LoginThrottle(5, 300, clock=clock)
    for _ in range(1000):
        throttle.names.fail("lina")
    assert throttle.names.delay("lina") == 4.0


def test_names_tried_are_remembered_within_a_bound_keeping_the_recent_ones():
    clock = Clock()
    backoff = Backoff(1, 1e9, clock=clock, max_keys=100)  # failures all but never leak
    for i in range(10_000):  # someone cycling user names
        clock.now += 0.001
        backoff.fail(f"name{i}")
        if i in (0, 9950):
            for _ in range(3):
                backoff.fail("target")  # the name really being guessed
    assert len(backoff) == 100
    assert backoff.delay("name9999") > 0  # recent: remembered
    assert backoff.delay("name0") == 0.0  # long ago: forgotten, not grown without limit
    assert backoff.delay("target") > 0  # failed again lately: kept


async def test_an_ipv6_host_is_throttled_as_its_64():
    throttle = LoginThrottle(5, 300, base=0.001, cap=0.004)
    for host in range(5):
        await throttle.attempt("lina", f"2001:db8::{host + 1}")
    with pytest.raises(RateLimited):
        await throttle.attempt("lina", "2001:db8::ffff")
    await throttle.attempt("lina", "2001:db8:0:1::1")  # another /64: another host


def test_an_ipv6_host_is_one_address_however_many_it_picks():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:10.0.0.7") == "10.0.0.7"
    assert address_key("10.0.0.7") == "10.0.0.7"
    assert address_key("not an address") == "not an address"


async def test_one_address_failing_refuses_that_address_only(box):
    login = login_of(box)
    await box.accounts.create_user("lina", PASSWORD, "agent")
    for _ in range(5):
        assert await user_of(login, "lina", "wrong", "10.0.0.66") is None
    with pytest.raises(RateLimited):
        await login.password("lina", PASSWORD, "10.0.0.66")
    # The real user, at her own desk: slowed a little, never refused.
    user = await user_of(login, "lina", PASSWORD, "10.0.0.8")
    assert user is not None and user.username == "lina"


async def test_a_user_logs_in_from_another_address_after_many_failures_elsewhere(box):
    login = login_of(box)
    await box.accounts.create_user("lina", PASSWORD, "agent")
    # Someone on the LAN fails under her name from 3 addresses until each is refused.
    for host in range(3):
        address = f"10.0.1.{host}"
        for _ in range(5):
            assert await user_of(login, "lina", "wrong", address) is None
        with pytest.raises(RateLimited):
            await login.password("lina", "wrong", address)
    assert login.throttle.names.delay("lina") == 0.004  # slowed to the cap, no more
    user = await user_of(login, "lina", PASSWORD, "10.0.0.8")
    assert user is not None
    assert login.throttle.names.delay("lina") == 0.0  # a right password resets the name


async def test_parallel_guesses_from_one_address_are_counted_before_they_are_checked(box):
    login = login_of(box)
    await box.accounts.create_user("lina", PASSWORD, "agent")
    results = await asyncio.gather(
        *(login.password("lina", f"guess{i}", "10.0.0.66") for i in range(12)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, RateLimited)]
    checked = [r for r in results if r is None]
    assert len(checked) == 5 and len(refused) == 7


async def test_a_right_password_gives_its_attempt_back(box):
    login = login_of(box)
    await box.accounts.create_user("lina", PASSWORD, "agent")
    for _ in range(6):  # a busy morning: log in again and again from one desk
        assert await user_of(login, "lina", PASSWORD, "10.0.0.8") is not None
    for _ in range(4):
        assert await user_of(login, "lina", "typo", "10.0.0.8") is None
    assert await user_of(login, "lina", PASSWORD, "10.0.0.8") is not None


async def test_the_delay_holds_neither_the_loop_nor_other_logins(box):
    login = login_of(box, base=0.3, cap=0.3)
    await box.accounts.create_user("lina", PASSWORD, "agent")
    await box.accounts.create_user("omar", PASSWORD, "agent")
    for host in range(6):  # past the free failures: lina's next attempt waits 0.3 s
        assert await user_of(login, "lina", "wrong", f"10.0.2.{host}") is None
    finished: list[str] = []

    async def attempt(name: str, address: str) -> None:
        assert await user_of(login, name, PASSWORD, address) is not None
        finished.append(name)

    await asyncio.gather(attempt("lina", "10.0.0.8"), attempt("omar", "10.0.0.9"))
    assert finished == ["omar", "lina"]  # omar was not kept waiting behind her delay


async def test_known_and_unknown_names_are_slowed_alike(box):
    login = Login(box.accounts, box.two_factor, LoginThrottle(2, 300, base=0.001, cap=0.004))
    await box.accounts.create_user("known", PASSWORD, "agent")
    for i in range(3):
        for name in ("known", "nobody"):
            assert await user_of(login, name, "wrong", f"10.0.1.{i}") is None
    backoff = login.throttle.names
    assert backoff.delay("known") == pytest.approx(backoff.delay("nobody"), rel=0.05)
    assert backoff.delay("known") > 0
