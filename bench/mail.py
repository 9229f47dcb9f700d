"""Mail benchmark: the import rate with threading and the outbox's send rate, each
against the bare library in the same run (issue 16, item 6).

    python bench/mail.py --mails 300 --sends 200 --repeats 3

Import: `--mails` messages (a third new requests, the rest replies that thread by
the signed token in In-Reply-To, by the subject tag, and by the quoted marker in an
HTML-only quote; Chinese text, a GB18030 body in every fifth) are imported one after
another through `MailIn.import_message` into a real box (SQLite on disk, the writer
thread, the ticket service and its triggers): parse in a worker thread, threading,
the ticket change and the message's record in one transaction. The same bytes are
parsed by the bare library, `email.message_from_bytes`, in the same run. Each repeat
uses a fresh box; the figure is the median of `--repeats`.

Send: `--sends` mails are queued in the outbox and sent by `MailOut.send_due` to an
aiosmtpd server on loopback (one SMTP connection, EHLO and AUTH per mail, as the box
does: a mail's outcome is its own), against a bare smtplib loop of the same bytes to
the same server, once with a connection per mail and once over one connection; the
rounds alternate which goes first.

The load average before and after is printed and written with the figures to
bench/results/mail-<time>.json. Keep the sizes small on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email
import json
import logging
import os
import smtplib
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a script: make the appliance importable
    sys.path.insert(0, str(_ROOT))

from provenance import git_revision, machine  # noqa: E402  (bench/)

from appliance.core import audit  # noqa: E402
from appliance.core.box import Box  # noqa: E402
from appliance.core.clock import now_ms  # noqa: E402
from appliance.core.store import mail as mail_store  # noqa: E402
from appliance.core.store import tickets as ticket_store  # noqa: E402
from appliance.settings import load_settings  # noqa: E402
from tests.mail_servers import SmtpServer, free_port  # noqa: E402

BY = audit.Actor(None, "bench", "127.0.0.1")
BOX_ADDRESS = "help@example.com"
TEXT = "您好，三楼的打印机又卡纸了，型号是 HP LaserJet 1020，麻烦尽快派人来看一下。谢谢！\n" * 4


def _request(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"客户{n} <c{n}@example.com>"
    msg["To"] = BOX_ADDRESS
    msg["Subject"] = f"打印机故障 {n}"
    msg["Message-ID"] = f"<req{n}.{time.monotonic_ns()}@client.example.com>"
    if n % 5 == 4:  # a GB18030 body, base64, as Foxmail sends it
        msg["MIME-Version"] = "1.0"
        msg["Content-Type"] = "text/plain; charset=gb2312"
        msg["Content-Transfer-Encoding"] = "base64"
        msg.set_payload(base64.encodebytes(TEXT.encode("gb18030")).decode())
        return bytes(msg)
    msg.set_content(TEXT)
    msg.add_alternative(f"<p>{TEXT}</p>", subtype="html")
    return bytes(msg)


def _reply(n: int, owner: int, how: str, box: Box, number: str) -> bytes:
    threading = box.mail_in._threading
    msg = EmailMessage()
    msg["From"] = f"c{owner}@example.com"
    msg["To"] = BOX_ADDRESS
    msg["Message-ID"] = f"<rep{n}.{time.monotonic_ns()}@client.example.com>"
    tag = f" [#T{number}]" if how == "subject" else ""
    msg["Subject"] = f"回复: 打印机故障 {owner}{tag}"
    if how == "token":
        msg["In-Reply-To"] = threading.message_id(owner_ticket(owner), "example.com")
    msg.set_content("补充一下：今天下午有人在。")
    quote = f"<blockquote>{TEXT}<br>{threading.marker(owner_ticket(owner))}</blockquote>"
    msg.add_alternative(f"<p>补充一下：今天下午有人在。</p>{quote}", subtype="html")
    return bytes(msg)


def owner_ticket(owner: int) -> int:
    return owner + 1  # requests are imported first, in order: ticket ids 1, 2, …


def _settings(data: Path) -> Any:
    from dataclasses import replace

    return replace(load_settings({"data_dir": str(data)}), mdns=False)


async def _open_box(data: Path) -> tuple[Box, Any]:
    box = Box(_settings(data))
    await box.open()
    row = await box.mail.add_mailbox(
        BY,
        {
            "name": "bench",
            "address": BOX_ADDRESS,
            "host": "127.0.0.1",
            "port": free_port(),
            "security": "none",
            "username": "u",
            "password": "p",
            "enabled": False,
        },
    )
    return box, row


async def import_round(mails: int) -> dict[str, float]:
    """Import `mails` messages into a fresh box; return both rates."""
    with tempfile.TemporaryDirectory(prefix="callbox-bench-mail-") as tmp:
        box, row = await _open_box(Path(tmp) / "data")
        try:
            requests = mails // 3
            raws = [_request(n) for n in range(requests)]
            # Replies need the tickets' numbers: known once the requests are in, so the
            # requests are timed first and the replies after, each part on its own.
            started = time.perf_counter()
            for uid, raw in enumerate(raws, 1):
                await box.mail_in.import_message(row, 1, uid, raw)
            opened = time.perf_counter() - started
            numbers = await box.db.read(
                lambda c: [
                    str(t.fields["number"]) if (t := ticket_store.get(c, i)) else ""
                    for i in range(1, requests + 1)
                ]
            )
            hows = ("token", "subject", "marker")
            replies = [
                _reply(n, n % requests, hows[n % 3], box, numbers[n % requests])
                for n in range(mails - requests)
            ]
            started = time.perf_counter()
            for uid, raw in enumerate(replies, requests + 1):
                await box.mail_in.import_message(row, 1, uid, raw)
            threaded = time.perf_counter() - started
            records = await box.db.read(lambda c: mail_store.recent(c, mails + 10))
            outcomes = sorted({(r["outcome"], r["threaded_by"]) for r in records})
            assert len(records) == mails, len(records)
            assert {r["outcome"] for r in records} == {"opened", "replied"}, outcomes
            ways = {r["threaded_by"] for r in records if r["outcome"] == "replied"}
            assert ways == {"token", "subject", "marker"}, ways
        finally:
            await box.close()
    everything = raws + replies
    started = time.perf_counter()
    for raw in everything:
        email.message_from_bytes(raw)
    bare = time.perf_counter() - started
    return {
        "import_per_s": mails / (opened + threaded),
        "import_new_per_s": requests / opened,
        "import_reply_per_s": (mails - requests) / threaded,
        "bare_parse_per_s": mails / bare,
    }


def _bare(raws: list[bytes], server: SmtpServer, per_mail: bool) -> float:
    """Send the same bytes with a bare smtplib loop; return the seconds it took."""
    started = time.perf_counter()
    client: smtplib.SMTP | None = None
    for n, raw in enumerate(raws):
        if client is None:
            client = smtplib.SMTP("127.0.0.1", server.port, timeout=30)
            client.ehlo()
            client.login(server.user, server.password)
        client.sendmail(BOX_ADDRESS, [f"c{n}@example.com"], raw)
        if per_mail:
            client.quit()
            client = None
    if client is not None:
        client.quit()
    return time.perf_counter() - started


async def send_round(sends: int, server: SmtpServer, bare_first: bool) -> dict[str, float]:
    """Send `sends` mails through the outbox and with bare smtplib (in either order:
    rounds alternate, so a drift in the machine's load favours neither); return the
    rates."""
    with tempfile.TemporaryDirectory(prefix="callbox-bench-mail-") as tmp:
        box, _ = await _open_box(Path(tmp) / "data")
        try:
            now = now_ms()

            def queue(conn: Any) -> None:
                smtp = mail_store.smtp(conn)
                for n in range(sends):
                    box.mail_out.queue(
                        conn, smtp, "refused", None, f"c{n}@example.com",
                        {"body": TEXT}, now, subject=f"bench {n}",
                    )  # fmt: skip

            await box.mail.change_smtp(BY, {"from_address": BOX_ADDRESS})
            await box.db.write(queue)
            raws = [o.raw for o in await box.db.read(lambda c: mail_store.outbox(c, sends))]
            if bare_first:
                per_mail = await asyncio.to_thread(_bare, raws, server, True)
                one_connection = await asyncio.to_thread(_bare, raws, server, False)
            before = len(server.sink.messages)
            started = time.perf_counter()
            await box.mail.change_smtp(
                BY,
                {
                    "host": "127.0.0.1",
                    "port": server.port,
                    "security": "none",
                    "user": server.user,
                    "password": server.password,
                },
            )
            await box.mail_out.send_due()
            for _ in range(60_000):  # the background sender's share, if it took some
                if len(server.sink.messages) - before >= sends:
                    break
                await asyncio.sleep(0.01)
            outbox = time.perf_counter() - started
            states = {o.state for o in await box.db.read(lambda c: mail_store.outbox(c, sends))}
            assert states == {"sent"}, states
            if not bare_first:
                per_mail = await asyncio.to_thread(_bare, raws, server, True)
                one_connection = await asyncio.to_thread(_bare, raws, server, False)
        finally:
            await box.close()
    return {
        "outbox_per_s": sends / outbox,
        "bare_smtplib_per_mail_connection_per_s": sends / per_mail,
        "bare_smtplib_one_connection_per_s": sends / one_connection,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's deprecation notes
    load_before = os.getloadavg()
    imports = [await import_round(args.mails) for _ in range(args.repeats)]
    server = SmtpServer()
    server.start()
    try:
        sends = [await send_round(args.sends, server, r % 2 == 1) for r in range(args.repeats)]
    finally:
        server.stop()
    load_after = os.getloadavg()
    median = {
        key: round(statistics.median(r[key] for r in rounds), 1)
        for rounds in (imports, sends)
        for key in rounds[0]
    }
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "revision": git_revision("appliance", "bench"),
        "machine": machine(),
        "args": vars(args),
        "load_before": load_before,
        "load_after": load_after,
        "median": median,
        "rounds": {"import": imports, "send": sends},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=300, help="messages imported per round")
    parser.add_argument("--sends", type=int, default=200, help="mails sent per round")
    parser.add_argument("--repeats", type=int, default=3)
    result = asyncio.run(main(parser.parse_args()))
    out = _ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"mail-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps({k: result[k] for k in ("load_before", "load_after", "median")}, indent=2))
    print(f"written to {path}")
