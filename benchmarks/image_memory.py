"""Peak memory of image checks on hostile images, with the decode budget and without it.

A server process serves (aiohttp, on loopback) three flat PNGs just under the 80-megapixel
limit, a decompression-bomb PNG, GIFs of huge dimensions, a PNG whose text chunks inflate to
64 MB, hostile SVGs (billion laughs, 50 MB of nesting, an SVGZ bomb), photos of 12 and 24
megapixels and ordinary thumbnails. Each run is a fresh subprocess that checks every URL at once
with `Fetcher.check` and reports its peak RSS (getrusage ru_maxrss; the parent stays small, as a
child's ru_maxrss starts at its parent's): once with `fetch.image_decode_budget_bytes` at its
default, once with a budget too large to matter (every image decoded in full, as before the
budget existed). Medians of `--repeat` runs.

    .venv/bin/python -m benchmarks.image_memory [--repeat 3] [--budget BYTES]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image

from crawler.config import FetchConfig, PolitenessConfig

UNBOUNDED = 10**15  # a budget no decode reaches: every image decoded in full
SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'


# -- the images ---------------------------------------------------------------------------------


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png(width: int, height: int, idat: bytes, extra: bytes = b"") -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + extra
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def flat_png(width: int, height: int) -> bytes:
    """A black RGB PNG, compressed row by row (never held as pixels): about 1/1000 of its size."""
    row = b"\x00" * (1 + 3 * width)
    deflate = zlib.compressobj(9)
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    return _png(width, height, idat)


def text_bomb_png() -> bytes:
    """A 1x1 PNG with 64 zTXt chunks that inflate to 1 MB each."""
    text = zlib.compress(b"a" * 1_000_000, 9)
    chunks = b"".join(_chunk(b"zTXt", b"k%d\x00\x00" % i + text) for i in range(64))
    return _png(1, 1, zlib.compress(b"\x00\x00\x00\x00"), chunks)


def gif_header(width: int, height: int) -> bytes:
    """A GIF whose screen and only frame claim width x height, with a one-pixel image."""
    screen = struct.pack("<6sHHBBB", b"GIF89a", width, height, 0x80, 0, 0) + b"\x00" * 6
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b";"


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def thumbnail(size: tuple[int, int]) -> Image.Image:
    gradient = Image.linear_gradient("L").resize(size)
    return Image.merge(
        "RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient)
    )


def hostile_svgs() -> Iterator[tuple[str, bytes, str]]:
    laughs = '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    yield (
        "laughs.svg",
        f"<!DOCTYPE svg [{laughs}]><svg {SVG_NS}>&l9;</svg>".encode(),
        "image/svg+xml",
    )
    nesting = f"<svg {SVG_NS}>" + "<g>" * 7_200_000 + "</g>" * 7_200_000 + "</svg>"  # 50 MB
    yield "nesting.svg", nesting.encode(), "image/svg+xml"
    bomb = gzip.compress(f"<svg {SVG_NS}/>".encode() + b" " * 200_000_000, 9)
    yield "bomb.svgz", bomb, "image/svg+xml"


def corpus() -> dict[str, tuple[bytes, str]]:
    """name -> (body, content type)."""
    near_limit = flat_png(8944, 8944)  # 79,995,136 pixels: just under 80,000,000
    files: dict[str, tuple[bytes, str]] = {
        f"near-limit-{i}.png": (near_limit, "image/png") for i in range(3)
    }
    files["bomb.png"] = (_png(100_000, 100_000, zlib.compress(b"\x00" * 1024)), "image/png")
    files["text-bomb.png"] = (text_bomb_png(), "image/png")
    files["huge.gif"] = (gif_header(65_535, 65_535), "image/gif")
    files["64mp.gif"] = (encode(Image.new("P", (8_000, 8_000)), "GIF"), "image/gif")
    for name, body, content_type in hostile_svgs():
        files[name] = (body, content_type)
    files["photo-24mp.jpg"] = (encode(thumbnail((6000, 4000)), "JPEG", quality=80), "image/jpeg")
    photo = encode(thumbnail((4000, 3000)), "JPEG", quality=80)  # 48 MB decoded
    files |= {f"photo-12mp-{i}.jpg": (photo, "image/jpeg") for i in range(2)}
    for i in range(10):
        files[f"thumb-{i}.jpg"] = (encode(thumbnail((600, 350)), "JPEG", quality=80), "image/jpeg")
    files["card.png"] = (encode(thumbnail((1200, 630)), "PNG"), "image/png")
    files["card.webp"] = (encode(thumbnail((600, 400)), "WEBP"), "image/webp")
    files["logo.gif"] = (encode(thumbnail((300, 250)).convert("P"), "GIF"), "image/gif")
    files["favicon.ico"] = (
        encode(thumbnail((64, 64)), "ICO", sizes=[(16, 16), (64, 64)]),
        "image/x-icon",
    )
    files["logo.svg"] = (f'<svg {SVG_NS} width="120" height="40"/>'.encode(), "image/svg+xml")
    return files


# -- the child: one run, in a fresh process -----------------------------------------------------


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def _check_all(urls: list[str], budget: int) -> dict[str, Any]:
    from crawler.judge.http import AnswerChecker
    from crawler.model import LinkKind
    from crawler.web.fetch import Fetcher
    from crawler.web.politeness import HostPool

    config = FetchConfig(
        allow_private=True, timeout=120.0, retries=0, image_decode_budget_bytes=budget
    )
    pool = HostPool(PolitenessConfig(rate_per_host=10_000, concurrency_per_host=64))
    baseline = _peak_mb()
    started = time.monotonic()
    async with Fetcher(config, pool) as fetcher:
        answers = AnswerChecker(fetcher, config)
        outcomes = await asyncio.gather(*(answers.check(url, LinkKind.IMAGE) for url in urls))
    verdicts = {
        o.url.rsplit("/", 1)[-1]: (o.findings[0].kind.value if o.findings else "ok")
        for o in outcomes
    }
    return {
        "baseline_mb": baseline,
        "peak_mb": _peak_mb(),
        "seconds": time.monotonic() - started,
        "verdicts": verdicts,
    }


def child(urls: list[str], budget: int) -> None:
    import crawler.judge.http  # noqa: F401  (imported before the baseline is taken)

    print(json.dumps(asyncio.run(_check_all(urls, budget))))


# -- the server: its own process, so that its memory never counts in a run's peak --------------


async def _serve() -> None:
    """Serve the corpus on loopback; print the base URL and the file names; run until killed."""
    files = corpus()
    app = web.Application()
    for name, (body, content_type) in files.items():

        async def handler(
            request: web.Request, body: bytes = body, ctype: str = content_type
        ) -> web.Response:
            return web.Response(body=body, headers={"Content-Type": ctype})

        app.router.add_get(f"/{name}", handler)

    async def page(request: web.Request) -> web.Response:  # each card's webUrl, for whole runs
        return web.Response(
            text=f"<title>{request.match_info['name']}</title>", content_type="text/html"
        )

    app.router.add_get("/page/{name}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.2", 0)
    await site.start()
    print(json.dumps({"base": f"http://127.0.0.2:{site.port}", "names": list(files)}), flush=True)
    await asyncio.Event().wait()


# -- the parent: small, because a child's ru_maxrss starts at its parent's peak -----------------


def _run_child(urls: list[str], budget: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.image_memory", "--child", "--budget", str(budget)]
    done = subprocess.run([*command, *urls], stdout=subprocess.PIPE, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _write_cards(folder: Path, base: str, names: list[str]) -> None:
    """One card per image: its page on the server, the image with a declared size."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.md").write_text(
            f"---\ntitle: {name}\npublishedDateTime: 2021-01-01T00:00:00Z\n"
            f"webUrl: {base}/page/{name}\n"
            f"images:\n  - url: {base}/{name}\n    width: 600\n    height: 350\n---\n"
        )


