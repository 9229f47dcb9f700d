"""SLA clocks of the service desk, as pure rules: how a ticket's events move its clocks
and which warnings, breaches and escalation levels have come due.

Each ticket has a clock per metric, counting business time (`core/businesstime.py`)
on the calendar of the policy in force (always open while none applies, with no
target, so nothing fires):

- first_response runs from creation until the first public reply by an agent;
- next_response starts when the customer replies after an agent has replied once and
  no agent reply has answered them yet; the next agent reply fulfils it, and the
  customer's next reply starts a new cycle (its firings anew);
- resolution runs from creation until the ticket is resolved; a reopen resumes it with
  the time used kept.

A clock runs only while the ticket is new or open: pending (waiting on the customer)
and resolved pause it, and leaving them resumes it; closed and merged stop every clock.
At each event the time run so far is banked on the calendar it ran on, so a new policy
(the ticket's fields changed, or the policy was edited) retargets a clock and keeps
the business time already used. A firing (warning at the policy's warn_share of the
target, breach at the deadline, each level at the deadline plus its offset) comes due
only while its clock runs, and is marked in the clock when taken, so it happens once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from appliance.core.businesstime import Calendar, NeverOpen, minutes
from appliance.core.sla_policy import METRICS, Level, Metric, Policy
from appliance.core.ticketflow import FINAL, By, Event, State, Ticket

SlaKind = Literal["started", "paused", "resumed", "fulfilled", "retargeted", "stopped"]
FiringKind = Literal["warning", "breach", "level"]

_RUNNING_STATES = frozenset({State.NEW, State.OPEN})
_FROM_CREATION: tuple[Metric, ...] = ("first_response", "resolution")


@dataclass(frozen=True, slots=True)
class Clock:
    """One metric's clock on one ticket (UTC ms; amounts in business ms)."""

    ticket_id: int
    metric: Metric
    policy_id: int | None
    target: int | None  # None: no target, nothing fires
    used: int  # business time used up to running_since (or in all, while stopped)
    running_since: int | None
    started_at: int  # this cycle's start
    due_at: int | None = None  # the deadline, while it runs
    warn_at: int | None = None
    next_at: int | None = None  # the earliest firing not taken yet, while it runs
    warned_at: int | None = None
    breached_at: int | None = None
    fulfilled_at: int | None = None
    stopped_at: int | None = None
    levels_fired: frozenset[str] = frozenset()  # Level.key of each level taken

    @property
    def live(self) -> bool:
        """Tell whether it still measures: neither fulfilled nor stopped."""
        return self.fulfilled_at is None and self.stopped_at is None

    def used_at(self, calendar: Calendar, at: int) -> int:
        """Business time used by `at` on the calendar it runs on."""
        if self.running_since is None:
            return self.used
        return self.used + calendar.elapsed(self.running_since, at)

    @property
    def late(self) -> bool:
        """Tell whether more than the target has been used (as of the last change)."""
        return self.target is not None and self.used > self.target


@dataclass(frozen=True, slots=True)
class SlaEvent:
    """A change of a clock that an event caused, for the ticket's history."""

    ticket_id: int
    metric: Metric
    kind: SlaKind
    at: int
    policy_id: int | None
    target: int | None
    used: int  # business ms used by `at`
    due_at: int | None  # the deadline after the change (None unless it runs)
    late: bool  # more than the target used (of interest when fulfilled)


@dataclass(frozen=True, slots=True)
class Firing:
    """A warning, breach or escalation level that came due; `at` is when it did."""

    ticket_id: int
    metric: Metric
    kind: FiringKind
    at: int
    policy_id: int | None
    due_at: int | None
    level: Level | None = None  # for kind "level": the action to take


def new_clock(ticket_id: int, metric: Metric, at: int) -> Clock:
    """A clock that starts (running) at `at`, before any policy is applied."""
    return Clock(ticket_id, metric, None, None, 0, at, at)


def _marks(clock: Clock, policy: Policy | None) -> list[tuple[FiringKind, int, Level | None]]:
    """Each firing not taken yet, with the business time used at which it is due."""
    if clock.target is None or policy is None or policy.id != clock.policy_id:
        return []
    target = clock.target
    marks: list[tuple[FiringKind, int, Level | None]] = []
    if clock.warned_at is None:
        marks.append(("warning", round(target * policy.warn_share), None))
    if clock.breached_at is None:
        marks.append(("breach", target, None))
    for level in policy.levels:
        if level.metric == clock.metric and level.key not in clock.levels_fired:
            marks.append(("level", target + minutes(level.offset), level))
    return marks


def _instants(clock: Clock, calendar: Calendar, marks: list[int]) -> dict[int, int | None]:
    """When each amount of business time (ms) will have been used if the clock keeps
    running; None for all while it does not run, or past a calendar that never opens."""
    out: dict[int, int | None] = dict.fromkeys(marks)
    if clock.running_since is None or not clock.live:
        return out
    at, done = clock.running_since, clock.used
    for mark in sorted(out):
        try:  # each step goes on from the last: add(s, a + b) == add(add(s, a), b)
            at = calendar.add(at, max(0, mark - done))
        except NeverOpen:  # no opening time in three years: no deadline to keep
            break
        out[mark], done = at, max(done, mark)
    return out


def planned(clock: Clock, policy: Policy | None, calendar: Calendar) -> Clock:
    """Return the clock with its deadline, warning time and next firing worked out."""
    target = clock.target
    if target is None or policy is None or clock.running_since is None or not clock.live:
        return replace(clock, due_at=None, warn_at=None, next_at=None)
    warn = round(target * policy.warn_share)
    pending = [mark for _, mark, _ in _marks(clock, policy)]
    times = _instants(clock, calendar, [target, warn, *pending])
    return replace(
        clock,
        due_at=times[target],
        warn_at=times[warn],
        next_at=min((t for m in pending if (t := times[m]) is not None), default=None),
    )


