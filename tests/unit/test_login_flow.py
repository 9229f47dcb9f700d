"""The login's steps (core/login.py) on a real SQLite: a code after the password that
does not tell whether the password was right, a temporary password replaced, enrolment
when the role requires it, tickets that expire and stay bounded."""

from __future__ import annotations

import time

import pyotp
import pytest

from appliance.core import login as login_module
from appliance.core.accounts import AccountError
from appliance.core.login import Login, LoginRefused
from appliance.core.throttle import LoginThrottle
from appliance.core.two_factor import WrongCode
from tests.conftest import PASSWORD

ADDRESS = "10.0.0.8"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def flow(box, clock=time.monotonic) -> Login:  # type: ignore[no-untyped-def]
    throttle = LoginThrottle(50, 300, base=0.001, cap=0.004)
    return Login(box.accounts, box.two_factor, throttle, clock=clock)


async def enrolled(box, name: str) -> tuple[int, str, list[str]]:  # type: ignore[no-untyped-def]
    user = await box.accounts.create_user(name, PASSWORD, "agent")
    enrolment = await box.two_factor.start(user)
    codes = await box.two_factor.confirm(user.id, pyotp.TOTP(enrolment.secret).now())
    return user.id, enrolment.secret, codes


def next_code(secret: str) -> str:
    """The code of the next step (accepted as drift): the enrolling code's step is spent."""
    return pyotp.TOTP(secret).at(int(time.time()) + 30)


async def test_without_two_factor_a_right_password_is_the_whole_login(box):
    login = flow(box)
    await box.accounts.create_user("lina", PASSWORD, "agent")
    step = await login.password("LINA", PASSWORD, ADDRESS)  # names are case-blind
    assert step is not None and step.stage == "done"
    assert step.user is not None and step.user.username == "lina"
    assert await login.password("lina", "wrong password", ADDRESS) is None
    assert await login.password("nobody", "wrong password", ADDRESS) is None
    assert len(login) == 0


async def test_the_code_step_comes_whether_the_password_was_right_or_not(box):
    login = flow(box)
    _, secret, _ = await enrolled(box, "lina")
    right = await login.password("lina", PASSWORD, ADDRESS)
    wrong = await login.password("lina", "not her password", ADDRESS)
    assert right is not None and wrong is not None
    assert right.stage == wrong.stage == "code"
    assert right.user is None and wrong.user is None
    assert right.ticket != wrong.ticket

    # The right code after the wrong password: refused, and the code is not spent.
    code = next_code(secret)
    with pytest.raises(LoginRefused) as refused_wrong:
        await login.code(wrong.ticket, code, ADDRESS)
    # A wrong code after the right password: refused the same way.
    with pytest.raises(LoginRefused) as refused_right:
        await login.code(right.ticket, "000000" if code != "000000" else "111111", ADDRESS)
    assert refused_wrong.value.again and refused_right.value.again

    done = await login.code(right.ticket, code, ADDRESS)
    assert done.stage == "done" and done.user is not None and done.user.username == "lina"
    with pytest.raises(LoginRefused):  # the ticket is used up
        await login.code(right.ticket, code, ADDRESS)


async def test_a_recovery_code_logs_in_once(box):
    login = flow(box)
    _, _, codes = await enrolled(box, "lina")
    first = await login.password("lina", PASSWORD, ADDRESS)
    assert first is not None
    assert (await login.code(first.ticket, codes[3], ADDRESS)).stage == "done"
    again = await login.password("lina", PASSWORD, ADDRESS)
    assert again is not None
    with pytest.raises(LoginRefused):
        await login.code(again.ticket, codes[3], ADDRESS)


async def test_too_many_codes_on_one_ticket_mean_the_password_again(box):
    login = flow(box)
    await enrolled(box, "lina")
    step = await login.password("lina", PASSWORD, ADDRESS)
    assert step is not None
    for _ in range(login_module.CODE_TRIES - 1):
        with pytest.raises(LoginRefused) as err:
            await login.code(step.ticket, "abcde-fghjk", ADDRESS)
        assert err.value.again
    with pytest.raises(LoginRefused) as err:
        await login.code(step.ticket, "abcde-fghjk", ADDRESS)
    assert not err.value.again
    assert login.stage(step.ticket) is None


async def test_a_temporary_password_is_replaced_before_the_console(box):
    login = flow(box)
    user, temporary = await box.user_admin.add("lina", "agent", "Lina")
    step = await login.password("lina", temporary, ADDRESS)
    assert step is not None and step.stage == "password" and step.user is None
    with pytest.raises(AccountError):
        await login.new_password(step.ticket, "new password 1", "new password 2")
    with pytest.raises(AccountError):
        await login.new_password(step.ticket, temporary, temporary)
    with pytest.raises(AccountError):
        await login.new_password(step.ticket, "short", "short")
    done = await login.new_password(step.ticket, "her own password", "her own password")
    assert done.stage == "done" and done.user is not None and done.user.id == user.id
    assert await login.password("lina", temporary, ADDRESS) is None
    after = await login.password("lina", "her own password", ADDRESS)
    assert after is not None and after.stage == "done"


async def test_a_role_that_must_use_a_code_enrols_at_login(box):
    login = flow(box)
    user = await box.accounts.create_user("sam", PASSWORD, "supervisor")
    await box.two_factor.set_required_roles(["supervisor"])
    step = await login.password("sam", PASSWORD, ADDRESS)
    assert step is not None and step.stage == "enrol" and step.enrolment is not None
    secret = step.enrolment.secret
    assert not await box.two_factor.is_on(user.id)
    shown_again = await login.show(step.ticket)  # the page again: the same secret
    assert shown_again.enrolment is not None and shown_again.enrolment.secret == secret
    with pytest.raises(WrongCode):
        await login.confirm(step.ticket, "12", ADDRESS)
    codes = await login.confirm(step.ticket, pyotp.TOTP(secret).now(), ADDRESS)
    assert codes.stage == "codes" and len(codes.codes) == 10
    assert await box.two_factor.is_on(user.id)
    done = await login.finish(step.ticket)
    assert done.stage == "done" and done.user is not None and done.user.id == user.id
    # Next time: the code step, as for anyone enrolled.
    again = await login.password("sam", PASSWORD, ADDRESS)
    assert again is not None and again.stage == "code"


async def test_a_wrong_password_never_reaches_enrolment_or_a_new_password(box):
    login = flow(box)
    await box.accounts.create_user("sam", PASSWORD, "supervisor")
    await box.two_factor.set_required_roles(["supervisor"])
    assert await login.password("sam", "wrong password", ADDRESS) is None


async def test_tickets_expire_and_stay_bounded(box, monkeypatch):
    clock = Clock()
    login = flow(box, clock)
    await enrolled(box, "lina")
    step = await login.password("lina", PASSWORD, ADDRESS)
    assert step is not None and login.stage(step.ticket) == "code"
    clock.now += login_module.TICKET_TTL + 1
    assert login.stage(step.ticket) is None
    with pytest.raises(LoginRefused) as err:
        await login.code(step.ticket, "123456", ADDRESS)
    assert not err.value.again

    monkeypatch.setattr(login_module, "MAX_TICKETS", 3)
    tickets = []
    for _ in range(6):
        step = await login.password("lina", "any password", ADDRESS)
        assert step is not None
        tickets.append(step.ticket)
    assert len(login) == 3
    assert [login.stage(t) for t in tickets] == [None, None, None, "code", "code", "code"]
