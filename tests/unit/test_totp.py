"""Two-factor codes on a real SQLite: enrolment, clock drift, no code twice, recovery
codes once each and stored only as hashes. Codes come from pyotp, as a phone's app
would compute them, at moments the test chooses."""

from __future__ import annotations

import asyncio

import pyotp
import pytest

from appliance.core import totp
from appliance.core.errors import InvalidInput
from appliance.core.store import two_factor as store
from appliance.core.two_factor import NotEnrolling, TwoFactor, TwoFactorRequired, WrongCode
from tests.conftest import PASSWORD

T0 = 1_800_000_000.0  # a moment at the start of a 30 s step


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def phone(secret: str, at: float) -> str:
    """The code an authenticator app shows at a moment."""
    return pyotp.TOTP(secret).at(int(at))


def not_a_code(secret: str, at: float) -> str:
    """Six digits that are no code the box would accept at a moment."""
    near = {phone(secret, at + 30 * d) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


def test_a_code_matches_its_own_step_and_one_either_side_only():
    secret = totp.new_secret()
    assert len(secret) == 32
    now = totp.step_at(T0)
    for drift in (-1, 0, 1):
        assert totp.matching_step(secret, phone(secret, T0 + 30 * drift), T0) == now + drift
    for far in (-3, -2, 2, 3):
        code = phone(secret, T0 + 30 * far)
        if all(code != phone(secret, T0 + 30 * d) for d in (-1, 0, 1)):  # no collision
            assert totp.matching_step(secret, code, T0) is None
    code = phone(secret, T0)
    assert totp.matching_step(secret, f" {code[:3]} {code[3:]} ", T0) == now  # as typed
    assert totp.code_at(secret, T0) == code
    for junk in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "x" * 1000):
        assert totp.matching_step(secret, junk, T0) is None


def test_the_qr_address_names_the_box_and_the_user():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "lina", "Callbox")
    assert uri.startswith("otpauth://totp/Callbox:lina?")
    assert "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" in uri and "issuer=Callbox" in uri


async def _enrolled(box, clock: Clock, role: str = "agent"):
    user = await box.accounts.create_user(f"u{int(clock.now) % 100000}", PASSWORD, role)
    two_factor = TwoFactor(box.db, clock=clock)
    enrolment = await two_factor.start(user)
    codes = await two_factor.confirm(user.id, phone(enrolment.secret, clock.now))
    return user, two_factor, enrolment.secret, codes


async def test_enrolment_needs_a_right_code_before_it_counts(box):
    clock = Clock()
    user = await box.accounts.create_user("lina", PASSWORD, "agent")
    two_factor = TwoFactor(box.db, clock=clock)
    with pytest.raises(NotEnrolling):
        await two_factor.confirm(user.id, "123456")
    enrolment = await two_factor.start(user)
    assert enrolment.uri.startswith("otpauth://totp/Callbox:lina?")
    assert not await two_factor.is_on(user.id)  # only pending
    with pytest.raises(WrongCode):
        await two_factor.confirm(user.id, not_a_code(enrolment.secret, T0))
    assert not await two_factor.is_on(user.id)
    # A second start replaces the secret: a code of the first no longer confirms.
    again = await two_factor.start(user)
    assert again.secret != enrolment.secret
    codes = await two_factor.confirm(user.id, phone(again.secret, T0))
    assert await two_factor.is_on(user.id)
    assert len(codes) == totp.RECOVERY_CODES == len(set(codes))
    assert all(totp.recovery_key(c) is not None for c in codes)


async def test_a_code_is_refused_the_second_time_and_an_older_one_after_a_newer(box):
    clock = Clock()
    user, two_factor, secret, _ = await _enrolled(box, clock)
    # The enrolling code's step is used already.
    assert not await two_factor.verify(user.id, phone(secret, T0))
    clock.now = T0 + 60
    code = phone(secret, clock.now)
    assert await two_factor.verify(user.id, code)
    assert not await two_factor.verify(user.id, code)  # the same code, same window
    clock.now += 29  # still inside its window: refused all the same
    assert not await two_factor.verify(user.id, code)
    # The phone runs a step ahead: its code is accepted; then the box's own step's is
    # older than one used, so it is refused.
    clock.now = T0 + 120
    assert await two_factor.verify(user.id, phone(secret, T0 + 150))
    assert not await two_factor.verify(user.id, phone(secret, T0 + 120))