def _bank(clock: Clock, calendar: Calendar, at: int) -> Clock:
    """Add what ran on `calendar` up to `at` to the time used; it runs on from `at`."""
    if clock.running_since is None:
        return clock
    since = clock.running_since
    at = max(at, since)
    return replace(clock, used=clock.used + calendar.elapsed(since, at), running_since=at)


def _retarget(clock: Clock, policy: Policy | None) -> Clock:
    """Measure a live clock against `policy`; a fulfilled or stopped one keeps its own."""
    if not clock.live:
        return clock
    target = None if policy is None else policy.target(clock.metric)
    return replace(clock, policy_id=None if policy is None else policy.id, target=target)


def rebase(
    clock: Clock, policy: Policy | None, previous: Calendar, calendar: Calendar, at: int
) -> Clock:
    """Bank what ran on `previous` up to `at`, then go on against `policy` on `calendar`
    (the policy was edited, disabled or deleted)."""
    return planned(_retarget(_bank(clock, previous, at), policy), policy, calendar)


def _on_event(clocks: dict[Metric, Clock], after: Ticket, event: Event) -> None:
    """Start, fulfil, reopen or stop clocks as the event says (in place)."""
    at = event.at
    if event.kind == "created":
        for metric in _FROM_CREATION:
            clocks.setdefault(metric, new_clock(after.id, metric, at))
    elif event.kind == "reply" and event.by == By.AGENT:
        for metric in ("first_response", "next_response"):
            clock = clocks.get(metric)
            if clock is not None and clock.live:
                clocks[metric] = replace(clock, fulfilled_at=at, running_since=None)
    elif event.kind == "reply" and event.by == By.CUSTOMER:
        waiting = clocks.get("next_response")
        answered = waiting is None or waiting.fulfilled_at is not None
        if after.first_reply_at is not None and answered and after.state not in FINAL:
            clocks["next_response"] = new_clock(after.id, "next_response", at)
    resolution = clocks.get("resolution")
    if resolution is not None and resolution.stopped_at is None:
        if after.state == State.RESOLVED and resolution.fulfilled_at is None:
            clocks["resolution"] = replace(resolution, fulfilled_at=at, running_since=None)
        elif after.state != State.RESOLVED and after.state not in FINAL:
            clocks["resolution"] = replace(resolution, fulfilled_at=None)  # reopened
    if after.state in FINAL:
        for metric, clock in clocks.items():
            if clock.stopped_at is None:
                clocks[metric] = replace(clock, stopped_at=at, running_since=None)


def _report(old: Clock | None, new: Clock) -> list[SlaKind]:
    """What happened to one clock, in the order it happened."""
    if old is None or (new.metric == "next_response" and old.fulfilled_at is not None and new.live):
        return ["started"]
    kinds: list[SlaKind] = []
    if old.live and new.live and (old.policy_id, old.target) != (new.policy_id, new.target):
        kinds.append("retargeted")
    if old.live and new.fulfilled_at is not None:
        kinds.append("fulfilled")
    elif old.live and new.stopped_at is not None:
        kinds.append("stopped")
    elif old.running_since is not None and new.running_since is None:
        kinds.append("paused")
    elif new.running_since is not None and (old.running_since is None or not old.live):
        kinds.append("resumed")
    return kinds


def advance(
    clocks: Mapping[Metric, Clock],
    after: Ticket,
    event: Event,
    policy: Policy | None,
    calendar: Calendar,
    previous: Calendar,
) -> tuple[dict[Metric, Clock], list[SlaEvent]]:
    """Move a ticket's clocks by one of its events (`after`: the ticket with it applied).

    `policy` is the one that applies to `after` (None: none) and `calendar` its calendar;
    `previous` is the calendar the clocks ran on until now."""
    at = event.at
    out = {metric: _bank(clock, previous, at) for metric, clock in clocks.items()}
    _on_event(out, after, event)
    runs = after.state in _RUNNING_STATES
    for metric, clock in out.items():
        if not (clock.live and runs):
            clock = replace(clock, running_since=None)
        elif clock.running_since is None:
            clock = replace(clock, running_since=at)
        out[metric] = planned(_retarget(clock, policy), policy, calendar)
    events = [
        SlaEvent(
            after.id,
            metric,
            kind,
            at,
            moved.policy_id,
            moved.target,
            moved.used,
            moved.due_at,
            moved.late,
        )
        for metric in METRICS
        if (moved := out.get(metric)) is not None
        for kind in _report(clocks.get(metric), moved)
    ]
    return out, events


def due(
    clock: Clock, policy: Policy | None, calendar: Calendar, now: int
) -> tuple[Clock, list[Firing]]:
    """Take the firings of a clock that have come due by `now`, in the order they did.

    Returns the clock with them marked (so they never fire again) and planned anew."""
    marks = _marks(clock, policy)
    times = _instants(clock, calendar, [mark for _, mark, _ in marks])
    firings = [
        Firing(clock.ticket_id, clock.metric, kind, at, clock.policy_id, clock.due_at, level)
        for kind, mark, level in marks
        if (at := times[mark]) is not None and at <= now
    ]
    if not firings:
        return planned(clock, policy, calendar), []
    firings.sort(key=lambda f: f.at)
    taken = {f.kind: f.at for f in firings if f.kind != "level"}
    levels = {f.level.key for f in firings if f.level is not None}
    marked = replace(
        clock,
        warned_at=taken.get("warning", clock.warned_at),
        breached_at=taken.get("breach", clock.breached_at),
        levels_fired=clock.levels_fired | levels,
    )
    return planned(marked, policy, calendar), firings
