"""Knowledge base at scale (issue 14 item 8): the box's search over many articles and
ticket/chat messages, beside a LIKE scan and FTS5 trigram on the same data.

    python bench/kb_scale.py --articles 100000 --messages 1000000

1. Data, built once into files under /tmp (reused by later runs of the same size; the
   build's figures are kept beside them): `--articles` articles (a title and a body of
   three generated sentences, bench/search.py's generator; half public) and
   `--messages` chat messages (one sentence each, ten to a conversation), put through
   core/store/search.py in transactions of 200 (the backfill's batch), so the index is
   the box's own: 1+2-character terms in search_fts, articles also in search_kb_fts.
   Every 997th document also holds one of 40 rare 3-character words (about 25 documents
   each at full size). The same texts, normalised, go into a plain table (LIKE scan)
   and an FTS5 trigram table, in a second file.
2. Search: rare words, common words (the generator's fillers, in 5-10 % of the
   documents) and single characters, as a supervisor (every kind), p50/p99 over
   `--repeat` rounds; a visitor's public-article search; suggestions beside a chat
   (a message's words OR-ed over the articles-only index); letters-and-digits prefixes
   (`x20` against `x200`). LIKE and trigram answer the same rare and common words.
3. Index size: the file, and per table (dbstat) when SQLite has it.
4. A chat message's write while articles are imported: on a copy of the database, the
   box's Database (one writer, group commit) and its search indexer run; a message is
   written every 20 ms while `--import` articles go in through core/kb_transfer.py in
   its batches of 50; the longest and p99 wait of a message's write, against the same
   writes with no import.

Prints Markdown tables and writes bench/results/kb_scale-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search import _FILLER, sentences  # bench/search.py's generator

from appliance.core import kb_suggest, kb_transfer
from appliance.core.actors import Staff
from appliance.core.db import Database
from appliance.core.migrate import apply_migrations
from appliance.core.search import Search
from appliance.core.store import search as search_store
from appliance.core.textsearch import normalise, parse

_BATCH = 200  # documents per transaction, as core/search.py BACKFILL_BATCH
_TOP = 20
_RARE_EVERY = 997
# 40 rare 3-character words from a block of characters the generator never uses.
RARE = [chr(0x9A00 + 3 * i) + chr(0x9A01 + 3 * i) + chr(0x9A02 + 3 * i) for i in range(40)]
COMMON = [w for w in _FILLER if len(w) >= 2][:20]
SINGLES = ["网", "费", "单", "修", "客"]
PREFIXES = [("x20", "x200"), ("iphone1", "iphone15"), ("vi", "vip"), ("4", "4g")]
_SUPERVISOR = search_store.Scope(public=False, user_id=1, all_tickets=True, all_chats=True)
_VISITOR = search_store.Scope(public=True)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)


def corpus(articles: int, messages: int) -> tuple[list[tuple[str, str]], list[str]]:
    """Return the articles (title, body) and the messages, rare words planted."""
    texts = sentences(articles * 3 + messages)
    arts = []
    for i in range(articles):
        body = "".join(texts[3 * i : 3 * i + 3])
        if i % _RARE_EVERY == 0:
            body += RARE[(i // _RARE_EVERY) % len(RARE)] + "。"
        arts.append((texts[3 * i][:15], body))
    msgs = texts[articles * 3 :]
    for i in range(0, len(msgs), _RARE_EVERY):
        msgs[i] += RARE[(i // _RARE_EVERY + 7) % len(RARE)]
    return arts, msgs


def build(folder: Path, articles: int, messages: int) -> dict[str, Any]:
    """Build both files (the box's index; LIKE and trigram) and return the figures."""
    box_db, plain_db = folder / "box.db", folder / "plain.db"
    for path in (box_db, plain_db):
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    began = time.perf_counter()
    arts, msgs = corpus(articles, messages)
    figures: dict[str, Any] = {"generate_s": round(_ms(began) / 1000, 1)}

    conn = sqlite3.connect(box_db, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    apply_migrations(conn)
    docs: list[search_store.Doc] = []
    for i, (title, body) in enumerate(arts, 1):
        audience = "public" if i % 2 else "internal"
        docs.append(search_store.Doc("article", str(i), "zh-CN", title, body, i, audience))
    for i, body in enumerate(msgs):
        docs.append(search_store.Doc("chat", f"c{i // 10}", str(i % 10 + 1), "", body, i))
    batches: list[float] = []
    began = time.perf_counter()
    for start in range(0, len(docs), _BATCH):
        one = time.perf_counter()
        conn.execute("BEGIN")
        for doc in docs[start : start + _BATCH]:
            search_store.put(conn, doc)
        conn.execute("COMMIT")
        batches.append(_ms(one))
    figures["box_build_s"] = round(_ms(began) / 1000, 1)
    figures["box_batch_ms"] = {"p50": _pct(batches, 0.5), "max": round(max(batches), 1)}
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()

    plain = sqlite3.connect(plain_db, isolation_level=None)
    plain.execute("PRAGMA journal_mode=WAL")
    plain.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    plain.execute("CREATE VIRTUAL TABLE tri USING fts5 (body, tokenize = 'trigram')")
    texts = [normalise(t + " " + b) for t, b in arts] + [normalise(m) for m in msgs]
    began = time.perf_counter()
    plain.execute("BEGIN")
    plain.executemany("INSERT INTO t (id, body) VALUES (?, ?)", enumerate(texts, 1))
    plain.execute("COMMIT")
    figures["like_build_s"] = round(_ms(began) / 1000, 1)
    began = time.perf_counter()
    plain.execute("BEGIN")
    plain.executemany("INSERT INTO tri (rowid, body) VALUES (?, ?)", enumerate(texts, 1))
    plain.execute("COMMIT")
    figures["trigram_build_s"] = round(_ms(began) / 1000, 1)
    plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    plain.close()
    return figures


def sizes(path: Path, tables: tuple[str, ...]) -> dict[str, float]:
    """Return the file's size and its tables' (MB; dbstat when SQLite has it)."""
    found = {"file": round(path.stat().st_size / 1e6, 1)}
    conn = sqlite3.connect(path)
    try:
        for table in tables:
            row = conn.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name = ? OR name LIKE ?",
                (table, table + "_%"),
            ).fetchone()
            found[table] = round((row[0] or 0) / 1e6, 1)
    except sqlite3.OperationalError:
        found["dbstat"] = 0.0  # not compiled in
    finally:
        conn.close()
    return found


def timed(queries: list[str], fn: Callable[[str], object], repeat: int) -> dict[str, Any]:
    """Return p50/p99 (ms) of fn over the queries, `repeat` rounds pooled."""
    times = []
    for _ in range(repeat):
        for query in queries:
            start = time.perf_counter()
            fn(query)
            times.append(_ms(start))
    return {"n": len(times), "p50_ms": _pct(times, 0.5), "p99_ms": _pct(times, 0.99)}


def searches(folder: Path, repeat: int, sample: list[str]) -> dict[str, Any]:
    """Time the box's searches, LIKE and trigram on the built files."""
    conn = sqlite3.connect(folder / "box.db", isolation_level=None)
    conn.row_factory = sqlite3.Row

    def box(scope: search_store.Scope, kinds: tuple[str, ...]) -> Callable[[str], object]:
        return lambda q: search_store.search(conn, parse(q).match, scope, kinds, _TOP)

    def matches(query: str) -> int:
        match = parse(query).match
        row = conn.execute("SELECT count(*) FROM search_fts WHERE search_fts MATCH ?", (match,))
        return int(row.fetchone()[0])

    every = ("article", "ticket", "chat")
    out: dict[str, Any] = {
        "matches": {
            "rare": [matches(q) for q in RARE[:5]],
            "common": [matches(q) for q in COMMON[:5]],
            "single": [matches(q) for q in SINGLES[:3]],
        }
    }
    out["box_rare"] = timed(RARE, box(_SUPERVISOR, every), repeat)
    out["box_common"] = timed(COMMON, box(_SUPERVISOR, every), repeat)
    out["box_single"] = timed(SINGLES, box(_SUPERVISOR, every), repeat)
    out["box_visitor_common"] = timed(COMMON, box(_VISITOR, ("article",)), repeat)
    out["box_visitor_rare"] = timed(RARE, box(_VISITOR, ("article",)), repeat)

    def suggest(text: str) -> object:
        words = kb_suggest.candidate_words(text)
        return search_store.suggest(conn, " OR ".join(f'"{w}"' for w in words), 3)

    out["suggest"] = timed(sample, suggest, 1)
    prefix: dict[str, Any] = {}
    for short, whole in PREFIXES:
        for q in (short, whole):
            found = matches(q)
            t = timed([q], box(_SUPERVISOR, every), repeat * 3)
            prefix[q] = {"matches": found, "p50_ms": t["p50_ms"], "p99_ms": t["p99_ms"]}
    out["prefix"] = prefix
    conn.close()

    plain = sqlite3.connect(folder / "plain.db")
    like = lambda q: plain.execute(  # noqa: E731
        "SELECT id FROM t WHERE instr(body, ?) > 0 ORDER BY id DESC LIMIT ?", (normalise(q), _TOP)
    ).fetchall()
    tri = lambda q: plain.execute(  # noqa: E731
        "SELECT rowid FROM tri WHERE tri MATCH ? ORDER BY rank LIMIT ?", (f'"{normalise(q)}"', _TOP)
    ).fetchall()
    out["like_rare"] = timed(RARE[:10], like, 1)
    out["like_common"] = timed(COMMON[:10], like, 1)
    out["trigram_rare"] = timed(RARE, tri, repeat)
    three = [w for w in _FILLER if len(w) >= 3]
    out["trigram_common_3char"] = timed(three, tri, repeat)
    out["trigram_finds_2char"] = sum(1 for q in COMMON if len(q) == 2 and tri(q))
    plain.close()
    return out


async def write_wait(copy: Path, count: int, scratch: Path) -> dict[str, Any]:
    """Time chat-message writes with and without an import running (on a copy)."""
    db = Database(copy)
    await db.open()
    search = Search(db)

    def setup(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO users (id, username, display_name, password_hash, role,"
            " created_at) VALUES (1, 'bench', 'bench', 'x', 'supervisor', 0)"
        )
        conn.execute(
            "INSERT OR IGNORE INTO visitors (id, created_at, last_seen_at) VALUES ('v', 0, 0)"
        )
        conn.execute(
            "INSERT OR IGNORE INTO conversations (id, visitor_id, status, agent_id, created_at)"
            " VALUES ('bench', 'v', 'active', 1, 0)"
        )

    await db.write(setup)
    await search.open()
    seq = [0]

    async def chats(seconds: float) -> list[float]:
        waits = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            seq[0] += 1
            n = seq[0]

            def job(conn: sqlite3.Connection, n: int = n) -> None:
                conn.execute(
                    "INSERT INTO messages (id, conversation_id, seq, sender_type, body,"
                    " created_at) VALUES (?, 'bench', ?, 'visitor', '我家宽带又掉线了', ?)",
                    (f"bench-{n}", n, n),
                )

            start = time.perf_counter()
            await db.write(job)
            waits.append(_ms(start))
            await asyncio.sleep(0.02)
        return waits

    quiet = await chats(3.0)
    actor = Staff(1, "bench", "supervisor")
    rng = random.Random(8)
    texts = sentences(count * 2 + 100)
    entries = [
        kb_transfer.Entry(
            f"bench/{i}.md",
            texts[2 * i][:20] or "t",
            texts[2 * i] + texts[2 * i + 1],
            "",
            "",
            "宽带" if rng.random() < 0.5 else "账单",
            "public",
            "published",
        )
        for i in range(count)
    ]
    transfer = kb_transfer.Transfer(db, scratch)
    job = kb_transfer.Job(0, "bench", total=count)
    began = time.perf_counter()
    importing = asyncio.create_task(transfer._import(job, entries, actor))
    busy: list[float] = []
    while not importing.done():
        busy += await chats(0.5)
    await importing
    import_s = _ms(began) / 1000
    await search.close()
    await db.close()
    return {
        "imported": job.created,
        "import_s": round(import_s, 1),
        "articles_per_s": round(job.created / import_s),
        "quiet": {"n": len(quiet), "p50_ms": _pct(quiet, 0.5), "max_ms": round(max(quiet), 1)},
        "importing": {
            "n": len(busy),
            "p50_ms": _pct(busy, 0.5),
            "p99_ms": _pct(busy, 0.99),
            "max_ms": round(max(busy), 1),
        },
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build (or reuse) the data and measure."""
    folder = Path(args.data) / f"kb_scale-{args.articles}-{args.messages}"
    folder.mkdir(parents=True, exist_ok=True)
    meta = folder / "build.json"
    report: dict[str, Any] = {
        "articles": args.articles,
        "messages": args.messages,
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "load_before": _load(),
    }
    if meta.exists() and (folder / "box.db").exists() and not args.rebuild:
        report["build"] = {**json.loads(meta.read_text()), "reused": True}
    else:
        report["build"] = build(folder, args.articles, args.messages)
        meta.write_text(json.dumps(report["build"]))
    report["load_after_build"] = _load()
    report["size_mb"] = sizes(folder / "box.db", ("search_fts", "search_kb_fts", "search_docs"))
    report["plain_size_mb"] = sizes(folder / "plain.db", ("t", "tri"))
    sample = sentences(50)
    report["search"] = searches(folder, args.repeat, sample)
    copy = folder / "box-copy.db"
    shutil.copyfile(folder / "box.db", copy)
    try:
        report["write_wait"] = asyncio.run(write_wait(copy, args.imports, folder))
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(str(copy) + suffix).unlink(missing_ok=True)
    report["load_after"] = _load()
    return report


def markdown(r: dict[str, Any]) -> str:
    """Return the main figures as Markdown."""
    s = r["search"]
    lines = [
        f"{r['articles']:,} articles + {r['messages']:,} messages; build "
        f"{r['build'].get('box_build_s')} s (box), {r['build'].get('trigram_build_s')} s "
        f"(trigram), {r['build'].get('like_build_s')} s (plain); size {r['size_mb']}",
        "",
        "| query | p50 ms | p99 ms |",
        "|---|---|---|",
    ]
    for key in (
        "box_rare",
        "box_common",
        "box_single",
        "box_visitor_rare",
        "box_visitor_common",
        "suggest",
        "like_rare",
        "like_common",
        "trigram_rare",
        "trigram_common_3char",
    ):
        lines.append(f"| {key} | {s[key]['p50_ms']} | {s[key]['p99_ms']} |")
    w = r["write_wait"]
    lines.append("")
    lines.append(
        f"chat write wait: quiet p50 {w['quiet']['p50_ms']} ms, max {w['quiet']['max_ms']} ms; "
        f"while importing {w['imported']} articles ({w['import_s']} s): p50 "
        f"{w['importing']['p50_ms']}, p99 {w['importing']['p99_ms']}, max "
        f"{w['importing']['max_ms']} ms"
    )
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--imports", type=int, default=2_000, help="articles imported")
    parser.add_argument("--data", default=tempfile.gettempdir(), help="where data is kept")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    report = run(args)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"kb_scale-{stamp}.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print(markdown(report))
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
