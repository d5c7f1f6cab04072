"""A run's cards, links and URL results, written in batches as they arrive.

A killed run loses at most what was in flight and in the last unflushed batch. Every text goes
through safe_text here, whatever its source already did: one string SQLite refuses (a lone
surrogate from a header that was not UTF-8) would fail the whole batch, and with it the run.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from crawler.model import CardRecord, Finding, Hop, UrlOutcome
from crawler.store.records import UrlResult
from crawler.text import safe_optional, safe_text

# the url_results columns a result is written with (its history is added when the run ends)
URL_RESULT_COLUMNS = (
    "run_id",
    "url",
    "host",
    "link_kind",
    "status",
    "kind",
    "findings",
    "http_status",
    "final_url",
    "redirects",
    "attempts",
    "elapsed_ms",
    "content_type",
    "bytes_read",
    "image_width",
    "image_height",
    "image_format",
    "title",
    "etag",
    "last_modified",
    "checked_at",
    "reused_from",
    "archive_url",
    "archive_timestamp",
)
_INSERT_URL_RESULT = (
    f"INSERT OR REPLACE INTO url_results ({', '.join(URL_RESULT_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(URL_RESULT_COLUMNS))})"
)
# a card read again by --resume keeps the verdict and history the run gave it
_UPSERT_CARD = (
    "INSERT INTO cards (run_id, path, disposition, title, published, provider, card_problems,"
    " sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, path) DO UPDATE"
    " SET disposition = excluded.disposition, title = excluded.title,"
    " published = excluded.published, provider = excluded.provider,"
    " card_problems = excluded.card_problems, sha256 = excluded.sha256"
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Batches:
    """The rows waiting for the next flush, which writes them in one transaction. URL results
    are committed within `url_flush_interval_s` of arriving (a small WAL transaction): a run
    killed with -9 loses the requests in flight and at most that much time's results; one
    commit per result would cost a busy run much of its CPU."""

    def __init__(
        self, db: sqlite3.Connection, batch_size: int, url_flush_interval_s: float
    ) -> None:
        self._db = db
        self._batch_size = batch_size
        self._url_flush_interval_s = url_flush_interval_s
        self._first_pending_at: float | None = None
        # the run whose request count is saved with each flush, so that even a run killed
        # with -9 knows how many requests it made: (run id, a callable giving the count)
        self.request_counter: tuple[int, Callable[[], int]] | None = None
        self._cards: list[tuple[Any, ...]] = []
        self._links: list[tuple[Any, ...]] = []
        self._urls: list[tuple[Any, ...]] = []

    def add_card(self, run_id: int, card: CardRecord) -> None:
        problems = json.dumps([p.as_dict() for p in card.problems]) if card.problems else "[]"
        self._cards.append(
            (run_id, card.path, card.disposition.value, card.title, card.published,
             card.provider, problems, card.sha256)
        )  # fmt: skip
        for ord_, link in enumerate(card.links):
            self._links.append(
                (run_id, card.path, ord_, link.field, link.url, link.kind.value,
                 link.declared_width, link.declared_height)
            )  # fmt: skip
        if len(self._cards) >= self._batch_size:
            self.flush()

    def add_url_result(self, run_id: int, host: str, outcome: UrlOutcome) -> None:
        self._urls.append(_url_result_row(run_id, host, outcome))
        self._flush_urls_if_due()

    def reuse_result(self, run_id: int, result: UrlResult) -> None:
        """An earlier healthy result as this run's, marked with the run that checked it."""
        source = result.reused_from or result.run_id
        reused = result._replace(run_id=run_id, reused_from=source)
        self._urls.append(tuple(getattr(reused, name) for name in URL_RESULT_COLUMNS))
        if len(self._urls) >= self._batch_size:
            self.flush()

    def flush_if_due(self) -> None:
        """Called on a timer: results never wait in memory longer than the flush interval."""
        if self._urls:
            self._flush_urls_if_due()

    def _flush_urls_if_due(self) -> None:
        now = time.monotonic()
        if self._first_pending_at is None:
            self._first_pending_at = now
        if (
            now - self._first_pending_at >= self._url_flush_interval_s
            or len(self._urls) >= self._batch_size
        ):
            self.flush()

    def flush(self) -> None:
        if not (self._cards or self._links or self._urls):
            return
        db = self._db
        with db:  # one transaction
            db.execute("BEGIN")
            db.executemany(_UPSERT_CARD, self._cards)
            db.executemany(
                "INSERT OR REPLACE INTO card_links VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._links
            )
            db.executemany(_INSERT_URL_RESULT, self._urls)
            if self.request_counter is not None:
                run_id, count = self.request_counter
                db.execute("UPDATE runs SET requests_made = ? WHERE id = ?", (count(), run_id))
        self._cards.clear()
        self._links.clear()
        self._urls.clear()
        self._first_pending_at = None


def _url_result_row(run_id: int, host: str, outcome: UrlOutcome) -> tuple[Any, ...]:
    """One URL's result in URL_RESULT_COLUMNS order."""
    primary, image, text = outcome.primary, outcome.image, safe_optional
    return (
        run_id,
        safe_text(outcome.url),
        safe_text(host),
        outcome.link_kind.value,
        outcome.severity.label,
        primary.kind.value if primary else None,
        _findings_json(outcome.findings),
        outcome.http_status,
        text(outcome.final_url),
        _redirects_json(outcome.redirects),
        outcome.attempts,
        round(outcome.elapsed_ms, 1),
        text(outcome.content_type),
        outcome.bytes_read,
        image.width if image else None,
        image.height if image else None,
        text(image.format) if image else None,
        text(outcome.title),
        text(outcome.etag),
        text(outcome.last_modified),
        utc_now(),
        None,
        text(outcome.archive_url),
        text(outcome.archive_timestamp),
    )


def _findings_json(findings: Sequence[Finding]) -> str:
    # most results have none: skip the encoder for the common "[]"
    if not findings:
        return "[]"
    return json.dumps([{"kind": f.kind.value, "detail": safe_text(f.detail)} for f in findings])


def _redirects_json(hops: Sequence[Hop]) -> str:
    if not hops:
        return "[]"
    return json.dumps(
        [
            {"url": safe_text(h.url), "status": h.status, "location": safe_text(h.location)}
            for h in hops
        ]
    )
