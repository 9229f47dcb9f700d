"""Probes run inside the appliance by `bench/ws_fanout.py --prelude` (issue 18).

    --prelude "import bench.ws_probes as p; p.writer_timing()"
    --prelude "import bench.ws_probes as p; p.stall_watchdog()"
    --prelude "import bench.ws_probes as p; p.line_timing()"
    --prelude "import bench.ws_probes as p; p.helper_timing()"
    --prelude "import bench.ws_probes as p; p.pass_timing()"

`writer_timing` times every batch of the database writer: its jobs (by function) and
its commit, the gap to the next batch, and when the event loop settled it.
`stall_watchdog` records the event loop's stack whenever the loop has not ticked for
10 ms. `line_timing` times each chat line from its frame being parsed to its commit
being settled on the loop, stage by stage. `helper_timing` stamps each request to the
writer's helper process on both sides (sent, picked up, statements, COMMIT, answer
read, settled). `pass_timing` times each step of the report pass (core/reports.py): its
events, the rows they touched, and the reader thread's CPU for folding them and making
the rows' figures. Each writes a JSON file into bench/results/
when the appliance exits; `python bench/ws_probes.py FILE` summarises it (the busiest
30 s of the run).

All cost a little CPU themselves: compare runs with the same probe on, not a probed
run with an unprobed one.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

_RESULTS = Path(__file__).resolve().parent / "results"
_LONG = 0.005  # s: a batch longer than this keeps its jobs' times
_STALL = 0.010  # s without a tick of the loop: a stall


def _dump(kind: str, data: Any) -> None:
    _RESULTS.mkdir(exist_ok=True)
    path = _RESULTS / f"probe-{kind}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps({"kind": kind, **data}))


def _name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or type(fn).__name__)


def writer_timing() -> None:
    """Patch the database writer to time each batch (see the module's text)."""
    from appliance.core import db

    batches: list[list[float]] = []  # start, end, jobs, oldest job's queueing time
    settled: list[list[float]] = []  # start, end
    long: list[list[Any]] = []  # start, end, [(part, seconds)]

    run = db.Database._run_batch
    run_many = db.Database._run_many
    current: list[list[tuple[str, float]]] = [[]]  # the parts of the batch running now

    def timed_run_many(conn: Any, group: list[Any]) -> bool:
        # Neighbouring jobs of one run_many go in one call, not through their fn.
        began = time.monotonic()
        try:
            return bool(run_many(conn, group))
        finally:
            name = _name(group[0].many[0])
            current[0].append((f"{name} x{len(group)}", time.monotonic() - began))

    def run_batch(self: db.Database, batch: list[Any]) -> None:
        # Each job's function is timed where the writer calls it; what is left of the
        # batch's time is its BEGIN, savepoints and COMMIT.
        parts: list[tuple[str, float]] = []

        def timed(fn: Any) -> Any:
            def call(conn: Any) -> Any:
                began = time.monotonic()
                try:
                    return fn(conn)
                finally:
                    parts.append((_name(fn), time.monotonic() - began))

            return call

        current[0] = parts
        for job in batch:
            job.fn = timed(job.fn)
        start = time.monotonic()
        try:
            run(self, batch)
        finally:
            end = time.monotonic()
            parts.append(("BEGIN, savepoints, COMMIT", end - start - sum(p[1] for p in parts)))
            batches.append([start, end, len(batch), min(job.queued for job in batch)])
            if end - start > _LONG:
                long.append([start, end, parts])

    settle = db.Database._settle

    def timed_settle(self: db.Database, batch: list[Any]) -> None:
        start = time.monotonic()
        settle(self, batch)
        settled.append([start, time.monotonic()])

    send_away, answered = db.Database._send_away, db.Database._answered
    sent_at: dict[int, float] = {}  # id(part): when its request went to the helper

    def timed_send_away(self: db.Database, helper: Any, run_many: Any, part: list[Any]) -> None:
        sent_at[id(part)] = time.monotonic()
        send_away(self, helper, run_many, part)

    def timed_answered(self: db.Database, part: list[Any], reply: Any) -> None:
        # The helper process's transaction, from its request to its answer on the loop.
        end = time.monotonic()
        start = sent_at.pop(id(part), end)
        answered(self, part, reply)
        name = f"helper: {_name(part[0].many[0])} x{len(part)}"
        batches.append([start, end, len(part), min(job.queued for job in part)])
        if end - start > _LONG:
            took = reply[2] if reply[0] == "ok" else 0.0
            beside = "  before and after it: the request ahead, the loop"
            long.append([start, end, [(name, took), (beside, end - start - took)]])

    db.Database._run_batch = run_batch  # type: ignore[method-assign]
    db.Database._send_away = timed_send_away  # type: ignore[method-assign]
    db.Database._answered = timed_answered  # type: ignore[method-assign]
    db.Database._run_many = staticmethod(timed_run_many)  # type: ignore[method-assign, assignment]
    db.Database._settle = timed_settle  # type: ignore[method-assign]
    atexit.register(lambda: _dump("writer", {"batches": batches, "settled": settled, "long": long}))


def line_timing() -> None:
    """Time each chat line's write through its four stages (see _summarise_lines)."""
    import contextvars

    from appliance.core import db
    from appliance.webui import ws

    parsed: contextvars.ContextVar[float] = contextvars.ContextVar("probe_parsed", default=0.0)
    parsed_of: dict[int, float] = {}  # id(future) of a chat line's job: when it was parsed
    stamps: dict[int, list[float]] = {}  # id(job): parsed, queued, started, committed
    lines: list[list[float]] = []  # parsed, queued, started, committed, settled

    parse = ws.parse_frame

    def timed_parse(data: str) -> Any:
        parsed.set(time.monotonic())
        return parse(data)

    submit = db.Database._submit

    def timed_submit(self: db.Database, fn: Any, *args: Any, **kwargs: Any) -> Any:
        future = submit(self, fn, *args, **kwargs)
        if "post" in _name(fn) and parsed.get():
            parsed_of[id(future)] = parsed.get()
        return future

    def stamp(batch: list[Any], start: float, end: float) -> None:
        for job in batch:
            began = parsed_of.pop(id(job.future), None)
            if began is not None:
                stamps[id(job)] = [began, job.queued, start, end]

    run = db.Database._run_batch

    def timed_run(self: db.Database, batch: list[Any]) -> None:
        # A transaction of the writer thread.
        start = time.monotonic()
        try:
            run(self, batch)
        finally:
            stamp(batch, start, time.monotonic())

    send_away, answered = db.Database._send_away, db.Database._answered
    sent_at: dict[int, float] = {}

    def timed_send_away(self: db.Database, helper: Any, run_many: Any, part: list[Any]) -> None:
        sent_at[id(part)] = time.monotonic()
        send_away(self, helper, run_many, part)

    def timed_answered(self: db.Database, part: list[Any], reply: Any) -> None:
        # A request of the helper process: from when it was sent to its answer.
        end = time.monotonic()
        stamp(part, sent_at.pop(id(part), end), end)
        answered(self, part, reply)

    settle = db.Database._settle

    def timed_settle(self: db.Database, batch: list[Any]) -> None:
        settle(self, batch)
        now = time.monotonic()
        for job in batch:
            got = stamps.pop(id(job), None)
            if got is not None:
                lines.append([*got, now])

    ws.parse_frame = timed_parse  # type: ignore[assignment]
    db.Database._submit = timed_submit  # type: ignore[method-assign]
    db.Database._run_batch = timed_run  # type: ignore[method-assign]
    db.Database._send_away = timed_send_away  # type: ignore[method-assign]
    db.Database._answered = timed_answered  # type: ignore[method-assign]
    db.Database._settle = timed_settle  # type: ignore[method-assign]
    atexit.register(lambda: _dump("lines", {"lines": lines}))


def stall_watchdog() -> None:
    """Record the loop's stack while it does not tick (see the module's text)."""
    from appliance.core import db

    state: dict[str, Any] = {"tick": time.monotonic(), "stop": False}
    stalls: list[list[Any]] = []  # tick it stalled after, seconds, {stack: samples}
    main = threading.main_thread().ident

    async def ticker() -> None:
        while True:
            state["tick"] = time.monotonic()
            await asyncio.sleep(0.001)

    opened = db.Database.open

    async def open_and_tick(self: db.Database) -> None:
        await opened(self)
        if "task" not in state:
            state["task"] = asyncio.get_running_loop().create_task(ticker())

    def stack(frame: Any) -> str:
        names = []
        while frame is not None and len(names) < 25:
            code = frame.f_code
            names.append(f"{code.co_name} ({Path(code.co_filename).name}:{frame.f_lineno})")
            frame = frame.f_back
        return ";".join(reversed(names))

    def watch() -> None:
        current: list[Any] | None = None
        while not state["stop"]:
            time.sleep(0.002)
            tick = state["tick"]
            lag = time.monotonic() - tick
            if lag <= _STALL:
                continue
            frame = sys._current_frames().get(main or 0)
            if current is None or current[0] != tick:
                current = [tick, 0.0, collections.Counter()]
                stalls.append(current)
            current[1] = lag
            current[2][stack(frame)] += 1

    def finish() -> None:
        state["stop"] = True
        time.sleep(0.05)
        _dump("stalls", {"stalls": [[s[0], s[1], dict(s[2])] for s in stalls]})

    db.Database.open = open_and_tick  # type: ignore[method-assign]
    threading.Thread(target=watch, name="stall-watchdog", daemon=True).start()
    atexit.register(finish)


def helper_timing() -> None:
    """Time each request to the helper process on both sides (see _summarise_helper):
    the helper is started through _helper_child, which stamps its own stages."""
    from appliance.core import db, db_helper

    requests: list[list[float]] = []  # see _summarise_helper
    sent_at: dict[int, float] = {}
    read_at = [0.0]

    received = db_helper._Link.data_received

    def timed_received(self: Any, data: bytes) -> None:
        read_at[0] = time.monotonic()
        received(self, data)

    send_away, answered = db.Database._send_away, db.Database._answered

    def timed_send_away(self: db.Database, helper: Any, run_many: Any, part: list[Any]) -> None:
        sent_at[id(part)] = time.monotonic()
        send_away(self, helper, run_many, part)

    def timed_answered(self: db.Database, part: list[Any], reply: Any) -> None:
        start = sent_at.pop(id(part), 0.0)
        if reply[0] == "ok" and len(reply) > 3:
            name = _name(part[0].many[0])
            requests.append([start, *reply[3], read_at[0], time.monotonic(), len(part), name])
        answered(self, part, reply)

    # The helper's path is the box's root, where bench/ is found too.
    db_helper._ENTRY = ("-c", "import bench.ws_probes as p; p._helper_child()")
    db_helper._Link.data_received = timed_received  # type: ignore[method-assign]
    db.Database._send_away = timed_send_away  # type: ignore[method-assign]
    db.Database._answered = timed_answered  # type: ignore[method-assign]
    atexit.register(lambda: _dump("helper", {"requests": requests}))


def pass_timing() -> None:
    """Time the report pass, step by step (see the module's text)."""
    from appliance.core import reports
    from appliance.core.store import reports as store

    steps: list[list[float]] = []  # start, end, events asked, folded, rows, fold s, rows s
    passes: list[list[float]] = []  # start, end, events folded
    cpu = [0.0, 0.0, 0.0]  # fold s, merged s, rows (the reader thread's, added up)
    fold, merged = reports.fold, store.merged

    def timed_fold(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        found = fold(*args, **kwargs)
        cpu[0] += time.thread_time() - started
        return found

    def timed_merged(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        found = merged(*args, **kwargs)
        cpu[1] += time.thread_time() - started
        cpu[2] += len(found)
        return found

    step, roll = reports.Reports._step, reports.Reports.roll

    async def timed_step(self: Any, limit: int) -> int:
        started, before = time.monotonic(), list(cpu)
        done = await step(self, limit)
        spent = [now - was for now, was in zip(cpu, before, strict=True)]
        steps.append([started, time.monotonic(), limit, done, spent[2], spent[0], spent[1]])
        return done

    async def timed_roll(self: Any, *args: Any, **kwargs: Any) -> int:
        started = time.monotonic()
        done = await roll(self, *args, **kwargs)
        passes.append([started, time.monotonic(), done])
        return done

    reports.fold = timed_fold  # type: ignore[assignment]
    store.merged = timed_merged  # type: ignore[assignment]
    reports.Reports._step = timed_step  # type: ignore[method-assign]
    reports.Reports.roll = timed_roll  # type: ignore[method-assign]
    atexit.register(lambda: _dump("pass", {"steps": steps, "passes": passes}))


class _StampedConnection:
    """The helper's connection, stamping when COMMIT starts and returns."""

    def __init__(self, conn: Any, stamps: list[float]) -> None:
        self._conn = conn
        self._stamps = stamps

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            self._stamps.append(time.monotonic())
            try:
                return self._conn.execute(sql, *args)
            finally:
                self._stamps.append(time.monotonic())
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _helper_child() -> None:
    """The helper process with its stages stamped: picked up (its frame read), began,
    COMMIT started and returned; they travel as a fourth field of the reply."""
    from appliance.core import db_helper

    picked = [0.0]
    recv, run = db_helper._recv_frame, db_helper.run_request

    def timed_recv(stream: Any) -> Any:
        frame = recv(stream)
        picked[0] = time.monotonic()
        return frame

    def timed_run(conn: Any, fn: Any, items: list[Any]) -> tuple[Any, ...]:
        stamps = [picked[0], time.monotonic()]
        reply = run(_StampedConnection(conn, stamps), fn, items)  # type: ignore[arg-type]
        if reply[0] != "ok" or len(stamps) != 4:
            return reply
        return (*reply, stamps)

    db_helper._recv_frame = timed_recv
    db_helper.run_request = timed_run  # type: ignore[assignment]
    sys.exit(db_helper.main(sys.argv[1:]))


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _summarise_writer(data: dict[str, Any], window: int = 30) -> None:
    batches = data["batches"]
    if not batches:
        print("no batches")
        return
    origin = batches[0][0]
    jobs: collections.Counter[int] = collections.Counter()
    for b in batches:
        jobs[int(b[0] - origin)] += int(b[2])
    # The busiest `window` seconds (the load), without their first and last 2 s.
    best = max(jobs, key=lambda s: sum(jobs.get(s + i, 0) for i in range(window)))
    low, high = origin + best + 2, origin + best + window - 2
    if batches[-1][0] - origin < window + 4:  # a short run: all of it
        low, high = origin, max(batches[-1][0], origin + 1e-3)
    picked = [i for i, b in enumerate(batches) if low <= b[0] <= high]
    span = high - low
    rows = {
        "batch run ms": [(batches[i][1] - batches[i][0]) * 1e3 for i in picked],
        "idle before the next ms": [
            (batches[i + 1][0] - batches[i][1]) * 1e3 for i in picked if i + 1 < len(batches)
        ],
        "oldest job's wait ms": [(batches[i][0] - batches[i][3]) * 1e3 for i in picked],
    }
    sizes = [batches[i][2] for i in picked]
    print(
        f"window {span:.0f} s: {len(picked) / span:.0f} batches/s, {sum(sizes) / span:.0f} jobs/s,"
        f" jobs a batch p50 {_quantile(sizes, 0.5):.0f} p99 {_quantile(sizes, 0.99):.0f}"
    )
    for name, values in rows.items():
        print(
            f"  {name:24s} p50 {_quantile(values, 0.5):7.2f}  p90 {_quantile(values, 0.9):7.2f}"
            f"  p99 {_quantile(values, 0.99):7.2f}  max {max(values, default=0):7.2f}"
        )
    total: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    top: collections.Counter[str] = collections.Counter()
    long = [entry for entry in data["long"] if low <= entry[0] <= high]
    for _start, _end, parts in long:
        for name, seconds in parts:
            total[name] += seconds
            count[name] += 1
        top[max(parts, key=lambda p: p[1])[0]] += 1
    print(f"  {len(long)} batches over {_LONG * 1e3:.0f} ms; the longest part of each:")
    for name, times in top.most_common(8):
        print(
            f"    {times:5d}  {name} (all its runs in them: {total[name] * 1e3:.0f} ms,"
            f" {count[name]} runs)"
        )


def _summarise_stalls(data: dict[str, Any]) -> None:
    stalls = data["stalls"]
    print(f"{len(stalls)} stalls over {_STALL * 1e3:.0f} ms in the whole run")
    if not stalls:
        return
    origin = stalls[0][0]
    per: collections.Counter[int] = collections.Counter()
    for s in stalls:
        per[int((s[0] - origin) // 5) * 5] += 1
    print("  per 5 s from the first:", dict(sorted(per.items())))
    stacks: collections.Counter[str] = collections.Counter()
    for s in stalls:
        for text, samples in s[2].items():
            stacks[";".join(text.split(";")[-6:])] += samples
    for text, samples in stacks.most_common(8):
        print(f"  {samples:5d}  {text}")


def _summarise_lines(data: dict[str, Any], window: int = 30) -> None:
    """Where a chat line's time goes between its frame being parsed and its commit
    being settled on the loop (fan-out follows at once): in the busiest 30 s, each
    stage's quantiles, and the stages' mean among the slowest 1 % of lines."""
    lines = data["lines"]
    if not lines:
        print("no lines")
        return
    origin = lines[0][0]
    per: collections.Counter[int] = collections.Counter(int(x[0] - origin) for x in lines)
    best = max(per, key=lambda s: sum(per.get(s + i, 0) for i in range(window)))
    low, high = origin + best + 2, origin + best + window - 2
    picked = [x for x in lines if low <= x[0] <= high] or lines
    names = (
        "loop: parsed to queued",
        "queue: to batch start",
        "batch: to commit",
        "loop: to settled",
    )
    stages = [[(x[i + 1] - x[i]) * 1e3 for x in picked] for i in range(4)]
    total = [(x[4] - x[0]) * 1e3 for x in picked]
    print(f"{len(picked)} lines in the window")
    _print_stages(names, stages, total, "lines")


def _print_stages(
    names: tuple[str, ...], stages: list[list[float]], total: list[float], what: str
) -> None:
    """Each stage's quantiles (ms), and the stages' mean among the slowest 1 %."""
    width = max(len(name) for name in names)
    for name, values in [*zip(names, stages, strict=True), ("all", total)]:
        print(
            f"  {name:{width}s} p50 {_quantile(values, 0.5):7.2f}"
            f"  p90 {_quantile(values, 0.9):7.2f}  p99 {_quantile(values, 0.99):7.2f}"
            f"  max {max(values, default=0):7.2f}"
        )
    cut = _quantile(total, 0.99)
    slow = [i for i, t in enumerate(total) if t >= cut]
    print(f"  the slowest 1 % ({len(slow)} {what}, >= {cut:.2f} ms), mean of each stage:")
    for name, values in zip(names, stages, strict=True):
        print(f"    {name:{width}s} {sum(values[i] for i in slow) / max(len(slow), 1):7.2f} ms")


def _summarise_helper(data: dict[str, Any]) -> None:
    """Each request to the helper, stage by stage: sent by the loop to picked up by the
    helper (its wake-up, or the request ahead), picked to began, began to COMMIT (the
    request's statements), COMMIT (the fsync), COMMIT returned to the answer read by
    the loop (the answer's way back and the loop's wake-up), read to settled."""
    rows = [r for r in data["requests"] if r[0] > 0]
    if not rows:
        print("no requests")
        return
    origin = rows[0][0]
    picked = [r for r in rows if origin + 5 <= r[0]] or rows
    names = (
        "sent to picked up",
        "picked up to began",
        "statements",
        "COMMIT",
        "answer to read",
        "read to settled",
    )
    print(f"{len(picked)} requests, items p50 {_quantile([r[7] for r in picked], 0.5):.0f}")
    kinds = collections.Counter(r[8] for r in picked if len(r) > 8)
    for kind, count in kinds.most_common():
        took = [(r[3] - r[2]) * 1e3 for r in picked if len(r) > 8 and r[8] == kind]
        print(
            f"  {kind}: {count} requests, statements p50 {_quantile(took, 0.5):.2f}"
            f" p99 {_quantile(took, 0.99):.2f} ms, {sum(took):.0f} ms in all"
        )
    lines = [r for r in picked if len(r) > 8 and r[8] == "post_lines"]
    if lines:  # what a chat line's request met: the rest is about these
        print("chat lines' requests:")
        picked = lines
    stages = [[(r[i + 1] - r[i]) * 1e3 for r in picked] for i in range(6)]
    total = [(r[6] - r[0]) * 1e3 for r in picked]
    _print_stages(names, stages, total, "requests")


def _summarise_pass(data: dict[str, Any]) -> None:
    """Each pass that folded something (when, how long, how many events), and its steps
    added up: their time, the rows they touched, the reader thread's CPU."""
    steps, passes = data["steps"], [p for p in data["passes"] if p[2] > 0]
    if not passes:
        print("no pass folded anything")
        return
    origin = data["passes"][0][0]
    for start, end, folded in passes:
        mine = [s for s in steps if start <= s[0] <= end]
        in_steps = sum(s[1] - s[0] for s in mine) * 1e3
        fold_ms, rows_ms = (sum(s[i] for s in mine) * 1e3 for i in (5, 6))
        print(
            f"pass at {start - origin:6.1f} s: {folded:6d} events, {len(mine):4d} steps,"
            f" {(end - start) * 1e3:7.0f} ms in all, {in_steps:6.0f} ms in steps,"
            f" {sum(s[4] for s in mine):6.0f} rows, reader CPU fold {fold_ms:5.0f} ms"
            f" + rows {rows_ms:5.0f} ms"
        )
    took = [(s[1] - s[0]) * 1e3 for s in steps if s[3] > 0]
    print(
        f"steps that folded: {len(took)}, p50 {_quantile(took, 0.5):.1f} ms,"
        f" max {max(took, default=0):.1f} ms; rows a step p50"
        f" {_quantile([s[4] for s in steps if s[3] > 0], 0.5):.0f}"
    )


def main(argv: list[str]) -> int:
    """Summarise a probe's file."""
    if len(argv) != 1:
        print("usage: python bench/ws_probes.py bench/results/probe-...json", file=sys.stderr)
        return 2
    data = json.loads(Path(argv[0]).read_text())
    if data.get("kind") == "writer":
        _summarise_writer(data)
    elif data.get("kind") == "lines":
        _summarise_lines(data)
    elif data.get("kind") == "helper":
        _summarise_helper(data)
    elif data.get("kind") == "pass":
        _summarise_pass(data)
    else:
        _summarise_stalls(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