def _run_linkcheck(folder: Path, index: int, budget: int) -> dict[str, Any]:
    """A whole `linkcheck run` on the cards; its peak RSS (its card worker's too) from wait4."""
    work = folder / f"run-{index}-{budget}"
    work.mkdir()
    config = work / "config.yaml"
    config.write_text(f"fetch:\n  image_decode_budget_bytes: {budget}\n")
    command = [
        str(Path(sys.executable).with_name("linkcheck")), "run", "--config", str(config),
        "--cards", str(folder / "cards"), "--out", str(work / "out"),
        "--state", str(work / "state.sqlite"), "--allow-private", "--no-archive",
        "--no-progress", "--rate-per-host", "1000", "--concurrency-per-host", "64",
        "--timeout", "120", "--retries", "0", "--fail-on", "never", "--log-format", "json",
    ]  # fmt: skip
    started = time.monotonic()
    with open(work / "stderr.log", "wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"linkcheck run failed ({process.returncode}), see {work}/stderr.log")
    return {"peak_mb": usage.ru_maxrss / 1024, "seconds": time.monotonic() - started}


def _median(results: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in results))


def _report(
    runs: dict[str, list[dict[str, Any]]],
    whole: dict[str, list[dict[str, Any]]],
    names: list[str],
    budget: int,
) -> None:
    repeat = len(runs["budget"])
    print(f"\n{len(names)} image URLs checked at once; medians of {repeat} runs:")
    for mode, results in runs.items():
        label = f"budget {budget:,} bytes" if mode == "budget" else "no budget (infinite)"
        print(
            f"  {label:28} Fetcher.check: peak RSS {_median(results, 'peak_mb'):6.1f} MB"
            f" (baseline {_median(results, 'baseline_mb'):.1f} MB),"
            f" {_median(results, 'seconds'):.1f} s; whole linkcheck run:"
            f" {_median(whole[mode], 'peak_mb'):6.1f} MB, {_median(whole[mode], 'seconds'):.1f} s"
        )
    print("\nverdicts (budget | no budget):")
    for name in names:
        with_budget, without = (runs[mode][0]["verdicts"][name] for mode in ("budget", "unbounded"))
        print(f"  {name:18} {with_budget:18} {without}")


