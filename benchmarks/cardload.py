"""Card loading speed alone: `intake.cards.load_card` over every file, one process, one core.

No network and no event loop: this is the CPU cost of reading, parsing (YAML front matter),
filtering and validating cards, which a run pays in its card worker process.

    python -m benchmarks.cardload                          # 20,000 generated cards, 5 repeats
    python -m benchmarks.cardload --cards ../shared/cards-corpus --repeat 5

The process is pinned to one CPU (`--cpu`, default the first one it may use). File discovery
(`find_card_files`) is timed separately; the first pass warms the page cache and is not counted
unless `--count-warmup`. Prints cards/s per repeat and the median (target: >= 5,000 cards/s).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from crawler.config import CardsConfig, LinksConfig
from crawler.intake.cards import load_card
from crawler.intake.files import find_card_files

TARGET_CARDS_PER_S: Final = 5_000.0


@dataclass(frozen=True, slots=True)
class Pass:
    seconds: float
    cards: int
    dispositions: dict[str, int]
    links: int
    problems: int

    @property
    def cards_per_s(self) -> float:
        return self.cards / self.seconds if self.seconds > 0 else float("inf")


def load_all(paths: Sequence[Path], root: Path, cards: CardsConfig) -> Pass:
    """One timed pass of load_card over paths (results are tallied, not kept)."""
    dispositions: Counter[str] = Counter()
    links = problems = 0
    links_config = LinksConfig()
    started = time.perf_counter()
    for path in paths:
        record = load_card(path, root, cards, links_config)
        dispositions[str(record.disposition)] += 1
        links += len(record.links)
        problems += len(record.problems)
    seconds = time.perf_counter() - started
    return Pass(seconds, len(paths), dict(sorted(dispositions.items())), links, problems)


def pin_to_one_cpu(cpu: int | None) -> int | None:
    """Restrict this process to one CPU; returns it (None where affinity is not supported)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    chosen = cpu if cpu is not None else allowed[0]
    os.sched_setaffinity(0, {chosen})
    return chosen


def parse_since(text: str) -> datetime | None:
    if text.lower() in ("", "none"):
        return None
    if text.isdigit():
        return datetime(int(text), 1, 1, tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def generate_cards(out: Path, n: int, seed: int) -> None:
    from crawler.sim.gencards import generate

    generate(out, n, hosts=[f"127.0.0.{10 + i}" for i in range(40)], port=8800, seed=seed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cardload",
        description="Time crawler.intake.cards.load_card over a folder of cards on one core.",
    )
    parser.add_argument("--cards", type=Path, default=None, help="cards folder (default: generate)")
    parser.add_argument("--generate", type=int, default=20_000, help="cards to generate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--glob", default="**/*.md")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--since", default="2020", help="year or ISO date, 'none' for no filter")
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to")
    parser.add_argument("--count-warmup", action="store_true", help="also count the first pass")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    cpu = pin_to_one_cpu(args.cpu)
    temp: Path | None = None
    root: Path = args.cards
    if root is None:
        temp = Path(tempfile.mkdtemp(prefix="cardload-"))
        root = temp / "cards"
        started = time.perf_counter()
        generate_cards(root, args.generate, args.seed)
        print(f"generated {args.generate} cards in {time.perf_counter() - started:.1f} s")
    try:
        options = CardsConfig(since=parse_since(args.since))
        started = time.perf_counter()
        paths = list(find_card_files(root, args.glob))
        find_s = time.perf_counter() - started
        if not paths:
            print(f"cardload: no card matches {args.glob} under {root}", file=sys.stderr)
            return 2
        print(f"{len(paths)} card files under {root} (found in {find_s:.3f} s), CPU {cpu}")
        if not args.count_warmup:
            warm = load_all(paths, root, options)
            print(f"warm-up: {warm.cards_per_s:,.0f} cards/s (not counted)")
        passes: list[Pass] = []
        for i in range(args.repeat):
            gc.collect()
            one = load_all(paths, root, options)
            passes.append(one)
            print(f"pass {i + 1}: {one.seconds:.3f} s, {one.cards_per_s:,.0f} cards/s")
        rates = [p.cards_per_s for p in passes]
        med = statistics.median(rates)
        last = passes[-1]
        verdict = "meets" if med >= TARGET_CARDS_PER_S else "misses"
        print(
            f"median {med:,.0f} cards/s over {args.repeat} passes "
            f"(min {min(rates):,.0f}, max {max(rates):,.0f}); {verdict} the "
            f"{TARGET_CARDS_PER_S:,.0f}/s target"
        )
        print(f"dispositions {last.dispositions}, {last.links} links, {last.problems} problems")
        if args.json is not None:
            data: dict[str, Any] = {
                "root": str(root),
                "cards": len(paths),
                "find_s": round(find_s, 4),
                "cpu": cpu,
                "since": args.since,
                "cards_per_s": [round(r, 1) for r in rates],
                "median_cards_per_s": round(med, 1),
                "dispositions": last.dispositions,
                "links": last.links,
                "problems": last.problems,
                "python": sys.version.split()[0],
            }
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
