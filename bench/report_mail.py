"""Scheduled reports benchmark: what one runner pass costs when every subscription is
due at once (the worst minute: N subscriptions all at 08:00).

    python bench/report_mail.py --subscriptions 50 --recipients 3 --dim agent

A real box (SQLite on disk, the writer thread) with `--agents` agents and a day of
report events per agent; `--subscriptions` daily subscriptions at 08:00, each to
`--recipients` addresses, are made due by the injected clock, and one `run_due` pass
reads each report, renders its CSV and table, and queues its mails (no SMTP server:
the outbox rows are what is timed). Printed: the pass's time, per subscription, the
outbox rows written, and the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from appliance.core import audit
from appliance.core.box import Box
from appliance.core.report_mail import ReportMail
from appliance.core.report_rollup import ReportEvent
from appliance.core.store import reports as report_store
from appliance.settings import load_settings
from appliance.webui.i18n import Catalog
from appliance.webui.report_mail_views import render

ZONE = ZoneInfo("Asia/Shanghai")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="callbox-bench-") as tmp:
        box = Box(load_settings({"data_dir": str(Path(tmp) / "data")}))
        await box.open()
        try:
            await box.mail.change_smtp(
                audit.Actor(None, "bench", "127.0.0.1"), {"from_address": "r@example.com"}
            )
            day = datetime(2026, 12, 6, 12, 0, tzinfo=ZONE)
            at = int(day.timestamp() * 1000)
            events = [
                ReportEvent(0, at + i, kind, agent, 1, "", "chat", "", f"c{i}", 30_000, "")
                for agent in range(1, args.agents + 1)
                for i, kind in enumerate(("chat_offered", "chat_answered") * 10)
            ]

            def seed(conn: sqlite3.Connection) -> None:
                for event in events:
                    report_store.add_event(conn, event)

            await box.db.write(seed)
            await box.reports.roll()
            clock = [int((day + timedelta(hours=8)).timestamp() * 1000)]
            service = ReportMail(box.db, box.reports, box.mail_out,
                                 partial(render, Catalog.load()), zone=lambda: ZONE,
                                 now=lambda: clock[0])  # fmt: skip
            sub = {"frequency": "daily", "hour": 8, "period": "d", "dim": args.dim,
                   "lang": "zh-CN", "enabled": True}  # fmt: skip
            for n in range(args.subscriptions):
                rcpt = [f"r{n}-{k}@example.com" for k in range(args.recipients)]
                await service.create({**sub, "name": f"s{n}", "recipients": rcpt})
            clock[0] = int(datetime(2026, 12, 7, 8, 0, tzinfo=ZONE).timestamp() * 1000)
            load = os.getloadavg()
            start = time.perf_counter()
            served = await service.run_due()
            took = time.perf_counter() - start
            print(f"load before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}")
            print(
                f"{served} subscriptions served, {served * args.recipients} mails queued in "
                f"{took * 1000:.0f} ms ({took * 1000 / max(served, 1):.1f} ms a subscription);"
                f" {args.agents} agents, dim {args.dim}"
            )
        finally:
            await box.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=50)
    parser.add_argument("--recipients", type=int, default=3)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--dim", default="agent")
    asyncio.run(main(parser.parse_args()))
