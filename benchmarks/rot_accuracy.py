"""How well `linkcheck run` finds rot behind a 200, on the simulated web with known answers.

    python -m benchmarks.rot_accuracy --cards 2000 --hosts 10

Starts `crawler.sim.simweb` as a subprocess on hosts+1 loopback addresses (127.0.0.{first}...; the
extra one serves the fake Wayback availability API and, on port 443 over TLS, the Google AMP
Cache host names), generates the cards with `gencards.rot_mix()` and `amp_cache_rules` (no
cdnAmpWebUrl except on the amp_cache_ok / amp_cache_mismatch cards, which carry real-form
`https://127-0-0-X.cdn.ampproject.org/c/...` URLs), and runs

    linkcheck run --cards ... --allow-private --archive-endpoint http://<extra>:<port> \\
        --resolve 127-0-0-X.cdn.ampproject.org:<extra> ... --fail-on never

from the work folder (so no ./config.yaml applies), with SSL_CERT_FILE naming the throwaway CA
that signed the simulated cache's certificate: the cache URLs are fetched exactly as written,
over verified TLS, and no name is looked up in DNS. `--no-amp-cache` leaves the two AMP-cache
behaviours out (e.g. where port 443 cannot be bound).

Prints, from report.json against expected.json:
- per rot kind, precision and recall: a card counts as detected for kind K when its report
  problems include K; it is a true case when its expected kind is K;
- the false-positive rate on healthy pages (behaviour healthy or a look-alike: real404site,
  spa, suffixed, moved_deep, amp_cache_ok): the share whose problems include any rot kind;
- the soft-404 probes' extra requests per 1,000 URLs checked: requests in the server's log
  whose last path segment is 25 lowercase letters (crawler.judge.soft404.probe_url's shape);
- how many broken/rotted page problems carry an archive_url, and how many the fake archive
  could have answered (it has no snapshot of ARCHIVE_MISS_PERCENT % of URLs, by hash);
- per behaviour: cards, expected status/kind, status right, expected kind found, other kinds.

Targets: recall >= 0.98 on soft_404 and redirect_to_home, false positives <= 0.5 % of healthy
pages. Exit 0 when they are met, 1 when not, 2 when linkcheck or the setup failed (e.g. a
linkcheck without --archive-endpoint). Everything is kept in --work (summary.json included).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import urlsplit

from benchmarks.politeness import read_log
from crawler.sim.amp_cache import AMP_CACHE_NAMES
from crawler.sim.archive import archive_has_snapshot
from crawler.sim.behaviours import AMP_CACHE_BEHAVIOURS, BEHAVIOURS, LOOKALIKE_BEHAVIOURS, rot_mix
from crawler.sim.gencards import generate
from crawler.sim.tls import make_certificates
from crawler.sim.truth import CardTruth, GroundTruth
from crawler.sim.wire import RequestRecord

ROOT: Final = Path(__file__).resolve().parents[1]
ROT_KINDS: Final = (
    "soft_404",
    "redirect_to_home",
    "content_drift",
    "amp_retired",
    "amp_cache_mismatch",
)
HEALTHY_BEHAVIOURS: Final = ("healthy", *LOOKALIKE_BEHAVIOURS)
PAGE_FIELDS: Final = frozenset({"webUrl", "originalUrl", "ampWebUrl", "cdnAmpWebUrl"})
FAILING: Final = frozenset({"broken", "rotted"})
RECALL_TARGETS: Final = {"soft_404": 0.98, "redirect_to_home": 0.98}
MAX_FALSE_POSITIVE_RATE: Final = 0.005
_PROBE_SEGMENT = re.compile(r"^[a-z]{25}(\.[A-Za-z0-9]+)?$")  # probe_url keeps an extension


# ---------------------------------------------------------------------------------------------
# Reading the report


def card_kinds(report: Mapping[str, Any]) -> dict[str, set[str]]:
    """Card path -> the kinds of its problems."""
    return {
        str(card["path"]): {str(p["kind"]) for p in card.get("problems") or []}
        for card in report.get("cards", [])
    }


def card_statuses(report: Mapping[str, Any]) -> dict[str, str]:
    return {str(card["path"]): str(card.get("status") or "ok") for card in report.get("cards", [])}


def checked_truth(truth: GroundTruth) -> dict[str, CardTruth]:
    """The cards linkcheck should have judged (filtered old cards left out)."""
    return {path: card for path, card in truth.cards.items() if not card.filtered}


# ---------------------------------------------------------------------------------------------
# Scores


@dataclass(frozen=True, slots=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float | None:
        flagged = self.tp + self.fp
        return self.tp / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        relevant = self.tp + self.fn
        return self.tp / relevant if relevant else None

    def to_json(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
        }


def kind_scores(
    truth: Mapping[str, CardTruth],
    kinds: Mapping[str, set[str]],
    scored: Iterable[str] = ROT_KINDS,
) -> dict[str, Score]:
    """Per kind K: a card is a true case when its expected kind is K, detected when its report
    problems include K (a card missing from the report detects nothing)."""
    scores: dict[str, Score] = {}
    for kind in scored:
        tp = fp = fn = 0
        for path, card in truth.items():
            detected = kind in kinds.get(path, set())
            expected = card.kind == kind
            tp += detected and expected
            fp += detected and not expected
            fn += expected and not detected
        scores[kind] = Score(tp, fp, fn)
    return scores


@dataclass(slots=True)
class FalsePositives:
    pages: int = 0  # healthy cards (healthy + look-alikes)
    flagged: int = 0  # of which any rot kind was reported
    by_behaviour: dict[str, list[int]] = field(default_factory=dict)  # name -> [flagged, cards]
    kinds: Counter[str] = field(default_factory=Counter)  # rot kinds reported on them
    examples: dict[str, str] = field(default_factory=dict)  # kind -> one card path

    @property
    def rate(self) -> float | None:
        return self.flagged / self.pages if self.pages else None

    def to_json(self) -> dict[str, Any]:
        return {
            "pages": self.pages,
            "flagged": self.flagged,
            "rate": self.rate,
            "by_behaviour": self.by_behaviour,
            "kinds": dict(self.kinds),
            "examples": self.examples,
        }


def false_positives(
    truth: Mapping[str, CardTruth],
    kinds: Mapping[str, set[str]],
    healthy: Iterable[str] = HEALTHY_BEHAVIOURS,
    rot_kinds: Iterable[str] = ROT_KINDS,
) -> FalsePositives:
    """Healthy pages (by behaviour) whose report has any rot kind."""
    healthy_set, rot_set = set(healthy), set(rot_kinds)
    result = FalsePositives()
    for path, card in truth.items():
        if card.behaviour not in healthy_set:
            continue
        found = kinds.get(path, set()) & rot_set
        counts = result.by_behaviour.setdefault(card.behaviour, [0, 0])
        counts[1] += 1
        result.pages += 1
        if found:
            counts[0] += 1
            result.flagged += 1
            result.kinds.update(found)
            for kind in found:
                result.examples.setdefault(kind, path)
    return result


def is_probe_path(path: str) -> bool:
    """Does a logged request path (query included) end in a soft-404 probe segment?"""
    last = urlsplit(path).path.rstrip("/").rpartition("/")[2]
    return bool(_PROBE_SEGMENT.match(last))


def probe_requests(records: Iterable[RequestRecord]) -> int:
    return sum(1 for record in records if is_probe_path(record.path))


def per_thousand(count: int, total: int) -> float | None:
    return 1000.0 * count / total if total else None


@dataclass(slots=True)
class ArchiveCoverage:
    problems: int = 0  # broken/rotted problems on page fields
    with_archive: int = 0  # of which carry an archive_url
    available: int = 0  # of which the fake archive has a snapshot of the URL
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [with, available, all]

    def to_json(self) -> dict[str, Any]:
        return {
            "problems": self.problems,
            "with_archive": self.with_archive,
            "available": self.available,
            "by_kind": self.by_kind,
        }


def archive_coverage(
    report: Mapping[str, Any], has_snapshot: Callable[[str], bool] = archive_has_snapshot
) -> ArchiveCoverage:
    """Broken/rotted problems on page URLs: how many carry an archive_url, and how many could
    (`has_snapshot(url)`: the fake archive's answer)."""
    coverage = ArchiveCoverage()
    for card in report.get("cards", []):
        for problem in card.get("problems") or []:
            if problem.get("severity") not in FAILING or problem.get("field") not in PAGE_FIELDS:
                continue
            url = str(problem.get("url") or "")
            row = coverage.by_kind.setdefault(str(problem.get("kind")), [0, 0, 0])
            coverage.problems += 1
            row[2] += 1
            if problem.get("archive_url"):
                coverage.with_archive += 1
                row[0] += 1
            if url and has_snapshot(url):
                coverage.available += 1
                row[1] += 1
    return coverage


@dataclass(slots=True)
class BehaviourRow:
    cards: int = 0
    status_right: int = 0
    kind_found: int = 0
    other_kinds: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "cards": self.cards,
            "status_right": self.status_right,
            "kind_found": self.kind_found,
            "other_kinds": dict(self.other_kinds),
        }


