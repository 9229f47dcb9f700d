"""Reports: each figure against a small scenario computed by hand.

The scenario goes through the store functions the services call, with explicit times
(the injectable clock), so the triggers of migration 0029 write the events; the box's
zone is Asia/Shanghai (UTC+8), so local midnight is 16:00 UTC the day before.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.core import report_figures as fig
from appliance.core import reports as reports_module
from appliance.core.db import Database
from appliance.core.migrate import apply_migrations
from appliance.core.report_rollup import ReportEvent, fold
from appliance.core.reports import Reports
from appliance.core.store import conversations as conv_store
from appliance.core.store import ratings as rating_store
from appliance.core.store import reports as report_store

ZONE = ZoneInfo("Asia/Shanghai")
D1, D2 = date(2026, 3, 2), date(2026, 3, 3)  # a Monday and the Tuesday after


def t(day: date, clock: str) -> int:
    """Return UTC ms of a local time on a day ("HH:MM:SS")."""
    hh, mm, ss = (int(p) for p in clock.split(":"))
    local = datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=ZONE)
    return int(local.timestamp() * 1000)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "r.db")
    await database.open()
    yield database
    await database.close()


def _people(conn: sqlite3.Connection) -> None:
    for uid, name in ((1, "Ann"), (2, "Bo")):
        conn.execute(
            "INSERT INTO users (id, username, display_name, password_hash, role, created_at)"
            " VALUES (?, ?, ?, 'x', 'agent', 0)",
            (uid, name.lower(), name),
        )
    conn.execute("INSERT INTO topics (key, label, group_id) VALUES ('sales', 'Sales', 1)")


def _chat(conn: sqlite3.Connection, cid: str, at: int) -> None:
    conn.execute(
        "INSERT INTO visitors (id, created_at, last_seen_at) VALUES (?, ?, ?)", (f"v{cid}", at, at)
    )
    conv_store.insert(
        conn,
        cid,
        f"v{cid}",
        at,
        name="",
        page_url="",
        lang="zh-CN",
        ip="",
        group_id=1,
        topic="sales",
        region="",
        skill="",
        preferred_agent_id=None,
    )


def _chats(conn: sqlite3.Connection) -> None:
    _people(conn)
    # c1: waits 20 s for Ann, answered at 50 s, handled 600 s, rated 5.
    _chat(conn, "c1", t(D1, "10:00:00"))
    conv_store.assign(conn, "c1", 1, t(D1, "10:00:20"), answered=False)
    conv_store.set_answered(conn, "c1", t(D1, "10:00:50"))
    conv_store.close(conn, "c1", t(D1, "10:10:20"), "agent")
    rating_store.save_rating(conn, "c1", 5, "", t(D1, "10:11:00"))
    # c2: waits 40 s for Ann who lets it ring out; Bo answers at 150 s, transfers it to
    # Ann, who closes it 900 s after the first ring. Rated 2, then changed to 4.
    _chat(conn, "c2", t(D1, "10:05:00"))
    conv_store.assign(conn, "c2", 1, t(D1, "10:05:40"), answered=False)
    conv_store.requeue_missed(conn, "c2", 1, t(D1, "10:06:40"))
    conv_store.assign(conn, "c2", 2, t(D1, "10:07:00"), answered=False)
    conv_store.set_answered(conn, "c2", t(D1, "10:07:30"))
    conv_store.assign(conn, "c2", 1, t(D1, "10:09:00"), answered=True)
    conv_store.append_message(
        conn, "c2", t(D1, "10:09:00"), sender_type="system", event="transferred"
    )
    conv_store.close(conn, "c2", t(D1, "10:20:40"), "agent")
    rating_store.save_rating(conn, "c2", 2, "", t(D1, "10:21:00"))
    rating_store.save_rating(conn, "c2", 4, "", t(D1, "10:22:00"))
    # c3: abandoned in the queue after 90 s.
    _chat(conn, "c3", t(D1, "10:30:00"))
    conv_store.close(conn, "c3", t(D1, "10:31:30"), "visitor")
    # c4: offered a minute before midnight, all of it counted on D1: wait 70 s,
    # answered at 90 s, handled 300 s by Bo.
    _chat(conn, "c4", t(D1, "23:59:00"))
    conv_store.assign(conn, "c4", 2, t(D2, "00:00:10"), answered=False)
    conv_store.set_answered(conn, "c4", t(D2, "00:00:30"))
    conv_store.close(conn, "c4", t(D2, "00:05:10"), "agent")
    # c5 on D2: wait 5 s, answered at 35 s, 600 s with Ann.
    _chat(conn, "c5", t(D2, "09:00:00"))
    conv_store.assign(conn, "c5", 1, t(D2, "09:00:05"), answered=False)
    conv_store.set_answered(conn, "c5", t(D2, "09:00:35"))
    conv_store.close(conn, "c5", t(D2, "09:10:05"), "agent")


def _ticket(conn: sqlite3.Connection, tid: int, at: int) -> None:
    conn.execute(
        "INSERT INTO tickets (id, number, state, subject, channel, group_id, owner_id,"
        " created_at, updated_at, state_at, last_seq) VALUES (?, ?, 'new', 's', 'email', 1, 2,"
        " ?, ?, ?, 1)",
        (tid, f"T{tid}", at, at, at),
    )


def _state(conn: sqlite3.Connection, tid: int, state: str, at: int, replies: int = 0) -> None:
    conn.execute(
        "UPDATE tickets SET state = ?, state_at = ?, replies = ? WHERE id = ?",
        (state, at, replies, tid),
    )


def _sla(conn: sqlite3.Connection, tid: int, seq: int, metric: str, late: bool, at: int) -> None:
    data = {"metric": metric, "change": "fulfilled", "late": late}
    conn.execute(
        "INSERT INTO ticket_events (ticket_id, seq, at, by, kind, data)"
        " VALUES (?, ?, ?, 'system', 'sla', ?)",
        (tid, seq, at, json.dumps(data)),
    )


def _tickets(conn: sqlite3.Connection) -> None:
    # T1: resolved with one reply (first contact), reopened, resolved again on D2.
    _ticket(conn, 1, t(D1, "11:00:00"))
    _state(conn, 1, "open", t(D1, "11:00:00"))
    _sla(conn, 1, 1, "first_response", False, t(D1, "11:30:00"))
    _state(conn, 1, "resolved", t(D1, "12:00:00"), replies=1)
    _sla(conn, 1, 2, "resolution", False, t(D1, "12:00:00"))
    _state(conn, 1, "open", t(D1, "15:00:00"), replies=2)
    _state(conn, 1, "resolved", t(D2, "10:00:00"), replies=3)
    # T2 stays open; T3 is resolved after three replies, its first response late.
    _ticket(conn, 2, t(D1, "13:00:00"))
    _ticket(conn, 3, t(D1, "14:00:00"))
    _sla(conn, 3, 1, "first_response", True, t(D1, "15:00:00"))
    _state(conn, 3, "resolved", t(D1, "16:00:00"), replies=3)


def _presence(conn: sqlite3.Connection) -> None:
    # Ann online 09:00-12:00, away to 13:00, online to 01:00 the next day.
    for at, status in (
        (t(D1, "09:00:00"), "online"),
        (t(D1, "12:00:00"), "away"),
        (t(D1, "13:00:00"), "online"),
        (t(D2, "01:00:00"), "offline"),
    ):
        report_store.add_event(
            conn, ReportEvent(0, at, "presence", 1, None, "", "", "", "", None, status)
        )


async def _scenario(db: Database) -> Reports:
    await db.write(_chats)
    await db.write(_tickets)
    await db.write(_presence)
    reports = Reports(db, lambda: ZONE)
    await reports.roll()
    return reports


def _by(rows, **match):  # type: ignore[no-untyped-def]
    found = [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, rows)
    return found[0].values


async def test_chat_figures_per_day_with_a_chat_across_midnight(db: Database) -> None:
    reports = await _scenario(db)
    report = await reports.report("d", "all", D1, D2)
    day1, day2 = _by(report.rows, bucket="2026-03-02"), _by(report.rows, bucket="2026-03-03")
    assert day1["offered"] == 4
    assert day1["answered"] == 3
    assert day1["missed"] == 1
    assert day1["abandoned"] == 1
    assert day1["abandon_wait"] == 90.0
    assert day1["first_response"] == round((50 + 150 + 90) / 3, 1)
    assert day1["handling"] == 600.0  # (600 + 900 + 300) / 3
    assert day1["queue_wait_p50"] == 40  # waits 20, 40, 70
    assert day1["queue_wait_p90"] == 75  # 70 s falls in the 60-75 s bucket
    assert day1["transfers"] == 1
    assert (day1["rating_count"], day1["rating_mean"], day1["rating_good"]) == (2, 4.5, 100.0)
    assert day2["offered"] == 1
    assert (day2["answered"], day2["first_response"], day2["handling"]) == (1, 35.0, 600.0)
    assert day2["queue_wait_p50"] == 5
    assert day2["rating_count"] == 0 and day2["rating_mean"] is None


async def test_ticket_figures_backlog_fcr_and_sla(db: Database) -> None:
    reports = await _scenario(db)
    report = await reports.report("d", "all", D1, D2)
    day1, day2 = _by(report.rows, bucket="2026-03-02"), _by(report.rows, bucket="2026-03-03")
    assert (day1["tickets_created"], day1["tickets_resolved"], day1["tickets_reopened"]) == (
        3,
        2,
        1,
    )
    assert day1["backlog"] == 2  # T1 reopened and T2
    assert day1["fcr"] == 50.0  # T1 first resolved after one reply; T3 after three
    assert day1["sla_first_response"] == 50.0
    assert day1["sla_resolution"] == 100.0
    assert day1["sla_next_response"] is None
    assert (day2["tickets_resolved"], day2["backlog"], day2["fcr"]) == (1, 1, None)
    # A report starting on D2 carries the backlog of the days before it.
    later = await reports.report("d", "all", D2, D2)
    assert _by(later.rows, bucket="2026-03-03")["backlog"] == 1


async def test_per_agent_presence_and_occupancy(db: Database) -> None:
    reports = await _scenario(db)
    report = await reports.report("d", "agent", D1, D2)
    ann = _by(report.rows, bucket="2026-03-02", key="1")
    bo = _by(report.rows, bucket="2026-03-02", key="2")
    assert next(r.name for r in report.rows if r.key == "1") == "Ann"
    assert (ann["answered"], ann["missed"], ann["transfers"]) == (1, 1, 1)
    assert ann["handling"] == 750.0  # c1 600 s and c2 900 s
    assert (bo["answered"], bo["handling"]) == (2, 300.0)  # c2 and c4; c4 handled by Bo
    assert (ann["online_hours"], ann["away_hours"]) == (14.0, 1.0)
    assert ann["occupancy"] == round(100 * 1500 / (14 * 3600), 1)
    assert _by(report.rows, bucket="2026-03-03", key="1")["online_hours"] == 1.0
    # Ratings belong to the agent who had the chat when it was rated.
    assert ann["rating_count"] == 2


async def test_week_and_month_sum_the_days_and_topics_have_labels(db: Database) -> None:
    reports = await _scenario(db)
    week = await reports.report("w", "all", D1, D2)
    assert [r.bucket for r in week.rows] == ["2026-W10"]
    assert week.rows[0].values["offered"] == 5
    assert week.rows[0].values["queue_wait_p50"] == 20  # waits 5, 20, 40, 70: the 2nd of 4
    month = await reports.report("m", "topic", D1, D2)
    assert [(r.bucket, r.key, r.name) for r in month.rows] == [("2026-03", "sales", "Sales")]
    assert month.rows[0].values["answered"] == 4


async def test_backfill_gives_the_same_rollups_as_the_passes(db: Database) -> None:
    reports = await _scenario(db)
    passes = await db.read(report_store.rollup_rows)
    figures = await db.read(report_store.row_figures)
    assert figures and all(f is not None for *_, f in figures)
    seen: list[tuple[int, int]] = []
    assert await reports.backfill(lambda done, of: seen.append((done, of)), limit=7) > 0
    assert await db.read(report_store.rollup_rows) == passes
    assert await db.read(report_store.row_figures) == figures  # made from the same sums
    assert seen[-1][0] == seen[-1][1]  # the progress ends at every event


async def test_rollups_follow_a_change_of_zone(db: Database) -> None:
    await db.write(_chats)
    zone = [ZONE]
    reports = Reports(db, lambda: zone[0])
    await reports.roll()
    zone[0] = ZoneInfo("UTC")
    await reports.roll()
    report = await reports.report("d", "all", date(2026, 3, 1), D2)
    # In UTC, c4 (23:59 in Shanghai, 15:59 UTC) is still on March 2 and the rest too.
    assert {r.bucket: r.values["offered"] for r in report.rows} == {
        "2026-03-01": 0,
        "2026-03-02": 4,
        "2026-03-03": 1,
    }


async def test_presence_trigger_records_a_status_change(db: Database) -> None:
    await db.write(_people)
    await db.write(lambda c: c.execute("UPDATE users SET status = 'online' WHERE id = 1"))
    await db.write(lambda c: c.execute("UPDATE users SET status = 'online' WHERE id = 1"))
    events = await db.read(lambda c: report_store.events_after(c, 0, 10))
    assert [(e.kind, e.agent_id, e.detail) for e in events] == [("presence", 1, "online")]


@pytest.mark.parametrize(
    ("period", "dim", "first", "last"),
    [
        ("y", "all", D1, D2),
        ("d", "planet", D1, D2),
        ("d", "all", D2, D1),
        ("d", "all", date(2020, 1, 1), date(2026, 1, 1)),
    ],
)
async def test_bad_report_questions_are_refused(db: Database, period, dim, first, last) -> None:  # type: ignore[no-untyped-def]
    from appliance.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        await Reports(db, lambda: ZONE).report(period, dim, first, last)


def test_an_upgrade_records_what_the_box_already_holds(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db")
    try:
        apply_migrations(conn, upto="0028~")  # the schema before the reports
        with conn:
            _chats(conn)
            _ticket(conn, 1, t(D1, "11:00:00"))
            conn.execute(
                "UPDATE tickets SET state = 'resolved', state_at = ?, resolved_at = ?,"
                " replies = 1 WHERE id = 1",
                (t(D1, "12:00:00"), t(D1, "12:00:00")),
            )
            _ticket(conn, 2, t(D1, "13:00:00"))
        apply_migrations(conn)
        events = report_store.events_after(conn, 0, 1000)
        kinds: dict[str, int] = {}
        for e in events:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        assert kinds == {
            "chat_offered": 5,
            "chat_first_assigned": 4,
            "chat_answered": 4,
            "chat_missed": 1,
            "chat_transfer": 1,
            "chat_handled": 4,
            "chat_abandoned": 1,
            "chat_held": 4,  # migration 0034: closed chats under their last owner
            "rating": 2,
            "ticket_created": 2,
            "ticket_resolved": 1,
            "ticket_backlog": 1,
        }
        deltas = fold(events, ZONE, lambda e: None)
        assert deltas[("d", "2026-03-02", "all", "", "offered")] == [4, 0]
        assert deltas[("d", "2026-03-02", "all", "", "abandoned")] == [1, 90_000]
        assert deltas[("d", "2026-03-02", "all", "", "backlog")] == [0, 1]
        assert deltas[("d", "2026-03-02", "all", "", "fcr")] == [1, 0]
    finally:
        conn.close()


async def test_an_upgrade_packs_the_rollups_and_makes_their_figures(tmp_path: Path) -> None:
    # A box at migration 0034, its rollups one row per metric (report_rollups).
    conn = sqlite3.connect(tmp_path / "old.db")
    try:
        apply_migrations(conn, upto="0034~")
        with conn:
            _chats(conn)
            events = report_store.events_after(conn, 0, 1000)
            conn.executemany(
                "INSERT INTO report_rollups (period, bucket, dim, key, metric, n, total)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(*k, n, tot) for k, (n, tot) in fold(events, ZONE, lambda e: None).items()],
            )
            report_store.set_state(conn, events[-1].id, "Asia/Shanghai", 1)
        apply_migrations(conn)
        old = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'report_rollups'")
        assert old.fetchone()[0] == 0
        carried = conn.execute("SELECT count(*), count(figures) FROM report_sums").fetchone()
        assert carried[0] > 0 and carried[1] == 0  # packed; figures still to be made
    finally:
        conn.close()
    db = Database(tmp_path / "old.db")
    await db.open()
    try:
        reports = Reports(db, lambda: ZONE)
        before = await reports.report("d", "agent", D1, D2)  # made while read
        assert _by(before.rows, bucket="2026-03-02", key="1")["answered"] > 0
        assert await reports.roll() == 0  # no new event; the figures are made
        assert all(f is not None for *_, f in await db.read(report_store.row_figures))
        sums = await db.read(report_store.rollup_rows)
        figures = await db.read(report_store.row_figures)
        await reports.backfill()  # from the events alone: the same sums and figures
        assert await db.read(report_store.rollup_rows) == sums
        assert await db.read(report_store.row_figures) == figures
        assert (await reports.report("d", "agent", D1, D2)).rows == before.rows
    finally:
        await db.close()


async def test_figures_of_another_version_are_made_again(db: Database) -> None:
    reports = await _scenario(db)
    first = await reports.report("d", "agent", D1, D2)
    figures = await db.read(report_store.row_figures)

    def older(conn: sqlite3.Connection) -> None:  # as a box with other figures left them
        conn.execute("UPDATE report_sums SET figures = '[0]'")
        conn.execute("UPDATE report_state SET figures = 0")

    await db.write(older)
    again = Reports(db, lambda: ZONE)
    assert (await again.report("d", "agent", D1, D2)).rows == first.rows  # from the sums
    await again.roll()
    assert await db.read(report_store.row_figures) == figures
    assert (await db.read(report_store.state)).figures == fig.FIGURES_VERSION


def _visits(conn: sqlite3.Connection) -> None:
    _chats(conn)  # visitors vc1..vc5 and their chats
    rows = [
        # (visitor, kind, engine, keyword, host, utm, landing, start, end)
        ("vc1", "search", "baidu", "宽带", "", "{}", "https://x.cn/a?x=1", "09:59:00", "10:20:00"),
        ("vc2", "search", "baidu", "宽带", "", "{}", "https://x.cn/a", "10:04:00", "10:30:00"),
        ("vc3", "referral", "", "", "news.cn", "{}", "https://x.cn/b", "10:29:00", "10:31:00"),
        ("vc4", "direct", "", "", "", "{}", "https://x.cn/", "08:00:00", "08:10:00"),
        (
            "vc5",
            "campaign",
            "",
            "",
            "",
            '{"utm_campaign": "双11"}',
            "https://x.cn/",
            "11:00:00",
            "11:05:00",
        ),
    ]
    for i, (vid, kind, engine, kw, host, utm, landing, start, end) in enumerate(rows, start=1):
        conn.execute(
            "INSERT INTO visits (id, visitor_id, started_at, last_seen_at, source_kind, engine,"
            " keyword, referrer_host, utm, landing_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (i, vid, t(D1, start), t(D1, end), kind, engine, kw, host, utm, landing),
        )
    conn.execute(
        "INSERT INTO invitations (visitor_id, visit_id, message, created_at) VALUES ('vc4', 4,"
        " 'hi', ?)",
        (t(D1, "08:01:00"),),
    )
    _ticket(conn, 9, t(D1, "10:40:00"))
    conn.execute(
        "INSERT INTO ticket_conversations (ticket_id, conversation_id, linked_at)"
        " VALUES (9, 'c2', 0)"
    )


def _leads(conn: sqlite3.Connection) -> None:
    # vc1 types an e-mail in the pre-chat form during its visit and also leaves a
    # message then (one lead); vc3 leaves a call-back request during its visit; vc4
    # became a customer the day before (no lead now); vc2's customer has no contact.
    for cid, vid, email, at in (
        (1, "vc1", "a@x.cn", t(D1, "10:10:00")),
        (2, "vc4", "d@x.cn", t(date(2026, 3, 1), "10:00:00")),
        (3, "vc2", "", t(D1, "10:10:00")),
    ):
        conn.execute(
            "INSERT INTO customers (id, email, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (cid, email, at, at),
        )
        conn.execute("UPDATE visitors SET customer_id = ? WHERE id = ?", (cid, vid))
    for tid, vid, at in ((21, "vc1", t(D1, "10:11:00")), (22, "vc3", t(D1, "10:30:30"))):
        _ticket(conn, tid, at)
        conn.execute(
            "INSERT INTO ticket_visitors (ticket_id, visitor_id) VALUES (?, ?)", (tid, vid)
        )


async def test_the_funnel_from_visits_to_tickets(db: Database) -> None:
    await db.write(_visits)
    await db.write(_leads)
    reports = Reports(db, lambda: ZONE)
    by_source = await reports.funnel("source", D1, D1)
    assert [vars_of(r) for r in by_source] == [
        ("search:baidu", 2, 0, 2, 1, 1),  # both chatted; c2 became a ticket; vc1 a lead
        ("campaign:双11", 1, 0, 0, 0, 0),  # c5 is on D2: not during this visit
        ("direct", 1, 1, 0, 0, 0),  # invited, never chatted (c4 came at 23:59)
        ("referral:news.cn", 1, 0, 1, 0, 1),  # c3 (abandoned, still a chat); a message left
    ]
    by_page = await reports.funnel("landing", D1, D1)
    assert {r.key: r.visits for r in by_page} == {
        "https://x.cn/a": 2,
        "https://x.cn/": 2,
        "https://x.cn/b": 1,
    }
    by_keyword = await reports.funnel("keyword", D1, D1)
    assert [vars_of(r) for r in by_keyword] == [("", 3, 1, 1, 0, 1), ("baidu:宽带", 2, 0, 2, 1, 1)]
    assert await reports.funnel("source", D2, D2) == []


def vars_of(row):  # type: ignore[no-untyped-def]
    return (row.key, row.visits, row.invited, row.chatted, row.ticketed, row.leads)


def _held(conn: sqlite3.Connection) -> None:
    # Ann signed in 23:00-01:00 across midnight. k1 is hers 23:40-00:20 (20 min each
    # day); k2 23:50-23:55 while k1 is open (two at once); k3 00:10-00:40 with k1 (two).
    _people(conn)
    for at, status in ((t(D1, "23:00:00"), "online"), (t(D2, "01:00:00"), "offline")):
        report_store.add_event(
            conn, ReportEvent(0, at, "presence", 1, None, "", "", "", "", None, status)
        )
    for cid, start, end in (
        ("k1", t(D1, "23:40:00"), t(D2, "00:20:00")),
        ("k2", t(D1, "23:50:00"), t(D1, "23:55:00")),
        ("k3", t(D2, "00:10:00"), t(D2, "00:40:00")),
    ):
        _chat(conn, cid, start)
        conv_store.assign(conn, cid, 1, start, answered=True)
        if cid == "k1":
            continue
        conv_store.close(conn, cid, end, "agent")
    conv_store.close(conn, "k1", t(D2, "00:20:00"), "agent")
    # Bo holds c9 for a minute and lets it ring out: the miss's time ends it.
    _chat(conn, "c9", t(D2, "09:00:00"))
    conv_store.assign(conn, "c9", 2, t(D2, "09:00:00"), answered=False)
    conv_store.requeue_missed(conn, "c9", 2, t(D2, "09:01:00"))


async def test_concurrent_chats_per_agent_with_a_chat_across_midnight(db: Database) -> None:
    await db.write(_held)
    reports = Reports(db, lambda: ZONE)
    await reports.roll()
    days = (await reports.report("d", "agent", D1, D2)).rows
    ann1, ann2 = _by(days, bucket="2026-03-02", key="1"), _by(days, bucket="2026-03-03", key="1")
    assert ann1["concurrent_avg"] == round(25 / 60, 2)  # 20 + 5 min held over 60 signed in
    assert ann2["concurrent_avg"] == round(50 / 60, 2)  # 20 + 30 min over 60
    assert ann1["concurrent_peak"] == 2 and ann2["concurrent_peak"] == 2
    bo = _by(days, bucket="2026-03-03", key="2")
    assert bo["concurrent_peak"] == 1
    assert bo["concurrent_avg"] is None  # no presence recorded for Bo
    held = await db.read(
        lambda c: c.execute(
            "SELECT json_extract(sums, '$.held_ms[1]') FROM report_sums"
            " WHERE period = 'd' AND dim = 'agent' AND key = '2'"
            " AND json_extract(sums, '$.held_ms') IS NOT NULL"
        ).fetchall()
    )
    assert [tuple(r) for r in held] == [(60_000,)]
    week = (await reports.report("w", "all", D1, D2)).rows
    assert week[0].values["concurrent_peak"] == 2
    assert week[0].values["concurrent_avg"] == round((75 + 1) / 120, 2)  # Bo's minute too


def _self_service(conn: sqlite3.Connection) -> None:
    from appliance.core.store import selfservice as kb_store

    conn.execute(
        "INSERT INTO visitors (id, created_at, last_seen_at) VALUES ('va', 0, 0), ('vc', 0, 0)"
    )
    conn.execute(
        "INSERT INTO visits (id, visitor_id, started_at, last_seen_at, site)"
        " VALUES (1, 'va', ?, ?, 'shop')",
        (t(D1, "09:59:00"), t(D1, "10:30:00")),
    )
    # va: a search and a read three minutes apart (one session), no chat: deflected.
    kb_store.add_event(conn, "va", "search", None, t(D1, "10:00:00"))
    kb_store.add_event(conn, "va", "read", 1, t(D1, "10:03:00"))
    # vb: a search, then a chat five minutes later: not deflected.
    kb_store.add_event(conn, "vb", "search", None, t(D1, "11:00:00"))
    _chat(conn, "b", t(D1, "11:05:00"))  # visitor vb
    # vc: a read, a chat 15 minutes later (too late to undo it), then another search
    # (a new session) with no chat after: two sessions, both deflected.
    kb_store.add_event(conn, "vc", "read", 2, t(D1, "12:00:00"))
    conn.execute(
        "INSERT INTO conversations (id, visitor_id, status, created_at) VALUES"
        " ('cc', 'vc', 'waiting', ?)",
        (t(D1, "12:15:00"),),
    )
    kb_store.add_event(conn, "vc", "search", None, t(D1, "12:20:00"))


async def test_knowledge_deflection_in_the_reports(db: Database) -> None:
    await db.write(_self_service)
    reports = Reports(db, lambda: ZONE)
    await reports.roll()
    day = _by((await reports.report("d", "all", D1, D1)).rows, bucket="2026-03-02")
    assert (day["kb_sessions"], day["kb_deflected"], day["kb_deflection"]) == (4, 3, 75.0)
    sites = (await reports.report("d", "site", D1, D1)).rows
    shop = _by(sites, key="shop")
    assert (shop["kb_sessions"], shop["kb_deflected"], shop["kb_deflection"]) == (1, 1, 100.0)
    month = _by((await reports.report("m", "all", D1, D1)).rows, bucket="2026-03")
    assert month["kb_sessions"] == 4


async def test_backfill_gives_the_same_new_figures(db: Database) -> None:
    await db.write(_held)
    await db.write(_self_service)
    reports = Reports(db, lambda: ZONE)
    await reports.roll()
    before = await db.read(report_store.rollup_rows)
    assert await reports.backfill() > 0
    assert await db.read(report_store.rollup_rows) == before


async def test_a_pass_keeps_its_steps_whole_while_other_writes_wait(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rows shared by a step's events are summed and their figures made once per step:
    # a busy box gets pauses between steps (below), not more and smaller steps.
    await db.write(_chats)  # 30-odd events
    count = await db.read(report_store.last_event_id)
    jobs: list[int] = []
    reports = Reports(db, lambda: ZONE)
    step = reports._step

    async def counted(limit: int) -> int:
        jobs.append(limit)
        return await step(limit)

    monkeypatch.setattr(reports, "_step", counted)
    monkeypatch.setattr(Database, "queue_depth", property(lambda self: 1))
    assert await reports.roll(limit=10) == count
    assert set(jobs) == {10} and len(jobs) == count // 10 + 1
    monkeypatch.setattr(Database, "queue_depth", property(lambda self: 0))
    await db.write(_tickets)
    jobs.clear()
    await reports.roll()
    assert jobs == [reports_module._BATCH]


async def test_reports_keep_past_buckets_and_drop_what_a_pass_changes(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = await _scenario(db)
    first = await reports.report("d", "all", D1, D2)
    read: list[tuple[str, str]] = []
    bucket_rows = report_store.bucket_rows

    def counted(conn, period, dim, a, b, stored=True):  # type: ignore[no-untyped-def]
        read.append((a, b))
        return bucket_rows(conn, period, dim, a, b, stored)

    monkeypatch.setattr(report_store, "bucket_rows", counted)
    again = await reports.report("d", "all", D1, D2)
    assert again.rows == first.rows and read == []  # nothing changed: nothing read
    await db.write(lambda c: _chat(c, "c6", t(D2, "15:00:00")))
    await reports.roll()
    after = await reports.report("d", "all", D1, D2)
    assert read == [("2026-03-03", "2026-03-03")]  # only the day the pass changed
    d1, d2 = (_by(after.rows, bucket=b) for b in ("2026-03-02", "2026-03-03"))
    assert d1 == _by(first.rows, bucket="2026-03-02")
    assert d2["offered"] == _by(first.rows, bucket="2026-03-03")["offered"] + 1
    assert d2["backlog"] == _by(first.rows, bucket="2026-03-03")["backlog"]
    await reports.backfill()
    assert (await reports.report("d", "all", D1, D2)).rows == after.rows
    assert read[-1] == ("2026-03-02", "2026-03-03")  # a backfill forgets them all


async def test_a_pass_backs_off_while_the_box_is_busy(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its Python work takes the GIL from the event loop: while other writes wait, it
    # pauses 4x the time each step took (at most 0.5 s); when none wait, it does not.
    await db.write(_chats)
    reports = Reports(db, lambda: ZONE)
    clock = iter(range(0, 10_000, 1))  # each step "takes" 1 s on this clock
    monkeypatch.setattr(reports_module, "monotonic", lambda: next(clock) / 10)
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(reports_module.asyncio, "sleep", pause)
    monkeypatch.setattr(Database, "queue_depth", property(lambda self: 1))
    await reports.roll(limit=3)
    backs = [p for p in pauses if p != reports_module._YIELD_S]
    assert len(backs) > 1 and all(p == pytest.approx(0.4) for p in backs)  # 4 x 0.1 s
    monkeypatch.setattr(Database, "queue_depth", property(lambda self: 0))
    await db.write(_tickets)
    pauses.clear()
    await reports.roll()
    assert pauses == []


async def test_a_pass_backs_off_while_others_write_though_none_wait(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A chat's lines mostly go to the writer's helper process and never wait in the
    # queue: writes settled during a step count as a busy box too.
    await db.write(_chats)
    reports = Reports(db, lambda: ZONE)
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    step = Reports._step

    async def step_beside_a_chat(self: Reports, limit: int) -> int:
        others = [asyncio.ensure_future(db.write(lambda conn: None)) for _ in range(3)]
        done = await step(self, limit)
        await asyncio.gather(*others)
        return done

    monkeypatch.setattr(reports_module.asyncio, "sleep", pause)
    monkeypatch.setattr(Database, "queue_depth", property(lambda self: 0))
    monkeypatch.setattr(Reports, "_step", step_beside_a_chat)
    folded = await reports.roll(limit=3)
    assert folded > 3 and len(pauses) == -(-folded // 3)  # one pause after every step
    assert all(0 <= p <= reports_module._BACK_OFF_MAX for p in pauses)
