"""The soak: linkcheck for minutes on a large simulated web that misbehaves. Is anything lost,
does memory or the number of open files grow, does any host get more than its rate?

The web (crawler.sim.simweb, its own process at a higher priority, as in the comparison) resets
5 % of requests, has 1 % of hosts that accept connections and never answer, and sends some
answers with Latin-1 bytes in their heads (a 404's reason phrase "Non trouvé", an ETag with 0xE9).
linkcheck runs as a real process; every second the benchmark samples its RSS (VmRSS) and open
file descriptors. At the end: the run must be `finished`, every URL of the corpus must have a
result in the store, and no host may have seen more than its rate in any one-second window.

    .venv/bin/python -m benchmarks.soak                      # 100,000 URLs on 200 hosts
    .venv/bin/python -m benchmarks.soak --urls 5000 --hosts 50 --no-latin1   # a quick one

Writes OUT/samples.csv (one row a second), OUT/soak.json (every figure) and OUT/charts.md (the
two series as Mermaid `xychart-beta` blocks, for RESULTS.md); the corpus, the store, the reports,
the server's request log and both processes' output are under OUT too.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import math
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from benchmarks.compare import (
    Corpus,
    Settings,
    SimWebProcess,
    machine,
    make_corpus,
    pick_port,
    prepare_linkcheck,
    tree_rss_bytes,
)
from benchmarks.politeness import analyse, read_log
from crawler.sim.loopback import loopback_ips

URLS_PER_CARD: Final = 3  # webUrl, ampWebUrl, images[0].url (with amp_cache_rules)
OLD_SHARE: Final = 0.1  # gencards' default: cards before 2020, read but never fetched
CHART_POINTS: Final = 60  # the most points a chart line gets (each the max of its stretch)


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # seconds since linkcheck started
    rss_mb: float  # VmRSS of the linkcheck process
    fds: int  # its open file descriptors
    tree_rss_mb: float  # with its card reader
    anon_mb: float = 0.0  # the part of rss_mb that is the heap (RssAnon), not mapped files


def read_sample(pid: int, t: float) -> Sample | None:
    """One look at the process in /proc; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            kb = {
                key: int(rest.split()[0])
                for key, _, rest in (line.partition(":") for line in f)
                if key in ("VmRSS", "RssAnon")
            }
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    if "VmRSS" not in kb:  # a zombie
        return None
    tree = round(tree_rss_bytes(pid) / 2**20, 1)
    anon = round(kb.get("RssAnon", 0) / 1024, 1)
    return Sample(round(t, 1), round(kb["VmRSS"] / 1024, 1), fds, tree, anon)


@dataclass(slots=True)
class Watched:
    returncode: int
    wall_s: float
    timed_out: bool
    samples: list[Sample]


def run_sampled(
    cmd: Sequence[str], *, cwd: Path, stdout: Path, stderr: Path, every: float, timeout: float
) -> Watched:
    """Run cmd to the end, sampling it every `every` seconds; killed after `timeout`."""
    samples: list[Sample] = []
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=out, stderr=err, start_new_session=True)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(every):
                found = read_sample(proc.pid, time.perf_counter() - started)
                if found is not None:
                    samples.append(found)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except BaseException:  # Ctrl-C: take linkcheck down too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            wall = time.perf_counter() - started
            done.set()
            sampler.join()
    return Watched(proc.returncode, wall, timed_out, samples)


class FaultyWeb(SimWebProcess):
    """The comparison's simulated-web process, with faults turned on."""

    def __init__(
        self, corpus: Corpus, latency_ms: float, log: Path, stderr: Path, faults: Sequence[str]
    ) -> None:
        super().__init__(corpus, latency_ms, log, stderr)
        self._cmd.extend(faults)


def server_faults(stderr: Path) -> dict[str, int]:
    """The fault counts in simweb's last line ("stopped")."""
    for line in reversed(stderr.read_text(encoding="utf-8", errors="replace").splitlines()):
        with contextlib.suppress(json.JSONDecodeError):
            data = json.loads(line)
            if isinstance(data, dict) and data.get("event") == "stopped":
                return {str(k): int(v) for k, v in data.get("faults", {}).items()}
    return {}


# ---------------------------------------------------------------------------------------------
# What the store says


