"""`linkcheck report`: rebuild the reports of a run from the store, without one request; or,
with `--format markdown`, print a short summary for a GitHub issue or an Actions job summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crawler.cli.exits import ExitCode
from crawler.cli.session import open_existing_store, session
from crawler.config import Config
from crawler.report.atomic import ReportWriteError, atomic_writer, check_output_folder
from crawler.report.csv_junit import write_csv_report, write_junit_report
from crawler.report.html_report import write_html_report
from crawler.report.json_report import write_json_report
from crawler.report.markdown_report import markdown_summary
from crawler.report.partial import report_path
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
MARKDOWN = "markdown"  # printed (or --out FILE), not a file in the reports' folder


def report_formats(text: str) -> list[str]:
    """--format's value: known formats' names, comma-separated, each once; markdown alone."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in (*WRITERS, MARKDOWN)]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown report format {', '.join(unknown) or text!r}"
            f" (choose from {', '.join((*WRITERS, MARKDOWN))})"
        )
    if MARKDOWN in names and len(names) > 1:
        raise argparse.ArgumentTypeError(
            "markdown is printed (or written to --out FILE), not written beside the other"
            " reports: give --format markdown on its own"
        )
    return names


def report_command(
    config: Config, run_id: int | None, formats: list[str], out_flag: str | None = None
) -> int:
    """Write the run's reports in the output folder and print their paths; `--format markdown`
    prints the summary instead, or writes it to `out_flag` (--out FILE) when given."""
    if formats == [MARKDOWN]:
        return _markdown_command(config, run_id, Path(out_flag) if out_flag else None)
    # the page last: its footer names the files beside it that exist when it is written
    ordered = sorted(formats, key=lambda name: name == "html")
    with session(open_existing_store(config.state.path)) as store:
        run = chosen_run(store, run_id)
        check_output_folder(config.output.out)
        paths = [WRITERS[name](store, run.id, config.output.out) for name in ordered]
    for path in paths:
        print(path)
    return ExitCode.OK


def _markdown_command(config: Config, run_id: int | None, out: Path | None) -> int:
    if out is not None and out.is_dir():
        raise ReportWriteError(out, "is a folder: --format markdown writes one file")
    with session(open_existing_store(config.state.path)) as store:
        run = chosen_run(store, run_id)
        dashboard = config.output.dashboard_url or str(
            report_path(config.output.out, run.state, "html")
        )
        text = markdown_summary(store, run.id, dashboard)
    if out is None:
        sys.stdout.write(text)
        return ExitCode.OK
    with atomic_writer(out) as handle:
        handle.write(text)
    print(out)
    return ExitCode.OK


def chosen_run(store: Store, run_id: int | None) -> RunRow:
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
