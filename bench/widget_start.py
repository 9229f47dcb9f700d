"""Widget start benchmark: time to the chat button on a slow phone network, against
baselines in the same run (issue 13, item 10).

    python bench/widget_start.py --repeat 5

Debian's Chromium (headless, through Playwright) opens a small company page from a
loopback server, on a slow phone network: `--rtt` ms of round trip (default 400) and
`--kbps` kbit/s down and up (default 400). The bandwidth is DevTools'
(`Network.emulateNetworkConditions`); the round trip is not, because DevTools' latency
is not applied to CORS preflights (measured: a preflighted fetch took as long as a
simple one under 400 ms of DevTools latency), which would hide what they cost. Every
server is reached instead through a loopback TCP relay that holds each chunk for half
the round trip each way. Three pages:

- **no widget**: the page alone; its time is its `load` event (the floor).
- **widget**: the page with the widget's tag, served by `appliance run` from this tree;
  its time is the first animation frame in which the launcher is drawn (measured in the
  page from the navigation's start, so no driver round trip is counted).
- **before**: the same with the widget of `--before REV` (default: the commit this work
  started from), served by a second `appliance run` from `git archive REV`. Skip with
  `--before ""`.

Each round opens every page in a fresh browser context (first visit: nothing cached,
no token) and then again in that context (returning visit: the widget from the HTTP
cache, the token and the look from localStorage), the pages in turn so a change in the
machine's load hits all alike. Medians are printed and written with every figure to
bench/results/widget_start-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a script: make the appliance importable
    sys.path.insert(0, str(_ROOT))

from aiohttp import web  # noqa: E402
from playwright.async_api import Browser, BrowserContext, async_playwright  # noqa: E402
from provenance import git_revision, machine  # noqa: E402  (bench/)

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.system.processes import ApplianceProcess  # noqa: E402

_BEFORE = "df7bcb4"  # the main branch before the hostile-host work
_WAIT = 30_000  # ms a page may take to show its launcher before the run fails

# Runs before the page's own scripts: note the first frame the launcher is drawn in.
_WATCH = """
(() => {
  const look = () => {
    const host = document.querySelector("callbox-widget");
    const el = host && host.shadowRoot && host.shadowRoot.querySelector('[data-cb="launcher"]');
    if (el && !el.hidden && el.getBoundingClientRect().width > 0) {
      window.__launcherAt = performance.now();
      return;
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
})();
"""
_LOAD_AT = "() => performance.getEntriesByType('navigation')[0].loadEventEnd"


def _page(box: str | None) -> str:
    """A company page: some text, and the widget's one tag when a box is given."""
    tag = f'<script src="{box}/widget.js" async data-shadow="open"></script>' if box else ""
    words = "<p>我们生产最好的小部件。有问题请点击右下角的按钮。</p>" * 20
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Acme</title></head><body><h1>Acme</h1>{words}{tag}</body></html>"
    )


@asynccontextmanager
async def host_site(pages: dict[str, str]) -> AsyncIterator[str]:
    """Serve the company's pages from their own loopback origin."""

    async def page(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in pages:
            raise web.HTTPNotFound()
        return web.Response(text=pages[name], content_type="text/html")

    app = web.Application()
    app.router.add_get("/{name}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class SlowLink:
    """A TCP relay to a loopback port that delays each chunk by half the round trip in
    each direction (order kept, chunks not serialised behind each other's delay)."""

    def __init__(self, target: int, rtt_ms: int) -> None:
        self.target = target
        self.delay = rtt_ms / 2000  # s, one way
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> SlowLink:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _relay(self, down_r: asyncio.StreamReader, down_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            down_w.close()
            return
        await asyncio.gather(self._pipe(down_r, up_w), self._pipe(up_r, down_w))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while chunk := await reader.read(64 * 1024):
                queue.put_nowait((loop.time() + self.delay, chunk))
        except OSError:
            pass
        queue.put_nowait((loop.time() + self.delay, b""))
        try:
            await sender
        except OSError:
            pass
        finally:
            writer.close()


def export(rev: str, into: Path) -> Path:
    """Write the tree of a revision into a folder (git archive), to run it as it was."""
    tar = subprocess.run(["git", "archive", rev], cwd=_ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as archive:
        archive.extractall(into, filter="data")
    return into


def start_box(data: Path, tree: Path | None = None) -> ApplianceProcess:
    """`appliance run` from this tree, or from an exported one (its own folder first on
    the path, so its modules, not ours, are the ones imported)."""
    if tree is None:
        return ApplianceProcess(data)
    return ApplianceProcess(data, prefix=["env", "-C", str(tree), f"PYTHONPATH={tree}"])


async def one_visit(
    ctx: BrowserContext, url: str, conditions: dict[str, Any], widget: bool
) -> float:
    """Open the page once; return ms from the navigation's start to the launcher drawn
    (or, without a widget, to the load event)."""
    page = await ctx.new_page()
    try:
        cdp = await ctx.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send("Network.emulateNetworkConditions", conditions)
        await page.goto(url, wait_until="load", timeout=_WAIT)
        if not widget:
            return float(await page.evaluate(_LOAD_AT))
        await page.wait_for_function("() => window.__launcherAt", timeout=_WAIT)
        return float(await page.evaluate("() => window.__launcherAt"))
    finally:
        await page.close()


async def one_round(
    browser: Browser, urls: dict[str, str], conditions: dict[str, Any]
) -> dict[str, tuple[float, float]]:
    """Each page in a fresh context, first visit then returning visit."""
    times: dict[str, tuple[float, float]] = {}
    for name, url in urls.items():
        ctx = await browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 740})
        await ctx.add_init_script(_WATCH)
        try:
            widget = name != "no widget"
            first = await one_visit(ctx, url, conditions, widget)
            again = await one_visit(ctx, url, conditions, widget)
            times[name] = (first, again)
        finally:
            await ctx.close()
    return times


def _figures(samples: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(statistics.median(samples)),
        "min_ms": round(min(samples)),
        "max_ms": round(max(samples)),
        "samples_ms": [round(s) for s in samples],
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    conditions = {
        "offline": False,
        "latency": 0,  # the relays add the round trip (above)
        "downloadThroughput": args.kbps * 1000 / 8,
        "uploadThroughput": args.kbps * 1000 / 8,
    }
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "revision": git_revision("appliance", "bench"),
        "machine": machine(),
        "network": {"rtt_ms": args.rtt, "kbit_s": args.kbps},
        "repeat": args.repeat,
        "before": args.before,
        "load_before": os.getloadavg(),
    }
    boxes: list[ApplianceProcess] = []
    with tempfile.TemporaryDirectory(prefix="callbox-widget-bench-") as tmp:
        folder = Path(tmp)
        try:
            boxes.append(await asyncio.to_thread(start_box, folder / "now"))
            if args.before:
                old = export(args.before, folder / "tree")
                boxes.append(await asyncio.to_thread(start_box, folder / "before", old))
            async with contextlib.AsyncExitStack() as stack:
                links = [
                    await stack.enter_async_context(SlowLink(box.port, args.rtt)) for box in boxes
                ]
                slow = [f"http://127.0.0.1:{link.port}" for link in links]
                pages = {"none.html": _page(None), "now.html": _page(slow[0])}
                if args.before:
                    pages["before.html"] = _page(slow[1])
                site = await stack.enter_async_context(host_site(pages))
                site_link = await stack.enter_async_context(
                    SlowLink(int(site.rsplit(":", 1)[1]), args.rtt)
                )
                origin = f"http://127.0.0.1:{site_link.port}"
                pw = await stack.enter_async_context(async_playwright())
                browser = await pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                urls = {"no widget": f"{origin}/none.html", "widget": f"{origin}/now.html"}
                if args.before:
                    urls[f"before ({args.before})"] = f"{origin}/before.html"
                runs: dict[str, list[tuple[float, float]]] = {name: [] for name in urls}
                try:
                    await one_round(browser, urls, conditions)  # warm-up: not counted
                    for _ in range(args.repeat):
                        for name, pair in (await one_round(browser, urls, conditions)).items():
                            runs[name].append(pair)
                finally:
                    await browser.close()
        finally:
            for box in boxes:
                await asyncio.to_thread(box.stop)
    report["pages"] = {
        name: {
            "first_visit": _figures([p[0] for p in pairs]),
            "returning": _figures([p[1] for p in pairs]),
        }
        for name, pairs in runs.items()
    }
    report["load_after"] = os.getloadavg()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (after a warm-up)")
    parser.add_argument("--rtt", type=int, default=400, help="ms added to each request")
    parser.add_argument("--kbps", type=int, default=400, help="kbit/s down and up")
    parser.add_argument("--before", default=_BEFORE, help='old revision ("": none)')
    args = parser.parse_args()
    report = asyncio.run(bench(args))
    print(f"{args.rtt} ms RTT, {args.kbps} kbit/s; median of {args.repeat} (min-max), ms")
    print(f"{'page':24} {'first visit':>22} {'returning':>22}")
    for name, row in report["pages"].items():
        cells = [
            f"{row[v]['median_ms']:>6} ({row[v]['min_ms']}-{row[v]['max_ms']})"
            for v in ("first_visit", "returning")
        ]
        print(f"{name:24} {cells[0]:>22} {cells[1]:>22}")
    out = _ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"widget_start-{stamp}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"report: {path}")


if __name__ == "__main__":
    main()
