"""The `linkcheck` command: flags, exit codes, signals. Nothing else lives here."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sqlite3
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn

import structlog

from crawler import __version__
from crawler.config import CardsConfig, Config, ConfigError, load_config
from crawler.crawl import Crawl, RunResult
from crawler.intake.cards import CardsFolderError, find_card_files
from crawler.logs import configure_logging
from crawler.model import Severity
from crawler.progress import make_progress
from crawler.redact import redact_text
from crawler.report.csv_junit import write_csv_report, write_junit_report
from crawler.report.html_report import write_html_report
from crawler.report.json_report import (
    ReportWriteError,
    check_output_folder,
    write_json_report,
)
from crawler.store.database import (
    RunRow,
    Store,
    StoreError,
    check_store_path,
    environment_error,
    store_error,
)
from crawler.store.lock import RunLock, describe
from crawler.text import safe_text
from crawler.web.addresses import parse_resolve

log = structlog.get_logger("linkcheck")

DEFAULT_CONFIG = Path("config.yaml")

WRITERS = {
    "json": write_json_report,
    "html": write_html_report,
    "csv": write_csv_report,
    "junit": write_junit_report,
}


def report_formats(text: str) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in WRITERS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown report format {', '.join(unknown) or text!r}"
            f" (choose from {', '.join(WRITERS)})"
        )
    return names


class ExitCode(IntEnum):
    OK = 0  # nothing at or above --fail-on
    PROBLEMS = 1  # something at or above --fail-on; only ever this
    # the operator's to fix: flags, config, cards folder, store, --out (one line on stderr).
    # Checked before the first request; a report write that fails after the crawl is one too
    # (the results are in the store: `linkcheck report` rebuilds the reports)
    USAGE = 2
    INTERNAL = 3  # a bug in linkcheck: the traceback is in the log; the run is resumable
    INTERRUPTED = 130  # SIGINT: partial report written
    TERMINATED = 143  # SIGTERM: partial report written


EXIT_CODES_HELP = """exit codes:
  0    nothing at or above --fail-on was found
  1    cards at or above --fail-on were found (only that)
  2    an error for the operator to fix, in one line: flags, config, cards folder, store,
       --out (not writable, a file, full); nothing is fetched. If writing the reports fails
       after a crawl, its results are kept in the store: `linkcheck report` rebuilds them
  3    internal error (a bug): the traceback is in the log; `linkcheck run --resume`
       continues the run
  130  interrupted by SIGINT (a partial report is written)
  143  stopped by SIGTERM (a partial report is written)"""

# the errors that are the operator's to fix: one line, exit 2
OPERATOR_ERRORS = (ConfigError, CardsFolderError, StoreError, ReportWriteError)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        self.exit(
            ExitCode.USAGE,
            f"linkcheck: error: {message} (see {self.prog} --help)\n",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="linkcheck",
        description="Check news cards' links, images and pages.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"linkcheck {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="crawl the cards and write the reports",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(run)
    run.add_argument("--cards", metavar="DIR", help="folder of card files (cards.path)")
    run.add_argument("--glob", help="which files are cards, relative to the folder (cards.glob)")
    run.add_argument(
        "--since", metavar="Y|DATE", help="only cards published from then on (2020, 2020-05-07)"
    )
    run.add_argument(
        "--until", metavar="Y|DATE", help="only cards published up to then (inclusive)"
    )
    run.add_argument("--base-url", metavar="URL", help="resolve relative URLs against this")
    run.add_argument(
        "--rate-per-host", type=float, metavar="N", help="requests per second per host"
    )
    run.add_argument(
        "--concurrency-per-host", type=int, metavar="N", help="requests in flight per host"
    )
    run.add_argument("--max-in-flight", type=int, metavar="N", help="requests in flight in all")
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="total time for one request")
    run.add_argument(
        "--retries", type=int, metavar="N", help="extra attempts for transient failures"
    )
    run.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST:IP",
        help="pin a host name to an address, like curl (repeatable)",
    )
    run.add_argument(
        "--allow-private",
        action="store_true",
        default=None,
        help="allow loopback/private/link-local addresses",
    )
    run.add_argument(
        "--include-unpublished",
        action="store_true",
        default=None,
        help="also check cards with published: false",
    )
    run.add_argument(
        "--include-related",
        action="store_true",
        default=None,
        help="also check the URLs of related[] items",
    )
    run.add_argument(
        "--fail-on",
        choices=["broken", "rotted", "warning", "never"],
        help="exit 1 when a card is at least this bad (default broken)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    run.add_argument(
        "--max-age",
        metavar="DURATION",
        help="reuse healthy results younger than this (7d, 12h); recheck.max_age",
    )
    run.add_argument(
        "--full", action="store_true", default=None, help="ignore the store: fetch every URL"
    )
    run.add_argument(
        "--resume", action="store_true", help="continue the last interrupted run of the store"
    )
    run.add_argument(
        "--no-archive",
        dest="archive_enabled",
        action="store_false",
        default=None,
        help="no Internet Archive look-ups for failing pages",
    )
    run.add_argument(
        "--archive-endpoint", metavar="URL", help="the archive's availability API host"
    )

    demo = commands.add_parser(
        "demo", help="crawl bundled demo cards on a simulated local web; no network needed"
    )
    demo.add_argument("--out", metavar="DIR", help="output folder (default reports/demo)")
    demo.add_argument("--log-format", choices=["auto", "console", "json"], help="log output")
    demo.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    demo.add_argument("--config", type=Path, help=argparse.SUPPRESS)

    history = commands.add_parser("history", help="the timeline of one URL or card")
    history.add_argument(
        "target", metavar="URL|CARD_PATH", help="a URL, or a card path as in the report"
    )
    history.add_argument(
        "--state", metavar="PATH", help="SQLite store (default .linkcheck/state.sqlite)"
    )
    history.add_argument("--config", type=Path, metavar="FILE", help="config file")
    history.add_argument("--log-format", choices=["auto", "console", "json"], help="log output")
    history.add_argument("-v", "--verbose", action="store_true", help="debug logs")

    report = commands.add_parser("report", help="rebuild the reports from the store, no request")
    _add_common(report)
    report.add_argument("--run", type=int, metavar="ID", help="which run (default: the last)")
    report.add_argument(
        "--format",
        type=report_formats,
        default=["json", "html"],
        metavar="LIST",
        help="comma-separated: json, html, csv, junit (default json,html)",
    )
    return parser


def _add_common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (default ./config.yaml when it exists)",
    )
    sub.add_argument("--out", metavar="DIR", help="output folder for reports (default reports/)")
    sub.add_argument(
        "--state", metavar="PATH", help="SQLite store (default .linkcheck/state.sqlite)"
    )
    sub.add_argument("--log-format", choices=["auto", "console", "json"], help="log output")
    sub.add_argument("-v", "--verbose", action="store_true", help="debug logs")


def overrides_from(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Only the flags that were given: flags > config.yaml > defaults."""
    mapping = {
        "cards": {
            "path": "cards",
            "glob": "glob",
            "since": "since",
            "until": "until",
            "include_unpublished": "include_unpublished",
            "include_related": "include_related",
        },
        "links": {"base_url": "base_url"},
        "politeness": {
            "rate_per_host": "rate_per_host",
            "concurrency_per_host": "concurrency_per_host",
            "max_in_flight": "max_in_flight",
        },
        "fetch": {"timeout": "timeout", "retries": "retries", "allow_private": "allow_private"},
        "output": {"out": "out", "fail_on": "fail_on", "log_format": "log_format"},
        "state": {"path": "state"},
        "recheck": {"max_age": "max_age", "full": "full"},
        "archive": {"enabled": "archive_enabled", "endpoint": "archive_endpoint"},
    }
    result: dict[str, dict[str, Any]] = {}
    for section, keys in mapping.items():
        for key, attr in keys.items():
            value = getattr(args, attr, None)
            if value is not None:
                result.setdefault(section, {})[key] = value
    if getattr(args, "no_progress", False):
        result.setdefault("output", {})["progress"] = False
    return result