def behaviour_rows(
    truth: Mapping[str, CardTruth],
    kinds: Mapping[str, set[str]],
    statuses: Mapping[str, str],
) -> dict[str, BehaviourRow]:
    """Per behaviour: cards, expected status right, expected kind found (or, for an ok
    behaviour, no problem at all), and the other kinds reported."""
    rows: dict[str, BehaviourRow] = {}
    for path, card in truth.items():
        row = rows.setdefault(card.behaviour, BehaviourRow())
        found = kinds.get(path, set())
        row.cards += 1
        row.status_right += statuses.get(path) == card.status
        row.kind_found += (card.kind in found) if card.kind else not found
        row.other_kinds.update(found - {card.kind} if card.kind else found)
    return dict(sorted(rows.items(), key=lambda item: _behaviour_order(item[0])))


def _behaviour_order(name: str) -> int:
    names = list(BEHAVIOURS)
    return names.index(name) if name in names else len(names)


def evaluate(
    truth: GroundTruth, report: Mapping[str, Any], records: Sequence[RequestRecord]
) -> dict[str, Any]:
    """Every figure of the benchmark, as JSON-able data."""
    cards = checked_truth(truth)
    kinds, statuses = card_kinds(report), card_statuses(report)
    run = report.get("run", {})
    urls = int(run.get("urls_checked") or run.get("urls_unique") or 0)
    probes = probe_requests(records)
    scores = kind_scores(cards, kinds)
    fps = false_positives(cards, kinds)
    return {
        "cards": len(cards),
        "cards_in_report": sum(1 for path in cards if path in statuses),
        "kinds": {kind: score.to_json() for kind, score in scores.items()},
        "false_positives": fps.to_json(),
        "probes": {
            "requests": probes,
            "urls_checked": urls,
            "per_1000_urls": per_thousand(probes, urls),
            "linkcheck_counter": run.get("soft_404_probes"),
        },
        "archive": archive_coverage(report).to_json(),
        "behaviours": {
            name: row.to_json() for name, row in behaviour_rows(cards, kinds, statuses).items()
        },
        "requests_logged": len(records),
        "requests_made": run.get("requests_made"),
    }


