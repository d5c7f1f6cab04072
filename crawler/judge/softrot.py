"""Soft rot: a link that answers 200 but no longer delivers the card's story. Pure functions.

Three detectors, each with the healthy look-alike it must not flag:

- soft 404: the host answers 200 for a page that is gone. Evidence: the page calls itself "not
  found" (`not_found_title`), or a probe URL (`probe_url`: same folder, random last segment)
  gets the same answer (same final URL, or near-identical visible text). Look-alikes: a host
  whose probe gets a real 404; the site root; a healthy article on a site that routes by id
  and ignores the slug, or on an app shell that renders in the browser (see soft_404_verdict).
- redirect to home: a deep article URL whose redirects end on the site root or a section root
  (`redirect_to_home`). Look-alikes: a deep URL moved to another deep URL; AMP -> canonical.
- content drift: the page's title is no longer the card's story (`title_similarity` below
  DRIFT_THRESHOLD). Look-alike: the same title with a site suffix ("Title | Site").

Soft redirects that a redirect-following client never sees: `meta_refresh_target` (an HTML
`<meta http-equiv="refresh">`), and the Google AMP Cache's 200 + `x-silent-redirect: true`
(crawler.judge.amp.silent_redirect). A caller can treat either as one more hop.
"""

from __future__ import annotations

import functools
import html
import re
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from random import Random
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from crawler.judge.html import choose_charset, decode_text

NEAR_IDENTICAL = 0.95
# Chosen on data: benchmarks/drift_threshold.py over the real cards (../shared/cards-corpus,
# 1,974 distinct titles). Same story, 11,795 pairs (a site suffix or prefix, one word dropped or
# replaced, truncation, case and quotes, an edit plus a suffix): min 0.667, 1st percentile
# 0.762, median 0.941. Different story, random pairs of titles (half with the other site's
# suffix), 1,974 pairs: max 0.696, 99th percentile 0.308. The middle of that gap is 0.535,
# rounded down to 0.50. Drift (similarity < 0.50): precision 1.000 (no same-story pair
# flagged), recall 0.998 on random pairs, 0.763 on each title's most word-sharing other title
# (same topic, often the same event told by two pages), 0.880 over both.
DRIFT_THRESHOLD = 0.5

_MAX_TEXT_BYTES = 512 * 1024
_HEAD_BYTES = 64 * 1024
_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")
_SHINGLE = 3


# ---------------------------------------------------------------------------------------------
# Visible text
#
# A small tokenizer of our own rather than html.parser: on some malformed markup ("<a<a<a..."
# without a '>') the standard parser re-scans the rest of the page for every '<', and one
# 500 KB page took minutes of the event loop. Every pattern below consumes what it matches, so
# a page is read in one pass whatever it holds.

_MARKUP = re.compile(
    r"<!--.*?(?:-->|\Z)"  # a comment; an unclosed one runs to the end, as in a browser
    r"|<[!?][^>]*>?"  # doctype, CDATA, processing instruction
    r"|<(/?)([A-Za-z][^\t\n\r\f />\x00]*)([^>]*)>?",  # a start or end tag, attributes and all
    re.DOTALL,
)
# script and style hold raw text up to their end tag: nothing inside is markup
_RAW_TEXT_END = {
    name: re.compile(rf"</{name}\b[^>]*>?", re.IGNORECASE) for name in ("script", "style")
}
_HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object"})


def decode_html(body: bytes, content_type: str | None = None, limit: int = _MAX_TEXT_BYTES) -> str:
    """The first `limit` bytes of an HTML body as valid text (charset and decoding as
    crawler.judge.html reads them)."""
    head = body[:limit]
    return decode_text(head, choose_charset(head[:_HEAD_BYTES], content_type))


@dataclass(slots=True)
class _Text:
    """The text a reader sees (outside script, style and other never-rendered elements), in
    pieces, and the text of the first h1."""

    parts: list[str]
    h1: str | None = None


