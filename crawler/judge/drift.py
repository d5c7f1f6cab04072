"""Content drift: the page's title is no longer the card's story (`title_similarity` below
DRIFT_THRESHOLD). Look-alike it must not flag: the same title with a site name ("Title | Site").
Pure functions; the title readers (`title_parts`, `title_tokens`) serve the soft-404 check too.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

# Chosen on data, the real cards' titles: python -m benchmarks.drift_threshold (the figures are in
# benchmarks/RESULTS.md, "Drift threshold"). Below it, the page is another story.
DRIFT_THRESHOLD = 0.5
_SPACE = re.compile(r"\s+")


def normalise_title(text: str) -> str:
    """NFKC, casefolded, apostrophes removed (can't -> cant), other punctuation as spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"['’‘`´]", "", text)
    return _SPACE.sub(" ", re.sub(r"[^\w]+", " ", text)).strip()


def title_tokens(text: str) -> list[str]:
    return normalise_title(text).split()


# Separators between a headline and a site name: " | ", " - ", " – ", " — ", ": ", " · ", " » ",
# " :: ", " / ". A hyphen inside a word ("e-mail") or a colon without a space ("10:30") is not.
_AFFIX_SEPARATOR = re.compile(r"\s+[|\-–—·»/]\s+|\s*[|–—·»]\s*|\s+::\s+|:\s+")


def title_parts(title: str) -> list[str]:
    """The title split at site-name separators, non-empty parts."""
    return [p.strip() for p in _AFFIX_SEPARATOR.split(title) if p.strip()]


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
    # cached: the rot check, the archive decision (archive_copy.wants_archive, via
    # content_drift) and the judging ask about the same pair of titles
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
