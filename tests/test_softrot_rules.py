"""The soft-rot detectors' rules, pinned exactly.

Written for issue 15's mutation testing of the soft-rot detectors (crawler/judge/soft404.py,
home.py, drift.py and html.py's text reader): each test pins a rule that the broader tests in
test_softrot.py only touched (a bound, a detail's wording, an argument passed on, a corner of
the text reader). Plain values only, no servers.
"""

from __future__ import annotations

from collections.abc import Iterator
from random import Random

import pytest

from crawler.judge import drift
from crawler.judge.drift import content_drift, title_similarity
from crawler.judge.home import is_site_root, redirect_to_home
from crawler.judge.html import first_h1, meta_refresh_target, visible_text_tokens
from crawler.judge.soft404 import (
    PageSample,
    probe_key,
    probe_url,
    soft_404_verdict,
    token_similarity,
)
from crawler.model import Hop


@pytest.fixture(autouse=True)
def _fresh_title_caches() -> Iterator[None]:
    # title similarity is memoised; another test may already have scored the same pair, and a
    # remembered score would hide how it is computed now
    drift._title_similarity.cache_clear()
    drift._candidates.cache_clear()
    yield


# -- visible text and the first h1 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "tokens"),
    [
        (b"<p>one</p><p>two</p>", ["one", "two"]),
        (b"<p>before</p><noscript>enable javascript</noscript><p>after</p>", ["before", "after"]),
        (b"<p>one</p><svg/><iframe src='x' /><p>two</p>", ["one", "two"]),
        (b"<object><noscript>inner</noscript>still hidden</object><p>shown</p>", ["shown"]),
        (b"<svg><svg/>inside</svg><p>after</p>", ["after"]),
        (b"</noscript><p>shown</p>", ["shown"]),
        (b"<p>before</p><script>var never = 'closed';", ["before"]),
    ],
)
def test_visible_text_is_what_a_reader_sees_around_hidden_elements(
    body: bytes, tokens: list[str]
) -> None:
    assert visible_text_tokens(body) == tokens


def test_the_h1_keeps_the_text_of_its_inline_markup() -> None:
    assert first_h1(b"<h1>Breaking: <em>big</em>  news</h1>") == "Breaking: big news"


def test_only_the_first_h1_counts() -> None:
    assert first_h1(b"<h1>First</h1><p>between</p><h1>Second</h1>") == "First"
    assert first_h1(b"<h1>First</h1><h1>Second</h1>") == "First"


KOI8 = "text/html; charset=koi8-r"


def test_a_charset_named_only_in_the_content_type_is_used() -> None:
    body = "<h1>Новости</h1><p>Привет мир</p>".encode("koi8-r")
    assert first_h1(body, KOI8) == "Новости"
    assert visible_text_tokens(body, KOI8) == ["новости", "привет", "мир"]
    refresh = '<meta http-equiv="refresh" content="0; url=/новости">'.encode("koi8-r")
    assert meta_refresh_target(refresh, KOI8) == "/новости"


# -- shingles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "similarity"),
    [
        (["a"], ["a"], 1.0),
        (["a"], ["b"], 0.0),
        (["a", "b"], ["a", "c"], 0.0),
        (["a", "b", "c", "d"], ["x", "b", "c", "d"], 1 / 3),  # {abc, bcd} vs {xbc, bcd}
        (["a", "b", "c", "d", "e"], ["a", "b", "c", "d", "e"], 1.0),
    ],
)
def test_short_texts_are_one_shingle_and_longer_ones_every_run_of_three(
    a: list[str], b: list[str], similarity: float
) -> None:
    assert token_similarity(a, b) == pytest.approx(similarity)


# -- probes ---------------------------------------------------------------------------------------


def test_a_probe_keeps_the_extension_of_a_segment_before_a_trailing_slash() -> None:
    probe = probe_url("https://ex.com/news/story.html/", Random(1))
    assert probe.startswith("https://ex.com/news/") and probe.endswith(".html/")
    assert len(probe) == len("https://ex.com/news/") + 25 + len(".html/")


def test_a_url_without_a_path_is_probed_in_the_root_folder() -> None:
    assert probe_key("https://Ex.com") == ("ex.com", "/")


# -- the site root --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("https://ex.com/en/index.html", True),
        ("https://ex.com/en-us/home", True),
        ("https://ex.com/news/index.html", False),
        ("https://ex.com/en/index.html/more", False),
        ("https://ex.com/en/news", False),
        ("https://ex.com/?utm_source=", True),
        ("https://ex.com/?p=", False),  # a parameter without a value still picks a page
    ],
)
def test_a_locale_index_is_the_root_and_an_empty_id_parameter_is_not(url: str, root: bool) -> None:
    assert is_site_root(url) is root


