"""The 2,000 real cards of ../shared/cards-corpus, loaded offline: all of them must be valid.

The corpus is read in place (never copied into the project). Its cards live in
<owner>__<repo>/... folders; SOURCE.md, STATS.md and MANIFEST.tsv at its top describe it.
"""

from __future__ import annotations

import csv
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from crawler.config import CardsConfig, LinksConfig, parse_bound
from crawler.intake.cards import load_card
from crawler.intake.files import find_card_files
from crawler.model import CardRecord, Disposition, Kind, Severity
from crawler.web.urls import normalise_url

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cards-corpus"
CARDS_GLOB = "*/**/*.md"  # the cards, not the corpus' own SOURCE.md and STATS.md

pytestmark = pytest.mark.skipif(
    not (CORPUS / "MANIFEST.tsv").is_file(),
    reason=f"the real-cards corpus is not there: {CORPUS} (it sits next to the repository)",
)

C1_CARD = (
    "scottge__coronavirus/_news/2020-05-07-sweden-is-testing-conservatives-preferred-"
    "coronavirus-response-and-its-not-going-well.md"
)
CLEARVIEW = "everyday-cc__ai/_archive/_news/2020-02-12-why-clearview-ai-is-a-threat-to-us-all.md"


def load_all(cards: CardsConfig) -> list[CardRecord]:
    links = LinksConfig()
    return [load_card(path, CORPUS, cards, links) for path in find_card_files(CORPUS, CARDS_GLOB)]


def md_files_in_subfolders() -> int:
    return sum(
        name.endswith(".md")
        for folder, _, names in os.walk(CORPUS)
        if Path(folder) != CORPUS
        for name in names
    )


def manifest_paths() -> list[str]:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8", newline="") as file:
        return [row["local_file"] for row in csv.DictReader(file, delimiter="\t")]


@pytest.fixture(scope="module")
def records() -> dict[str, CardRecord]:
    """The whole corpus with the default options (no --since, unpublished cards filtered)."""
    paths = list(find_card_files(CORPUS, CARDS_GLOB))
    for path in paths:
        path.read_bytes()  # warm the page cache, so the rate below is the parser's
    start = time.perf_counter()
    loaded = [load_card(path, CORPUS, CardsConfig(), LinksConfig()) for path in paths]
    elapsed = time.perf_counter() - start
    print(f"\nloaded {len(loaded)} cards in {elapsed:.2f} s: {len(loaded) / elapsed:.0f} cards/s")
    return {record.path: record for record in loaded}


@pytest.fixture(scope="module")
def unpublished_too() -> dict[str, CardRecord]:
    return {record.path: record for record in load_all(CardsConfig(include_unpublished=True))}


def test_every_file_is_accounted_for(records: dict[str, CardRecord]) -> None:
    counts = Counter(record.disposition for record in records.values())
    print(f"\ndispositions: {dict(counts)}")
    found = len(records)
    assert found == md_files_in_subfolders() == 2000
    assert sorted(records) == sorted(manifest_paths())
    checked, invalid, filtered, skipped = (counts[d] for d in Disposition)
    assert checked + invalid + filtered == found
    assert skipped == 0  # every card of the corpus has front matter


def test_no_real_card_is_invalid(records: dict[str, CardRecord]) -> None:
    invalid = {
        path: r.problems for path, r in records.items() if r.disposition is Disposition.INVALID
    }
    assert invalid == {}


def test_no_real_card_is_invalid_with_unpublished_ones_either_but_one(
    unpublished_too: dict[str, CardRecord],
) -> None:
    """One unpublished card has a webUrl with raw spaces in its query: a known corpus quirk."""
    invalid = [r for r in unpublished_too.values() if r.disposition is Disposition.INVALID]
    assert [r.path.rsplit("/", 1)[1] for r in invalid] == [
        "2021-05-27-senseye-pdm-now-available-in-the-microsoft-azure-marketplace.md"
    ]
    assert {(p.kind, p.field) for p in invalid[0].problems} == {(Kind.INVALID_URL, "webUrl")}
    checked = sum(r.disposition is Disposition.CHECKED for r in unpublished_too.values())
    assert checked == len(unpublished_too) - 1


def test_checked_cards_have_absolute_normalised_links(records: dict[str, CardRecord]) -> None:
    for record in records.values():
        if record.disposition is not Disposition.CHECKED:
            continue
        assert record.links, record.path
        assert record.title and record.published and record.provider, record.path
        for link in record.links:
            assert link.url.startswith(("http://", "https://")), (record.path, link)
            assert normalise_url(link.url) == link.url


