"""Backup benchmark: backup and restore of a big box while chats are written (issue 15,
item 10).

    python bench/backup.py --db-mb 1024 --uploads-mb 256

1. Fill a data dir: the real schema, then visitors, conversations and messages in bulk
   until the database file is `--db-mb` MiB, and `--uploads-mb` MiB of upload files
   (random bytes: they do not compress, as photos and PDFs do not). An admin is made
   with the CLI.
2. Start `appliance run` (its own process), log in, make the backup key. `--visitors`
   visitors each open a conversation.
3. Chat load for the whole run: `--rate` visitor messages a second in all, sent on a
   fixed schedule (open loop), each one's wait = POST sent -> its answer, which comes
   after the message is committed to disk (synchronous=FULL). Per phase, count,
   p50/p99/max of that wait:
   - idle: `--idle` s of load alone (the baseline of the same run);
   - vacuum_into: `VACUUM INTO` of the live database from another process;
   - backup_api: the online backup API in steps of `--pages` pages with a short sleep
     between, as one would use it to spare the writer; it restarts its copy whenever
     another connection writes, so it is stopped after `--api-cap` s if not done;
   - backup: "back up now" through the admin API (what the box does: VACUUM INTO,
     tar and age encryption, the local folder), with each phase's duration and the
     archive's size.
4. Stop the box; `appliance restore` onto a fresh folder, timed (decrypt, unpack,
   integrity_check, switch), then start the box on it and time its start.

The load average of the machine before and after is recorded: other work on the
machine shows in every phase alike, so the ratio to idle is the figure to read.
Writes bench/results/backup-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a script: make the appliance importable
    sys.path.insert(0, str(_ROOT))

import aiohttp  # noqa: E402
from provenance import git_revision, machine  # noqa: E402  (bench/)

from appliance.core.backup_archive import (  # noqa: E402
    FORMAT,
    Manifest,
    Progress,
    snapshot,
    write_archive,
)
from appliance.core.migrate import apply_migrations  # noqa: E402
from tests.system.processes import ApplianceProcess, cli  # noqa: E402

PASSWORD = "bench-admin-password"  # noqa: S105 - the benchmark's own throwaway admin
_BATCH = 20_000  # rows per insert transaction while filling
_FLUSH = 16 * 1024 * 1024  # bytes between syncs in the gentler variants
_WORDS = [
    "您好", "请问", "宽带", "报修", "订单", "发票", "退款", "物流", "地址",
    "电话", "账号", "密码", "已经", "还是", "没有", "什么", "时候",
]  # fmt: skip
_ENV = {
    "CALLBOX_VISITOR_MSG_BURST": "1000000",
    "CALLBOX_IP_MSG_BURST": "1000000",
    "CALLBOX_VISITOR_MSG_RATE": "1000",
    "CALLBOX_IP_MSG_RATE": "100000",
    "CALLBOX_VISITOR_CONV_BURST": "1000",
    "CALLBOX_IP_CONV_BURST": "1000",
}


def _body(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(10, 60)))


def fill(data: Path, db_mb: int, uploads_mb: int) -> dict[str, Any]:
    """Make a data dir with a database of about db_mb MiB and uploads_mb MiB of files."""
    started = time.monotonic()
    data.mkdir(parents=True)
    db = data / "callbox.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    apply_migrations(conn)
    rng = random.Random(15)
    now = int(time.time() * 1000)
    conv_n = msg_n = 0
    while db.stat().st_size < db_mb * 1024 * 1024:
        conn.execute("BEGIN")
        visitors, convs, msgs = [], [], []
        for _ in range(_BATCH // 20):
            conv_n += 1
            vid, cid = f"v_bench{conv_n:010d}", f"c_bench{conv_n:010d}"
            at = now - rng.randint(0, 365 * 86_400_000)
            visitors.append((vid, at, at))
            convs.append((cid, vid, "closed", 20, at, at + 600_000))
            for seq in range(1, 21):
                msg_n += 1
                sender = "visitor" if seq % 2 else "agent"
                msgs.append(
                    (f"m_b{msg_n:012d}", cid, seq, f"k{seq}", sender, "", "", _body(rng), at)
                )
        conn.executemany(
            "INSERT INTO visitors (id, created_at, last_seen_at) VALUES (?, ?, ?)", visitors
        )
        conn.executemany(
            "INSERT INTO conversations (id, visitor_id, status, last_seq, created_at, closed_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            convs,
        )
        conn.executemany(
            "INSERT INTO messages (id, conversation_id, seq, client_msg_id, sender_type,"
            " sender_id, sender_name, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            msgs,
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    files = 0
    left = uploads_mb * 1024 * 1024
    while left > 0:
        size = min(left, rng.randint(200_000, 4_000_000))
        blob = os.urandom(size)
        name = f"{rng.getrandbits(128):032x}"
        folder = data / "uploads" / name[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(blob)
        left -= size
        files += 1
    made = cli(
        data, "user", "add", "bench-admin", "--role", "admin", "--password-stdin", stdin=PASSWORD
    )
    assert made.returncode == 0, made.stderr
    return {
        "db_bytes": db.stat().st_size,
        "conversations": conv_n,
        "messages": msg_n,
        "upload_files": files,
        "upload_bytes": uploads_mb * 1024 * 1024,
        "fill_s": round(time.monotonic() - started, 1),
    }


def _stats(waits: list[float]) -> dict[str, Any]:
    if not waits:
        return {"n": 0}
    ordered = sorted(waits)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


class Load:
    """Visitors sending messages on a fixed schedule; each wait kept with its phase."""

    def __init__(self, base: str, visitors: int, rate: float) -> None:
        self.base = base
        self.visitors = visitors
        self.rate = rate
        self.phase = "setup"
        self.waits: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.stop = asyncio.Event()
        self.sessions: list[tuple[str, str]] = []  # (token, conversation)

    async def open(self, http: aiohttp.ClientSession) -> None:
        for _ in range(self.visitors):
            async with http.post(self.base + "/api/visitor/session", json={}) as r:
                token = (await r.json())["token"]
            auth = {"Authorization": f"Bearer {token}"}
            async with http.post(
                self.base + "/api/visitor/conversations", json={}, headers=auth
            ) as r:
                conv = (await r.json())["conversation"]["id"]
            self.sessions.append((token, conv))

    async def _send(self, http: aiohttp.ClientSession, n: int) -> None:
        token, conv = self.sessions[n % len(self.sessions)]
        phase = self.phase
        sent = time.monotonic()
        try:
            async with http.post(
                f"{self.base}/api/visitor/conversations/{conv}/messages",
                json={"client_msg_id": f"b{n}", "body": f"bench line {n} 宽带报修"},
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                await r.read()
                if r.status not in (200, 201):
                    self.errors.append(f"{r.status}")
                    return
        except aiohttp.ClientError as err:
            self.errors.append(str(err))
            return
        self.waits.setdefault(phase, []).append(time.monotonic() - sent)

    async def run(self, http: aiohttp.ClientSession) -> None:
        gap = 1.0 / self.rate
        start = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        for n in range(10**9):
            if self.stop.is_set():
                break
            delay = start + n * gap - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._send(http, n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)


def backup_api(db: Path, dest: Path, pages: int, cap: float) -> dict[str, Any]:
    """Copy with the online backup API in steps; stop after `cap` s."""
    started = time.monotonic()
    restarts = 0
    last_remaining = [10**12]

    def progress(_status: int, remaining: int, _total: int) -> None:
        nonlocal restarts
        if remaining > last_remaining[0]:
            restarts += 1  # another connection wrote: the copy began again
        last_remaining[0] = remaining
        if time.monotonic() - started > cap:
            raise TimeoutError

    src = sqlite3.connect(db, isolation_level=None)
    dst = sqlite3.connect(dest, isolation_level=None)
    finished = True
    try:
        src.backup(dst, pages=pages, progress=progress, sleep=0.005)
    except (TimeoutError, sqlite3.Error):
        finished = False
    finally:
        dst.close()
        src.close()
    return {"s": round(time.monotonic() - started, 2), "finished": finished, "restarts": restarts}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-mb", type=int, default=1024)
    parser.add_argument("--uploads-mb", type=int, default=256)
    parser.add_argument("--visitors", type=int, default=20)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second, in all")
    parser.add_argument("--idle", type=float, default=20.0, help="s of load alone")
    parser.add_argument("--pages", type=int, default=1024, help="backup API pages per step")
    parser.add_argument("--api-cap", type=float, default=120.0, help="s the backup API may take")
    parser.add_argument("--filled", type=Path, help="reuse a data dir filled by --keep")
    parser.add_argument("--keep", action="store_true", help="keep the data dirs")
    args = parser.parse_args()

    report: dict[str, Any] = {
        "bench": "backup",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision("appliance", "bench"),
        "machine": machine(load_before=os.getloadavg()),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    work = Path(tempfile.mkdtemp(prefix="callbox-bench-backup-"))
    data, fresh = work / "data", work / "fresh"
    try:
        if args.filled:
            print(f"copying {args.filled} ...", flush=True)
            await asyncio.to_thread(shutil.copytree, args.filled, data)
            report["data"] = json.loads((args.filled.parent / "filled.json").read_text())
        else:
            print(f"filling {data} ...", flush=True)
            report["data"] = await asyncio.to_thread(fill, data, args.db_mb, args.uploads_mb)
            if args.keep:
                kept = work / "filled"
                await asyncio.to_thread(shutil.copytree, data, kept)
                (work / "filled.json").write_text(json.dumps(report["data"]))
                print(f"kept a filled copy in {kept}", flush=True)
        print(json.dumps(report["data"]), flush=True)
        box = await asyncio.to_thread(ApplianceProcess, data, env=_ENV)
        base = box.url("")
        try:
            report["phases"] = await _phases(base, data, work, args)
        finally:
            await asyncio.to_thread(box.stop)
        archive = next((data / "backups").glob("*.tar.age"))
        key_file = work / "key.txt"
        print("restoring ...", flush=True)
        started = time.monotonic()
        restored = await asyncio.to_thread(
            cli, fresh, "restore", str(archive), "--key-file", str(key_file)
        )
        restore_s = time.monotonic() - started
        assert restored.returncode == 0, restored.stderr
        started = time.monotonic()
        again = await asyncio.to_thread(ApplianceProcess, fresh)
        start_s = time.monotonic() - started
        await asyncio.to_thread(again.stop)
        report["restore"] = {
            "s": round(restore_s, 1),
            "restored_box_start_s": round(start_s, 1),
            "db_bytes": (fresh / "callbox.db").stat().st_size,
        }
    finally:
        report["machine"]["load_after"] = os.getloadavg()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    _print(report)
    out = _ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"backup-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"wrote {path}")


async def _phases(base: str, data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    phases: dict[str, Any] = {}
    timeout = aiohttp.ClientTimeout(total=120)
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=jar) as http:
        async with http.get(base + "/login") as r:
            token = (await r.text()).split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        async with http.post(
            base + "/login",
            data={"username": "bench-admin", "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
        ) as r:
            assert r.status == 302
        async with http.get(base + "/api/console/me") as r:
            csrf = {"X-CSRF-Token": (await r.json())["csrf_token"]}
        async with http.post(base + "/api/admin/backups/key", json={}, headers=csrf) as r:
            kit = await r.json()
        (work / "key.txt").write_text(kit["identity"] + "\n")

        load = Load(base, args.visitors, args.rate)
        await load.open(http)
        runner = asyncio.create_task(load.run(http))
        load.phase = "warmup"
        await asyncio.sleep(3)
        load.phase = "idle"
        await asyncio.sleep(args.idle)

        # The box's two heavy steps, from this process, plain and gentler.
        db, copy, out = data / "callbox.db", work / "copy.db", work / "bench.tar.age"
        manifest = Manifest(FORMAT, "bench", 0, "0")
        steps: list[tuple[str, Callable[[], object]]] = [
            ("vacuum_into", lambda: snapshot(db, copy, Progress())),
            ("vacuum_flush", lambda: snapshot(db, copy, Progress(), flush=_FLUSH)),
            ("vacuum_flush_paced", lambda: snapshot(db, copy, Progress(), 0.001, _FLUSH)),
            ("archive", lambda: write_archive(data, copy, manifest, kit["recipient"], out,
                                              Progress(), skip={data / "backups"})),
            ("archive_flush", lambda: write_archive(data, copy, manifest, kit["recipient"], out,
                                                    Progress(), skip={data / "backups"},
                                                    flush=_FLUSH)),
        ]  # fmt: skip
        for name, step in steps:
            if name.startswith("vacuum"):
                copy.unlink(missing_ok=True)
            out.unlink(missing_ok=True)
            load.phase = f"before-{name}"
            await asyncio.sleep(3)
            print(f"{name} ...", flush=True)
            load.phase = name
            started = time.monotonic()
            await asyncio.to_thread(step)
            phases[name] = {"s": round(time.monotonic() - started, 2)}
        copy.unlink(missing_ok=True)
        out.unlink(missing_ok=True)

        load.phase = "between"
        await asyncio.sleep(3)
        print("backup API ...", flush=True)
        load.phase = "backup_api"
        phases["backup_api"] = await asyncio.to_thread(
            backup_api, data / "callbox.db", work / "api.db", args.pages, args.api_cap
        )
        (work / "api.db").unlink(missing_ok=True)

        load.phase = "between2"
        await asyncio.sleep(3)
        print("back up now ...", flush=True)
        load.phase = "backup"
        started = time.monotonic()
        async with http.post(base + "/api/admin/backups/run", headers=csrf) as r:
            assert r.status == 202, await r.text()
        timeline: dict[str, float] = {}
        while True:
            async with http.get(base + "/api/admin/backups") as r:
                state = await r.json()
            job = state["job"]
            if job["progress"]["phase"]:
                at = round(time.monotonic() - started, 2)
                timeline.setdefault(job["progress"]["phase"], at)
            if job["state"] != "running":
                break
            await asyncio.sleep(0.2)
        assert job["state"] == "done", job
        phases["backup"] = {
            "s": round(time.monotonic() - started, 1),
            "phase_started_at_s": timeline,
            "archive_bytes": job["size"],
        }
        load.phase = "after"
        await asyncio.sleep(3)
        load.stop.set()
        await runner
    idle = _stats(load.waits.get("idle", []))
    names = ["idle", "vacuum_into", "vacuum_flush", "vacuum_flush_paced", "archive"]
    for name in (*names, "archive_flush", "backup_api", "backup", "after"):
        figures = _stats(load.waits.get(name, []))
        if idle.get("max_ms") and figures.get("max_ms"):
            figures["max_ratio"] = round(figures["max_ms"] / idle["max_ms"], 2)
            figures["p99_ratio"] = round(figures["p99_ms"] / idle["p99_ms"], 2)
        phases.setdefault(name, {})["writes"] = figures
    phases["errors"] = load.errors[:20]
    return phases


def _print(report: dict[str, Any]) -> None:
    data = report["data"]
    print(
        f"\ndatabase {data['db_bytes'] / 2**20:.0f} MiB ({data['messages']} messages), "
        f"uploads {data['upload_bytes'] / 2**20:.0f} MiB in {data['upload_files']} files"
    )
    print(
        f"{'phase':<12} {'s':>7} {'writes':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'max/idle':>9}"
    )
    for name, phase in report["phases"].items():
        if name == "errors":
            continue
        w = phase.get("writes", {})
        print(
            f"{name:<12} {phase.get('s', ''):>7} {w.get('n', 0):>7} {w.get('p50_ms', ''):>8} "
            f"{w.get('p99_ms', ''):>8} {w.get('max_ms', ''):>8} {w.get('max_ratio', ''):>9}"
        )
    backup = report["phases"]["backup"]
    print(
        f"archive {backup['archive_bytes'] / 2**20:.0f} MiB; phases {backup['phase_started_at_s']}"
    )
    print(f"backup API: {report['phases']['backup_api']}")
    print(f"restore {report['restore']}")
    print(
        f"load average before {report['machine']['load_before']}, "
        f"after {report['machine']['load_after']}"
    )


if __name__ == "__main__":
    asyncio.run(main())
