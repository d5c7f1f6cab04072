"""The archive's copy of a failing page: a phase after the crawl's last fetch, so that a slow or
unreachable archive never holds a host's turn nor extends the crawl.

Only a page that fails or rots (its title drifted from its card's included) and whose URL holds
no secret is looked up: the archive is a third party, and a URL with credentials is not public
anyway. An answer cached in the store (within `archive.cache_days`) is used without a request;
only new failures are asked about, several in flight through the archive's own politeness slot,
within `archive.budget_s` in all. A failure left without an answer (budget spent, archive
unreachable, the run interrupted) is listed as pending, and the next run asks again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from crawler.config import ArchiveConfig
from crawler.judge.drift import content_drift
from crawler.judge.urlcheck import Step
from crawler.model import Job, LinkKind, Severity, UrlOutcome
from crawler.redact import redact_url
from crawler.store.archive import (
    ArchiveCandidate,
    ArchiveCopyRow,
    archive_candidates,
    set_archive_copies,
)
from crawler.store.database import Store
from crawler.store.records import ArchiveEntry
from crawler.web.archive import ArchiveClient
from crawler.web.politeness import HostPool
from crawler.web.urls import host_key

log = structlog.get_logger(__name__)

# failed lookups in a row after which the archive is taken as unreachable for this run
GIVE_UP_AFTER = 3


@dataclass
class ArchiveTally:
    """What the phase did: answers asked for, answers taken from the cache, failures left."""

    looked_up: int = 0
    cached: int = 0
    pending: list[str] = field(default_factory=list)
    copies: list[ArchiveCopyRow] = field(default_factory=list)

    def counters(self) -> dict[str, Any]:
        counts = {"looked_up": self.looked_up, "cached": self.cached, "pending": len(self.pending)}
        return {"archive": counts, "archive_pending": sorted(self.pending)}


class ArchiveCopy:
    """The archive phase of one run: its store, archive client and politeness pool."""

    def __init__(
        self, store: Store, client: ArchiveClient, pool: HostPool, config: ArchiveConfig
    ) -> None:
        self._store = store
        self._client = client
        self._pool = pool
        self._config = config
        self._failed_in_a_row = 0
        self._probe: asyncio.Task[ArchiveEntry | None] | None = None
        self._probed: str | None = None  # the URL the probe asked about

    def probe_step(self) -> Step:
        """The URL check step that sends the probe (crawler.judge.urlcheck)."""

        async def run(outcome: UrlOutcome, job: Job) -> None:
            self.probe_on(outcome, job)

        return Step("archive probe", run)

    def probe_on(self, outcome: UrlOutcome, job: Job) -> None:
        """While the crawl goes on, one lookup for its first failing page, holding no host's
        turn: an archive that does not answer it is taken as unreachable, and the phase after
        the crawl asks nothing more (its failures are pending) instead of waiting for timeouts."""
        if self._probe is None and wants_archive(outcome, job.card_title):
            if self._cached(outcome.url) is not None:
                return  # a new failure is the probe: a cached one costs no request
            self._probed = outcome.url
            self._probe = asyncio.ensure_future(self._lookup(outcome.url, job.card_published))

    async def run(
        self, run_id: int, *, look_up: bool = True, stop: asyncio.Event | None = None
    ) -> dict[str, Any]:
        """Archived copies onto the run's failing pages, from the cache, then (with `look_up`)
        from the archive within the budget, until `stop` is set; the counters for the run."""
        started = time.monotonic()
        tally = ArchiveTally()
        new: list[ArchiveCandidate] = []
        deadline = started + self._config.budget_s
        # first: its answer is in the cache then (an interrupted run does not wait for it)
        reachable = await self._probe_answered(deadline if look_up else started)
        for candidate in archive_candidates(self._store, run_id):
            if not wants_archive_of(candidate):
                continue
            cached = self._cached(candidate.url)
            if cached is None:
                new.append(candidate)
            else:
                if candidate.url == self._probed:
                    tally.looked_up += 1
                else:
                    tally.cached += 1
                _keep(tally, candidate.url, cached)
        if look_up and new and reachable:
            await self._look_up(new, tally, stop or asyncio.Event(), deadline)
        else:
            tally.pending.extend(c.url for c in new)
        set_archive_copies(self._store, run_id, tally.copies)
        counters = tally.counters()
        duration_s = round(time.monotonic() - started, 3)
        log.info("archive_phase", duration_s=duration_s, **counters["archive"])
        return counters

    async def _look_up(
        self,
        new: list[ArchiveCandidate],
        tally: ArchiveTally,
        stop: asyncio.Event,
        deadline: float,
    ) -> None:
        """Ask about each new failure, several in flight, until done, out of budget or the
        archive is unreachable; what is left is pending."""
        queue = list(reversed(new))
        answered: set[str] = set()

        async def worker() -> None:
            while queue and self._failed_in_a_row < GIVE_UP_AFTER and not stop.is_set():
                candidate = queue.pop()
                if await self._ask(candidate, tally):
                    answered.add(candidate.url)

        in_flight = max(1, self._pool.limits.workers_per_host)
        workers: asyncio.Future[Any] = asyncio.gather(*(worker() for _ in range(in_flight)))
        stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait(
                [workers, stopped],
                timeout=max(0.0, deadline - time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not workers.done() and not stop.is_set():
                log.warning("archive_budget_spent", budget_s=self._config.budget_s)
        finally:
            workers.cancel()
            stopped.cancel()
            await asyncio.gather(workers, stopped, return_exceptions=True)
        if self._failed_in_a_row >= GIVE_UP_AFTER:
            log.warning("archive_unreachable", endpoint=self._config.endpoint)
        tally.pending.extend(c.url for c in new if c.url not in answered)

    def _cached(self, url: str) -> ArchiveEntry | None:
        return self._store.archive_answer(url, max_age_s=self._config.cache_days * 86400)

    async def _probe_answered(self, deadline: float) -> bool:
        """Whether the archive answered the probe (True when none was sent); a probe still
        waiting when the crawl ends gets what is left of its timeout, until `deadline`."""
        if self._probe is None:
            return True
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                return await asyncio.shield(self._probe) is not None
        except TimeoutError:
            self._probe.cancel()
            return False
        finally:
            if not self._probe.done():
                self._probe.cancel()

    async def _ask(self, candidate: ArchiveCandidate, tally: ArchiveTally) -> bool:
        """One lookup of the phase; True when it was answered, False when not."""
        entry = await self._lookup(candidate.url, candidate.card_published)
        if entry is None:
            return False
        tally.looked_up += 1
        _keep(tally, candidate.url, entry)
        return True

    async def _lookup(self, url: str, published: str | None) -> ArchiveEntry | None:
        """One lookup through the archive's politeness slot: the answer (cached), or None when
        there was none (asked again next time)."""
        when = datetime.fromisoformat(published) if published else None
        try:
            async with self._pool.permit(host_key(self._config.endpoint)):
                answer = await self._client.lookup(url, when)
        except Exception:  # one bad lookup leaves its URL pending, never the run
            log.exception("archive_lookup_failed", url=redact_url(url))
            self._failed_in_a_row += 1
            return None
        if answer.error:
            log.debug("archive_lookup_failed", url=redact_url(url), error=answer.error)
            self._failed_in_a_row += 1
            return None
        self._failed_in_a_row = 0
        entry = ArchiveEntry(answer.found, answer.archive_url, answer.archive_timestamp)
        self._store.save_archive_answer(url, *entry)
        return entry


def _loop_time(monotonic: float) -> float:
    """A time.monotonic() moment on the event loop's clock."""
    return asyncio.get_running_loop().time() + monotonic - time.monotonic()


def _keep(tally: ArchiveTally, url: str, entry: ArchiveEntry) -> None:
    if entry.found and entry.archive_url:
        tally.copies.append(ArchiveCopyRow(url, entry.archive_url, entry.archive_timestamp))


def wants_archive_of(candidate: ArchiveCandidate) -> bool:
    """`wants_archive` of a stored page result."""
    outcome = UrlOutcome(url=candidate.url, link_kind=LinkKind.PAGE, title=candidate.title)
    severity = Severity.from_label(candidate.status)
    return _wants(outcome, severity, candidate.card_title)


def wants_archive(outcome: UrlOutcome, card_title: str | None) -> bool:
    """A page that fails or rots (its title drifted from the card's included), whose URL holds no
    secret: the archive is a third party, and a URL with credentials is not public anyway."""
    if outcome.link_kind is not LinkKind.PAGE:
        return False
    return _wants(outcome, outcome.severity, card_title)


def _wants(outcome: UrlOutcome, severity: Severity, card_title: str | None) -> bool:
    failing = severity >= Severity.ROTTED or bool(
        card_title and content_drift(card_title, outcome.title)
    )
    # asked last: only the few failing pages pay for the redactor
    return failing and redact_url(outcome.url) == outcome.url