def stored_results(state: Path) -> tuple[str | None, dict[str, tuple[str, str | None]]]:
    """The last run's state, and its results: URL -> (status, kind)."""
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT id, state FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None, {}
        results = db.execute("SELECT url, status, kind FROM url_results WHERE run_id = ?", row[:1])
        return str(row[1]), {url: (status, kind) for url, status, kind in results}
    finally:
        db.close()


# ---------------------------------------------------------------------------------------------
# Figures and charts


def flatness(samples: Sequence[Sample], field: str) -> dict[str, float]:
    """The series' level over the run: first, at 25/50/75 % of the run, last, min and max."""
    values = [float(getattr(s, field)) for s in samples]
    if not values:
        return {}

    def at(share: float) -> float:
        return values[min(len(values) - 1, int(share * len(values)))]

    return {
        "first": values[0],
        "p25_time": at(0.25),
        "p50_time": at(0.5),
        "p75_time": at(0.75),
        "last": values[-1],
        "min": min(values),
        "max": max(values),
        "median": statistics.median(values),
    }


def downsample(values: Sequence[float], points: int = CHART_POINTS) -> list[float]:
    """At most `points` values, each the maximum of its stretch (a peak is never smoothed away)."""
    if len(values) <= points:
        return list(values)
    edges = [round(i * len(values) / points) for i in range(points + 1)]
    return [max(values[a:b]) for a, b in itertools.pairwise(edges) if b > a]


def mermaid_chart(title: str, y_label: str, samples: Sequence[Sample], field: str) -> str:
    """One Mermaid xychart-beta block: the series over the run's seconds."""
    values = downsample([float(getattr(s, field)) for s in samples])
    if not values:
        return ""
    end = math.ceil(samples[-1].t) if samples else 0
    top = max(values)
    ceiling = max(1, math.ceil(top * 1.2 / 10) * 10)  # headroom, a round number
    line = ", ".join(f"{v:g}" for v in values)
    return (
        "```mermaid\nxychart-beta\n"
        f'    title "{title}"\n'
        f'    x-axis "seconds since start" 0 --> {end}\n'
        f'    y-axis "{y_label}" 0 --> {ceiling}\n'
        f"    line [{line}]\n"
        "```\n"
    )


def write_samples(path: Path, samples: Sequence[Sample]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["t_s", "rss_mb", "fds", "tree_rss_mb", "anon_mb"])
        for s in samples:
            writer.writerow([s.t, s.rss_mb, s.fds, s.tree_rss_mb, s.anon_mb])


def read_samples(path: Path) -> list[Sample]:
    with path.open(encoding="utf-8") as f:
        return [
            Sample(
                float(r["t_s"]),
                float(r["rss_mb"]),
                int(r["fds"]),
                float(r["tree_rss_mb"]),
                float(r.get("anon_mb") or 0),
            )
            for r in csv.DictReader(f)
        ]


def charts(samples: Sequence[Sample], urls: int) -> str:
    return mermaid_chart(
        f"linkcheck RSS (MB), {urls:,} URLs", "RSS (MB)", samples, "rss_mb"
    ) + mermaid_chart(f"linkcheck open file descriptors, {urls:,} URLs", "FDs", samples, "fds")


# ---------------------------------------------------------------------------------------------
# The soak


def cards_for(urls: int) -> int:
    """How many cards make about `urls` unique URLs (plus a handful of shared logos)."""
    return math.ceil(urls / (URLS_PER_CARD * (1 - OLD_SHARE)))


def fault_flags(args: argparse.Namespace, hosts: int) -> list[str]:
    silent = round(hosts * args.silent_percent / 100)
    flags = ["--reset-percent", f"{args.reset_percent:g}", "--silent-hosts", str(silent)]
    flags += ["--seed", str(args.seed)]
    if not args.no_latin1:
        flags += ["--latin1-percent", f"{args.latin1_percent:g}"]
    return flags


