"""What a ticket page counts down from: each SLA clock's remaining business time, the
time to its warning, and whether it ticks now (it runs and its calendar is open)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from appliance.core.sla import Clock
from appliance.webui.wire.sla import clock_out
from tests.conftest import Agent

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def test_clocks_carry_their_countdown(make_agent: Callable[..., Awaitable[Agent]]) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    # Open one minute a week on a day that is not today: closed now, so it does not tick.
    other_day = _DAYS[(datetime.now().astimezone().weekday() + 3) % 7]
    await boss.post(
        "/api/console/sla-policies",
        {
            "name": "夜班",
            "conditions": {"priorities": ["low"]},
            "targets": {"first_response": 10},
            "hours": {other_day: [["09:00", "09:01"]]},
        },
        status=201,
    )
    await boss.post(
        "/api/console/sla-policies",
        {"name": "全部", "targets": {"first_response": 10}, "warn_share": 0.5},
        status=201,
    )

    async def first_response(subject: str, priority: str) -> dict[str, object]:
        made = await boss.post(
            "/api/console/tickets", {"subject": subject, "priority": priority}, status=201
        )
        clocks = await boss.get(f"/api/console/tickets/{made['ticket']['id']}/sla")
        clock: dict[str, object] = next(
            c for c in clocks["clocks"] if c["metric"] == "first_response"
        )
        return clock

    running = await first_response("正常", "normal")
    assert running["ticking"] is True
    assert isinstance(running["remaining_seconds"], int)
    assert 590 <= running["remaining_seconds"] <= 600
    assert isinstance(running["warn_in_seconds"], int)
    assert 290 <= running["warn_in_seconds"] <= 300
    closed = await first_response("夜里", "low")
    assert closed["ticking"] is False and closed["remaining_seconds"] == 600
    # The resolution clock has no target here: nothing to count down.
    made = await boss.post("/api/console/tickets", {"subject": "无"}, status=201)
    clocks = (await boss.get(f"/api/console/tickets/{made['ticket']['id']}/sla"))["clocks"]
    resolution = next(c for c in clocks if c["metric"] == "resolution")
    assert resolution["remaining_seconds"] is None and resolution["warn_in_seconds"] is None


def test_a_clock_past_its_target_counts_up_and_a_warned_one_has_no_warning_left() -> None:
    clock = Clock(
        ticket_id=1,
        metric="first_response",
        policy_id=1,
        target=60_000,
        used=0,
        running_since=1_000,
        started_at=1_000,
        due_at=61_000,
        warn_at=31_000,
        warned_at=31_000,
        breached_at=61_000,
    )
    late = clock_out(clock, 95_500, now=96_500, ticking=True)
    assert late.remaining_seconds == -36 and late.warn_in_seconds is None and late.ticking
    fresh = clock_out(replace(clock, warned_at=None), 10_000, 11_000)
    assert fresh.remaining_seconds == 50 and fresh.warn_in_seconds == 20
    assert clock_out(clock, 10_000).remaining_seconds is None  # no moment, no countdown
