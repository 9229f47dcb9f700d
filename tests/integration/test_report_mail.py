"""Scheduled reports by e-mail (core/report_mail.py): once per period with an injected
clock, one catch-up after downtime, nothing while disabled, "send now" apart from the
schedule; the API's checks and roles; and the mail itself through aiosmtpd on
loopback, its CSV attachment the very bytes of the reports page's export."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appliance.core import audit
from appliance.core.box import Box
from appliance.core.errors import ChatError
from appliance.core.report_mail import ReportMail, last_slot, plain_table
from appliance.core.reports import box_zone
from appliance.core.store import mail as mail_store
from appliance.core.store import report_mail as store
from appliance.webui.i18n import Catalog
from appliance.webui.report_mail_views import REPORT_MAIL, render
from appliance.webui.report_views import report_csv
from tests.conftest import Agent
from tests.mail_servers import SmtpServer

MakeAgent = Callable[..., Awaitable[Agent]]
BY = audit.Actor(None, "test", "127.0.0.1")
ZONE = ZoneInfo("Asia/Shanghai")
PATH = "/api/console/reports/subscriptions"
_GOOD = {
    "name": "日报",
    "recipients": ["Boss@Example.com", "ops@example.com"],
    "frequency": "daily",
    "hour": 8,
    "period": "d",
    "dim": "all",
    "lang": "zh-CN",
    "enabled": True,
}


def _ms(year: int, month: int, day: int, hour: int, minute: int) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=ZONE).timestamp() * 1000)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


async def _reports_in_outbox(box: Box) -> list[mail_store.Outgoing]:
    rows = await box.db.read(lambda c: mail_store.outbox(c, 500))
    return [r for r in rows if r.kind == "report"]


def _service(box: Box, catalog: Catalog, clock: list[int]) -> ReportMail:
    return ReportMail(
        box.db,
        box.reports,
        box.mail_out,
        partial(render, catalog),
        zone=lambda: ZONE,
        now=lambda: clock[0],
    )


async def _from_only(box: Box) -> None:
    # A sender address and no server: mails stay queued, which is what is counted.
    await box.mail.change_smtp(BY, {"from_address": "reports@example.com"})


def test_the_newest_slot_of_each_frequency() -> None:
    monday_9 = datetime(2026, 12, 7, 9, 0, tzinfo=ZONE)
    daily = last_slot(monday_9, "daily", 8)
    assert (daily.at.day, daily.first, daily.label) == (7, date(2026, 12, 6), "2026-12-06")
    before = last_slot(datetime(2026, 12, 7, 7, 59, tzinfo=ZONE), "daily", 8)
    assert before.label == "2026-12-05"
    weekly = last_slot(monday_9, "weekly", 8)
    assert (weekly.first, weekly.last, weekly.label) == (
        date(2026, 11, 30),
        date(2026, 12, 6),
        "2026-W49",
    )
    # Sunday: still last Monday's slot.
    assert last_slot(datetime(2026, 12, 13, 23, 0, tzinfo=ZONE), "weekly", 8).label == "2026-W49"
    monthly = last_slot(datetime(2026, 12, 1, 7, 0, tzinfo=ZONE), "monthly", 8)
    assert (monthly.first, monthly.last, monthly.label) == (
        date(2026, 10, 1),
        date(2026, 10, 31),
        "2026-10",
    )
    january = last_slot(datetime(2027, 1, 1, 8, 0, tzinfo=ZONE), "monthly", 8)
    assert january.label == "2026-12"


def test_the_plain_table_pads_chinese_as_two_columns() -> None:
    table = plain_table(["时段", "n"], [["2026-12-06", "12"]])
    lines = table.split("\n")
    assert lines[0] == "时段        n"
    assert lines[2] == "2026-12-06  12"


async def test_mailed_once_a_period_and_once_after_downtime(box: Box, catalog: Catalog) -> None:
    await _from_only(box)
    clock = [_ms(2026, 12, 7, 7, 0)]
    service = _service(box, catalog, clock)
    sub = await service.create(_GOOD)
    assert sub.recipients == ["Boss@example.com", "ops@example.com"]
    off = await service.create({**_GOOD, "name": "停用的", "enabled": False})

    clock[0] = _ms(2026, 12, 7, 7, 59)
    assert await service.run_due() == 0
    clock[0] = _ms(2026, 12, 7, 8, 0)
    assert await service.run_due() == 1
    mails = await _reports_in_outbox(box)
    assert sorted(m.recipient for m in mails) == ["Boss@example.com", "ops@example.com"]
    assert b"2026-12-06" in mails[0].raw
    assert await service.run_due() == 0  # the same minute again
    clock[0] = _ms(2026, 12, 7, 23, 59)
    assert await service.run_due() == 0  # the same period later
    # A restart: a new runner over the same database mails nothing again.
    again = _service(box, catalog, clock)
    assert await again.run_due() == 0
    assert len(await _reports_in_outbox(box)) == 2

    # Off from Monday night to Friday 9:00: the newest period once, not four times.
    clock[0] = _ms(2026, 12, 11, 9, 0)
    assert await again.run_due() == 1
    assert await again.run_due() == 0
    assert len(await _reports_in_outbox(box)) == 4
    stored = await box.db.read(lambda c: store.get(c, sub.id))
    assert stored is not None and stored.last_period == "2026-12-10"
    # The disabled one never mailed.
    kept = await box.db.read(lambda c: store.get(c, off.id))
    assert kept is not None and kept.last_period == "" and kept.last_sent_at is None

    # Turned on again: what it missed while off is not owed; its next slot is.
    await service.update(off.id, {**_GOOD, "name": "停用的", "enabled": True})
    assert await service.run_due() == 0
    clock[0] = _ms(2026, 12, 12, 8, 0)
    assert await service.run_due() == 2
    assert len(await _reports_in_outbox(box)) == 8


async def test_two_runners_at_once_mail_a_period_once(box: Box, catalog: Catalog) -> None:
    await _from_only(box)
    clock = [_ms(2026, 12, 7, 7, 0)]
    first = _service(box, catalog, clock)
    await first.create({**_GOOD, "recipients": ["a@example.com"]})
    clock[0] = _ms(2026, 12, 7, 8, 1)
    second = _service(box, catalog, clock)
    done = await asyncio.gather(first.run_due(), second.run_due())
    assert sorted(done) == [0, 1]
    assert len(await _reports_in_outbox(box)) == 1


async def test_without_outgoing_mail_the_period_waits(box: Box, catalog: Catalog) -> None:
    clock = [_ms(2026, 12, 7, 7, 0)]
    service = _service(box, catalog, clock)
    sub = await service.create(_GOOD)
    clock[0] = _ms(2026, 12, 7, 9, 0)
    assert await service.run_due() == 0
    await _from_only(box)
    assert await service.run_due() == 1  # once mail is set up, the newest period goes
    stored = await box.db.read(lambda c: store.get(c, sub.id))
    assert stored is not None and stored.last_period == "2026-12-06"


async def test_send_now_is_apart_from_the_schedule(box: Box, catalog: Catalog) -> None:
    await _from_only(box)
    clock = [_ms(2026, 12, 7, 7, 0)]
    service = _service(box, catalog, clock)
    sub = await service.create({**_GOOD, "recipients": ["a@example.com"]})
    clock[0] = _ms(2026, 12, 7, 7, 30)
    assert await service.send_now(sub.id) == 1
    [manual] = await _reports_in_outbox(box)
    parsed = BytesParser(policy=policy.default).parsebytes(manual.raw)
    assert str(parsed["Subject"]) == "定时报表：日报（2026-12-05（手动发送））"
    stored = await box.db.read(lambda c: store.get(c, sub.id))
    assert (
        stored is not None and stored.last_period == "" and stored.served_until == sub.served_until
    )
    clock[0] = _ms(2026, 12, 7, 8, 0)
    assert await service.run_due() == 1  # the schedule still mails its period


async def test_the_admins_wording_of_the_report_template_is_used(
    box: Box, catalog: Catalog
) -> None:
    await _from_only(box)
    with pytest.raises(ChatError, match="body"):  # the figures must have a place
        await box.mail.set_template(BY, "report", "zh-CN", "报表", "没有数字", reset=False)
    await box.mail.set_template(
        BY, "report", "zh-CN", "每日数字 {name} {date}", "数字如下\n{body}", reset=False
    )
    clock = [_ms(2026, 12, 7, 7, 0)]
    service = _service(box, catalog, clock)
    await service.create({**_GOOD, "recipients": ["a@example.com"]})
    clock[0] = _ms(2026, 12, 7, 8, 0)
    assert await service.run_due() == 1
    [mail] = await _reports_in_outbox(box)
    parsed = BytesParser(policy=policy.default).parsebytes(mail.raw)
    assert str(parsed["Subject"]) == "每日数字 日报 2026-12-06"
    text = str(parsed.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert text.startswith("数字如下\n时段") and "进线会话" in text


async def test_api_checks_input_and_roles(make_agent: MakeAgent) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    agent = await make_agent("agent", status=None)
    assert await boss.get(PATH) == {"subscriptions": [], "mail_ready": False}
    made = (await boss.post(PATH, _GOOD, status=201))["subscription"]
    assert made["recipients"] == ["Boss@example.com", "ops@example.com"]
    assert made["last_period"] == "" and made["last_sent_at"] is None
    one = f"{PATH}/{made['id']}"

    bad: list[tuple[dict[str, Any], str]] = [
        ({**_GOOD, "recipients": ["not an address"]}, "bad_address"),
        ({**_GOOD, "recipients": ["ü@例子.测试"]}, "bad_address"),
        ({**_GOOD, "name": "   "}, "bad_name"),
        ({**_GOOD, "recipients": []}, ""),
        ({**_GOOD, "recipients": [f"a{i}@example.com" for i in range(21)]}, ""),
        ({**_GOOD, "hour": 24}, ""),
        ({**_GOOD, "frequency": "hourly"}, ""),
        ({**_GOOD, "dim": "nope"}, ""),
        ({**_GOOD, "lang": "fr"}, ""),
        ({**_GOOD, "extra": 1}, ""),
    ]
    for body, code in bad:
        answer = await boss.post(PATH, body, status=422)
        assert answer["error"]["code"], body
        assert code in str(answer), body
        await boss.call("PUT", one, body, status=422)
    listed = (await boss.get(PATH))["subscriptions"]
    assert [s["name"] for s in listed] == ["日报"]  # nothing changed
    assert listed[0]["recipients"] == made["recipients"]

    await agent.get(PATH, status=403)
    await agent.post(PATH, _GOOD, status=403)
    await agent.call("PUT", one, _GOOD, status=403)
    await agent.call("DELETE", one, status=403)
    await agent.post(f"{one}/send", {}, status=403)
    await boss.call("PUT", f"{PATH}/999", _GOOD, status=404)
    await boss.post(f"{PATH}/999/send", {}, status=404)

    changed = await boss.call("PUT", one, {**_GOOD, "enabled": False, "lang": "en"})
    assert changed["subscription"]["enabled"] is False
    assert (await boss.post(f"{one}/send", {}))["queued"] == 0  # no outgoing mail yet
    assert await boss.call("DELETE", one) == {"deleted": True}
    await boss.call("DELETE", one, status=404)
    assert (await boss.get(PATH))["subscriptions"] == []


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


async def _until(check: Callable[[], bool], what: str) -> None:
    for _ in range(300):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _csv_of(msg: EmailMessage) -> tuple[str, bytes]:
    [part] = [p for p in msg.iter_attachments() if p.get_content_type() == "text/csv"]
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return str(part.get_filename()), data


async def test_the_report_mail_reaches_an_smtp_server_with_its_csv(
    make_agent: MakeAgent, smtp: SmtpServer, catalog: Catalog
) -> None:
    boss = await make_agent("boss", role="supervisor", status=None)
    box = boss.running.box
    await box.mail.change_smtp(
        BY,
        {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "user": smtp.user,
            "password": smtp.password,
            "from_address": "help@example.com",
        },
    )
    body = {**_GOOD, "name": "Weekly =HYPERLINK", "recipients": ["boss@example.com"],
            "frequency": "weekly", "period": "d", "lang": "en"}  # fmt: skip
    made = (await boss.post(PATH, body, status=201))["subscription"]
    assert (await boss.get(PATH))["mail_ready"] is True
    assert (await boss.post(f"{PATH}/{made['id']}/send", {}))["queued"] == 1
    await _until(lambda: len(smtp.sink.messages) == 1, "the report mail")
    [mail] = smtp.sink.messages
    assert mail["To"] == "boss@example.com"
    assert str(mail["Subject"]).startswith("Scheduled report: Weekly =HYPERLINK (")
    assert "(sent by hand)" in str(mail["Subject"])
    text = str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert "Chats offered" in text and "Period" in text
    name, data = _csv_of(mail)
    assert name.startswith("callbox-report-all-d-") and name.endswith(".csv")
    assert data.startswith(b"\xef\xbb\xbfPeriod,Whole centre,Chats offered,")
    assert b"\r\n" in data and data.count(b"\n") == data.count(b"\r\n")
    # The very bytes the reports page exports for the same week, in English.
    service = boss.running.server.app[REPORT_MAIL][0]
    assert isinstance(service, ReportMail)
    slot = last_slot(datetime.now(tz=box_zone()), "weekly", 8)
    assert f"({slot.label} (sent by hand))" in str(mail["Subject"])
    found = await box.reports.report("d", "all", slot.first, slot.last)
    assert data == report_csv(found, catalog.translator("en"))
    assert len(data.split(b"\r\n")) == 2 + 7  # header, 7 days, the last line's end

    # The schedule: its next slot, from the runner with a clock a week ahead.
    # The sender follows the same clock, or the mail queued then is not due yet.
    ahead = int(slot.at.timestamp() * 1000) + 7 * 86_400_000 + 60_000
    service._now = box.mail_out._now = lambda: ahead
    assert await service.run_due() == 1
    await _until(lambda: len(smtp.sink.messages) == 2, "the scheduled mail")
    scheduled = smtp.sink.messages[1]
    assert "(sent by hand)" not in str(scheduled["Subject"])
    assert _csv_of(scheduled)[1].startswith(b"\xef\xbb\xbfPeriod,")
    assert await service.run_due() == 0
    outbox = await box.db.read(
        lambda c: [o for o in mail_store.outbox(c, 10) if o.kind == "report"]
    )
    assert [o.state for o in outbox] == ["sent", "sent"]
