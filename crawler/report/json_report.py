"""report.json, streamed from the store card by card and written atomically
(crawler.report.atomic).

Streaming keeps memory flat for a corpus of any size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from crawler import redact
from crawler.config import ConfigError
from crawler.model import CARD_STATUSES, STATUS_LABELS, UNVERIFIED
from crawler.report.atomic import atomic_writer
from crawler.report.host_notes import hosts_section
from crawler.report.partial import report_path
from crawler.report.triage import kinds_by_severity
from crawler.store import reports
from crawler.store.database import Store
from crawler.store.records import ProblemsThen, StoredCard, UrlResult

SCHEMA_VERSION = 1


def run_section(store: Store, run_id: int) -> dict[str, Any]:
    run = store.run(run_id)
    if run is None:
        raise ConfigError(f"no run {run_id} in {store.path}")
    counters = run.counters
    duration = None
    if run.finished_at:
        duration = round(
            (
                datetime.fromisoformat(run.finished_at) - datetime.fromisoformat(run.started_at)
            ).total_seconds(),
            3,
        )
    return {
        "id": run.id,
        "state": run.state,
        "degraded": run.degraded,
        "hosts_contacted": counters.get("hosts_contacted", 0),
        "hosts_unreachable": counters.get("hosts_unreachable", 0),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_s": duration,
        "since": run.since,
        "until": run.until,
        "cards_root": run.cards_root,
        "cards_found": counters.get("cards_found", 0),
        "cards_checked": counters.get("cards_checked", 0),
        "cards_invalid": counters.get("cards_invalid", 0),
        "cards_filtered_out": counters.get("cards_filtered_out", 0),
        "cards_filtered_by": counters.get("cards_filtered_by", {}),
        "skipped_files": _skipped_files(counters.get("skipped_files", [])),
        "urls_unique": counters.get("urls_unique", 0),
        "urls_checked": reports.url_result_count(store, run_id),
        "links_unchecked": counters.get("links_unchecked", 0),
        "requests_made": counters.get("requests_made", 0),
        "archive": counters.get("archive"),
        "config": run.config,
    }


def _skipped_files(paths: list[str]) -> dict[str, Any]:
    """Markdown files without front matter: not cards, so neither checked nor invalid."""
    return {"count": len(paths), "paths": paths}


def summary_section(store: Store, run_id: int) -> dict[str, Any]:
    by_status = dict.fromkeys(CARD_STATUSES, 0)
    for count in reports.status_counts(store, run_id):
        by_status[count.status or "ok"] = count.cards
    # by_kind: how many cards have at least one problem of that kind; the worst kinds first
    counts = {count.kind: count.cards for count in reports.kind_counts(store, run_id)}
    by_kind = dict(kinds_by_severity(counts))
    by_host: dict[str, dict[str, int]] = {}
    for host in reports.host_counts(store, run_id):
        entry = by_host.setdefault(host.host, {"urls": 0, **dict.fromkeys(STATUS_LABELS[:4], 0)})
        entry["urls"] += host.urls
        entry[host.status] = host.urls
    return {"by_status": by_status, "by_kind": by_kind, "by_host": by_host}


def _problem_keys(problems_json: str | None) -> dict[tuple[str | None, str], dict[str, Any]]:
    return {(p["field"], p["kind"]): p for p in json.loads(problems_json or "[]")}


def changes_section(store: Store, run_id: int) -> dict[str, Any]:
    """Problems new since the previous finished run, and those fixed since, card by card.

    Only cards this run checked are compared: a card out of this run's scope is not "fixed".
    A degraded run (crawler/judge/degraded.py) lists nothing new: its failures were most
    likely the network's, and `degraded` says so instead. A link that could not be verified
    (a bot wall, robots.txt) fixes nothing, and its failure when it can be verified again is
    not new if its streak held through (crawler/judge/history.py)."""
    previous = store.previous_finished_run(run_id)
    degraded = _degraded(store, run_id)
    changes: dict[str, Any] = {
        "previous_run": previous, "degraded": degraded, "new": [], "fixed": []
    }  # fmt: skip
    if previous is None:
        return changes
    for card in reports.problems_then(store, run_id, previous):
        current = _problem_keys(card.problems)
        earlier = _problem_keys(card.previous)
        unverified = {p["url"] for p in earlier.values() if p["kind"] in UNVERIFIED}
        for key in current.keys() - earlier.keys():
            if _new(current[key], unverified):
                changes["new"].append(_change(card.path, current[key]))
        for key in earlier.keys() - current.keys():
            if _fixed(earlier[key], card):
                changes["fixed"].append(_change(card.path, earlier[key]))
    for name in ("new", "fixed"):
        changes[name].sort(key=lambda c: (c["path"], c["field"] or "", c["kind"]))
    if degraded:
        changes["new"] = []
    return changes


def _degraded(store: Store, run_id: int) -> bool:
    run = store.run(run_id)
    return run is not None and run.degraded


def _new(problem: dict[str, Any], unverified_then: set[str | None]) -> bool:
    """A problem absent from the previous run is new, unless its URL could not be verified then
    and its streak began before that run (held through it, the streak goes on)."""
    began_before = problem.get("trend") in ("ongoing", "persistent")
    return not (problem["url"] in unverified_then and began_before)


def _fixed(problem: dict[str, Any], card: ProblemsThen) -> bool:
    """A problem gone from a card is fixed when its URL was checked again in this run and
    found healthy, or the card names the URL no more (or it had none: the card was read
    again). A URL left unchecked (an interrupted run), or found healthy only because it could
    not be verified (crawler/store/reports.py: problems_then), fixes nothing."""
    url = problem["url"]
    return url is None or url not in card.linked or url in card.healthy


def _change(path: str, problem: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": path,
        "field": problem["field"],
        "kind": problem["kind"],
        "severity": problem["severity"],
        "url": problem["url"],
    }


def card_entry(card: StoredCard) -> dict[str, Any]:
    return {
        "path": card.path,
        "title": card.title,
        "published": card.published,
        "provider": card.provider,
        "status": card.status or "ok",
        "first_failed_at": card.first_failed_at,
        "consecutive_failures": card.consecutive_failures,
        "trend": card.trend,
        "problems": json.loads(card.problems or "[]"),
    }


def url_entry(result: UrlResult, pending: frozenset[str] = frozenset()) -> dict[str, Any]:
    """One URL's result; `pending` holds the failing pages with no archive lookup yet."""
    image = None
    if result.image_width is not None:
        image = {
            "width": result.image_width,
            "height": result.image_height,
            "format": result.image_format,
        }
    return {
        "url": result.url,
        "host": result.host,
        "link_kind": result.link_kind,
        "status": result.status,
        "kind": result.kind,
        "findings": json.loads(result.findings),
        "http_status": result.http_status,
        "final_url": result.final_url,
        "redirects": json.loads(result.redirects),
        "attempts": result.attempts,
        "elapsed_ms": result.elapsed_ms,
        "content_type": result.content_type,
        "bytes_read": result.bytes_read,
        "image": image,
        "checked_at": result.checked_at,
        "reused_from": result.reused_from,
        "archive_url": result.archive_url,
        "archive_timestamp": result.archive_timestamp,
        "archive": "pending" if result.url in pending else None,
        "first_failed_at": result.first_failed_at,
        "consecutive_failures": result.consecutive_failures,
        "trend": result.trend,
    }