async def test_clock_drift_of_one_step_either_way_is_accepted_two_is_not(box):
    clock = Clock()
    user, two_factor, secret, _ = await _enrolled(box, clock)
    clock.now = T0 + 300
    assert await two_factor.verify(user.id, phone(secret, clock.now - 30))  # phone behind
    clock.now = T0 + 600
    assert await two_factor.verify(user.id, phone(secret, clock.now + 30))  # phone ahead
    clock.now = T0 + 900
    behind = phone(secret, clock.now - 60)
    near = {phone(secret, clock.now + 30 * d) for d in (-1, 0, 1)}
    if behind not in near:
        assert not await two_factor.verify(user.id, behind)


async def test_recovery_codes_work_once_each_and_are_stored_hashed(box):
    clock = Clock()
    user, two_factor, _, codes = await _enrolled(box, clock)
    rows = await box.db.fetchall(
        "SELECT code_hash FROM recovery_codes WHERE user_id = ?", (user.id,)
    )
    assert len(rows) == 10
    assert all(r[0].startswith("$argon2id$") for r in rows)
    stored = " ".join(r[0] for r in rows)
    assert not any(c.replace("-", "") in stored for c in codes)

    first, second = codes[0], codes[1]
    # Checked without spending (the login after a wrong password): still good after.
    assert not await two_factor.verify(user.id, first, use=False)
    assert await two_factor.verify(user.id, first.upper().replace("-", " "))  # as typed
    assert not await two_factor.verify(user.id, first)  # used
    assert await two_factor.recovery_left(user.id) == 9
    # Two logins racing with the same code: one wins.
    results = await asyncio.gather(
        two_factor.verify(user.id, second), two_factor.verify(user.id, second)
    )
    assert sorted(results) == [False, True]
    assert await two_factor.recovery_left(user.id) == 8
    assert not await two_factor.verify(user.id, "aaaaa-aaaaa")


async def test_new_recovery_codes_replace_the_old_ones(box):
    clock = Clock()
    user, two_factor, secret, old = await _enrolled(box, clock)
    clock.now += 30
    with pytest.raises(WrongCode):
        await two_factor.new_recovery_codes(user.id, old[0])  # needs the app's code
    new = await two_factor.new_recovery_codes(user.id, phone(secret, clock.now))
    assert set(new).isdisjoint(old)
    assert not await two_factor.verify(user.id, old[1])
    assert await two_factor.verify(user.id, new[0])


async def test_turning_off_needs_a_code_and_is_refused_to_a_role_that_must_use_it(box):
    clock = Clock()
    user, two_factor, secret, codes = await _enrolled(box, clock, role="supervisor")
    await two_factor.set_required_roles(["supervisor"])
    assert await two_factor.required_roles() == ["supervisor"]
    with pytest.raises(TwoFactorRequired):
        await two_factor.turn_off(user, codes[0])
    await two_factor.set_required_roles([])
    with pytest.raises(WrongCode):
        await two_factor.turn_off(user, not_a_code(secret, clock.now))
    await two_factor.turn_off(user, codes[0])
    assert not await two_factor.is_on(user.id)
    assert await two_factor.recovery_left(user.id) == 0


async def test_an_admin_reset_forgets_the_secret_and_the_codes(box):
    clock = Clock()
    user, two_factor, secret, codes = await _enrolled(box, clock)
    assert await two_factor.reset(user.id) is True
    assert not await two_factor.is_on(user.id)
    assert await box.db.read(lambda conn: store.state(conn, user.id)) is None
    assert await two_factor.recovery_left(user.id) == 0
    clock.now += 30
    assert not await two_factor.verify(user.id, phone(secret, clock.now))
    assert not await two_factor.verify(user.id, codes[0])
    assert await two_factor.reset(user.id) is False


async def test_required_roles_are_checked(box):
    two_factor = TwoFactor(box.db)
    assert await two_factor.set_required_roles(["agent", "admin", "agent"]) == ["admin", "agent"]
    with pytest.raises(InvalidInput, match="roles must be among"):
        await two_factor.set_required_roles(["root"])
    assert await two_factor.required_roles() == ["admin", "agent"]
