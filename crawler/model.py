"""The model: the problem vocabulary (kinds, severities, the failing set) and the plain values
that flow one way: cards -> links -> url outcomes -> card verdicts.

Everything here is immutable-ish, picklable (cards are parsed in a worker process) and free of I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class Severity(IntEnum):
    """Ordered so that `max()` gives the worst."""

    OK = 0
    WARNING = 1
    ROTTED = 2
    BROKEN = 3
    INVALID = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Severity:
        return cls[label.upper()]


class Kind(StrEnum):
    # broken: the link fails
    NOT_FOUND = "not_found"
    GONE = "gone"
    CLIENT_ERROR = "client_error"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    DNS_ERROR = "dns_error"
    CONNECTION_ERROR = "connection_error"
    TLS_ERROR = "tls_error"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    NOT_AN_IMAGE = "not_an_image"
    IMAGE_CORRUPT = "image_corrupt"
    # rotted: it answers, but no longer delivers what the card promises
    IMAGE_DIMENSION_MISMATCH = "image_dimension_mismatch"
    SOFT_404 = "soft_404"
    REDIRECT_TO_HOME = "redirect_to_home"
    CONTENT_DRIFT = "content_drift"
    # warning: worth a look, not a failure
    MOVED_PERMANENTLY = "moved_permanently"
    RATE_LIMITED = "rate_limited"
    IMAGE_TOO_LARGE = "image_too_large"
    RELATIVE_URL_UNRESOLVED = "relative_url_unresolved"
    BLOCKED_ADDRESS = "blocked_address"
    CARD_CONTROL_CHARACTER = "card_control_character"
    AMP_CACHE_MISMATCH = "amp_cache_mismatch"
    AMP_RETIRED = "amp_retired"
    CHECK_FAILED = "check_failed"  # linkcheck itself failed on this input: could not verify
    # invalid: the card itself must be fixed
    CARD_PARSE_ERROR = "card_parse_error"
    CARD_MISSING_FIELD = "card_missing_field"
    CARD_INVALID_FIELD = "card_invalid_field"
    INVALID_URL = "invalid_url"

    @property
    def severity(self) -> Severity:
        return SEVERITY_OF[self]


_BROKEN = {
    Kind.NOT_FOUND,
    Kind.GONE,
    Kind.CLIENT_ERROR,
    Kind.SERVER_ERROR,
    Kind.TIMEOUT,
    Kind.DNS_ERROR,
    Kind.CONNECTION_ERROR,
    Kind.TLS_ERROR,
    Kind.REDIRECT_LOOP,
    Kind.TOO_MANY_REDIRECTS,
    Kind.NOT_AN_IMAGE,
    Kind.IMAGE_CORRUPT,
}
_ROTTED = {
    Kind.IMAGE_DIMENSION_MISMATCH,
    Kind.SOFT_404,
    Kind.REDIRECT_TO_HOME,
    Kind.CONTENT_DRIFT,
}
_WARNING = {
    Kind.MOVED_PERMANENTLY,
    Kind.RATE_LIMITED,
    Kind.IMAGE_TOO_LARGE,
    Kind.RELATIVE_URL_UNRESOLVED,
    Kind.BLOCKED_ADDRESS,
    Kind.CARD_CONTROL_CHARACTER,
    Kind.AMP_CACHE_MISMATCH,
    Kind.AMP_RETIRED,
    Kind.CHECK_FAILED,
}
_INVALID = {
    Kind.CARD_PARSE_ERROR,
    Kind.CARD_MISSING_FIELD,
    Kind.CARD_INVALID_FIELD,
    Kind.INVALID_URL,
}

SEVERITY_OF: dict[Kind, Severity] = {
    **{k: Severity.BROKEN for k in _BROKEN},
    **{k: Severity.ROTTED for k in _ROTTED},
    **{k: Severity.WARNING for k in _WARNING},
    **{k: Severity.INVALID for k in _INVALID},
}
assert set(SEVERITY_OF) == set(Kind), "every kind needs a severity"

STATUS_LABELS: tuple[str, ...] = tuple(s.label for s in Severity)


def worst(kinds: Iterable[Kind]) -> Severity:
    """A card's (or URL's) status: the worst severity among its problems, OK if none."""
    return max((k.severity for k in kinds), default=Severity.OK)


class LinkKind(StrEnum):
    PAGE = "page"
    IMAGE = "image"


class Disposition(StrEnum):
    """What a run does with a card file."""

    CHECKED = "checked"  # its links are fetched
    FILTERED = "filtered"  # out of --since/--until, or unpublished: costs no request
    INVALID = "invalid"  # the card itself must be fixed; still reported


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
    """One thing wrong with a card, attached to a field when there is one."""

    kind: Kind
    detail: str
    field: str | None = None
    url: str | None = None
    http_status: int | None = None
    final_url: str | None = None

    @property
    def severity(self) -> Severity:
        return self.kind.severity


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
    # transient, never stored: the page body and final headers, for the rot checks
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
