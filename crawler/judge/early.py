"""Cards judged while the crawl runs, so that little is left to judge after the last fetch.

A card whose links all have this run's results gets its verdict at once, as if the run will
finish and not be degraded, and it is set aside (crawler/store/early.py); the run's end takes it
as it is when that holds (crawler/judge/judging.py), or judges the card again with the rest. Only
cards that do not fail are judged early: a failing card's verdict also depends on its URLs'
streaks, folded after the crawl, and on the archive's copies, looked up after the last fetch; a
healthy or warning card's depends on neither.

The candidates are the cards stored since the last pass and the cards linking to URLs whose
results came since, so each pass costs what arrived, not what the run holds.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from crawler.config import RotConfig
from crawler.judge.judging import judge_card
from crawler.model import FAILING
from crawler.store.database import Store
from crawler.store.early import cards_linking, complete_cards, set_aside
from crawler.store.records import CardVerdict
from crawler.store.state import cards_to_judge

log = structlog.get_logger(__name__)

PASS_EVERY_S = 1.0  # between two passes: each one judges what became ready meanwhile
_CARDS_PER_SLICE = 200  # cards judged between two turns of the event loop


class EarlyJudge:
    """One run's cards, judged as their last link's result arrives."""

    def __init__(self, store: Store, run_id: int, rules: RotConfig, *, at: str) -> None:
        self.store = store
        self.run_id = run_id
        self.rules = rules
        self.at = at  # when the run started: the time its history is recorded at
        self.judged = 0
        self.busy_s = 0.0  # the event loop's time spent judging, awaits included
        self._cards: list[str] = []
        self._urls: list[str] = []

    def card_stored(self, path: str) -> None:
        self._cards.append(path)

    def result_stored(self, url: str) -> None:
        self._urls.append(url)

    async def keep_judging(self) -> None:
        """Pass after pass until cancelled. A failure ends early judging, never the run: the
        run's end judges every card left."""
        try:
            while True:
                await asyncio.sleep(PASS_EVERY_S)
                started = time.monotonic()
                await self.judge_ready()
                self.busy_s += time.monotonic() - started
        except asyncio.CancelledError:
            log.info("early_judging", run_id=self.run_id, set_aside=self.judged,
                     busy_s=round(self.busy_s, 3))  # fmt: skip
            raise
        except Exception:
            log.exception("early_judging_failed", run_id=self.run_id)

    async def judge_ready(self) -> int:
        """Judge the cards that became ready since the last pass; returns how many were set
        aside."""
        if not self._cards and not self._urls:
            return 0
        urls, self._urls = self._urls, []
        candidates = set(self._cards)
        self._cards = []
        self.store.flush()
        candidates |= cards_linking(self.store, self.run_id, urls)
        ordered = complete_cards(self.store, self.run_id, sorted(candidates))
        kept = 0
        for start in range(0, len(ordered), _CARDS_PER_SLICE):
            verdicts = self._judge(ordered[start : start + _CARDS_PER_SLICE])
            set_aside(self.store, self.run_id, verdicts)
            kept += len(verdicts)
            await asyncio.sleep(0)
        self.judged += kept
        return kept

    def _judge(self, paths: list[str]) -> list[CardVerdict]:
        """The verdicts to set aside among these cards, every link of which has its result."""
        verdicts = []
        for item in cards_to_judge(self.store, self.run_id, paths=paths):
            verdict, _ = judge_card(item, rules=self.rules, run_id=self.run_id, at=self.at)
            if verdict.status in FAILING or verdict.recent is None:
                continue  # left to the run's end (recent None: its history is already in)
            verdicts.append(verdict)
        return verdicts
