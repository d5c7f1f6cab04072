"""Are two report.json files the same report, apart from what differs between any two runs?

Used to show that a change of structure changed no behaviour: run `linkcheck demo --out A` before
and `--out B` after, then

    python -m benchmarks.same_report A/report.json B/report.json

Prints each difference (a JSON path and both values) and exits 1 if there is any. Set aside:
timestamps and durations, the loopback port, temporary folders and the soft-404 probe's random URL
(each run picks its own), and the
archive's snapshot (the simulated archive dates its copies at random, and its lookups are bounded by
a time budget, so whether a copy is found at all depends on the machine's load).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

VOLATILE_KEYS = frozenset(
    {
        "started_at",
        "finished_at",
        "duration_s",
        "checked_at",
        "first_failed_at",
        "last_healthy_at",
        "elapsed_ms",
        "archive_url",
        "archive_timestamp",
        "generated_at",
    }
)
PORT = re.compile(r"(127\.\d+\.\d+\.\d+|localhost):\d+")
TEMP = re.compile(r"/tmp/[^/\s\"']+")
PROBE = re.compile(r"/[a-z]{25}\)")  # the soft-404 probe's random last segment


def normalised(value: Any) -> Any:
    """The value with volatile keys dropped and run-specific ports and folders masked."""
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    if isinstance(value, str):
        return PROBE.sub("/PROBE)", TEMP.sub("/tmp/X", PORT.sub(r"\1:PORT", value)))
    return value


def differences(a: Any, b: Any, path: str = "") -> Iterator[str]:
    if type(a) is not type(b):
        yield f"{path or '/'}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                yield f"{path}/{key}: only in {'the second' if key not in a else 'the first'}"
            else:
                yield from differences(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list):
        if len(a) != len(b):
            yield f"{path}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from differences(x, y, f"{path}[{i}]")
    elif a != b:
        yield f"{path}: {a!r} != {b!r}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    args = parser.parse_args(argv)
    first = normalised(json.loads(args.first.read_text(encoding="utf-8")))
    second = normalised(json.loads(args.second.read_text(encoding="utf-8")))
    found = list(differences(first, second))
    for line in found:
        print(line)
    print(f"{len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
