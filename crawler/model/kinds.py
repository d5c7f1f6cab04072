"""The problem vocabulary: the kinds of problem, their severities, the failing statuses, and how
to fix each kind. Adding a kind means adding it here (its severity and fix hint; the asserts
below say if one is missing) and deciding it in one judge module.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    # could not verify: the site decided we may not look (robots.txt, bot protection)
    ROBOTS_DISALLOWED = "robots_disallowed"
    ROBOTS_UNAVAILABLE = "robots_unavailable"
    BOT_BLOCKED = "bot_blocked"
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
    Kind.ROBOTS_DISALLOWED,
    Kind.ROBOTS_UNAVAILABLE,
    Kind.BOT_BLOCKED,
}
_INVALID = {
    Kind.CARD_PARSE_ERROR,
    Kind.CARD_MISSING_FIELD,
    Kind.CARD_INVALID_FIELD,
    Kind.INVALID_URL,
}

# What says nothing about the link: the site would not let us look. A URL (or card) whose only
# trouble is one of these keeps its streak as it was (crawler/judge/history.py).
UNVERIFIED: frozenset[Kind] = frozenset(
    {Kind.ROBOTS_DISALLOWED, Kind.ROBOTS_UNAVAILABLE, Kind.BOT_BLOCKED}
)

SEVERITY_OF: dict[Kind, Severity] = {
    **{k: Severity.BROKEN for k in _BROKEN},
    **{k: Severity.ROTTED for k in _ROTTED},
    **{k: Severity.WARNING for k in _WARNING},
    **{k: Severity.INVALID for k in _INVALID},
}
assert set(SEVERITY_OF) == set(Kind), "every kind needs a severity"

# How to fix a problem, by kind, as the dashboard shows it. `{name}` placeholders are filled by
# the page from the problem and its URL's result (final_url, width, height, archive_url); when one
# is unknown the second text, with no placeholder, is shown instead.
FIX_HINTS: dict[Kind, tuple[str, str]] = {
    Kind.AMP_CACHE_MISMATCH: (
        "cdnAmpWebUrl is not the AMP cache URL of ampWebUrl: set it to the expected URL in the"
        " detail.",
        "Set cdnAmpWebUrl to ampWebUrl's cache URL.",
    ),
    Kind.AMP_RETIRED: (
        "The publisher no longer serves this page as AMP: remove ampWebUrl and cdnAmpWebUrl"
        " (webUrl still works).",
        "Remove the card's AMP links.",
    ),
    Kind.CHECK_FAILED: (
        "linkcheck could not judge this link (an internal error, logged with the URL): nothing to"
        " fix in the card; report it if it repeats.",
        "Nothing to fix in the card; report it if it repeats.",
    ),
    Kind.ROBOTS_DISALLOWED: (
        "The site's robots.txt asks crawlers not to fetch this URL (the rule is in the detail):"
        " check it by hand, or, for your own site, allow linkcheck or set robots: false for the"
        " host in config.yaml.",
        "Check it by hand; for your own site, allow linkcheck in its robots.txt.",
    ),
    Kind.ROBOTS_UNAVAILABLE: (
        "The site's robots.txt answered with a server error, so nothing on the site was fetched"
        " this run (RFC 9309): it is retried next run.",
        "Nothing to fix in the card: the site's robots.txt failed; it is retried next run.",
    ),
    Kind.BOT_BLOCKED: (
        "Bot protection answered instead of the page (the evidence is in the detail): check it in"
        " a browser; ask the site to allow linkcheck, or set headers for the host in config.yaml.",
        "Check it in a browser; the site's bot protection blocked linkcheck.",
    ),
    Kind.NOT_FOUND: (
        "Remove the link or point it at an archived copy.",
        "Remove the link or point it at an archived copy.",
    ),
    Kind.GONE: (
        "The page was removed on purpose: remove the link or point it at an archived copy.",
        "Remove the link or point it at an archived copy.",
    ),
    Kind.CLIENT_ERROR: (
        "The site refuses the request (HTTP 4xx): check the URL, or replace the link.",
        "Check the URL, or replace the link.",
    ),
    Kind.SERVER_ERROR: (
        "The site fails (HTTP 5xx): recheck later; if it persists, replace or remove the link.",
        "Recheck later; if it persists, replace or remove the link.",
    ),
    Kind.TIMEOUT: (
        "The site did not answer in time: recheck later; if it persists, remove the link.",
        "Recheck later; if it persists, remove the link.",
    ),
    Kind.DNS_ERROR: (
        "The host name no longer resolves: the site is likely gone. Replace or remove the link.",
        "Replace or remove the link.",
    ),
    Kind.CONNECTION_ERROR: (
        "The connection failed: recheck later; if it persists, replace or remove the link.",
        "Recheck later; if it persists, replace or remove the link.",
    ),
    Kind.TLS_ERROR: (
        "The site's certificate or TLS setup is broken: try the http(s) variant, or replace it.",
        "Replace the link.",
    ),
    Kind.REDIRECT_LOOP: (
        "The URL redirects in a loop: find the article's real address, or remove the link.",
        "Find the article's real address, or remove the link.",
    ),
    Kind.TOO_MANY_REDIRECTS: (
        "Too many redirects: replace the URL with the page it should end on.",
        "Replace the URL with the page it should end on.",
    ),
    Kind.NOT_AN_IMAGE: (
        "The URL does not serve an image: point it at the image file itself.",
        "Point it at the image file itself.",
    ),
    Kind.IMAGE_CORRUPT: (
        "The image cannot be decoded: replace it with a working copy.",
        "Replace the image with a working copy.",
    ),
    Kind.IMAGE_DIMENSION_MISMATCH: (
        "Set width/height to {width} x {height}.",
        "Set width/height to the image's real size.",
    ),
    Kind.SOFT_404: (
        "The page answers but says it is not found: remove the link or point it at an archived"
        " copy.",
        "Remove the link or point it at an archived copy.",
    ),
    Kind.REDIRECT_TO_HOME: (
        "The article now lands on the site's home page ({final_url}): find its new address or"
        " remove the link.",
        "Find the article's new address or remove the link.",
    ),
    Kind.CONTENT_DRIFT: (
        "The page no longer matches the card: check that the link still points at the article.",
        "Check that the link still points at the article.",
    ),
    Kind.MOVED_PERMANENTLY: (
        "Replace the URL with {final_url}.",
        "Replace the URL with its new address.",
    ),
    Kind.RATE_LIMITED: (
        "The site limited our requests: recheck later, or lower --rate-per-host for it.",
        "Recheck later, or lower --rate-per-host.",
    ),
    Kind.IMAGE_TOO_LARGE: (
        "The image is larger than the size limit: use a smaller copy.",
        "Use a smaller copy of the image.",
    ),
    Kind.RELATIVE_URL_UNRESOLVED: (
        "Make the URL absolute, or run with --base-url.",
        "Make the URL absolute, or run with --base-url.",
    ),
    Kind.BLOCKED_ADDRESS: (
        "The URL resolves to a private or local address: replace it with a public URL.",
        "Replace it with a public URL.",
    ),
    Kind.CARD_CONTROL_CHARACTER: (
        "Remove the control characters from the field.",
        "Remove the control characters from the field.",
    ),
    Kind.CARD_PARSE_ERROR: (
        "Fix the card's YAML front matter so that it parses.",
        "Fix the card's YAML front matter.",
    ),
    Kind.CARD_MISSING_FIELD: ("Add the missing field to the card.", "Add the missing field."),
    Kind.CARD_INVALID_FIELD: ("Correct the field's value.", "Correct the field's value."),
    Kind.INVALID_URL: (
        "Fix the URL: it must be an absolute http(s) URL.",
        "Fix the URL: it must be an absolute http(s) URL.",
    ),
}
assert set(FIX_HINTS) == set(Kind), "every kind needs a fix hint"

STATUS_LABELS: tuple[str, ...] = tuple(s.label for s in Severity)

# A card status that is no severity: a card of an interrupted run whose links were not all
# checked and none of those checked fails. No problem has it, and --fail-on cannot name it.
UNCHECKED = "unchecked"
# Every status a card can have in a report, the least worrying first.
CARD_STATUSES: tuple[str, ...] = (Severity.OK.label, UNCHECKED, *STATUS_LABELS[1:])

# The statuses that fail (streaks, trends, the dashboard's chart), in rising severity. An invalid
# card is the card's own fault: it must be fixed, but no link of it failed.
FAILING: tuple[str, ...] = (Severity.ROTTED.label, Severity.BROKEN.label)


def worst(kinds: Iterable[Kind]) -> Severity:
    """A card's (or URL's) status: the worst severity among its problems, OK if none."""
    return max((k.severity for k in kinds), default=Severity.OK)
