"""`linkcheck report`: rebuild the reports of a run from the store, without one request."""

from __future__ import annotations

import argparse

from crawler.cli.exits import ExitCode
from crawler.cli.session import open_existing_store, session
from crawler.config import Config
from crawler.report.atomic import check_output_folder
from crawler.report.csv_junit import write_csv_report, write_junit_report
from crawler.report.html_report import write_html_report
from crawler.report.json_report import write_json_report
from crawler.store.database import Store
from crawler.store.lock import RunLock, describe
from crawler.store.opening import StoreError
from crawler.store.records import RunRow

WRITERS = {
    "json": write_json_report,
    "html": write_html_report,
    "csv": write_csv_report,
    "junit": write_junit_report,
}


def report_formats(text: str) -> list[str]:
    """--format's value: known writers' names, comma-separated, each once."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in WRITERS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown report format {', '.join(unknown) or text!r}"
            f" (choose from {', '.join(WRITERS)})"
        )
    return names


def report_command(config: Config, run_id: int | None, formats: list[str]) -> int:
    with session(open_existing_store(config.state.path)) as store:
        run = _chosen_run(store, run_id)
        check_output_folder(config.output.out)
        paths = [WRITERS[name](store, run.id, config.output.out) for name in formats]
    for path in paths:
        print(path)
    return ExitCode.OK


def _chosen_run(store: Store, run_id: int | None) -> RunRow:
    """The run to report: the one asked for, or the last, unless a live run is still on it or
    `linkcheck prune` deleted its rows (its report would be empty)."""
    run = store.run(run_id)
    if run is None:
        last = store.run()
        if last is None:
            raise StoreError(store.path, "holds no run yet: `linkcheck run` first")
        raise StoreError(store.path, f"has no run {run_id} (runs 1 to {last.id})")
    if run.pruned_at is not None:
        raise StoreError(
            store.path,
            f"run {run.id} was pruned at {run.pruned_at} (`linkcheck prune`): its cards and"
            " results are gone; give --run a kept one",
        )
    if run.state == "running":
        holder = RunLock(store.path).live_holder()
        if holder is not None:
            raise StoreError(
                store.path,
                f"run {run.id} is still going ({describe(holder)}): wait for it, or give"
                " --run an earlier one",
            )
    return run
