"""The worker's side: one partition attempt run by the same async engine as a one-process crawl
(HostPool, Fetcher, UrlChecks, Scheduler), in its own event loop, with the config as data.

It never touches the store: results, and the robots.txt answers it fetched, go back to the
coordinator in batches on the run's Dask Queue. Before each batch it reads its partition's fence;
once the fence names another attempt it starts no request, cancels those in flight and sends
nothing more. The archive lookup is not run here (it needs the store).
"""

from __future__ import annotations

import asyncio
import pickle
from dataclasses import dataclass

import structlog
from distributed import Event, Queue, Variable

from crawler.cluster.attempt import (
    Attempt,
    Batch,
    MoreJobs,
    Summary,
    claim_name,
    fence_name,
    jobs_name,
    queue_name,
)
from crawler.judge.http import AnswerChecker
from crawler.judge.pagerot import PageRotChecker
from crawler.judge.urlcheck import UrlChecks, failed_outcome, page_rot_step
from crawler.logs import configure_logging
from crawler.model import Job, UrlOutcome
from crawler.web.fetch import Fetcher
from crawler.web.hosts import HostRules
from crawler.web.politeness import HostPool
from crawler.web.robots import robots_gate
from crawler.web.scheduler import Scheduler
from crawler.web.urls import HostKey

log = structlog.get_logger(__name__)

LINK_EVERY_S = 0.25  # how often results are sent and the fence is read
FENCE_READ_TIMEOUT_S = 10.0


def run_attempt(attempt: Attempt) -> str:
    """The Dask task. "rerun" when Dask ran this attempt again after its first worker died: the
    coordinator then makes a new attempt of what is not stored (never the same jobs twice)."""
    claim = Event(claim_name(attempt.run, attempt.token))
    if claim.is_set():
        return "rerun"
    claim.set()
    _configure_logs(attempt)
    link = Link(attempt)
    summary = asyncio.run(_run(attempt, link))
    link.send(summary)
    return "fenced" if summary.fenced else "done"


_logs_configured = False


def _configure_logs(attempt: Attempt) -> None:
    """The worker logs as the run does (format, redaction of secrets in URLs), once."""
    global _logs_configured
    if not _logs_configured:
        output = attempt.config.output
        configure_logging(output.log_format, redaction=attempt.config.redact)
        _logs_configured = True


class Link:
    """The attempt's line to the coordinator: results out, the fence in (blocking calls, made
    off the event loop)."""

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt
        self._queue = Queue(queue_name(attempt.run))
        self._fence = Variable(fence_name(attempt.run, attempt.partition))
        self._jobs = Queue(jobs_name(attempt.run, attempt.token)) if attempt.open else None
        self.outcomes: list[tuple[str, UrlOutcome]] = []
        self.robots: list[tuple[str, int, str]] = []
        self.fenced = False
        self.closed = not attempt.open  # no more jobs will come
        self.validators = dict(attempt.validators)

    def exchange(self) -> list[Job]:
        """One tick: results out, the fence read, and the jobs that came since the last one."""
        self.send()
        more: list[Job] = []
        if self._jobs is not None and not self.closed and not self.fenced:
            for message in self._jobs.get(batch=True):
                got: MoreJobs = pickle.loads(message)
                if got is None:
                    self.closed = True
                else:
                    more += got[0]
                    self.validators.update(got[1])
        return more

    def current(self) -> bool:
        """Whether this attempt is still the partition's current one."""
        if not self.fenced:
            token = self._fence.get(timeout=FENCE_READ_TIMEOUT_S)
            self.fenced = token != self.attempt.token
        return not self.fenced

    def send(self, summary: Summary | None = None) -> None:
        """What came since the last batch, if this attempt is still current (a stale one's
        results would be dropped anyway); the summary always goes, to end the attempt."""
        outcomes, self.outcomes = self.outcomes, []
        robots, self.robots = self.robots, []
        if summary is not None:
            summary.fenced = summary.fenced or self.fenced
        elif not self.current() or not (outcomes or robots):
            return
        a = self.attempt
        # pickled here: Dask would try msgpack first, and log its failure for every batch
        self._queue.put(pickle.dumps(Batch(a.partition, a.token, outcomes, robots, summary)))


@dataclass(frozen=True, slots=True)
class _Known:
    http_status: int
    rules: str


class _Robots:
    """robots.txt answers: those the store had, handed in; those fetched, sent back."""

    def __init__(self, known: dict[str, tuple[int, str]], link: Link) -> None:
        self._known = known
        self._link = link

    def robots_answer(self, origin: str, *, max_age_s: float) -> _Known | None:
        found = self._known.get(origin)
        return _Known(*found) if found is not None else None

    def save_robots_answer(self, origin: str, http_status: int, rules: str) -> None:
        self._known[origin] = (http_status, rules)
        self._link.robots.append((origin, http_status, rules))


async def _run(attempt: Attempt, link: Link) -> Summary:
    await asyncio.sleep(attempt.start_delay_s)
    config = attempt.config
    rules = HostRules(config)
    pool = HostPool(config.politeness, rules)
    robots = robots_gate(config, pool, _Robots(dict(attempt.robots), link), rules)
    async with Fetcher(config.fetch, pool, rules, robots) as fetcher:
        answers = AnswerChecker(fetcher, config.fetch, rules)
        rot = PageRotChecker(answers.check) if config.rot.soft_404_probe else None
        checks = UrlChecks(answers, [page_rot_step(rot)] if rot is not None else [])

        async def check(job: Job) -> UrlOutcome:
            try:
                return await checks.check(job, link.validators.get(job.url))
            except Exception as exc:
                return failed_outcome(job, exc)

        def on_result(host: HostKey, outcome: UrlOutcome) -> None:
            link.outcomes.append((host, outcome))

        scheduler = Scheduler(
            check,
            on_result,
            workers_per_host=pool.limits.workers_per_host,
            queue_per_host=pool.limits.queue_per_host,
        )
        try:
            for job in attempt.jobs:
                scheduler.submit(job)
            await _until_done_or_fenced(scheduler, link)
        finally:
            scheduler.close()
    return Summary(
        requests=pool.requests,
        requests_by_host=pool.requests_by_host(),
        throttled_hosts=pool.throttled_hosts(),
        robots=robots.counters() if robots is not None else {},
        fenced=link.fenced,
    )


async def _until_done_or_fenced(scheduler: Scheduler, link: Link) -> None:
    """Run until every job has a result and no more can come, or until fenced off."""
    while True:
        done = asyncio.ensure_future(scheduler.drain())
        try:
            await asyncio.wait([done], timeout=LINK_EVERY_S)
        finally:
            done.cancel()
        for job in await asyncio.to_thread(link.exchange):
            scheduler.submit(job)
        if link.fenced:
            log.warning("attempt_fenced", partition=link.attempt.partition)
            scheduler.stop()
            await scheduler.finish_in_flight(0.0)  # a stale attempt sends nothing more
            link.outcomes.clear()
            return
        if link.closed and scheduler.queued == 0 and scheduler.in_flight == 0:
            return