def soak(args: argparse.Namespace) -> dict[str, Any]:
    out: Path = args.out.resolve()
    run_dir = out / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    hosts = loopback_ips(args.hosts, args.first)
    port = args.port or pick_port(hosts)
    n_cards = cards_for(args.urls)
    print(f"[soak] generating {n_cards:,} cards on {len(hosts)} hosts ...", flush=True)
    corpus = make_corpus(
        f"soak-{args.urls}", out / "corpus", n_cards, hosts=hosts, port=port, seed=args.seed,
        args=args,
    )  # fmt: skip
    settings = Settings(
        rate=args.rate, concurrency=args.concurrency, timeout=args.timeout, retries=args.retries,
        latency_ms=args.latency_ms, tool_timeout=args.tool_timeout,
    )  # fmt: skip
    for stale in ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm"):
        (run_dir / stale).unlink(missing_ok=True)
    prepared = prepare_linkcheck(corpus, settings, run_dir)
    if args.queue_per_host is not None:  # the one setting without a flag
        config = run_dir / "soak-config.yaml"
        config.write_text(f"politeness:\n  queue_per_host: {args.queue_per_host}\n")
        prepared.cmd += ["--config", str(config)]
    faults = fault_flags(args, len(hosts))
    silent = set(hosts[len(hosts) - int(faults[faults.index("--silent-hosts") + 1]) :])
    log_path, web_err = out / "requests.jsonl", out / "simweb.stderr"
    (out / "command.txt").write_text(" ".join(prepared.cmd) + "\n", encoding="utf-8")
    print(
        f"[soak] {len(corpus.urls):,} URLs; linkcheck with faults {' '.join(faults)} ...",
        flush=True,
    )
    with FaultyWeb(corpus, args.latency_ms, log_path, web_err, faults):
        watched = run_sampled(
            prepared.cmd, cwd=prepared.cwd, stdout=run_dir / "linkcheck.stdout",
            stderr=run_dir / "linkcheck.stderr", every=args.every, timeout=args.tool_timeout,
        )  # fmt: skip
    write_samples(out / "samples.csv", watched.samples)
    (out / "charts.md").write_text(charts(watched.samples, len(corpus.urls)), encoding="utf-8")
    return summarise(args, corpus, watched, run_dir, log_path, web_err, silent)


def summarise(
    args: argparse.Namespace,
    corpus: Corpus,
    watched: Watched,
    run_dir: Path,
    log_path: Path,
    web_err: Path,
    silent: set[str],
) -> dict[str, Any]:
    state, results = stored_results(run_dir / "state.sqlite")
    expected = set(corpus.urls)
    missing = sorted(expected - results.keys())
    records = read_log(log_path)
    polite = analyse(records, rate=args.rate)
    allowed = max(1, math.ceil(args.rate))
    on_silent = [u for u in expected if _host(u) in silent]
    report: dict[str, Any] = {
        "command": " ".join([".venv/bin/python -m benchmarks.soak", *sys.argv[1:]]),
        "machine": machine(),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "returncode": watched.returncode,
        "timed_out": watched.timed_out,
        "wall_s": round(watched.wall_s, 1),
        "cards": len(corpus.truth.cards),
        "urls": len(expected),
        "hosts": len(corpus.hosts),
        "silent_hosts": sorted(silent),
        "state": state,
        "results": len(results),
        "missing": len(missing),
        "missing_examples": missing[:10],
        "by_status": dict(Counter(s for s, _ in results.values()).most_common()),
        "by_kind": dict(Counter(k or "ok" for _, k in results.values()).most_common()),
        "silent_host_urls": len(on_silent),
        "silent_host_urls_timeout": sum(
            1 for u in on_silent if results.get(u, ("", ""))[1] == "timeout"
        ),
        "unexplained_failures": unexplained(corpus, results, silent),
        "requests": len(records),
        "faults_served": server_faults(web_err),
        "max_in_window": polite.max_in_window,
        "allowed_in_window": allowed,
        "busiest_host": polite.busiest_host,
        "rss_mb": flatness(watched.samples, "rss_mb"),
        "fds": flatness(watched.samples, "fds"),
        "tree_rss_mb": flatness(watched.samples, "tree_rss_mb"),
        "anon_mb": flatness(watched.samples, "anon_mb"),
        "samples": len(watched.samples),
    }
    report["passed"] = (
        watched.returncode == 0
        and not watched.timed_out
        and state == "finished"
        and not missing
        and polite.max_in_window <= allowed
    )
    return report


def _host(url: str) -> str:
    return url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]


