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

from crawler.config import Config, ConfigError
from crawler.intake.cards import FILTER_KEYS
from crawler.intake.reader import stream_cards
from crawler.judge import reuse
from crawler.judge.archive_copy import ArchiveCopy
from crawler.judge.http import AnswerChecker
from crawler.judge.judging import judge_run
from crawler.judge.pagerot import PageRotChecker
from crawler.judge.reuse import Plan
from crawler.judge.urlcheck import UrlChecks, failed_outcome, page_rot_step
from crawler.model import CardRecord, Disposition, Job, LinkKind, UrlOutcome
from crawler.progress import ProgressSink
from crawler.report.atomic import ReportWriteError
from crawler.report.html_report import write_html_report
from crawler.report.json_report import summary_section, write_json_report
from crawler.report.partial import settle_folder
from crawler.store.database import Store
from crawler.store.prune import prune_after_run
from crawler.store.records import RunRow
from crawler.web.archive import ArchiveClient
from crawler.web.fetch import Fetcher
from crawler.web.hosts import HostRules
from crawler.web.politeness import HOST_COUNTERS, HostPool
from crawler.web.robots import robots_gate
from crawler.web.scheduler import CheckFn, ResultFn, Scheduler
from crawler.web.spill import UrlSet
from crawler.web.urls import HostKey

