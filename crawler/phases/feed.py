"""The feed of cards into jobs: each card read is stored, and its URLs new to the run that need a
request go to the scheduler (a recent result is reused instead: crawler.judge.reuse decides)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from crawler.config import Config
from crawler.intake.reader import stream_cards
from crawler.judge import reuse
from crawler.judge.reuse import Plan
from crawler.model import CardRecord, Job, LinkKind
from crawler.phases.opening import count_card
from crawler.progress import ProgressSink
from crawler.store.database import Store
from crawler.web.scheduler import Scheduler
from crawler.web.spill import UrlSet

FEED_SLICE = 25  # cards read between two turns of the event loop


class CardFeed:
    """One run's cards into its scheduler, until read or stopped."""

    def __init__(
        self,
        config: Config,
        store: Store,
        progress: ProgressSink,
        run_id: int,
        stop: asyncio.Event,
        on_card: Callable[[str], None] = lambda path: None,
    ) -> None:
        self.config = config
        self._on_card = on_card  # told each stored card's path (crawler/judge/early.py)
        self.store = store
        self.progress = progress
        self.run_id = run_id
        self._stop = stop

    async def feed(
        self, scheduler: Scheduler, seen: UrlSet, already: set[str], counters: dict[str, Any]
    ) -> None:
        cards_cfg = self.config.cards
        cards = stream_cards(cards_cfg.path, cards_cfg.glob, cards_cfg, self.config.links)
        try:
            async for card in cards:
                if self._stop.is_set():
                    break
                if not count_card(card, counters):
                    continue
                self.store.add_card(self.run_id, card)
                self._on_card(card.path)
                jobs = self._jobs_of(card, seen, already, counters)
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
        self, card: CardRecord, seen: UrlSet, already: set[str], counters: dict[str, Any]
    ) -> list[Job]:
        """The card's URLs new to this run that need a request (a recent result is reused)."""
        jobs = []
        for link in card.links:
            if not seen.add(link.url) or link.url in already:
                continue
            plan = self._plan(link.url, counters)
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

    def _plan(self, url: str, counters: dict[str, Any]) -> Plan:
        """What to do with a URL (crawler.judge.reuse decides); a reused result is recorded."""
        recheck = self.config.recheck
        if recheck.full:
            return Plan.FETCH  # the store is ignored, not even asked
        previous = self.store.latest_result(url, before_run=self.run_id)
        plan = reuse.plan(previous, recheck.max_age_s)
        if plan is Plan.REUSED and previous is not None:
            self.store.reuse_result(self.run_id, previous)
            counters["urls_reused"] += 1
        return plan