def _read_text(text: str) -> _Text:
    found = _Text([])
    hidden = 0
    h1_parts: list[str] | None = None
    pos = 0
    while True:
        tag = _MARKUP.search(text, pos)
        data = text[pos : tag.start() if tag else len(text)]
        if data and not hidden:
            data = html.unescape(data)
            found.parts.append(data)
            if h1_parts is not None:
                h1_parts.append(data)
        if tag is None:
            break
        pos = tag.end()
        closing, name, rest = tag.group(1), tag.group(2), tag.group(3) or ""
        if name is None:
            continue  # a comment, a doctype
        name = name.lower()
        if not closing and name in _RAW_TEXT_END:
            end = _RAW_TEXT_END[name].search(text, pos)
            if end is None:
                break  # an unclosed script hides the rest of the page
            pos = end.end()
            continue
        if name in _HIDDEN:
            if not closing and not rest.endswith("/"):
                hidden += 1
            elif closing and hidden:
                hidden -= 1
        elif name == "h1" and not closing and found.h1 is None and h1_parts is None:
            h1_parts = []
        elif name == "h1" and closing and h1_parts is not None:
            found.h1 = _SPACE.sub(" ", "".join(h1_parts)).strip() or None
            h1_parts = None
    return found


def _parse(body: bytes, content_type: str | None) -> _Text:
    return _read_text(decode_html(body, content_type))


def visible_text_tokens(html_body: bytes, content_type: str | None = None) -> list[str]:
    """Lowercase word tokens of the text a reader sees (title included; script, style,
    noscript, template, svg, iframe and object left out), from the first 512 KB.

    Words are Unicode `\\w+` runs, casefolded; scripts written without spaces (Chinese,
    Japanese) give one token per run, which is coarse but stable for comparing two pages.
    """
    return [t.casefold() for t in _WORD.findall(" ".join(_parse(html_body, content_type).parts))]


def first_h1(html_body: bytes, content_type: str | None = None) -> str | None:
    """The text of the page's first <h1>, for not_found_title."""
    return _parse(html_body, content_type).h1


