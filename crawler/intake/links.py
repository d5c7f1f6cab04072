"""Which card fields hold URLs, which are valid, and how relative ones resolve.

Pure functions over the parsed front matter: no I/O. Problems come back as values. How a valid
URL is spelled is crawler.web.urls' (`normalise_url`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple
from urllib.parse import urljoin

from crawler.model import Kind, Link, LinkKind, Problem
from crawler.text import preview, safe_text
from crawler.web.urls import (
    SCHEME,
    WEB_SCHEMES,
    normalise_common_url,
    normalise_url,
    split_authority,
    split_host_port,
    split_refusal,
    strip_fragment,
)

# Page fields, in the order they are reported.
PAGE_FIELDS: tuple[str, ...] = ("webUrl", "originalUrl", "ampWebUrl", "cdnAmpWebUrl")
# A related item is a small copy of another card; `url` is accepted for hand-written ones.
RELATED_PAGE_FIELDS: tuple[str, ...] = ("webUrl", "originalUrl", "url", "ampWebUrl", "cdnAmpWebUrl")

_PORT = re.compile(r"[0-9]{1,5}")
# Whitespace anywhere (\s is Unicode-aware: U+00A0, U+2028, U+202F...) and C0/DEL/C1 controls.
_BAD_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_HOST_FORBIDDEN = re.compile(r'[<>"\\^`{|}]')
# What a browser strips from both ends of a URL before parsing it (WHATWG: C0 control or space).
SURROUNDING = "".join(chr(c) for c in range(0x21))
_MAX_SHOWN = 80
# Longer URLs are invalid: servers refuse them (414) well before this, and a card of 1 MB URLs
# must not become 1 MB problems and requests. The longest URL of 2,000 real cards has 561.
MAX_URL_CHARS = 8_192
# A declared image size above this is not a size (and would not fit the store's integers).
MAX_DIMENSION = 2**31 - 1


class UrlForm(StrEnum):
    ABSOLUTE = "absolute"  # http(s) with a host
    PROTOCOL_RELATIVE = "protocol-relative"  # //host/path: takes the base URL's scheme, or https
    RELATIVE = "relative"  # /path or path: needs a base URL
    INVALID = "invalid"


class Classification(NamedTuple):
    form: UrlForm
    reason: str | None = None  # why it is INVALID, phrased to follow "is not a valid URL: "


def show(value: Any) -> str:
    """A value as a maintainer should see it in a problem: repr, cut to about 80 characters.

    Never the repr of a whole value: a 1 KB YAML alias bomb expands to gigabytes."""
    if isinstance(value, str):
        return repr(value if len(value) <= _MAX_SHOWN else value[: _MAX_SHOWN - 3] + "...")
    return preview(value, _MAX_SHOWN)


def is_absent(value: Any) -> bool:
    """Null, empty or blank: an optional URL field that is simply not there."""
    return value is None or (isinstance(value, str) and not value.strip(SURROUNDING))


def describe_char(ch: str) -> str:
    """'space (U+0020)', 'control character (U+0009)'."""
    return f"{unicodedata.name(ch, 'control character').lower()} (U+{ord(ch):04X})"


# ---------------------------------------------------------------------------------------------
# One URL


def classify_url(raw: str) -> Classification:
    """Absolute http(s), protocol-relative, relative, or invalid with the precise reason."""
    if raw == "":
        return Classification(UrlForm.INVALID, "it is empty")
    if len(raw) > MAX_URL_CHARS:
        return Classification(
            UrlForm.INVALID,
            f"it has {len(raw):,} characters, more than the {MAX_URL_CHARS:,} allowed",
        )
    bad = _BAD_CHAR.search(raw)
    if bad:
        at = bad.start()
        near = raw[max(0, at - 25) : at + 25]  # the value shown may be cut before it
        what = f"it contains a {describe_char(bad.group())} at position {at}, in {near!r}"
        return Classification(UrlForm.INVALID, what)
    scheme = SCHEME.match(raw)
    if scheme:
        return _classify_with_scheme(raw, scheme)
    if raw.startswith("//"):
        reason = _authority_problem(raw[2:])
        return Classification(UrlForm.INVALID if reason else UrlForm.PROTOCOL_RELATIVE, reason)
    if raw[:4].lower() == "www.":
        # Resolving it would silently check a path on the base site instead.
        return Classification(
            UrlForm.INVALID, f"it has no scheme (did you mean 'https://{safe_text(raw[:60])}'?)"
        )
    return Classification(UrlForm.RELATIVE)


def _classify_with_scheme(raw: str, scheme: re.Match[str]) -> Classification:
    name = scheme.group(1)
    if name.lower() not in WEB_SCHEMES:
        return Classification(
            UrlForm.INVALID,
            f"scheme '{preview(name, _MAX_SHOWN)}:' is not http or https, so it cannot be checked",
        )
    rest = raw[scheme.end() :]
    if not rest.startswith("//"):
        return Classification(
            UrlForm.INVALID, f"'{preview(name, _MAX_SHOWN)}:' must be followed by '//' and a host"
        )
    reason = _authority_problem(rest[2:])
    return Classification(UrlForm.INVALID if reason else UrlForm.ABSOLUTE, reason)


def _authority_problem(rest: str) -> str | None:
    authority, _ = split_authority(rest)
    userinfo, at, hostport = authority.rpartition("@")
    if hostport.startswith("[") and "]" not in hostport:
        return f"the IPv6 host {show(hostport)} has no closing ']'"
    host, port = split_host_port(hostport)
    if not host:
        return "it has no host"
    forbidden = _HOST_FORBIDDEN.search(host)
    if forbidden:
        return f"the host {show(host)} contains {forbidden.group()!r}"
    if port and (not _PORT.fullmatch(port) or int(port) > 65535):
        return f"the port {show(port)} is not a number from 0 to 65535"
    return _bracket_problem(userinfo, at, host)


def _bracket_problem(userinfo: str, at: str, host: str) -> str | None:
    """Brackets that host_key could not split (the scheduler keys every URL with it)."""
    refused = split_refusal(f"{userinfo}{at}{host.lower()}")  # as normalise_url spells it
    if refused is None:
        return None
    if host.startswith("[") and not any(c in userinfo for c in "[]"):
        return f"the host {show(host)} is not an IP address in brackets ({refused})"
    return "square brackets may only enclose an IPv6 host, as in 'http://[::1]/'"


def resolve_relative(raw: str, base_url: str) -> str:
    """Join a relative URL to the site's base URL the way Jekyll's `absolute_url` does.

    The base URL is the site's url + baseurl (e.g. https://everyday-cc.github.io/ai), and a
    root-relative '/assets/x.jpg' lives under it: .../ai/assets/x.jpg. A plain urljoin would
    drop the '/ai' and check a URL the site never serves.
    """
    base = strip_fragment(base_url).partition("?")[0]
    base = base if base.endswith("/") else base + "/"
    try:
        return urljoin(base, raw.lstrip("/"))
    except ValueError:  # urljoin refuses some odd bases ('http://[x/'): join them as text
        return base + raw.lstrip("/")


def _base_scheme(base_url: str | None) -> str:
    match = SCHEME.match(base_url or "")
    scheme = match.group(1).lower() if match else ""
    return scheme if scheme in WEB_SCHEMES else "https"


# ---------------------------------------------------------------------------------------------
# All the URLs of one card


class _Collector:
    """Walks the URL-bearing fields of a card, gathering Links and Problems in field order."""

    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url
        self.links: list[Link] = []
        self.problems: list[Problem] = []

    def problem(self, kind: Kind, field: str, detail: str, url: str | None = None) -> None:
        if url is not None and len(url) > MAX_URL_CHARS:
            url = preview(url, MAX_URL_CHARS)  # the problem's detail already says how long
        self.problems.append(Problem(kind=kind, detail=detail, field=field, url=url))

    def invalid_field(self, field: str, detail: str) -> None:
        self.problem(Kind.CARD_INVALID_FIELD, field, detail)

    def resolve(self, raw: Any, field: str) -> str | None:
        """The value as an absolute normalised URL; None if absent or a problem was noted."""
        if is_absent(raw):
            return None
        if not isinstance(raw, str):
            self.invalid_field(field, f"{field} must be a URL in quotes, got {show(raw)}")
            return None
        value = self._strip(raw, field)
        simple = normalise_common_url(value) if len(value) <= MAX_URL_CHARS else None
        if simple is not None:
            return simple
        form, reason = classify_url(value)
        if form is UrlForm.INVALID:
            detail = f"{field} {show(raw)} is not a valid URL: {reason}"
            self.problem(Kind.INVALID_URL, field, detail, url=raw)
            return None
        if form is UrlForm.PROTOCOL_RELATIVE:
            return normalise_url(f"{_base_scheme(self.base_url)}:{value}")
        if form is UrlForm.RELATIVE:
            if self.base_url is None:
                detail = (
                    f"{field} {show(raw)} is a relative URL and no base_url is configured"
                    " (set links.base_url or --base-url)"
                )
                self.problem(Kind.RELATIVE_URL_UNRESOLVED, field, detail, url=raw)
                return None
            return normalise_url(resolve_relative(value, self.base_url))
        return normalise_url(value)

    def _strip(self, raw: str, field: str) -> str:
        """Drop what a browser drops around a URL (a real card ends in a tab), with a warning."""
        value = raw.strip(SURROUNDING)
        if value != raw:
            leading = raw[: len(raw) - len(raw.lstrip(SURROUNDING))]
            where, chars = ("starts", leading) if leading else ("ends", raw[len(value) :])
            detail = (
                f"{field} {show(raw)} {where} with a {describe_char(chars[0])};"
                " it was dropped and the URL checked without it"
            )
            self.problem(Kind.CARD_CONTROL_CHARACTER, field, detail, url=raw)
        return value

    def add(
        self,
        raw: Any,
        field: str,
        kind: LinkKind,
        dims: tuple[int | None, int | None] = (None, None),
    ) -> str | None:
        url = self.resolve(raw, field)
        if url is not None:
            self.links.append(Link(field, url, kind, dims[0], dims[1]))
        return url

    # -- containers ---------------------------------------------------------------------------

    def pages(self, item: Mapping[str, Any], prefix: str, fields: tuple[str, ...]) -> None:
        web = item.get("webUrl")
        web_url = self.add(web, f"{prefix}webUrl", LinkKind.PAGE)
        for name in fields:
            if name == "webUrl":
                continue
            value = item.get(name)
            if name == "originalUrl" and self._same_as_web(value, web, web_url, f"{prefix}{name}"):
                continue
            self.add(value, f"{prefix}{name}", LinkKind.PAGE)

    def _same_as_web(self, original: Any, web: Any, web_url: str | None, field: str) -> bool:
        """originalUrl repeats webUrl on most cards: report and check it once."""
        if isinstance(original, str) and isinstance(web, str) and original.strip() == web.strip():
            return True
        if web_url is None or not isinstance(original, str):
            return False
        probe = _Collector(self.base_url)  # resolve quietly; the real pass reports problems
        return probe.resolve(original, field) == web_url

    def images(self, value: Any, field: str) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            self.invalid_field(
                field, f"{field} must be a list of images (- url: ...), got {show(value)}"
            )
            return
        for index, item in enumerate(value):
            self.image(item, f"{field}[{index}]")

    def image(self, item: Any, field: str) -> None:
        if not isinstance(item, Mapping):
            detail = f"{field} must be a mapping with url, width and height, got {show(item)}"
            self.invalid_field(field, detail)
            return
        url = item.get("url")
        width = self.dimension(item, field, "width")
        height = self.dimension(item, field, "height")
        if is_absent(url):
            self.problem(Kind.CARD_MISSING_FIELD, f"{field}.url", f"{field} has no url")
            return
        self.add(url, f"{field}.url", LinkKind.IMAGE, (width, height))

    def dimension(self, item: Mapping[str, Any], field: str, name: str) -> int | None:
        value = item.get(name)
        if value is None:
            return None
        whole = isinstance(value, int) and not isinstance(value, bool)  # YAML's true is an int
        if whole and 0 < value <= MAX_DIMENSION:
            return int(value)
        what = "a whole number"
        if whole:
            what = "a positive whole number" if value <= 0 else f"at most {MAX_DIMENSION:,}"
        self.invalid_field(f"{field}.{name}", f"{field}.{name} must be {what}, got {show(value)}")
        return None

    def provider(self, value: Any, field: str) -> None:
        if value is None:
            return
        if not isinstance(value, Mapping):
            detail = f"{field} must be a mapping (name, domain, images), got {show(value)}"
            self.invalid_field(field, detail)
            return
        self.images(value.get("images"), f"{field}.images")

    def item(self, item: Mapping[str, Any], prefix: str, fields: tuple[str, ...]) -> None:
        self.pages(item, prefix, fields)
        self.images(item.get("images"), f"{prefix}images")
        self.provider(item.get("provider"), f"{prefix}provider")

    def related(self, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            self.invalid_field("related", f"related must be a list of cards, got {show(value)}")
            return
        for index, entry in enumerate(value):
            prefix = f"related[{index}]"
            if not isinstance(entry, Mapping):
                detail = f"{prefix} must be a mapping (title, webUrl, ...), got {show(entry)}"
                self.invalid_field(prefix, detail)
                continue
            self.item(entry, f"{prefix}.", RELATED_PAGE_FIELDS)


def extract_links(
    fm: Mapping[str, Any], *, base_url: str | None, include_related: bool
) -> tuple[list[Link], list[Problem]]:
    """Every URL a card points at, in field order, and what is wrong with those that cannot be used.

    Order: webUrl, originalUrl (when it differs from webUrl), ampWebUrl, cdnAmpWebUrl,
    images[i].url, provider.images[i].url, then (with include_related) each related[i] likewise.
    """
    collector = _Collector(base_url)
    collector.item(fm, "", PAGE_FIELDS)
    if include_related:
        collector.related(fm.get("related"))
    return collector.links, collector.problems