# -- redirect to home -----------------------------------------------------------------------------

ARTICLE = "https://ex.com/news/2020/some-long-story/"
HOME_PAGE = "the article URL ends on the home page"


def hops(n: int) -> list[Hop]:
    return [Hop(url=ARTICLE, status=301, location="") for _ in range(n)]


@pytest.mark.parametrize(
    ("final", "n", "detail"),
    [
        ("https://ex.com/", 0, f"{HOME_PAGE} https://ex.com/"),
        ("https://ex.com/", 1, f"{HOME_PAGE} https://ex.com/ after 1 redirect"),
        ("https://ex.com/", 2, f"{HOME_PAGE} https://ex.com/ after 2 redirects"),
        (
            "https://www.newowner.com/",
            1,
            "the article URL ends on the home page of www.newowner.com https://www.newowner.com/"
            " after 1 redirect",
        ),
        (
            "https://ex.com/news/",
            3,
            "the article URL ends on a section page https://ex.com/news/ after 3 redirects",
        ),
    ],
)
def test_a_redirect_to_home_says_where_it_ended_and_after_how_many_redirects(
    final: str, n: int, detail: str
) -> None:
    assert redirect_to_home(ARTICLE, final, hops(n)) == detail


def test_a_url_that_did_not_move_is_never_a_redirect_to_home() -> None:
    # a locale index would be the home page if it were a redirect's end
    url = "https://ex.com/en/index.html"
    assert redirect_to_home(url, url, []) is None


@pytest.mark.parametrize(
    ("original", "final", "gone"),
    [
        ("https://ex.com/news/some-story/", "https://ex.com/?return=news/some-story", False),
        ("https://ex.com/XXXXXXXXXXXXXXXXXXXX", "https://ex.com/?back=XXXXXXXXXXXXXXXXXXXX", False),
        # a tracking parameter naming another story is no return link: home page
        ("https://ex.com/news/story-about-X", "https://ex.com/?from=news/story-about-Y", True),
    ],
)
def test_only_the_whole_article_path_in_the_query_makes_a_return_link(
    original: str, final: str, gone: bool
) -> None:
    assert (redirect_to_home(original, final, hops(1)) is not None) is gone


@pytest.mark.parametrize(
    ("original", "final", "section"),
    [
        # the slug is the longest slug-like segment, not the last one
        (
            "https://ex.com/story/a-long-article-slug/comments",
            "https://ex.com/story/a-long-article-slug/",
            False,
        ),
        # nor the alphabetically last: a hyphenated section is not the article
        (
            "https://ex.com/news/world-middle-east/israel-strikes-gaza-city-overnight",
            "https://ex.com/news/world-middle-east/",
            True,
        ),
        # no slug-like segment: the last one that is not a variant marker
        ("https://ex.com/news/politics/brexit", "https://ex.com/news/politics/", True),
        # only variant markers: the last segment
        ("https://ex.com/amp/print/2/", "https://ex.com/amp/print/", True),
        # no path at all: nothing to look for, no verdict
        ("https://ex.com/?p=12345", "https://ex.com/archive", False),
    ],
)
def test_a_shorter_path_is_a_section_only_when_it_lost_the_articles_slug(
    original: str, final: str, section: bool
) -> None:
    detail = redirect_to_home(original, final, hops(1))
    assert (detail is not None and "section page" in detail) is section
    assert section or detail is None


@pytest.mark.parametrize(
    ("segment", "article"),
    [
        ("x-y-z", True),
        ("x_y_z", True),
        ("a-b_c", True),
        ("x-y", False),
        ("abcdefghijklmnop", True),  # 16 characters
        ("abcdefghijklmno", False),  # 15
        ("aboutcompany.html", False),  # 12 without its extension
        ("12345", True),
        ("1234", False),
    ],
)
def test_a_one_segment_url_is_an_article_when_its_segment_looks_like_a_slug(
    segment: str, article: bool
) -> None:
    detail = redirect_to_home(f"https://ex.com/{segment}", "https://ex.com/", hops(1))
    assert (detail is not None) is article


def test_any_two_segment_path_names_an_article() -> None:
    assert redirect_to_home("https://ex.com/news/about", "https://ex.com/", hops(1)) is not None


