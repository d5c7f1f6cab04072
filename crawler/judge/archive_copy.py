"""The archive's copy of a failing page: the last check step of a URL (crawler.judge.urlcheck).

Only a page that fails or rots (its title drifted from the card's included) and whose URL holds
no secret is looked up: the archive is a third party, and a URL with credentials is not public
anyway. The answer comes from the store's cache, or from the archive through its own politeness
slot, and is cached there.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from crawler.config import ArchiveConfig
from crawler.judge.drift import content_drift
from crawler.judge.urlcheck import Step
from crawler.model import Job, LinkKind, Severity, UrlOutcome
from crawler.redact import redact_url
from crawler.store.database import Store
from crawler.store.records import ArchiveEntry
from crawler.web.archive import ArchiveClient
from crawler.web.politeness import HostPool
from crawler.web.urls import host_key

log = structlog.get_logger(__name__)


class ArchiveCopy:
    """The archive suggestion of one run: its store, archive client and politeness pool."""

    def __init__(
        self, store: Store, client: ArchiveClient, pool: HostPool, config: ArchiveConfig
    ) -> None:
        self._store = store
        self._client = client
        self._pool = pool
        self._config = config

    def step(self) -> Step:
        return Step("archive suggestion", self._suggest)

    async def _suggest(self, outcome: UrlOutcome, job: Job) -> None:
        if wants_archive(outcome, job.card_title):
            await self.find(outcome, job.card_published)

    async def find(self, outcome: UrlOutcome, published: str | None) -> None:
        """The closest archived copy of a failing page, from the store's cache or the archive
        (through its own politeness slot)."""
        max_age_s = self._config.cache_days * 86400
        cached = self._store.archive_answer(outcome.url, max_age_s=max_age_s)
        if cached is None:
            when = datetime.fromisoformat(published) if published else None
            async with self._pool.permit(host_key(self._config.endpoint)):
                answer = await self._client.lookup(outcome.url, when)
            if answer.error:
                log.debug("archive_lookup_failed", url=outcome.url, error=answer.error)
                return  # not cached: ask again next time
            cached = ArchiveEntry(answer.found, answer.archive_url, answer.archive_timestamp)
            self._store.save_archive_answer(outcome.url, *cached)
        found, outcome.archive_url, outcome.archive_timestamp = cached
        if not found:
            outcome.archive_url = outcome.archive_timestamp = None


def wants_archive(outcome: UrlOutcome, card_title: str | None) -> bool:
    """A page that fails or rots (its title drifted from the card's included), whose URL holds no
    secret: the archive is a third party, and a URL with credentials is not public anyway."""
    if outcome.link_kind is not LinkKind.PAGE:
        return False
    failing = outcome.severity >= Severity.ROTTED or bool(
        card_title and content_drift(card_title, outcome.title)
    )
    # asked last: only the few failing pages pay for the redactor
    return failing and redact_url(outcome.url) == outcome.url
