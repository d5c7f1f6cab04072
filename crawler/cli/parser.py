"""The command line: subcommands and their flags. A setting's flag is generated from the
config's metadata (crawler/config.py `flag(...)`), so it is spelled once, there; this module
only adds the flags that are no setting (--config, -v, --resume, report's --run and --format,
prune's --older-than)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Literal, NoReturn, get_args, get_origin

from crawler import __version__
from crawler.cli.exits import EXIT_CODES_HELP, ExitCode
from crawler.cli.fix import FIX_EXIT_CODES, kinds_argument
from crawler.cli.report import report_formats
from crawler.config import Setting, flagged_settings

# every setting that has a flag, keyed section.key, in config.yaml's order
_SETTINGS = {f"{s.section}.{s.key}": s for s in flagged_settings()}
# the settings every command that reads the config offers
_COMMON = ("output.out", "state.path", "output.log_format")

_Commands = argparse._SubParsersAction  # the type add_subparsers returns


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
    _add_run(commands)
    _add_demo(commands)
    _add_history(commands)
    _add_report(commands)
    _add_prune(commands)
    _add_fix(commands)
    return parser


def overrides_from(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Only the flags that were given: flags > config.yaml > defaults."""
    result: dict[str, dict[str, Any]] = {}
    for setting in _SETTINGS.values():
        value = getattr(args, setting.flag.dest, None)
        if value is not None:
            result.setdefault(setting.section, {})[setting.key] = value
    return result


def _add_setting(sub: argparse.ArgumentParser, setting: Setting) -> None:
    """A setting's flag: its type and default decide the kind. An absent flag is None, so
    that config.yaml's value stands."""
    flag = setting.flag
    options: dict[str, Any] = {"dest": flag.dest, "help": flag.help}
    if flag.metavar:
        options["metavar"] = flag.metavar
    if flag.append is not None:
        options["action"] = "append"
    elif setting.hint is bool:  # a setting that is on by default is turned off: --no-...
        options.update(action="store_false" if setting.default else "store_true", default=None)
    elif get_origin(setting.hint) is Literal:
        options["choices"] = list(get_args(setting.hint))
    elif setting.hint in (int, float):
        options["type"] = setting.hint
    sub.add_argument(flag.name, **options)


def _add_run(commands: _Commands[_Parser]) -> None:
    run = commands.add_parser(
        "run",
        help="crawl the cards and write the reports",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(run)
    for key, setting in _SETTINGS.items():
        if key not in _COMMON:
            _add_setting(run, setting)
    run.add_argument(
        "--resume", action="store_true", help="continue the last interrupted run of the store"
    )
    run.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="crawl in N processes on this machine (a Dask LocalCluster; needs '.[cluster]')",
    )
    run.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="crawl on a running Dask cluster, e.g. tcp://HOST:8786 (needs '.[cluster]')",
    )


def _add_demo(commands: _Commands[_Parser]) -> None:
    demo = commands.add_parser(
        "demo", help="crawl bundled demo cards on a simulated local web; no network needed"
    )
    demo.add_argument("--out", metavar="DIR", help="output folder (default reports/demo)")
    _add_setting(demo, _SETTINGS["output.log_format"])
    _add_verbose(demo)
    demo.add_argument("--config", type=Path, help=argparse.SUPPRESS)


def _add_history(commands: _Commands[_Parser]) -> None:
    history = commands.add_parser("history", help="the timeline of one URL or card")
    history.add_argument(
        "target", metavar="URL|CARD_PATH", help="a URL, or a card path as in the report"
    )
    _add_setting(history, _SETTINGS["state.path"])
    history.add_argument("--config", type=Path, metavar="FILE", help="config file")
    _add_setting(history, _SETTINGS["output.log_format"])
    _add_verbose(history)


def _add_report(commands: _Commands[_Parser]) -> None:
    report = commands.add_parser("report", help="rebuild the reports from the store, no request")
    _add_common(report)
    report.add_argument("--run", type=int, metavar="ID", help="which run (default: the last)")
    report.add_argument(
        "--format",
        type=report_formats,
        default=["json", "html"],
        metavar="LIST",
        help="comma-separated: json, html, csv, junit (default json,html); or markdown alone:"
        " a short summary on stdout (or in --out FILE) for an issue or a job summary",
    )
    _add_setting(report, _SETTINGS["output.dashboard_url"])


def _add_fix(commands: _Commands[_Parser]) -> None:
    fix = commands.add_parser(
        "fix",
        help="correct the cards' safe-to-fix problems: a diff, --apply or --patch FILE",
        epilog=FIX_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fix.add_argument("--run", type=int, metavar="ID", help="which run (default: the last judged)")
    fix.add_argument(
        "--kinds", type=kinds_argument, metavar="K,...", help="only these problem kinds"
    )
    written = fix.add_mutually_exclusive_group()
    written.add_argument(
        "--apply", action="store_true", help="write the corrections into the cards"
    )
    written.add_argument("--patch", type=Path, metavar="FILE", help="write a patch for git apply")
    fix.add_argument(
        "--amp-retired",
        choices=("remove", "canonical"),
        help="a retired AMP page's two fields: removed, or set to the canonical page"
        " (fix.amp_retired)",
    )
    fix.add_argument("--config", type=Path, metavar="FILE", help="config file")
    _add_setting(fix, _SETTINGS["state.path"])
    _add_setting(fix, _SETTINGS["output.log_format"])
    _add_verbose(fix)


def _add_prune(commands: _Commands[_Parser]) -> None:
    prune = commands.add_parser(
        "prune", help="delete old runs from the store and give the space back"
    )
    _add_setting(prune, _SETTINGS["state.keep_runs"])
    prune.add_argument(
        "--older-than",
        metavar="DURATION",
        help="prune only runs started longer ago than this (30d, 12h): the --keep-runs newest"
        " and the newer ones are kept",
    )
    _add_setting(prune, _SETTINGS["state.path"])
    prune.add_argument("--config", type=Path, metavar="FILE", help="config file")
    _add_setting(prune, _SETTINGS["output.log_format"])
    _add_verbose(prune)


def _add_common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (default ./config.yaml when it exists)",
    )
    for key in _COMMON:
        _add_setting(sub, _SETTINGS[key])
    _add_verbose(sub)


def _add_verbose(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("-v", "--verbose", action="store_true", help="debug logs")
