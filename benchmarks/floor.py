"""The floor of any Python asyncio checker on the wide web: a bare aiohttp client, no checks.

The same corpus and simulated web as benchmarks/wide.py (3,000 cards, 8,106 unique URLs on 224
loopback hosts, 20 ms latency). The client only GETs each URL once, at most 4 at a time per
host, reads at most 64 KiB of the body, follows redirects the way aiohttp does, and keeps
nothing: no retries, no robots.txt, no store, no image decode, no verdict. Its CPU per 1,000
URLs is what the stack (CPython, asyncio, aiohttp) costs before linkcheck does anything, and so
a lower bound for linkcheck's; each repetition also runs linkcheck itself, interleaved.
`--body-cap 1000000` reads bodies as far as linkcheck's page cap (fetch.max_page_bytes).

`--checks` adds a third client, the floor under linkcheck's own features: the bare client, plus
the cards read with linkcheck's card reader (in the client's process) and each image body read
whole and checked with linkcheck's image check, plus linkcheck's start-up (its imports, measured
in a child process). Still no retries, robots.txt, page checks, store, verdicts or reports: a
lower bound for what linkcheck can reach with its features as they are built.

    python -m benchmarks.floor [--repeat 3] [--body-cap BYTES] [--checks] [--out DIR]
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from benchmarks import compare
from benchmarks.wide import PRESET
from crawler.config import Config, parse_bound
from crawler.intake.files import find_card_files
from crawler.intake.reader import load_chunk
from crawler.judge.images.check import inspect_image
from crawler.model import Disposition, LinkKind
from crawler.sim.loopback import loopback_ips

BODY_CAP = 64 * 1024  # default --body-cap
PER_HOST = 4


async def fetch_all(
    urls: Sequence[str], timeout_s: float, body_cap: int, images: frozenset[str] = frozenset()
) -> int:
    """GET every URL once; returns how many got an HTTP answer. The bodies of `images` are read
    whole (to fetch.max_image_bytes) and checked with linkcheck's image check."""
    fetch = Config().fetch
    gates: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(PER_HOST))
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=PER_HOST)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    answered = 0
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(url: str) -> None:
            nonlocal answered
            async with gates[urlsplit(url).netloc]:
                try:
                    async with session.get(url) as response:
                        if url in images:
                            body = await response.content.read(fetch.max_image_bytes + 1)
                            inspect_image(
                                body,
                                content_type=response.headers.get("Content-Type"),
                                complete=len(body) <= fetch.max_image_bytes,
                                max_pixels=fetch.max_image_pixels,
                                max_decode_bytes=fetch.image_decode_budget_bytes,
                            )
                        else:
                            await response.content.read(body_cap)
                        answered += 1
                except (aiohttp.ClientError, TimeoutError):
                    pass

        await asyncio.gather(*(one(url) for url in urls))
    return answered


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def bare_client(urls: Sequence[str], timeout_s: float, body_cap: int) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    answered = asyncio.run(fetch_all(urls, timeout_s, body_cap))
    wall = time.monotonic() - started
    cpu = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(before)
    return {"wall_s": wall, "cpu_s": cpu, "answered": answered}


def startup_cpu() -> float:
    """CPU seconds of a child that only imports linkcheck's command line (and its modules)."""
    before = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    subprocess.run([sys.executable, "-c", "import crawler.cli.app"], check=True)
    return _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - before


def checking_client(cards: Path, timeout_s: float, body_cap: int) -> dict[str, float]:
    """The bare client on the URLs linkcheck's card reader finds, images checked as linkcheck
    checks them, plus linkcheck's start-up."""
    config = Config()
    config.cards.since = parse_bound(str(compare.SINCE_YEAR), upper=False)  # as linkcheck runs
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    paths = list(find_card_files(cards, config.cards.glob))
    records = load_chunk(paths, cards, config.cards, config.links)
    reading = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(before)
    links = [
        link for record in records if record.disposition is Disposition.CHECKED
        for link in record.links
    ]  # fmt: skip
    urls = list(dict.fromkeys(link.url for link in links))
    images = frozenset(link.url for link in links if link.kind is LinkKind.IMAGE)
    answered = asyncio.run(fetch_all(urls, timeout_s, body_cap, images))
    wall = time.monotonic() - started
    cpu = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(before)
    startup = startup_cpu()
    return {
        "wall_s": wall,
        "cpu_s": cpu + startup,
        "startup_cpu_s": startup,
        "cards_cpu_s": reading,
        "answered": answered,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = compare.build_parser()
    parser.description = __doc__
    parser.add_argument("--body-cap", type=int, default=BODY_CAP, help="bytes read of a body")
    parser.add_argument(
        "--checks", action="store_true", help="also the bare client with linkcheck's features"
    )
    args = parser.parse_args([*PRESET, "--out", "benchmarks/out/floor", *(argv or sys.argv[1:])])
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    hosts = loopback_ips(args.hosts, args.first)
    port = args.port or compare.pick_port(hosts)
    corpus = compare.make_corpus(
        "floor", out / "corpus", args.cards, hosts=hosts, port=port, seed=args.seed, args=args
    )
    settings = compare._settings(args, rate=args.rate, latency_ms=args.latency_ms)
    bare: list[dict[str, float]] = []
    checking: list[dict[str, float]] = []
    linkcheck: list[dict[str, float]] = []
    for rep in range(args.repeat):
        log = out / f"bare-{rep}" / "requests.jsonl"
        with compare.SimWebProcess(corpus, args.latency_ms, log, log.with_suffix(".stderr")):
            bare.append(bare_client(corpus.urls, args.timeout, args.body_cap))
        if args.checks:
            log = out / f"checks-{rep}" / "requests.jsonl"
            with compare.SimWebProcess(corpus, args.latency_ms, log, log.with_suffix(".stderr")):
                checking.append(checking_client(corpus.root, args.timeout, args.body_cap))
        run = compare.run_tool("linkcheck", corpus, settings, out / f"linkcheck-{rep}", rep=rep)
        linkcheck.append({"wall_s": run["wall_s"], "cpu_s": run["cpu_s"]})
        print(f"rep {rep + 1}: bare {bare[-1]}, checks {checking[-1:]}, linkcheck {linkcheck[-1]}")
    n = len(corpus.urls)
    rows = []
    clients = [("bare aiohttp client", bare), ("bare client + cards, images, start-up", checking)]
    for name, runs in [*(c for c in clients if c[1]), ("linkcheck", linkcheck)]:
        cpu = statistics.median(r["cpu_s"] for r in runs)
        wall = statistics.median(r["wall_s"] for r in runs)
        rows.append([name, f"{wall:.2f}", f"{cpu:.2f}", f"{cpu / n * 1000:.3f}", str(len(runs))])
    print(f"\n## the floor: {n} URLs on {len(hosts)} hosts\n")
    print(compare.table(["client", "wall (s)", "CPU (s)", "CPU s / 1,000 URLs", "runs"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
