"""The wide web: many hosts, few URLs each, politeness loose enough that the CPU binds.

The shape of a real nightly over hundreds of sites: 3,000 cards on 224 loopback hosts
(127.0.0.10 to 127.0.0.233), 1,000 requests/s allowed per host, 20 ms latency. linkcheck runs with
`--no-archive` (archive look-ups are measured elsewhere), lychee beside it, in one session, runs
interleaved; the figure that matters is CPU seconds (user + sys of the tool's process tree) per
1,000 URLs, and its ratio to lychee's.

    python -m benchmarks.wide [--repeat 3] [--out benchmarks/out/wide]
    python -m benchmarks.wide --tools linkcheck --repeat 3        # linkcheck alone, before/after
    python -m benchmarks.wide --profile                           # linkcheck under py-spy

`--profile` runs linkcheck once under `py-spy record` (its card worker too) and prints the
functions where the samples fall, by own time and by time including callees: the same figures
RESULTS.md quotes. Any other option of benchmarks.compare passes through (`--cards 1000`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from benchmarks import compare
from crawler.sim.loopback import loopback_ips

PRESET: Final = (
    "--cards", "3000", "--hosts", "224", "--rate", "1000", "--latency-ms", "20",
    "--concurrency", "4", "--timeout", "2", "--retries", "2", "--tools", "linkcheck,lychee",
)  # fmt: skip
PY_SPY: Final = Path(sys.executable).parent / "py-spy"


def _worst_accuracy(tool_summary: Mapping[str, Any]) -> str:
    worst = tool_summary["worst_accuracy"]
    return f"{100 * worst['correct'] / max(1, worst['cards']):.2f} %"


def wide_table(summary: Mapping[str, Mapping[str, Any]]) -> str:
    """Wall, CPU and CPU per 1,000 URLs per tool (medians), each tool's ratio to lychee's, and
    the card accuracy of its worst run."""
    base = summary.get("lychee", {}).get("median", {}).get("cpu_s_per_1000_urls")
    rows = []
    for tool, tool_summary in summary.items():
        med = tool_summary["median"]
        per_1000 = med["cpu_s_per_1000_urls"]
        ratio = f"{per_1000 / base:.2f}" if base else "-"
        rows.append(
            [
                tool,
                f"{med['wall_s']:.2f}",
                f"{med['cpu_s']:.2f}",
                f"{per_1000:.3f}",
                ratio,
                _worst_accuracy(tool_summary),
                str(tool_summary["runs"]),
            ]
        )
    headers = [
        "tool", "wall (s)", "CPU (s)", "CPU s / 1,000 URLs", "x lychee", "worst accuracy", "runs",
    ]  # fmt: skip
    return compare.table(headers, rows)


# Frames where a thread only waits (py-spy without --idle still samples some of them): the event
# loop's select, a pool thread or the card worker between jobs, c-ares's shutdown thread.
_WAITS: Final = (
    "select (selectors.py",
    "_worker (concurrent/futures/thread.py",
    "Condition.wait (threading.py",
    "_ConnectionBase.recv (multiprocessing",
    "_run_safe_shutdown_loop",
)


def _is_idle(frames: Sequence[str]) -> bool:
    leaf = frames[-1]
    return len(frames) == 1 or any(wait in leaf for wait in _WAITS)


def top_frames(collapsed: Iterable[str], *, count: int = 25) -> tuple[list[str], list[str]]:
    """From py-spy's collapsed stacks ("a;b;c 12"): the top functions by own samples and by
    samples including callees, as "share% function" lines."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed:
        stack, _, samples = line.rstrip().rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frames = stack.split(";")
        if _is_idle(frames):
            continue
        n = int(samples)
        total += n
        own[frames[-1]] += n
        for frame in set(frames[1:]):  # the first frame names the process
            inclusive[frame] += n
    total = max(total, 1)

    def lines(counter: Counter[str]) -> list[str]:
        return [f"{100 * n / total:5.1f}% {frame}" for frame, n in counter.most_common(count)]

    return lines(own), lines(inclusive)


def profile(args: argparse.Namespace, out: Path) -> None:
    """linkcheck once under py-spy on the wide web; the collapsed stacks and the top functions."""
    if not PY_SPY.exists():
        raise SystemExit(f"wide: {PY_SPY} is missing: .venv/bin/pip install py-spy")
    hosts = loopback_ips(args.hosts, args.first)
    port = args.port or compare.pick_port(hosts)
    corpus = compare.make_corpus(
        f"main-{args.cards}", out / f"corpus-{args.cards}", args.cards,
        hosts=hosts, port=port, seed=args.seed, args=args,
    )  # fmt: skip
    settings = compare._settings(args, rate=args.rate, latency_ms=args.latency_ms)
    run_dir = out / "profile-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    prepared = compare.prepare_linkcheck(corpus, settings, run_dir)
    collapsed = out / "profile.txt"
    cmd = [
        str(PY_SPY), "record", "--rate", "200", "--subprocesses", "--format", "raw",
        "--output", str(collapsed), "--", *prepared.cmd,
    ]  # fmt: skip
    log = run_dir / "requests.jsonl"
    with compare.SimWebProcess(corpus, args.latency_ms, log, run_dir / "simweb.stderr"):
        started = time.perf_counter()
        with (run_dir / "tool.stdout").open("wb") as o, (run_dir / "tool.stderr").open("wb") as e:
            subprocess.run(cmd, cwd=prepared.cwd, stdout=o, stderr=e, check=False)
        wall = time.perf_counter() - started
    own, inclusive = top_frames(collapsed.read_text(encoding="utf-8").splitlines())
    print(f"{len(corpus.urls)} URLs, {wall:.1f} s under py-spy; stacks: {collapsed}\n")
    print("own time:\n" + "\n".join(own) + "\n\nincluding callees:\n" + "\n".join(inclusive))


def main(argv: Sequence[str] | None = None) -> int:
    parser = compare.build_parser()
    parser.description = __doc__
    parser.add_argument("--profile", action="store_true", help="linkcheck once under py-spy")
    args = parser.parse_args([*PRESET, "--out", "benchmarks/out/wide", *(argv or sys.argv[1:])])
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.profile:
        profile(args, out)
        return 0
    results = compare.compare(args)
    for name, corpus in results["corpora"].items():
        print(f"\n## wide web, {name}: {corpus['unique_urls']} URLs on {results['hosts']} hosts\n")
        print(wide_table(corpus["summary"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
