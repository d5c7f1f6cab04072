"""The end of a run after its last fetch: the verdicts and history, the run's end in the store,
then its reports."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import structlog

from crawler.config import RotConfig
from crawler.judge.judging import judge_run
from crawler.report.atomic import ReportWriteError
from crawler.report.html_report import write_html_report
from crawler.report.json_report import write_json_report
from crawler.report.partial import settle_folder
from crawler.store.database import Store

log = structlog.get_logger(__name__)


def end_run(
    store: Store, run_id: int, state: str, counters: dict[str, Any], rules: RotConfig
) -> bool:
    """The verdicts with their streaks and trends (recorded as history only for a finished
    run: an interrupted one shows them, and --resume records them), then the run's end.
    Returns whether the run was degraded (crawler/judge/degraded.py)."""
    store.flush()
    run_row = store.run(run_id)
    assert run_row is not None
    started = time.monotonic()
    judged, degraded = judge_run(
        store, run_id, rules, at=run_row.started_at, partial=state != "finished"
    )
    counters.update(judged)
    # what is left to judge after the last fetch: the figure early judging is there to shrink
    log.info("run_judged", run_id=run_id, duration_s=round(time.monotonic() - started, 3),
             judged_early=judged.get("cards_judged_early", 0))  # fmt: skip
    store.end_run(run_id, state=state, counters=counters, degraded=degraded)
    return degraded


def write_reports(store: Store, run_id: int, out: Path) -> tuple[Path, Path | None]:
    """report.json and the dashboard (report.partial.* for a run that did not finish: the
    complete ones are never replaced by a partial run's), the partial files settled
    (crawler.report.partial); then the store notes that the run is reported."""
    started = time.monotonic()
    report_path = write_json_report(store, run_id, out)
    try:
        html_path: Path | None = write_html_report(store, run_id, out)
    except ReportWriteError:
        raise  # the folder is unwritable or full: an operator error, said as one
    except Exception:  # the dashboard must never cost a run its report.json or exit code
        log.exception("html_report_failed", run_id=run_id)
        html_path = None
    run = store.run(run_id)
    assert run is not None
    try:
        settle_folder(store, run, out)
    except (OSError, ReportWriteError):  # a banner or a stale file costs no run its reports
        log.exception("partial_reports_not_settled", run_id=run_id)
    store.mark_reported(run_id)
    log.info("reports_written", run_id=run_id, duration_s=round(time.monotonic() - started, 3))
    return report_path, html_path
