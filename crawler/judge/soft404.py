"""Soft 404: the host answers 200 for a page that is gone. Pure functions.

Evidence: the page calls itself "not found" (`not_found_title`), or a probe URL (`probe_url`:
same folder, random last segment) gets the same answer (same final URL, or near-identical
visible text). Look-alikes it must not flag: a host whose probe gets a real 404; the site root;
a healthy article on a site that routes by id and ignores the slug, or on an app shell that
renders in the browser (see soft_404_verdict).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from random import Random
from urllib.parse import urlsplit, urlunsplit

from crawler.judge.drift import DRIFT_THRESHOLD, normalise_title, title_parts, title_similarity
from crawler.judge.home import PAGE_EXTENSION, is_site_root
from crawler.web.urls import same_page, site_key

NEAR_IDENTICAL = 0.95
_WORD = re.compile(r"\w+")
_SHINGLE = 3


# ---------------------------------------------------------------------------------------------
# Visible text compared


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


def probe_url(url: str, rng: Random) -> str:
    """The URL of a page that cannot exist, in the same folder: the last path segment replaced by
    25 random lowercase letters, its extension (.html, .php, ...) and trailing slash kept, the
    query and fragment dropped (an id in the query would pick a real page again)."""
    parts = urlsplit(url)
    directory, last, trailing = _split_last(parts.path or "/")
    ext = PAGE_EXTENSION.search(last)
    name = "".join(rng.choice(string.ascii_lowercase) for _ in range(25))
    path = f"{directory}{name}{ext.group(0) if ext else ''}{trailing}"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def probe_key(url: str) -> tuple[str, str]:
    """(host, directory) that a probe answers for: probe once per key, reuse the answer."""
    return site_key(url), _split_last(urlsplit(url).path or "/")[0]


# ---------------------------------------------------------------------------------------------
# Not-found titles

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
    return any(_NOT_FOUND.match(normalise_title(part)) for part in [text, *title_parts(text)])


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
    if same_page(page.final_url, probe.final_url):
        return True, f"a random URL ({probe_name}) ends on the same page {page.final_url}"
    noise = _url_words(page.url, page.final_url, probe.url, probe.final_url)
    score = token_similarity(
        [t for t in page.tokens if t not in noise], [t for t in probe.tokens if t not in noise]
    )
    if score < threshold:
        return False, f"differs from a random URL's answer (similarity {score:.2f})"
    titles_differ = normalise_title(page.title or "") != normalise_title(probe.title or "")
    if titles_differ and page.title and not not_found_title(page.title):
        return False, (
            f"same body as a random URL's answer (similarity {score:.2f}) but its own title "
            f"{page.title!r}: an app shell that renders in the browser"
        )
    return True, (
        f"same answer as a random URL ({probe_name}): similarity {score:.2f} >= {threshold:.2f}"
        " (a removed page, or an app shell that only renders in the browser)"
    )
