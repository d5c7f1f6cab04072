"""Redirect to home: a deep article URL whose redirects end on the site root or a section root
(`redirect_to_home`) means the article is gone. Look-alikes it must not flag: a deep URL moved
to another deep URL; AMP -> canonical; login, consent and paywall gates. Also what a site root
looks like (`is_site_root`), which the soft-404 check asks too. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

from crawler.web.urls import same_address, site_key

# The file extensions of a page ("story.html", "index.php"): not part of its name.
PAGE_EXTENSION = re.compile(r"\.(html?|php\d?|aspx?|jsp|cfm|shtml|htm)$", re.IGNORECASE)
_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ref|referrer|source|src|from|cmpid|ocid|amp|_amp)$",
    re.IGNORECASE,
)
_INDEX = re.compile(r"^(index|default|home|start)(\.\w+)?$", re.IGNORECASE)
_LOCALE = re.compile(r"^[a-z]{2}([-_][a-z]{2,4})?$", re.IGNORECASE)
_ID_PARAMS = frozenset({"p", "id", "story", "article", "aid", "storyid", "articleid", "page_id"})


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _only_tracking(query: str) -> bool:
    return all(_TRACKING.match(name) for name, _ in parse_qsl(query, keep_blank_values=True))


def is_site_root(url: str) -> bool:
    """The home page: `/`, an index file, or a locale root (`/en/`, `/en-us/`), with no query
    other than tracking parameters. `/?p=123` (a WordPress post) is not a root."""
    parts = urlsplit(url)
    if parts.query and not _only_tracking(parts.query):
        return False
    segments = _segments(parts.path)
    if not segments:
        return True
    if len(segments) == 1 and (_INDEX.match(segments[0]) or _LOCALE.match(segments[0])):
        return True
    return (
        len(segments) == 2 and bool(_LOCALE.match(segments[0])) and bool(_INDEX.match(segments[1]))
    )


def _slug_like(segment: str) -> bool:
    """An article-ish path segment: long, several hyphenated words, or a long number."""
    stem = PAGE_EXTENSION.sub("", segment)
    return (
        len(stem) >= 16
        or stem.count("-") + stem.count("_") >= 2
        or bool(re.search(r"\d{5,}", stem))
    )


def _is_deep(url: str) -> bool:
    """A URL that names one article, not a site or section."""
    parts = urlsplit(url)
    segments = _segments(parts.path)
    if len(segments) >= 2:
        return True
    if len(segments) == 1:
        return _slug_like(segments[0])
    return any(name.lower() in _ID_PARAMS for name, _ in parse_qsl(parts.query))


_TRIVIAL = re.compile(
    r"^(amp|amp\.html?|index(\.\w+)?|default(\.\w+)?|print|full|all|page|\d{1,3})$",
    re.IGNORECASE,
)


def _slug(url: str) -> str | None:
    """The segment that names the article: the longest slug-like one, else the last that is not
    a variant marker (`amp`, `index.html`, `print`, a page number)."""
    segments = _segments(urlsplit(url).path)
    slugs = [s for s in segments if _slug_like(s)]
    if slugs:
        return max(slugs, key=len)
    named = [s for s in segments if not _TRIVIAL.match(s)]
    return named[-1] if named else (segments[-1] if segments else None)


_GATES = frozenset(
    {
        "login", "signin", "sign-in", "log-in", "account", "subscribe", "subscription",
        "register", "auth", "consent", "gdpr", "privacy", "paywall", "cookies", "captcha",
        "unsupported", "unavailable", "blocked", "geoblock",
    }
)  # fmt: skip


def redirect_to_home(
    original_url: str, final_url: str | None, hops: Sequence[object]
) -> str | None:
    """Why a deep URL's redirects ending on `final_url` mean the article is gone, or None.

    Gone when the article URL (>= 2 path segments, a long slug, or an id query) ends on the site
    root (any host: a retired domain sending everything to its new owner's home page counts),
    or on a section root: a shorter path without the article's slug that is a prefix of the
    original path, or a single short segment (`/news/`). Not gone: a redirect to another
    article URL, AMP -> canonical (the slug stays), login/consent/paywall gates, or a target
    that carries the original path in its query (a "return to" link).

    `hops` are the redirects followed (crawler.model.Hop, or anything); only their count is
    used, for the detail.
    """
    if not final_url or not _is_deep(original_url):
        return None
    if same_address(original_url, final_url):
        return None
    original, final = urlsplit(original_url), urlsplit(final_url)
    same_site = site_key(original_url) == site_key(final_url)
    final_segments = [s.lower() for s in _segments(final.path)]
    if any(s in _GATES for s in final_segments):
        return None
    if original.path.strip("/") and original.path.strip("/") in unquote(final.query):
        return None
    via = f" after {len(hops)} redirect{'s' if len(hops) != 1 else ''}" if hops else ""
    host_note = "" if same_site else f" of {final.netloc}"
    if is_site_root(final_url):
        return f"the article URL ends on the home page{host_note} {final_url}{via}"
    slug = _slug(original_url)
    if slug is None or slug.lower() in (s.lower() for s in _segments(final.path)):
        return None
    original_segments = [s.lower() for s in _segments(original.path)]
    is_prefix = (
        same_site
        and len(final_segments) < len(original_segments)
        and original_segments[: len(final_segments)] == final_segments
    )
    shallow = not _is_deep(final_url) and not final.query
    if is_prefix or shallow:
        return f"the article URL ends on a section page{host_note} {final_url}{via}"
    return None
