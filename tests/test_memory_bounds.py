"""What a run keeps per URL or per directory must not grow with the corpus."""

from __future__ import annotations

from crawler.judge.pagerot import PROBE_CACHE_SIZE, PageRotChecker
from crawler.model import LinkKind, UrlOutcome

CARD_TITLE = "The card's own headline"


def page(url: str) -> UrlOutcome:
    """A healthy-looking page whose title no longer matches the card's: it gets a probe."""
    return UrlOutcome(
        url,
        LinkKind.PAGE,
        http_status=200,
        final_url=url,
        title="Something else entirely",
        body=b"<html><title>Something else entirely</title><h1>Other</h1></html>",
        response_headers={},
    )


class Counting:
    """A check function that answers every probe with a 404 and counts them."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    async def __call__(self, url: str, kind: LinkKind) -> UrlOutcome:
        self.urls.append(url)
        return UrlOutcome(url=url, link_kind=kind, http_status=404, final_url=url)


def day_url(day: int, story: int = 0) -> str:
    return f"https://news.example.test/{2000 + day // 365}/{day % 365}/story-{story}"


async def test_the_probe_cache_keeps_at_most_its_size_of_directories() -> None:
    probes = Counting()
    rot = PageRotChecker(probes, seed=1, cache_size=50)
    for day in range(500):  # date folders: one directory per day
        await rot.examine(page(day_url(day)), CARD_TITLE)
    assert rot.probes_sent == 500
    for day in range(450, 500):  # the last 50 directories are kept: no new probe
        await rot.examine(page(day_url(day, story=1)), CARD_TITLE)
    assert rot.probes_sent == 500
    await rot.examine(page(day_url(449, story=1)), CARD_TITLE)  # the 51st was let go
    assert rot.probes_sent == 501


async def test_the_default_probe_cache_is_bounded() -> None:
    rot = PageRotChecker(Counting(), seed=1)
    days = PROBE_CACHE_SIZE + 100
    for day in range(days):
        await rot.examine(page(day_url(day)), CARD_TITLE)
    await rot.examine(page(day_url(days - PROBE_CACHE_SIZE, story=1)), CARD_TITLE)  # kept
    assert rot.probes_sent == days
    await rot.examine(page(day_url(0, story=1)), CARD_TITLE)  # let go long ago
    assert rot.probes_sent == days + 1


async def test_a_directory_still_in_the_cache_is_probed_once() -> None:
    probes = Counting()
    rot = PageRotChecker(probes, seed=1, cache_size=2)
    for story in range(5):
        await rot.examine(page(day_url(1, story)), CARD_TITLE)
    assert rot.probes_sent == 1


async def test_the_most_recently_used_directory_survives_eviction() -> None:
    probes = Counting()
    rot = PageRotChecker(probes, seed=1, cache_size=2)
    await rot.examine(page(day_url(1)), CARD_TITLE)
    await rot.examine(page(day_url(2)), CARD_TITLE)
    await rot.examine(page(day_url(1, story=1)), CARD_TITLE)  # day 1 used again
    await rot.examine(page(day_url(3)), CARD_TITLE)  # evicts day 2, not day 1
    await rot.examine(page(day_url(1, story=2)), CARD_TITLE)
    assert rot.probes_sent == 3
    await rot.examine(page(day_url(2, story=1)), CARD_TITLE)
    assert rot.probes_sent == 4
