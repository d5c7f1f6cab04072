"""Pure analysis of a simulated-web request log: was the crawler polite, and how fast could it be?

No I/O besides `read_log`. A log is a sequence of `RequestRecord` (one per request the server
received), as kept in memory by `crawler.sim.server.SimWeb` or read back from its JSON-lines file.

    python -m benchmarks.politeness out/requests.jsonl --rate 5
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crawler.sim.wire import RequestRecord


def read_log(path: Path) -> list[RequestRecord]:
    """Read a JSON-lines request log (blank lines ignored)."""
    records: list[RequestRecord] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                records.append(RequestRecord.from_json(json.loads(line)))
    return records


def max_in_window(timestamps: Iterable[float], window: float = 1.0) -> int:
    """The most timestamps that fall in any half-open window [s, s + window).

    Exact: the best window can always start at a timestamp, so two pointers over the sorted
    times find it in O(n log n). Two requests exactly `window` apart are not in the same window.
    """
    if window <= 0:
        raise ValueError("window must be above 0")
    times = sorted(timestamps)
    best = 0
    left = 0
    for right, t in enumerate(times):
        while t - times[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best


def max_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals [start, end) open at once (an end at t closes before a start at t)."""
    events: list[tuple[float, int]] = []
    for start, end in intervals:
        events.append((start, 1))
        events.append((max(start, end), -1))
    events.sort()  # at equal times -1 sorts before +1
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def t_star(unique_urls_by_host: Mapping[str, int], rate: float) -> float:
    """The lower bound on a polite run's duration: max over hosts of (unique URLs / rate)."""
    if rate <= 0:
        raise ValueError("rate must be above 0")
    return max((n / rate for n in unique_urls_by_host.values()), default=0.0)


@dataclass(frozen=True, slots=True)
class HostStats:
    host: str
    requests: int
    unique_paths: int
    max_in_window: int  # most requests in any sliding window (see PolitenessReport.window)
    max_concurrency: int | None  # None when the log recorded neither inflight nor duration
    bytes_sent: int
    first: float
    last: float


@dataclass(frozen=True, slots=True)
class PolitenessReport:
    window: float
    hosts: dict[str, HostStats]
    total_requests: int
    total_bytes: int
    max_in_window: int  # over all hosts
    max_concurrency: int | None  # over all hosts
    busiest_host: str | None  # the host with the highest max_in_window
    span: float  # seconds from the first arrival to the last
    rate: float | None = None
    t_star: float | None = None  # seconds; needs a rate
    unique_urls_by_host: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _host_concurrency(records: Sequence[RequestRecord]) -> int | None:
    inflight = [r.inflight for r in records if r.inflight is not None]
    if inflight:
        return max(inflight)
    timed = [(r.t, r.t + r.duration) for r in records if r.duration is not None]
    if timed:
        return max_overlap(timed)
    return None


def analyse(
    records: Iterable[RequestRecord],
    *,
    rate: float | None = None,
    window: float = 1.0,
    unique_urls_by_host: Mapping[str, int] | None = None,
) -> PolitenessReport:
    """Per-host and overall politeness figures of a request log.

    T* uses `unique_urls_by_host` when given (e.g. from the generator's ground truth), else the
    unique paths each host saw in the log; it is only computed when a `rate` is given.
    """
    by_host: dict[str, list[RequestRecord]] = defaultdict(list)
    for record in records:
        by_host[record.host].append(record)

    hosts: dict[str, HostStats] = {}
    for host in sorted(by_host):
        rows = by_host[host]
        times = [r.t for r in rows]
        hosts[host] = HostStats(
            host=host,
            requests=len(rows),
            unique_paths=len({r.path for r in rows}),
            max_in_window=max_in_window(times, window),
            max_concurrency=_host_concurrency(rows),
            bytes_sent=sum(r.bytes for r in rows),
            first=min(times),
            last=max(times),
        )

    uniques = (
        dict(unique_urls_by_host)
        if unique_urls_by_host is not None
        else {h: s.unique_paths for h, s in hosts.items()}
    )
    concurrencies = [s.max_concurrency for s in hosts.values() if s.max_concurrency is not None]
    busiest = max(hosts.values(), key=lambda s: (s.max_in_window, s.requests), default=None)
    return PolitenessReport(
        window=window,
        hosts=hosts,
        total_requests=sum(s.requests for s in hosts.values()),
        total_bytes=sum(s.bytes_sent for s in hosts.values()),
        max_in_window=max((s.max_in_window for s in hosts.values()), default=0),
        max_concurrency=max(concurrencies) if concurrencies else None,
        busiest_host=busiest.host if busiest else None,
        span=(
            max(s.last for s in hosts.values()) - min(s.first for s in hosts.values())
            if hosts
            else 0.0
        ),
        rate=rate,
        t_star=t_star(uniques, rate) if rate is not None else None,
        unique_urls_by_host=uniques,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.politeness", description="Analyse a simweb request log."
    )
    parser.add_argument("log", type=Path, help="JSON-lines request log written by simweb")
    parser.add_argument("--rate", type=float, default=None, help="allowed requests/s per host")
    parser.add_argument("--window", type=float, default=1.0, help="sliding window, seconds")
    parser.add_argument(
        "--expected", type=Path, default=None, help="expected.json, for unique URLs per host"
    )
    args = parser.parse_args(argv)
    uniques: dict[str, int] | None = None
    if args.expected is not None:
        data = json.loads(args.expected.read_text(encoding="utf-8"))
        uniques = {str(k): int(v) for k, v in data.get("unique_urls_by_host", {}).items()}
    report = analyse(
        read_log(args.log), rate=args.rate, window=args.window, unique_urls_by_host=uniques
    )
    json.dump(report.to_json(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    # exit 1 when some host saw more than ceil(rate x window) requests in one window
    if args.rate is not None and report.max_in_window > max(1, math.ceil(args.rate * args.window)):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
