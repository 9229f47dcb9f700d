"""IP table benchmark: import, load and look up a generated 700,000-range ip2region file.

The real ip2region source text has about 700,000 IPv4 ranges; this generates as many
(contiguous ranges over the IPv4 space, a few thousand distinct places) in the v2
"ip.merge.txt" layout, imports it into a fresh database through IpTable.import_csv,
then measures:

- the import as a whole, the longest of its write jobs (how long it holds the writer),
  and the longest wait of a one-row write issued every 20 ms meanwhile (what a chat
  message would wait);
- load(): the time to build the in-memory index and the memory it keeps (tracemalloc);
- lookup() over random public addresses.

    python bench/iptable.py --ranges 700000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.core import iptable
from appliance.core.db import Database

_PROVINCES = ["北京市", "上海市", "广东省", "浙江省", "江苏省", "四川省", "湖北省", "福建省"]
_ISPS = ["电信", "联通", "移动", "0"]


def generate(ranges: int, seed: int = 5) -> bytes:
    """Return an ip2region v2 text of contiguous ranges over the IPv4 space."""
    rng = random.Random(seed)
    step = (1 << 32) // ranges
    lines = []
    start = 0
    for i in range(ranges):
        end = (1 << 32) - 1 if i == ranges - 1 else start + rng.randint(1, 2 * step - 1)
        end = min(end, (1 << 32) - 1)
        if rng.random() < 0.6:
            province = rng.choice(_PROVINCES)
            city = f"城市{rng.randrange(400)}"
            place = f"中国|0|{province}|{city}|{rng.choice(_ISPS)}"
        else:
            place = f"国家{rng.randrange(200)}|0|0|0|0"
        a = ".".join(str(b) for b in start.to_bytes(4, "big"))
        b = ".".join(str(b) for b in end.to_bytes(4, "big"))
        lines.append(f"{a}|{b}|{place}")
        start = end + 1
        if start >= 1 << 32:
            break
    return ("\n".join(lines) + "\n").encode()


def _timed(name: str, fn: Callable[..., Any], longest: dict[str, float]) -> Callable[..., Any]:
    def timed(*args: Any) -> Any:
        began = time.perf_counter()
        try:
            return fn(*args)
        finally:
            longest[name] = max(longest.get(name, 0.0), time.perf_counter() - began)

    return timed


async def _probe(db: Database, waits: list[float], stop: asyncio.Event) -> None:
    """Write one row every 20 ms, as chat traffic would, and record each wait."""
    while not stop.is_set():
        began = time.perf_counter()
        await db.write(lambda c, at=began: c.execute("INSERT INTO probe VALUES (?)", (at,)))
        waits.append(time.perf_counter() - began)
        await asyncio.sleep(0.02)


async def run(ranges: int) -> dict[str, Any]:
    data = generate(ranges)
    jobs: dict[str, float] = {}
    for name in ("_create_stage", "_stage", "_copy", "_swap"):
        setattr(iptable, name, _timed(name, getattr(iptable, name), jobs))
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        await db.open()
        await db.write(lambda c: c.execute("CREATE TABLE probe (at REAL)"))
        table = iptable.IpTable(db)
        waits: list[float] = []
        importing = asyncio.Event()
        probe = asyncio.create_task(_probe(db, waits, importing))
        began = time.perf_counter()
        result = await table.import_csv(data, "auto")
        import_s = time.perf_counter() - began
        importing.set()
        await probe

        fresh = iptable.IpTable(db)
        began = time.perf_counter()
        await fresh.load()
        load_s = time.perf_counter() - began
        # Again under tracemalloc (several times slower) for what the index keeps.
        traced = iptable.IpTable(db)
        tracemalloc.start()
        await traced.load()
        kept, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del traced

        rng = random.Random(7)
        addresses = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.1.2" for _ in range(100_000)]
        began = time.perf_counter()
        found = sum(fresh.lookup(a).status == "found" for a in addresses)
        lookup_s = time.perf_counter() - began
        await db.close()
    return {
        "ranges": result["ranges"],
        "file_mb": round(len(data) / 1e6, 1),
        "import_s": round(import_s, 2),
        **{f"longest{name}_s": round(jobs[name], 3) for name in sorted(jobs)},
        "probe_write_max_s": round(max(waits), 3),
        "probe_write_median_s": round(sorted(waits)[len(waits) // 2], 3),
        "load_s": round(load_s, 2),
        "index_mb": round(kept / 1e6, 1),
        "load_peak_mb": round(peak / 1e6, 1),
        "places": len(fresh._index.places),
        "lookup_us": round(lookup_s / len(addresses) * 1e6, 2),
        "found_share": round(found / len(addresses), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ranges", type=int, default=700_000)
    args = parser.parse_args()
    for key, value in asyncio.run(run(args.ranges)).items():
        print(f"{key:>14}: {value}")


if __name__ == "__main__":
    main()
