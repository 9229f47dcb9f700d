"""A ticket's states and history: the move rules, and replay of random histories."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.errors import Conflict, Forbidden, InvalidInput
from appliance.core.ticketflow import (
    FINAL,
    By,
    Event,
    State,
    Ticket,
    apply,
    check_move,
    moves,
    replay,
)


def test_the_paths_a_ticket_takes() -> None:
    check_move(State.NEW, State.OPEN, By.AGENT)
    check_move(State.OPEN, State.PENDING, By.AGENT)
    check_move(State.PENDING, State.OPEN, By.CUSTOMER)  # the customer answered
    check_move(State.OPEN, State.RESOLVED, By.AGENT)
    check_move(State.RESOLVED, State.OPEN, By.CUSTOMER)  # "it is not fixed"
    check_move(State.RESOLVED, State.CLOSED, By.CUSTOMER)  # confirmed
    check_move(State.RESOLVED, State.CLOSED, By.SYSTEM)  # confirmed after N days
    check_move(State.PENDING, State.MERGED, By.AGENT)


@pytest.mark.parametrize(
    ("current", "target", "by", "error"),
    [
        (State.OPEN, State.CLOSED, By.AGENT, Conflict),  # resolve first, then confirm
        (State.RESOLVED, State.CLOSED, By.AGENT, Forbidden),  # only the customer or time
        (State.OPEN, State.RESOLVED, By.CUSTOMER, Forbidden),
        (State.OPEN, State.PENDING, By.SYSTEM, Forbidden),
        (State.CLOSED, State.OPEN, By.CUSTOMER, Conflict),  # a new ticket instead
        (State.MERGED, State.OPEN, By.AGENT, Conflict),
        (State.OPEN, State.OPEN, By.AGENT, Conflict),
        (State.PENDING, State.NEW, By.AGENT, Conflict),
    ],
)
def test_moves_the_rules_refuse(current: State, target: State, by: By, error: type) -> None:
    with pytest.raises(error):
        check_move(current, target, by)


def test_buttons_follow_the_rules() -> None:
    assert moves(State.OPEN, By.AGENT) == [State.PENDING, State.RESOLVED, State.MERGED]
    assert moves(State.RESOLVED, By.CUSTOMER) == [State.OPEN, State.CLOSED]
    for state in FINAL:
        assert all(moves(state, by) == [] for by in By)


def _created(at: int = 1000) -> Event:
    return Event(7, 1, at, By.AGENT, "3", "created", {"subject": "宽带断线", "number": "T1"})


def test_history_must_start_with_creation_and_stay_in_order() -> None:
    with pytest.raises(InvalidInput):
        apply(None, Event(7, 1, 1, By.AGENT, "3", "note"))
    ticket = apply(None, _created())
    assert ticket.state == State.NEW and ticket.fields["subject"] == "宽带断线"
    with pytest.raises(InvalidInput):
        apply(ticket, Event(7, 3, 2, By.AGENT, "3", "note"))  # a gap
    with pytest.raises(InvalidInput):
        apply(ticket, Event(7, 2, 2, By.AGENT, "3", "changed", {"number": "T2"}))
    with pytest.raises(InvalidInput):
        apply(ticket, Event(7, 2, 2, By.AGENT, "3", "changed", {"colour": "red"}))


_ATTEMPTS = st.one_of(
    st.tuples(st.just("state"), st.sampled_from(list(State)), st.sampled_from(list(By))),
    st.tuples(st.just("reply"), st.none(), st.sampled_from([By.AGENT, By.CUSTOMER])),
    st.tuples(st.just("note"), st.none(), st.just(By.AGENT)),
    st.tuples(st.just("changed"), st.sampled_from(["low", "high", "urgent"]), st.just(By.AGENT)),
    st.tuples(st.just("merged"), st.integers(1, 5), st.sampled_from(list(By))),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ATTEMPTS, max_size=40), st.lists(st.integers(0, 10**6), min_size=40))
def test_a_random_history_replays_to_the_ticket_it_built(
    attempts: list[tuple[str, object, By]], gaps: list[int]
) -> None:
    # The service tries changes in turn; a refused one writes nothing. The history it
    # keeps must rebuild, event by event and in one replay, the same ticket.
    history = [_created()]
    ticket = apply(None, history[0])
    states = [ticket]
    now = 1000
    for (kind, value, by), gap in zip(attempts, gaps, strict=False):
        now += gap
        data: dict[str, object] = {}
        if kind == "state":
            data = {"to": str(value)}
        elif kind == "changed":
            data = {"priority": value}
        elif kind == "merged":
            data = {"into": value}
        event = Event(7, ticket.last_seq + 1, now, by, "x", kind, data)
        try:
            after = apply(ticket, event)
        except (Conflict, Forbidden):
            assert ticket.state in FINAL or kind in ("state", "merged")
            continue
        if ticket.state in FINAL:
            assert kind not in ("state", "merged"), "a final ticket moved"
        history.append(event)
        states.append(after)
        ticket = after
    assert replay(history) == ticket
    for n, state in enumerate(states, start=1):
        assert replay(history[:n]) == state
    # What the history says about the ticket holds whatever the path.
    assert (ticket.resolved_at is not None) == (ticket.state in (State.RESOLVED, State.CLOSED))
    assert (ticket.closed_at is not None) == (ticket.state == State.CLOSED)
    assert (ticket.merged_into is not None) == (ticket.state == State.MERGED)
    agent_replies = [e.at for e in history if e.kind == "reply" and e.by == By.AGENT]
    assert ticket.first_reply_at == (agent_replies[0] if agent_replies else None)
    assert ticket.replies == sum(e.kind == "reply" for e in history)
    assert ticket.last_seq == len(history) and ticket.updated_at == history[-1].at


def test_a_reopened_ticket_forgets_its_resolution() -> None:
    t: Ticket = apply(None, _created())
    for seq, (to, by) in enumerate(
        [(State.OPEN, By.AGENT), (State.RESOLVED, By.AGENT), (State.OPEN, By.CUSTOMER)], start=2
    ):
        t = apply(t, Event(7, seq, 1000 + seq, by, "x", "state", {"to": to}))
    assert t.state == State.OPEN and t.resolved_at is None
    t = apply(t, Event(7, 5, 2000, By.AGENT, "x", "state", {"to": "resolved"}))
    t = apply(t, Event(7, 6, 3000, By.SYSTEM, "auto-confirm", "state", {"to": "closed"}))
    assert (t.resolved_at, t.closed_at) == (2000, 3000)
