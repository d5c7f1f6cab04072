"""The fixed vocabulary of problem kinds, their severities, and how a card's status is derived.

Shared by the JSON report, the HTML page and the history, so a kind never changes meaning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import IntEnum, StrEnum
from typing import Any


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


def dimension_detail(
    declared_width: int | None, declared_height: int | None, width: int, height: int
) -> str | None:
    """The mismatch text, or None when the real size is the declared one (or none was declared)."""
    if declared_width is None or declared_height is None:
        return None
    if (declared_width, declared_height) == (width, height):
        return None
    return f"declared {declared_width}x{declared_height}, real {width}x{height}"


def link_problems(link: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The problems one card link gets from its URL's stored result.

    `link` holds the card_links columns joined with the URL's result (findings as JSON text,
    url_status None when the URL was never checked). Dimension checks live here, not in the
    URL result, because the declared size belongs to the card: two cards may declare two sizes
    for one image URL.
    """
    if link["url_status"] is None:
        return []
    base: dict[str, Any] = {
        "field": link["field"],
        "url": link["url"],
        "http_status": link["http_status"],
        "final_url": link["final_url"],
    }
    if link.get("archive_url"):  # where the page can still be read
        base["archive_url"] = link["archive_url"]
        base["archive_timestamp"] = link["archive_timestamp"]
    if link.get("trend") is not None and link["url_status"] in ("rotted", "broken"):
        # the URL's own failing streak
        base["trend"] = link["trend"]
        base["first_failed_at"] = link["first_failed_at"]
        base["consecutive_failures"] = link["consecutive_failures"]
    problems = [
        {
            **base,
            "kind": f["kind"],
            "severity": Kind(f["kind"]).severity.label,
            "detail": f["detail"],
        }
        for f in json.loads(link["findings"])
    ]
    for problem in problems:
        if problem["kind"] == Kind.MOVED_PERMANENTLY.value and link["final_url"]:
            problem["suggested_url"] = link["final_url"]  # the new URL to put in the card
    if link["image_width"] is not None:
        detail = dimension_detail(
            link["declared_width"],
            link["declared_height"],
            link["image_width"],
            link["image_height"],
        )
        if detail:
            kind = Kind.IMAGE_DIMENSION_MISMATCH
            problems.append(
                {**base, "kind": kind.value, "severity": kind.severity.label, "detail": detail}
            )
    return problems


def card_status(disposition: str, problems: Iterable[Mapping[str, Any]]) -> str:
    if disposition == "invalid":
        return Severity.INVALID.label
    return max((Severity.from_label(p["severity"]) for p in problems), default=Severity.OK).label
