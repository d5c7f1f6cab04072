"""Choose drift.DRIFT_THRESHOLD on the real cards: where does "same story" end?

    python -m benchmarks.drift_threshold                       # ../shared/cards-corpus
    python -m benchmarks.drift_threshold --cards DIR --seed 7

A labelled set built from the corpus titles (no network):

- same story (the page title is still the card's headline): the title with a site suffix or
  prefix (" | Provider", " - Provider", " — Provider", "Provider: "), one word dropped, one
  word replaced by a random corpus word, truncated to ~70% of its words with "...", case and
  quote changes, and one edit plus a suffix;
- different story: a random other card's title, and the most similar other title (most shared
  words: same topic, same day), each with that card's own site suffix half of the time.
  Pairs whose normalised titles are identical (one story syndicated twice) are left out.

`title_similarity(card_title, page_title, provider)` scores every pair (provider: the card's).
Drift is flagged when the score is below the threshold, so for a threshold t:
precision = different-story pairs below t / all pairs below t, recall = different-story pairs
below t / all different-story pairs (also per kind). Prints both distributions and the table.
The chosen threshold is the middle of the gap between the 99th percentile of random
different-story pairs and the 1st percentile of same-story pairs, rounded down to 0.05 (fewer
flags on a tie). The "nearest" pairs are reported, not used to choose: many are the same event
told by two pages (trailer reactions, syndicated op-eds) and a URL rarely gets re-pointed to a
near-identical headline; the removed-page case (home page, "not found") is soft_404's.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from crawler.config import CardsConfig, LinksConfig
from crawler.intake.cards import load_card
from crawler.intake.files import find_card_files
from crawler.judge.drift import DRIFT_THRESHOLD, title_similarity, title_tokens

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cards-corpus"
GRID = [round(0.05 * i, 2) for i in range(4, 17)]  # 0.20 .. 0.80
SAME_EXCERPT = 0.5  # excerpt word-set Jaccard from which two cards tell one story


@dataclass(frozen=True, slots=True)
class Pair:
    card: str
    page: str
    provider: str | None
    same: bool
    how: str


@dataclass(frozen=True, slots=True)
class Card:
    title: str
    provider: str | None
    excerpt: frozenset[str]  # the excerpt's words: tells a syndicated copy of one story


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---", re.DOTALL)


def _excerpt_words(path: Path) -> frozenset[str]:
    text = re.sub("[\x80-\x9f]", "", path.read_text(encoding="utf-8", errors="replace"))
    found = _FRONT_MATTER.match(text.replace("\r\n", "\n"))
    try:
        front = yaml.load(found.group(1), Loader=_LOADER) if found else None
    except yaml.YAMLError:
        front = None
    excerpt = front.get("excerpt") if isinstance(front, dict) else None
    return frozenset(title_tokens(excerpt)) if isinstance(excerpt, str) else frozenset()


def load_cards(root: Path) -> list[Card]:
    cards, links = CardsConfig(include_unpublished=True), LinksConfig()
    seen: set[tuple[str, ...]] = set()
    out: list[Card] = []
    for path in sorted(find_card_files(root, "*/**/*.md")):
        record = load_card(path, root, cards, links)
        if not record.title:
            continue
        key = tuple(title_tokens(record.title))
        if len(key) < 3 or key in seen:
            continue
        seen.add(key)
        out.append(Card(record.title, record.provider, _excerpt_words(path)))
    return out


def _same_story(a: Card, b: Card) -> bool:
    """Syndicated or re-posted: the excerpts share most of their words."""
    if not a.excerpt or not b.excerpt:
        return False
    return len(a.excerpt & b.excerpt) / len(a.excerpt | b.excerpt) >= SAME_EXCERPT


def _suffix(title: str, provider: str | None, rng: random.Random) -> str:
    site = provider or "News Site"
    style = rng.randrange(4)
    return [f"{title} | {site}", f"{title} - {site}", f"{title} — {site}", f"{site}: {title}"][
        style
    ]


def _drop_word(title: str, rng: random.Random) -> str:
    words = title.split()
    del words[rng.randrange(1, len(words))]
    return " ".join(words)


def _replace_word(title: str, vocabulary: Sequence[str], rng: random.Random) -> str:
    words = title.split()
    words[rng.randrange(len(words))] = rng.choice(vocabulary)
    return " ".join(words)


def _truncate(title: str) -> str:
    words = title.split()
    return " ".join(words[: max(3, round(len(words) * 0.7))]) + "..."


def _recase(title: str, rng: random.Random) -> str:
    text = title.upper() if rng.random() < 0.5 else title.lower()
    return text.replace('"', "“").replace("'", "’")


def build_pairs(cards: list[Card], seed: int) -> list[Pair]:
    rng = random.Random(seed)
    titles = [(c.title, c.provider) for c in cards]
    vocabulary = sorted({w for t, _ in titles for w in t.split() if w.isalpha()})
    pairs: list[Pair] = []
    for title, provider in titles:
        edits = [
            ("suffix", _suffix(title, provider, rng)),
            ("drop", _drop_word(title, rng)),
            ("replace", _replace_word(title, vocabulary, rng)),
            ("recase", _recase(title, rng)),
            ("edit+suffix", _suffix(_replace_word(title, vocabulary, rng), provider, rng)),
        ]
        if len(title.split()) >= 6:
            edits.append(("truncate", _truncate(title)))
        pairs.extend(Pair(title, page, provider, True, how) for how, page in edits)

    tokens = [set(title_tokens(t)) for t, _ in titles]
    index: defaultdict[str, list[int]] = defaultdict(list)
    for i, words in enumerate(tokens):
        for word in words:
            index[word].append(i)
    for i, (title, provider) in enumerate(titles):
        j = rng.randrange(len(titles) - 1)
        j += j >= i
        if _same_story(cards[i], cards[j]):
            continue
        other, other_provider = titles[j]
        page = _suffix(other, other_provider, rng) if rng.random() < 0.5 else other
        pairs.append(Pair(title, page, provider, False, "random"))
        shared: Counter[int] = Counter()
        for word in tokens[i]:
            if len(index[word]) < len(titles) // 4:  # skip words in a quarter of all titles
                shared.update(k for k in index[word] if k != i)
        ranked = sorted(shared.items(), key=lambda item: (-item[1], item[0]))
        k = next((k for k, _ in ranked if not _same_story(cards[i], cards[k])), None)
        if k is not None:
            other, other_provider = titles[k]
            page = _suffix(other, other_provider, rng) if rng.random() < 0.5 else other
            pairs.append(Pair(title, page, provider, False, "nearest"))
    return pairs


def _histogram(scores: Sequence[float]) -> str:
    bins = Counter(min(int(s * 20), 19) for s in scores)
    return "  ".join(f"{b / 20:.2f}:{bins[b]}" for b in range(20) if bins[b])


def _percentile(scores: Sequence[float], q: float) -> float:
    ordered = sorted(scores)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _table(
    scored: Sequence[tuple[float, Pair]],
) -> list[tuple[float, float, float, float, float, int]]:
    """Rows (t, precision, recall, recall on random, recall on nearest, same-story flagged)."""
    same = [s for s, p in scored if p.same]
    different = [s for s, p in scored if not p.same]
    random_ = [s for s, p in scored if p.how == "random"]
    nearest = [s for s, p in scored if p.how == "nearest"]
    rows = []
    for t in GRID:
        flagged_different = sum(s < t for s in different)
        flagged_same = sum(s < t for s in same)
        flagged = flagged_different + flagged_same
        rows.append(
            (
                t,
                flagged_different / flagged if flagged else 1.0,
                flagged_different / len(different),
                sum(s < t for s in random_) / len(random_),
                sum(s < t for s in nearest) / len(nearest),
                flagged_same,
            )
        )
    return rows


def evaluate(
    pairs: Sequence[Pair],
) -> tuple[float, list[tuple[float, float, float, float, float, int]]]:
    """(chosen threshold, table rows). Prints the distributions and the extremes."""
    scored = [(title_similarity(p.card, p.page, p.provider), p) for p in pairs]
    same = [s for s, p in scored if p.same]
    different = [s for s, p in scored if not p.same]
    random_ = [s for s, p in scored if p.how == "random"]
    print(f"same story:      {len(same)} pairs, {_histogram(same)}")
    print(
        f"  min {min(same):.3f}  p01 {_percentile(same, 0.01):.3f}  "
        f"median {statistics.median(same):.3f}"
    )
    for how in sorted({p.how for p in pairs if p.same}):
        part = [s for s, p in scored if p.same and p.how == how]
        print(f"  {how:12} n={len(part):5}  min {min(part):.3f}  p01 {_percentile(part, 0.01):.3f}")
    print(f"different story: {len(different)} pairs, {_histogram(different)}")
    print(
        f"  max {max(different):.3f}  p99 {_percentile(different, 0.99):.3f}  "
        f"median {statistics.median(different):.3f}"
    )
    for how in sorted({p.how for p in pairs if not p.same}):
        part = [s for s, p in scored if not p.same and p.how == how]
        print(f"  {how:12} n={len(part):5}  max {max(part):.3f}  p99 {_percentile(part, 0.99):.3f}")
    worst_same = sorted(((s, p) for s, p in scored if p.same), key=lambda x: x[0])[:5]
    worst_different = sorted(((s, p) for s, p in scored if not p.same), key=lambda x: -x[0])[:8]
    print("lowest same-story pairs:")
    for s, p in worst_same:
        print(f"  {s:.3f} [{p.how}] {p.card!r} vs {p.page!r}")
    print("highest different-story pairs:")
    for s, p in worst_different:
        print(f"  {s:.3f} [{p.how}] {p.card!r} vs {p.page!r}")
    # The middle of the gap between a different story (random pairs, 99th percentile) and the
    # same story (1st percentile), rounded down to the grid: ties go to fewer drift flags.
    middle = (_percentile(random_, 0.99) + _percentile(same, 0.01)) / 2
    chosen = math.floor(middle * 20 + 1e-9) / 20
    print(f"gap middle {middle:.3f} -> threshold {chosen:.2f}")
    return chosen, _table(scored)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cards", type=Path, default=CORPUS)
    parser.add_argument("--seed", type=int, default=20240607)
    args = parser.parse_args(argv)
    cards = load_cards(args.cards)
    pairs = build_pairs(cards, args.seed)
    print(f"{len(cards)} distinct card titles, {len(pairs)} labelled pairs")
    best, rows = evaluate(pairs)
    print("drift when similarity < t")
    print("  t     precision  recall  recall(random)  recall(nearest)  same-story flagged")
    for t, precision, recall, recall_random, recall_nearest, flagged_same in rows:
        mark = "  <- chosen" if abs(t - best) < 1e-9 else ""
        mark += "  (DRIFT_THRESHOLD)" if abs(t - DRIFT_THRESHOLD) < 1e-9 else ""
        print(
            f"  {t:.2f}  {precision:.4f}     {recall:.4f}  {recall_random:.4f}"
            f"          {recall_nearest:.4f}           {flagged_same:5}{mark}"
        )


if __name__ == "__main__":
    main()