def _shingles(tokens: Sequence[str], size: int = _SHINGLE) -> set[tuple[str, ...]]:
    if len(tokens) < size:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def token_similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Jaccard similarity of the two texts' sets of word 3-shingles (Broder's resemblance).

    Shingles rather than single words: a 404 template and an article on one site share most of
    their words (navigation, footer) but few 3-word runs, while two answers of one template
    differ only around what changes (a timestamp, an echoed path). Two empty texts are
    identical (1.0); an empty and a non-empty one share nothing (0.0).
    """
    sa, sb = _shingles(a), _shingles(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


# ---------------------------------------------------------------------------------------------
# Probe URLs


def _split_last(path: str) -> tuple[str, str, str]:
    """(directory, last segment, trailing slash) of a path: /a/b/c/ -> ('/a/b/', 'c', '/')."""
    trailing = "/" if path.endswith("/") and path != "/" else ""
    stem = path[:-1] if trailing else path
    directory, _, last = stem.rpartition("/")
    return f"{directory}/", last, trailing


_EXTENSION = re.compile(r"\.(html?|php\d?|aspx?|jsp|cfm|shtml|htm)$", re.IGNORECASE)


def probe_url(url: str, rng: Random) -> str:
    """The URL of a page that cannot exist, in the same folder: the last path segment replaced by
    25 random lowercase letters, its extension (.html, .php, ...) and trailing slash kept, the
    query and fragment dropped (an id in the query would pick a real page again)."""
    parts = urlsplit(url)
    directory, last, trailing = _split_last(parts.path or "/")
    ext = _EXTENSION.search(last)
    name = "".join(rng.choice(string.ascii_lowercase) for _ in range(25))
    path = f"{directory}{name}{ext.group(0) if ext else ''}{trailing}"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def probe_key(url: str) -> tuple[str, str]:
    """(host, directory) that a probe answers for: probe once per key, reuse the answer."""
    parts = urlsplit(url)
    return parts.netloc.lower(), _split_last(parts.path or "/")[0]


# ---------------------------------------------------------------------------------------------
# URL shapes

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
    stem = _EXTENSION.sub("", segment)
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
    original, final = urlsplit(original_url), urlsplit(final_url)
    if (original.netloc.lower(), original.path, original.query) == (
        final.netloc.lower(),
        final.path,
        final.query,
    ):
        return None
    final_segments = [s.lower() for s in _segments(final.path)]
    if any(s in _GATES for s in final_segments):
        return None
    if original.path.strip("/") and original.path.strip("/") in unquote(final.query):
        return None
    via = f" after {len(hops)} redirect{'s' if len(hops) != 1 else ''}" if hops else ""
    host_note = "" if final.netloc.lower() == original.netloc.lower() else f" of {final.netloc}"
    if is_site_root(final_url):
        return f"the article URL ends on the home page{host_note} {final_url}{via}"
    slug = _slug(original_url)
    if slug is None or slug.lower() in (s.lower() for s in _segments(final.path)):
        return None
    original_segments = [s.lower() for s in _segments(original.path)]
    is_prefix = (
        final.netloc.lower() == original.netloc.lower()
        and len(final_segments) < len(original_segments)
        and original_segments[: len(final_segments)] == final_segments
    )
    shallow = not _is_deep(final_url) and not final.query
    if is_prefix or shallow:
        return f"the article URL ends on a section page{host_note} {final_url}{via}"
    return None


# Linear on any page: a candidate <meta stops at the next '<' or '>', a quoted value at the next
# quote, '<' or '>', and an unclosed comment or noscript runs to the end (as in a browser).
_META_REFRESH = re.compile(
    r"<meta\b(?=[^<>]*\bhttp-equiv\s*=\s*[\"']?\s*refresh\b)[^<>]*\bcontent\s*=\s*"
    r"(?:\"([^\"<>]*)\"|'([^'<>]*)'|([^\s<>]+))",
    re.IGNORECASE,
)
_NOSCRIPT = re.compile(r"<noscript\b.*?(?:</noscript\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_REFRESH_DELAY = re.compile(r"\d*(?:\.\d*)?\s*[;,]?\s*(?:url\s*=\s*)?", re.IGNORECASE)
_WEB_SCHEMES = frozenset({"", "http", "https"})


def _refresh_url(content: str) -> str:
    """The URL part of a refresh's content ("5; URL='/next'" -> "/next"), or ""."""
    text = content.strip()
    delay = _REFRESH_DELAY.match(text)  # it matches the empty string: never None
    rest = text[delay.end() :] if delay else text
    if len(rest) >= 2 and rest[0] in "\"'" and rest.endswith(rest[0]):
        rest = rest[1:-1]
    elif rest[:1] in ('"', "'"):
        rest = rest[1:]
    return rest.strip()


def _web_target(target: str) -> bool:
    """A target a browser would load as a page: relative, or http(s). Not javascript:, data:,
    mailto:... (those send no one to a home page)."""
    try:
        return urlsplit(target).scheme.lower() in _WEB_SCHEMES
    except ValueError:
        return False


def meta_refresh_target(html_body: bytes, content_type: str | None = None) -> str | None:
    """The URL of a `<meta http-equiv="refresh" content="0; url=...">` in the page's first 64 KB,
    as written (resolve it against the page URL), or None.

    A refresh without a URL (a news page reloading itself every few minutes) is None; so is one
    inside <noscript> (only browsers without JavaScript follow it) or in a comment, and one to a
    URL that is no web page (javascript:, data:, mailto:...).
    """
    text = decode_html(html_body, content_type, limit=_HEAD_BYTES)
    text = _NOSCRIPT.sub(" ", _COMMENT.sub(" ", text))
    for found in _META_REFRESH.finditer(text):
        content = html.unescape(next(g for g in found.groups() if g is not None))
        target = _refresh_url(content)
        if target:
            return target if _web_target(target) else None
    return None


# ---------------------------------------------------------------------------------------------
# Titles


