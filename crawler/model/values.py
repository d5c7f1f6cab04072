"""The plain values that flow one way: cards -> links -> url outcomes -> card verdicts.

Everything here is immutable-ish, picklable (cards are parsed in a worker process) and free of I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from crawler.model.kinds import Kind, Severity, worst


class LinkKind(StrEnum):
    PAGE = "page"
    IMAGE = "image"


class Disposition(StrEnum):
    """What a run does with a card file."""

    CHECKED = "checked"  # its links are fetched
    FILTERED = "filtered"  # out of --since/--until, or unpublished: costs no request
    INVALID = "invalid"  # the card itself must be fixed; still reported
    SKIPPED = "skipped"  # not a card: a Markdown file without front matter (a README, notes)


@dataclass(frozen=True, slots=True)
class Link:
    """One URL-bearing field of one card."""

    field: str  # "webUrl", "images[0].url", "provider.images[0].url", "related[2].webUrl"
    url: str  # absolute, normalised http(s) URL
    kind: LinkKind
    declared_width: int | None = None
    declared_height: int | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One unique URL to check, with what its check needs from the first card that named it."""

    url: str
    link_kind: LinkKind
    card_title: str | None = None  # pages: for the soft-404 check and the archive's choice
    card_published: str | None = None  # pages: the archive's closest copy is searched near it
    revalidate: bool = False  # an older healthy result exists: send its validators (ETag...)

    @property
    def rank(self) -> int:
        """Pages go before images on their host: pages are what times out and gets retried, so
        starting them early lets their retries overlap with the host's other work instead of
        trailing after it (longest job first). Images are rarely slow."""
        return 0 if self.link_kind is LinkKind.PAGE else 1


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a card, attached to a field when there is one.

    `as_dict` is the one JSON shape of a problem (the store, the verdicts, report.json)."""

    kind: Kind
    detail: str
    field: str | None = None
    url: str | None = None
    http_status: int | None = None
    final_url: str | None = None
    archive_url: str | None = None  # where the page can still be read
    archive_timestamp: str | None = None
    suggested_url: str | None = None  # what to put in the card (a 301's target, an AMP cache URL)
    trend: str | None = None  # a failing URL's own history (see crawler.judge.history)
    first_failed_at: str | None = None
    consecutive_failures: int | None = None

    @property
    def severity(self) -> Severity:
        return self.kind.severity

    def as_dict(self) -> dict[str, Any]:
        """The problem as stored and reported; optional parts only when known."""
        shape: dict[str, Any] = {
            "field": self.field,
            "url": self.url,
            "kind": self.kind.value,
            "severity": self.severity.label,
            "http_status": self.http_status,
            "detail": self.detail,
            "final_url": self.final_url,
        }
        if self.archive_url:
            shape["archive_url"] = self.archive_url
            shape["archive_timestamp"] = self.archive_timestamp
        if self.trend is not None:
            shape["trend"] = self.trend
            shape["first_failed_at"] = self.first_failed_at
            shape["consecutive_failures"] = self.consecutive_failures
        if self.suggested_url:
            shape["suggested_url"] = self.suggested_url
        return shape


@dataclass(slots=True)
class CardRecord:
    """What the run keeps of a card file: never the whole front matter."""

    path: str  # posix path relative to the cards folder
    disposition: Disposition
    title: str | None = None
    published: str | None = None  # ISO 8601, UTC
    provider: str | None = None
    links: list[Link] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # card-level (invalid, unresolved, ...)
    filter_reason: str | None = None
    filtered_by: str | None = None  # the reason's key, for counts: "date" or "unpublished"
    sha256: str | None = None  # of the file's bytes as read: `linkcheck fix` edits no newer file


@dataclass(frozen=True, slots=True)
class Hop:
    """One redirect step: `url` answered `status` pointing at `location`."""

    url: str
    status: int
    location: str


@dataclass(frozen=True, slots=True)
class ImageInfo:
    width: int
    height: int
    format: str | None


@dataclass(frozen=True, slots=True)
class Finding:
    """A URL-level problem, independent of which card points at the URL."""

    kind: Kind
    detail: str


@dataclass(slots=True)
class UrlOutcome:
    """The result of checking one unique URL: a value, never an exception."""

    url: str
    link_kind: LinkKind
    findings: list[Finding] = field(default_factory=list)
    http_status: int | None = None
    final_url: str | None = None
    redirects: list[Hop] = field(default_factory=list)
    attempts: int = 0
    elapsed_ms: float = 0.0
    content_type: str | None = None
    bytes_read: int = 0
    image: ImageInfo | None = None
    title: str | None = None  # page <title>, for later content checks
    etag: str | None = None
    last_modified: str | None = None
    archive_url: str | None = None  # closest Internet Archive snapshot, for a failing page
    archive_timestamp: str | None = None
    # transient, never stored: the final answer as fetched, for the judge's checks (the reason
    # phrase is None when no final answer came: a failure, or a redirect not followed)
    http_reason: str | None = field(default=None, repr=False)
    body: bytes | None = field(default=None, repr=False)
    response_headers: dict[str, str] | None = field(default=None, repr=False)

    @property
    def severity(self) -> Severity:
        return worst(f.kind for f in self.findings)

    def findings_severe(self) -> bool:
        """Already rotted or broken: no rot check can say more."""
        return self.severity >= Severity.ROTTED

    @property
    def primary(self) -> Finding | None:
        """The worst finding, the one a one-line summary shows."""
        if not self.findings:
            return None
        return max(self.findings, key=lambda f: f.kind.severity)