# -- meta refresh ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "target"),
    [
        ('<meta http-equiv="refresh" content="0; url=\'\'">', None),  # an empty quoted URL
        ('<meta http-equiv="refresh" content="0; url=Xbox-series-X">', "Xbox-series-X"),
        ('<meta http-equiv="refresh" content="0; url=\'/next">', "/next"),  # unbalanced quote
        ("<meta http-equiv='refresh' content='0; url=\"/next'>", "/next"),
        ('<meta http-equiv="refresh" content="0; url=javascript:alert(1)">', None),
        ('<meta http-equiv="refresh" content="0; url=data:text/html,hi">', None),
        ('<meta http-equiv="refresh" content="0; url=mailto:a@ex.com">', None),
        ('<meta http-equiv="refresh" content="0; url=http://[oops/">', None),  # unreadable
        # a comment or noscript removed from inside the tag leaves a space, nothing else
        ('<meta http-equiv="refresh" content=<!-- x -->0;url=/new>', "/new"),
        ('<meta http-equiv="refresh" content=<noscript></noscript>0;url=/new>', "/new"),
    ],
)
def test_a_refresh_target_is_read_as_a_browser_would(tag: str, target: str | None) -> None:
    assert meta_refresh_target(f"<html><head>{tag}</head></html>".encode()) == target


def test_a_refresh_after_the_first_64_kb_is_not_read() -> None:
    body = b"<p>" + b"x" * 70_000 + b"</p><meta http-equiv='refresh' content='0; url=/late'>"
    assert meta_refresh_target(body) is None


# -- titles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "page", "similarity"),
    [
        ("alpha beta", "alpha gamma", 0.5),
        ("alpha beta gamma", "alpha beta delta", 2 / 3),
        ("alpha beta", "alpha beta gamma delta", 2 / 3),
        ("alpha beta", "gamma delta", 0.0),
    ],
)
def test_title_similarity_is_the_dice_coefficient_of_the_word_sets(
    card: str, page: str, similarity: float
) -> None:
    assert title_similarity(card, page) == pytest.approx(similarity)


def test_the_provider_name_is_dropped_from_both_titles() -> None:
    card = "Microsoft launches new Azure region in Qatar"
    page = "Microsoft launches new Azure region in Qatar Example Times"
    assert title_similarity(card, page, "Example Times") == 1.0
    assert title_similarity(card, page) == pytest.approx(2 * 7 / 16)  # 7 words shared


def test_drift_is_judged_with_the_providers_name_left_out() -> None:
    card = "Qatar region"
    page = "Qatar region The Example Times Daily Herald"
    assert content_drift(card, page, "The Example Times Daily Herald") is None
    assert content_drift(card, page) == (
        f"page title {page!r} is not the card's {card!r} (similarity 0.44)"
    )


def test_a_similarity_of_exactly_the_threshold_is_not_drift() -> None:
    assert content_drift("alpha beta", "alpha gamma") is None


# -- the soft-404 verdict -------------------------------------------------------------------------

URL = "https://news.example.com/local/2020/05/council-extends-rental-assistance/"
PROBE = "https://news.example.com/local/2020/05/qwertyuiopasdfghjklzxcvbn/"
SECTION = "https://news.example.com/local/"
WORDS = ["sorry", "we", "could", "not", "find", "that", "try", "the", "search", "again"]
OTHER = ["breaking", "news", "from", "the", "council", "meeting", "held", "on", "tuesday"]


def at(
    url: str | None,
    status: int | None = 200,
    *,
    final_url: str | None = "",
    title: str | None = "Example News",
    tokens: list[str] = WORDS,
    h1: str | None = None,
) -> PageSample:
    return PageSample(
        final_url=url if final_url == "" else final_url,
        status=status,
        title=title,
        tokens=tokens,
        h1=h1,
        url=url,
    )


@pytest.mark.parametrize("status", [199, 300])
def test_only_a_2xx_page_is_judged(status: int) -> None:
    assert soft_404_verdict(at(URL, status), at(PROBE)) == (False, "not a 2xx answer")
    assert soft_404_verdict(at(URL, 299), None) == (False, "no probe to compare with")


def test_the_site_root_says_why_it_is_not_a_soft_404() -> None:
    verdict = soft_404_verdict(at("https://news.example.com/"), at(PROBE))
    assert verdict == (False, "the site root is never a soft 404")


def test_without_a_requested_url_the_final_url_decides_whether_it_is_the_root() -> None:
    verdict = soft_404_verdict(at(None, final_url=URL), at(PROBE, final_url=URL))
    assert verdict[0] is True
    # no URL at all is read as the root: nothing to judge
    verdict = soft_404_verdict(at(None, final_url=None), at(PROBE))
    assert verdict == (False, "the site root is never a soft 404")