def _normalise(text: str) -> str:
    """NFKC, casefolded, apostrophes removed (can't -> cant), other punctuation as spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"['’‘`´]", "", text)
    return _SPACE.sub(" ", re.sub(r"[^\w]+", " ", text)).strip()


def title_tokens(text: str) -> list[str]:
    return _normalise(text).split()


# Separators between a headline and a site name: " | ", " - ", " – ", " — ", ": ", " · ", " » ",
# " :: ", " / ". A hyphen inside a word ("e-mail") or a colon without a space ("10:30") is not.
_AFFIX_SEPARATOR = re.compile(r"\s+[|\-–—·»/]\s+|\s*[|–—·»]\s*|\s+::\s+|:\s+")


def title_parts(title: str) -> list[str]:
    """The title split at site-name separators, non-empty parts."""
    return [p.strip() for p in _AFFIX_SEPARATOR.split(title) if p.strip()]


_NOT_FOUND_PATTERNS = [
    # English (the whole part must be one of these)
    r"(error )?404( error)?( page)?( not found)?( error)?",
    r"(error )?(404 )?(page|file|article|story|content|document|resource|url|post)?"
    r" ?(was |is )?not found( error)?( 404)?",
    r"(the |this )?(page|article|story|content|post|url) (you requested |you are looking for )?"
    r"(does not|doesnt|dont|no longer|cannot|cant|could not|couldnt) (exist|be found|found)",
    r"(sorry )?(this |the |that )?(page|article|story|content|video|post) (is |has been )?"
    r"(no longer available|not available|unavailable|removed|deleted|expired|gone)",
    r"(this |the )?(content|page|article|story) (is )?no longer (available|online|exists)",
    r"(oops )?(that |this )?page (cant|cannot|could not|couldnt) be found",
    r"nothing (was )?found( for .*)?",
    r"(we )?(cant|cannot|couldnt|could not) find (that|this|the) page",
    r"(sorry )?(the )?page you (are|were|re) looking for (cant|cannot|could not|couldnt|does not|"
    r"doesnt|is not|isnt|no longer) .*",
    r"page unavailable|page gone|gone|file not found|url not found",
    # French, German, Spanish, Italian, Dutch, Portuguese
    r"(erreur )?(404 )?page (introuvable|non trouvee|non trouvée|inexistante)",
    r"(la )?page (demandee |demandée )?(est )?introuvable|cette page nexiste pas",
    r"(fehler )?(404 )?seite (wurde )?nicht gefunden|(die )?seite existiert nicht",
    r"(error )?(404 )?p[aá]gina no encontrada|no se (encontro|encontró) la p[aá]gina",
    r"(errore )?(404 )?pagina non trovata|pagina non disponibile",
    r"(fout )?(404 )?pagina niet gevonden",
    r"(erro )?(404 )?p[aá]gina n[aã]o encontrada",
    # Russian, Polish, Turkish, Swedish, Danish/Norwegian, Arabic
    r"(ошибка )?(404 )?страница не найдена",
    r"(błąd )?(404 )?(nie znaleziono strony|strona nie (została )?znaleziona)",
    r"(hata )?(404 )?sayfa bulunamad[ıi]",
    r"sidan (kunde inte hittas|hittades inte)",
    r"siden (blev ikke fundet|finnes ikke|ble ikke funnet|findes ikke)",
    r"الصفحة غير موجودة",
    # Japanese, Chinese, Korean (no spaces)
    r"(お探しの)?ページ(が|は)見つかりません(でした)?",
    r"(找不到|无法找到|無法找到)(该|該)?(页面|頁面|网页|網頁)|(页面|頁面|网页|網頁)(不存在|未找到|找不到)",
    r"페이지를 찾을 수 없습니다",
]
_NOT_FOUND = re.compile(
    r"^(?:(?:oops|whoops|sorry|uh oh|ouch|hmm|error|http|erreur|fehler)\s+)*(?:"
    + "|".join(f"(?:{p})" for p in _NOT_FOUND_PATTERNS)
    + r")$"
)


def _says_not_found(text: str | None) -> bool:
    if not text:
        return False
    return any(_NOT_FOUND.match(_normalise(part)) for part in [text, *title_parts(text)])


def not_found_title(title: str | None, h1: str | None = None) -> bool:
    """Does the page call itself "not found" in its <title> or first <h1>?

    Only when a whole part of the title (split at " | ", " - ", ": " ...) is a not-found phrase
    ("404", "Error 404", "Page not found", "Seite nicht gefunden", "ページが見つかりません",
    "This content is no longer available", ...), so that "404 errors explained" or "Why the
    vaccine was not found in time" are not flagged. English, French, German, Spanish, Italian,
    Dutch, Portuguese, Russian, Polish, Turkish, Swedish, Danish/Norwegian, Arabic, Japanese,
    Chinese, Korean.
    """
    return _says_not_found(title) or _says_not_found(h1)


def _strip_words(tokens: list[str], words: set[str]) -> list[str]:
    return [t for t in tokens if t not in words]


@functools.lru_cache(maxsize=4096)
def _candidates(title: str, hints: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Token lists the title may stand for: whole; without a leading and/or trailing part
    (a site name) when what is dropped is shorter than what is kept; and each of those without
    the hinted site name's words.

    Cached (immutable result): a card's title is compared with each of its pages' titles, and
    a page title with the card's at fetch time, again for the archive and again when judging.
    """
    parts = title_parts(title)
    out = [title_tokens(title)]
    n = len(parts)
    for first, last in ((1, 0), (0, 1), (1, 1)):
        if n - first - last < 1:
            continue
        kept = title_tokens(" ".join(parts[first : n - last]))
        dropped = title_tokens(" ".join(parts[:first] + parts[n - last :]))
        if len(dropped) < len(kept):
            out.append(kept)
    hint_words = {w for h in hints for w in title_tokens(h)}
    if hint_words:
        out.extend(_strip_words(c, hint_words) for c in list(out))
    return tuple(tuple(c) for c in out if c)


