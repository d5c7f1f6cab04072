"""One crawl, end to end: cards -> links -> unique URLs -> checks -> store -> verdicts -> report.

Every URL result goes to the store as it arrives; the report is built from the store. A stop
request (SIGINT/SIGTERM) stops new requests, lets in-flight ones finish for a grace period, and
still writes everything known, marked `interrupted`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from crawler.config import Config
from crawler.judge import reuse
from crawler.judge.archive_copy import ArchiveCopy
from crawler.judge.early import EarlyJudge
from crawler.judge.http import AnswerChecker
from crawler.judge.pagerot import PageRotChecker
from crawler.judge.urlcheck import UrlChecks, failed_outcome, page_rot_step
from crawler.model import Job, UrlOutcome
from crawler.phases.ending import end_run, write_reports
from crawler.phases.feed import CardFeed
from crawler.phases.opening import open_run
from crawler.progress import ProgressSink
from crawler.report.json_report import summary_section
from crawler.store.database import Store
from crawler.store.prune import prune_after_run
from crawler.store.records import RunRow
from crawler.web.archive import ArchiveClient
from crawler.web.fetch import Fetcher
from crawler.web.hosts import HostRules
from crawler.web.politeness import HostPool
from crawler.web.robots import robots_gate
from crawler.web.scheduler import CheckFn, ResultFn, Scheduler
from crawler.web.spill import UrlSet
from crawler.web.urls import HostKey

log = structlog.get_logger(__name__)

# Checks elsewhere, in place of the one-process scheduler: (run id, pool, counters, recorder)
Engine = Callable[[int, HostPool, dict[str, Any], ResultFn], Scheduler]


@dataclass
class RunResult:
    run_id: int
    state: str  # finished | interrupted
    by_status: dict[str, int]
    report_path: Path
    counters: dict[str, Any] = field(default_factory=dict)
    degraded: bool = False  # most hosts failed at the network level (crawler/judge/degraded.py)


class Crawl:
    def __init__(
        self,
        config: Config,
        store: Store,
        progress: ProgressSink,
        *,
        grace_s: float = 5.0,
        resume: bool = False,
        engine: Engine | None = None,
    ) -> None:
        self.config = config
        self.engine = engine  # None: the checks run here (else on a cluster: crawler/cluster)
        self.store = store
        self.progress = progress
        self.grace_s = grace_s
        self.resume = resume
        self.host_rules = HostRules(config)  # config.yaml's hosts:, for every part that asks
        self._stop = asyncio.Event()
        self.stop_reason: str | None = None
        self._store_failure: Exception | None = None

    def request_stop(self, reason: str) -> None:
        """Called from a signal handler: no new request from now on."""
        if not self._stop.is_set():
            log.warning("stopping", reason=reason, grace_s=self.grace_s)
            self.stop_reason = reason
            self._stop.set()

    def _store_failed(self, exc: Exception) -> None:
        """A result could not be written (disk full, store gone): stop, and end the run with the
        error once in-flight requests are done; what was stored is resumed with --resume."""
        if self._store_failure is None:
            self._store_failure = exc
        self.request_stop("store write failed")

    async def run(self) -> RunResult:
        store = self.store
        if self.resume and (ended := store.resumable_run()) and ended.state == "finished":
            return self._report_ended_run(ended)
        run_id, counters, already = open_run(store, self.config, resume=self.resume)
        log.info(
            "run_started",
            run_id=run_id,
            resumed=self.resume,
            cards=str(self.config.cards.path),
            store=str(store.path),
        )
        started = time.monotonic()
        pool = HostPool(self.config.politeness, self.host_rules)
        seen = UrlSet()
        requests_before = counters.get("requests_made", 0)
        store.count_requests(run_id, lambda: requests_before + pool.requests)
        state = "failed"  # unless the crawl ends: what it learned is in the store for --resume
        try:
            state = await self._crawl(run_id, pool, seen, already, counters)
        finally:
            seen.close()
            self.progress.close()
            counters["urls_unique"] = len(seen)
            counters["requests_made"] = requests_before + pool.requests
            counters.update(pool.host_counters(counters))
            degraded = end_run(store, run_id, state, counters, self.config.rot)
        report_path, html_path = write_reports(store, run_id, self.config.output.out)
        by_status = summary_section(store, run_id)["by_status"]
        if state == "finished":
            prune_after_run(store, self.config.state.keep_runs)
        log.info(
            "run_finished",
            run_id=run_id,
            state=state,
            duration_s=round(time.monotonic() - started, 2),
            requests=pool.requests,
            urls=len(seen),
            urls_reused=counters.get("urls_reused", 0),
            report=str(report_path),
            dashboard=str(html_path) if html_path else None,
            **by_status,
        )
        return RunResult(run_id, state, by_status, report_path, counters, degraded)

    async def _crawl(
        self,
        run_id: int,
        pool: HostPool,
        seen: UrlSet,
        already: set[str],
        counters: dict[str, Any],
    ) -> str:
        """Feed the cards' URLs to the checks until done or stopped: "finished" or
        "interrupted"; a store failure is raised once in-flight requests are done."""
        flusher: asyncio.Task[None] | None = None
        judging: asyncio.Task[None] | None = None
        scheduler: Scheduler | None = None
        early = self._early_judge(run_id)
        try:
            robots = robots_gate(self.config, pool, self.store, self.host_rules)
            async with Fetcher(self.config.fetch, pool, self.host_rules, robots) as fetcher:
                checks, rot, archive = self._url_checks(fetcher, pool)
                if self.engine is not None:
                    scheduler = self.engine(run_id, pool, counters, self._recorder(run_id, early))
                else:
                    scheduler = Scheduler(
                        self._checker(run_id, checks),
                        self._recorder(run_id, early),
                        workers_per_host=pool.limits.workers_per_host,
                        queue_per_host=pool.limits.queue_per_host,
                    )
                flusher = asyncio.create_task(_flush_periodically(self.store, self._store_failed))
                judging = asyncio.create_task(early.keep_judging())
                feed = CardFeed(
                    self.config, self.store, self.progress, run_id, self._stop, early.card_stored
                )
                await feed.feed(scheduler, seen, already, counters)
                state = await self._drain(scheduler, counters)
                if archive is not None and self._store_failure is None:
                    # after the last fetch; an interrupted run takes only cached answers
                    finished = state == "finished"
                    counters.update(await archive.run(run_id, look_up=finished, stop=self._stop))
                consulted = robots.counters() if robots is not None else {}
                # merged with the part before a --resume
                counters["robots"] = {**counters.get("robots", {}), **consulted}
                if rot is not None:
                    counters["soft_404_probes"] = rot.probes_sent
                if self._store_failure is not None:
                    raise self._store_failure
                return state
        finally:
            for task in (flusher, judging):
                if task is not None:
                    task.cancel()
            if scheduler is not None:
                scheduler.close()

    async def _drain(self, scheduler: Scheduler, counters: dict[str, Any]) -> str:
        """Wait for every URL, or for a stop request: then in-flight requests get a grace period."""
        if not self._stop.is_set():
            await _first_of(scheduler.drain(), self._stop.wait())
        if not self._stop.is_set():
            return "finished"
        scheduler.stop()
        counters["requests_cancelled"] = await scheduler.finish_in_flight(self.grace_s)
        return "interrupted"

    def _url_checks(
        self, fetcher: Fetcher, pool: HostPool
    ) -> tuple[UrlChecks, PageRotChecker | None, ArchiveCopy | None]:
        """The checks of one URL in their order: its answer's, page rot, then the archive probe;
        and the archive phase that runs after the last fetch (crawler.judge.archive_copy)."""
        config = self.config
        answers = AnswerChecker(fetcher, config.fetch, self.host_rules)
        rot = PageRotChecker(answers.check) if config.rot.soft_404_probe else None
        steps = [page_rot_step(rot)] if rot is not None else []
        archive = None
        if config.archive.enabled:
            client = ArchiveClient(fetcher.session, config.archive.endpoint, config.archive.timeout)
            archive = ArchiveCopy(self.store, client, pool, config.archive)
            steps.append(archive.probe_step())
        return UrlChecks(answers, steps), rot, archive

    def _checker(self, run_id: int, checks: UrlChecks) -> CheckFn:
        store = self.store

        async def check(job: Job) -> UrlOutcome:
            """One URL, always a result (crawler.judge.urlcheck decides what is wrong,
            crawler.judge.reuse what a 304 keeps)."""
            try:
                previous = None
                if job.revalidate:  # looked up now, not when the card was read: nothing waits
                    previous = store.latest_result(job.url, before_run=run_id)
                outcome = await checks.check(job, reuse.validators_of(previous))
                return reuse.settled(outcome, previous)
            except Exception as exc:
                return failed_outcome(job, exc)

        return check

    def _early_judge(self, run_id: int) -> EarlyJudge:
        """Cards judged while the crawl runs (crawler/judge/early.py)."""
        run = self.store.run(run_id)
        assert run is not None
        return EarlyJudge(self.store, run_id, self.config.rot, at=run.started_at)

    def _recorder(self, run_id: int, early: EarlyJudge) -> ResultFn:
        def on_result(host: HostKey, outcome: UrlOutcome) -> None:
            try:
                self.store.add_url_result(run_id, host, outcome)
            except Exception as exc:  # never a silent loss inside a worker task
                self._store_failed(exc)
                return
            early.result_stored(outcome.url)
            self.progress.done(bool(outcome.findings))

        return on_result

    def _report_ended_run(self, run: RunRow) -> RunResult:
        """--resume of a run killed after it ended but before its reports were all written:
        everything is in the store, so only the reports are written again."""
        self.progress.close()
        report_path, _ = write_reports(self.store, run.id, self.config.output.out)
        by_status = summary_section(self.store, run.id)["by_status"]
        log.info("run_reported", run_id=run.id, state=run.state, report=str(report_path))
        return RunResult(run.id, run.state, by_status, report_path, run.counters, run.degraded)


async def _flush_periodically(
    store: Store, on_failure: Callable[[Exception], None], every_s: float = 0.1
) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            store.flush_if_due()
        except Exception as exc:
            on_failure(exc)
            return


async def _first_of(*aws: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    for task in done:
        task.result()  # a drain that failed (a cluster's coordinator, say) fails the run