def test_filtered_cards_are_the_unpublished_ones(records: dict[str, CardRecord]) -> None:
    for record in records.values():
        if record.disposition is Disposition.FILTERED:
            assert record.filter_reason == "published: false"
            assert record.links == [] and record.problems == []


def test_the_c1_control_character_card(
    records: dict[str, CardRecord], unpublished_too: dict[str, CardRecord]
) -> None:
    # It says `published: false`, so a default run filters it before looking further ...
    assert records[C1_CARD].disposition is Disposition.FILTERED
    # ... and when unpublished cards are included it is checked, with a warning.
    record = unpublished_too[C1_CARD]
    assert record.disposition is Disposition.CHECKED
    warning = next(p for p in record.problems if p.kind is Kind.CARD_CONTROL_CHARACTER)
    assert warning.severity is Severity.WARNING
    assert warning.detail == "dropped control character (U+0097) at line 4, column 76 (in excerpt)"
    assert record.links


def test_videos_with_original_url_and_no_web_url_are_checked(
    records: dict[str, CardRecord], unpublished_too: dict[str, CardRecord]
) -> None:
    videos = [
        r
        for r in unpublished_too.values()
        if r.links and r.links[0].field == "originalUrl" and "youtube.com" in r.links[0].url
    ]
    assert len(videos) >= 30
    for video in videos:
        assert video.disposition is Disposition.CHECKED
        assert not any(link.field == "webUrl" for link in video.links)
        assert records[video.path].disposition in (Disposition.CHECKED, Disposition.FILTERED)
    assert any(records[v.path].disposition is Disposition.CHECKED for v in videos)


def test_since_2020_filters_the_older_cards(unpublished_too: dict[str, CardRecord]) -> None:
    since = parse_bound("2020", upper=False)
    old = {path for path, r in unpublished_too.items() if r.published and r.published < "2020"}
    assert len(old) >= 60
    options = CardsConfig(since=since, include_unpublished=True)
    for record in load_all(options):
        if record.path in old:
            assert record.disposition is Disposition.FILTERED
            assert record.filter_reason is not None
            assert record.filter_reason.endswith(", before --since 2020-01-01")
        else:
            assert record.disposition is unpublished_too[record.path].disposition


def test_relative_provider_logos(
    records: dict[str, CardRecord], unpublished_too: dict[str, CardRecord]
) -> None:
    unresolved = [
        p
        for r in unpublished_too.values()
        for p in r.problems
        if p.kind is Kind.RELATIVE_URL_UNRESOLVED
    ]
    assert len(unresolved) >= 17
    assert all(p.field is not None and p.field.startswith("provider.images[") for p in unresolved)
    record = load_card(
        CORPUS / CLEARVIEW,
        CORPUS,
        CardsConfig(),
        LinksConfig(base_url="https://everyday-cc.github.io/ai"),
    )
    assert record.problems == []
    assert record.links[-1].url == (
        "https://everyday-cc.github.io/ai/assets/images/organizations/engadget.com-50x50.jpg"
    )


def test_the_corpus_own_documents_are_skipped_not_invalid() -> None:
    """The default glob also finds SOURCE.md and STATS.md: they have no front matter, so they
    are no cards (skipped), while every card of the corpus is still read as one."""
    top = [p for p in find_card_files(CORPUS) if p.parent == CORPUS]
    assert sorted(p.name for p in top) == ["SOURCE.md", "STATS.md"]
    for path in top:
        record = load_card(path, CORPUS, CardsConfig(), LinksConfig())
        assert record.disposition is Disposition.SKIPPED
        assert record.problems == []


def test_with_related_cards_the_bad_related_urls_show(records: dict[str, CardRecord]) -> None:
    """related[] copies other cards: some of their URLs hold raw spaces, U+2028 or U+202F."""
    start = time.perf_counter()
    loaded = load_all(CardsConfig(include_related=True))
    rate = len(loaded) / (time.perf_counter() - start)
    print(f"\nwith related cards: {rate:.0f} cards/s")
    invalid = [r for r in loaded if r.disposition is Disposition.INVALID]
    print(f"{len(invalid)} published cards invalid because of a related[] URL")
    for record in invalid:
        bad = [p for p in record.problems if p.severity is Severity.INVALID]
        assert bad and all(
            p.kind is Kind.INVALID_URL and p.field and p.field.startswith("related[") for p in bad
        ), record.path
    for record in loaded:
        if record.disposition is Disposition.CHECKED:
            assert records[record.path].disposition is Disposition.CHECKED
