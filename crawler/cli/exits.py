"""Exit codes, what each means, and the one line on stderr that explains a non-zero one."""

from __future__ import annotations

import sys
from enum import IntEnum

from crawler.config import ConfigError
from crawler.intake.files import CardsFolderError
from crawler.model import Severity
from crawler.report.atomic import ReportWriteError
from crawler.store.opening import StoreError
from crawler.text import safe_text


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


def exit_code_for(by_status: dict[str, int], fail_on: str) -> ExitCode:
    if fail_on == "never":
        return ExitCode.OK
    threshold = Severity.from_label(fail_on)
    failing = sum(n for label, n in by_status.items() if Severity.from_label(label) >= threshold)
    return ExitCode.PROBLEMS if failing else ExitCode.OK


def fail(
    message: str, *, code: ExitCode = ExitCode.USAGE, prefix: str = "linkcheck: error: "
) -> int:
    """One line on stderr, whatever the message holds."""
    print(prefix + " ".join(safe_text(message).split()), file=sys.stderr)
    return code