def resolve_config(args: argparse.Namespace) -> Config:
    path = args.config
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    config = load_config(path, overrides_from(args))
    pins = getattr(args, "resolve", None)
    if pins:
        try:
            config.fetch.resolve.update(parse_resolve(pins))
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    return config


def exit_code_for(by_status: dict[str, int], fail_on: str) -> ExitCode:
    if fail_on == "never":
        return ExitCode.OK
    threshold = Severity.from_label(fail_on)
    failing = sum(n for label, n in by_status.items() if Severity.from_label(label) >= threshold)
    return ExitCode.PROBLEMS if failing else ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_format or "auto", verbose=args.verbose)
    try:
        return _main(args)
    except OPERATOR_ERRORS as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:  # outside the crawl, whose signal handlers write a partial report
        return _fail("interrupted", code=ExitCode.INTERRUPTED, prefix="linkcheck: ")
    except Exception as exc:  # a bug: never exit 1, which means "broken cards found"
        log.exception("internal_error", command=args.command)
        resume = " `linkcheck run --resume` continues the run;" if args.command == "run" else ""
        return _fail(
            # the exception's text stays in the log, where URL secrets are redacted
            f"internal error ({type(exc).__name__}), a bug in linkcheck:{resume} the traceback"
            " is in the log above",
            code=ExitCode.INTERNAL,
            prefix="linkcheck: ",
        )


