"""The `linkcheck` command: flags, exit codes, signals. Nothing else lives here."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn

import structlog

from crawler import __version__
from crawler.addresses import parse_resolve
from crawler.cards import CardsFolderError
from crawler.config import Config, ConfigError, load_config
from crawler.lock import RunLock, StoreLocked
from crawler.logs import configure_logging
from crawler.progress import make_progress
from crawler.report.csv_junit import write_csv_report, write_junit_report
from crawler.report.html_report import write_html_report
from crawler.report.json_report import write_json_report
from crawler.run import Crawl, RunResult
from crawler.store import Store
from crawler.verdicts import Severity

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
    PROBLEMS = 1  # something at or above --fail-on
    USAGE = 2  # bad flags or config, nothing was checked
    INTERRUPTED = 130  # SIGINT: partial report written
    TERMINATED = 143  # SIGTERM: partial report written


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        self.exit(
            ExitCode.USAGE,
            f"linkcheck: error: {message} (see {self.prog} --help)\n",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="linkcheck", description="Check news cards' links, images and pages.")
    parser.add_argument("--version", action="version", version=f"linkcheck {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="crawl the cards and write the reports")
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
    try:
        config = resolve_config(args)
    except ConfigError as exc:
        print(f"linkcheck: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    configure_logging(config.output.log_format, verbose=args.verbose)
    try:
        if args.command == "run":
            return _run(config, resume=args.resume)
        if args.command == "demo":
            from crawler.demo import main as demo_main  # the simulated web is only needed here

            return demo_main(Path(args.out or "reports/demo"))
        if args.command == "history":
            return _history(config, args.target)
        return _report(config, args.run, args.format)
    except (ConfigError, CardsFolderError) as exc:
        print(f"linkcheck: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE


def _run(config: Config, *, resume: bool = False) -> int:
    if not config.cards.path.is_dir():
        raise ConfigError(
            f"cards folder not found: {config.cards.path} (set --cards or cards.path)"
        )
    lock = RunLock(config.state.path)
    try:
        lock.acquire()
    except StoreLocked as exc:
        print(f"linkcheck: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if lock.took_over:
        log.warning("stale_lock_taken_over", previous=lock.took_over)
    store = Store(config.state.path)
    try:
        result, signum = asyncio.run(_crawl(config, store, resume=resume))
    finally:
        store.close()
        lock.release()
    _print_summary(result)
    if signum == signal.SIGINT:
        return ExitCode.INTERRUPTED
    if signum == signal.SIGTERM:
        return ExitCode.TERMINATED
    return exit_code_for(result.by_status, config.output.fail_on)


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


def _report(config: Config, run_id: int | None, formats: list[str]) -> int:
    if not config.state.path.is_file():
        raise ConfigError(f"no store at {config.state.path}: run `linkcheck run` first")
    store = Store(config.state.path)
    try:
        run = store.run(run_id)
        if run is None:
            raise ConfigError(f"no run {run_id or ''} in {config.state.path}".replace("  ", " "))
        paths = [WRITERS[name](store, run.id, config.output.out) for name in formats]
    finally:
        store.close()
    for path in paths:
        print(path)
    return ExitCode.OK


def _history(config: Config, target: str) -> int:
    if not config.state.path.is_file():
        raise ConfigError(f"no store at {config.state.path}: run `linkcheck run` first")
    store = Store(config.state.path)
    try:
        lines = history_lines(store, target)
    finally:
        store.close()
    if not lines:
        raise ConfigError(f"no history for {target} in {config.state.path}")
    print("\n".join(lines))
    return ExitCode.OK


def history_lines(store: Store, target: str) -> list[str]:
    """One line per run that saw the URL (target has ://) or the card (a path)."""
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
        line += f"  -> {r['final_url']}"
    return line.rstrip()


def _print_summary(result: RunResult) -> None:
    counts = ", ".join(f"{n} {label}" for label, n in result.by_status.items() if n)
    state = "" if result.state == "finished" else f" ({result.state}: partial report)"
    print(f"{counts or 'no cards'}{state}; report: {result.report_path}")
    dashboard = result.report_path.with_name("report.html")
    if dashboard.is_file():
        print(f"dashboard: {dashboard.resolve().as_uri()}")


if __name__ == "__main__":
    raise SystemExit(main())
