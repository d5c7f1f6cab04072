"""Google AMP Cache URLs, spelled independently of crawler.judge.amp for the hosts the generator
uses (IPv4 literals and ASCII names): the judge has the full rules and is what gets tested."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from crawler.sim.headlines import card_digest

AMP_CACHE_DOMAIN: Final = "cdn.ampproject.org"
_AMP_MISMATCHES: Final = ("canonical", "secure", "legacy")
AMP_CACHE_NAMES: Final = (AMP_CACHE_DOMAIN, f"*.{AMP_CACHE_DOMAIN}")  # for make_certificates


def amp_cache_label(host: str) -> str:
    """The cache subdomain of an ASCII host: `-` doubled, then `.` as `-` (127.0.0.20 ->
    127-0-0-20)."""
    return host.lower().replace("-", "--").replace(".", "-")


def amp_cache_url(amp_url: str) -> str:
    """`https://<label>.cdn.ampproject.org/c[/s]/<host><path>[?query]` (the port is dropped)."""
    parts = urlsplit(amp_url)
    host = (parts.hostname or "").lower()
    secure = "/s" if parts.scheme == "https" else ""
    query = f"?{parts.query}" if parts.query else ""
    return f"https://{amp_cache_label(host)}.{AMP_CACHE_DOMAIN}/c{secure}/{host}{parts.path}{query}"


def wrong_amp_cache_url(amp_url: str, web_url: str, card_id: str) -> str:
    """A cache URL that is not the one of amp_url, in one of three real-world ways (chosen by the
    id): the cache URL of the canonical page, `/c/s/` for an http AMP page, or the old form on
    the bare cache domain (no per-host subdomain)."""
    variant = _AMP_MISMATCHES[card_digest("cdn", card_id)[0] % len(_AMP_MISMATCHES)]
    correct = amp_cache_url(amp_url)
    if variant == "canonical":
        return amp_cache_url(web_url)
    if variant == "secure" and urlsplit(amp_url).scheme == "http":
        return correct.replace("/c/", "/c/s/", 1)
    parts = urlsplit(correct)
    return f"https://{AMP_CACHE_DOMAIN}{parts.path}" + (f"?{parts.query}" if parts.query else "")