def unexplained(
    corpus: Corpus, results: dict[str, tuple[str, str | None]], silent: set[str]
) -> dict[str, int]:
    """Timeouts and connection errors that neither the URL's behaviour (slow, reset) nor a
    silent host explains: injected resets that hit every attempt, or a client too starved of
    CPU to read an answer within its timeout."""
    meant = {"slow": "timeout", "reset": "connection_error"}
    expected = {
        card.url: meant[card.behaviour]
        for card in corpus.truth.cards.values()
        if card.url and card.behaviour in meant
    }
    found: Counter[str] = Counter()
    for url, (_, kind) in results.items():
        failed = kind in ("timeout", "connection_error")
        if failed and _host(url) not in silent and expected.get(url) != kind:
            found[str(kind)] += 1
    return dict(found)


def print_figures(report: dict[str, Any]) -> None:
    rss, fds = report["rss_mb"], report["fds"]
    lines = [
        f"wall {report['wall_s']} s, exit {report['returncode']}, run state {report['state']}",
        f"URLs {report['urls']:,}, results {report['results']:,}, missing {report['missing']}",
        f"requests {report['requests']:,}; faults served {report['faults_served']}",
        f"silent hosts {report['silent_hosts']}: {report['silent_host_urls']} URLs,"
        f" {report['silent_host_urls_timeout']} timed out",
        f"by status {report['by_status']}; timeouts and connection errors no behaviour or"
        f" silent host explains: {report['unexplained_failures']}",
        f"most requests to one host in 1 s: {report['max_in_window']}"
        f" (allowed {report['allowed_in_window']}, {report['busiest_host']})",
        "RSS MB: " + ", ".join(f"{k} {v:g}" for k, v in rss.items()),
        "FDs: " + ", ".join(f"{k} {v:g}" for k, v in fds.items()),
        "PASSED" if report["passed"] else "FAILED",
    ]
    print("\n".join(lines), flush=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__.split("\n")[0]
    )
    p.add_argument("--urls", type=int, default=100_000, help="unique URLs (about)")
    p.add_argument("--hosts", type=int, default=200, help="simulated hosts (loopback addresses)")
    p.add_argument("--first", type=int, default=10, help="last octet of the first host")
    p.add_argument("--port", type=int, default=0, help="simweb port (0: a free one)")
    p.add_argument("--rate", type=float, default=10.0, help="requests/s per host")
    p.add_argument("--concurrency", type=int, default=8, help="connections per host")
    p.add_argument("--timeout", type=float, default=2.0, help="linkcheck's timeout, seconds")
    p.add_argument("--retries", type=int, default=1, help="linkcheck's retries")
    p.add_argument("--latency-ms", type=float, default=5.0, help="simweb's delay before answers")
    p.add_argument("--reset-percent", type=float, default=5.0, help="requests answered by a reset")
    p.add_argument("--silent-percent", type=float, default=1.0, help="hosts that never answer")
    p.add_argument("--latin1-percent", type=float, default=2.0, help="answers with Latin-1 heads")
    p.add_argument("--no-latin1", action="store_true", help="no Latin-1 heads")
    p.add_argument(
        "--queue-per-host", type=int, default=None, help="linkcheck's politeness.queue_per_host"
    )
    p.add_argument("--every", type=float, default=1.0, help="sampling interval, seconds")
    p.add_argument("--tool-timeout", type=float, default=1800.0, help="kill linkcheck after")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/soak"))
    p.add_argument(
        "--charts", type=Path, default=None, metavar="SAMPLES_CSV",
        help="only print the Mermaid charts of an earlier soak's samples.csv",
    )  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.charts is not None:
        samples = read_samples(args.charts)
        print(charts(samples, args.urls), end="")
        return 0
    if args.hosts < 1 or args.first < 1 or args.first + args.hosts - 1 > 254:
        build_parser().error("--first/--hosts must stay within 127.0.0.1..127.0.0.254")
    args.mix = None  # gencards' default mix
    args.amp_cache_rules = True  # as in the comparison: no made-up cdnAmpWebUrl
    report = soak(args)
    (args.out / "soak.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print_figures(report)
    print(f"samples: {args.out / 'samples.csv'}; charts: {args.out / 'charts.md'}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
