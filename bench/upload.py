"""Upload benchmark: a file sent into a chat through the box, against a plain aiohttp
file upload, in the same run (issue 13, item 10).

    python bench/upload.py --repeat 7 --pdf-mb 8

Two servers, each in its own child process, on loopback:

- **baseline**: a bare aiohttp handler (below, `--serve-baseline`) that streams the
  request body into a temporary file in 64 KiB reads, fsyncs it and renames it into
  place: what a careful plain upload costs, and nothing else (no auth, no type check,
  no database).
- **appliance**: the real `appliance run` with a fresh data dir; each upload is
  `POST /api/visitor/conversations/{id}/files`, answered after the file is hashed,
  its type read from its content, kept (synced, renamed) and its message committed
  (synchronous=FULL). A picture is also decoded and written anew by Pillow (EXIF
  stripped) and thumbnailed, so pictures are measured apart from PDFs.

For each kind of file (a PDF of `--pdf-mb` MiB of random bytes; a JPEG photo of
`--photo-px` px on its long side with EXIF), one warm-up upload to each server, then
`--repeat` uploads to each, the two servers in turn (so a change in the machine's load
hits both alike); each one's time is the client's, from the request's first byte to
the answer's last. Medians, and the ratio box / baseline, are printed and
written with every figure to bench/results/upload-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a script: make the appliance importable
    sys.path.insert(0, str(_ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from provenance import git_revision, machine  # noqa: E402  (bench/)

from tests.system.processes import ApplianceProcess  # noqa: E402

_CHUNK = 64 * 1024  # bytes per read, as the appliance reads an upload
_START_TIMEOUT = 20.0  # s for the baseline to print its port


# --- the baseline server (run in a child process) ---------------------------------------


async def _baseline_upload(request: web.Request) -> web.Response:
    folder: Path = request.app["folder"]
    part = folder / f".part-{secrets.token_hex(8)}"
    size = 0
    with part.open("wb") as handle:
        async for chunk in request.content.iter_chunked(_CHUNK):
            handle.write(chunk)
            size += len(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    part.rename(folder / secrets.token_hex(16))
    return web.json_response({"size": size}, status=201)


def serve_baseline(folder: Path) -> None:
    """Serve POST /upload on a free loopback port; print it; run until killed."""
    app = web.Application()
    app["folder"] = folder
    app.router.add_post("/upload", _baseline_upload)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        print(f"listening on port {port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class Baseline:
    """The baseline server in a child process."""

    def __init__(self, folder: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-baseline", str(folder)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + _START_TIMEOUT
        line = ""
        while time.monotonic() < deadline and "listening" not in line:
            line = self.proc.stdout.readline()
        self.port = int(line.rsplit(" ", 1)[1])

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


# --- the files --------------------------------------------------------------------------


def make_pdf(mb: int) -> bytes:
    """A PDF's first bytes, then random ones (they compress no better than real files)."""
    return b"%PDF-1.7\n" + os.urandom(mb * 1024 * 1024)


def make_photo(long_side: int) -> bytes:
    """A JPEG photo with detail and EXIF, as a phone sends one."""
    from tests import file_samples

    return file_samples.jpeg_with_gps(long_side, long_side * 3 // 4)


# --- timing -----------------------------------------------------------------------------


async def _timed(http: aiohttp.ClientSession, url: str, body: bytes, **kwargs: Any) -> float:
    started = time.perf_counter()
    async with http.post(url, data=io.BytesIO(body), **kwargs) as r:
        await r.read()
        assert r.status == 201, (r.status, await r.text())
    return time.perf_counter() - started


async def _baseline_once(http: aiohttp.ClientSession, port: int, body: bytes) -> float:
    return await _timed(http, f"http://127.0.0.1:{port}/upload", body)


async def _appliance_once(
    http: aiohttp.ClientSession, box: ApplianceProcess, body: bytes, name: str, mime: str
) -> float:
    # A visitor per upload, made outside the timing: the benchmark measures the upload's
    # path, not the rate limit.
    async with http.post(box.url("/api/visitor/session"), json={}) as r:
        token = (await r.json())["token"]
    auth = {"Authorization": f"Bearer {token}"}
    async with http.post(box.url("/api/visitor/conversations"), json={}, headers=auth) as r:
        conv_id = (await r.json())["conversation"]["id"]
    return await _timed(
        http,
        box.url(f"/api/visitor/conversations/{conv_id}/files"),
        body,
        params={"client_msg_id": secrets.token_hex(8), "name": name},
        headers={**auth, "Content-Type": mime},
    )


async def run_pair(
    baseline: Baseline, box: ApplianceProcess, body: bytes, name: str, mime: str, repeat: int
) -> tuple[list[float], list[float]]:
    """One warm-up each, then the two servers in turn, so drift hits both alike."""
    base, real = [], []
    async with aiohttp.ClientSession() as http:
        await _baseline_once(http, baseline.port, body)
        await _appliance_once(http, box, body, name, mime)
        for _ in range(repeat):
            base.append(await _baseline_once(http, baseline.port, body))
            real.append(await _appliance_once(http, box, body, name, mime))
    return base, real


def _figures(times: list[float], size: int) -> dict[str, Any]:
    median = statistics.median(times)
    return {
        "times_s": [round(t, 4) for t in times],
        "median_s": round(median, 4),
        "median_mb_s": round(size / median / 1024 / 1024, 1),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    files = {
        "pdf": (make_pdf(args.pdf_mb), "bench.pdf", "application/pdf"),
        "photo": (make_photo(args.photo_px), "bench.jpg", "image/jpeg"),
    }
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "revision": git_revision("appliance", "bench"),
        "machine": machine(),
        "repeat": args.repeat,
        "load_before": os.getloadavg(),
        "kinds": {},
    }
    with tempfile.TemporaryDirectory(prefix="callbox-upload-bench-") as tmp:
        folder = Path(tmp)
        (folder / "baseline").mkdir()
        baseline = Baseline(folder / "baseline")
        box = await asyncio.to_thread(ApplianceProcess, folder / "data")
        try:
            for kind, (body, name, mime) in files.items():
                base, real = await run_pair(baseline, box, body, name, mime, args.repeat)
                report["kinds"][kind] = {
                    "bytes": len(body),
                    "baseline": _figures(base, len(body)),
                    "appliance": _figures(real, len(body)),
                    "ratio": round(statistics.median(real) / statistics.median(base), 2),
                }
        finally:
            baseline.stop()
            await asyncio.to_thread(box.stop)
    report["load_after"] = os.getloadavg()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed uploads per kind and server")
    parser.add_argument("--pdf-mb", type=int, default=8, help="MiB of the PDF (box limit: 10)")
    parser.add_argument("--photo-px", type=int, default=4000, help="the photo's long side, px")
    parser.add_argument("--serve-baseline", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return
    report = asyncio.run(bench(args))
    print(f"{'kind':6} {'bytes':>10} {'baseline':>16} {'appliance':>16} {'ratio':>6}")
    for kind, row in report["kinds"].items():
        base, real = row["baseline"], row["appliance"]
        print(
            f"{kind:6} {row['bytes']:>10,} "
            f"{base['median_s'] * 1000:>7.1f} ms {base['median_mb_s']:>4} MB/s "
            f"{real['median_s'] * 1000:>7.1f} ms {real['median_mb_s']:>4} MB/s {row['ratio']:>6}"
        )
    out = _ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"upload-{stamp}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"report: {path}")


if __name__ == "__main__":
    main()
