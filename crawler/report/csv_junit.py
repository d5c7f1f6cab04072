"""problems.csv (one line per problem) and report.junit.xml (one test case per card).

Both are built from the store, streamed card by card and written atomically, like report.json.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from crawler.model import FAILING
from crawler.redact import Redactor, may_hide
from crawler.report.atomic import atomic_writer
from crawler.report.json_report import run_redactor, run_section
from crawler.store import reports
from crawler.store.database import Store
from crawler.store.records import StoredCard

CSV_COLUMNS = (
    "path",
    "title",
    "provider",
    "published",
    "status",
    "field",
    "url",
    "kind",
    "severity",
    "http_status",
    "final_url",
    "detail",
)
CSV_NAME = "problems.csv"
JUNIT_NAME = "report.junit.xml"
JUNIT_FAILING = frozenset({*FAILING, "invalid"})  # a failing or invalid card fails its test
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# characters XML 1.0 cannot hold, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def csv_cell(value: Any) -> str:
    """A cell as text; one that a spreadsheet would run as a formula gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cards(store: Store, run_id: int, redactor: Redactor) -> Iterator[tuple[StoredCard, list[Any]]]:
    """Each card of the run (status "ok" if not judged) with its problems, every string in them
    redacted. Most cards have nothing to mask and come as they were read."""
    for card in reports.cards(store, run_id):
        card = card._replace(status=card.status or "ok")
        problems = json.loads(card.problems or "[]")
        if may_hide(f"{card.path}\n{card.title}\n{card.provider}\n{card.problems}"):
            card = StoredCard(**redactor.value(card._asdict()))
            problems = redactor.value(problems)
        yield card, problems


def write_csv_report(store: Store, run_id: int, out_dir: Path) -> Path:
    """Write out_dir/problems.csv: one line per problem of every card of the run."""
    path = out_dir / CSV_NAME
    redactor = run_redactor(store, run_id)
    with atomic_writer(path) as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for card, problems in _cards(store, run_id, redactor):
            for problem in problems:
                writer.writerow(
                    csv_cell(v)
                    for v in (
                        card.path,
                        card.title,
                        card.provider,
                        card.published,
                        card.status,
                        problem.get("field"),
                        problem.get("url"),
                        problem.get("kind"),
                        problem.get("severity"),
                        problem.get("http_status"),
                        problem.get("final_url"),
                        problem.get("detail"),
                    )
                )
    return path


def _xml_text(value: Any) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", "" if value is None else str(value))


def _attr(value: Any) -> str:
    return quoteattr(_xml_text(value))


def _problem_line(problem: dict[str, Any]) -> str:
    parts = [f"{problem.get('severity')}: {problem.get('kind')}"]
    if problem.get("field"):
        parts.append(f"in {problem['field']}")
    if problem.get("url"):
        parts.append(str(problem["url"]))
    if problem.get("http_status") is not None:
        parts.append(f"(HTTP {problem['http_status']})")
    line = " ".join(parts)
    if problem.get("detail"):
        line += f" - {problem['detail']}"
    if problem.get("final_url") and problem.get("final_url") != problem.get("url"):
        line += f" -> {problem['final_url']}"
    return line


def folder_of(path: str) -> str:
    """A card's folder, relative to the cards folder ("." for a card at its top)."""
    return str(PurePosixPath(path).parent)


def write_junit_report(store: Store, run_id: int, out_dir: Path) -> Path:
    """Write out_dir/report.junit.xml: one test case per card of the run (classname its folder,
    name its path). A rotted, broken or invalid card is a failure whose message lists its
    problems; a card with warnings only passes, its warnings in system-out. Nothing is skipped."""
    path = out_dir / JUNIT_NAME
    redactor = run_redactor(store, run_id)
    run = redactor.value(run_section(store, run_id))
    counts = reports.status_counts(store, run_id)
    tests = sum(count.cards for count in counts)
    failures = sum(count.cards for count in counts if count.status in JUNIT_FAILING)
    suite = (
        f'  <testsuite name={_attr(f"linkcheck run {run_id}")} tests="{tests}"'
        f' failures="{failures}" errors="0" skipped="0" time="{run["duration_s"] or 0}"'
        f" timestamp={_attr(run['started_at'])}>\n"
    )
    with atomic_writer(path) as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(
            f'<testsuites name="linkcheck" tests="{tests}" failures="{failures}" errors="0"'
            f' skipped="0">\n'
        )
        out.write(suite)
        out.write("    <properties>\n")
        for key in ("state", "since", "until", "cards_root", "requests_made"):
            if run.get(key) is not None:
                out.write(f"      <property name={_attr(key)} value={_attr(run[key])}/>\n")
        out.write("    </properties>\n")
        for card, problems in _cards(store, run_id, redactor):
            _write_case(out, card, problems)
        out.write("  </testsuite>\n</testsuites>\n")
    return path


def _write_case(out: Any, card: StoredCard, problems: list[Any]) -> None:
    status = card.status or "ok"
    head = f'    <testcase classname={_attr(folder_of(card.path))} name={_attr(card.path)} time="0"'
    lines = [_problem_line(p) for p in problems]
    if status in JUNIT_FAILING:
        title = card.title or "(no title)"
        message = f"{status}: " + "; ".join(lines) if lines else status
        out.write(head + ">\n")
        out.write(
            f"      <failure type={_attr(status)} message={_attr(message)}>"
            f"{escape(_xml_text(title + chr(10) + chr(10).join(lines)))}</failure>\n"
        )
        out.write("    </testcase>\n")
    elif lines:
        out.write(head + ">\n")
        out.write(f"      <system-out>{escape(_xml_text(chr(10).join(lines)))}</system-out>\n")
        out.write("    </testcase>\n")
    else:
        out.write(head + "/>\n")