def _dice(a: Sequence[str], b: Sequence[str]) -> float:
    sa, sb = set(a), set(b)
    if not sa or not sb:
        return 0.0
    return 2 * len(sa & sb) / (len(sa) + len(sb))


def title_similarity(card_title: str, page_title: str, provider: str | None = None) -> float:
    """How much the page's title is still the card's headline, 0..1.

    Both titles are normalised (NFKC, casefold, punctuation dropped) and may lose a site name:
    a leading or trailing part (split at " | ", " - ", " — ", ": " ...) shorter than the rest is
    tried without, and the words of `provider` (the card's provider name or domain, when known)
    are dropped. The score is
    the best Sørensen–Dice coefficient over word sets among those candidates (Dice rather than
    Jaccard: one replaced word in a ten-word headline keeps 0.9, not 0.82).
    """
    return _title_similarity(card_title, page_title, provider)


@functools.lru_cache(maxsize=4096)
def _title_similarity(card_title: str, page_title: str, provider: str | None) -> float:
    # cached: the rot check, the archive decision (run._wants_archive via content_drift) and
    # the judging ask about the same pair of titles
    hints: tuple[str, ...] = ()
    if provider:
        hints = (provider, re.sub(r"^www\.|\.[a-z.]+$", "", provider.lower()))
    cards = _candidates(card_title, hints)
    pages = _candidates(page_title, hints)
    if not cards or not pages:
        return 0.0
    return max(_dice(c, p) for c in cards for p in pages)


def content_drift(
    card_title: str, page_title: str | None, provider: str | None = None
) -> str | None:
    """The drift detail when the page's title is no longer the card's story, else None."""
    if not page_title:
        return None
    score = title_similarity(card_title, page_title, provider)
    if score >= DRIFT_THRESHOLD:
        return None
    return f"page title {page_title!r} is not the card's {card_title!r} (similarity {score:.2f})"


# ---------------------------------------------------------------------------------------------
# The soft-404 verdict


@dataclass(frozen=True, slots=True)
class PageSample:
    """What one fetch of a page (or of its probe) brought back."""

    final_url: str | None
    status: int | None
    title: str | None
    tokens: Sequence[str] = ()
    h1: str | None = None
    url: str | None = None  # the requested URL, when it differs from final_url


def _same_url(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.netloc.lower(), pa.path.rstrip("/") or "/", pa.query) == (
        pb.netloc.lower(),
        pb.path.rstrip("/") or "/",
        pb.query,
    )