def missed_targets(summary: Mapping[str, Any]) -> list[str]:
    """The targets the summary misses, in words (empty: all met)."""
    missed = []
    for kind, target in RECALL_TARGETS.items():
        recall = summary["kinds"].get(kind, {}).get("recall")
        if recall is None or recall < target:
            missed.append(f"{kind} recall {_fmt(recall)} < {target:.2f}")
    rate = summary["false_positives"]["rate"]
    if rate is None or rate > MAX_FALSE_POSITIVE_RATE:
        missed.append(f"false-positive rate {_pct(rate)} > {100 * MAX_FALSE_POSITIVE_RATE:.1f} %")
    return missed


# ---------------------------------------------------------------------------------------------
# Printing


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def format_summary(summary: Mapping[str, Any]) -> str:
    out = [f"cards checked: {summary['cards']} ({summary['cards_in_report']} in the report)", ""]
    rows = [
        [kind, str(s["tp"] + s["fn"]), str(s["tp"]), str(s["fp"]), str(s["fn"]),
         _fmt(s["precision"]), _fmt(s["recall"])]
        for kind, s in summary["kinds"].items()
    ]  # fmt: skip
    out.append(table(["kind", "true", "tp", "fp", "fn", "precision", "recall"], rows))
    fps = summary["false_positives"]
    target = f"{100 * MAX_FALSE_POSITIVE_RATE:.1f} %"
    out += ["", f"false positives on healthy pages: {fps['flagged']}/{fps['pages']}"
            f" = {_pct(fps['rate'])} (target <= {target})"]  # fmt: skip
    for name, (flagged, total) in fps["by_behaviour"].items():
        out.append(f"  {name}: {flagged}/{total}")
    if fps["kinds"]:
        out.append(f"  kinds: {fps['kinds']}; e.g. {fps['examples']}")
    probes = summary["probes"]
    out += ["", f"soft-404 probe requests: {probes['requests']} for {probes['urls_checked']} URLs"
            f" checked = {_fmt(probes['per_1000_urls'], 2)} per 1,000 URLs"
            f" (linkcheck's own count: {probes['linkcheck_counter']})"]  # fmt: skip
    archive = summary["archive"]
    out += [
        "",
        f"broken/rotted page problems with an archive_url: {archive['with_archive']}"
        f"/{archive['problems']} (the archive has a snapshot of {archive['available']})",
    ]
    for kind, (with_url, available, total) in sorted(archive["by_kind"].items()):
        out.append(f"  {kind}: {with_url}/{total} (snapshot exists for {available})")
    rows = []
    for name, row in summary["behaviours"].items():
        behaviour = BEHAVIOURS.get(name)
        expected = f"{behaviour.status}/{behaviour.kind or '-'}" if behaviour else "?"
        others = ", ".join(f"{k} {n}" for k, n in sorted(row["other_kinds"].items()))
        rows.append([name, str(row["cards"]), expected, str(row["status_right"]),
                     str(row["kind_found"]), others])  # fmt: skip
    out += [
        "",
        table(["behaviour", "cards", "expected", "status ok", "kind ok", "other kinds"], rows),
    ]
    missed = missed_targets(summary)
    out += ["", "targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed))]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Running


def resolve_pins(names: Iterable[str], ip: str) -> list[str]:
    """`--resolve NAME:IP` for every AMP cache name, in order."""
    pins: list[str] = []
    for name in sorted(set(names)):
        pins += ["--resolve", f"{name}:{ip}"]
    return pins


def linkcheck_command(
    work: Path,
    archive_endpoint: str,
    pins: Sequence[str],
    *,
    rate: float,
    concurrency: int,
    timeout: float,
    retries: int,
) -> list[str]:
    return [
        sys.executable, "-m", "crawler.cli", "run",
        "--cards", str(work / "cards"), "--out", str(work / "out"),
        "--state", str(work / "state.sqlite"), "--no-progress", "--log-format", "json",
        "--allow-private", "--archive-endpoint", archive_endpoint,
        "--rate-per-host", f"{rate:g}", "--concurrency-per-host", str(concurrency),
        "--timeout", f"{timeout:g}", "--retries", str(retries), "--fail-on", "never",
        *pins,
    ]  # fmt: skip


def _clean(work: Path) -> None:
    """Remove what an earlier run of this benchmark left in `work` (and nothing else)."""
    for name in ("cards", "out", "certs"):
        shutil.rmtree(work / name, ignore_errors=True)
    for name in ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm", "requests.jsonl"):
        (work / name).unlink(missing_ok=True)


class SimWebProcess:
    """`python -m crawler.sim.simweb` as a child process; stopped with SIGTERM."""

    def __init__(self, command: list[str], stderr_path: Path) -> None:
        self._command = command
        self._stderr_path = stderr_path
        self._stderr: IO[str] | None = None
        self.process: subprocess.Popen[str] | None = None
        self.ready: dict[str, Any] = {}

    def __enter__(self) -> SimWebProcess:
        self._stderr = self._stderr_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            self._command, cwd=ROOT, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.__exit__(None, None, None)
            tail = self._stderr_path.read_text(encoding="utf-8")[-2000:]
            raise RuntimeError(f"simweb did not start: {tail.strip()}")
        self.ready = json.loads(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def run(args: argparse.Namespace) -> int:
    if args.first < 1 or args.first + args.hosts > 254:
        print(
            "rot_accuracy: --first/--hosts leave 127.0.0.1..254 (one extra host)", file=sys.stderr
        )
        return 2
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    _clean(work)
    extra_ip = f"127.0.0.{args.first + args.hosts}"
    simweb = [
        sys.executable, "-m", "crawler.sim.simweb", "--hosts", str(args.hosts + 1),
        "--first", str(args.first), "--port", str(args.port),
        "--latency-ms", f"{args.latency_ms:g}", "--log", str(work / "requests.jsonl"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    mix = rot_mix()
    if args.amp_cache:
        tls = make_certificates(work / "certs", AMP_CACHE_NAMES)
        simweb += ["--tls-ip", extra_ip, "--tls-port", "443"]  # the URLs carry no port
        simweb += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
        env["SSL_CERT_FILE"] = str(tls.ca)  # linkcheck trusts the throwaway CA, nothing else
    else:
        mix = {name: w for name, w in mix.items() if name not in AMP_CACHE_BEHAVIOURS}

    with SimWebProcess(simweb, work / "simweb.stderr") as server:
        port = int(server.ready["port"])
        hosts = list(server.ready["hosts"])[:-1]
        truth = generate(
            work / "cards", args.cards, hosts=hosts, port=port, seed=args.seed, old_share=0.0,
            mix=mix, timeout=args.timeout, slow_seconds=args.timeout + 3, retries=args.retries,
            amp_cache_rules=args.amp_cache,
        )  # fmt: skip
        pins = resolve_pins(truth.run_settings.get("amp_cache_hosts", []), extra_ip)
        command = linkcheck_command(
            work, f"http://{extra_ip}:{port}", pins, rate=args.rate,
            concurrency=args.concurrency, timeout=args.timeout, retries=args.retries,
        )  # fmt: skip
        (work / "linkcheck.command").write_text(" ".join(command) + "\n", encoding="utf-8")
        print(f"simweb on {hosts[0]}..{extra_ip}:{port}; running linkcheck on {args.cards} cards")
        started = time.perf_counter()
        with (
            (work / "linkcheck.stdout").open("w") as stdout,
            (work / "linkcheck.stderr").open("w") as stderr,
        ):
            code = subprocess.run(
                command, cwd=work, env=env, stdout=stdout, stderr=stderr, check=False
            ).returncode
        elapsed = time.perf_counter() - started
    err = (work / "linkcheck.stderr").read_text(encoding="utf-8", errors="replace")
    if code != 0:
        print(f"linkcheck exited {code} after {elapsed:.1f} s:", file=sys.stderr)
        print(err.strip()[-3000:], file=sys.stderr)
        if code == 2:
            print(
                "(exit 2 is a usage error: does this linkcheck support --archive-endpoint yet?"
                " `linkcheck run --help | grep archive`)",
                file=sys.stderr,
            )
        return 2
    report = json.loads((work / "out" / "report.json").read_text(encoding="utf-8"))
    summary = evaluate(truth, report, read_log(work / "requests.jsonl"))
    summary["linkcheck_seconds"] = round(elapsed, 1)
    summary["settings"] = {
        "cards": args.cards, "hosts": args.hosts, "seed": args.seed, "rate": args.rate,
        "concurrency": args.concurrency, "timeout": args.timeout, "retries": args.retries,
        "latency_ms": args.latency_ms, "amp_cache": args.amp_cache,
    }  # fmt: skip
    (work / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"linkcheck took {elapsed:.1f} s; work folder {work}")
    print(format_summary(summary))
    return 1 if missed_targets(summary) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.rot_accuracy",
        description="Precision and recall of linkcheck's soft-rot checks on the simulated web.",
    )
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=10, help="simulated sites (one more is used)")
    parser.add_argument("--first", type=int, default=160, help="last octet of the first host")
    parser.add_argument("--port", type=int, default=0, help="simweb port (0: a free one)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=50.0, help="linkcheck --rate-per-host")
    parser.add_argument("--concurrency", type=int, default=8, help="--concurrency-per-host")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument(
        "--no-amp-cache",
        dest="amp_cache",
        action="store_false",
        help="leave out amp_cache_ok/amp_cache_mismatch (no TLS listener, no pins)",
    )
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out" / "rot-accuracy")
    args = parser.parse_args(argv)
    if args.cards < 1 or args.hosts < 1:
        parser.error("--cards and --hosts must be positive")
    try:
        return run(args)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"rot_accuracy: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
