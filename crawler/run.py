"""One crawl, end to end: cards -> links -> unique URLs -> checks -> store -> verdicts -> report.

Every URL result goes to the store as it arrives; the report is built from the store. A stop
request (SIGINT/SIGTERM) stops new requests, lets in-flight ones finish for a grace period, and
still writes everything known, marked `interrupted`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from crawler.cards import CardOptions
from crawler.cardsource import stream_cards
from crawler.config import Config
from crawler.fetch import Fetcher
from crawler.hosts import HostKey, HostPool
from crawler.judging import judge_cards
from crawler.models import Disposition, UrlOutcome
from crawler.progress import ProgressSink
from crawler.report.json_report import summary_section, write_json_report
from crawler.scheduler import Scheduler
from crawler.store import Store

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
        self, config: Config, store: Store, progress: ProgressSink, *, grace_s: float = 5.0
    ) -> None:
        self.config = config
        self.store = store
        self.progress = progress
        self.grace_s = grace_s
        self._stop = asyncio.Event()
        self.stop_reason: str | None = None

    def request_stop(self, reason: str) -> None:
        """Called from a signal handler: no new request from now on."""
        if not self._stop.is_set():
            log.warning("stopping", reason=reason, grace_s=self.grace_s)
            self.stop_reason = reason
            self._stop.set()

    async def run(self) -> RunResult:
        config, store = self.config, self.store
        cards_cfg = config.cards
        run_id = store.begin_run(
            cards_root=str(cards_cfg.path),
            since=cards_cfg.since.isoformat() if cards_cfg.since else None,
            until=cards_cfg.until.isoformat() if cards_cfg.until else None,
            config=config.to_jsonable(),
        )
        log.info("run_started", run_id=run_id, cards=str(cards_cfg.path), store=str(store.path))
        started = time.monotonic()
        counters: dict[str, Any] = dict.fromkeys(
            ("cards_found", "cards_checked", "cards_invalid", "cards_filtered_out", "urls_unique"),
            0,
        )
        pool = HostPool(config.politeness)
        seen: set[str] = set()

        def on_result(host: HostKey, outcome: UrlOutcome) -> None:
            store.add_url_result(run_id, host, outcome)
            self.progress.done(bool(outcome.findings))

        state = "finished"
        try:
            async with Fetcher(config.fetch, pool) as fetcher:
                scheduler = Scheduler(
                    fetcher.check,
                    on_result,
                    workers_per_host=config.politeness.concurrency_per_host,
                )
                await self._feed(run_id, scheduler, seen, counters)
                if not self._stop.is_set():
                    await _first_of(scheduler.drain(), self._stop.wait())
                if self._stop.is_set():
                    state = "interrupted"
                    scheduler.stop()
                    cancelled = await scheduler.finish_in_flight(self.grace_s)
                    counters["requests_cancelled"] = cancelled
        finally:
            self.progress.close()
            counters["urls_unique"] = len(seen)
            counters["requests_made"] = pool.requests
            counters["requests_by_host"] = pool.requests_by_host()
            store.flush()
            counters.update(judge_cards(store, run_id))
            store.end_run(run_id, state=state, counters=counters)
        report_path = write_json_report(store, run_id, config.output.out)
        by_status = summary_section(store, run_id)["by_status"]
        log.info(
            "run_finished",
            run_id=run_id,
            state=state,
            duration_s=round(time.monotonic() - started, 2),
            requests=pool.requests,
            urls=len(seen),
            report=str(report_path),
            **by_status,
        )
        return RunResult(run_id, state, by_status, report_path, counters)

    async def _feed(
        self, run_id: int, scheduler: Scheduler, seen: set[str], counters: dict[str, Any]
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
                    if link.url not in seen:
                        seen.add(link.url)
                        scheduler.submit(link.url, link.kind)
                        new += 1
                if new:
                    self.progress.discovered(new)
                    await scheduler.wait_for_room()
        finally:
            await cards.aclose()  # type: ignore[attr-defined]


async def _first_of(*aws: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