def main(repeat: int, budget: int) -> None:
    command = [sys.executable, "-m", "benchmarks.image_memory", "--serve"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    modes = (("budget", budget), ("unbounded", UNBOUNDED))
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode, _ in modes}
    whole: dict[str, list[dict[str, Any]]] = {mode: [] for mode, _ in modes}
    try:
        assert server.stdout is not None
        served = json.loads(server.stdout.readline())
        urls = [f"{served['base']}/{name}" for name in served["names"]]
        with tempfile.TemporaryDirectory(prefix="image-memory-") as tmp:
            _write_cards(Path(tmp) / "cards", served["base"], served["names"])
            for index in range(repeat):
                for mode, bytes_ in modes:
                    runs[mode].append(_run_child(urls, bytes_))
                    whole[mode].append(_run_linkcheck(Path(tmp), index, bytes_))
                    print(
                        f"run {index + 1} {mode:9}: Fetcher.check peak"
                        f" {runs[mode][-1]['peak_mb']:6.1f} MB, whole run peak"
                        f" {whole[mode][-1]['peak_mb']:6.1f} MB",
                        flush=True,
                    )
    finally:
        server.terminate()
        server.wait()
    _report(runs, whole, served["names"], budget)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=int, default=FetchConfig().image_decode_budget_bytes)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("urls", nargs="*", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    if args.child:
        child(args.urls, args.budget)
    elif args.serve:
        asyncio.run(_serve())
    else:
        main(args.repeat, args.budget)
