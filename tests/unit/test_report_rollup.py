"""Rollups: folding in any batches equals folding at once equals a from-scratch count."""

from __future__ import annotations

import contextlib
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance import cli
from appliance.core.report_rollup import ReportEvent, fold, presence_spans
from appliance.core.store import reports as report_store
from tests.conftest import make_settings

ZONE = ZoneInfo("Asia/Shanghai")
_START = 1_772_000_000_000  # 2026-02-25, UTC ms
_KINDS = (
    "chat_offered",
    "chat_answered",
    "chat_abandoned",
    "rating",
    "ticket_backlog",
    "presence",
    "chat_held",
    "chat_load",
    "kb_session",
    "kb_chatted",
)

events_st = st.lists(
    st.tuples(
        st.integers(0, 5 * 86_400_000),  # within five days
        st.sampled_from(_KINDS),
        st.one_of(st.none(), st.integers(1, 3)),
        st.integers(0, 600_000),
        st.sampled_from(("online", "away", "offline")),
    ),
    max_size=60,
)


def _events(raw: list[tuple[int, str, int | None, int, str]]) -> list[ReportEvent]:
    found = []
    for i, (offset, kind, agent, value, status) in enumerate(raw, start=1):
        if kind == "presence":
            agent = agent or 1
        if kind == "rating":
            value = 1 + value % 5
        if kind == "ticket_backlog":
            value = 1 if value % 2 else -1
        if kind == "chat_held":
            value *= 150  # up to 25 h: across one midnight or two
        if kind == "chat_load":
            value = 1 + value % 25  # above MAX_LOAD too
        site = f"s{value % 2}" if kind.startswith("kb_") else ""
        found.append(
            ReportEvent(
                i,
                _START + offset,
                kind,
                agent,
                None,
                "",
                "kb" if kind.startswith("kb_") else "chat",
                site,
                f"r{i}",
                value,
                status if kind == "presence" else "",
            )
        )
    # Presence events come in time order per agent, as a clock gives them.
    presence = sorted((e for e in found if e.kind == "presence"), key=lambda e: e.at)
    others = [e for e in found if e.kind != "presence"]
    return [
        ReportEvent(i, *(getattr(e, f) for f in ReportEvent.__slots__[1:]))  # type: ignore[attr-defined]
        for i, e in enumerate(others + presence, start=1)
    ]


def _previous_in(events: list[ReportEvent]):  # type: ignore[no-untyped-def]
    def previous(event: ReportEvent) -> ReportEvent | None:
        before = [
            e
            for e in events
            if e.kind == "presence" and e.agent_id == event.agent_id and e.id < event.id
        ]
        return before[-1] if before else None

    return previous


def _day(at: int) -> str:
    return datetime.fromtimestamp(at / 1000, tz=UTC).astimezone(ZONE).date().isoformat()


