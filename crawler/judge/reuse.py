"""Reuse and 304 handling: whether a URL's stored result can stand for this run, must be
revalidated with a conditional request, or the URL fetched afresh; and what a 304 keeps.

A result is reused only when it is healthy (ok, or a warning that does not mean "unverified") and
younger than recheck.max_age; an older healthy one is revalidated when it carried validators
(ETag, Last-Modified), and a 304 to that request keeps what was learned then.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum

from crawler.model import Kind, UrlOutcome
from crawler.store.records import UrlResult


class Plan(Enum):
    FETCH = "fetch"
    REVALIDATE = "revalidate"  # a conditional request: a 304 keeps what we knew
    REUSED = "reused"  # recent and healthy: no request at all


REUSABLE_WARNINGS = frozenset({Kind.MOVED_PERMANENTLY.value, Kind.IMAGE_TOO_LARGE.value})


def plan(previous: UrlResult | None, max_age_s: float) -> Plan:
    """Reuse a recent healthy result, revalidate an older one, or fetch afresh."""
    if previous is None or not reusable(previous):
        return Plan.FETCH
    if age_s(previous.checked_at) < max_age_s:
        return Plan.REUSED
    if validators_of(previous):
        return Plan.REVALIDATE
    return Plan.FETCH


def reusable(row: UrlResult) -> bool:
    """Healthy enough to trust for a while: ok, or a warning that is not "unverified"."""
    return row.status == "ok" or (row.status == "warning" and row.kind in REUSABLE_WARNINGS)


def age_s(checked_at: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(checked_at)).total_seconds()


def validators_of(previous: UrlResult | None) -> dict[str, str] | None:
    """The conditional-request headers an earlier result allows, if any."""
    if previous is None:
        return None
    validators = {}
    if previous.etag:
        validators["If-None-Match"] = previous.etag
    if previous.last_modified:
        validators["If-Modified-Since"] = previous.last_modified
    return validators or None


def settled(outcome: UrlOutcome, previous: UrlResult | None) -> UrlOutcome:
    """The outcome that stands for a URL revalidated against `previous` (None: not revalidated):
    a 304 keeps what was known, anything else is judged as it came."""
    if previous is not None and outcome.http_status == 304:
        return not_modified(outcome, previous)
    return outcome


def not_modified(outcome: UrlOutcome, previous: UrlResult) -> UrlOutcome:
    """A 304: the resource is what it was, so what we learned of it then still holds."""
    known = previous.as_outcome()
    known.http_status = 304
    known.redirects = outcome.redirects
    known.final_url = outcome.final_url or known.final_url
    known.attempts = outcome.attempts
    known.elapsed_ms = outcome.elapsed_ms
    known.bytes_read = outcome.bytes_read
    known.etag = outcome.etag or known.etag
    known.last_modified = outcome.last_modified or known.last_modified
    return known