log = structlog.get_logger(__name__)


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
    ) -> None:
        self.config = config
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
        run_id, counters, already = self._open_run()
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
            degraded = self._end_run(run_id, state, counters)
        report_path, html_path = self._write_reports(run_id)
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
        scheduler: Scheduler | None = None
        try:
            robots = robots_gate(self.config, pool, self.store, self.host_rules)
            async with Fetcher(self.config.fetch, pool, self.host_rules, robots) as fetcher:
                checks, rot = self._url_checks(fetcher, pool)
                scheduler = Scheduler(
                    self._checker(run_id, checks),
                    self._recorder(run_id),
                    workers_per_host=pool.limits.workers_per_host,
                    queue_per_host=pool.limits.queue_per_host,
                )
                flusher = asyncio.create_task(_flush_periodically(self.store, self._store_failed))
                await self._feed(run_id, scheduler, seen, already, counters)
                state = await self._drain(scheduler, counters)
                consulted = robots.counters() if robots is not None else {}
                # merged with the part before a --resume
                counters["robots"] = {**counters.get("robots", {}), **consulted}
                if rot is not None:
                    counters["soft_404_probes"] = rot.probes_sent
                if self._store_failure is not None:
                    raise self._store_failure
                return state
        finally:
            if flusher is not None:
                flusher.cancel()
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

    def _end_run(self, run_id: int, state: str, counters: dict[str, Any]) -> bool:
        """The verdicts with their streaks and trends (recorded as history only for a finished
        run: an interrupted one shows them, and --resume records them), then the run's end.
        Returns whether the run was degraded (crawler/judge/degraded.py)."""
        store = self.store
        store.flush()
        run_row = store.run(run_id)
        assert run_row is not None
        judged, degraded = judge_run(
            store, run_id, self.config.rot, at=run_row.started_at, partial=state != "finished"
        )
        counters.update(judged)
        store.end_run(run_id, state=state, counters=counters, degraded=degraded)
        return degraded

    def _url_checks(
        self, fetcher: Fetcher, pool: HostPool
    ) -> tuple[UrlChecks, PageRotChecker | None]:
        """The checks of one URL in their order: its answer's, page rot, then the archive."""
        config = self.config
        answers = AnswerChecker(fetcher, config.fetch, self.host_rules)
        rot = PageRotChecker(answers.check) if config.rot.soft_404_probe else None
        steps = [page_rot_step(rot)] if rot is not None else []
        if config.archive.enabled:
            client = ArchiveClient(fetcher.session, config.archive.endpoint, config.archive.timeout)
            steps.append(ArchiveCopy(self.store, client, pool, config.archive).step())
        return UrlChecks(answers, steps), rot

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

    def _recorder(self, run_id: int) -> ResultFn:
        def on_result(host: HostKey, outcome: UrlOutcome) -> None:
            try:
                self.store.add_url_result(run_id, host, outcome)
            except Exception as exc:  # never a silent loss inside a worker task
                self._store_failed(exc)
                return
            self.progress.done(bool(outcome.findings))

        return on_result

    def _write_reports(self, run_id: int) -> tuple[Path, Path | None]:
        """report.json and the dashboard (report.partial.* for a run that did not finish: the
        complete ones are never replaced by a partial run's), the partial files settled
        (crawler.report.partial); then the store notes that the run is reported."""
        out = self.config.output.out
        report_path = write_json_report(self.store, run_id, out)
        try:
            html_path: Path | None = write_html_report(self.store, run_id, out)
        except ReportWriteError:
            raise  # the folder is unwritable or full: an operator error, said as one
        except Exception:  # the dashboard must never cost a run its report.json or exit code
            log.exception("html_report_failed", run_id=run_id)
            html_path = None
        run = self.store.run(run_id)
        assert run is not None
        try:
            settle_folder(self.store, run, out)
        except (OSError, ReportWriteError):  # a banner or a stale file costs no run its reports
            log.exception("partial_reports_not_settled", run_id=run_id)
        self.store.mark_reported(run_id)
        return report_path, html_path

    def _report_ended_run(self, run: RunRow) -> RunResult:
        """--resume of a run killed after it ended but before its reports were all written:
        everything is in the store, so only the reports are written again."""
        self.progress.close()
        report_path, _ = self._write_reports(run.id)
        by_status = summary_section(self.store, run.id)["by_status"]
        log.info("run_reported", run_id=run.id, state=run.state, report=str(report_path))
        return RunResult(run.id, run.state, by_status, report_path, run.counters, run.degraded)

    def _open_run(self) -> tuple[int, dict[str, Any], set[str]]:
        """A new run, or with --resume the last unfinished one and the URLs it already has."""
        store, cards_cfg = self.store, self.config.cards
        counters: dict[str, Any] = dict.fromkeys(
            ("cards_found", "cards_checked", "cards_invalid", "cards_filtered_out"), 0
        )
        counters["urls_reused"] = 0
        counters["cards_filtered_by"] = dict.fromkeys(FILTER_KEYS, 0)
        counters["skipped_files"] = []  # not cards: Markdown files without front matter
        if self.resume:
            previous = store.resumable_run()
            if previous is None:
                raise ConfigError(f"no interrupted run to resume in {store.path}")
            store.reopen_run(previous.id)
            already = store.checked_urls(previous.id)
            # merged with the rest of the run's at its end (HostPool.host_counters)
            kept = (*HOST_COUNTERS, "robots")
            counters.update({k: v for k, v in previous.counters.items() if k in kept})
            # saved with every result, so known even when the run was killed with -9
            counters["requests_made"] = previous.requests_made
            counters["resumed"] = previous.counters.get("resumed", 0) + 1
            return previous.id, counters, already
        run_id = store.begin_run(
            cards_root=str(cards_cfg.path),
            since=cards_cfg.since.isoformat() if cards_cfg.since else None,
            until=cards_cfg.until.isoformat() if cards_cfg.until else None,
            config=self.config.to_jsonable(),
        )
        return run_id, counters, set()

    async def _feed(
        self,
        run_id: int,
        scheduler: Scheduler,
        seen: UrlSet,
        already: set[str],
        counters: dict[str, Any],
    ) -> None:
        cards_cfg = self.config.cards
        cards = stream_cards(cards_cfg.path, cards_cfg.glob, cards_cfg, self.config.links)
        try:
            async for card in cards:
                if self._stop.is_set():
                    break
                if not _count_card(card, counters):
                    continue
                self.store.add_card(run_id, card)
                jobs = self._jobs_of(run_id, card, seen, already, counters)
                for job in jobs:
                    scheduler.submit(job)
                if jobs:
                    self.progress.discovered(len(jobs))
                if counters["cards_found"] % FEED_SLICE == 0:
                    # a parsed chunk is awaited without a pause when it is ready: let the
                    # fetchers in between, or the first seconds go to reading cards
                    await asyncio.sleep(0)
        finally:
            await cards.aclose()  # type: ignore[attr-defined]

    def _jobs_of(
        self,
        run_id: int,
        card: CardRecord,
        seen: UrlSet,
        already: set[str],
        counters: dict[str, Any],
    ) -> list[Job]:
        """The card's URLs new to this run that need a request (a recent result is reused)."""
        jobs = []
        for link in card.links:
            if not seen.add(link.url) or link.url in already:
                continue
            plan = self._plan(run_id, link.url, counters)
            if plan is Plan.REUSED:
                continue
            page = link.kind is LinkKind.PAGE
            jobs.append(
                Job(
                    link.url,
                    link.kind,
                    card.title if page else None,
                    card.published if page else None,
                    revalidate=plan is Plan.REVALIDATE,
                )
            )
        return jobs

    def _plan(self, run_id: int, url: str, counters: dict[str, Any]) -> Plan:
        """What to do with a URL (crawler.judge.reuse decides); a reused result is recorded."""
        recheck = self.config.recheck
        if recheck.full:
            return Plan.FETCH  # the store is ignored, not even asked
        previous = self.store.latest_result(url, before_run=run_id)
        plan = reuse.plan(previous, recheck.max_age_s)
        if plan is Plan.REUSED and previous is not None:
            self.store.reuse_result(run_id, previous)
            counters["urls_reused"] += 1
        return plan


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


FEED_SLICE = 25  # cards read between two turns of the event loop


def _count_card(card: CardRecord, counters: dict[str, Any]) -> bool:
    """Count a card read; False for one filtered out (by date, or unpublished) and for a file
    skipped as no card (listed, not counted as found)."""
    if card.disposition is Disposition.SKIPPED:
        counters["skipped_files"].append(card.path)
        return False
    counters["cards_found"] += 1
    if card.disposition is Disposition.FILTERED:
        counters["cards_filtered_out"] += 1
        counters["cards_filtered_by"][card.filtered_by] += 1  # one of FILTER_KEYS
        return False
    invalid = card.disposition is Disposition.INVALID
    counters["cards_invalid" if invalid else "cards_checked"] += 1
    return True


async def _first_of(*aws: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