def test_a_title_matching_the_card_at_exactly_the_threshold_still_clears_the_page() -> None:
    page = at(URL, final_url=SECTION, title="alpha gamma")
    verdict = soft_404_verdict(page, at(PROBE, final_url=SECTION), card_title="alpha beta")
    assert verdict == (False, "its title still matches the card's (similarity 0.50)")


def test_an_h1_that_says_not_found_is_quoted_when_the_title_does_not() -> None:
    page = at(URL, title="Example News", h1="Page not found")
    verdict = soft_404_verdict(page, at(PROBE, 404))
    assert verdict == (True, "the page says it is not found: 'Page not found'")


def test_a_probe_that_gets_410_shows_the_host_tells_the_truth() -> None:
    verdict = soft_404_verdict(at(URL), at(PROBE, 410))
    assert verdict == (False, "a random URL in the same folder gets HTTP 410: the 200 is real")


def test_a_probe_without_a_2xx_answer_is_inconclusive_and_says_what_it_got() -> None:
    assert soft_404_verdict(at(URL), at(PROBE, 300)) == (False, "probe inconclusive (HTTP 300)")
    assert soft_404_verdict(at(URL), at(PROBE, None)) == (False, "probe inconclusive (no answer)")


def test_a_probe_ending_on_the_same_page_is_named_by_the_url_it_asked_for() -> None:
    verdict = soft_404_verdict(at(URL, final_url=SECTION), at(PROBE, final_url=SECTION))
    assert verdict == (True, f"a random URL ({PROBE}) ends on the same page {SECTION}")
    verdict = soft_404_verdict(at(URL, final_url=SECTION), at(None, final_url=SECTION))
    assert verdict == (True, f"a random URL ({SECTION}) ends on the same page {SECTION}")


def test_a_page_without_a_final_url_never_ends_on_the_probes_page() -> None:
    verdict = soft_404_verdict(at(URL, final_url=None, tokens=OTHER), at(PROBE))
    assert verdict == (False, "differs from a random URL's answer (similarity 0.00)")


@pytest.mark.parametrize(
    ("page_final", "probe_final"),
    [
        ("https://news.example.com/tags/MAX", "https://news.example.com/tags/MA"),
        ("https://news.example.com/tags/MA", "https://news.example.com/tags/MAX"),
    ],
)
def test_final_urls_that_differ_by_a_last_letter_are_different_pages(
    page_final: str, probe_final: str
) -> None:
    verdict = soft_404_verdict(
        at(URL, final_url=page_final, tokens=OTHER), at(PROBE, final_url=probe_final)
    )
    assert verdict[0] is False


def test_the_words_of_all_four_urls_are_left_out_of_the_comparison() -> None:
    # each answer echoes the words of its own requested and final URL in the middle of the text
    def echo(*words: str) -> list[str]:
        return ["sorry", "we", "could", "not", "find", *words, "try", "the", "search", "again"]

    page = at(
        "https://ex.com/news/alpha-story",
        final_url="https://ex.com/news/bravo-story",
        tokens=echo("alpha", "bravo"),
    )
    probe = at(
        "https://ex.com/news/charlie",
        final_url="https://ex.com/news/delta",
        tokens=echo("charlie", "delta"),
    )
    assert soft_404_verdict(page, probe) == (
        True,
        "same answer as a random URL (https://ex.com/news/charlie): similarity 1.00 >= 0.95"
        " (a removed page, or an app shell that only renders in the browser)",
    )


def test_a_similarity_of_exactly_the_threshold_is_the_same_answer() -> None:
    page = at(URL, tokens=["alpha", "bravo", "charlie", "delta"])
    probe = at(PROBE, tokens=["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"])
    verdict = soft_404_verdict(page, probe, threshold=0.5)
    assert verdict[0] is True and "similarity 0.50 >= 0.50" in verdict[1]


@pytest.mark.parametrize("title", ["Council extends rental assistance", "Xxxx"])
def test_a_title_of_its_own_where_the_probe_has_none_marks_an_app_shell_route(title: str) -> None:
    verdict = soft_404_verdict(at(URL, title=title), at(PROBE, title=None))
    assert verdict[0] is False and "an app shell" in verdict[1]


def test_an_own_title_that_says_not_found_is_no_app_shell_route() -> None:
    # the card is titled "Not Found", so the page's title alone decides nothing (steps 2 and 3);
    # the same body as the probe's under a not-found title is still a soft 404
    page = at(URL, title="Error 404")
    verdict = soft_404_verdict(page, at(PROBE, title="Example News"), card_title="Not Found")
    assert verdict[0] is True and verdict[1].startswith("same answer as a random URL")
