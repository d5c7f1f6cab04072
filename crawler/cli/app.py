"""`linkcheck`'s entry point: parse the flags, build the config, run the subcommand, and turn
what went wrong into its exit code and one line on stderr."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import structlog

from crawler.cli.exits import OPERATOR_ERRORS, ExitCode, fail
from crawler.cli.fix import fix_command
from crawler.cli.history import history_command
from crawler.cli.parser import build_parser, overrides_from
from crawler.cli.prune import prune_command
from crawler.cli.report import report_command
from crawler.cli.run import run_command
from crawler.config import Config
from crawler.config_loader import load_config
from crawler.logs import configure_logging
from crawler.report.atomic import check_output_folder

log = structlog.get_logger("linkcheck")

DEFAULT_CONFIG = Path("config.yaml")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_format or "auto", verbose=args.verbose)
    try:
        return _dispatch(args)
    except OPERATOR_ERRORS as exc:
        return fail(str(exc))
    except KeyboardInterrupt:  # outside the crawl, whose signal handlers write a partial report
        return fail("interrupted", code=ExitCode.INTERRUPTED, prefix="linkcheck: ")
    except Exception as exc:  # a bug: never exit 1, which means "broken cards found"
        log.exception("internal_error", command=args.command)
        resume = " `linkcheck run --resume` continues the run;" if args.command == "run" else ""
        return fail(
            # the exception's text stays in the log, where URL secrets are redacted
            f"internal error ({type(exc).__name__}), a bug in linkcheck:{resume} the traceback"
            " is in the log above",
            code=ExitCode.INTERNAL,
            prefix="linkcheck: ",
        )


def _resolve_config(args: argparse.Namespace) -> Config:
    """Defaults < the config file (--config, else ./config.yaml when it exists) < flags."""
    path = args.config
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    return load_config(path, overrides_from(args))


def _dispatch(args: argparse.Namespace) -> int:
    config = _resolve_config(args)
    configure_logging(config.output.log_format, verbose=args.verbose, redaction=config.redact)
    if args.command == "run":
        return run_command(config, resume=args.resume, workers=args.workers, cluster=args.cluster)
    if args.command == "demo":
        from crawler.demo import main as demo_main  # the simulated web is only needed here

        out = Path(args.out or "reports/demo")
        check_output_folder(out)
        return demo_main(out)
    if args.command == "history":
        return history_command(config, args.target)
    if args.command == "prune":
        return prune_command(config, args.older_than)
    if args.command == "fix":
        return fix_command(
            config,
            args.run,
            args.kinds,
            apply=args.apply,
            patch=args.patch,
            amp_retired=args.amp_retired,
        )
    return report_command(config, args.run, args.format, out_flag=args.out)