def _url_words(*urls: str | None) -> set[str]:
    return {t.casefold() for u in urls if u for t in _WORD.findall(urlsplit(u).path)}


def soft_404_verdict(
    page: PageSample,
    probe: PageSample | None,
    *,
    card_title: str | None = None,
    threshold: float = NEAR_IDENTICAL,
) -> tuple[bool, str]:
    """(is a soft 404, why), for a page that answered 2xx.

    In order:
    1. Not a 2xx answer, or the site root: not a soft 404 (other checks own those).
    2. Its title still matches the card's title (title_similarity >= DRIFT_THRESHOLD, and the
       card's title is not itself a not-found phrase): not a soft 404, whatever the probe says.
       A gone page does not carry the story's headline; this also clears sites that route by
       id and ignore the slug, where the probe gets the very same article.
    3. Its title or h1 says "not found": soft 404.
    4. No probe, or a probe that got 404/410 (the host tells the truth about missing pages), or
       any other non-2xx (inconclusive): not a soft 404.
    5. The probe ended on the same final URL: soft 404.
    6. The visible text is near-identical to the probe's (token_similarity of word 3-shingles,
       words of both URL paths removed so an echoed path does not count, >= `threshold`):
       soft 404, unless the page's title differs from the probe's and is not a not-found title.
       That exception is the app shell (a one-page app that answers any path with the same
       body and renders in the browser): when the server at least sets a per-route title, the
       route is known to it. A shell whose answers are identical, title included, is flagged:
       over HTTP it is indistinguishable from a soft 404 (the detail says so); with the card's
       title matching, step 2 has already cleared it.
    """
    if page.status is None or not 200 <= page.status < 300:
        return False, "not a 2xx answer"
    if is_site_root(page.url or page.final_url or ""):
        return False, "the site root is never a soft 404"
    card_says_not_found = card_title is not None and not_found_title(card_title)
    if page.title and card_title and not card_says_not_found:
        score = title_similarity(card_title, page.title)
        if score >= DRIFT_THRESHOLD:
            return False, f"its title still matches the card's (similarity {score:.2f})"
    if not card_says_not_found and not_found_title(page.title, page.h1):
        said = page.title if not_found_title(page.title) else page.h1
        return True, f"the page says it is not found: {said!r}"
    if probe is None:
        return False, "no probe to compare with"
    if probe.status in (404, 410):
        return False, f"a random URL in the same folder gets HTTP {probe.status}: the 200 is real"
    if probe.status is None or not 200 <= probe.status < 300:
        status = "no answer" if probe.status is None else f"HTTP {probe.status}"
        return False, f"probe inconclusive ({status})"
    probe_name = probe.url or probe.final_url
    if _same_url(page.final_url, probe.final_url):
        return True, f"a random URL ({probe_name}) ends on the same page {page.final_url}"
    noise = _url_words(page.url, page.final_url, probe.url, probe.final_url)
    score = token_similarity(
        [t for t in page.tokens if t not in noise], [t for t in probe.tokens if t not in noise]
    )
    if score < threshold:
        return False, f"differs from a random URL's answer (similarity {score:.2f})"
    titles_differ = _normalise(page.title or "") != _normalise(probe.title or "")
    if titles_differ and page.title and not not_found_title(page.title):
        return False, (
            f"same body as a random URL's answer (similarity {score:.2f}) but its own title "
            f"{page.title!r}: an app shell that renders in the browser"
        )
    return True, (
        f"same answer as a random URL ({probe_name}): similarity {score:.2f} >= {threshold:.2f}"
        " (a removed page, or an app shell that only renders in the browser)"
    )


__all__ = [
    "DRIFT_THRESHOLD",
    "NEAR_IDENTICAL",
    "PageSample",
    "content_drift",
    "decode_html",
    "first_h1",
    "is_site_root",
    "meta_refresh_target",
    "not_found_title",
    "probe_key",
    "probe_url",
    "redirect_to_home",
    "soft_404_verdict",
    "title_parts",
    "title_similarity",
    "title_tokens",
    "token_similarity",
    "visible_text_tokens",
]
