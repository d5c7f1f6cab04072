"""Google AMP Cache URLs, computed offline, and the signs that a card's AMP links have retired.

The cache URL rules follow amp-toolbox's `@ampproject/toolbox-cache-url`
(ampproject/amp-toolbox, packages/cache-url/lib/AmpCurlUrlGenerator.js and
AmpCacheUrlGenerator.js), whose published test vectors are in tests/test_amp.py:

1. Take the origin host, lowercased (url-parse lowercases it), and punycode-decode each `xn--`
   label to Unicode.
2. Replace every `-` with `--`, then every `.` with `-`; punycode-encode the result (one label)
   and lowercase it.
3. Fall back to a hash when the human-readable form cannot be a DNS label: the host is longer
   than 63 characters, has no dot, mixes left-to-right and right-to-left characters, or has
   `--` at positions 3-4 without being an `xn--` label; or the encoded label is longer than 63.
   The fallback is the SHA-256 of the host, base32 (RFC 4648 alphabet, lowercase, unpadded):
   52 characters.
4. A human-readable label with `--` at positions 3-4 that is not `xn--` (e.g. `en-us.example.com`
   -> `en--us-example-com`) is wrapped as `0-...-0`. The reference wraps after its 63-character
   test, so a wrapped label may be 66 characters long; we reproduce that exactly.

Differences from the reference, both deliberate:
- Unicode hosts are first spelled in ASCII (punycode), so one host has one cache label however a
  card spells it. For ASCII hosts, which is what the vectors test, the result is identical.
- The serving type (`/c/` document, `/i/` image, `/r/` resource, `/v/` viewer) is a parameter.
  The reference guesses it from the path's extension, and its font test matches bare suffixes
  (a story at `/news/story-75` would become a `/r/` font URL), so we never guess.

The cache's "silent redirect" (see `silent_redirect`) and the publisher's own AMP -> canonical
redirect (see `amp_retired`) are how a card's AMP links go stale; both are warnings, not rot:
the story is still there, on its canonical URL.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from crawler.web.urls import (
    DEFAULT_PORTS,
    ascii_host,
    comparable_host,
    comparable_url,
    unicode_host,
)

GOOGLE_CACHE_DOMAIN = "cdn.ampproject.org"
MAX_LABEL = 63

# The reference's character classes (UTF-16 code units there; the same ranges of code points
# here, and astral characters are in neither class in both).
_LTR_CHARS = (
    "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02b8\u0300-\u0590\u0800-\u1fff"
    "\u200e\u2c00-\ufb1c\ufe00-\ufe6f\ufefd-\uffff"
)
_RTL_CHARS = "\u0591-\u06ef\u06fa-\u07ff\u200f\ufb1d-\ufdff\ufe70-\ufefc"
_HAS_LTR = re.compile(f"[{_LTR_CHARS}]")
_HAS_RTL = re.compile(f"[{_RTL_CHARS}]")


class Serving(StrEnum):
    """The path letter of a cache URL: what the cache serves the resource as."""

    DOCUMENT = "c"
    IMAGE = "i"
    RESOURCE = "r"  # fonts and other resources
    VIEWER = "v"


# ---------------------------------------------------------------------------------------------
# Hosts


def _invalid_hyphen34(text: str) -> bool:
    return text[2:4] == "--" and text[:2] != "xn"


def _eligible(domain: str) -> bool:
    """Can `domain` (ASCII, lowercase) have a human-readable cache label?"""
    if _invalid_hyphen34(domain):
        return False
    unicode = unicode_host(domain)
    mixed = bool(_HAS_LTR.search(unicode)) and bool(_HAS_RTL.search(unicode))
    return len(domain) <= MAX_LABEL and not mixed and "." in domain


def _human_readable(domain: str) -> str:
    unicode = unicode_host(domain)
    return ascii_host(unicode.replace("-", "--").replace(".", "-")).lower()


def hash_label(domain: str) -> str:
    """The fallback label: base32 (lowercase, unpadded) of SHA-256 of the host, 52 characters."""
    digest = hashlib.sha256(domain.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def amp_cache_host(origin_host: str) -> str:
    """The cache subdomain label for an origin host: `www.example.com` -> `www-example-com`.

    Raises ValueError for an empty host or an `xn--` label that is not valid punycode (the
    reference throws there too).
    """
    host = origin_host.strip().lower()
    if host.startswith("[") and host.endswith("]"):  # IPv6 literal: no dot, so the hash
        host = host[1:-1]
    if not host:
        raise ValueError("empty host")
    domain = ascii_host(host).lower()
    if not _eligible(domain):
        return hash_label(domain)
    label = _human_readable(domain)
    if len(label) > MAX_LABEL:
        return hash_label(domain)
    if _invalid_hyphen34(label):
        label = f"0-{label}-0"
    return label


# ---------------------------------------------------------------------------------------------
# URLs


def amp_cache_url(
    amp_url: str,
    cache_domain: str = GOOGLE_CACHE_DOMAIN,
    serving: Serving = Serving.DOCUMENT,
) -> str:
    """The cache URL of an AMP page (or of an image, with `serving=Serving.IMAGE`).

    `https://<label>.<cache_domain>/<c|i|r|v>[/s]/<host><path>[?query][#fragment]`, `/s/` for
    https origins. The origin's port is dropped, as the reference does (the cache only fetches
    default ports). The host in the path is spelled as in `amp_url` (lowercased).
    """
    parts = urlsplit(amp_url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"not an http(s) URL: {amp_url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"a URL without a host: {amp_url!r}")
    label = amp_cache_host(host)
    secure = "/s" if scheme == "https" else ""
    path_host = f"[{host}]" if ":" in host else host
    url = f"https://{label}.{cache_domain}/{serving.value}{secure}/{path_host}{parts.path}"
    if parts.query:
        url += f"?{parts.query}"
    if parts.fragment:
        url += f"#{parts.fragment}"
    return url


_CACHE_PATH = re.compile(r"^/([circv])(/s)?/([^/?#]+)(.*)$", re.DOTALL)


def _comparable_cache_url(url: str) -> str:
    """comparable_url, plus the origin host inside the cache path lowercased and in ASCII."""
    normal = comparable_url(url)
    parts = urlsplit(normal)
    found = _CACHE_PATH.match(parts.path)
    if not found:
        return normal
    letter, secure, origin_host, rest = found.groups()
    path = f"/{letter}{secure or ''}/{comparable_host(origin_host)}{rest or '/'}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{path}{query}"


def check_cdn_amp(
    amp_url: str, cdn_amp_url: str, cache_domain: str = GOOGLE_CACHE_DOMAIN
) -> str | None:
    """None when the card's cdnAmpWebUrl is the cache URL of its ampWebUrl, else why not.

    Compared normalised (scheme and host case, default ports, the origin host inside the cache
    path, an empty path as `/`, fragments ignored).
    """
    try:
        expected = amp_cache_url(amp_url, cache_domain)
    except ValueError as exc:
        return f"cannot derive the AMP cache URL of ampWebUrl {amp_url}: {exc}"
    if _comparable_cache_url(expected) == _comparable_cache_url(cdn_amp_url):
        return None
    return f"expected {expected}, card has {cdn_amp_url}"


# ---------------------------------------------------------------------------------------------
# Retired AMP


# "amp" as a word of the URL: /amp/, .amp.html, -amp.asp, ?amp=1, outputType=amp, _amp=true,
# amphtml=1, template=ampart, amp.example.com, /google-amp/. Not "ampere", "champ", "example".
_AMP_MARKER = re.compile(r"(?<![a-z])amp(?:html|art)?(?![a-z])")


def has_amp_marker(url: str) -> bool:
    """Does the URL say it is an AMP page (host label, path or query)?"""
    parts = urlsplit(url.lower())
    return bool(_AMP_MARKER.search(f"{parts.hostname or ''}/{parts.path}?{parts.query}"))


def _same_page(a: str, b: str) -> bool:
    """The same URL up to scheme, default port, fragment and a trailing slash."""
    na, nb = comparable_url(a).split("://", 1)[-1], comparable_url(b).split("://", 1)[-1]
    return na.rstrip("/") == nb.rstrip("/") or na == nb


def amp_retired(amp_url: str, final_url: str | None, web_url: str | None = None) -> str | None:
    """Why the card's ampWebUrl no longer is an AMP page, from where its redirects ended; or None.

    Retired when the redirects end on the card's webUrl (the canonical page), or when the AMP
    URL carries an AMP marker (see `has_amp_marker`) and the final URL has none. A redirect
    that keeps the marker (http -> https, a moved AMP page) is not retirement. Whether the final
    page is healthy is for the other checks (a redirect to the home page is redirect_to_home).
    """
    if not final_url or final_url == amp_url or _same_page(amp_url, final_url):
        return None  # (most AMP pages do not redirect: no need to normalise both)
    if web_url and _same_page(final_url, web_url):
        return f"the AMP page now redirects to the card's canonical page {final_url}"
    if has_amp_marker(amp_url) and not has_amp_marker(final_url):
        return f"the AMP page now redirects to a non-AMP page {final_url}"
    return None


@dataclass(frozen=True, slots=True)
class SilentRedirect:
    """The Google AMP Cache declining to serve a document: a 200 that means "go to the origin"."""

    location: str | None  # where the cache sends the reader (the origin URL)
    reason: str | None  # the cache's Warning header, e.g. 199 - "Failed to validate PCU."

    @property
    def detail(self) -> str:
        where = f" to {self.location}" if self.location else ""
        why = f" ({self.reason})" if self.reason else ""
        return f"the AMP cache no longer serves this page, it sends readers{where}{why}"


def silent_redirect(status: int | None, headers: Mapping[str, str]) -> SilentRedirect | None:
    """The cache's soft redirect, from one response's status and headers; None otherwise.

    The Google AMP Cache answers `200` with `x-silent-redirect: true`, a `location:` header with
    the origin URL and a `warning: 199 - "<reason>"` header when it will not serve the document
    from the cache (typically: the origin page is no longer valid AMP). It is a 200, so a
    redirect-following client does not see it. Source: the cache maintainer's curl transcript in
    ampproject/amphtml#36471 (2021-11-01). Header names are matched case-insensitively.
    """
    if status != 200:
        return None
    lowered = {name.lower(): value for name, value in headers.items()}
    if lowered.get("x-silent-redirect", "").strip().lower() != "true":
        return None
    return SilentRedirect(
        location=(lowered.get("location") or "").strip() or None,
        reason=(lowered.get("warning") or "").strip() or None,
    )


__all__ = [
    "GOOGLE_CACHE_DOMAIN",
    "Serving",
    "SilentRedirect",
    "amp_cache_host",
    "amp_cache_url",
    "amp_retired",
    "check_cdn_amp",
    "has_amp_marker",
    "hash_label",
    "silent_redirect",
]
