"""Every URL-level check, in one declared order, each with one signature.

`UrlChecks.check(job)` fetches the URL and judges its answer (crawler.judge.http: status,
permanent move, not modified, image decode, HTML reading), then runs the steps it was given, in
order: first those that read the page's body (page rot: redirect to home, soft 404 with its
probes), then, the body dropped, those that only add facts (the archive's copy of a failing page).
A step is `async (outcome, job) -> None`; it adds findings or facts to the outcome in place.

A step that raises costs the URL a CHECK_FAILED finding, never what the fetch found; a failure
before that costs it a CHECK_FAILED outcome (`failed_outcome`), never a lost URL or an ended run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from crawler.judge.http import AnswerChecker
from crawler.judge.pagerot import PageRotChecker
from crawler.model import Finding, Job, Kind, UrlOutcome
from crawler.text import safe_text
from crawler.web.failures import internal_error

log = structlog.get_logger(__name__)

StepFn = Callable[[UrlOutcome, Job], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Step:
    """One check after the answer's own, named for the finding its failure leaves."""

    name: str  # "page rot check": the CHECK_FAILED detail starts with it
    run: StepFn
    reads_body: bool = False  # runs while the page's body is still in hand


def page_rot_step(rot: PageRotChecker) -> Step:
    """Redirect to home and soft 404, for a healthy page (see crawler.judge.pagerot)."""

    async def run(outcome: UrlOutcome, job: Job) -> None:
        await rot.examine(outcome, job.card_title)

    return Step("page rot check", run, reads_body=True)


class UrlChecks:
    def __init__(self, answers: AnswerChecker, steps: Sequence[Step] = ()) -> None:
        self._answers = answers
        # the declared order, with every step that reads the body before the body is dropped
        self._with_body = [s for s in steps if s.reads_body]
        self._after = [s for s in steps if not s.reads_body]

    async def check(self, job: Job, headers: Mapping[str, str] | None = None) -> UrlOutcome:
        """One URL, every check in order; `headers` are extra request headers (validators)."""
        outcome = await self._answers.check(job.url, job.link_kind, headers)
        for step in self._with_body:
            await _guarded(step, outcome, job)
        outcome.body = outcome.response_headers = None  # never kept past the body's checks
        for step in self._after:
            await _guarded(step, outcome, job)
        return outcome


async def _guarded(step: Step, outcome: UrlOutcome, job: Job) -> None:
    """A step after the fetch: if it fails, what the fetch found still stands."""
    try:
        await step.run(outcome, job)
    except Exception as exc:
        log.exception("check_failed", url=safe_text(outcome.url), step=step.name)
        detail = f"{step.name}: {internal_error(exc)}"
        outcome.findings.append(Finding(Kind.CHECK_FAILED, detail))


def failed_outcome(job: Job, exc: Exception) -> UrlOutcome:
    """One URL whose check failed in linkcheck itself: a CHECK_FAILED finding (a warning,
    traceback in the log), never a lost URL."""
    log.exception("check_failed", url=safe_text(job.url))
    failed = Finding(Kind.CHECK_FAILED, internal_error(exc))
    return UrlOutcome(url=job.url, link_kind=job.link_kind, findings=[failed])
