"""1 process vs `--workers N` on the wide web, beside lychee: wall, CPU, accuracy, politeness.

The wide web of benchmarks/wide.py (3,000 cards, 224 hosts, 1,000 requests/s per host, 20 ms
latency). Each repetition runs lychee, linkcheck in one process and linkcheck with `--workers`
for each N given, interleaved, each against a fresh simulated web; medians are printed, with each
wall's ratio to lychee's measured in the same session, and the URLs per second per worker that
the paper estimate in RESULTS.md starts from.

    python -m benchmarks.scaling [--workers 2] [--repeat 3] [--out benchmarks/out/scaling]
    python -m benchmarks.scaling --writer 200000     # the single writer's ceiling, results/s

`--writer N` measures what the coordinator does per result and nothing else: unpickle a batch
of 50 as it comes off the result queue, then `Store.add_url_result` into a real SQLite store
with its usual batched flushes. Its results per second bound any number of workers.
"""

from __future__ import annotations

import pickle
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import compare
from benchmarks.politeness import read_log
from benchmarks.wide import PRESET
from crawler.model import LinkKind, UrlOutcome
from crawler.store.database import Store


def run_linkcheck(
    corpus: compare.Corpus, s: compare.Settings, run_dir: Path, *, workers: int, rep: int
) -> dict[str, Any]:
    """One measured linkcheck run, with `--workers` when workers > 0."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    prepared = compare.prepare_linkcheck(corpus, s, run_dir)
    if workers:
        prepared.cmd += ["--workers", str(workers)]
    log_path = run_dir / "requests.jsonl"
    with compare.SimWebProcess(corpus, s.latency_ms, log_path, run_dir / "simweb.stderr"):
        measured = compare.run_measured(
            prepared.cmd,
            cwd=prepared.cwd,
            stdout=run_dir / "tool.stdout",
            stderr=run_dir / "tool.stderr",
            timeout=s.tool_timeout,
            env=prepared.env,
        )
    run = compare.summarise_run(
        "linkcheck", corpus, s, rep, measured, read_log(log_path), prepared.output
    )
    run["failed"] = measured.returncode != 0 or not prepared.output.exists()
    return run


def scaling_table(summary: dict[str, dict[str, Any]], workers: dict[str, int]) -> str:
    base = summary.get("lychee", {}).get("median", {}).get("wall_s")
    rows = []
    for name, tool_summary in summary.items():
        med = tool_summary["median"]
        n = workers.get(name, 1)
        per_worker = med["unique_urls"] / med["wall_s"] / n if med["wall_s"] else 0.0
        rows.append(
            [
                name,
                f"{med['wall_s']:.2f}",
                f"{med['wall_s'] / base:.2f}" if base else "-",
                f"{med['cpu_s']:.2f}",
                f"{per_worker:.0f}" if name != "lychee" else "-",
                f"{100 * med['accuracy_share']:.2f} %",
                str(med["max_in_window"]),
                str(tool_summary["runs"]),
            ]
        )
    headers = [
        "run", "wall (s)", "x lychee wall", "CPU (s)", "URLs/s per worker", "accuracy",
        "max/host/s", "runs",
    ]  # fmt: skip
    return compare.table(headers, rows)


def writer_rate(n: int, folder: Path) -> float:
    """Results per second the coordinator takes in and writes (see the module's docstring)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    store = Store(folder / "writer.sqlite")
    run_id = store.begin_run(cards_root=str(folder), since=None, until=None, config={})
    batches = [
        pickle.dumps(
            [
                (
                    f"127.0.0.{i % 200 + 10}",
                    UrlOutcome(
                        f"http://127.0.0.{i % 200 + 10}/ok/c{i}-{j}",
                        LinkKind.PAGE,
                        http_status=200,
                        content_type="text/html",
                        title=f"A headline {i}",
                        bytes_read=4000,
                        attempts=1,
                    ),
                )
                for j in range(50)
            ]
        )
        for i in range(n // 50)
    ]
    started = time.perf_counter()
    for batch in batches:
        for host, outcome in pickle.loads(batch):
            store.add_url_result(run_id, host, outcome)
        store.flush_if_due()
    store.flush()
    elapsed = time.perf_counter() - started
    store.close()
    return len(batches) * 50 / elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = compare.build_parser()
    parser.description = __doc__
    parser.add_argument("--workers", default="2", help="comma-separated worker counts to run")
    parser.add_argument("--writer", type=int, default=0, help="only the writer's rate, N results")
    args = parser.parse_args(
        [*PRESET, "--out", "benchmarks/out/scaling", *(argv if argv is not None else sys.argv[1:])]
    )
    if args.writer:
        rates = sorted(writer_rate(args.writer, args.out.resolve() / f"w{i}") for i in range(3))
        print(f"single writer: {rates[1]:,.0f} results/s (median of 3; {rates})")
        return 0
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    compare.ensure_peers(["lychee"])
    out: Path = args.out.resolve()
    hosts = compare.loopback_ips(args.hosts, args.first)
    port = args.port or compare.pick_port(hosts)
    corpus = compare.make_corpus(
        f"main-{args.cards}", out / f"corpus-{args.cards}", args.cards,
        hosts=hosts, port=port, seed=args.seed, args=args,
    )  # fmt: skip
    settings = compare._settings(args, rate=args.rate, latency_ms=args.latency_ms)
    names = {"linkcheck": 0, **{f"linkcheck --workers {n}": n for n in counts}}
    runs: dict[str, list[dict[str, Any]]] = {"lychee": [], **{name: [] for name in names}}
    for rep in range(1, args.repeat + 1):  # interleaved: drift of the machine spreads out
        print(f"run {rep}/{args.repeat}: lychee", flush=True)
        runs["lychee"].append(
            compare.run_tool("lychee", corpus, settings, out / "lychee" / f"run-{rep}", rep=rep)
        )
        for name, n in names.items():
            print(f"run {rep}/{args.repeat}: {name}", flush=True)
            run_dir = out / f"workers-{n}" / f"run-{rep}"
            runs[name].append(run_linkcheck(corpus, settings, run_dir, workers=n, rep=rep))
        for name, done in runs.items():
            last = done[-1]
            print(f"  {name}: wall {last['wall_s']:.2f} s, cpu {last['cpu_s']:.2f} s", flush=True)
    summary = {name: compare.summarise(r) for name, r in runs.items()}
    print(f"\n## scaling: {len(corpus.urls)} URLs on {len(hosts)} hosts\n")
    print(scaling_table(summary, {name: max(1, n) for name, n in names.items()}))
    compare._write_json(out / "results.json", {"summary": summary, "runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
