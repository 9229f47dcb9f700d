"""Chinese search benchmark: which index finds every word, and how fast (issue 14).

    python bench/search.py --sentences 100000 --repeat 3

1. Generate `--sentences` customer-service sentences (no network, fixed seed): common
   words around planted targets (1- and 2-character words, longer words, mixed
   Chinese/English/digits), a share written with full-width letters and digits and a
   share in traditional characters.
2. Index them four ways, each in its own SQLite file:
   - split:   what Callbox does: the migrations' tables, each sentence put through
              core/store/search.py (core/textsearch.py's 1+2-character terms in the
              contentless unicode61 FTS5 table, the text kept beside it) in
              transactions of 200 (the backfill's batch; their times reported), and
              queried through its search (bm25, grouped, best 20);
   - trigram: FTS5's trigram tokenizer over the same normalised text (MATCH, and LIKE
              on the trigram table);
   - like:    a plain table scanned with LIKE '%word%' (the baseline every hit of
              which is right by construction);
   - jieba:   jieba's search-mode segmentation into a unicode61 FTS5 table, if jieba is
              installed (optional).
   and report build time and file size.
3. For every query, recall against the truth (sentences whose normalised text holds
   every part of the query), and the time of the query as the box runs it (MATCH,
   bm25 with the title weighted, best 20) over `--repeat` rounds: p50 and p99 per
   method, the median of the rounds.

Prints a Markdown table and writes bench/results/search-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.core import hanzi_fold
from appliance.core.migrate import apply_migrations
from appliance.core.store import search as search_store
from appliance.core.textsearch import normalise, parse

_SEED = 14
_TOP = 20  # hits the box asks for
_BATCH = 200  # rows per transaction, as core/search.py BACKFILL_BATCH

_FILLER = tuple(
    [
        "您好",
        "请问",
        "我们",
        "客户",
        "已经",
        "需要",
        "可以",
        "帮忙",
        "处理",
        "一下",
        "今天",
        "明天",
        "昨天",
        "这个",
        "那个",
        "问题",
        "情况",
        "还是",
        "没有",
        "因为",
        "所以",
        "但是",
        "如果",
        "时候",
        "服务",
        "电话",
        "地址",
        "手机",
        "订单",
        "号码",
        "信息",
        "系统",
        "时间",
        "马上",
        "确认",
        "查询",
        "反馈",
        "联系",
        "工作日",
        "营业厅",
        "客服",
        "师傅",
        "上门",
        "安装",
        "维修",
        "网络",
        "信号",
        "设备",
        "路由器",
        "光猫",
        "账户",
        "余额",
        "发票",
        "积分",
        "会员",
        "活动",
        "优惠",
        "价格",
        "费用",
        "月租",
        "合同",
        "续约",
        "升级",
        "降级",
        "开通",
        "关闭",
        "暂停",
    ]
)
_SINGLES = list("的了是我你他在有不这要也就都和很到说去会对")
# What is searched for: (query, class). Each is planted in some sentences.
QUERIES: tuple[tuple[str, str], ...] = (
    ("退", "1-char"),
    ("宽", "1-char"),
    ("网", "1-char"),
    ("费", "1-char"),
    ("单", "1-char"),
    ("修", "1-char"),
    ("宽带", "2-char"),
    ("退款", "2-char"),
    ("套餐", "2-char"),
    ("流量", "2-char"),
    ("账单", "2-char"),
    ("话费", "2-char"),
    ("停机", "2-char"),
    ("欠费", "2-char"),
    ("网速", "2-char"),
    ("故障", "2-char"),
    ("投诉", "2-char"),
    ("密码", "2-char"),
    ("携号转网", "longer"),
    ("转网", "in-word"),
    ("号转", "in-word"),
    ("宽带故障", "longer"),
    ("退款进度", "longer"),
    ("国际漫游", "longer"),
    ("X200 型号", "mixed"),
    ("4G 套餐", "mixed"),
    ("5G", "mixed"),
    ("iPhone15", "mixed"),
    ("ＶＩＰ", "full-width"),
    ("４Ｇ", "full-width"),
    ("寬帶", "traditional"),
    ("帳單", "traditional"),  # 帳 is not folded (帐/账): finds only itself
    ("話費", "traditional"),
    ("攜號轉網", "traditional"),
)
_PLANTS = (
    "宽带",
    "退款",
    "套餐",
    "流量",
    "账单",
    "话费",
    "停机",
    "欠费",
    "网速",
    "故障",
    "投诉",
    "密码",
    "携号转网",
    "宽带故障",
    "退款进度",
    "国际漫游",
    "X200型号",
    "X200 型号",
    "4G套餐",
    "5G",
    "iPhone15",
    "VIP",
)
_TO_TRADITIONAL = str.maketrans({s: t for t, s in hanzi_fold.pairs()})
_FULL_WIDTH = str.maketrans(
    {
        c: chr(ord(c) + 0xFEE0)
        for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    }
)


def sentences(count: int) -> list[str]:
    """Return `count` generated sentences (deterministic)."""
    rng = random.Random(_SEED)
    out = []
    for _ in range(count):
        words = [rng.choice(_FILLER) for _ in range(rng.randint(4, 9))]
        words += [rng.choice(_SINGLES) for _ in range(rng.randint(1, 3))]
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            words.append(rng.choice(_PLANTS))
        rng.shuffle(words)
        text = ""
        for word in words:
            # Latin words stand apart, as people write them; Chinese runs on.
            if text[-1:].isascii() and text[-1:].isalnum() and word[:1].isascii():
                text += " "
            text += word if rng.random() < 0.85 else word + "，"
        text += "。"
        roll = rng.random()
        if roll < 0.05:
            text = text.translate(_TO_TRADITIONAL)
        elif roll < 0.10:
            text = text.translate(_FULL_WIDTH)
        out.append(text)
    return out


def truth(normalised: list[str], query: str) -> set[int]:
    """Return the rows whose normalised text holds every part of the query."""
    parts = parse(query).parts
    return {i for i, text in enumerate(normalised, 1) if all(p in text for p in parts)}


class Method:
    """One way to index and search."""

    name = ""

    def __init__(self, folder: Path) -> None:
        self.path = folder / f"{self.name}.db"
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")

    def build(self, texts: list[str], normalised: list[str]) -> None:
        raise NotImplementedError

    def find(self, query: str) -> set[int]:
        raise NotImplementedError

    def ranked(self, query: str) -> list[int]:
        raise NotImplementedError

    def size(self) -> int:
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return self.path.stat().st_size


class Split(Method):
    """The box's own path: migrations applied, documents put through the search
    store (text kept in search_docs, terms in search_fts), queries through its search
    (bm25 with the title weighted, grouped per document, newest first on a tie)."""

    name = "split"

    def build(self, texts: list[str], normalised: list[str]) -> None:
        apply_migrations(self.conn)
        # In batches of the backfill's size, each its own transaction: how long one
        # batch holds the writer (splitting included).
        self.batches: list[float] = []
        for start in range(0, len(texts), _BATCH):
            began = time.perf_counter()
            self.conn.execute("BEGIN")
            for i, text in enumerate(texts[start : start + _BATCH], start + 1):
                doc = search_store.Doc("article", str(i), "zh-CN", "", text, i, "public")
                search_store.put(self.conn, doc)
            self.conn.execute("COMMIT")
            self.batches.append((time.perf_counter() - began) * 1000)

    def find(self, query: str) -> set[int]:
        match = parse(query).match
        rows = self.conn.execute("SELECT rowid FROM search_fts WHERE search_fts MATCH ?", (match,))
        return {r[0] for r in rows}

    def ranked(self, query: str) -> list[int]:
        hits = search_store.search(
            self.conn, parse(query).match, search_store.Scope(public=True), ("article",), _TOP
        )
        return [int(h.ref) for h in hits]


_LIKE_CHILD = """
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
where = " AND ".join("body LIKE ?" for _ in sys.argv[2:])
rows = conn.execute("SELECT rowid FROM t WHERE " + where, sys.argv[2:]).fetchall()
print(json.dumps([r[0] for r in rows]))
"""


def _quoted(query: str) -> str:
    return " AND ".join('"' + p + '"' for p in parse(query).parts)


class Trigram(Method):
    name = "trigram"

    def build(self, texts: list[str], normalised: list[str]) -> None:
        self.conn.execute("CREATE VIRTUAL TABLE t USING fts5 (title, body, tokenize = 'trigram')")
        self.conn.execute("BEGIN")
        self.conn.executemany(
            "INSERT INTO t (rowid, title, body) VALUES (?, '', ?)", enumerate(normalised, 1)
        )
        self.conn.execute("COMMIT")

    def find(self, query: str) -> set[int]:
        rows = self.conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (_quoted(query),))
        return {r[0] for r in rows}

    def find_like(self, query: str) -> set[int] | str:
        """LIKE on the trigram table, in a child process: SQLite 3.40.1 crashed here
        (a segmentation fault) on some pairs of short patterns; the crash is recorded."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        patterns = [f"%{p}%" for p in parse(query).parts]
        done = subprocess.run(
            [sys.executable, "-c", _LIKE_CHILD, str(self.path), *patterns],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            return f"crashed (exit {done.returncode})"
        return set(json.loads(done.stdout))

    def ranked(self, query: str) -> list[int]:
        rows = self.conn.execute(
            "SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t, 4.0, 1.0) LIMIT ?",
            (_quoted(query), _TOP),
        )
        return [r[0] for r in rows]


class Like(Method):
    name = "like"

    def build(self, texts: list[str], normalised: list[str]) -> None:
        self.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO t (id, body) VALUES (?, ?)", enumerate(normalised, 1))
        self.conn.execute("COMMIT")

    def _sql(self, query: str, limit: str) -> tuple[str, list[str]]:
        parts = parse(query).parts
        where = " AND ".join("instr(body, ?) > 0" for _ in parts)
        return f"SELECT id FROM t WHERE {where} ORDER BY id DESC{limit}", list(parts)  # noqa: S608

    def find(self, query: str) -> set[int]:
        sql, params = self._sql(query, "")
        return {r[0] for r in self.conn.execute(sql, params)}

    def ranked(self, query: str) -> list[int]:
        sql, params = self._sql(query, f" LIMIT {_TOP}")
        return [r[0] for r in self.conn.execute(sql, params)]


class Jieba(Method):
    name = "jieba"

    def __init__(self, folder: Path) -> None:
        import jieba  # type: ignore[import-not-found,import-untyped,unused-ignore]

        jieba.setLogLevel(60)
        self.jieba = jieba
        super().__init__(folder)

    def _words(self, text: str) -> str:
        return " ".join(w for w in self.jieba.cut_for_search(text) if w.strip())

    def build(self, texts: list[str], normalised: list[str]) -> None:
        self.conn.execute("CREATE VIRTUAL TABLE t USING fts5 (title, body)")
        self.conn.execute("BEGIN")
        self.conn.executemany(
            "INSERT INTO t (rowid, title, body) VALUES (?, '', ?)",
            ((i, self._words(text)) for i, text in enumerate(normalised, 1)),
        )
        self.conn.execute("COMMIT")

    def _match(self, query: str) -> str:
        words = [w for w in self.jieba.cut(normalise(query)) if w.strip()]
        return " AND ".join('"' + w.replace('"', "") + '"' for w in words) or '""'

    def find(self, query: str) -> set[int]:
        rows = self.conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (self._match(query),))
        return {r[0] for r in rows}

    def ranked(self, query: str) -> list[int]:
        rows = self.conn.execute(
            "SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t, 4.0, 1.0) LIMIT ?",
            (self._match(query), _TOP),
        )
        return [r[0] for r in rows]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def run(count: int, repeat: int) -> dict[str, object]:
    """Build every index over `count` sentences and measure them."""
    report: dict[str, object] = {
        "sentences": count,
        "repeat": repeat,
        "sqlite": sqlite3.sqlite_version,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_before": _load(),
    }
    texts = sentences(count)
    normalised = [normalise(t) for t in texts]
    classes: dict[str, str] = dict(QUERIES)
    wanted = {q: truth(normalised, q) for q, _ in QUERIES}
    report["truth"] = {q: len(v) for q, v in wanted.items()}
    methods: list[Method] = []
    with tempfile.TemporaryDirectory() as folder:
        kinds: list[type[Method]] = [Split, Trigram, Like]
        try:
            import jieba  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: F401

            kinds.append(Jieba)
        except ImportError:
            report["jieba"] = "not installed: skipped"
        results: dict[str, dict[str, object]] = {}
        for kind in kinds:
            method = kind(Path(folder))
            built = _timed(lambda m=method: m.build(texts, normalised))  # type: ignore[misc]
            methods.append(method)
            recall: dict[str, float] = {}
            for query, _ in QUERIES:
                want = wanted[query]
                got = method.find(query)
                recall[query] = len(got & want) / len(want) if want else float(not got)
                if got - want:
                    recall[query + " (extra)"] = len(got - want)
            rounds = []
            for _ in range(repeat):
                times = [_timed(lambda m=method, q=q: m.ranked(q)) for q, _ in QUERIES]  # type: ignore[misc]
                rare = [
                    t for t, (q, _) in zip(times, QUERIES, strict=True) if len(wanted[q]) < 2000
                ]
                rounds.append(
                    (
                        _percentile(times, 0.5),
                        _percentile(times, 0.99),
                        _percentile(rare, 0.99) if rare else 0.0,
                    )
                )
            by_class: dict[str, list[float]] = {}
            for query, value in recall.items():
                if query in classes:
                    by_class.setdefault(classes[query], []).append(value)
            results[method.name] = {
                "build_s": round(built / 1000, 2),
                "size_mb": round(method.size() / 1e6, 1),
                "recall_by_class": {c: round(min(v), 3) for c, v in by_class.items()},
                "recall": {q: round(v, 3) for q, v in recall.items()},
                "p50_ms": round(statistics.median(r[0] for r in rounds), 2),
                "p99_ms": round(statistics.median(r[1] for r in rounds), 2),
                "p99_rare_ms": round(statistics.median(r[2] for r in rounds), 2),
            }
            if isinstance(method, Split):
                results[method.name]["batch_ms"] = {
                    "p50": round(statistics.median(method.batches), 1),
                    "max": round(max(method.batches), 1),
                }
            if isinstance(method, Trigram):
                like: dict[str, object] = {}
                for q, _ in QUERIES:
                    found = method.find_like(q)
                    if isinstance(found, str):
                        like[q] = found
                    else:
                        like[q] = (
                            round(len(found & wanted[q]) / len(wanted[q]), 3) if wanted[q] else 1.0
                        )
                results["trigram LIKE"] = {"recall": like}
            method.conn.close()
        report["methods"] = results
    report["load_after"] = _load()
    return report


def markdown(report: dict[str, object]) -> str:
    """Return the report's tables in Markdown."""
    methods = report["methods"]
    assert isinstance(methods, dict)
    classes = sorted({c for _, c in QUERIES})
    head = "| method | build s | size MB | " + " | ".join(classes) + " | p50 ms | p99 ms |"
    lines = [head, "|" + "---|" * (5 + len(classes))]
    for name, m in methods.items():
        if "build_s" not in m:
            continue
        recall = m["recall_by_class"]
        cells = " | ".join(f"{recall.get(c, 0):.2f}" for c in classes)
        figures = f"{m['build_s']} | {m['size_mb']} | {cells} | {m['p50_ms']} | {m['p99_ms']}"
        lines.append(f"| {name} | {figures} |")
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sentences", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report = run(args.sentences, args.repeat)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"search-{stamp}.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print(markdown(report))
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
