"""Exit codes, what each means, and the one line on stderr that explains a non-zero one."""

from __future__ import annotations

import sys
from enum import IntEnum

from crawler.config import ConfigError
from crawler.intake.files import CardsFolderError
from crawler.model import STATUS_LABELS, Severity
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
    # most hosts failed at the network level (crawler/judge/degraded.py): the network, not the
    # links; whatever --fail-on says, since nothing could be judged
    DEGRADED = 4
    INTERRUPTED = 130  # SIGINT: partial report written
    TERMINATED = 143  # SIGTERM: partial report written


EXIT_CODES_HELP = """exit codes:
  0    nothing at or above --fail-on was found
  1    cards at or above --fail-on were found (only that)
  2    an error for the operator to fix, in one line: flags, config, cards folder, store,
       --out (not writable, a file, full); nothing is fetched. If writing the reports fails
       after a crawl, its results are kept in the store: `linkcheck report` rebuilds them.
       A Dask cluster lost mid-run (--cluster, --workers) is one too: what was stored
       stays, and `linkcheck run --resume` continues the run
  3    internal error (a bug): the traceback is in the log; `linkcheck run --resume`
       continues the run
  4    degraded: most hosts could not be reached at all (DNS, connect), whatever
       --fail-on says; no streak started, no "new broken" announced (rot.degraded_*)
  130  interrupted by SIGINT (a partial report is written)
  143  stopped by SIGTERM (a partial report is written)"""

# the errors that are the operator's to fix: one line, exit 2
OPERATOR_ERRORS = (ConfigError, CardsFolderError, StoreError, ReportWriteError)


def exit_code_for(by_status: dict[str, int], fail_on: str, *, degraded: bool = False) -> ExitCode:
    if degraded:
        return ExitCode.DEGRADED
    if fail_on == "never":
        return ExitCode.OK
    threshold = Severity.from_label(fail_on)
    # `unchecked` (a partial run's card) has no severity: it fails nothing
    failing = sum(
        n
        for label, n in by_status.items()
        if label in STATUS_LABELS and Severity.from_label(label) >= threshold
    )
    return ExitCode.PROBLEMS if failing else ExitCode.OK


def fail(
    message: str, *, code: ExitCode = ExitCode.USAGE, prefix: str = "linkcheck: error: "
) -> int:
    """One line on stderr, whatever the message holds."""
    print(prefix + " ".join(safe_text(message).split()), file=sys.stderr)
    return code
