"""One crawl, end to end: cards -> links -> unique URLs -> checks -> store -> verdicts -> report.

Every URL result goes to the store as it arrives; the report is built from the store. A stop
request (SIGINT/SIGTERM) stops new requests, lets in-flight ones finish for a grace period, and
still writes everything known, marked `interrupted`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import structlog

from crawler.config import Config, ConfigError
from crawler.intake.cards import CardOptions
from crawler.intake.reader import stream_cards
from crawler.judge.history import RotRules
from crawler.judge.judging import judge_cards
from crawler.judge.pagerot import PageRotChecker
from crawler.judge.softrot import content_drift
from crawler.model import Disposition, Finding, Job, Kind, LinkKind, Severity, UrlOutcome
from crawler.progress import ProgressSink
from crawler.redact import redact_url
from crawler.report.html_report import write_html_report
from crawler.report.json_report import ReportWriteError, summary_section, write_json_report
from crawler.store.database import RunRow, Store, outcome_from_row
from crawler.text import safe_text
from crawler.web.archive import ArchiveClient
from crawler.web.fetch import Fetcher, internal_error
from crawler.web.politeness import HostKey, HostPool, host_key
from crawler.web.scheduler import Scheduler
from crawler.web.spill import UrlSet

log = structlog.get_logger(__name__)


@dataclass
class RunResult:
    run_id: int
    state: str  # finished | interrupted
    by_status: dict[str, int]
    report_path: Path
    counters: dict[str, Any] = field(default_factory=dict)


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
        config, store = self.config, self.store
        if self.resume and (ended := store.resumable_run()) and ended.state == "finished":
            return self._report_ended_run(ended)
        run_id, counters, already = self._open_run()
        log.info(
            "run_started",
            run_id=run_id,
            resumed=self.resume,
            cards=str(config.cards.path),
            store=str(store.path),
        )
        started = time.monotonic()
        pool = HostPool(config.politeness)
        seen = UrlSet()

        def on_result(host: HostKey, outcome: UrlOutcome) -> None:
            try:
                store.add_url_result(run_id, host, outcome)
            except Exception as exc:  # never a silent loss inside a worker task
                self._store_failed(exc)
                return
            self.progress.done(bool(outcome.findings))

        async def check(job: Job) -> UrlOutcome:
            """One URL, always a result: a failure of linkcheck's own is a CHECK_FAILED finding
            (a warning, traceback in the log), never a lost URL or an ended run."""
            try:
                return await check_steps(job)
            except Exception as exc:
                log.exception("check_failed", url=safe_text(job.url))
                failed = Finding(Kind.CHECK_FAILED, internal_error(exc))
                return UrlOutcome(url=job.url, link_kind=job.link_kind, findings=[failed])

        async def check_steps(job: Job) -> UrlOutcome:
            # looked up now, not when the card was read: nothing waits in memory for its turn
            previous = store.latest_result(job.url, before_run=run_id) if job.revalidate else None
            outcome = await fetcher.check(job.url, job.link_kind, validators_of(previous))
            if rot is not None:
                await guarded(outcome, "page rot check", rot.examine(outcome, job.card_title))
            outcome.body = outcome.response_headers = None
            if archive is not None and _wants_archive(outcome, job.card_title):
                suggest = self._suggest_archive(archive, pool, outcome, job.card_published)
                await guarded(outcome, "archive suggestion", suggest)
            if previous is not None and outcome.http_status == 304:
                outcome = not_modified(outcome, previous)
            return outcome

        async def guarded(outcome: UrlOutcome, step: str, work: Awaitable[None]) -> None:
            """A step after the fetch: if it fails, what the fetch found still stands."""
            try:
                await work
            except Exception as exc:
                log.exception("check_failed", url=safe_text(outcome.url), step=step)
                detail = f"{step}: {internal_error(exc)}"
                outcome.findings.append(Finding(Kind.CHECK_FAILED, detail))

        state = "finished"
        flusher: asyncio.Task[None] | None = None
        scheduler: Scheduler | None = None
        requests_before = counters.get("requests_made", 0)
        store.request_counter = (run_id, lambda: requests_before + pool.requests)
        try:
            async with Fetcher(config.fetch, pool) as fetcher:
                rot = PageRotChecker(fetcher.check) if config.rot.soft_404_probe else None
                archive = (
                    ArchiveClient(fetcher.session, config.archive.endpoint, config.archive.timeout)
                    if config.archive.enabled
                    else None
                )
                scheduler = Scheduler(
                    check,
                    on_result,
                    # more workers than in-flight slots: a worker waiting out a retry's backoff
                    # must not leave the host idle (the slot's semaphore still caps in-flight)
                    workers_per_host=config.politeness.concurrency_per_host * 3,
                    queue_per_host=config.politeness.queue_per_host,
                )
                flusher = asyncio.create_task(_flush_periodically(store, self._store_failed))
                await self._feed(run_id, scheduler, seen, already, counters)
                if not self._stop.is_set():
                    await _first_of(scheduler.drain(), self._stop.wait())
                if self._stop.is_set():
                    state = "interrupted"
                    scheduler.stop()
                    cancelled = await scheduler.finish_in_flight(self.grace_s)
                    counters["requests_cancelled"] = cancelled
                if rot is not None:
                    counters["soft_404_probes"] = rot.probes_sent
                if self._store_failure is not None:
                    raise self._store_failure
        except BaseException:
            state = "failed"  # what it learned is in the store: --resume goes on from there
            raise
        finally:
            if flusher is not None:
                flusher.cancel()
            if scheduler is not None:
                scheduler.close()
            seen.close()
            self.progress.close()
            counters["urls_unique"] = len(seen)
            counters["requests_made"] = requests_before + pool.requests
            counters["requests_by_host"] = _add_counts(
                counters.get("requests_by_host", {}), pool.requests_by_host()
            )
            store.flush()
            run_row = store.run(run_id)
            assert run_row is not None
            if state == "finished":
                rules = RotRules(config.rot.min_runs, config.rot.min_days)
                store.record_url_history(run_id, rules)
                counters.update(judge_cards(store, run_id, rules=rules, at=run_row.started_at))
            else:
                counters.update(judge_cards(store, run_id))
            store.end_run(run_id, state=state, counters=counters)
        report_path, html_path = self._write_reports(run_id)
        by_status = summary_section(store, run_id)["by_status"]
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
        return RunResult(run_id, state, by_status, report_path, counters)

    def _write_reports(self, run_id: int) -> tuple[Path, Path | None]:
        """report.json and the dashboard; then the store notes that the run is reported."""
        report_path = write_json_report(self.store, run_id, self.config.output.out)
        try:
            html_path: Path | None = write_html_report(self.store, run_id, self.config.output.out)
        except ReportWriteError:
            raise  # the folder is unwritable or full: an operator error, said as one
        except Exception:  # the dashboard must never cost a run its report.json or exit code
            log.exception("html_report_failed", run_id=run_id)
            html_path = None
        self.store.mark_reported(run_id)
        return report_path, html_path

    def _report_ended_run(self, run: RunRow) -> RunResult:
        """--resume of a run killed after it ended but before its reports were all written:
        everything is in the store, so only the reports are written again."""
        self.progress.close()
        report_path, _ = self._write_reports(run.id)
        by_status = summary_section(self.store, run.id)["by_status"]
        log.info("run_reported", run_id=run.id, state=run.state, report=str(report_path))
        return RunResult(run.id, run.state, by_status, report_path, run.counters)

    def _open_run(self) -> tuple[int, dict[str, Any], set[str]]:
        """A new run, or with --resume the last unfinished one and the URLs it already has."""
        store, cards_cfg = self.store, self.config.cards
        counters: dict[str, Any] = dict.fromkeys(
            ("cards_found", "cards_checked", "cards_invalid", "cards_filtered_out"), 0
        )
        counters["urls_reused"] = 0
        if self.resume:
            previous = store.resumable_run()
            if previous is None:
                raise ConfigError(f"no interrupted run to resume in {store.path}")
            store.reopen_run(previous.id)
            already = store.checked_urls(previous.id)
            if "requests_by_host" in previous.counters:
                counters["requests_by_host"] = previous.counters["requests_by_host"]
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
        options = CardOptions.from_config(self.config)
        cards = stream_cards(cards_cfg.path, cards_cfg.glob, options)
        try:
            async for card in cards:
                if self._stop.is_set():
                    break
                counters["cards_found"] += 1
                if card.disposition is Disposition.FILTERED:
                    counters["cards_filtered_out"] += 1
                    continue
                counters[
                    "cards_invalid" if card.disposition is Disposition.INVALID else "cards_checked"
                ] += 1
                self.store.add_card(run_id, card)
                new = 0
                for link in card.links:
                    if not seen.add(link.url) or link.url in already:
                        continue
                    plan = self._plan(run_id, link.url, counters)
                    if plan is Plan.REUSED:
                        continue
                    page = link.kind is LinkKind.PAGE
                    scheduler.submit(
                        Job(
                            link.url,
                            link.kind,
                            card.title if page else None,
                            card.published if page else None,
                            revalidate=plan is Plan.REVALIDATE,
                        )
                    )
                    new += 1
                if new:
                    self.progress.discovered(new)
                if counters["cards_found"] % FEED_SLICE == 0:
                    # a parsed chunk is awaited without a pause when it is ready: let the
                    # fetchers in between, or the first seconds go to reading cards
                    await asyncio.sleep(0)
        finally:
            await cards.aclose()  # type: ignore[attr-defined]

    def _plan(self, run_id: int, url: str, counters: dict[str, Any]) -> Plan:
        """Reuse a recent healthy result, revalidate an older one, or fetch afresh."""
        recheck = self.config.recheck
        if recheck.full:
            return Plan.FETCH
        previous = self.store.latest_result(url, before_run=run_id)
        if previous is None or not reusable(previous):
            return Plan.FETCH
        if age_s(previous["checked_at"]) < recheck.max_age_s:
            self.store.reuse_result(run_id, previous)
            counters["urls_reused"] += 1
            return Plan.REUSED
        if validators_of(previous):
            return Plan.REVALIDATE
        return Plan.FETCH

    async def _suggest_archive(
        self, client: ArchiveClient, pool: HostPool, outcome: UrlOutcome, published: str | None
    ) -> None:
        """The closest archived copy of a failing page, from the store's cache or the archive
        (through its own politeness slot)."""
        max_age_s = self.config.archive.cache_days * 86400
        cached = self.store.archive_answer(outcome.url, max_age_s=max_age_s)
        if cached is None:
            when = datetime.fromisoformat(published) if published else None
            async with pool.permit(host_key(self.config.archive.endpoint)):
                answer = await client.lookup(outcome.url, when)
            if answer.error:
                log.debug("archive_lookup_failed", url=outcome.url, error=answer.error)
                return  # not cached: ask again next time
            cached = (answer.found, answer.archive_url, answer.archive_timestamp)
            self.store.save_archive_answer(outcome.url, *cached)
        found, outcome.archive_url, outcome.archive_timestamp = cached
        if not found:
            outcome.archive_url = outcome.archive_timestamp = None


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


def _wants_archive(outcome: UrlOutcome, card_title: str | None) -> bool:
    """A page that fails or rots (its title drifted from the card's included), whose URL holds no
    secret: the archive is a third party, and a URL with credentials is not public anyway."""
    if outcome.link_kind is not LinkKind.PAGE:
        return False
    failing = outcome.severity >= Severity.ROTTED or bool(
        card_title and content_drift(card_title, outcome.title)
    )
    # asked last: only the few failing pages pay for the redactor
    return failing and redact_url(outcome.url) == outcome.url


FEED_SLICE = 25  # cards read between two turns of the event loop (~3 ms)


class Plan(Enum):
    FETCH = "fetch"
    REVALIDATE = "revalidate"  # a conditional request: a 304 keeps what we knew
    REUSED = "reused"  # recent and healthy: no request at all


def validators_of(previous: sqlite3.Row | None) -> dict[str, str] | None:
    """The conditional-request headers an earlier result allows, if any."""
    if previous is None:
        return None
    validators = {}
    if previous["etag"]:
        validators["If-None-Match"] = previous["etag"]
    if previous["last_modified"]:
        validators["If-Modified-Since"] = previous["last_modified"]
    return validators or None


REUSABLE_WARNINGS = frozenset({Kind.MOVED_PERMANENTLY.value, Kind.IMAGE_TOO_LARGE.value})


def reusable(row: sqlite3.Row) -> bool:
    """Healthy enough to trust for a while: ok, or a warning that is not "unverified"."""
    return bool(
        row["status"] == "ok" or (row["status"] == "warning" and row["kind"] in REUSABLE_WARNINGS)
    )


def age_s(checked_at: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(checked_at)).total_seconds()


def not_modified(outcome: UrlOutcome, previous: sqlite3.Row) -> UrlOutcome:
    """A 304: the resource is what it was, so what we learned of it then still holds."""
    known = outcome_from_row(previous)
    known.http_status = 304
    known.redirects = outcome.redirects
    known.final_url = outcome.final_url or known.final_url
    known.attempts = outcome.attempts
    known.elapsed_ms = outcome.elapsed_ms
    known.bytes_read = outcome.bytes_read
    known.etag = outcome.etag or known.etag
    known.last_modified = outcome.last_modified or known.last_modified
    return known


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(a.keys() | b.keys())}


async def _first_of(*aws: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