# json.dumps(item, ensure_ascii=False, separators=(",", ":")), without a new encoder per item
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def archive_pending(store: Store, run_id: int) -> frozenset[str]:
    """The run's failing pages with no archive lookup yet (crawler.judge.archive_copy)."""
    run = store.run(run_id)
    return frozenset(run.counters.get("archive_pending", ())) if run is not None else frozenset()


def run_redactor(store: Store, run_id: int) -> redact.Redactor:
    """What a run's reports mask: the run's recorded `redact` settings and this process's."""
    run = store.run(run_id)
    return redact.for_run(run.config if run is not None else None)


def write_json_report(store: Store, run_id: int, out_dir: Path) -> Path:
    """Write out_dir/report.json for one run (report.partial.json for a run that did not
    finish: crawler/report/partial.py); returns its path. Every string in it is redacted
    (crawler/redact.py) as it is written: the store keeps the real URLs."""
    run = run_section(store, run_id)
    path = report_path(out_dir, run["state"], "json")
    redactor = redact.for_run(run["config"])
    head = {
        "schema_version": SCHEMA_VERSION,
        "run": run,
        "summary": summary_section(store, run_id),
        "changes": changes_section(store, run_id),
        "hosts": hosts_section(store, run_id),
    }
    with atomic_writer(path) as out:
        out.write(json.dumps(redactor.value(head), ensure_ascii=False, indent=1)[:-2])
        cards = (card_entry(card) for card in reports.cards(store, run_id))
        _write_array(out, "cards", cards, redactor)
        pending = archive_pending(store, run_id)
        urls = (url_entry(result, pending) for result in reports.url_results(store, run_id))
        _write_array(out, "urls", urls, redactor)
        out.write("\n}\n")
    return path


def _write_array(
    out: IO[str], name: str, items: Iterator[dict[str, Any]], redactor: redact.Redactor
) -> None:
    out.write(f',\n "{name}": [')
    first = True
    for item in items:
        out.write("\n  " if first else ",\n  ")
        out.write(redactor.dumps(item, _compact_json))
        first = False
    out.write("\n ]" if not first else "]")