def _main(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    configure_logging(config.output.log_format, verbose=args.verbose, redaction=config.redact)
    if args.command == "run":
        return _run(config, resume=args.resume)
    if args.command == "demo":
        from crawler.demo import main as demo_main  # the simulated web is only needed here

        out = Path(args.out or "reports/demo")
        check_output_folder(out)
        return demo_main(out)
    if args.command == "history":
        return _history(config, args.target)
    return _report(config, args.run, args.format)


def _fail(
    message: str, *, code: ExitCode = ExitCode.USAGE, prefix: str = "linkcheck: error: "
) -> int:
    """One line on stderr, whatever the message holds."""
    print(prefix + " ".join(safe_text(message).split()), file=sys.stderr)
    return code


def check_cards_folder(cards: CardsConfig) -> None:
    """The cards folder exists, can be read and holds at least one card: before any request."""
    if not cards.path.exists():
        raise ConfigError(f"cards folder not found: {cards.path} (set --cards or cards.path)")
    if next(iter(find_card_files(cards.path, cards.glob)), None) is None:
        raise CardsFolderError(
            f"no card files in {cards.path} matching {cards.glob!r} (check --cards and --glob)"
        )


def _run(config: Config, *, resume: bool = False) -> int:
    check_cards_folder(config.cards)
    check_output_folder(config.output.out)
    check_store_path(config.state.path)
    lock = RunLock(config.state.path)
    lock.acquire()
    try:
        if lock.took_over:
            log.warning("stale_lock_taken_over", previous=lock.took_over)
        with _session(Store(config.state.path), resume_hint=True) as store:
            store.check_usable()
            try:
                result, signum = asyncio.run(_crawl(config, store, resume=resume))
            except ReportWriteError as exc:
                raise _results_kept(exc, store) from exc
    finally:
        lock.release()
    _print_summary(result)
    if signum == signal.SIGINT:
        return ExitCode.INTERRUPTED
    if signum == signal.SIGTERM:
        return ExitCode.TERMINATED
    return exit_code_for(result.by_status, config.output.fail_on)


def _results_kept(exc: ReportWriteError, store: Store) -> ReportWriteError:
    """The crawl finished but its report could not be written: where its results are."""
    run = store.run()
    which = f"run {run.id}'s" if run else "the run's"
    return ReportWriteError(
        exc.path,
        f"{exc.reason}; {which} results are in {safe_text(str(store.path))}:"
        " `linkcheck report` rebuilds the reports",
    )


@contextmanager
def _session(store: Store, *, resume_hint: bool = False) -> Iterator[Store]:
    """The store for one command. SQLite failing for the file's or the machine's sake (a full
    disk, another program's lock...) is a StoreError, one line. And the frames an exception
    holds (a generator still reading the store, say) let go before the store is closed, not at
    exit with an "Exception ignored" traceback."""
    try:
        yield store
    except sqlite3.Error as exc:
        _release_frames(exc)
        if not environment_error(exc):
            raise
        error = store_error(store.path, exc)
        damaged = getattr(exc, "sqlite_errorname", "").startswith(
            ("SQLITE_CORRUPT", "SQLITE_NOTADB")
        )
        hint = "; `linkcheck run --resume` continues the run" if resume_hint and not damaged else ""
        raise StoreError(error.path, error.reason + hint) from exc
    except BaseException as exc:
        _release_frames(exc)
        raise
    finally:
        _close(store)


def _release_frames(exc: BaseException) -> None:
    """Clear the locals of every frame in the tracebacks of exc and of the exceptions behind
    it (the code and line numbers stay, for the log)."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _close(store: Store) -> None:
    """Close the store; a store that fails again on closing must not hide the first error."""
    try:
        store.close()
    except sqlite3.Error as exc:
        log.warning("store_close_failed", error=str(exc))


async def _crawl(
    config: Config, store: Store, *, resume: bool = False
) -> tuple[RunResult, int | None]:
    crawl = Crawl(config, store, make_progress(config.output.progress), resume=resume)
    received: list[int] = []
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        received.append(signum)
        crawl.request_stop(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    result = await crawl.run()
    return result, (received[0] if received else None)


def open_existing_store(path: Path) -> Store:
    """The store of `report` and `history`, which never make one."""
    if not path.exists() and not path.is_symlink():
        raise StoreError(path, "no store here: run `linkcheck run` first, or give --state")
    return Store(path)


def _report(config: Config, run_id: int | None, formats: list[str]) -> int:
    with _session(open_existing_store(config.state.path)) as store:
        run = _chosen_run(store, run_id)
        check_output_folder(config.output.out)
        paths = [WRITERS[name](store, run.id, config.output.out) for name in formats]
    for path in paths:
        print(path)
    return ExitCode.OK


def _chosen_run(store: Store, run_id: int | None) -> RunRow:
    """The run to report: the one asked for, or the last, unless a live run is still on it."""
    run = store.run(run_id)
    if run is None:
        last = store.run()
        if last is None:
            raise StoreError(store.path, "holds no run yet: `linkcheck run` first")
        raise StoreError(store.path, f"has no run {run_id} (runs 1 to {last.id})")
    if run.state == "running":
        holder = RunLock(store.path).live_holder()
        if holder is not None:
            raise StoreError(
                store.path,
                f"run {run.id} is still going ({describe(holder)}): wait for it, or give"
                " --run an earlier one",
            )
    return run


def _history(config: Config, target: str) -> int:
    with _session(open_existing_store(config.state.path)) as store:
        if store.run() is None:
            raise StoreError(store.path, "holds no run yet: `linkcheck run` first")
        lines = history_lines(store, target)
    if not lines:
        raise ConfigError(f"no history for {target} in {config.state.path}")
    print("\n".join(lines))
    return ExitCode.OK


def history_lines(store: Store, target: str) -> list[str]:
    """One line per run that saw the URL (target has ://, the real URL as stored) or the card (a
    path). URLs in them are redacted (crawler/redact.py), like the reports."""
    if "://" in target:
        return [_url_line(r, target) for r in store.url_timeline(target)]
    lines = []
    for r in store.card_timeline(target.replace("\\", "/")):
        kinds = sorted({p["kind"] for p in json.loads(r["problems"] or "[]")})
        lines.append(
            f"run {r['run_id']:>4}  {r['started_at'][:19]}  {r['status'] or 'ok':<8}"
            f" {r['trend'] or '':<10} {', '.join(kinds) or '-'}"
        )
    return lines


def _url_line(r: Any, target: str) -> str:
    line = (
        f"run {r['run_id']:>4}  {r['checked_at'][:19]}  {r['status']:<8}"
        f" {r['kind'] or '-':<24} {r['http_status'] or '-':<4} {r['trend'] or '':<10}"
    )
    if r["reused_from"]:
        line += f" (reused from run {r['reused_from']})"
    if r["final_url"] and r["final_url"] != target:
        line += f"  -> {redact_text(r['final_url'])}"
    return line.rstrip()


def _print_summary(result: RunResult) -> None:
    counts = ", ".join(f"{n} {label}" for label, n in result.by_status.items() if n)
    state = "" if result.state == "finished" else f" ({result.state}: partial report)"
    print(redact_text(f"{counts or 'no cards'}{state}; report: {result.report_path}"))
    dashboard = result.report_path.with_name("report.html")
    if dashboard.is_file():
        print(redact_text(f"dashboard: {dashboard.resolve().as_uri()}"))


if __name__ == "__main__":
    raise SystemExit(main())
