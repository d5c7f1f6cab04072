"""Archive lookups off the critical path: a run's wall time with the archive unreachable, or
silent (accepting connections, never answering), against `--no-archive` on the same corpus.

    python -m benchmarks.archive_offpath --cards 3000 --hosts 40 --rate 20 --repeat 3 \
        --out benchmarks/out/archive [--budget 60] [--archive-timeout 10]

Every run gets a fresh simulated web (benchmarks.compare's machinery: crawler.sim.gencards's
corpus, crawler.sim.simweb as a separate process) and a fresh store, so every failing page is a
new failure. Variants, interleaved per repetition:

- `no-archive`: `--no-archive`, the baseline.
- `unreachable`: `--archive-endpoint` at a loopback port with nothing listening.
- `silent`: at a socket that is listening but never accepts: connections open, no answer ever
  comes, every lookup waits for `archive.timeout`; `archive.budget_s` ends the phase.

Prints per variant the median wall time, its ratio to `no-archive`'s, the failing pages the
report counts (`run.archive`) and the archive phase's own duration (from the log); results in
OUTDIR/results.json.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.compare import Settings as CompareSettings
from benchmarks.compare import (
    SimWebProcess,
    make_corpus,
    pick_port,
    prepare_linkcheck,
    run_measured,
)
from crawler.sim.behaviours import parse_mix
from crawler.sim.loopback import loopback_ips

ARCHIVE_HOST = "127.0.1.250"  # outside the simulated web's hosts
VARIANTS = ("no-archive", "unreachable", "silent")


def closed_endpoint() -> str:
    """An address with nothing listening: every connection is refused at once."""
    with socket.socket() as sock:
        sock.bind((ARCHIVE_HOST, 0))
        port = sock.getsockname()[1]
    return f"http://{ARCHIVE_HOST}:{port}"


def silent_socket() -> tuple[socket.socket, str]:
    """A socket that listens and never accepts: the kernel completes the handshakes, nothing
    ever answers."""
    sock = socket.socket()
    sock.bind((ARCHIVE_HOST, 0))
    sock.listen(4096)
    return sock, f"http://{ARCHIVE_HOST}:{sock.getsockname()[1]}"


def command(base: list[str], variant: str, endpoint: str, args: argparse.Namespace) -> list[str]:
    cmd = [c for c in base if c != "--no-archive"]
    if variant == "no-archive":
        return [*cmd, "--no-archive"]
    config = Path(cmd[cmd.index("--out") + 1]) / "archive.yaml"
    config.write_text(
        f"archive:\n  timeout: {args.archive_timeout}\n  budget_s: {args.budget}\n",
        encoding="utf-8",
    )
    return [*cmd, "--archive-endpoint", endpoint, "--config", str(config)]


def phase_seconds(stderr: Path) -> float | None:
    """The archive phase's own duration, from the JSON log's archive_phase event."""
    found = None
    for line in stderr.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"archive_phase"' in line:
            found = json.loads(line).get("duration_s")
    return found


def one_run(
    corpus: Any, s: CompareSettings, variant: str, out: Path, rep: int, args: argparse.Namespace
) -> dict[str, Any]:
    run_dir = out / f"{variant}-{rep}"
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("state.sqlite", "report.json"):
        (run_dir / stale).unlink(missing_ok=True)
    prepared = prepare_linkcheck(corpus, s, run_dir)
    silent = None
    if variant == "silent":
        silent, endpoint = silent_socket()
    else:
        endpoint = closed_endpoint()
    try:
        cmd = command(prepared.cmd, variant, endpoint, args)
        with SimWebProcess(corpus, s.latency_ms, run_dir / "requests.jsonl", run_dir / "sw.err"):
            measured = run_measured(
                cmd,
                cwd=run_dir,
                stdout=run_dir / "tool.stdout",
                stderr=run_dir / "tool.stderr",
                timeout=s.tool_timeout,
            )
    finally:
        if silent is not None:
            silent.close()
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    return {
        "variant": variant,
        "rep": rep,
        "returncode": measured.returncode,
        "wall_s": round(measured.wall_s, 3),
        "archive": report["run"].get("archive"),
        "phase_s": phase_seconds(run_dir / "tool.stderr"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=3000)
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--first", type=int, default=40)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget", type=float, default=60.0, help="archive.budget_s")
    parser.add_argument("--archive-timeout", type=float, default=10.0, help="archive.timeout")
    parser.add_argument("--mix", type=parse_mix, default=None, help="as benchmarks.compare's")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/archive"))
    args = parser.parse_args(argv)
    args.tool_timeout = 1800.0
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    hosts = loopback_ips(args.hosts, args.first)
    corpus = make_corpus(
        f"archive-{args.cards}", out / "corpus", args.cards,
        hosts=hosts, port=pick_port(hosts), seed=args.seed, args=args,
    )  # fmt: skip
    s = CompareSettings(
        args.rate, args.concurrency, args.timeout, args.retries, args.latency_ms, args.tool_timeout
    )
    print(f"corpus: {args.cards} cards, {len(corpus.urls)} unique URLs, {args.hosts} hosts")
    runs = []
    for rep in range(args.repeat):
        for variant in VARIANTS:
            run = one_run(corpus, s, variant, out, rep, args)
            print(json.dumps(run), flush=True)
            runs.append(run)
    base = statistics.median(r["wall_s"] for r in runs if r["variant"] == "no-archive")
    summary = {}
    for variant in VARIANTS:
        walls = [r["wall_s"] for r in runs if r["variant"] == variant]
        wall = statistics.median(walls)
        summary[variant] = {"median_wall_s": wall, "ratio": round(wall / base, 3), "walls": walls}
        print(f"{variant:12} median wall {wall:7.2f} s  x{wall / base:.3f} of no-archive")
    results = {"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs, "summary": summary}
    (out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