@settings(max_examples=60, deadline=None)
@given(events_st, st.lists(st.integers(1, 10), min_size=1, max_size=8))
def test_batches_fold_to_the_same_sums_as_a_scratch_count(raw, cuts) -> None:  # type: ignore[no-untyped-def]
    events = _events(raw)
    previous = _previous_in(events)
    at_once = fold(events, ZONE, previous)
    batched: dict = {}
    i = 0
    for cut in cuts * 20:
        fold(events[i : i + cut], ZONE, previous, batched)
        i += cut
        if i >= len(events):
            break
    fold(events[i:], ZONE, previous, batched)
    assert {k: v for k, v in batched.items() if v != [0, 0]} == {
        k: v for k, v in at_once.items() if v != [0, 0]
    }
    # From scratch, without the rollup code: per local day and agent.
    scratch: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for e in events:
        keys = [("all", "")] + ([("agent", str(e.agent_id))] if e.agent_id is not None else [])
        for dim, key in keys:
            day = _day(e.at)
            if e.kind == "chat_offered":
                scratch[(dim, key, "offered", day)][0] += 1  # type: ignore[index]
            elif e.kind == "chat_answered":
                cell = scratch[(dim, key, "first_response", day)]  # type: ignore[index]
                cell[0] += 1
                cell[1] += e.value or 0
            elif e.kind == "rating":
                cell = scratch[(dim, key, "rating", day)]  # type: ignore[index]
                cell[0] += 1
                cell[1] += e.value or 0
            elif e.kind == "ticket_backlog":
                scratch[(dim, key, "backlog", day)][1] += e.value or 0  # type: ignore[index]
    for (dim, key, metric, day), want in scratch.items():  # type: ignore[misc]
        got = at_once.get(("d", day, dim, key, metric), [0, 0])
        assert got == want, (dim, key, metric, day)
    # New figures from scratch: time held per agent over the whole stream (whatever
    # the midnights), chats given per load level, self-service per local day and site.
    held: dict[str, int] = defaultdict(int)
    loads: dict[tuple[str, str], int] = defaultdict(int)
    kb: dict[tuple[str, str, str], int] = defaultdict(int)
    for e in events:
        agent_keys = [""] + ([str(e.agent_id)] if e.agent_id is not None else [])
        if e.kind == "chat_held":
            for key in agent_keys:
                held[key] += e.value or 0
        elif e.kind == "chat_load":
            for key in agent_keys:
                loads[(key, f"load_h:{min(e.value or 1, 20)}")] += 1
        elif e.kind.startswith("kb_"):
            metric = "kb_sessions" if e.kind == "kb_session" else "kb_chatted"
            for dim_key in ("", e.site):
                kb[(dim_key, metric, _day(e.at))] += 1
    for key, want_ms in held.items():
        dim = "all" if key == "" else "agent"
        got_ms = sum(
            v[1]
            for k, v in at_once.items()
            if k[0] == "d" and k[2] == dim and k[3] == key and k[4] == "held_ms"
        )
        assert got_ms == want_ms, key
    for (key, metric), want_n in loads.items():
        dim = "all" if key == "" else "agent"
        got_n = sum(
            v[0]
            for k, v in at_once.items()
            if k[0] == "m" and k[2] == dim and k[3] == key and k[4] == metric
        )
        assert got_n == want_n, (key, metric)
    for (key, metric, day), want_n in kb.items():
        dim = "all" if key == "" else "site"
        assert at_once.get(("d", day, dim, key, metric), [0, 0])[0] == want_n
    assert not any(k[2] in ("channel", "topic") for k in at_once if "kb_" in k[4])
    # Presence time adds up to the time between changes, whatever the midnights.
    online = sum(
        v[1] for k, v in at_once.items() if k[0] == "d" and k[2] == "all" and k[4] == "online_ms"
    )
    want_online = 0
    for e in events:
        if e.kind == "presence":
            before = previous(e)
            if before is not None and before.detail == "online":
                want_online += e.at - before.at
    assert online == want_online


def test_presence_spans_split_at_local_midnight() -> None:
    start = int(datetime(2026, 3, 2, 22, 0, tzinfo=ZONE).timestamp() * 1000)
    end = int(datetime(2026, 3, 3, 1, 30, tzinfo=ZONE).timestamp() * 1000)
    assert [length for _, length in presence_spans(start, end, ZONE)] == [7_200_000, 5_400_000]


def test_backfill_command_rebuilds_and_reports_progress(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = make_settings(tmp_path / "data")
    assert cli.main(["--data", str(config.data_dir), "reports-backfill"]) == 0  # migrates
    with contextlib.closing(sqlite3.connect(config.db_path)) as conn, conn:
        for i in range(5):
            event = ReportEvent(
                0, _START + i, "chat_offered", None, 1, "", "chat", "", "", None, ""
            )
            report_store.add_event(conn, event)
    capsys.readouterr()
    assert cli.main(["--data", str(config.data_dir), "reports-backfill"]) == 0
    out = capsys.readouterr()
    assert "5/5 events (100%)" in out.err
    assert "rollups rebuilt from 5 events" in out.out
    with contextlib.closing(sqlite3.connect(config.db_path)) as conn:
        rows = report_store.rollup_rows(conn)
    assert ("d", "2026-02-25", "all", "", "offered", 5, 0) in rows
