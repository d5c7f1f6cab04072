"""Card headlines: a card's title is a pure function of its id, so the stateless simulated web
can serve every healthy page with its card's own <title>, and a drifted page another story's."""

from __future__ import annotations

import hashlib
from typing import Final

_ADJECTIVES = (
    "new", "quiet", "bold", "open", "rapid", "hidden", "global", "smart", "secure", "hybrid",
    "modern", "local", "early", "public", "remote", "unified", "visual", "green", "agile", "deep",
)  # fmt: skip
_NOUNS = (
    "cloud", "model", "network", "platform", "sensor", "robot", "portal", "database", "browser",
    "chip", "startup", "camera", "assistant", "pipeline", "dashboard", "engine", "runtime",
    "service", "toolkit", "framework", "satellite", "battery", "vaccine", "market",
)  # fmt: skip
_VERBS = (
    "reshapes", "powers", "tracks", "boosts", "replaces", "secures", "connects", "explains",
    "speeds up", "rethinks", "unlocks", "simplifies", "challenges", "joins", "meets",
)  # fmt: skip
# Another story's headline, for drifted pages: words that never occur in card titles (not even
# "the"), so the two titles share no word.
_DRIFT_SUBJECTS = (
    "City council", "Harbour ferry", "Village bakery", "Football club", "Weather office",
    "Town library", "Jazz festival", "Museum curator", "School board", "Marathon organisers",
    "Zoo keepers", "Chess federation",
)  # fmt: skip
_DRIFT_VERBS = (
    "announces", "postpones", "celebrates", "cancels", "reopens", "expands", "reviews",
    "welcomes", "moves", "extends",
)  # fmt: skip
_DRIFT_OBJECTS = (
    "summer timetable", "winter opening hours", "annual parade", "anniversary concert",
    "charity auction", "harvest fair", "cycling route", "renovation plans", "ticket prices",
    "volunteer programme",
)  # fmt: skip
# What the generator draws a headline from, in order (kept so a seed's other fields stay put).
HEADLINE_WORDS: Final = (_ADJECTIVES, _NOUNS, _VERBS, _NOUNS)


def card_digest(purpose: str, card_id: str) -> bytes:
    return hashlib.sha256(f"{purpose}:{card_id}".encode()).digest()


def headline_words(card_id: str) -> tuple[str, str, str, str]:
    """(adjective, noun, verb, noun) of the card's headline, a pure function of its id."""
    d = card_digest("title", card_id)
    return (
        _ADJECTIVES[d[0] % len(_ADJECTIVES)],
        _NOUNS[d[1] % len(_NOUNS)],
        _VERBS[d[2] % len(_VERBS)],
        _NOUNS[d[3] % len(_NOUNS)],
    )


def card_title(card_id: str) -> str:
    """The card's title, e.g. "Quiet robot powers the chip". The simulated web serves it as the
    <title> of the card's pages (it knows only the id in the path, so it must be computable)."""
    adjective, noun, verb, noun2 = headline_words(card_id)
    return f"{adjective.capitalize()} {noun} {verb} the {noun2}"


def drift_title(card_id: str) -> str:
    """Another story's headline, for a page whose title drifted: no word in common with
    card_title(card_id), e.g. "Harbour ferry postpones charity auction"."""
    d = card_digest("drift", card_id)
    subject = _DRIFT_SUBJECTS[d[0] % len(_DRIFT_SUBJECTS)]
    verb = _DRIFT_VERBS[d[1] % len(_DRIFT_VERBS)]
    thing = _DRIFT_OBJECTS[d[2] % len(_DRIFT_OBJECTS)]
    return f"{subject} {verb} {thing}"
